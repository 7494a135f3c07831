"""`armap demo`: the whole ARMAP loop, small and offline, on the embedded stack.

explore (the embedded LLM plays Game of 24 train puzzles) -> synthesize (verified rule-based
triplets plus the explorer's episodes) -> train (MiniLM reward model) -> eval (greedy,
sampling, best-of-N, reflexion and MCTS on test puzzles). Each stage writes its own run
directory under the demo's, so an interrupted demo resumes stage by stage and every file can be
inspected afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armap.config import opt
from armap.rundir import RunDir


@dataclass
class DemoConfig:
    """Sizes of the demo's stages (the defaults take about 6 minutes on 2 CPU cores with the
    llama.cpp engine)."""

    explore_tasks: int = opt(4, "Train puzzles the embedded LLM explores.")
    explore_samples: int = opt(2, "Episodes per explored puzzle.")
    triplets: int = opt(3000, "Rule-based triplets synthesized for training.")
    train_minutes: float = opt(1.5, "Reward-model training budget in minutes.")
    eval_tasks: int = opt(6, "Test puzzles evaluated.")
    budget: int = opt(4, "Complete trajectories per puzzle for each planner.")
    policy: str = opt("llm", "Policy for exploration and evaluation: llm or random.")
    puzzles: str | None = opt(None, "Game of 24 ranked CSV (24.csv) for the standard split.")
    seed: int = opt(0, "Seed of every stage.")
    threads: int = opt(0, "CPU threads of the embedded LLM; 0: the physical cores available "
                       "(on a CPU that other work keeps busy, fewer can be faster).",
                       volatile=True)


Say = Callable[[str], None]


def run_demo(config: DemoConfig, run_dir: str | Path, say: Say = print) -> dict[str, Any]:
    """Run or resume the demo; returns the evaluation rows."""
    from armap.evaluate import EvalConfig, evaluate
    from armap.explore import ExploreConfig, explore
    from armap.llm import LLMConfig
    from armap.reward.config import RewardTrainConfig
    from armap.reward.train import train
    from armap.synth import SynthConfig, synthesize

    root = Path(run_dir)
    timings: dict[str, float] = {}

    def stage(name: str, text: str, fn: Callable[[], Any]) -> Any:
        say(f"\n== {name}: {text}")
        started = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - started, 1)
        say(f"   done in {timings[name]:.0f} s -> {root / name}")
        return out

    with RunDir(root).running("demo", config, seed=config.seed) as summary:
        summary["timings"] = timings
        explored = stage(
            "explore", f"the {config.policy} policy plays {config.explore_tasks} train puzzles "
            f"x {config.explore_samples} episodes",
            lambda: explore(ExploreConfig(policy=config.policy, limit=config.explore_tasks,
                                          samples=config.explore_samples,
                                          puzzles=config.puzzles, seed=config.seed,
                                          llm=LLMConfig(threads=config.threads)),
                            root / "explore"))
        say(f"   {explored['solved']} of {explored['trajectories']} episodes solved")
        synth = stage(
            "synthesize", f"{config.triplets} verified triplets (rules + explorer episodes)",
            lambda: synthesize(SynthConfig(count=config.triplets, puzzles=config.puzzles,
                                           seed=config.seed,
                                           trajectories=str(root / "explore" /
                                                            "trajectories.jsonl")),
                               root / "synthesize"))
        say(f"   negative types: {synth['negative_types']}")
        trained = stage(
            "train", f"MiniLM reward model, {config.train_minutes:g} minute budget",
            lambda: _train_once(train, RewardTrainConfig(time_budget_minutes=config.train_minutes,
                                                         seed=config.seed),
                                root / "synthesize" / "triplets.jsonl", root / "train"))
        say(f"   held-out pairwise accuracy: {trained.get('val_accuracy')}")
        eval_config = EvalConfig(limit=config.eval_tasks, budget=config.budget,
                                 rm=str(root / "train" / "checkpoint"), policy=config.policy,
                                 puzzles=config.puzzles, seed=config.seed,
                                 llm=LLMConfig(threads=config.threads))
        evaluated = stage(
            "eval", f"5 methods on {config.eval_tasks} test puzzles, budget {config.budget}",
            lambda: evaluate(eval_config, root / "eval"))
        summary["methods"] = evaluated["methods"]
        say("\n" + (root / "eval" / "report.md").read_text())
    return evaluated


def _train_once(train: Callable[..., dict[str, Any]], config: Any, triplets: Path,
                run_dir: Path) -> dict[str, Any]:
    """Train unless a finished checkpoint from the same config is already there."""
    run = RunDir(run_dir)
    if (run_dir / "checkpoint" / "config.json").exists() and run.manifest_path.exists():
        manifest = run.read_manifest()
        if manifest.get("status") == "success":
            return dict(manifest.get("summary") or {})
    return train(config, triplets, run_dir)
