"""`ScienceWorldEnv`: the ScienceWorld simulator (Wang et al., 2022) behind the `Env` contract."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from armap.envs.base import Env
from armap.envs.scienceworld.actions import parse_action, shortlist
from armap.envs.scienceworld.catalog import (
    DEFAULT_MAX_STEPS,
    SPLITS,
    TASK_TYPE,
    TASK_TYPES,
    load_catalog,
)
from armap.envs.scienceworld.process import (
    DEFAULT_JAVA_OPTIONS,
    POOL,
    Simulator,
    SimulatorError,
    check_dependencies,
    default_max_processes,
)
from armap.errors import ConfigError
from armap.types import EndReason, Task, Trajectory

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_NAME = "scienceworld"
SIMPLIFICATIONS = ("teleportAction", "selfWateringFlowerPots", "openContainers", "openDoors",
                   "noElectricalAction", "easy")
"""The simulator's simplifications (``easy`` = all of them)."""
INVALID_REPLIES = ("No known action matches that input.", "Unknown action.")
"""Beginnings of the simulator's replies to an action it cannot parse (a wasted step)."""
SCORE_ACTION = re.compile(r"^\s*score\b", re.IGNORECASE)
HIDDEN = ["your score", "score:", "completed keys", "sequential subgoals"]
"""Texts that would reveal the score or the goal progress (the ``score`` command's reply, the
simulator's goal-progress report)."""
DEFAULT_MAX_ACTIONS = 64
"""Valid actions listed per state by default (`actions.shortlist`)."""

_TASKS: dict[str, list[Task]] = {}
_TASKS_LOCK = threading.Lock()


def task_id(name: str, variation: int) -> str:
    """``scienceworld_<task name>_<variation>``."""
    return f"{ENV_NAME}_{name}_{variation}"


