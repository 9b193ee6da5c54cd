"""Weights-only checkpoints of the Q-network: write, verify, read.

A weights checkpoint is a directory with ``weights.pt`` (the Q-network's
``state_dict``) and ``meta.json`` (encoding size, network sizes, task,
benchmark, env steps trained, seed, the SHA-256 of ``weights.pt`` and the
shape of each of its tensors), both written atomically. Reading verifies it
before anything uses it: both files there, the checksum, a ``weights_only``
torch load, the tensors meta.json lists; loading into an agent then checks the
metadata against the receiving network and refuses a mismatch with a message
that says which field differs and what to do. Every failure is one line naming
the file and what is wrong with it.

Nothing here knows the Agent: functions take state dicts, metadata and networks;
:meth:`Agent.save_weights` / :meth:`Agent.load_weights` call them.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from ..errors import NasxferError
from ..io import torch_bytes, write_bytes_atomic, write_json_atomic
from .qnetwork import NETWORK_KEYS

# v2: meta.json carries the SHA-256 of weights.pt and the shape of every tensor in it
FORMAT = "nasxfer-qnet-v2"
NET_KEYS = ("encoding_dim", *NETWORK_KEYS)
META_KEYS = ("format", *NET_KEYS, "task", "benchmark", "sha256", "tensors")
RECREATE = (
    "re-create it: in a grid, delete the checkpoint folder and resume the grid (its source agent is "
    "retrained), else save the agent again with Agent.save_weights"
)


# A checkpoint's files, in the order they are written: meta.json, which holds the weights'
# checksum, last.
FILES = ("weights.pt", "meta.json")


def write_checkpoint(path, state_dict: dict, meta: dict) -> Path:
    """Write a weights checkpoint atomically: ``weights.pt`` then ``meta.json`` with its checksum.

    `meta` holds the network config (``NET_KEYS``), task, benchmark and anything else to keep;
    the format, the SHA-256 of ``weights.pt`` and the tensor shapes are added here. A crash
    between the two files leaves a ``meta.json`` whose checksum does not match: never trusted.
    """
    path = Path(path)
    data = torch_bytes(state_dict)
    meta = {
        **meta,
        "format": FORMAT,
        "sha256": hashlib.sha256(data).hexdigest(),
        "tensors": {k: list(v.shape) for k, v in state_dict.items()},
    }
    write_bytes_atomic(data, path / FILES[0])
    write_json_atomic(meta, path / FILES[1])
    return path


def checkpoint_files(path) -> dict[str, bytes]:
    """A checkpoint's files as bytes (to send it to another machine unchanged)."""
    return {name: (Path(path) / name).read_bytes() for name in FILES}


def write_checkpoint_files(files: dict[str, bytes], path) -> Path:
    """Write :func:`checkpoint_files`' bytes as a checkpoint at `path`, atomically and in
    :data:`FILES` order, as :func:`write_checkpoint` does; the bytes are kept, so the checksum holds."""
    for name in FILES:
        write_bytes_atomic(files[name], Path(path) / name)
    return Path(path)


def _bad(file: Path, problem: str, fix: str = RECREATE) -> NasxferError:
    return NasxferError(f"{file}: {problem}; {fix}")


def read_meta(path) -> dict:
    """The verified ``meta.json`` of a weights checkpoint directory."""
    path = Path(path)
    missing = [f for f in ("weights.pt", "meta.json") if not (path / f).is_file()]
    if missing:
        raise NasxferError(
            f"{path} is not a weights checkpoint (needs weights.pt and meta.json, "
            f"{' and '.join(missing)} missing): pass a directory written by Agent.save_weights"
        )
    f = path / "meta.json"
    text = f.read_text(errors="replace")
    if not text.strip():
        raise _bad(f, "is empty (0 bytes)")
    try:
        meta = json.loads(text)
    except ValueError as e:
        raise _bad(f, f"is not valid JSON ({e.msg} at line {e.lineno}; truncated or overwritten?)") from None
    if not isinstance(meta, dict):
        raise _bad(f, f"holds a {type(meta).__name__}, not the checkpoint's metadata")
    if meta.get("format") == "nasxfer-qnet-v1":
        raise _bad(
            f,
            f"was written by an older nasxfer (format {meta.get('format')!r}) without a checksum, "
            f"so its weights cannot be verified",
            f"if you trust the folder, convert it with nasxfer.agent.checkpoints.upgrade_checkpoint({str(path)!r}); "
            f"else {RECREATE}",
        )
    if meta.get("format") != FORMAT:
        raise _bad(
            f,
            f"has format {meta.get('format')!r}, expected {FORMAT!r} (not a nasxfer weights checkpoint, "
            f"or one from another nasxfer version)",
        )
    lacking = [k for k in META_KEYS if k not in meta]
    if lacking:
        raise _bad(f, f"lacks the key(s) {lacking}")
    return meta


