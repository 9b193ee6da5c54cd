"""Atomic file writing: a file is either its complete new content or its old one, never half.

Every writer serialises in memory first, then hands the bytes to :func:`write_bytes_atomic`:
a temp file in the destination's folder (same file system, so the rename is atomic),
written with ``os.write``, fsynced, renamed over the destination with ``os.replace``, and
the folder fsynced so that the rename survives a crash. On any failure (a full disk, a
signal) the temp file is removed and the destination is untouched.

Serialising in memory first also means a full disk always surfaces as an ``OSError`` from
our own ``os.write``: torch's writer reports it as ``RuntimeError: ... unexpected pos`` and
pyarrow's without an errno, neither naming the file. A full disk, a read-only folder or a
missing permission becomes one :class:`NasxferError` line naming the path and the fix.
"""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

from .errors import NasxferError

_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def os_error(e: OSError, path) -> NasxferError:
    """The one-line error for an OSError met while writing `path` (full disk, read-only, no permission)."""
    if e.errno in _NO_SPACE:
        return NasxferError(
            f"no space left writing {path}: free some space on that disk or write the results "
            f"elsewhere (--results-dir / results_dir), then resume; nothing partial was kept"
        )
    if e.errno == errno.EROFS:
        return NasxferError(
            f"{path} is on a read-only file system: write the results to a writable folder "
            f"(--results-dir / results_dir)"
        )
    if e.errno in (errno.EACCES, errno.EPERM):
        return NasxferError(
            f"no permission to write {path}: make the folder writable for this user or write "
            f"the results elsewhere (--results-dir / results_dir)"
        )
    return NasxferError(f"cannot write {path}: {e.strerror or e}")


def makedirs(path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, path) from None
    return path


def write_bytes_atomic(data: bytes, path) -> Path:
    """Write `data` to `path` atomically and durably (see the module docstring)."""
    path = Path(path)
    makedirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        _remove(tmp)
        raise os_error(e, path) from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(folder) -> list[Path]:
    """Delete temp files a killed writer left in `folder` (only call while holding the run lock)."""
    gone = []
    for p in Path(folder).glob(".*.tmp"):
        _remove(p)
        gone.append(p)
    return gone


def parquet_bytes(df, metadata: dict[str, str] | None = None) -> bytes:
    """`df` as parquet (no index, like ``df.to_parquet(index=False)``) with extra key-value metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
        )
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    return buf.getvalue().to_pybytes()


def write_atomic(df, path, metadata: dict[str, str] | None = None) -> Path:
    """Write a DataFrame as parquet or CSV (by suffix) atomically; `metadata` goes into the parquet footer."""
    path = Path(path)
    data = parquet_bytes(df, metadata) if path.suffix == ".parquet" else df.to_csv(index=False).encode()
    return write_bytes_atomic(data, path)


def write_json_atomic(obj, path) -> Path:
    return write_bytes_atomic(json.dumps(obj, indent=1, default=str).encode(), path)


def torch_bytes(obj) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def write_torch_atomic(obj, path) -> Path:
    """``torch.save`` atomically (serialised in memory: a full disk is reported as such)."""
    return write_bytes_atomic(torch_bytes(obj), path)
