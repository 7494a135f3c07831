"""Core records shared by every layer: tasks, steps, trajectories and their cost.

All of them are plain dataclasses with a lossless JSON round trip (`to_dict` / `from_dict`).
The ground-truth score of an episode lives only in `Trajectory.env_score`; it never enters an
observation, a prompt or the reward model's input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

SCHEMA_VERSION = 1
"""Version of the JSON layout of trajectories; bump it when a field changes meaning."""


@dataclass(frozen=True)
class Task:
    """One problem for an agent.

    Attributes:
        id: Unique within its environment, stable across runs (used for resume and splits).
        env: Registry id of the environment family (e.g. ``"game24"``).
        instruction: The goal text that the agent and the reward model see.
        split: ``"train"``, ``"test"`` or another split name.
        spec: Environment-specific data needed to rebuild the task (e.g. the puzzle numbers).
    """

    id: str
    env: str
    instruction: str
    split: str = "train"
    spec: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Step:
    """One agent action and what the environment answered.

    Attributes:
        action: The parsed action string sent to the environment.
        thought: The raw model text the action was parsed from (empty for non-LLM policies).
        observation: The environment's reply to the action (empty until the action is taken).
    """

    action: str
    thought: str = ""
    observation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(**_known(cls, data))


class EndReason(StrEnum):
    """Why an episode stopped."""

    FINISHED = "finished"
    """The environment said the task is over (e.g. an answer was submitted or an item bought)."""
    STEP_LIMIT = "step_limit"
    """The step budget ran out before the environment finished."""
    ERROR = "error"
    """An exception (LLM backend, dead env process, ...) cut the episode; see `Trajectory.error`."""


@dataclass
class Cost:
    """Resources an episode or a planner used. Counters add up with `add`."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    env_steps: int = 0
    rm_calls: int = 0
    seconds: float = 0.0

    def add(self, other: Cost) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cost:
        return cls(**_known(cls, data))


@dataclass
class Trajectory:
    """A whole episode: the task, the first observation, every step, and how it ended.

    Attributes:
        task: The task that was attempted.
        initial_observation: What `Env.reset` returned.
        steps: Actions with their observations, in order.
        end: Why the episode stopped.
        error: The error text when ``end`` is `EndReason.ERROR`.
        env_score: Ground-truth score from `Env.score` (evaluation only, never a model input).
        cost: Resources used to produce this trajectory.
        info: Facts the environment reported about the episode (`Env.info`: e.g. the price
            paid), never the score.
        meta: Free-form provenance: policy, sampling parameters, seed, sample index.
    """

    task: Task
    initial_observation: str = ""
    steps: list[Step] = field(default_factory=list)
    end: EndReason = EndReason.STEP_LIMIT
    error: str | None = None
    env_score: float | None = None
    cost: Cost = field(default_factory=Cost)
    info: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "task": self.task.to_dict(),
            "initial_observation": self.initial_observation,
            "steps": [s.to_dict() for s in self.steps],
            "end": self.end.value,
            "error": self.error,
            "env_score": self.env_score,
            "cost": self.cost.to_dict(),
            "info": self.info,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trajectory:
        check_schema_version(data, "trajectory")
        fields_ = _known(cls, {k: v for k, v in data.items()
                               if k not in ("task", "steps", "end", "cost")})
        steps = data.get("steps", [])
        if not isinstance(steps, list):
            raise TypeError(f"Trajectory.steps must be a list, not {type(steps).__name__}")
        return cls(
            task=Task.from_dict(data["task"]),
            initial_observation=fields_.get("initial_observation", ""),
            steps=[Step.from_dict(s) for s in steps],
            end=EndReason(data.get("end", EndReason.STEP_LIMIT)),
            error=fields_.get("error"),
            env_score=fields_.get("env_score"),
            cost=Cost.from_dict(data.get("cost", {})),
            info=dict(fields_.get("info", {})),
            meta=dict(fields_.get("meta", {})),
        )


@dataclass
class Triplet:
    """One preference pair for ``instruction``: the training data of the reward model.

    Attributes:
        task_id: The task both trajectories attempted (used to keep splits apart).
        env: Environment family.
        instruction: The (possibly relabeled) instruction the reward model is given.
        positive: A trajectory that achieves the instruction.
        negative: A trajectory that does not (or achieves it less well).
        source: How it was made: ``strategy``, ``positive`` (its origin), ``negative_type``,
            ``model`` (the generating LLM, if any).
    """

    task_id: str
    env: str
    instruction: str
    positive: Trajectory
    negative: Trajectory
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def negative_type(self) -> str:
        return str(self.source.get("negative_type", "unknown"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "task_id": self.task_id,
            "env": self.env,
            "instruction": self.instruction,
            "positive": self.positive.to_dict(),
            "negative": self.negative.to_dict(),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Triplet:
        check_schema_version(data, "triplet")
        known = _known(cls, {k: v for k, v in data.items() if k not in ("positive", "negative")})
        return cls(
            task_id=data["task_id"],
            env=data["env"],
            instruction=data["instruction"],
            positive=Trajectory.from_dict(data["positive"]),
            negative=Trajectory.from_dict(data["negative"]),
            source=dict(known.get("source", {})),
        )


def read_trajectories(path: str | Path) -> list[Trajectory]:
    """Every trajectory of a JSON Lines file; a bad line is a `CorruptRecordError` naming it."""
    from armap.jsonl import read_records

    return list(read_records(path, Trajectory.from_dict, "trajectory"))


def read_triplets(path: str | Path) -> list[Triplet]:
    """Every triplet of a JSON Lines file; a bad line is a `CorruptRecordError` naming it."""
    from armap.jsonl import read_records

    return list(read_records(path, Triplet.from_dict, "triplet"))


def check_schema_version(data: dict[str, Any], kind: str) -> None:
    """Raise `SchemaVersionError` unless ``data`` carries a schema version this code reads."""
    from armap.errors import SchemaVersionError

    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{kind} record has schema_version={version!r}; this armap reads version "
            f"{SCHEMA_VERSION}. Re-create the file with this armap version."
        )


def _known(cls: type, data: Any) -> dict[str, Any]:
    """The fields of ``cls`` in ``data``, type-checked (`TypeError` names a wrong one)."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} must be a JSON object, not {type(data).__name__}")
    checks = _field_checks(cls)
    out = {}
    for key, value in data.items():
        if key not in checks:
            continue
        expected = checks[key]
        if expected is not None and not isinstance(value, expected):
            raise TypeError(f"{cls.__name__}.{key} must be {_type_names(expected)}, not "
                            f"{type(value).__name__}")
        out[key] = value
    return out


_SIMPLE: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), float: (int, float),
                                        bool: (bool,), dict: (dict,), list: (list,)}


@cache
def _field_checks(cls: type) -> dict[str, tuple[type, ...] | None]:
    """For each field, the JSON types its value may have (None: not checked here)."""
    hints = get_type_hints(cls)
    out: dict[str, tuple[type, ...] | None] = {}
    for f in fields(cls):
        hint = hints[f.name]
        options = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
        allowed: list[type] = []
        for option in options:
            base = get_origin(option) or option
            if option is type(None):
                allowed.append(type(None))
            elif base in _SIMPLE:
                allowed += _SIMPLE[base]
            else:
                allowed = []
                break
        out[f.name] = tuple(allowed) or None
    return out


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "true or false",
             dict: "an object", list: "a list", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))
