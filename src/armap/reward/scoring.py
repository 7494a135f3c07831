"""Score a JSONL file of trajectories or triplets with a reward model (`armap score`)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armap import console
from armap.config import opt
from armap.errors import ConfigError
from armap.jsonl import JsonlWriter, read_jsonl, read_records
from armap.reward.base import RewardModel
from armap.types import Trajectory, Triplet

BATCH = 64


@dataclass
class ScoreConfig:
    """What `armap score` reads and writes."""

    rm: str = opt("oracle", "Reward model: a checkpoint directory from `armap train`, a "
                  "server URL from `armap serve-rm` (http://HOST:PORT), or "
                  "oracle.")
    input: str = opt("trajectories.jsonl", "A trajectories.jsonl or triplets.jsonl file.")
    output: str | None = opt(None, "Where to write the scores (default: INPUT.scores.jsonl).")

    def __post_init__(self) -> None:
        if self.output is not None:
            check_not_input(self.input, self.output)

    @property
    def output_path(self) -> Path:
        return Path(self.output) if self.output else Path(self.input).with_suffix(
            ".scores.jsonl")


def check_not_input(input_path: str | Path, output_path: str | Path) -> None:
    """`ConfigError` when ``output_path`` is the input file (scoring would overwrite it)."""
    inp, out = Path(input_path), Path(output_path)
    if out.exists() and inp.exists() and os.path.samefile(inp, out):
        raise ConfigError(f"--output {out} is the input file: scoring would overwrite it; "
                          "give another --output")


def score_file(reward: RewardModel, input_path: str | Path, output_path: str | Path
               ) -> dict[str, Any]:
    """Write one line per input record with its score(s); returns a summary.

    Trajectory records (``trajectories.jsonl``) are scored against their task's instruction.
    Triplet records (``triplets.jsonl``) get the positive's and the negative's score, and the
    summary reports pairwise accuracy overall and per negative type.
    """
    output = Path(output_path)
    check_not_input(input_path, output)
    first = next(read_jsonl(input_path), None)
    if first is not None and "positive" in first:
        triplets = list(read_records(input_path, Triplet.from_dict, "triplet"))
        output.unlink(missing_ok=True)
        return _triplets(reward, triplets, output)
    trajectories = list(read_records(input_path, Trajectory.from_dict, "trajectory"))
    output.unlink(missing_ok=True)
    scores = score_trajectories(reward, trajectories)
    with JsonlWriter(output) as writer:
        writer.write_many([{"task_id": t.task.id, "episode": t.meta.get("episode"),
                            "score": s, "env_score": t.env_score}
                           for t, s in zip(trajectories, scores, strict=True)])
    return {"records": len(scores), "mean_score": statistics.fmean(scores) if scores else None}


def score_trajectories(reward: RewardModel, trajectories: Sequence[Trajectory], *,
                       progress: bool = True) -> list[float]:
    """Each trajectory's score against its own task's instruction."""
    return score_against(reward, [(t.task.instruction, t) for t in trajectories],
                         progress=progress)


def score_against(reward: RewardModel, items: Sequence[tuple[str, Trajectory]], *,
                  progress: bool = True) -> list[float]:
    """The score of each (instruction, trajectory), in batches of one instruction each."""
    by_instruction: dict[str, list[int]] = {}
    for i, (instruction, _) in enumerate(items):
        by_instruction.setdefault(instruction, []).append(i)
    scores = [0.0] * len(items)
    with console.progress(by_instruction.items(), total=len(by_instruction), desc="score",
                          unit="task", enabled=progress) as bar:
        for instruction, idx in bar:
            for start in range(0, len(idx), BATCH):
                chunk = idx[start:start + BATCH]
                for i, s in zip(chunk, reward.score(instruction, [items[i][1] for i in chunk]),
                                strict=True):
                    scores[i] = s
    return scores


def _triplets(reward: RewardModel, triplets: list[Triplet], output: Path) -> dict[str, Any]:
    scores = score_against(reward, [(t.instruction, x) for t in triplets
                                    for x in (t.positive, t.negative)])
    by_type: dict[str, list[bool]] = {}
    with JsonlWriter(output) as writer:
        for t, pos, neg in zip(triplets, scores[::2], scores[1::2], strict=True):
            by_type.setdefault(t.negative_type, []).append(pos > neg)
            writer.write({"task_id": t.task_id, "negative_type": t.negative_type,
                          "positive_score": pos, "negative_score": neg})
    wins = [w for ws in by_type.values() for w in ws]
    return {
        "records": len(wins),
        "pairwise_accuracy": round(sum(wins) / len(wins), 4) if wins else None,
        "by_negative_type": {k: round(sum(v) / len(v), 4) for k, v in sorted(by_type.items())},
    }
