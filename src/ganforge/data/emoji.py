"""The built-in colour dataset ``emoji``: Noto Color Emoji glyphs rendered offline, labelled by Unicode group.

Two source files define it, both pinned by sha256 (a different font or list would silently make another
dataset):

* ``NotoColorEmoji.ttf`` (Noto Color Emoji 2.042 as Debian 12 ships it, package
  ``fonts-noto-color-emoji``): colour bitmaps of 136x128 at the font's one strike (size 109);
* ``emoji-test.txt`` (Unicode 15.0, Debian package ``unicode-data``): every emoji sequence with its
  status and its group ("Smileys & Emotion", "Animals & Nature", ...).

Images: each *fully-qualified* sequence outside the "Component" group, shaped with Pillow's Raqm layout
(HarfBuzz: ZWJ sequences, flags, keycaps and skin tones become one glyph), drawn with its embedded
colours at the origin of a transparent 136x128 canvas, composited over white in the middle of a
136x136 square, then resized like any dataset (``data.resolution``; antialiased bicubic, the data
layer's resize). Sequences the font does not draw as one glyph (wider than one advance, or blank)
are left out and counted. Labels: the group, in emoji-test.txt's order. Only a ``train`` split exists
(3,600-odd images: generate and evaluate against all of them).

The files are looked for as for the other built-ins (``data.root``, ``$GANFORGE_DATA`` and its
``emoji/`` sub-folder, the user cache ``~/.cache/ganforge/datasets/emoji``), then at Debian's install
paths, and at last downloaded from Debian's archive as the two .deb packages (each checked against
its sha256, the file extracted from it and checked again) into the user cache. A copy whose sha256
differs (another font version) is skipped and named in the error if nothing else is found.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import stat
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganforge.data.builtin import Opener, _is, _unique, cache_dir, file_sha256, user_dirs
from ganforge.errors import GanforgeError

NAME = "emoji"
SPLITS = ("train",)
CANVAS = (136, 128)  # the font's bitmap size (width, height)
FONT_SIZE = 109  # the one bitmap strike of Noto Color Emoji
EXCLUDED_GROUPS = ("Component",)  # skin-tone and hair swatches, not emoji on their own
BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class SourceFile:
    """One pinned input file and where it comes from."""

    filename: str
    sha256: str
    system_path: Path  # where Debian's package installs it
    deb_url: str  # the Debian package holding it
    deb_sha256: str
    member: str  # its path inside the package's data archive
    package: str


SOURCES = (
    SourceFile(
        "NotoColorEmoji.ttf", "e5899ed38b8ed83e08bd3ac5de09791e9d19d288333a796de1d35ad17396f1ec",
        Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
        "https://deb.debian.org/debian/pool/main/f/fonts-noto-color-emoji/fonts-noto-color-emoji_2.042-0+deb12u1_all.deb",
        "a5ab0f69c7938423862320d9aca5dd187b3fd879d6a9a57dd52e17c3fa8d2751",
        "./usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", "fonts-noto-color-emoji",
    ),
    SourceFile(
        "emoji-test.txt", "8445f23ac8388e096be19d0262e14fceff856ff52093f2356dc89485f1a853db",
        Path("/usr/share/unicode/emoji/emoji-test.txt"),
        "https://deb.debian.org/debian/pool/main/u/unicode-data/unicode-data_15.0.0-1_all.deb",
        "5efef23bbb1c6a133ecbdd63a2cfa07159ccacf5466a49e2426101c5ecd691fc",
        "./usr/share/unicode/emoji/emoji-test.txt", "unicode-data",
    ),
)


# ---------------------------------------------------------------------------------------------
# Finding (or fetching) the two files


def candidate_paths(src: SourceFile, root: str | os.PathLike | None = None) -> list[Path]:
    """Where ``src`` is looked for, in order: the user's folders of the IDX built-ins, then Debian's path."""
    return _unique([*(d / src.filename for d in user_dirs(NAME, root)), src.system_path])


def extract_from_deb(deb: bytes, member: str) -> bytes:
    """The bytes of ``member`` inside a Debian package (an ``ar`` archive holding ``data.tar.{xz,gz,zst}``)."""
    if not deb.startswith(b"!<arch>\n"):
        raise GanforgeError("not a Debian package (no ar archive header)")
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise GanforgeError("corrupt Debian package (bad ar member size)") from None
        body = deb[pos + 60 : pos + 60 + size]
        if name.startswith("data.tar"):
            if name.endswith(".xz"):
                body = lzma.decompress(body)
            elif not (name == "data.tar" or name.endswith(".gz")):
                raise GanforgeError(f"unsupported package compression {name!r}")
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                for info in tar.getmembers():
                    if info.name in (member, member.removeprefix("./")) and info.isfile():
                        f = tar.extractfile(info)
                        assert f is not None
                        return f.read()
            raise GanforgeError(f"the package has no {member}")
        pos += 60 + size + (size & 1)
    raise GanforgeError("the package has no data.tar member")


def download_source(src: SourceFile, dest: Path, opener: Opener | None = None, timeout: float = 120.0) -> Path:
    """Fetch the Debian package of ``src``, verify it and the extracted file, write it to ``dest/filename``.

    Nothing is written unless both checksums match; the file is written through the project's one writer
    (``outputs.write_bytes``: a temporary file renamed into place, never a partial file)."""
    opener = opener or urllib.request.urlopen
    try:
        with opener(src.deb_url, timeout=timeout) as resp:  # type: ignore[operator]
            deb = resp.read()
    except Exception as e:  # noqa: BLE001 - any network failure becomes one reported reason
        raise GanforgeError(f"{src.deb_url}: {type(e).__name__}: {e}") from None
    got = hashlib.sha256(deb).hexdigest()
    if got != src.deb_sha256:
        raise GanforgeError(f"{src.deb_url}: checksum mismatch (sha256 {got}, expected {src.deb_sha256})")
    data = extract_from_deb(deb, src.member)
    got = hashlib.sha256(data).hexdigest()
    if got != src.sha256:
        raise GanforgeError(f"{src.member} from {src.deb_url}: checksum mismatch (sha256 {got}, expected {src.sha256})")
    from ganforge.outputs import write_bytes

    return write_bytes(dest / src.filename, data)  # a failed write (full disk) is an OutputError naming the file


def locate_sources(root: str | os.PathLike | None = None, *, download: bool = True,
                   opener: Opener | None = None, sources: tuple[SourceFile, ...] = SOURCES) -> list[Path]:
    """The verified paths of the source files (font, list), downloading what is missing.

    Raises one GanforgeError listing every place looked (and why a copy there was not used)."""
    found: list[Path] = []
    for src in sources:
        notes: list[str] = []
        path = None
        for cand in candidate_paths(src, root):
            if not _is(cand, stat.S_ISREG):  # a pipe or device is never opened (reading one could block)
                notes.append(f"  {cand}: not there")
                continue
            try:
                got = file_sha256(cand)
            except OSError as e:
                notes.append(f"  {cand}: cannot be read ({e.strerror or e})")
                continue
            if got == src.sha256:
                path = cand
                break
            notes.append(f"  {cand}: another version (sha256 {got[:16]}..., expected {src.sha256[:16]}...)")
        if path is None:
            failure = "download disabled"
            if download:
                try:
                    path = download_source(src, cache_dir(NAME), opener)
                except GanforgeError as e:
                    failure = str(e)
            if path is None:
                raise GanforgeError("\n".join([
                    f"built-in dataset 'emoji' needs {src.filename} (sha256 {src.sha256[:16]}...), not found:",
                    *notes,
                    f"Download into {cache_dir(NAME)} failed: {failure}",
                    "To fix it, one of:",
                    f"  - on Debian 12: sudo apt install {src.package}",
                    f"  - download {src.deb_url} and put its {src.member.removeprefix('./')} into one of the "
                    "folders above (or $GANFORGE_DATA, or data.root)",
                ]))
        found.append(path)
    return found


# ---------------------------------------------------------------------------------------------
# The list and the rendering


def parse_emoji_test(text: str) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
    """emoji-test.txt -> ([(sequence, group index)], group names), fully-qualified entries only,
    groups in ``EXCLUDED_GROUPS`` left out (and not numbered)."""
    groups: list[str] = []
    items: list[tuple[str, int]] = []
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("# group:"):
            current = line.split(":", 1)[1].strip()
            if current not in EXCLUDED_GROUPS and current not in groups:
                groups.append(current)
            continue
        if not line.strip() or line.startswith("#") or ";" not in line:
            continue
        codes, rest = line.split(";", 1)
        if rest.split("#", 1)[0].strip() != "fully-qualified" or current is None or current in EXCLUDED_GROUPS:
            continue
        try:
            seq = "".join(chr(int(c, 16)) for c in codes.split())
        except ValueError:
            raise GanforgeError(f"emoji-test.txt: bad code points in line {line!r}") from None
        items.append((seq, groups.index(current)))
    if not items:
        raise GanforgeError("emoji-test.txt lists no fully-qualified emoji")
    return items, tuple(groups)


def render_emoji(font_path: Path, items: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray, int]:
    """-> (images uint8 [N, 136, 136, 3] on white, labels int64 [N], number left out)."""
    from PIL import Image, ImageDraw, ImageFont, features

    if not features.check("raqm"):
        raise GanforgeError("rendering the emoji dataset needs Pillow with Raqm text layout (PyPI's Pillow "
                            "wheels include it; a Pillow built without libraqm cannot shape emoji sequences)")
    font = ImageFont.truetype(str(font_path), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)
    advance = font.getlength(items[0][0])
    w, h = CANVAS
    side = max(w, h)
    images = np.empty((len(items), side, side, 3), dtype=np.uint8)
    labels = np.empty(len(items), dtype=np.int64)
    n = skipped = 0
    for seq, group in items:
        if font.getlength(seq) != advance:  # not shaped into one glyph by this font
            skipped += 1
            continue
        glyph = Image.new("RGBA", CANVAS, (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((0, 0), seq, font=font, embedded_color=True)
        if glyph.getchannel("A").getbbox() is None:  # drawn blank
            skipped += 1
            continue
        square = Image.new("RGBA", (side, side), BACKGROUND + (255,))
        square.alpha_composite(glyph, ((side - w) // 2, (side - h) // 2))
        images[n] = np.asarray(square.convert("RGB"))
        labels[n] = group
        n += 1
    return images[:n], labels[:n], skipped


def load_emoji_arrays(root: str | os.PathLike | None = None, **locate_kw
                      ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], int]:
    """-> (images uint8 [N, 3, 136, 136], labels int64 [N], group names, glyphs left out)."""
    font, listing = locate_sources(root, **locate_kw)
    items, groups = parse_emoji_test(listing.read_text(encoding="utf-8"))
    images, labels, skipped = render_emoji(font, items)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), labels, groups, skipped
