"""What every planner shares: the plan context, candidates, results and the planner protocol.

A planner gets a task, an environment, a policy and a reward target, and a budget counted in
complete trajectories. It returns a `PlanResult`: the chosen trajectory, every candidate with
its reward terms and ground-truth score, and the cost. Ground truth is recorded for evaluation
only; no planner reads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from armap.envs.base import Env
from armap.episode import rollout
from armap.policy import Policy
from armap.reward.target import RewardTarget
from armap.types import Cost, EndReason, Task, Trajectory

RESULT_SCHEMA_VERSION = 1


class EpisodeError(RuntimeError):
    """A planner's episode ended in an error; the message is the episode's error text."""


@dataclass
class Candidate:
    """A complete trajectory a planner produced, with its reward terms."""

    trajectory: Trajectory
    reward: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.reward.get("total", float("-inf"))

    def to_dict(self) -> dict[str, Any]:
        return {"trajectory": self.trajectory.to_dict(), "reward": self.reward,
                "env_score": self.trajectory.env_score}


@dataclass
class PlanResult:
    """A planner's answer for one task."""

    task: Task
    planner: str
    chosen: int
    candidates: list[Candidate]
    cost: Cost
    budget: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def trajectory(self) -> Trajectory:
        return self.candidates[self.chosen].trajectory

    @property
    def env_score(self) -> float | None:
        return self.trajectory.env_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": RESULT_SCHEMA_VERSION,
            "task_id": self.task.id,
            "planner": self.planner,
            "budget": self.budget,
            "chosen": self.chosen,
            "env_score": self.env_score,
            "steps": len(self.trajectory.steps),
            "candidates": [c.to_dict() for c in self.candidates],
            "cost": self.cost.to_dict(),
            "meta": self.meta,
        }


@dataclass
class PlanContext:
    """The fixed pieces a planner works with for one task."""

    task: Task
    env: Env
    policy: Policy
    target: RewardTarget
    seed: int = 0
    max_steps: int | None = None
    cost: Cost = field(default_factory=Cost)
    score_hits: int = 0
    _scores: dict[tuple[tuple[str, str], ...], dict[str, float]] = field(default_factory=dict)

    def rollout(self, *, temperature: float, seed: int, prefix: tuple[str, ...] = (),
                reflections: list[str] | None = None, meta: dict[str, Any] | None = None
                ) -> Trajectory:
        """One complete episode (the budget unit); its cost is added to the plan's.

        Raises `EpisodeError` when the episode ended in an error (an LLM server that is down,
        a dead env process): the plan fails at once instead of spending its budget on it.
        """
        t = rollout(self.env, self.policy, self.task, max_steps=self.max_steps,
                    temperature=temperature, seed=seed, prefix=prefix,
                    reflections=reflections, meta=meta)
        self.cost.add(t.cost)
        if t.end is EndReason.ERROR:
            raise EpisodeError(t.error or "the episode failed")
        return t

    def score(self, trajectories: list[Trajectory]) -> list[dict[str, float]]:
        """Reward terms of each trajectory: one batched reward-model call for those not
        scored before in this plan (a trajectory is known by its actions and observations)."""
        keys = [tuple((s.action, s.observation) for s in t.steps) for t in trajectories]
        new = {k: t for k, t in zip(keys, trajectories, strict=True) if k not in self._scores}
        self.score_hits += len(keys) - len(new)
        if new:
            started = time.perf_counter()
            terms = self.target.terms(self.task.instruction, list(new.values()))
            self.cost.rm_calls += 1
            self.cost.seconds += time.perf_counter() - started
            self._scores.update(zip(new, terms, strict=True))
        return [dict(self._scores[k]) for k in keys]

    def candidates(self, trajectories: list[Trajectory]) -> list[Candidate]:
        return [Candidate(t, r) for t, r in zip(trajectories, self.score(trajectories),
                                                 strict=True)]

    def result(self, planner: str, candidates: list[Candidate], chosen: int, budget: int,
               **meta: Any) -> PlanResult:
        return PlanResult(self.task, planner, chosen, candidates, self.cost, budget, meta)


class Planner(Protocol):
    """Searches for a good trajectory within a budget of complete trajectories."""

    name: str

    def solve(self, ctx: PlanContext, budget: int) -> PlanResult: ...


def best_index(candidates: list[Candidate]) -> int:
    """The highest-scoring candidate (the first among equals)."""
    return max(range(len(candidates)), key=lambda i: (candidates[i].score, -i))
