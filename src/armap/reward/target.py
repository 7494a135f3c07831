"""Custom reward targets: a reward model plus hand-written terms, reported term by term.

``total = rm - length_weight * steps - price_weight * price / price_cap``

(price and price cap as the environment reports them in `Trajectory.info`; an episode that
bought nothing has no price term).

Every planner can optimise a `RewardTarget` instead of the bare reward model, and results keep
each term (``rm``, ``steps_term``, ``price_term``) next to the total, so "mean steps" or "mean
price" rows come from the same records. A term that cannot be computed (a missing price) is an
error, never a silent 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from armap.config import opt
from armap.types import Trajectory


class RewardModel(Protocol):
    name: str

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]: ...


@dataclass
class TargetConfig:
    """Weights of the hand-written terms (0 disables a term)."""

    length_weight: float = opt(0.0, "Penalty per step taken (the shorter-trajectory target).")
    price_weight: float = opt(0.0, "Penalty per unit of price / price cap (the "
                              "cheaper-purchase target; environments that report a price).")


class RewardTarget:
    """Scores trajectories by the reward model and the configured terms."""

    def __init__(self, reward: RewardModel, config: TargetConfig | None = None) -> None:
        self.reward = reward
        self.config = config or TargetConfig()
        self.name = reward.name if self.is_plain else f"{reward.name}+target"

    @property
    def is_plain(self) -> bool:
        return self.config.length_weight == 0 and self.config.price_weight == 0

    def terms(self, instruction: str, trajectories: Sequence[Trajectory]
              ) -> list[dict[str, float]]:
        """``{"rm", "steps_term", "price_term", "total"}`` for each trajectory."""
        rm = self.reward.score(instruction, trajectories)
        out = []
        for t, r in zip(trajectories, rm, strict=True):
            steps_term = self.config.length_weight * len(t.steps)
            price_term = 0.0
            if self.config.price_weight:
                price_term = self.config.price_weight * _price_ratio(t)
            out.append({"rm": r, "steps_term": steps_term, "price_term": price_term,
                        "total": r - steps_term - price_term})
        return out

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        return [x["total"] for x in self.terms(instruction, trajectories)]


def _price_ratio(t: Trajectory) -> float:
    """Price paid over the task's price cap, from the env's episode facts (`Env.info`: keys
    ``price``, None when nothing was bought, and ``price_cap``)."""
    if "price" not in t.info or not t.info.get("price_cap"):
        raise ValueError(f"trajectory of task {t.task.id} has no price or price cap in its "
                         "info; the price term needs an environment that reports them")
    price: Any = t.info["price"]
    return 0.0 if price is None else float(price) / float(t.info["price_cap"])
