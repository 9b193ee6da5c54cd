"""nasxfer: transfer learning for reinforcement-learning NAS agents.

Data flows one way: benchmark table -> search space -> env -> agent -> results -> figures.
"""

from .benchmark import PAPER_TASKS, Benchmark, TaskTable, from_transnas_pth, load_benchmark
from .env import NASEnv
from .errors import DataFileError, NasxferError
from .search_space import NB201Space, TransNASMicroSpace
from .shaping import RewardShaper

__version__ = "0.1.0"

__all__ = [
    "PAPER_TASKS",
    "Benchmark",
    "TaskTable",
    "load_benchmark",
    "from_transnas_pth",
    "NASEnv",
    "NasxferError",
    "DataFileError",
    "TransNASMicroSpace",
    "NB201Space",
    "RewardShaper",
]
