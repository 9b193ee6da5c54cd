"""Where the benchmark tables come from: a local path, or a verified download.

Search order for a file (e.g. ``transnas-bench-101/transbench101_jigsaw.csv``):

1. the ``data_dir`` argument, if given;
2. the directory in the ``NASXFER_DATA`` environment variable, if set;
3. the user cache directory (``NASXFER_CACHE`` or the platform's cache,
   e.g. ``~/.cache/nasxfer``), downloading the file there when it is absent.

Every file is checked against its published SHA-256 before it is used, so a
truncated download or an edited table never silently changes a result.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from .errors import DataFileError

DATA_ENV = "NASXFER_DATA"
CACHE_ENV = "NASXFER_CACHE"

# Upstream: Zhenhan-Huang/NASGraph-Public (Apache-2.0), pinned commit.
_UPSTREAM = (
    "https://raw.githubusercontent.com/Zhenhan-Huang/NASGraph-Public/cd95bdbfd907f7fe521f4fed6e7c870772c3f8b5/data/"
)

# relative path -> sha256 of the published file
SHA256 = {
    "nas-bench-201/nasbench201_ImageNet16-120.csv": "f5225573584977b283f473b0ded7fe51ae599a67063b3bd02b18de36b29fcd6b",
    "nas-bench-201/nasbench201_cifar10.csv": "c82e70b5ffb0dba0f09d88ecc8df5a6d3ce8da8a99ad223285104f4537314033",
    "nas-bench-201/nasbench201_cifar100.csv": "87a42005d7005fdb5e4a938ed83dd306d907523f23e70af907dfd276dd5fe35d",
    "transnas-bench-101/transbench101_autoencoder.csv": "17888f4fc25b54ba2c62dc011f952e212337aa16fa75fb5447306e1157b7fcdc",
    "transnas-bench-101/transbench101_class_object.csv": "27490b4cf814237272eff729732f24f92f617bc907192b18f2cb2af6542b6bc3",
    "transnas-bench-101/transbench101_class_scene.csv": "fd314559c718b389bce78571e4e506fb89f5a66ece6e776e593f3ac180cee469",
    "transnas-bench-101/transbench101_jigsaw.csv": "8a1c2adb7877f9f982c3848c2d8d3260b2a01c8e70ec2c2c8e02cc065deced2d",
    "transnas-bench-101/transbench101_normal.csv": "b3e465c7a519324d4390c090d179110e5d64bbf1c2374f0251aa0bd71ce5eec7",
    "transnas-bench-101/transbench101_room_layout.csv": "43030a7d92972dcfb61881db26bb6e4b5309d19c2738ebc1422fe808792b86b1",
    "transnas-bench-101/transbench101_segmentsemantic.csv": "35d9aefa0f0b56cf6727d7a0f6073e7bbfdd5d957a62df16ece2be010b123cff",
}

_FIX = (
    f"Fix: pass data_dir=<folder holding transnas-bench-101/ and nas-bench-201/>, "
    f"set {DATA_ENV} to that folder, or delete the file so it is downloaded again."
)


def url(relpath: str) -> str:
    return _UPSTREAM + relpath.split("/", 1)[1]


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import pooch

    return Path(pooch.os_cache("nasxfer"))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@cache
def _verified(path: Path, mtime_ns: int, size: int, expected: str) -> None:
    # Keyed on mtime and size so an edited file is hashed again.
    got = sha256(path)
    if got != expected:
        raise DataFileError(
            f"{path} is corrupt or not the published file: its SHA-256 is {got}, expected {expected}. {_FIX}"
        )


def verify(path: Path, relpath: str) -> Path:
    st = path.stat()
    _verified(path.resolve(), st.st_mtime_ns, st.st_size, SHA256[relpath])
    return path


def locate(relpath: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path to a verified copy of `relpath`, downloading it into the cache if needed."""
    if relpath not in SHA256:
        raise DataFileError(f"no published benchmark file {relpath!r}; known: {sorted(SHA256)}")
    for origin, root in (("data_dir", data_dir), (DATA_ENV, os.environ.get(DATA_ENV))):
        if root:
            root = Path(root).expanduser()
            path = root / relpath
            if not path.is_file():
                raise DataFileError(
                    f"{path} does not exist ({origin} points at {root}). Fix: point {origin} "
                    f"at the folder that holds {relpath.split('/')[0]}/, or unset it to "
                    f"download the tables into {cache_dir()}."
                )
            return verify(path, relpath)
    path = cache_dir() / relpath
    if path.is_file():
        return verify(path, relpath)
    return _download(relpath, path)


def _download(relpath: str, path: Path) -> Path:
    import pooch

    try:
        pooch.retrieve(
            url(relpath),
            known_hash=f"sha256:{SHA256[relpath]}",
            fname=path.name,
            path=path.parent,
            progressbar=True,
        )
    except ValueError as e:  # pooch's hash mismatch
        raise DataFileError(f"download of {url(relpath)} failed its checksum: {e}. {_FIX}") from e
    except Exception as e:  # network errors come in many classes
        raise DataFileError(
            f"could not download {url(relpath)} ({type(e).__name__}: {e}). Fix: check the "
            f"network, or download the file yourself and set {DATA_ENV} to its folder."
        ) from e
    return path