def upgrade_checkpoint(path) -> Path:
    """Rewrite a v1 checkpoint (no checksum) in the current format, after loading it safely.

    v1 checkpoints carry no checksum, so this vouches only for what it can check: the file
    loads with ``weights_only=True`` and builds the network its ``meta.json`` describes.
    """
    import torch

    from .qnetwork import QNetwork

    path = Path(path)
    f = path / "meta.json"
    meta = json.loads(f.read_text())
    if meta.get("format") != "nasxfer-qnet-v1":
        raise _bad(f, f"has format {meta.get('format')!r}, not the v1 format this converts", "nothing to convert")
    try:
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        QNetwork(**{k: meta[k] for k in NET_KEYS}).load_state_dict(state)
    except Exception as e:  # noqa: BLE001 - one line naming the file, never torch's advice
        raise _bad(
            path / "weights.pt", f"does not load as the network meta.json describes ({type(e).__name__})"
        ) from None
    return write_checkpoint(path, state, {k: v for k, v in meta.items() if k != "format"})


def read_weights(path) -> tuple[dict, dict]:
    """(state_dict, meta) of a weights checkpoint, verified: checksum, safe torch load, keys and shapes.

    Any failure is one :class:`NasxferError` naming the file and what is wrong with it; torch's
    own errors (and its advice to load unsafely) never reach the user.
    """
    import torch

    path = Path(path)
    meta = read_meta(path)
    f = path / "weights.pt"
    data = f.read_bytes()
    if not data:
        raise _bad(f, "is empty (0 bytes)")
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise _bad(
            f,
            f"does not match the SHA-256 recorded in meta.json ({len(data)} bytes: truncated, "
            f"overwritten, or saved without its meta.json)",
        )
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch's message advises weights_only=False: never pass that on
        raise _bad(f, f"is not a torch weights file that loads safely ({type(e).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise _bad(f, "does not hold a state dict of tensors")
    shapes = {k: list(v.shape) for k, v in state.items()}
    if shapes != meta["tensors"]:
        lost = sorted(set(meta["tensors"]) - set(shapes))
        extra = sorted(set(shapes) - set(meta["tensors"]))
        moved = [k for k in shapes if k in meta["tensors"] and shapes[k] != meta["tensors"][k]]
        raise _bad(f, f"does not match meta.json: missing {lost}, unexpected {extra}, other shape {moved}")
    return state, meta


def check_compatible(meta: dict, net_config: dict, where: str = "checkpoint") -> None:
    """Refuse weights whose encoding size or network shape differs from the receiver's."""
    if meta["encoding_dim"] != net_config["encoding_dim"]:
        raise NasxferError(
            f"incompatible {where}: its encoding size is {meta['encoding_dim']} (benchmark "
            f"{meta.get('benchmark')!r}) but this agent's env encodes candidates with "
            f"{net_config['encoding_dim']} features: the encoding size follows the pad size alone (every "
            f"benchmark shares one node vocabulary), so build the target agent with the source's pad"
        )
    diff = {k: (meta.get(k), v) for k, v in net_config.items() if meta.get(k) != v}
    if diff:
        shown = ", ".join(f"{k}: checkpoint {a!r} vs agent {b!r}" for k, (a, b) in diff.items())
        raise NasxferError(
            f"incompatible {where}: network sizes differ ({shown}); build the target agent "
            f"with the source's network parameters"
        )


def load_state(net, state: dict, path) -> None:
    """Load `state` into `net`; a state that does not fit is one line naming the checkpoint's file."""
    try:
        net.load_state_dict(state)
    except RuntimeError as e:  # only if meta.json's network sizes lie about weights.pt
        first = str(e).strip().splitlines()[0]
        raise _bad(Path(path) / "weights.pt", f"does not fit the network meta.json describes ({first})") from None


def load_qnetwork(path):
    """A weights checkpoint as a plain-torch :class:`QNetwork` in eval mode, and its metadata.

    No Ray: for using a trained agent's greedy policy anywhere (rollouts, the search-efficiency
    comparison) without building an algorithm.
    """
    from .qnetwork import QNetwork

    state, meta = read_weights(path)
    net = QNetwork(**{k: meta[k] for k in NET_KEYS})
    load_state(net, state, path)
    return net.eval(), meta
