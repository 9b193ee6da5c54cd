"""The agent: an Ape-X DQN (RLlib) you train, evaluate, save, restore and transfer.

>>> agent = Agent(AgentParams.laptop(task="class_object", seed=0))
>>> curve = agent.train()            # params.total_env_steps, evaluating every params.eval_every
>>> agent.evaluate()                 # greedy, fixed seeded start cells
>>> agent.save("runs/a")             # whole algorithm (resume with Agent.restore)
>>> agent.save_weights("runs/a.w")   # RLModule weights only (transfer)
>>> agent.stop()

Transfer is a new agent for the target task that loads the source's weights
(``Agent(params_for_target).load_weights("runs/a.w")``) and trains: the grid's
``experiments.run_unit`` does exactly this and reads the zero-shot, fine-tune and
retrain regimes (``nasxfer.grid.REGIMES``) off the one training curve. The optimizer
state, the replay buffer and all counters start fresh, and so does exploration
(Ape-X epsilons are constant per actor): the source's Adam moments and replay
buffer belong to another task's rewards.

Reproducibility: the seed fixes the networks' init, env resets, exploration
draws and replay sampling. With the driver sampling (``num_env_runners=0``, the
laptop preset) two runs with one seed give the same curve bit for bit (a test
checks it); with remote env runners RLlib gives no such guarantee (episode chunks
arrive from several processes in varying order), so runs agree closely, not exactly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import NasxferError, check_int
from .params import AgentParams

MODULE_ID = "default_policy"


def learner_module(algo):
    """The learner's RLModule of `algo` (RLlib's DQN or our ApeX). num_learners=0: the learner lives
    in this process; RLlib has no public getter for it."""
    return algo.learner_group._learner.module[MODULE_ID]


def _runner_queried(runner) -> np.ndarray:
    """The cells every NASEnv of one env runner has read (runs inside the runner's process)."""
    from .sampler import runner_envs

    cells = set()
    for env in runner_envs(runner):  # none on a runner without envs (the local one, with remote runners)
        cells.update(env.queried)
    return np.fromiter(cells, np.int64, len(cells))


class Agent:
    """An Ape-X DQN agent on one NASEnv task.

    Args:
        params: all hyperparameters (``AgentParams``); keyword overrides are applied on top.
        stock: use RLlib's stock DQN settings instead of Ape-X (benchmark baseline).
    """

    def __init__(self, params: AgentParams | dict | None = None, *, stock: bool = False, **overrides):
        if params is None:
            params = AgentParams(**overrides)
        elif isinstance(params, dict):
            params = AgentParams.from_dict({**params, **overrides})
        elif overrides:
            params = params.replace(**overrides)
        self.params, self.stock = params, stock
        from ..benchmark import load_benchmark
        from .apex import apex_config
        from .ray_runtime import build_algo
        from .stock import stock_config

        # fail on a bad task / data dir in the driver, before Ray starts actors
        self.bench = load_benchmark(params.benchmark, data_dir=params.data_dir)
        self.bench.table(params.task)
        self.algo = build_algo(params, stock_config(params) if stock else apex_config(params), self.bench)
        self._seed_replay()
        self.curve = pd.DataFrame()
        self._train_s = 0.0
        self._t0 = time.perf_counter()
        self._queried: set[int] = set()  # target cells the training envs read (see target_queries)
        self.source: dict | None = None  # set by load_weights: where the initial weights came from

    def _seed_replay(self, *more: int) -> None:
        if hasattr(self.algo, "reseed"):  # ApeX: our replay and sampler (seeded at build, reseeded on restore)
            if more:
                self.algo.reseed(*more)
            return
        # RLlib's episode replay buffers (stock DQN) draw from np.random.default_rng(None): without
        # this, two runs with one seed sample different batches and part from the first update on
        buf = getattr(self.algo, "local_replay_buffer", None)
        if buf is not None and hasattr(buf, "rng"):
            buf.rng = np.random.default_rng([int(self.params.seed), *map(int, more)])

    # ---- counters -------------------------------------------------------------------------
    @property
    def env_steps(self) -> int:
        if hasattr(self.algo, "env_steps_sampled"):
            return int(self.algo.env_steps_sampled)
        from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

        return int(self.algo.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))

    @property
    def target_queries(self) -> int:
        """Unique cells of the training task whose validation metric the training envs read so far.

        Gathered from the live env instances of RLlib's env runners (each ``NASEnv`` keeps a
        lifetime set, see ``NASEnv.queried``) and unioned here. Greedy evaluation (``evaluate``)
        is not counted: it runs its own envs in this process and the learner never trains on
        them; it reads test metrics and, for the reported ``best_valid``, validation metrics of
        cells it visits, purely to report. A runner recreated after a crash would lose its envs'
        sets, but their cells stay counted here from earlier reads.
        """
        for cells in self.algo.env_runner_group.foreach_env_runner(_runner_queried, local_env_runner=True):
            self._queried.update(cells.tolist())
        return len(self._queried)

    @property
    def updates(self) -> int:
        """Learner updates (gradient steps) so far."""
        if hasattr(self.algo, "updates"):
            return int(self.algo.updates)
        return int(getattr(self, "_updates", 0))

    # ---- the learner's module ---------------------------------------------------------------
    def _learner_module(self):
        return learner_module(self.algo)

    def q_network(self):
        """A CPU copy of the online Q-network (plain torch, for evaluation without Ray)."""
        import copy

        net = copy.deepcopy(self._learner_module().qnet).cpu().eval()
        return net

    def get_weights(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self._learner_module().qnet.state_dict().items()}

    def set_weights(self, state_dict: dict) -> None:
        """Load Q-network weights into the online *and* target nets, then sync the env runners."""
        mod = self._learner_module()
        mod.qnet.load_state_dict(state_dict)
        mod._target_qnet.load_state_dict(state_dict)
        self.algo.env_runner_group.sync_weights(
            from_worker_or_learner_group=self.algo.learner_group, inference_only=True
        )

    # ---- training ------------------------------------------------------------------------------
    def train(
        self,
        env_steps: int | None = None,
        *,
        eval_every: int | None = None,
        progress: bool | None = None,
        target_score: float | None = None,
    ) -> pd.DataFrame:
        """Train for `env_steps` more env steps (default ``params.total_env_steps``).

        Evaluates greedily every `eval_every` env steps (default ``params.eval_every``; 0 = only
        before and after) and returns the whole training curve so far: one row per evaluation with
        ``env_steps, updates, target_queries`` (cumulative unique cells of this task the training
        envs read, see :attr:`target_queries`), ``train_s, wall_s`` and the evaluation means (see
        ``evaluate``).
        With `target_score`, stops at the first evaluation whose mean final test metric reaches it.
        """
        p = self.params
        env_steps = p.total_env_steps if env_steps is None else env_steps
        eval_every = p.eval_every if eval_every is None else eval_every
        progress = p.progress if progress is None else progress
        check_int(env_steps, "env_steps", 1)
        check_int(eval_every, "eval_every (0 = evaluate only at the end)", 0)
        start = self.env_steps
        end = start + int(env_steps)
        if self.curve.empty:
            self._record()
        next_eval = start + eval_every if eval_every else end
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(env_steps), desc=f"{p.task} seed {p.seed}", unit="step", leave=False)
        last = start
        while self.env_steps < end:
            t = time.perf_counter()
            # ApeX samples up to the next evaluation in one iteration (RLlib's per-iteration
            # bookkeeping then runs once per evaluation, not once per sampling round)
            self.algo.steps_per_iteration = min(next_eval, end) - self.env_steps
            result = self.algo.train()
            self._train_s += time.perf_counter() - t
            self._count_updates(result)
            now = self.env_steps
            if bar is not None:
                bar.update(min(now, end) - last)
            last = now
            if now >= next_eval or now >= end:
                row = self._record()
                next_eval = now + eval_every if eval_every else end
                if bar is not None:
                    bar.set_postfix(final_test=f"{row['final_test']:.4g}")
                if target_score is not None and row["final_test"] >= target_score:
                    break
        if bar is not None:
            bar.close()
        return self.curve

    def _count_updates(self, result: dict) -> None:
        # RLlib counts trained samples; one update = one batch
        lr = result.get("learners", {}).get(MODULE_ID, {})
        trained = lr.get("num_module_steps_trained_lifetime")
        if trained is not None:
            self._updates = int(round(trained / self._batch_size()))

    def _batch_size(self) -> int:
        return int(self.algo.config.train_batch_size_per_learner)

    def _record(self) -> dict:
        row = dict(
            env_steps=self.env_steps,
            updates=self.updates,
            target_queries=self.target_queries,
            train_s=self._train_s,
            wall_s=time.perf_counter() - self._t0,
        )
        row.update(self.evaluate())
        self.curve = pd.concat([self.curve, pd.DataFrame([row])], ignore_index=True)
        return row

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(
        self, task: str | None = None, n_episodes: int | None = None, seed: int | None = None, episodes: bool = False
    ):
        """Greedy (epsilon 0) rollouts from the fixed start cells: a dict of means, or the
        per-episode DataFrame with ``episodes=True``. `task` evaluates on another task (zero-shot)."""
        from .evaluate import episode_means, greedy_policy, rollout

        df = rollout(
            greedy_policy(self.q_network()), self.params, task=task, bench=self.bench, n_episodes=n_episodes, seed=seed
        )
        return df if episodes else episode_means(df)

    def random_walk(self, task: str | None = None, n_episodes: int | None = None, seed: int | None = None) -> dict:
        """:func:`.evaluate.random_walk` on this agent's params and benchmark (the floor of :meth:`evaluate`)."""
        from .evaluate import random_walk

        return random_walk(self.params, task=task, bench=self.bench, n_episodes=n_episodes, seed=seed)

    # ---- checkpoints ---------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Save the whole algorithm (networks, optimizer, counters) plus params, curve and the
        target cells read so far (so a restored agent's ``target_queries`` continues the count).

        The replay buffer is not saved (RLlib's default ``store_buffer_in_checkpoints=False``;
        compact observations keep it under 1 kB per transition, but a checkpoint would still
        grow by tens of MB); a resumed agent refills it first.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.algo.save_to_path(str((path / "algo").resolve()))
        (path / "params.json").write_text(json.dumps(self.params.to_dict(), indent=1))
        _ = self.target_queries  # gather the runners' latest reads into _queried before writing it
        (path / "agent.json").write_text(
            json.dumps(
                dict(
                    stock=self.stock,
                    train_s=self._train_s,
                    updates=self.updates,
                    source=self.source,
                    queried=sorted(self._queried),
                ),
                indent=1,
            )
        )
        self.curve.to_csv(path / "curve.csv", index=False)
        return path

    @classmethod
    def restore(cls, path, **overrides) -> Agent:
        """An agent resumed from :meth:`save` (overrides: e.g. a new ``total_env_steps`` or ``ray_address``)."""
        path = Path(path)
        if not (path / "params.json").is_file() or not (path / "algo").is_dir():
            raise NasxferError(
                f"{path} is not an agent checkpoint (no params.json / algo/): pass a directory written by Agent.save"
            )
        params = AgentParams.from_dict({**json.loads((path / "params.json").read_text()), **overrides})
        meta = json.loads((path / "agent.json").read_text())
        agent = cls(params, stock=meta.get("stock", False))
        agent.algo.restore_from_path(str((path / "algo").resolve()))
        agent._seed_replay(agent.env_steps)  # the buffer's generator state is no part of RLlib's checkpoint
        agent._train_s = meta.get("train_s", 0.0)
        agent._updates = meta.get("updates", 0)
        if getattr(agent.algo, "updates", None) == 0:  # a checkpoint from before ApeX kept its count here
            agent.algo.updates = int(agent._updates)
        agent.source = meta.get("source")
        agent._queried = set(meta.get("queried", ()))
        if (path / "curve.csv").stat().st_size > 1:
            agent.curve = pd.read_csv(path / "curve.csv")
        return agent

    def save_weights(self, path) -> Path:
        """RLModule (Q-network) weights only, with metadata and checksum, written atomically; see :mod:`.checkpoints`."""
        from .checkpoints import write_checkpoint

        meta = dict(
            **self._learner_module().qnet.config,
            task=self.params.task,
            benchmark=self.params.benchmark,
            env_steps=self.env_steps,
            seed=self.params.seed,
        )
        return write_checkpoint(path, self.get_weights(), meta)

    def load_weights(self, path) -> None:
        """Initialise the online and target Q-networks from a verified weights checkpoint (transfer).

        A damaged checkpoint, or one whose encoding size or network shape differs from this
        agent's, is refused in one line before anything changes.
        """
        from .checkpoints import check_compatible, load_state, read_weights

        state, meta = read_weights(path)
        qnet = self._learner_module().qnet
        check_compatible(meta, qnet.config, where=f"checkpoint {path}")
        load_state(qnet, state, path)  # fails before touching the target net or runners
        self.set_weights(state)
        self.source = {k: meta.get(k) for k in ("task", "benchmark", "env_steps", "seed", "sha256")} | {
            "path": str(path)
        }

    # ---- lifetime ------------------------------------------------------------------------------
    def stop(self) -> None:
        if getattr(self, "algo", None) is not None:
            self.algo.stop()
            self.algo = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
