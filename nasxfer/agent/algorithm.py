"""The Ape-X algorithm: RLlib's DQN shell with our training step (see :mod:`.apex` for what is whose).

One training step samples rounds until ``steps_per_iteration`` env steps are in (the agent
sets it to the distance to its next evaluation, so RLlib's per-iteration bookkeeping runs once
per evaluation, not once per round). A round is ``rollout_fragment_length`` steps of every
env (driver) or one sample from every remote env runner; after it the learner trains the
updates the round owes at the replay ratio, copies the target network when
``target_update_freq`` env steps have passed since the last copy, and syncs the runners.
"""

from __future__ import annotations

from ray.rllib.algorithms.dqn import DQN, DQNConfig
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_SAMPLE_TIMER,
    REPLAY_BUFFER_UPDATE_PRIOS_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from .agent import MODULE_ID, learner_module
from .learner import dqn_update, lr_at, sync_target, to_tensors
from .params import AgentParams
from .replay import NStepPrioritizedReplay
from .sampler import DriverSampler, add_episodes, runner_envs

STATE_KEY = "nasxfer_apex"  # our counters in RLlib's checkpoint state


class ApeXConfig(DQNConfig):
    """DQNConfig plus the agent's own parameters (``agent_params``: ``AgentParams.to_dict()``)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or ApeX)
        self.agent_params: dict = {}


class ApeX(DQN):
    """Ape-X DQN (see the module docstring). Counters: ``env_steps_sampled``, ``updates``."""

    @classmethod
    def get_default_config(cls) -> ApeXConfig:
        return ApeXConfig()

    def setup(self, config) -> None:
        super().setup(config)
        p = self.agent_params = AgentParams.from_dict(config.agent_params)
        module = self.module()
        self.replay = NStepPrioritizedReplay.for_space(
            module.observation_space,
            p.buffer_capacity,
            n_step=p.n_step,
            discount=p.discount,
            alpha=p.prio_alpha,
            beta=p.prio_beta,
            seed=p.seed,
        )
        envs = runner_envs(self.env_runner) if config.num_env_runners == 0 else []
        self.sampler = DriverSampler(envs, p.actor_epsilons()[0], p.seed) if envs else None
        self.env_steps_sampled = 0
        self.updates = 0
        self.steps_per_iteration = 1
        self._owed = 0.0  # updates owed at the replay ratio, not yet trained
        self._last_target_copy = 0

    # ---- the learner's pieces -------------------------------------------------------------
    def module(self):
        return learner_module(self)

    def optimizer(self):
        return self.learner_group._learner.get_optimizer(MODULE_ID)

    def updates_due(self, env_steps: int) -> int:
        """Whole updates to train after a round of `env_steps` at the replay ratio (None: one per
        round, whatever its size); the fraction carries to the next round."""
        p = self.agent_params
        if p.training_intensity is None:
            self._owed += 1.0
        else:
            self._owed += p.training_intensity * env_steps / p.train_batch_size
        due = int(self._owed)
        self._owed -= due
        return due

    def reseed(self, *more: int) -> None:
        """Reseed the replay draws and restart the driver's episodes (after a restore)."""
        seed = int(self.agent_params.seed)
        self.replay.reseed([seed, *map(int, more)])
        self.replay.drop_pending()
        if self.sampler is not None:
            self.sampler.reseed(seed, *more)

    # ---- training -------------------------------------------------------------------------
    def training_step(self) -> None:
        end = self.env_steps_sampled + max(int(self.steps_per_iteration), 1)
        while self.env_steps_sampled < end:
            self._round()

    def _round(self) -> None:
        p, metrics = self.agent_params, self.metrics
        module = self.module()
        with metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            if self.sampler is not None:  # steps go to the replay buffer as they are taken
                n = self.sampler.sample(module.qnet, p.rollout_fragment_length, self.replay)
            else:
                episodes = synchronous_parallel_sample(
                    worker_set=self.env_runner_group,
                    concat=True,
                    sample_timeout_s=self.config.sample_timeout_s,
                    _uses_new_env_runners=True,
                )
                with metrics.log_time((TIMERS, REPLAY_BUFFER_ADD_DATA_TIMER)):
                    n = add_episodes(self.replay, episodes)
        self.env_steps_sampled += n
        # RLlib's own count too (its iteration bookkeeping reads it), as its env runners log it
        metrics.log_value((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), n, reduce="lifetime_sum")
        if self.env_steps_sampled < p.learning_starts or len(self.replay) == 0:
            return
        due = self.updates_due(n)
        if not due:
            return
        online, target, opt = module.qnet, module._target_qnet, self.optimizer()
        device = next(online.parameters()).device
        for _ in range(due):
            with metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
                batch = self.replay.sample(p.train_batch_size)
            with metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                td = dqn_update(
                    online, target, opt, to_tensors(batch, device), lr=lr_at(p, self.env_steps_sampled), params=p
                )
            with metrics.log_time((TIMERS, REPLAY_BUFFER_UPDATE_PRIOS_TIMER)):
                self.replay.update_priorities(batch["idx"], td)
            self.updates += 1
        if self.env_steps_sampled - self._last_target_copy >= p.target_update_freq:
            sync_target(online, target, p.tau)
            self._last_target_copy = self.env_steps_sampled
        if self.config.num_env_runners:
            with metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
                self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group, inference_only=True)

    # ---- checkpoints ----------------------------------------------------------------------
    def get_state(self, *args, **kwargs):
        state = super().get_state(*args, **kwargs)
        state[STATE_KEY] = dict(
            env_steps_sampled=self.env_steps_sampled,
            updates=self.updates,
            owed=self._owed,
            last_target_copy=self._last_target_copy,
        )
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        ours = state.get(STATE_KEY)
        if ours is None:  # saved by RLlib's DQN before ApeX: only its env-step count carries over
            steps = int(self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))
            ours = dict(env_steps_sampled=steps, updates=0, owed=0.0, last_target_copy=steps)
        self.env_steps_sampled = int(ours["env_steps_sampled"])
        self.updates = int(ours["updates"])
        self._owed = float(ours["owed"])
        self._last_target_copy = int(ours["last_target_copy"])
