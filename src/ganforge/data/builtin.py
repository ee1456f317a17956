"""Built-in datasets (Fashion-MNIST, MNIST): where their files live, how to fetch and load them.

Each built-in is a ``BuiltinSpec`` in the ``BUILTIN_DATASETS`` registry. ``locate_builtin`` looks
for the files in a fixed order (explicit root, ``$GANFORGE_DATA``, the user cache, Debian's
``/usr/share/datasets``), then tries a checksum-verified download into the user cache, and if that
fails too raises ONE ``GanforgeError`` listing every place it looked and how to get the files.

The search directories (``SYSTEM_DATA_DIRS``) and the URL opener (``opener=`` argument) are
injectable so tests run offline.
"""

from __future__ import annotations

import hashlib
import os
import stat
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ganforge.data.folder import file_type, probe_path, shown_path
from ganforge.data.idx import read_idx
from ganforge.errors import GanforgeError
from ganforge.registry import Registry

SPLITS = ("train", "test")

# Read-only, system-wide dataset folders searched after the user's own; "<dir>/<name>" is checked.
# Debian/Ubuntu's `dataset-fashion-mnist` package installs to /usr/share/datasets/fashion-mnist.
SYSTEM_DATA_DIRS: list[Path] = [Path("/usr/share/datasets")]

# Signature of an injectable opener: (url, timeout) -> binary file-like response.
Opener = Callable[..., object]


@dataclass(frozen=True)
class BuiltinSpec:
    """Static description of a built-in IDX dataset.

    Attributes:
        name: registry name, also the sub-folder name in every search directory.
        files: split -> (images file, labels file), the ``.gz`` names as published.
        class_names: label index -> human-readable class name.
        base_urls: mirrors, tried in order; each file is ``base_url + file name``.
        md5: ``.gz`` file name -> md5 of the published compressed file (verified on download).
        raw_sha256: unpacked file name -> sha256 of the decompressed IDX bytes. Verified by
            ``ganforge data check``; it also holds for repackaged copies (Debian recompresses the
            ``.gz`` files, so their md5 differs from upstream while the content is identical).
        install_hint: extra line telling users how to install the files system-wide.
    """

    name: str
    files: dict[str, tuple[str, str]]
    class_names: tuple[str, ...]
    base_urls: tuple[str, ...]
    md5: dict[str, str]
    raw_sha256: dict[str, str] = field(default_factory=dict)
    install_hint: str = ""
    image_size: int = 28

    def needed_files(self, split: str | None = None) -> list[str]:
        """The ``.gz`` file names needed for ``split`` (both splits when None)."""
        splits = SPLITS if split is None else (split,)
        return [f for s in splits for f in self.files[s]]


BUILTIN_DATASETS: Registry[BuiltinSpec] = Registry("built-in dataset")

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

BUILTIN_DATASETS.add(
    "fashion-mnist",
    BuiltinSpec(
        name="fashion-mnist",
        files=_IDX_FILES,
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        # Upstream (zalandoresearch/fashion-mnist README) checksums of the published .gz files.
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        # Computed from the decompressed Debian `dataset-fashion-mnist` files (same content as upstream).
        raw_sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        install_hint="on Debian/Ubuntu: sudo apt install dataset-fashion-mnist",
    ),
)

