"""The synthesis stage: turn exploration into (instruction, positive, negative) triplets.

`synthesize` writes ``triplets.jsonl`` into a run directory with the environment family's
strategy (`armap.synth.base.strategies`). Training triplets never come from a reserved task
(an evaluation split): tasks come from the train split, and explorer trajectories or LLM
proposals of reserved tasks are dropped and counted.
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

from armap.config import opt, parse_kv_options
from armap.console import progress
from armap.envs.spec import EnvConfig
from armap.errors import ConfigError
from armap.jsonl import JsonlWriter, read_records
from armap.llm import LLMConfig, make_llm
from armap.rundir import RunDir
from armap.runner import RunnerConfig
from armap.synth.base import SynthContext, pair_by_score, strategies, strategy_stats
from armap.types import Trajectory, Triplet, read_triplets

log = logging.getLogger(__name__)
TRIPLETS = "triplets.jsonl"


@dataclass
class SynthConfig:
    """What `armap synthesize` makes."""

    env: EnvConfig = field(default_factory=EnvConfig)
    strategy: str = opt("auto", "How triplets are made, per environment family (auto: the "
                        "family's first): game24: "
                        "rules (verified solver positives and a catalogue of negatives) or llm "
                        "(an LLM proposes puzzles and wrong solutions; every output verified); "
                        "webshop: relabel (hindsight relabeling of bought items, one-decision "
                        "negatives replayed in the shop); scienceworld: relabel (the sibling "
                        "goal a trajectory scores best under, gold paths of train variations, "
                        "altered negatives replayed).")
    strategy_option: list[str] = opt([], "Strategy option KEY=VALUE, repeatable (e.g. "
                                     "answer_only_share=0.3 for game24 rules).")
    count: int = opt(12000, "Triplets to make (llm strategies: attempts to make).")
    trajectories: str | None = opt(None, "An explorer's trajectories.jsonl: attempts at the "
                                   "same task whose scores differ become triplets.",
                                   input=True)
    pair_margin: float = opt(0.2, "Explorer pairs: least difference of ground-truth scores "
                             "between the positive and the negative.")
    temperature: float = opt(0.8, "LLM strategies: sampling temperature.")
    seed: int = opt(0, "Seed of the triplet stream.")
    llm: LLMConfig = field(default_factory=LLMConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError("count must be at least 1")
        if not 0 <= self.pair_margin <= 1e9:
            raise ConfigError("pair_margin must be 0 or more")
        self.strategy_id  # noqa: B018 -- fail now on an unknown strategy
        self.strategy_options  # noqa: B018

    @property
    def strategy_id(self) -> str:
        """``<family>.<strategy>``, e.g. ``game24.rules``."""
        family = self.env.family
        if self.strategy == "auto":
            ids = [i for i in strategies.ids(ordered=True) if i.startswith(family + ".")]
            if not ids:
                raise ConfigError(f"no synthesis strategy is registered for {family!r}")
            return ids[0]
        return strategies.spec(f"{family}.{self.strategy}").id

    @property
    def strategy_options(self) -> dict[str, Any]:
        return parse_kv_options(strategies.spec(self.strategy_id).load(), self.strategy_option,
                                f"option of strategy {self.strategy_id}")


def reserved_task_ids(config: SynthConfig) -> set[str]:
    """Every task id that training data must avoid (the env's evaluation splits)."""
    with config.env.make() as env:
        return env.reserved_task_ids()


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
        else:
            summary.update(_synthesize(config, run))
        summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def _synthesize(config: SynthConfig, run: RunDir) -> dict[str, Any]:
    with config.env.make() as env:
        split = config.env.resolved_split("train")
        reserved = env.reserved_task_ids() if split == "train" else set()
        tasks = [t for t in config.env.tasks(env, "train") if t.id not in reserved]
    explored = _explored(config, reserved)
    ctx = SynthContext(config, run, tasks, reserved, explored, make_env=config.env.make,
                       make_llm=lambda: make_llm(config.llm))
    strategy = strategies.make(config.strategy_id, **config.strategy_options)
    pairs = pair_by_score(explored, config.pair_margin) \
        if explored and not getattr(strategy, "pairs_explored", False) else iter(())
    stream = itertools.chain(pairs, strategy.triplets(ctx))
    out = run.file(TRIPLETS)
    tmp = out.with_suffix(".jsonl.tmp")
    tmp.unlink(missing_ok=True)
    try:
        with JsonlWriter(tmp) as writer, progress(itertools.islice(stream, config.count),
                                                  total=config.count, desc="synthesize",
                                                  unit="triplet") as bar:
            for triplet in bar:
                if triplet.task_id in reserved:
                    raise RuntimeError(f"strategy {config.strategy_id} made a triplet of "
                                       f"reserved task {triplet.task_id}")
                writer.write(triplet.to_dict())
    except KeyboardInterrupt:
        # Keep what was made: train on it now; running again starts the stream over.
        os.replace(tmp, out)
        log.warning("interrupted: kept the %d triplets made so far in %s",
                    sum(1 for _ in read_triplets(out)), out)
        raise
    os.replace(tmp, out)
    stats = summarize_triplets(read_triplets(out))
    stats.update(strategy_stats(strategy))
    return stats


def _explored(config: SynthConfig, reserved: set[str]) -> list[Trajectory]:
    """The explorer's scored trajectories outside the reserved tasks (latest per episode)."""
    if not config.trajectories:
        return []
    latest: dict[str, Trajectory] = {}
    dropped = 0
    for i, t in enumerate(read_records(config.trajectories, Trajectory.from_dict,
                                       "trajectory")):
        if t.task.id in reserved or t.env_score is None:
            dropped += 1
            continue
        latest[str(t.meta.get("episode", i))] = t
    if dropped:
        log.warning("dropped %d explorer trajectories of reserved tasks, failed or unscored",
                    dropped)
    return list(latest.values())


def summarize_triplets(triplets: list[Triplet]) -> dict[str, Any]:
    return {
        "triplets": len(triplets),
        "tasks": len({t.task_id for t in triplets}),
        "negative_types": dict(Counter(t.negative_type for t in triplets)),
        "shapes": dict(Counter(str(t.source.get("shape")) for t in triplets)),
    }


__all__ = ["SynthConfig", "reserved_task_ids", "strategies", "summarize_triplets",
           "synthesize"]
