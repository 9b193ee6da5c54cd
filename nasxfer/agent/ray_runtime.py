"""Ray start-up for the agent: local and quiet, or attached to a cluster; builds the algorithm."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import warnings

from ..errors import NasxferError
from .params import AgentParams

# Ray reads these when it starts its processes; they only quieten Ray (no telemetry, no
# duplicated or reformatted logs) and are set only where the user has not set them.
_RAY_QUIET = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0", "RAY_AIR_NEW_OUTPUT": "0"}
# Ray's and RLlib's DeprecationWarnings about their own internals, silenced in the worker
# processes we start (never through a process-wide filter in the user's kernel).
_WORKER_ENV = {"PYTHONWARNINGS": "ignore::DeprecationWarning"}


def quiet_env() -> None:
    for k, v in _RAY_QUIET.items():
        os.environ.setdefault(k, v)


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail within `timeout_s`, naming `address`, where no Ray head listens: ``ray.init`` would
    retry an unreachable address for minutes. ``auto`` / ``local`` are Ray's to resolve."""
    if address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise NasxferError(
            f"ray_address {address!r} is not host:port (e.g. 10.0.0.5:6379, the address `ray start --head` prints): "
            f"fix it, or leave ray_address unset to run on a local Ray"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise NasxferError(
            f"no Ray cluster answers at {address} ({e.strerror or e}): start one there (`ray start --head "
            f"--port {port}` on that machine), check the address and that the port is open from here, or leave "
            f"ray_address unset to run on a local Ray"
        ) from None


def init_ray(params: AgentParams):
    """Start (or attach to) Ray: local and quiet unless ``ray_address`` is set."""
    quiet_env()
    import ray

    if ray.is_initialized():
        return ray
    logging.getLogger("ray").setLevel(logging.ERROR)
    if params.ray_address:  # an existing cluster: its own resources, nothing else changes
        check_reachable(params.ray_address)
        try:
            ray.init(
                address=params.ray_address, log_to_driver=False, logging_level=logging.ERROR, ignore_reinit_error=True
            )
        except Exception as e:  # Ray's own message is a retry log and a traceback; say what to do
            if "auth" not in str(e).lower():
                raise
            raise NasxferError(
                f"the Ray cluster at {params.ray_address} refused this driver's authentication ({str(e).splitlines()[0]}): "
                f"a cluster started with RAY_AUTH_MODE=token needs the same token here: export RAY_AUTH_MODE=token and "
                f"RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) as on the cluster's nodes (`ray get-auth-token` on the head "
                f"prints it), then connect again"
            ) from None
    else:
        temp = params.ray_temp_dir or os.path.join(tempfile.gettempdir(), f"ray_nasxfer_{os.getuid()}")
        # num_gpus=0 keeps Ray from scheduling on a GPU; the learner's device is RLlib's
        # num_gpus_per_learner. GPUs are never hidden from the process (the user's kernel).
        ray.init(
            address="local",
            num_cpus=params.num_cpus,
            num_gpus=0,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            object_store_memory=params.object_store_memory,
            _temp_dir=temp,
            ignore_reinit_error=True,
            runtime_env={"env_vars": dict(_WORKER_ENV)},
        )
    return ray


def in_ray_worker() -> bool:
    """Whether this process is a Ray worker (e.g. a grid unit running as a task on a cluster)."""
    import ray

    return ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE


def build_algo(params: AgentParams, config, bench=None):
    """Init Ray as `params` say and build the algorithm of RLlib `config` (see :mod:`.apex`, :mod:`.stock`).

    On a cluster (``ray_address`` set, or this process a Ray worker) the env runners get
    `bench`, the loaded benchmark, through the object store rather than from their node's disk."""
    import torch

    init_ray(params)
    if bench is not None and config.num_env_runners and (params.ray_address or in_ray_worker()):
        import ray

        from .apex import TABLES_KEY

        config.environment(env_config={**config.env_config, TABLES_KEY: ray.put(bench)})
    torch.set_num_threads(params.torch_threads)
    with warnings.catch_warnings():  # RLlib's build warns about its own internals; scoped to this call
        warnings.simplefilter("ignore")
        try:
            return config.build_algo()
        except Exception as e:
            cause = env_build_error(config) if config.num_env_runners else None
            if cause is None:
                raise
            raise NasxferError(
                f"RLlib's env runners could not build the env: {cause}. They run in Ray worker processes (on a "
                f"cluster, on other nodes), which need the package and the benchmark tables: fix that there"
            ) from e


def env_build_error(config) -> str | None:
    """Build the env once in a Ray worker, as an env runner does, and return why it fails (None if
    it builds). A runner whose env fails leaves RLlib with no spaces, and its build then dies with
    an IndexError far from the cause, which sits in a worker's log."""
    import ray

    from .apex import make_env

    @ray.remote(num_cpus=0, max_retries=0)
    def try_env(env_config):
        make_env(env_config).close()

    try:
        ray.get(try_env.remote(dict(config.env_config)), timeout=120)
    except ray.exceptions.RayTaskError as e:
        cause = e.cause if getattr(e, "cause", None) is not None else e
        return f"{type(cause).__name__}: {cause}"
    except Exception:  # no worker to run it, or a timeout: the build's own error stands
        return None
    return None
