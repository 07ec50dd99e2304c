"""Active learning with dacs_ext: acquisition strategies and the
train -> embed -> acquire -> label loop (paper section 5.1)."""

from .loop import LoopConfig, run_trial
from .model import AuxModel, ModelOutput
from .strategies import SETTINGS, STRATEGIES, CoreSet, DACSStrategy, Method, PoolState, Random, Strategy, make_strategy
from .training import TrainConfig, embed, evaluate, train_model

__all__ = [
    "Strategy",
    "PoolState",
    "Random",
    "CoreSet",
    "DACSStrategy",
    "STRATEGIES",
    "SETTINGS",
    "Method",
    "make_strategy",
    "AuxModel",
    "ModelOutput",
    "TrainConfig",
    "train_model",
    "embed",
    "evaluate",
    "LoopConfig",
    "run_trial",
]
