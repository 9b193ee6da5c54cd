"""Old home of the weights-checkpoint functions, now in :mod:`nasxfer.agent.checkpoints`.

Kept only for callers outside the agent package that still import from here; import from
``nasxfer.agent.checkpoints`` instead.
"""

from .checkpoints import load_qnetwork, read_meta, read_weights, write_checkpoint  # noqa: F401
