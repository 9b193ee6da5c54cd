"""Ape-X built from RLlib's DQN pieces (Ray 2.60 has no Ape-X algorithm).

What we use from RLlib unchanged: ``DQN`` (training loop), ``DQNTorchLearner``
(double-Q, n-step, Huber TD loss, target network), its
``PrioritizedEpisodeReplayBuffer``, env runners, Adam with global-norm clipping.
What is ours: the RLModule (:mod:`.rl_module`) and a callback that gives every
actor its Ape-X epsilon.

Differences from the Ape-X paper (Horgan et al. 2018), and why:
- Sampling is synchronous inside ``training_step`` (sample, add, update, sync),
  not actors running free beside the learner: that is how RLlib's DQN is built;
  on a 2-core machine asynchrony would buy little, as the learner and runners
  share the same cores.
- One prioritized buffer in the driver, not sharded replay actors.
- New transitions enter with max priority, not actor-computed priorities
  (RLlib's buffer does so; actors would need a second forward of the target net).
- Beta is constant (0.4), not annealed (RLlib's DQN passes a fixed beta).
- Ape-X "actors" are (runner, env) pairs: each env in a runner's vector gets its
  own epsilon, so N = num_env_runners * num_envs_per_env_runner actors share
  ``eps ** (1 + alpha * i / (N - 1))`` (see :func:`params.apex_epsilons`).
- The target network is copied every ``target_update_freq`` *env steps*
  (RLlib's unit), not every 2500 learner updates.
- The replay ratio is RLlib's native one (one batch of ``train_batch_size`` per
  sampling round of runners x envs x fragment) unless ``training_intensity`` sets it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings

from .params import AgentParams, apex_epsilons

_ENV_NAME = "nasxfer-NASEnv"


# Ray reads these when it starts its processes; they only quieten Ray (no telemetry, no
# duplicated or reformatted logs) and are set only where the user has not set them.
_RAY_QUIET = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0", "RAY_AIR_NEW_OUTPUT": "0"}
# Ray's and RLlib's DeprecationWarnings about their own internals, silenced in the worker
# processes we start (never through a process-wide filter in the user's kernel).
_WORKER_ENV = {"PYTHONWARNINGS": "ignore::DeprecationWarning"}


def _quiet_env() -> None:
    for k, v in _RAY_QUIET.items():
        os.environ.setdefault(k, v)


def init_ray(params: AgentParams):
    """Start (or attach to) Ray: local and quiet unless ``ray_address`` is set."""
    _quiet_env()
    import ray

    if ray.is_initialized():
        return ray
    logging.getLogger("ray").setLevel(logging.ERROR)
    if params.ray_address:  # an existing cluster: its own resources, nothing else changes
        ray.init(address=params.ray_address, log_to_driver=False, logging_level=logging.ERROR,
                 ignore_reinit_error=True)
    else:
        temp = params.ray_temp_dir or os.path.join(tempfile.gettempdir(), f"ray_nasxfer_{os.getuid()}")
        # num_gpus=0 keeps Ray from scheduling on a GPU; the learner's device is RLlib's
        # num_gpus_per_learner. GPUs are never hidden from the process (the user's kernel).
        ray.init(
            address="local", num_cpus=params.num_cpus, num_gpus=0, include_dashboard=False,
            log_to_driver=False, logging_level=logging.ERROR, object_store_memory=params.object_store_memory,
            _temp_dir=temp, ignore_reinit_error=True, runtime_env={"env_vars": dict(_WORKER_ENV)},
        )
    return ray


def make_env(config: dict | None = None):
    """RLlib env creator: an :class:`NASEnv` from a plain dict (``AgentParams.env_config()``)."""
    from ..env import NASEnv

    return NASEnv(**dict(config or {}))


def _set_runner_epsilons(runner, n_runners: int, seed: int, threads: int | None):
    import torch

    if threads:  # runners only do small forwards; more threads only fight the learner for cores
        torch.set_num_threads(threads)
    idx = max(int(runner.worker_index) - 1, 0)  # local runner is 0, remote ones 1..N
    n_envs = int(runner.config.num_envs_per_env_runner)
    mc = runner.module.model_config  # the Ape-X constants travel with the module's config
    eps, alpha = float(mc["apex_eps"]), float(mc["apex_alpha"])
    eps_i = apex_epsilons(eps, alpha, n_runners, n_envs)[min(idx, n_runners - 1)]
    runner.module.set_epsilons(eps_i, seed=seed * 1000 + int(runner.worker_index))
    return eps_i


def _apex_callback_class():
    from ray.rllib.callbacks.callbacks import RLlibCallback

    class ApexEpsilonCallback(RLlibCallback):
        """Sets each runner's per-env Ape-X epsilons at init and when runners are recreated."""

        @staticmethod
        def _apply(algorithm, env_runner_group=None):
            cfg = algorithm.config
            group = env_runner_group or algorithm.env_runner_group
            args = (max(cfg.num_env_runners, 1), int(cfg.seed or 0))
            group.foreach_env_runner(
                lambda r: _set_runner_epsilons(r, *args, threads=None if r.worker_index == 0 else 1),
                local_env_runner=True,
            )

        def on_algorithm_init(self, *, algorithm, metrics_logger=None, **kwargs):
            self._apply(algorithm)

        def on_env_runners_recreated(self, *, algorithm, env_runner_group, env_runner_indices, is_evaluation, **kw):
            if not is_evaluation:
                self._apply(algorithm, env_runner_group)

    return ApexEpsilonCallback


