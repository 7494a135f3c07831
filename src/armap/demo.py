"""`armap demo`: the whole ARMAP loop, small and offline, on the embedded stack.

explore (the embedded LLM plays train tasks) -> synthesize (the environment's default
strategy, e.g. verified rule-based Game of 24 triplets, plus the explorer's episodes) -> train
(MiniLM reward model) -> eval (greedy, sampling, best-of-N, reflexion and MCTS on test tasks).
Each stage writes its own run directory under the demo's, so an interrupted demo resumes stage
by stage and every file can be inspected afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armap.config import opt
from armap.envs.spec import EnvConfig
from armap.policy import explorers
from armap.rundir import RunDir


@dataclass
class DemoConfig:
    """Sizes of the demo's stages (the defaults take about 14 minutes on 2 CPU cores)."""

    explore_tasks: int | None = opt(None, "Train tasks explored (default: 8 when the LLM "
                                    "explores, 300 when an environment's own explorer does).")
    explore_samples: int = opt(2, "Episodes per explored task.")
    triplets: int = opt(3000, "Rule-based triplets synthesized for training.")
    train_minutes: float = opt(5.0, "Reward-model training budget in minutes.")
    eval_tasks: int = opt(10, "Test tasks evaluated.")
    budget: int = opt(4, "Complete trajectories per task for each planner.")
    policy: str = opt("llm", "Policy evaluated by the planners: llm or random.")
    explore_policy: str = opt("auto", "Explorer: llm, random, an environment's own explorer "
                              "(webshop: heuristic), or auto (the environment's heuristic "
                              "explorer if it has one, else the evaluated policy).")
    env: str = opt("game24", "Environment: game24 or webshop (`armap envs` lists them).")
    env_option: list[str] = opt([], "Environment option KEY=VALUE, repeatable (e.g. "
                                "puzzles=../shared/data/game24/24.csv for the standard split).",
                                input=True)
    seed: int = opt(0, "Seed of every stage.")

    def resolved_explore_policy(self) -> str:
        if self.explore_policy != "auto":
            return self.explore_policy
        family = EnvConfig(env=self.env).family
        own = [i.split(".", 1)[1] for i in explorers.ids() if i.startswith(family + ".")]
        return "heuristic" if "heuristic" in own else self.policy

    def resolved_explore_tasks(self) -> int:
        if self.explore_tasks is not None:
            return self.explore_tasks
        return 8 if self.resolved_explore_policy() in ("llm", "random") else 300

    def env_config(self, limit: int | None, split: str) -> EnvConfig:
        return EnvConfig(env=self.env, env_option=list(self.env_option), limit=limit,
                         split=split)


Say = Callable[[str], None]


def run_demo(config: DemoConfig, run_dir: str | Path, say: Say = print) -> dict[str, Any]:
    """Run or resume the demo; returns the evaluation rows."""
    from armap.evaluate import EvalConfig, evaluate
    from armap.explore import ExploreConfig, explore
    from armap.policy import AgentConfig
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
        agent = AgentConfig(policy=config.policy)
        explorer = AgentConfig(policy=config.resolved_explore_policy())
        tasks = config.resolved_explore_tasks()
        explored = stage(
            "explore", f"the {explorer.policy} policy plays {tasks} {config.env} "
            f"train tasks x {config.explore_samples} episodes",
            lambda: explore(ExploreConfig(env=config.env_config(tasks, "train"),
                                          agent=explorer, samples=config.explore_samples,
                                          seed=config.seed), root / "explore"))
        say(f"   {explored['solved']} of {explored['trajectories']} episodes solved, mean "
            f"score {explored['mean_score']}")
        synth_config = SynthConfig(env=config.env_config(None, "train"), count=config.triplets,
                                   seed=config.seed,
                                   trajectories=str(root / "explore" / "trajectories.jsonl"))
        synth = stage(
            "synthesize", f"{config.triplets} triplets ({synth_config.strategy_id} + the "
            "explorer's episodes)", lambda: synthesize(synth_config, root / "synthesize"))
        say(f"   negative types: {synth['negative_types']}")
        trained = stage(
            "train", f"MiniLM reward model, {config.train_minutes:g} minute budget",
            lambda: _train_once(train, RewardTrainConfig(time_budget_minutes=config.train_minutes,
                                                         seed=config.seed),
                                root / "synthesize" / "triplets.jsonl", root / "train"))
        say(f"   held-out pairwise accuracy: {trained.get('val_accuracy')}")
        eval_config = EvalConfig(env=config.env_config(config.eval_tasks, "test"), agent=agent,
                                 budget=config.budget, rm=str(root / "train" / "checkpoint"),
                                 seed=config.seed)
        evaluated = stage(
            "eval", f"5 methods on {config.eval_tasks} test tasks, budget {config.budget}",
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