class ScienceWorldEnv(Env):
    """ScienceWorld's simulator in Java: 30 task types of science; step limits per type.

    A task is one variation of a task type (``spec``: ``task_name``, ``variation``); its
    instruction is the simulator's task description. `reset` loads the variation and returns
    what ``look around`` shows. Actions are the simulator's commands (``open door to kitchen``,
    ``focus on red box``, ...); `valid_actions` is its list of valid action-object combinations.
    An action it cannot parse gets its own reply (``No known action matches that input.``) and
    counts as a wasted step; the ``score`` command is refused the same way, and no observation
    shows the score. The episode ends when the simulator marks the task completed or failed
    (e.g. focusing on a wrong object). `score` is the best progress the episode reached (the
    simulator's 0-100, as 0-1).

    Splits are the simulator's own variation lists: ``train`` (3,592 variations), ``seen``
    (its dev variations, 1,796), ``unseen`` (its test variations, 1,819), and ``test`` = seen
    and unseen together. Within a split, tasks come round-robin over the 30 task types (the
    first variation of each type, then the second, ...), so ``--limit 30`` is one variation per
    type. The step budget differs by task type (`step_limit`, `catalog.TASK_TYPES`).

    Each env runs its own simulator process, started at the first `reset` and reused for every
    later episode; `close` kills it. A process that dies or stops answering within ``timeout``
    is replaced and the episode is replayed to where it was and goes on; a second failure in the
    same episode raises `SimulatorError`, which the rollout records as an error episode.

    Args:
        simplifications: The simulator's simplifications, comma-separated (``easy`` = all);
            none by default.
        max_processes: Simulator processes alive at once in this Python process (an env waits
            up to ``start_timeout`` for a free one). None: one per CPU core, as many as the
            available memory holds at 1.5 GiB each.
        timeout: Seconds any simulator call may take before the process counts as hung.
        start_timeout: Seconds to wait for a free process slot, and for a JVM to start.
        java: The Java executable (11 or newer).
        java_options: JVM options, space-separated (the heap cap bounds each process's memory).
        max_steps: Step budget for every task, replacing the per-type limits.
        max_actions: Most valid actions `valid_actions` lists (a shortlist by relevance to the
            task description, `actions.shortlist`); 0 lists all of the simulator's.
    """

    id = "scienceworld-v0"
    max_steps = DEFAULT_MAX_STEPS
    splits: tuple[str, ...] = ("train", "seen", "unseen", "test")

    def __init__(self, *, simplifications: str = "", max_processes: int | None = None,
                 timeout: float = 60.0, start_timeout: float = 120.0, java: str = "java",
                 java_options: str = DEFAULT_JAVA_OPTIONS, max_steps: int | None = None,
                 max_actions: int = DEFAULT_MAX_ACTIONS) -> None:
        super().__init__()
        unknown = [s for s in simplifications.split(",") if s and s not in SIMPLIFICATIONS]
        if unknown:
            raise ConfigError(f"unknown simplification {unknown[0]!r}: use a comma-separated "
                              f"list of {', '.join(SIMPLIFICATIONS)}")
        if max_processes is not None and (not isinstance(max_processes, int)
                                          or max_processes < 1):
            raise ConfigError(f"max_processes must be a positive integer or None, not "
                              f"{max_processes!r}")
        for name, value in (("timeout", timeout), ("start_timeout", start_timeout)):
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
        if max_steps is not None:
            if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
                raise ConfigError(f"max_steps must be a positive integer, not {max_steps!r}")
            self.max_steps = max_steps
        if not isinstance(max_actions, int) or isinstance(max_actions, bool) or max_actions < 0:
            raise ConfigError(f"max_actions must be 0 (all) or a positive integer, not "
                              f"{max_actions!r}")
        self.max_actions = max_actions
        self.simplifications = simplifications
        self.max_processes = max_processes or default_max_processes()
        self.timeout, self.start_timeout = float(timeout), float(start_timeout)
        self.java = check_dependencies(java)
        self.java_options = java_options.split()
        self._simulator: Simulator | None = None
        self._valid: list[str] | None = None
        self._best = 0
        self._invalid = 0
        self._restarts = 0

    # -- tasks ----------------------------------------------------------------------------
    def tasks(self, split: str) -> list[Task]:
        """The variations of ``split`` as tasks, round-robin over the task types."""
        if split not in self.splits:
            raise ConfigError(f"unknown split {split!r}: use one of {', '.join(self.splits)}")
        with _TASKS_LOCK:
            if split not in _TASKS:
                _TASKS[split] = _build_tasks(split)
            return list(_TASKS[split])

    def step_limit(self, task: Task) -> int:
        """``max_steps`` when set on this env, else the limit of the task's type."""
        if "max_steps" in vars(self):
            return self.max_steps
        task_type = TASK_TYPE.get(task.spec.get("task_name", ""))
        return task_type.max_steps if task_type else DEFAULT_MAX_STEPS

    # -- episode --------------------------------------------------------------------------
    def _reset(self, task: Task) -> str:
        if self._simulator is not None and not self._simulator.alive:
            self._release()  # died between episodes: replace it without using the retry
        self._restarts = 0
        return self._recovering(lambda: self._load(task), replay=())

    def _step(self, action: str) -> tuple[str, bool]:
        if SCORE_ACTION.match(action):
            self._invalid += 1
            return INVALID_REPLIES[0], False
        return self._recovering(lambda: self._act(action), replay=self._actions[:-1])

    def valid_actions(self) -> list[str] | None:
        """The simulator's valid action-object combinations in this state, at most
        ``max_actions`` of them (`actions.shortlist`); [] once done."""
        if self._task is None:
            return None
        if self._done:
            return []
        if self._valid is None:
            every = self._recovering(
                lambda: [str(a) for a in self._call("getValidActionObjectCombinations")],
                replay=self._actions)
            self._valid = shortlist(every, self._task.instruction, self.max_actions)
        return list(self._valid)

    def _load(self, task: Task) -> str:
        spec = task.spec
        self._call("load", spec["task_name"], int(spec["variation"]), self.simplifications,
                   False)
        self._best, self._invalid, self._valid = 0, 0, None
        observation = str(self._call("step", "look around"))
        self._best = max(self._best, self._progress())
        return observation

    def _act(self, action: str) -> tuple[str, bool]:
        observation = str(self._call("step", action))
        progress = self._progress()
        done = bool(self._call("getCompleted")) or progress < 0
        self._best = max(self._best, progress)
        self._valid = None
        if observation.startswith(INVALID_REPLIES):
            self._invalid += 1
        return observation, done

    def _progress(self) -> int:
        return round(100 * float(self._call("getScore")))

    # -- ground truth and facts -----------------------------------------------------------
    def score(self) -> float:
        """The best progress the episode reached, in [0, 1]."""
        return max(self._best, 0) / 100

    def info(self) -> dict[str, Any]:
        """Facts of the episode (never the score): the task type and variation, the wasted
        steps and how often the simulator process was replaced."""
        spec = self._task.spec if self._task is not None else {}
        return {"task_name": spec.get("task_name"), "variation": spec.get("variation"),
                "invalid_actions": self._invalid, "process_restarts": self._restarts}

    def failure_type(self, trajectory: Trajectory) -> str | None:
        """``error`` (the episode broke), ``task_failed`` (the simulator ended it without
        success, e.g. a focus on a wrong object), ``partial_progress`` or ``no_progress`` (the
        step budget ran out); None on success."""
        if trajectory.end is EndReason.ERROR:
            return "error"
        score = trajectory.env_score or 0.0
        if score >= 1.0:
            return None
        if trajectory.end is EndReason.FINISHED:
            return "task_failed"
        return "partial_progress" if score > 0 else "no_progress"

    def hidden_strings(self, task: Task) -> list[str]:
        """Texts that would reveal the score or the goal progress."""
        return list(HIDDEN)

    @staticmethod
    def parse_action(text: str) -> str | None:
        """The action of an LLM reply: what follows ``Action:`` (ReAct), else its first
        non-empty line that is not a ``Thought:``, without a leading ``>``."""
        return parse_action(text)

    def gold_actions(self, task: Task) -> list[str]:
        """The simulator's gold action sequence for ``task`` (not necessarily the shortest).
        Loads the task in the simulator: call `reset` before stepping again."""
        spec = task.spec
        self._call("load", spec["task_name"], int(spec["variation"]), self.simplifications,
                   True)
        self._task = None
        return [str(a) for a in self._call("getGoldActionSequence")]

    # -- the process ----------------------------------------------------------------------
    @property
    def simulator(self) -> Simulator | None:
        """The simulator process this env runs on (None before the first `reset`)."""
        return self._simulator

    def _call(self, method: str, *args: Any) -> Any:
        if self._closed:
            raise RuntimeError(f"{self.id} is closed")
        if self._simulator is None:
            self._simulator = POOL.start(
                self.max_processes, wait=self.start_timeout, java=self.java,
                java_options=self.java_options, start_timeout=self.start_timeout,
                call_timeout=self.timeout)
        return self._simulator.call(method, *args)

    def _recovering(self, fn: Callable[[], T], *, replay: Sequence[str]) -> T:
        """``fn()``; if the simulator fails, once per episode: a new process, the task reloaded
        and ``replay`` taken again, then ``fn()`` again."""
        try:
            return fn()
        except SimulatorError as first:
            self._release()
            if self._restarts >= 1 or self._task is None:
                raise
            self._restarts += 1
            log.warning("%s; replacing it and replaying %d actions of %s", first, len(replay),
                        self._task.id)
            self._load(self._task)
            for action in replay:
                self._act(action)
            return fn()

    def _release(self) -> None:
        simulator, self._simulator = self._simulator, None
        if simulator is not None:
            POOL.release(simulator)

    def close(self) -> None:
        """Kill this env's simulator process; safe to call more than once."""
        super().close()  # closed first: a thread still in a call then starts no new process
        self._release()


def _build_tasks(split: str) -> list[Task]:
    """Round-robin over the task types; ``test`` alternates rounds of seen and unseen."""
    if split == "test":
        seen, unseen = _rounds("seen"), _rounds("unseen")
        rounds = [r for i in range(max(len(seen), len(unseen)))
                  for r in (seen[i:i + 1] + unseen[i:i + 1])]
    else:
        rounds = _rounds(split)
    return [t for r in rounds for t in r]


def _rounds(split: str) -> list[list[Task]]:
    """Round i: the i-th variation of ``split`` of every task type that has one."""
    catalog = load_catalog()
    rounds: list[list[Task]] = []
    for task_type in TASK_TYPES:
        variations = catalog[task_type.name]
        for i, v in enumerate(variations.splits[SPLITS[split]]):
            if i == len(rounds):
                rounds.append([])
            rounds[i].append(Task(task_id(task_type.name, v), ENV_NAME,
                                  variations.descriptions[v], split,
                                  {"task_name": task_type.name, "variation": v}))
    return rounds
