"""Triplets, the training data of the reward model, and the strategy protocol that makes them.

A triplet is ``(instruction, positive, negative)``: for the instruction, the positive trajectory
achieved it and the negative did not. A strategy has three parts: where trajectories come from
(explorer runs or generated), how the instruction is refined to match what a trajectory
achieved (hindsight relabeling), and how negatives are made. Every triplet records its `source`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from armap.jsonl import read_records
from armap.types import SCHEMA_VERSION, Trajectory, check_schema_version


@dataclass
class Triplet:
    """One preference pair for ``instruction``.

    Attributes:
        task_id: The task both trajectories attempted (used to keep splits apart).
        env: Environment family.
        instruction: The (possibly relabeled) instruction the reward model is given.
        positive: A trajectory that achieves the instruction.
        negative: A trajectory that does not.
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
        return cls(
            task_id=data["task_id"],
            env=data["env"],
            instruction=data["instruction"],
            positive=Trajectory.from_dict(data["positive"]),
            negative=Trajectory.from_dict(data["negative"]),
            source=dict(data.get("source", {})),
        )


def read_triplets(path: str | Path) -> list[Triplet]:
    """All triplets of a JSONL file; a bad line raises `CorruptRecordError` naming it."""
    return list(read_records(path, Triplet.from_dict, "triplet"))


class Strategy(Protocol):
    """Makes triplets for one environment family."""

    name: str

    def triplets(self) -> Iterator[Triplet]:
        """Yield verified triplets; may be infinite (the caller stops at its count)."""
        ...
