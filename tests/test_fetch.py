"""memgpt.fetch: pinned archives, sha256 checks, member extraction, the cache (no network)."""

import hashlib
import zipfile

import pytest

from memgpt import fetch as F
from memgpt.paths import sha256_file


def fake_wheel(tmp_path):
    path = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fake/data/a.txt", "alpha")
        z.writestr("fake/data/sub/b.txt", "beta")
        z.writestr("fake/other.txt", "x")
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGPT_CACHE", str(tmp_path / "cache"))

    def no_network(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(F, "download_archive", no_network)
    return tmp_path / "cache"


def test_fetch_checks_sha_extracts_and_caches(tmp_path, cache):
    wheel = fake_wheel(tmp_path)
    sha = sha256_file(wheel)
    with pytest.raises(ValueError, match="sha256"):
        F.fetch_package_file("fake", "1.0", "0" * 64, "fake/data/a.txt", archive=wheel)
    assert not (cache / "data" / "fake-1.0" / "fake").exists()
    alpha = hashlib.sha256(b"alpha").hexdigest()
    path = F.fetch_package_file("fake", "1.0", sha, "fake/data/a.txt", archive=wheel,
                                member_sha256=alpha, progress=False)
    assert path == cache / "data" / "fake-1.0" / "fake" / "data" / "a.txt"
    assert path.read_text() == "alpha"
    assert F.fetch_package_file("fake", "1.0", sha, "fake/data/a.txt") == path  # no network
    assert [p.name for p in path.parents[2].iterdir()] == ["fake"]  # no temp leftovers


def test_fetch_folder_member_and_member_sha(tmp_path, cache):
    wheel = fake_wheel(tmp_path)
    sha = sha256_file(wheel)
    with pytest.raises(ValueError, match="expected"):
        F.fetch_package_file("fake", "1.0", sha, "fake/data/", archive=wheel,
                             member_sha256="f" * 64)
    folder = F.fetch_package_file("fake", "1.0", sha, "fake/data/", archive=wheel)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.txt")) == [
        "a.txt", "sub/b.txt"]
    digest = F.member_digest(folder)
    assert F.fetch_package_file("fake", "1.0", sha, "fake/data/", member_sha256=digest) == folder
    with pytest.raises(ValueError, match="no member"):
        F.fetch_package_file("fake", "1.0", sha, "fake/missing.txt", archive=wheel)


def test_download_archive_takes_the_local_copy_from_the_wheel_dir(tmp_path, monkeypatch):
    wheel = fake_wheel(tmp_path)
    (tmp_path / "fake-2.0-py3-none-any.whl").write_bytes(b"other version")
    (tmp_path / "fakeish-1.0-py3-none-any.whl").write_bytes(b"other package")
    monkeypatch.setenv("MEMGPT_WHEEL_DIR", str(tmp_path))
    dest = tmp_path / "dl"
    dest.mkdir()
    assert F.download_archive("fake", "1.0", dest) == wheel
    with pytest.raises(ValueError, match="kind"):
        F.download_archive("fake", "1.0", dest, kind="egg")


def test_unsafe_member_names_are_refused(tmp_path):
    path = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/../../escape.txt", "x")
    with pytest.raises(ValueError, match="unsafe member"):
        F.extract_member(path, "evil/", tmp_path / "x", progress=False)
    assert not (tmp_path / "escape.txt").exists()


def test_check_sha256(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    F.check_sha256(f, hashlib.sha256(b"abc").hexdigest(), "file")
    with pytest.raises(ValueError, match="refusing"):
        F.check_sha256(f, "0" * 64, "file")
