"""RLlib (new API stack) wrapper of :class:`QNetwork` for DQN.

RLlib's ``DQNLearner`` needs ``QNetAPI`` (compute_q_values) and
``TargetNetworkAPI`` (a target copy); env runners get the inference-only copy
(no target net). On the new API stack there is no exploration object, so
epsilon-greedy lives in ``_forward_exploration``: random actions are drawn
uniformly over the *unmasked* slots only. Each env of a runner has its own
epsilon (Ape-X actors); :mod:`nasxfer.agent.apex` sets them per runner after
build through ``set_epsilons``. They are a plain attribute, not a buffer, so
the learner's weight syncs (``load_state_dict``) never overwrite them.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule

from ..encoding import encoding_size
from .qnetwork import NETWORK_KEYS, QNetwork


def epsilon_greedy(q: torch.Tensor, mask, epsilons: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Ape-X actors' actions: row i of the (B, S) Q-values explores with ``epsilons[i]`` (cycled
    over the rows), drawing uniformly over its unmasked slots, else takes the best slot."""
    greedy = q.argmax(-1).cpu()  # the draws are on CPU, whatever device the network is on
    b = greedy.shape[0]
    eps = epsilons.repeat((b + len(epsilons) - 1) // len(epsilons))[:b]
    explore = torch.rand(b, generator=rng) < eps
    # uniform over unmasked slots: multinomial on the mask as weights
    random = torch.multinomial(torch.as_tensor(mask).float(), 1, generator=rng).squeeze(-1)
    return torch.where(explore, random, greedy)


class NASQModule(TorchRLModule, InferenceOnlyAPI, TargetNetworkAPI, QNetAPI):
    """The Q-network as an RLlib module.

    model_config keys read (all it is given, by :func:`.apex.base_config`): the network shape
    (:data:`~nasxfer.agent.qnetwork.NETWORK_KEYS`; ``dueling`` as DQNConfig copies it in),
    ``actor_epsilon`` (the epsilon used before :func:`.apex.epsilon_callback` sets one per env)
    and ``seed`` (the exploration draws' generator). The encoding size comes from the
    observation space: compact (``cells``, ``offsets``: the pad size is the offsets' bound)
    or encoded (``candidates``).
    """

    def setup(self):
        space = self.observation_space
        if "candidates" in space.spaces:
            enc_dim = int(space["candidates"].shape[-1])
        else:
            enc_dim = encoding_size(int(space["offsets"].high.max()) + 1)
        net = {k: self.model_config[k] for k in NETWORK_KEYS if k in self.model_config}
        if "dueling" in self.model_config:
            net["dueling"] = bool(self.model_config["dueling"])
        self.qnet = QNetwork(enc_dim, **net)
        self._epsilons = torch.tensor([float(self.model_config.get("actor_epsilon", 0.0))])
        self._rng = torch.Generator().manual_seed(int(self.model_config.get("seed", 0)))

    # ---- Ape-X per-actor epsilon --------------------------------------------------------
    def set_epsilons(self, epsilons, seed: int | None = None) -> None:
        self._epsilons = torch.as_tensor(list(epsilons), dtype=torch.float32)
        if seed is not None:
            self._rng.manual_seed(int(seed))

    def get_epsilons(self) -> list[float]:
        return self._epsilons.tolist()

    # ---- forward passes -----------------------------------------------------------------
    def _q(self, net: QNetwork, obs: dict) -> torch.Tensor:
        return net.q(obs)

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return {Columns.ACTIONS: self._q(self.qnet, batch[Columns.OBS]).argmax(-1)}

    def _forward_exploration(self, batch: dict[str, Any], t: int = 0, **kwargs) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        actions = epsilon_greedy(self._q(self.qnet, obs), obs["action_mask"], self._epsilons, self._rng)
        return {Columns.ACTIONS: actions}

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs, nxt = batch[Columns.OBS], batch[Columns.NEXT_OBS]
        out = {QF_PREDS: self._q(self.qnet, obs)}
        # next_obs only picks (online, double Q) and values (target) the bootstrap action: no
        # gradient flows through either, and leaving them out of the graph halves the backward
        # pass (one batched pass over obs + next_obs cost 25% more per update on CPU)
        with torch.no_grad():
            out[QF_NEXT_PREDS] = self._q(self.qnet, nxt)
            out[QF_TARGET_NEXT_PREDS] = self._q(self._target_qnet, nxt)
        return out

    # ---- APIs the DQN learner needs -----------------------------------------------------
    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {QF_PREDS: self._q(self.qnet, batch[Columns.OBS])}

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {QF_PREDS: self._q(self._target_qnet, batch[Columns.OBS])}

    def make_target_networks(self) -> None:
        self._target_qnet = make_target_network(self.qnet)

    def get_target_network_pairs(self):
        return [(self.qnet, self._target_qnet)]

    def get_non_inference_attributes(self) -> list[str]:
        return ["_target_qnet"]

    def compute_advantage_distribution(self, batch):  # distributional DQN only; unused
        raise NotImplementedError("NASQModule is not distributional (num_atoms must be 1)")
