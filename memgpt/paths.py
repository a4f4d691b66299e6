"""Cache locations, file hashing and atomic writes (torch-free: the ONNX runtime path uses them).

Every file or folder the package publishes goes through the helpers below (see
``docs/architecture.md#atomic-writes``): the content is written to a temporary sibling in the same
folder, flushed to disk, given the permissions the user's umask allows (``0666 & ~umask`` for
files, ``0777 & ~umask`` for folders; ``mkstemp``/``mkdtemp`` alone would leave 0600/0700), and
renamed over the destination with ``os.replace``. A reader sees the old file or the new one, never
a half-written one; an error mid-write leaves the old file as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """``$MEMGPT_CACHE``, else ``$XDG_CACHE_HOME/memgpt``, else ``~/.cache/memgpt``."""
    if os.environ.get("MEMGPT_CACHE"):
        return Path(os.environ["MEMGPT_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "memgpt"
    return Path.home() / ".cache" / "memgpt"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------- permissions
def umask() -> int:
    """The process umask, read without changing it where Linux's ``/proc`` says it.

    ``os.umask`` can only be read by setting it, which races with other threads creating files,
    so that is the fallback only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: ``0o666 & ~umask``."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder: ``0o777 & ~umask``."""
    return 0o777 & ~umask()


# ---------------------------------------------------------------------- files
def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish_file(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Flush the finished file ``tmp``, give it :func:`file_mode` and rename it to ``path``.

    ``tmp`` must be on the same file system as ``path`` (a sibling, or inside a temporary folder
    beside it).
    """
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, file_mode())
    os.replace(tmp, path)
    _fsync_dir(Path(path).parent)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that take a file name; published on success.

    ::

        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(tensors, str(tmp))

    The temporary name ends in ``.tmp`` plus ``path``'s suffix, so writers that pick a format
    from the extension (matplotlib's ``savefig``) still do. If the block raises, the temporary
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        publish_file(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see the module docstring)."""
    atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------------- folders
def make_temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """``tempfile.mkdtemp`` in ``parent``, then given :func:`dir_mode` (mkdtemp makes it 0700)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    os.chmod(tmp, dir_mode())
    return tmp


def replace_dir(tmp: str | os.PathLike, dest: str | os.PathLike, *,
                old: str | os.PathLike | None = None) -> None:
    """Rename the finished folder ``tmp`` to ``dest``, replacing a folder already there.

    A folder cannot be renamed over a non-empty one, so an existing ``dest`` is first renamed to
    ``old`` (default ``.<name>.old`` beside it), then ``tmp`` takes its place, then ``old`` is
    removed. Each rename is atomic; a crash between the two leaves the previous content in
    ``old``. ``tmp`` is given :func:`dir_mode` first. A ``dest`` that is a file is refused
    (``FileExistsError``), never replaced by the folder.
    """
    tmp, dest = Path(tmp), Path(dest)
    if dest.exists() and not dest.is_dir():
        raise FileExistsError(f"{dest} exists and is not a folder")
    old = Path(old) if old is not None else dest.with_name(f".{dest.name}.old")
    os.chmod(tmp, dir_mode())
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(dest: str | os.PathLike, *, old: str | os.PathLike | None = None
               ) -> Iterator[Path]:
    """A temporary folder beside ``dest`` to fill; :func:`replace_dir` puts it in place on success.

    If the block raises, the temporary folder is removed and ``dest`` is left as it was.
    """
    dest = Path(dest)
    tmp = make_temp_dir(dest.parent, f".{dest.name}.")
    try:
        yield tmp
        replace_dir(tmp, dest, old=old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def decode_text(data: bytes, label: str, *, encoding: str = "utf-8-sig") -> str:
    """``data`` as text; one-line errors for binary (NUL bytes) or non-UTF-8 input, naming
    ``label`` (a file name, or "stdin")."""
    if b"\x00" in data:
        raise ValueError(f"{label} looks like a binary file (it contains NUL bytes)")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"{label} is not UTF-8 text (invalid byte at offset {e.start})") from None
