"""The built-in colour dataset ``emoji``: pinned sources, offline download path, deterministic labelled rendering."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch
from helpers.data import deb_package, emoji_source

from ganforge.config import DataConfig
from ganforge.data import load_dataset
from ganforge.data import emoji as em
from ganforge.errors import GanforgeError

HAVE_SOURCES = all(s.system_path.is_file() for s in em.SOURCES)
needs_sources = pytest.mark.skipif(
    not HAVE_SOURCES, reason="Debian's fonts-noto-color-emoji and unicode-data are not installed (make data does it)")

SNIPPET = """\
# group: Smileys & Emotion
# subgroup: face-smiling
1F600                                                  ; fully-qualified     # 😀 E1.0 grinning face
263A FE0F                                              ; fully-qualified     # ☺️ E0.6 smiling face
263A                                                   ; unqualified         # ☺ E0.6 smiling face
# group: Component
1F3FB                                                  ; component           # 🏻 E1.0 light skin tone
# group: Flags
1F1EB 1F1F7                                            ; fully-qualified     # 🇫🇷 E2.0 flag: France
"""


def test_parse_keeps_fully_qualified_and_numbers_groups_without_components():
    items, groups = em.parse_emoji_test(SNIPPET)
    assert groups == ("Smileys & Emotion", "Flags")
    assert items == [("\U0001F600", 0), ("\u263A\uFE0F", 0), ("\U0001F1EB\U0001F1F7", 1)]
    with pytest.raises(GanforgeError, match="no fully-qualified"):
        em.parse_emoji_test("# group: Smileys & Emotion\n")


# ---------------------------------------------------------------- finding and fetching the sources


class _Opener:
    def __init__(self, body: bytes | None):
        self.body, self.urls = body, []

    def __call__(self, url, timeout=None):
        self.urls.append(url)
        if self.body is None:
            raise OSError("network is unreachable")
        return io.BytesIO(self.body)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    return tmp_path


def test_download_verifies_package_and_file_then_is_found_offline(isolated):
    payload = b"emoji list v15\n"
    deb = deb_package("./usr/share/x/thing.txt", payload)
    src = emoji_source(isolated, payload, deb)
    opener = _Opener(deb)
    (path,) = em.locate_sources(sources=(src,), opener=opener)
    assert path == em.cache_dir("emoji") / "thing.txt" and path.read_bytes() == payload
    assert opener.urls == [src.deb_url]
    offline = _Opener(None)
    assert em.locate_sources(sources=(src,), opener=offline) == [path]  # from the cache, no network
    assert offline.urls == []


def test_corrupt_package_or_member_writes_nothing(isolated):
    payload = b"the real content"
    src = emoji_source(isolated, payload)
    bad = deb_package("./usr/share/x/thing.txt", b"tampered content")
    with pytest.raises(GanforgeError, match="checksum mismatch"):
        em.locate_sources(sources=(src,), opener=_Opener(bad))
    # a package with the right sha256 pin but a member of other content (pins made from the bad one)
    src2 = em.SourceFile(**{**src.__dict__, "deb_sha256": hashlib.sha256(bad).hexdigest()})
    with pytest.raises(GanforgeError, match=r"usr/share/x/thing.txt from .*checksum mismatch"):
        em.locate_sources(sources=(src2,), opener=_Opener(bad))
    cache = em.cache_dir("emoji")
    assert not cache.exists() or not any(cache.iterdir())  # no file, no partial file


def test_other_versions_are_skipped_and_named(isolated, monkeypatch):
    payload = b"pinned"
    src = emoji_source(isolated, payload)
    data = isolated / "mydata"
    (data / "emoji").mkdir(parents=True)
    (data / "emoji" / "thing.txt").write_bytes(b"another version")
    monkeypatch.setenv("GANFORGE_DATA", str(data))
    with pytest.raises(GanforgeError) as info:
        em.locate_sources(sources=(src,), opener=_Opener(None))
    msg = str(info.value)
    assert f"{data / 'emoji' / 'thing.txt'}: another version" in msg
    assert "network is unreachable" in msg and "sudo apt install thing-package" in msg
    (data / "thing.txt").write_bytes(payload)  # the right copy earlier in the search order wins
    assert em.locate_sources(sources=(src,), download=False) == [data / "thing.txt"]


def test_not_a_package():
    with pytest.raises(GanforgeError, match="not a Debian package"):
        em.extract_from_deb(b"PK\x03\x04", "./x")
    with pytest.raises(GanforgeError, match="has no ./usr/share/y"):
        em.extract_from_deb(deb_package("./usr/share/x/thing.txt", b"x"), "./usr/share/y")


def test_pins_are_debians_files():
    font, listing = em.SOURCES
    assert font.deb_url.endswith("fonts-noto-color-emoji_2.042-0+deb12u1_all.deb")
    assert listing.deb_url.endswith("unicode-data_15.0.0-1_all.deb")
    if HAVE_SOURCES:  # the installed Debian files are the pinned ones
        assert [em.file_sha256(s.system_path) for s in em.SOURCES] == [s.sha256 for s in em.SOURCES]


# ---------------------------------------------------------------- the rendered dataset


@needs_sources
def test_emoji_dataset_is_deterministic_and_labelled():
    a = load_dataset(DataConfig(name="emoji", resolution=32))
    b = load_dataset(DataConfig(name="emoji", resolution=32))
    assert a.images_u8.shape[1:] == (3, 32, 32) and a.images_u8.dtype == torch.uint8
    assert a.content_hash == b.content_hash and torch.equal(a.images_u8, b.images_u8)
    assert a.class_names[0] == "Smileys & Emotion" and a.class_names[-1] == "Flags" and len(a.class_names) == 9
    assert "Component" not in a.class_names
    items, _ = em.parse_emoji_test(em.SOURCES[1].system_path.read_text(encoding="utf-8"))
    assert len(a) == len(items) > 3500  # every listed sequence drawn as one glyph by this font
    assert torch.equal(a.labels, torch.tensor([g for _, g in items]))
    assert a.name == "emoji:train"
    # white background at the corners; colour inside (a grinning face is yellow, not gray)
    first = a.images_u8[0].int()
    assert (first[:, 0, 0] == 255).all()
    r, g, bl = first[:, 16, 8]
    assert r > 150 and g > 100 and bl < 80
    assert a.images_u8.float().std(dim=(0, 2, 3)).min() > 10  # every channel varies


@needs_sources
def test_emoji_resolutions_channels_and_splits():
    big = load_dataset(DataConfig(name="emoji", resolution=None))
    assert big.images_u8.shape[1:] == (3, 136, 136)
    gray = load_dataset(DataConfig(name="emoji", resolution=64, channels=1))
    assert gray.images_u8.shape[1:] == (1, 64, 64)
    with pytest.raises(GanforgeError, match="unknown split 'test' for emoji; valid choices: train"):
        load_dataset(DataConfig(name="emoji", split="test"))


@needs_sources
def test_data_check_emoji(capsys):
    from ganforge.cli import main

    assert main(["data", "check", "emoji"]) == 0
    out = capsys.readouterr().out
    assert "sha256 verified" in out and "classes (9): Smileys & Emotion" in out and "3655 usable images" in out


@pytest.mark.network
def test_real_download_from_debian(isolated):
    """The real archive URLs and pins (run with -m network where deb.debian.org is reachable)."""
    sources = tuple(em.SourceFile(**{**s.__dict__, "system_path": isolated / "absent" / s.filename})
                    for s in em.SOURCES)
    paths = em.locate_sources(sources=sources)
    assert [p.parent for p in paths] == [em.cache_dir("emoji")] * 2
    assert [em.file_sha256(p) for p in paths] == [s.sha256 for s in em.SOURCES]
