"""How this folder was made: run from a checkout of commit 251f089 (before compact observations):
``PYTHONPATH=<that checkout> python make.py tests/data/qnet_before_compact_obs``. Kept to show what the data is."""

import sys

import numpy as np
import torch

from nasxfer.agent.checkpoints import write_checkpoint
from nasxfer.agent.qnetwork import QNetwork
from nasxfer.benchmark import load_benchmark
from nasxfer.encoding import encode, random_offsets

out = sys.argv[1]
bench = load_benchmark("transnas-bench-101", data_dir=None)
torch.manual_seed(0)
net = QNetwork(368, embed_dim=8, n_heads=2, n_layers=1, ff_dim=8, head_hidden=8).eval()
write_checkpoint(
    out, net.state_dict(), dict(**net.config, task="class_object", benchmark=bench.name, env_steps=0, seed=0)
)
rng = np.random.default_rng(0)
cells = rng.integers(bench.space.size, size=(4, 19))
offsets = random_offsets(bench.space, cells.ravel(), 16, rng).reshape(4, 19)
x = np.stack([encode(bench.space, c, o) for c, o in zip(cells, offsets)])
mask = np.ones((4, 19), np.int8)
mask[1, 10:] = 0
with torch.no_grad():
    q = net(torch.as_tensor(x), torch.as_tensor(mask)).numpy()
np.savez(f"{out}/q_values.npz", cells=cells, offsets=offsets, mask=mask, q=q)
