"""Active learning with dacs_ext: acquisition strategies and the
train -> embed -> acquire -> label loop (paper section 5.1)."""

from .loop import LoopConfig, run_trial
from .model import AuxModel, Head, LinearClassifier, ModelOutput, Tapped
from .learnloss import LearnLoss, LearnLossDACS, LearnLossSettings, LossPredictionHead, ranking_loss
from .nce import NCEClassifier, NCENet, NCENetDACS, NCESettings, nce_uncertainty
from .uncertainty import (
    BALD, BALDDACS, BALDSettings, Entropy, EntropyDACS, LeastConfidence, LeastConfidenceDACS, Margin, MarginDACS,
    entropy, least_confidence, margin, mutual_information,
)
from .methods import SETTINGS, STRATEGIES, Method, make_strategy
from .strategies import CDAL, MC_LOGITS, CoreSet, DACSStrategy, PoolState, Random, Strategy
from .training import TrainConfig, UnreliableBF16Error, check_bf16, embed, evaluate, mc_dropout_logits, train_model

__all__ = [
    "Strategy",
    "PoolState",
    "Random",
    "CoreSet",
    "DACSStrategy",
    "CDAL",
    "NCENet",
    "NCENetDACS",
    "NCESettings",
    "NCEClassifier",
    "nce_uncertainty",
    "LearnLoss",
    "LearnLossDACS",
    "LearnLossSettings",
    "LossPredictionHead",
    "ranking_loss",
    "Entropy",
    "Margin",
    "LeastConfidence",
    "BALD",
    "BALDSettings",
    "EntropyDACS",
    "MarginDACS",
    "LeastConfidenceDACS",
    "BALDDACS",
    "entropy",
    "margin",
    "least_confidence",
    "mutual_information",
    "MC_LOGITS",
    "STRATEGIES",
    "SETTINGS",
    "Method",
    "make_strategy",
    "AuxModel",
    "ModelOutput",
    "Tapped",
    "Head",
    "LinearClassifier",
    "TrainConfig",
    "train_model",
    "check_bf16",
    "UnreliableBF16Error",
    "embed",
    "mc_dropout_logits",
    "evaluate",
    "LoopConfig",
    "run_trial",
]
