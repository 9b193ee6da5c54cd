"""Old home of :class:`Agent`, now in :mod:`nasxfer.agent.agent`; import it from there.

Kept only for callers outside the agent package that still import from here.
"""

from .agent import Agent  # noqa: F401