BUILTIN_DATASETS.add(
    "mnist",
    BuiltinSpec(
        name="mnist",
        files=_IDX_FILES,
        class_names=tuple(str(d) for d in range(10)),
        # yann.lecun.com often refuses downloads; the PyTorch team's S3 mirror is the stable source.
        base_urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
)


def _spec(name: str | BuiltinSpec) -> BuiltinSpec:
    return name if isinstance(name, BuiltinSpec) else BUILTIN_DATASETS.get(name)


def cache_dir(name: str | None = None) -> Path:
    """User cache folder for downloaded datasets: ``$XDG_CACHE_HOME`` or ``~/.cache`` + ganforge/datasets."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(base) / "ganforge" / "datasets"
    return root / name if name else root


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: set[Path] = set()
    return [p for p in paths if not (p in seen or seen.add(p))]


def check_root(root: str | os.PathLike, key: str = "data.root") -> Path:
    """``root`` (``data.root``) as a folder: one ``GanforgeError`` naming ``key`` and the path when it does
    not exist, is not a folder (a named pipe, a device, a file) or cannot be looked at (too long, a
    symlink loop, no permission), instead of a search that silently skips it."""
    r = Path(root).expanduser()
    st = probe_path(r, key)
    if st is None:
        raise GanforgeError(f"{key} {shown_path(r)} does not exist; give the folder holding the dataset's files, "
                            f"or leave {key} at none")
    if not stat.S_ISDIR(st.st_mode):
        kind = "file" if stat.S_ISREG(st.st_mode) else file_type(st.st_mode)
        raise GanforgeError(f"{key} {shown_path(r)} is a {kind}, not a folder; give the folder holding the "
                            f"dataset's files, or leave {key} at none")
    return r


def user_dirs(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The user's folders for a built-in's files, in order: ``root`` and ``root/<name>``;
    ``$GANFORGE_DATA`` and ``$GANFORGE_DATA/<name>``; the user cache ``<cache>/ganforge/datasets/<name>``."""
    out: list[Path] = []
    if root is not None:
        r = check_root(root)
        out += [r, r / name]
    env = os.environ.get("GANFORGE_DATA")
    if env:
        e = Path(env).expanduser()
        probe_path(e, "$GANFORGE_DATA")  # a name too long, a loop: one error; missing is searched as before
        out += [e, e / name]
    out.append(cache_dir(name))
    return _unique(out)


def candidate_dirs(name: str | BuiltinSpec, root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for a built-in's files, in order (duplicates removed): ``user_dirs``, then
    ``<d>/<name>`` for each ``d`` in ``SYSTEM_DATA_DIRS``."""
    spec = _spec(name)
    return _unique([*user_dirs(spec.name, root), *(Path(d) / spec.name for d in SYSTEM_DATA_DIRS)])


def builtin_names() -> list[str]:
    """Every built-in dataset name: the IDX ones of ``BUILTIN_DATASETS`` and the rendered ``emoji``."""
    return [*BUILTIN_DATASETS.names(), "emoji"]


def find_file(folder: Path, gz_name: str) -> Path | None:
    """``folder/gz_name`` or its unpacked form (name without ``.gz``), whichever exists first."""
    for cand in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if _is(cand, stat.S_ISREG):
            return cand
    return None


def _is(path: Path, test) -> bool:
    """``test(st_mode)`` of ``path``; False when it cannot be looked at (a search place that is too long,
    a loop or unreadable is a place without the files, listed in the error as such)."""
    try:
        return test(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _has_files(folder: Path, files: Iterable[str]) -> bool:
    return _is(folder, stat.S_ISDIR) and all(find_file(folder, f) is not None for f in files)


def file_sha256(path: str | os.PathLike) -> str:
    """Full hex sha256 of a file, read in 1 MiB chunks (pinned dataset sources, weights files)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download_builtin(
    name: str | BuiltinSpec,
    dest: str | os.PathLike | None = None,
    *,
    split: str | None = None,
    base_urls: Iterable[str] | None = None,
    opener: Opener | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a built-in's ``.gz`` files into ``dest``, verifying each file's md5.

    Each file is streamed to a temporary file in ``dest`` and renamed into place only after its
    checksum matched, so an interrupted or corrupted download never leaves a file that looks valid.

    Args:
        name: registry name or a ``BuiltinSpec``.
        dest: target folder; default the user cache dir for this dataset.
        split: only fetch this split's files (default both).
        base_urls: mirrors to try in order (default the spec's).
        opener: ``opener(url, timeout=...)`` returning a binary response; default ``urllib``.
        timeout: per-request timeout in seconds.

    Returns:
        The folder now holding the files.

    Raises:
        GanforgeError: every mirror failed for some file (network error or checksum mismatch).
    """
    spec = _spec(name)
    dest = Path(dest) if dest is not None else cache_dir(spec.name)
    urls = tuple(base_urls) if base_urls is not None else spec.base_urls
    opener = opener or urllib.request.urlopen
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanforgeError(f"cannot create download folder {str(dest)!r}: {e}") from None
    for fname in spec.needed_files(split):
        if find_file(dest, fname) is not None:
            continue
        errors: list[str] = []
        for base in urls:
            url = base.rstrip("/") + "/" + fname
            err = _fetch_one(url, dest / fname, spec.md5.get(fname), opener, timeout)
            if err is None:
                break
            errors.append(f"{url}: {err}")
        else:
            raise GanforgeError(f"download of {spec.name} file {fname} failed: " + "; ".join(errors))
    return dest


class _FetchFailed(Exception):
    """A download that did not give the verified file; ``str(e)`` is the reason reported."""


def _fetch_one(url: str, target: Path, md5: str | None, opener: Opener, timeout: float) -> str | None:
    """Fetch ``url`` to ``target`` through the project's one writer (``outputs.atomic_write``: a temporary
    file beside ``target``, renamed into place only after its checksum matched; removed on any failure
    or interrupt). Returns None on success, else a reason."""
    from ganforge.outputs import atomic_write

    def write(tmp: Path) -> None:
        h = hashlib.md5()
        with open(tmp, "wb") as out:
            try:  # network failures (URLError is an OSError) are reasons, not failed writes
                resp = opener(url, timeout=timeout)  # type: ignore[operator]
            except Exception as e:  # noqa: BLE001
                raise _FetchFailed(f"{type(e).__name__}: {e}") from None
            with resp:
                while True:
                    try:
                        chunk = resp.read(1 << 20)
                    except Exception as e:  # noqa: BLE001
                        raise _FetchFailed(f"{type(e).__name__}: {e}") from None
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk)
        got = h.hexdigest()
        if md5 is not None and got != md5:
            raise _FetchFailed(f"checksum mismatch (md5 {got}, expected {md5}); the partial file was deleted")

    try:
        atomic_write(target, write)
        return None
    except _FetchFailed as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a failed write (full disk, read-only cache) becomes a reported reason
        return f"{type(e).__name__}: {e}"


def locate_builtin(
    name: str | BuiltinSpec,
    root: str | os.PathLike | None = None,
    *,
    split: str | None = None,
    download: bool = True,
    opener: Opener | None = None,
    base_urls: Iterable[str] | None = None,
) -> Path:
    """Find (or download) the folder holding a built-in dataset's IDX files.

    Args:
        name: registry name (``fashion-mnist``, ``mnist``) or a ``BuiltinSpec``.
        root: a folder to search first (``DataConfig.root``).
        split: only require this split's files (default: both splits).
        download: try a download into the user cache when no folder has the files.
        opener, base_urls: passed to ``download_builtin`` (injectable for tests).

    Returns:
        A folder containing every needed file, each either as ``.gz`` or unpacked.

    Raises:
        GanforgeError: not found anywhere and the download failed; lists every place looked.
    """
    spec = _spec(name)
    if split is not None and split not in SPLITS:
        raise GanforgeError(f"unknown split {split!r} for {spec.name}; valid splits: {', '.join(SPLITS)}")
    needed = spec.needed_files(split)
    looked = candidate_dirs(spec, root)
    for d in looked:
        if _has_files(d, needed):
            return d
    failure = "download disabled"
    if download:
        try:
            return download_builtin(spec, cache_dir(spec.name), split=split, opener=opener, base_urls=base_urls)
        except GanforgeError as e:
            failure = str(e)
    urls = ", ".join(spec.base_urls)
    lines = [
        f"built-in dataset {spec.name!r} not found; needed files: {', '.join(needed)} (.gz or unpacked).",
        "Looked in:",
        *[f"  {p}" for p in looked],
        f"Download into {cache_dir(spec.name)} failed: {failure}",
        "To fix it, one of:",
        f"  - download the files from {urls} into one of the folders above",
        "  - set $GANFORGE_DATA to a folder holding them (or a <folder>/" + spec.name + " sub-folder)",
        "  - pass the folder as data.root",
    ]
    if spec.install_hint:
        lines.append(f"  - {spec.install_hint}")
    raise GanforgeError("\n".join(lines))


def load_builtin_arrays(
    name: str | BuiltinSpec, split: str = "train", root: str | os.PathLike | None = None, **locate_kw
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Path]]:
    """Locate and read one split of a built-in dataset.

    Args:
        name: registry name or spec.
        split: ``train`` or ``test``.
        root: optional folder searched first.
        **locate_kw: passed to ``locate_builtin`` (``download``, ``opener``, ``base_urls``).

    Returns:
        ``(images, labels, class_names, files)``: images uint8 ``[N, 1, H, W]``, labels int64 ``[N]``,
        and the two files read.

    Raises:
        GanforgeError: invalid split, files not found, malformed IDX, label count != image count,
            or labels outside ``[0, num_classes)``.
    """
    spec = _spec(name)
    if split not in SPLITS:
        raise GanforgeError(f"unknown split {split!r} for {spec.name}; valid splits: {', '.join(SPLITS)}")
    folder = locate_builtin(spec, root, split=split, **locate_kw)
    img_name, lab_name = spec.files[split]
    img_path, lab_path = find_file(folder, img_name), find_file(folder, lab_name)
    assert img_path is not None and lab_path is not None  # guaranteed by locate_builtin
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    validate_arrays(spec, images, labels, img_path, lab_path)
    return images[:, None], labels.astype(np.int64), spec.class_names, [img_path, lab_path]


def validate_arrays(spec: BuiltinSpec, images: np.ndarray, labels: np.ndarray, img_path: Path, lab_path: Path) -> None:
    """Check that decoded IDX arrays form a consistent labelled image set (raises GanforgeError)."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise GanforgeError(
            f"{img_path}: expected uint8 images of shape [N, H, W], got {images.dtype} {list(images.shape)}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise GanforgeError(f"{lab_path}: expected integer labels of shape [N], got {labels.dtype} {list(labels.shape)}")
    if len(labels) != len(images):
        raise GanforgeError(
            f"label count mismatch: {lab_path} has {len(labels)} labels but {img_path} has {len(images)} images"
        )
    k = len(spec.class_names)
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        bad = labels[(labels < 0) | (labels >= k)]
        raise GanforgeError(
            f"{lab_path}: {len(bad)} labels outside the valid range 0..{k - 1} (e.g. {int(bad[0])})"
        )
