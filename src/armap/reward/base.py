"""The reward-model protocol, the oracle, the registry and `load_reward_model`.

A reward model scores whole trajectories against an instruction, batched:
``score(instruction, trajectories) -> list[float]`` (higher is better). Implementations:

* ``learned``: `armap.reward.model.LearnedRewardModel`, a checkpoint directory made by
  ``armap train``;
* ``oracle``: the environment's ground truth recorded in each trajectory (upper bounds only);
* ``judge``: `armap.reward.judge.JudgeRewardModel`, an LLM asked whether the trajectory does the
  job (a baseline);
* ``remote``: `armap.reward.remote.RemoteReward`, a model served by ``armap serve-rm``.

This module imports no torch, so ``import armap.reward`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from armap.errors import ArmapError, ConfigError
from armap.registry import Registry
from armap.types import Trajectory


class CheckpointError(ArmapError):
    """A reward-model checkpoint directory that cannot be used (incomplete, incompatible)."""


@runtime_checkable
class RewardModel(Protocol):
    """Scores trajectories for an instruction; higher means more likely to achieve it."""

    name: str

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        """One score per trajectory, in order."""
        ...


class OracleRewardModel:
    """The ground truth (`Trajectory.env_score`) as a reward model, for upper bounds only.

    Raises `ConfigError` for a trajectory without a recorded score: an oracle that guessed would
    make an upper bound meaningless.
    """

    name = "oracle"
    threshold = 1.0
    """Success: Reflexion tries again until an attempt solves the task."""

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        out = []
        for t in trajectories:
            if t.env_score is None:
                raise ConfigError(
                    f"the oracle reward model needs ground truth, but a trajectory of task "
                    f"{t.task.id!r} has no env_score (was it scored by its environment?)")
            out.append(float(t.env_score))
        return out


reward_models: Registry[RewardModel] = Registry("reward model")
reward_models.register("learned", "armap.reward.model:LearnedRewardModel.load")
reward_models.register("oracle", OracleRewardModel)
reward_models.register("judge", "armap.reward.judge:JudgeRewardModel")
reward_models.register("remote", "armap.reward.remote:RemoteReward")


def load_reward_model(spec: str) -> RewardModel:
    """``"oracle"``, the path of a checkpoint directory written by ``armap train``, or the URL
    of a reward-model server (``http://host:port``, from ``armap serve-rm``).

    Raises `ConfigError` when ``spec`` is neither, and `CheckpointError` for a directory that
    is not a complete, compatible checkpoint.
    """
    if spec == "oracle":
        return reward_models.make("oracle")
    if spec.startswith(("http://", "https://")):
        return reward_models.make("remote", url=spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        return reward_models.make("learned", path=path)
    hint = " (the judge needs an LLM: build JudgeRewardModel(llm) in Python)" \
        if spec == "judge" else ""
    raise ConfigError(f"reward model {spec!r} is neither 'oracle', an existing checkpoint "
                      f"directory, nor a server URL (http://host:port){hint}; train one with "
                      "'armap train'")
