"""The environment contract shared by Game of 24, WebShop and ScienceWorld.

Subclasses implement `_reset`, `_step`, `tasks` and `score`; the base class keeps the action
history, which gives every environment snapshot/restore by replay, and makes ``close()``
idempotent and the env a context manager.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from armap.types import Task, Trajectory


@dataclass(frozen=True)
class Snapshot:
    """An env state to return to: the task and the actions taken (plus env-specific state)."""

    task: Task
    actions: tuple[str, ...]
    state: Any = None


class Env(ABC):
    """A text environment with a hidden ground-truth score.

    Contract:
        * `reset` starts an episode of ``task`` and returns the first observation; the same
          task always gives the same observation.
        * `step` takes one action string and returns ``(observation, done)``. ``done`` is True
          when the environment considers the task over (an answer submitted, an item bought);
          a step budget is the caller's business (see `armap.episode.rollout`). An invalid
          action returns an error observation and counts as a wasted step: it never raises.
        * `score` is the ground truth for evaluation only; no observation reveals it.
    """

    id: str = "env"
    max_steps: int = 10
    """Default step budget for an episode of this env (callers may override); see
    `step_limit` for envs whose budget depends on the task."""
    splits: tuple[str, ...] = ("train", "test")
    """The task splits `tasks` accepts; synthesis draws only from ``train``."""

    def __init__(self) -> None:
        self._task: Task | None = None
        self._actions: list[str] = []
        self._done = False
        self._closed = False

    # -- to implement -------------------------------------------------------------------
    @abstractmethod
    def tasks(self, split: str) -> list[Task]:
        """The tasks of ``split`` (one of `splits`), in a fixed order."""

    @abstractmethod
    def _reset(self, task: Task) -> str: ...

    @abstractmethod
    def _step(self, action: str) -> tuple[str, bool]: ...

    @abstractmethod
    def score(self) -> float:
        """Ground-truth score of the current episode in [0, 1]."""

    def info(self) -> dict[str, Any]:
        """Facts about the current episode for reward targets and reports (e.g. the price
        paid and the price cap); never the score. The rollout stores it in the trajectory."""
        return {}

    def step_limit(self, task: Task) -> int:
        """The step budget of an episode of ``task`` when the caller sets none: `max_steps`,
        unless the env has limits per task (ScienceWorld's differ by task type)."""
        return self.max_steps

    def reserved_task_ids(self) -> set[str]:
        """Ids of the tasks training data must never use: by default every task outside the
        ``train`` split."""
        return {t.id for split in self.splits if split != "train" for t in self.tasks(split)}

    def find_task(self, ref: str) -> Task | None:
        """The task ``ref`` names (its id), from any split; None if no task has that id.
        Environments may accept other names too (Game of 24: the puzzle, ``"4 4 8 13"``)."""
        index = self.__dict__.get("_task_index")
        if index is None:
            index = {t.id: t for split in self.splits for t in self.tasks(split)}
            self._task_index = index
        return index.get(ref)

    def failure_type(self, trajectory: Trajectory) -> str | None:
        """What went wrong in a trajectory that fell short of the full score, in the env's own
        terms (reports use it); None when it succeeded or the env cannot tell."""
        return None

    @staticmethod
    def step_labels(trajectory: Trajectory) -> list[float | None] | None:
        """Per-step training labels for a reward model's auxiliary step loss (1.0 a sound
        step, 0.0 a wrong one, None unknown), by the env's own rules; None when the env has
        none. Training only: a reward model never runs these rules when it scores."""
        return None

    def valid_actions(self) -> list[str] | None:
        """The actions that make sense now, or None when the env cannot list them."""
        return None

    @staticmethod
    def parse_action(text: str) -> str | None:
        """Pull the first well-formed action out of an LLM reply (None if there is none)."""
        line = text.strip().splitlines()[0].strip() if text.strip() else ""
        return line or None

    def _get_state(self) -> Any:
        """Env-specific state for a cheap snapshot; None means restore by replay."""
        return None

    def _set_state(self, state: Any) -> None:
        raise TypeError(f"{type(self).__name__} returns a state from _get_state but does not "
                        "override _set_state")

    # -- provided -----------------------------------------------------------------------
    @property
    def task(self) -> Task:
        if self._task is None:
            raise RuntimeError("call reset(task) before using the environment")
        return self._task

    @property
    def done(self) -> bool:
        return self._done

    @property
    def actions(self) -> list[str]:
        """Actions taken since the last reset."""
        return list(self._actions)

    def reset(self, task: Task) -> str:
        """Start ``task``; returns the first observation."""
        if self._closed:
            raise RuntimeError(f"{self.id} is closed")
        self._task = task
        self._actions = []
        self._done = False
        return self._reset(task)

    def step(self, action: str) -> tuple[str, bool]:
        """Take ``action``; returns ``(observation, done)``."""
        if self._task is None:
            raise RuntimeError("call reset(task) before step()")
        if self._done:
            return "The episode is over; no further actions are taken.", True
        self._actions.append(action)
        observation, done = self._step(action)
        self._done = done
        return observation, done

    def snapshot(self) -> Snapshot:
        """Capture the current state (cheaply where the env supports it, else by history)."""
        return Snapshot(self.task, tuple(self._actions), self._get_state())

    def restore(self, snapshot: Snapshot) -> str:
        """Return to ``snapshot``; returns the latest observation (replay) or ``""``."""
        if snapshot.state is not None:
            self._task = snapshot.task
            self._actions = list(snapshot.actions)
            self._set_state(snapshot.state)
            return ""
        observation = self.reset(snapshot.task)
        for action in snapshot.actions:
            observation, _ = self.step(action)
        return observation

    def close(self) -> None:
        """Release resources; safe to call more than once."""
        self._closed = True

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
