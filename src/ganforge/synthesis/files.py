"""Writing the several files of one figure all or nothing, on top of the project's one writer.

Every file goes through ``ganforge.outputs``: it is complete or absent, never partial, and a file it
replaces stays as it was until its successor is complete. A figure of several files (an animation and
its strip, a projection's latent, images and video) is made in memory first and then written file
after file; if one cannot be written (a full disk), the files this call had already created are
removed again, so the folder holds what it held before and the same call can simply be made again.
Under ``overwrite``, files already replaced keep their complete new version (the old one cannot come
back); the message names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ganforge.errors import GanforgeError

Writer = Callable[[Path, bool], object]  # write(path, overwrite) through the one writer


def output_paths(out: str | Path, names: list[str], overwrite: bool) -> list[Path]:
    """The paths of ``names`` in the folder ``out``, checked before anything is made: ``out`` is (or can
    become) a writable folder and, without ``overwrite``, none of the files exists. Creates nothing."""
    from ganforge.outputs import check_writable_dir

    out = Path(out)
    paths = [out / n for n in names]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise GanforgeError(f"{existing[0]} already exists; pass --overwrite or choose another --out")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {str(out)!r} is a file, not a folder")
    check_writable_dir(out, "--out")
    return paths


def write_all(files: list[tuple[Path, Writer]], overwrite: bool) -> None:
    """Write ``files`` (path, writer) in order, all or nothing for the files this call creates: when one
    fails, those written before it that did not exist before are removed again and the error says so."""
    from ganforge.outputs import make_dir

    if not files:
        return
    make_dir(files[0][0].parent, "--out")
    existed = {path: path.exists() for path, _ in files}
    done: list[Path] = []
    for path, write in files:
        try:
            try:
                write(path, overwrite)
            except FileExistsError:
                raise GanforgeError(f"{path} appeared while this command ran; stopped without overwriting it") from None
        except BaseException as e:
            removed = []
            for p in done:
                if not existed[p]:
                    try:
                        p.unlink()
                        removed.append(p.name)
                    except OSError:
                        pass
            replaced = [p.name for p in done if existed[p]]
            if isinstance(e, GanforgeError) and (removed or replaced):
                notes = []
                if removed:
                    notes.append(f"removed {', '.join(removed)} written before it, so nothing of this run is left")
                if replaced:
                    notes.append(f"{', '.join(replaced)} already replaced by the new version")
                raise type(e)(f"{e} ({'; '.join(notes)})") from None
            raise
        done.append(path)


def png_writer(img_u8, scale: int = 1) -> Writer:
    """A writer of one uint8 [C, H, W] image as PNG, enlarged ``scale`` times (nearest neighbour)."""
    from ganforge.images import save_png, to_image

    image = to_image(img_u8, scale)
    return lambda path, overwrite: save_png(image, path, overwrite=overwrite)


def view_scale(G) -> int:
    """How many times a figure of ``G``'s images is enlarged so that small models stay visible (~128 px)."""
    return max(1, 128 // int(G.img_resolution))
