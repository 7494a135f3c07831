"""The synthesis stage: turn exploration into (instruction, positive, negative) triplets.

`synthesize` writes ``triplets.jsonl`` into a run directory. Training triplets never come from
the test split: tasks are drawn from the train split, and explorer trajectories or LLM proposals
that fall in a test split are dropped and counted.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from armap.config import check_choice, opt
from armap.errors import ConfigError
from armap.jsonl import JsonlWriter, read_jsonl, read_records
from armap.llm import LLMConfig, make_llm
from armap.rundir import RunDir
from armap.runner import RunnerConfig, make_episodes, run_episodes
from armap.synth.base import Strategy, Triplet, read_triplets
from armap.types import Trajectory

log = logging.getLogger(__name__)
TRIPLETS = "triplets.jsonl"
ATTEMPTS = "attempts.jsonl"


@dataclass
class SynthConfig:
    """What `armap synthesize` makes."""

    env: str = opt("game24", "Environment family to synthesize for.")
    strategy: str = opt("rules", "rules (verified rule-based positives and a catalogue of "
                        "negatives) or llm (an LLM proposes puzzles and wrong solutions; "
                        "every output verified).")
    split: str = opt("train", "Split whose tasks are used: train for training data, test "
                     "only for held-out evaluation triplets.")
    count: int = opt(12000, "Triplets to make (rules), or attempts to make (llm).")
    trajectories: str | None = opt(None, "An explorer's trajectories.jsonl: its successful "
                                   "episodes become positives and its failures negatives.",
                                   input=True)
    puzzles: str | None = opt(None, "Game of 24: the ranked puzzle CSV (24.csv); its test "
                              "rows are excluded from training data.", input=True)
    answer_only_share: float = opt(0.3, "Share of triplets whose trajectories are a single "
                                   "answer line rather than steps and an answer.")
    temperature: float = opt(0.8, "LLM strategy: sampling temperature.")
    seed: int = opt(0, "Seed of the triplet stream.")
    llm: LLMConfig = field(default_factory=LLMConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    def __post_init__(self) -> None:
        check_choice("env", self.env.split("-v")[0], ("game24",))
        check_choice("strategy", self.strategy, ("rules", "llm"))
        check_choice("split", self.split, ("train", "test"))
        if self.count < 1:
            raise ConfigError("count must be at least 1")


def excluded_task_ids(config: SynthConfig) -> set[str]:
    """Every test-split task id that training data must avoid (all known test splits)."""
    from armap.envs.game24.env import Game24Env

    ids = {t.id for t in Game24Env().tasks("test")}
    if config.puzzles:
        ids |= {t.id for t in Game24Env(puzzles=config.puzzles).tasks("test")}
    return ids


def synthesize(config: SynthConfig, run_dir: str | Path) -> dict[str, Any]:
    """Run (or resume) synthesis into ``run_dir``; returns counts per negative type and
    rejection reasons."""
    run = RunDir(run_dir)
    started = time.perf_counter()
    complete = run.file(TRIPLETS).exists() and run.manifest_path.exists() and \
        run.read_manifest().get("status") == "success"
    with run.running("synthesize", config, seed=config.seed) as summary:
        if complete:
            log.info("%s is complete; nothing to do", run.file(TRIPLETS))
            summary.update(summarize_triplets(read_triplets(run.file(TRIPLETS))))
        elif config.strategy == "rules":
            summary.update(_rules(config, run))
        else:
            summary.update(_llm(config, run))
        summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def _tasks(config: SynthConfig) -> tuple[list[Any], set[str]]:
    from armap.envs.game24.env import Game24Env

    env = Game24Env(puzzles=config.puzzles)
    excluded = excluded_task_ids(config) if config.split == "train" else set()
    tasks = [t for t in env.tasks(config.split) if t.id not in excluded]
    return tasks, excluded


def _rules(config: SynthConfig, run: RunDir) -> dict[str, Any]:
    from armap.synth.game24 import Game24Rules

    out = run.file(TRIPLETS)
    tasks, excluded = _tasks(config)
    strategy = Game24Rules(tasks, seed=config.seed, answer_only_share=config.answer_only_share)
    explorer = _explorer_triplets(config, strategy, excluded) if config.trajectories else []
    stream: Strategy = strategy
    tmp = out.with_suffix(".jsonl.tmp")
    tmp.unlink(missing_ok=True)
    with JsonlWriter(tmp) as writer:
        for triplet in explorer[: config.count]:
            writer.write(triplet.to_dict())
        rest = max(config.count - len(explorer), 0)
        for triplet in tqdm(itertools.islice(stream.triplets(), rest), total=rest,
                            desc="synthesize", unit="triplet", dynamic_ncols=True):
            writer.write(triplet.to_dict())
    os.replace(tmp, out)
    stats = summarize_triplets(read_triplets(out))
    stats["rejected"] = dict(strategy.rejected)
    return stats


def _explorer_triplets(config: SynthConfig, strategy: Any, excluded: set[str]) -> list[Triplet]:
    """Pair each successful explorer episode with a failure of the same task (or a catalogue
    negative), and each failure with a solver positive (hindsight relabeling is the identity
    for Game of 24: the puzzle is the instruction)."""
    from armap.synth.game24 import classify_failure

    assert config.trajectories is not None
    by_task: dict[str, list[Trajectory]] = {}
    dropped = 0
    for t in read_records(config.trajectories, Trajectory.from_dict, "trajectory"):
        if t.task.id in excluded or t.env_score is None:
            dropped += 1
            continue
        by_task.setdefault(t.task.id, []).append(t)
    if dropped:
        log.warning("dropped %d explorer trajectories from test splits or unscored", dropped)
    out = []
    for trajectories in by_task.values():
        good = [t for t in trajectories if t.env_score == 1.0]
        bad = [t for t in trajectories if t.env_score == 0.0]
        for negative in bad:
            kind = classify_failure(negative) or "unknown"
            positive = good[0] if good else None
            if positive is None:
                made = strategy.make(negative.task, "not_24")
                positive = made.positive if made else None
            if positive is not None:
                out.append(Triplet(negative.task.id, "game24", negative.task.instruction,
                                   positive, negative,
                                   {"strategy": "game24-explorer", "negative_type": kind,
                                    "positive": "explorer" if good else "solver",
                                    "negative": "explorer", "model": negative.meta.get("policy")}))
        for positive in good if not bad else []:
            made = strategy.make(positive.task, "not_24")
            if made is not None:
                out.append(Triplet(positive.task.id, "game24", positive.task.instruction,
                                   positive, made.negative,
                                   {**made.source, "positive": "explorer"}))
    return out


def _llm(config: SynthConfig, run: RunDir) -> dict[str, Any]:
    from armap.synth.game24_llm import Game24LLMSynth

    _, excluded = _tasks(config)
    synth = Game24LLMSynth(make_llm(config.llm), excluded=excluded,
                           temperature=config.temperature)
    from armap.types import Task

    seeds = [Task(f"attempt-{i}", config.env, "") for i in range(config.count)]
    episodes = make_episodes(seeds, 1, config.seed)
    run_episodes(episodes, lambda e: synth.attempt(e.key, e.seed).to_dict(),
                 run.file(ATTEMPTS), key=lambda r: r["key"],
                 executor=config.runner.executor(), desc="synthesize (llm)")
    attempts = list(read_jsonl(run.file(ATTEMPTS)))
    triplets = [Triplet.from_dict(a["triplet"]) for a in attempts if a["triplet"]]
    tmp = run.file(TRIPLETS + ".tmp")
    with JsonlWriter(tmp) as writer:
        for t in triplets:
            writer.write(t.to_dict())
    os.replace(tmp, run.file(TRIPLETS))
    stats = summarize_triplets(triplets)
    stats["attempts"] = len(attempts)
    stats["rejected"] = dict(Counter(a["rejected"] for a in attempts if a["rejected"]))
    return stats


def summarize_triplets(triplets: list[Triplet]) -> dict[str, Any]:
    return {
        "triplets": len(triplets),
        "tasks": len({t.task_id for t in triplets}),
        "negative_types": dict(Counter(t.negative_type for t in triplets)),
        "shapes": dict(Counter(str(t.source.get("shape")) for t in triplets)),
    }


__all__ = ["SynthConfig", "Triplet", "excluded_task_ids", "read_triplets", "synthesize"]
