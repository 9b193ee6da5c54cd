"""Ray start-up for the agent: local and quiet, or attached to a cluster; builds the algorithm."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings

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


def init_ray(params: AgentParams):
    """Start (or attach to) Ray: local and quiet unless ``ray_address`` is set."""
    quiet_env()
    import ray

    if ray.is_initialized():
        return ray
    logging.getLogger("ray").setLevel(logging.ERROR)
    if params.ray_address:  # an existing cluster: its own resources, nothing else changes
        ray.init(address=params.ray_address, log_to_driver=False, logging_level=logging.ERROR, ignore_reinit_error=True)
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


def build_algo(params: AgentParams, config):
    """Init Ray as `params` say and build the algorithm of RLlib `config` (see :mod:`.apex`, :mod:`.stock`)."""
    import torch

    init_ray(params)
    torch.set_num_threads(params.torch_threads)
    with warnings.catch_warnings():  # RLlib's build warns about its own internals; scoped to this call
        warnings.simplefilter("ignore")
        return config.build_algo()
