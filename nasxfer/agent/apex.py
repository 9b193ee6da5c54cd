"""Ape-X on RLlib: RLlib's algorithm shell, learner, env runners; our replay, sampling and update.

What is RLlib's: the ``DQN`` algorithm shell we subclass (:class:`ApeX`: config, Ray actors,
the learner's module and Adam optimizer, its placement on a GPU, checkpoints), the env runners
of the paper layout (remote Ape-X actors) and the callback hooks. What is ours, each because
RLlib's version cost more than the network on 2 cores (benchmarks/bench_agent.py): the
prioritized n-step replay of compact observations (:mod:`.replay`), sampling in the driver
with the learner's own network (:mod:`.sampler`), and the DQN update (:mod:`.learner`).
This module holds :class:`ApeX` and its config, the epsilon callback and the env creator;
Ray start-up is :mod:`.ray_runtime`, the stock-DQN baseline :mod:`.stock`.

Differences from the Ape-X paper (Horgan et al. 2018), and why:
- Sampling and learning alternate in one training step (sample a round, train the updates it
  owes, sync), not actors running free beside the learner: on a 2-core machine the learner and
  the actors share the cores anyway, and alternating keeps a seeded run bit-reproducible.
- One prioritized buffer in the driver, not sharded replay actors.
- New transitions enter with max priority, not actor-computed priorities
  (actors would need a second forward of the target net).
- Beta is constant (0.4), not annealed.
- Ape-X "actors" are (runner, env) pairs: each env in a runner's vector gets its
  own epsilon, so N = num_env_runners * num_envs_per_env_runner actors share
  ``eps ** (1 + alpha * i / (N - 1))`` (see :func:`params.apex_epsilons`).
- The target network is copied every ``target_update_freq`` *env steps*, not every 2500
  learner updates (RLlib's unit, kept so the presets mean what they meant).
- The replay ratio is ``training_intensity`` exactly: each round adds ``ratio * steps /
  batch`` owed updates and trains the whole ones (the remainder carries to the next round).
"""

from __future__ import annotations

from .params import AgentParams, apex_epsilons
from .ray_runtime import quiet_env

ENV_NAME = "nasxfer-NASEnv"


TABLES_KEY = "tables"  # env_config key of a Ray ObjectRef to the benchmark, set on clusters


def make_env(config: dict | None = None):
    """RLlib env creator: an :class:`NASEnv` from a plain dict (``AgentParams.env_config()``).

    Where the config carries the benchmark as an object reference (``TABLES_KEY``, see
    :func:`.ray_runtime.build_algo`), the runner takes its tables from Ray's object store."""
    from ..env import NASEnv

    config = dict(config or {})
    tables = config.pop(TABLES_KEY, None)
    if tables is not None:
        import ray

        from ..benchmark import provide

        provide(ray.get(tables))
    return NASEnv(**config)


def _set_runner_epsilons(runner, eps: float, alpha: float, n_runners: int, seed: int, threads: int | None):
    import torch

    if threads:  # runners only do small forwards; more threads only fight the learner for cores
        torch.set_num_threads(threads)
    idx = max(int(runner.worker_index) - 1, 0)  # local runner is 0, remote ones 1..N
    n_envs = int(runner.config.num_envs_per_env_runner)
    eps_i = apex_epsilons(eps, alpha, n_runners, n_envs)[min(idx, n_runners - 1)]
    runner.module.set_epsilons(eps_i, seed=seed * 1000 + int(runner.worker_index))
    return eps_i


def epsilon_callback(eps: float, alpha: float):
    """The RLlib callback class that gives every actor its Ape-X epsilon from `eps` and `alpha`
    (:func:`params.apex_epsilons`), at init and when runners are recreated."""
    from ray.rllib.callbacks.callbacks import RLlibCallback

    class ApexEpsilonCallback(RLlibCallback):
        @staticmethod
        def _apply(algorithm, env_runner_group=None):
            cfg = algorithm.config
            group = env_runner_group or algorithm.env_runner_group
            args = (float(eps), float(alpha), max(cfg.num_env_runners, 1), int(cfg.seed or 0))
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


def learner_resources(params: AgentParams) -> dict:
    """RLlib learner resources for `params.device`: the learner is in the driver (num_learners=0)
    and trains on the GPU when ``num_gpus_per_learner`` is 1. Nothing else changes: runners and
    evaluation stay on CPU, and no GPU is hidden from the process."""
    return dict(num_learners=0, num_gpus_per_learner=1 if params.learner_device() == "cuda" else 0)


def base_config(params: AgentParams, *, eps: float, alpha: float, config=None):
    """The DQNConfig pieces every run shares: env, RLModule, learner, reporting, seed, and the
    epsilon callback for `eps` / `alpha`. :func:`apex_config` and ``stock.stock_config`` add the rest."""
    quiet_env()
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from .rl_module import NASQModule

    register_env(ENV_NAME, make_env)
    # only what NASQModule reads (see its docstring); the callback gets eps / alpha itself
    model_config = dict(params.network_config(), actor_epsilon=eps, seed=params.seed)
    if config is None:
        from ray.rllib.algorithms.dqn import DQNConfig

        config = DQNConfig()
    return (
        config.api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .environment(ENV_NAME, env_config=params.env_config())
        .rl_module(rl_module_spec=RLModuleSpec(module_class=NASQModule, model_config=model_config))
        .learners(**learner_resources(params))
        .reporting(
            min_sample_timesteps_per_iteration=0, min_time_s_per_iteration=0, metrics_num_episodes_for_smoothing=20
        )
        .debugging(seed=params.seed, log_level="ERROR")
        .callbacks(epsilon_callback(eps, alpha))
    )


def apex_config(params: AgentParams):
    """The RLlib ``DQNConfig`` of Ape-X for `params` (an :class:`~.algorithm.ApeXConfig`)."""
    from .algorithm import ApeXConfig

    config = base_config(params, eps=params.epsilon, alpha=params.epsilon_alpha, config=ApeXConfig())
    config.agent_params = params.to_dict()
    config = config.env_runners(
        num_env_runners=params.num_env_runners,
        num_envs_per_env_runner=params.num_envs_per_env_runner,
        rollout_fragment_length=params.rollout_fragment_length,
        num_cpus_per_env_runner=params.num_cpus_per_env_runner,
        gym_env_vectorize_mode="sync",
    )
    config = config.training(
        lr=params.lr,  # ApeX sets the lr of each update itself (learner.lr_at: lr -> lr_final)
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
        td_error_loss_fn=params.td_error_loss,
        # RLlib builds this buffer but ApeX never fills it (ours is ApeX.replay): keep it tiny
        replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": 1},
    )
    return config
