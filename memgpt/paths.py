"""Cache locations, file hashing and atomic writes (torch-free: the ONNX runtime path uses them).

Every file or folder the package publishes goes through the helpers below (see
``docs/architecture.md#atomic-writes``): the content is written to a temporary sibling in the same
folder, flushed to disk, given the permissions the user's umask allows (``0666 & ~umask`` for
files, ``0777 & ~umask`` for folders; ``mkstemp``/``mkdtemp`` alone would leave 0600/0700), and
renamed over the destination with ``os.replace``. A reader sees the old file or the new one, never
a half-written one; an error mid-write leaves the old file as it was.

Folders are swapped with the old one in a single step where the system can (Linux
``renameat2(RENAME_EXCHANGE)``), so even a ``kill -9`` at any instant leaves the old folder or the
new one at the destination; elsewhere two renames (see :func:`replace_dir`).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("memgpt")
# the host part of temporaries' names (see temp_prefix): short, and safe in a file name
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]

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
    remove_stale_temps(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name),
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
def temp_prefix(name: str) -> str:
    """``.NAME.HOST-PID-``: the start of a temporary's name for writing ``name``. The writer's host
    and process id let :func:`remove_stale_temps` tell a killed writer's leftovers from a live
    one's."""
    return f".{name}.{_HOST}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or a pid we cannot ask about): keep its files
    return True


def remove_stale_temps(parent: str | os.PathLike, name: str) -> int:
    """Remove the temporaries of ``name`` in ``parent`` that a writer on this host left when it was
    killed mid-write (its process no longer runs); return how many. Another host's, and a live
    process's, are never touched."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.{_HOST}-(\d+)-")
    removed = 0
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return 0
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or int(m[1]) == os.getpid() or _pid_alive(int(m[1])):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            continue  # another process removed it first, or it is not ours to remove
    if removed:
        log.info("removed %d temporary file(s) of %s left by killed writers", removed, name)
    return removed


def make_temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """``tempfile.mkdtemp`` in ``parent``, then given :func:`dir_mode` (mkdtemp makes it 0700)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    os.chmod(tmp, dir_mode())
    return tmp


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` (a full disk surfaces here, before the swap,
    when the file system only allocates on flush)."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for name in dirs:
            _fsync_dir(Path(root, name))
    _fsync_dir(folder)


_RENAME_EXCHANGE, _AT_FDCWD = 2, -100
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM,
                errno.ENOENT}
_LIBC: list = []


def _renameat2():
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL(None, use_errno=True).renameat2)
            _LIBC[0].argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_uint]
        except (OSError, AttributeError):  # no such libc symbol (old glibc, some musl)
            _LIBC.append(None)
    return _LIBC[0]


def _exchange(a: Path, b: Path) -> bool:
    """Swap paths ``a`` and ``b`` in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the system or the file system cannot."""
    fn = _renameat2() if sys.platform.startswith("linux") else None
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_EXCHANGE:
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(tmp: str | os.PathLike, dest: str | os.PathLike, *,
                old: str | os.PathLike | None = None) -> None:
    """Put the finished folder ``tmp`` at ``dest``, replacing a folder already there.

    Every file in ``tmp`` is flushed first and ``tmp`` is given :func:`dir_mode`. Where the
    system can, ``tmp`` and an existing ``dest`` are exchanged in one atomic step and the old
    content (now at ``tmp``) is removed: a crash at any point leaves the old folder or the new one
    at ``dest``, plus at worst a stray temporary folder beside it. Elsewhere a folder cannot be
    renamed over a non-empty one, so an existing ``dest`` is first renamed to ``old`` (default
    ``.<name>.old`` beside it), then ``tmp`` takes its place, then ``old`` is removed; a crash
    between the two renames leaves the previous content in ``old``. A ``dest`` that is a file is
    refused (``FileExistsError``), never replaced by the folder.
    """
    tmp, dest = Path(tmp), Path(dest)
    if dest.exists() and not dest.is_dir():
        raise FileExistsError(f"{dest} exists and is not a folder")
    old = Path(old) if old is not None else dest.with_name(f".{dest.name}.old")
    os.chmod(tmp, dir_mode())
    _fsync_tree(tmp)
    shutil.rmtree(old, ignore_errors=True)  # a previous crash's leftover
    if dest.is_dir() and _exchange(tmp, dest):
        _fsync_dir(dest.parent)
        shutil.rmtree(tmp, ignore_errors=True)  # the previous content
        return
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
    remove_stale_temps(dest.parent, dest.name)
    tmp = make_temp_dir(dest.parent, temp_prefix(dest.name))
    try:
        yield tmp
        replace_dir(tmp, dest, old=old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _only_files(folder: Path) -> bool:
    return all(p.is_file() and not p.is_symlink() for p in folder.iterdir())


@contextmanager
def atomic_update_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """A folder to write a multi-file artifact into (checkpoint, memory bank), published at once.

    When ``dest`` is absent or holds only plain files, this is :func:`atomic_dir` with the files of
    ``dest`` that the block did not write carried over (hard-linked, else copied), so other files
    kept beside the artifact survive and readers see all old files or all new ones. When ``dest``
    holds folders or links of its own (a cache folder, a training run), or is the working folder
    or above it, ``dest`` itself is yielded and each file is still replaced atomically (the block
    writes through :func:`atomic_path`), but one at a time.
    """
    dest = Path(os.path.abspath(dest))
    if dest.exists() and not dest.is_dir():
        raise FileExistsError(f"{dest} exists and is not a folder")
    if dest.is_dir() and (not _only_files(dest) or Path.cwd().resolve().is_relative_to(
            dest.resolve())):
        yield dest
        return
    with atomic_dir(dest) as tmp:
        yield tmp
        if dest.is_dir():
            for p in dest.iterdir():
                target = tmp / p.name
                stray = p.name.startswith(".") and ".tmp" in p.name  # a killed write's temp
                if stray or target.exists() or not p.is_file():
                    continue
                try:
                    os.link(p, target)
                except OSError:
                    shutil.copy2(p, target)


def decode_text(data: bytes, label: str, *, encoding: str = "utf-8-sig") -> str:
    """``data`` as text; one-line errors for binary (NUL bytes) or non-UTF-8 input, naming
    ``label`` (a file name, or "stdin")."""
    if b"\x00" in data:
        raise ValueError(f"{label} looks like a binary file (it contains NUL bytes)")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"{label} is not UTF-8 text (invalid byte at offset {e.start})") from None
