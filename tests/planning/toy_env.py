"""A tiny deterministic environment whose optimal path is known: a 3-level tree of choices."""

from __future__ import annotations

from armap.envs.base import Env
from armap.types import Task

GOAL = ("b", "c", "a")
CHOICES = ("a", "b", "c", "d")


class ToyEnv(Env):
    """Pick one letter per step for three steps; the score is 1 only for `GOAL`."""

    id = "toy-v0"
    max_steps = 3

    def tasks(self, split: str) -> list[Task]:
        return [Task("toy-0", "toy", "Spell the secret word.", split)]

    def _reset(self, task: Task) -> str:
        self.path: list[str] = []
        return "Start."

    def _step(self, action: str) -> tuple[str, bool]:
        if action not in CHOICES:
            return f"Invalid: {action}", False
        self.path.append(action)
        return f"Picked {action}.", len(self.path) == 3

    def valid_actions(self) -> list[str]:
        return [] if len(self.path) >= 3 else list(CHOICES)

    def score(self) -> float:
        return 1.0 if tuple(self.path) == GOAL else 0.0


class PrefixReward:
    """Reward = number of leading letters that match the goal (perfect) or its negation."""

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign
        self.name = "toy-prefix"
        self.calls = 0

    def score(self, instruction, trajectories):
        self.calls += 1
        out = []
        for t in trajectories:
            match = 0
            for action, goal in zip(t.actions, GOAL, strict=False):
                if action != goal:
                    break
                match += 1
            out.append(self.sign * match)
        return out