def build_config(params: AgentParams, stock: bool = False):
    """The RLlib ``DQNConfig`` of Ape-X for `params`.

    ``stock=True`` gives RLlib's stock DQN settings on the same env and network
    (1-step, epsilon annealed 1 -> 0.05 over 10k steps, batch 32, one runner, lr 5e-5,
    target every 500 steps) - the baseline of ``benchmarks/bench_agent.py``.
    """
    _quiet_env()
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from .rl_module import NASQModule

    register_env(_ENV_NAME, make_env)
    model_config = dict(params.network_config(), apex_eps=params.epsilon, apex_alpha=params.epsilon_alpha,
                        actor_epsilon=params.epsilon, seed=params.seed)
    if stock:
        model_config.update(apex_eps=0.1, apex_alpha=0.0, actor_epsilon=0.1)
    config = (
        DQNConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .environment(_ENV_NAME, env_config=params.env_config())
        .rl_module(rl_module_spec=RLModuleSpec(module_class=NASQModule, model_config=model_config))
        .learners(num_learners=0, num_gpus_per_learner=0)
        .reporting(min_sample_timesteps_per_iteration=0, min_time_s_per_iteration=0,
                   metrics_num_episodes_for_smoothing=20)
        .debugging(seed=params.seed, log_level="ERROR")
    )
    if stock:
        # stock DQNConfig values except what the env and network force. Stock DQN anneals
        # epsilon 1 -> 0.05; our module explores with a fixed per-env epsilon, so one runner at
        # a fixed 0.1 stands in for the schedule (about its mean over a short run).
        config = config.env_runners(num_env_runners=0, num_envs_per_env_runner=1,
                                    rollout_fragment_length="auto")
        config = config.training(train_batch_size_per_learner=32, lr=5e-5, n_step=1,
                                 grad_clip=40.0, grad_clip_by="global_norm")
        return config.callbacks(_apex_callback_class())
    config = config.env_runners(
        num_env_runners=params.num_env_runners,
        num_envs_per_env_runner=params.num_envs_per_env_runner,
        rollout_fragment_length=params.rollout_fragment_length,
        num_cpus_per_env_runner=params.num_cpus_per_env_runner,
        gym_env_vectorize_mode="sync",
    )
    config = config.training(
        lr=params.lr,
        adam_epsilon=params.adam_epsilon,
        gamma=params.discount,
        train_batch_size_per_learner=params.train_batch_size,
        grad_clip=params.grad_clip,
        grad_clip_by="global_norm",
        double_q=params.double_q,
        dueling=params.dueling,
        n_step=params.n_step,
        target_network_update_freq=params.target_update_freq,
        tau=params.tau,
        num_steps_sampled_before_learning_starts=params.learning_starts,
        training_intensity=params.training_intensity,
        td_error_loss_fn=params.td_error_loss,
        # changing "type" would replace the whole dict: pass alpha/beta explicitly anyway
        replay_buffer_config={
            "type": "PrioritizedEpisodeReplayBuffer",
            "capacity": params.buffer_capacity,
            "alpha": params.prio_alpha,
            "beta": params.prio_beta,
        },
    )
    return config.callbacks(_apex_callback_class())


def build_algo(params: AgentParams, stock: bool = False):
    """Init Ray as `params` says and build the DQN algorithm."""
    import torch

    init_ray(params)
    torch.set_num_threads(params.torch_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_config(params, stock=stock).build_algo()
