"""Reward models for whole trajectories: the one serializer, the learned model and its trainer,
the oracle, and the LLM-as-judge baseline.

Importing this package loads no torch; `armap.reward.model` and `armap.reward.train` do.
"""

from armap.reward.base import (
    CheckpointError,
    OracleRewardModel,
    RewardModel,
    load_reward_model,
    reward_models,
)
from armap.reward.serialize import SERIALIZER_VERSION, serialize

__all__ = [
    "SERIALIZER_VERSION",
    "CheckpointError",
    "OracleRewardModel",
    "RewardModel",
    "load_reward_model",
    "reward_models",
    "serialize",
]
