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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from armap.config import opt
from armap.console import number, progress
from armap.envs.spec import EnvConfig
from armap.errors import MissingFileError
from armap.policy import explorers
from armap.rundir import RunDir
from armap.shared_data import shared_data_candidates


@dataclass(frozen=True)
class DemoSizes:
    """How big each stage of the demo is."""

    explore_tasks: int
    explore_samples: int
    triplets: int
    train_minutes: float
    eval_tasks: int
    budget: int
    recorded_tasks: int = 0
    """Tasks per recorded-output file that the trained reward model re-ranks at the end (0:
    no such stage)."""


DEMO_SIZES: dict[str, DemoSizes] = {
    # The embedded LLM explores 4 puzzles; the rule catalogue fills the triplets.
    "game24": DemoSizes(explore_tasks=4, explore_samples=2, triplets=3000, train_minutes=2.0,
                        eval_tasks=6, budget=4, recorded_tasks=60),
    # The heuristic explorer needs no LLM, so it shops for 300 train goals; relabeling turns
    # the purchases into triplets, and pages need a longer (slower) reward-model input.
    "webshop": DemoSizes(explore_tasks=300, explore_samples=2, triplets=3000, train_minutes=5.0,
                         eval_tasks=4, budget=3),
}
"""The demo's sizes per environment family (each sized for two CPU cores); a family without
an entry uses Game of 24's."""


@dataclass
class DemoConfig:
    """The demo: which environment, and the sizes of its stages (each left out takes the
    environment's `DEMO_SIZES`: about 4 minutes for Game of 24, about 15 for WebShop, on 2 CPU
    cores with the llama.cpp engine)."""

    explore_tasks: int | None = opt(None, "Train tasks explored (default for this and the "
                                    "sizes below: the environment's demo size).")
    explore_samples: int | None = opt(None, "Episodes per explored task.")
    triplets: int | None = opt(None, "Most triplets synthesized for training.")
    train_minutes: float | None = opt(None, "Reward-model training budget in minutes.")
    eval_tasks: int | None = opt(None, "Test tasks evaluated.")
    budget: int | None = opt(None, "Complete trajectories per task for each planner.")
    recorded_tasks: int | None = opt(None, "Tasks of each recorded-output file re-ranked at "
                                     "the end (see --recorded; 0: skip that stage).")
    policy: str = opt("llm", "Policy evaluated by the planners: llm or random.")
    explore_policy: str = opt("auto", "Explorer: llm, random, an environment's own explorer "
                              "(webshop: heuristic), or auto (the environment's heuristic "
                              "explorer if it has one, else the evaluated policy).")
    env: str = opt("game24", "Environment: game24 or webshop (`armap envs` lists them).")
    env_option: list[str] = opt([], "Environment option KEY=VALUE, repeatable (e.g. "
                                "puzzles=../shared/data/game24/24.csv for the standard split).",
                                input=True)
    recorded: str = opt("auto", "Recorded outputs of real LLMs that the trained reward model "
                        "re-ranks at the end (a folder of JSONL files as `armap import` reads "
                        "them); auto: ../shared/data/game24/real_llm for Game of 24 when it is "
                        "there (next to the current directory or the checkout); none: skip.",
                        input=True)
    seed: int = opt(0, "Seed of every stage.")
    threads: int = opt(0, "CPU threads of the embedded LLM; 0: the physical cores available "
                       "(on a CPU that other work keeps busy, fewer can be faster).",
                       volatile=True)

    def resolved_explore_policy(self) -> str:
        if self.explore_policy != "auto":
            return self.explore_policy
        family = EnvConfig(env=self.env).family
        own = [i.split(".", 1)[1] for i in explorers.ids() if i.startswith(family + ".")]
        return "heuristic" if "heuristic" in own else self.policy

    def sizes(self) -> DemoSizes:
        """The stage sizes: those given, the environment's demo sizes for the rest."""
        preset = DEMO_SIZES.get(EnvConfig(env=self.env).family, DEMO_SIZES["game24"])
        return DemoSizes(**{f.name: getattr(self, f.name) if getattr(self, f.name) is not None
                            else getattr(preset, f.name) for f in fields(DemoSizes)})

    def recorded_files(self) -> list[Path]:
        """The JSONL files of recorded outputs to re-rank (none for ``recorded=none``, or for
        ``auto`` when the environment has no such set or it is not there)."""
        if self.recorded == "none":
            return []
        if self.recorded != "auto":
            folder = Path(self.recorded)
            if not folder.is_dir():
                raise MissingFileError(f"--recorded {folder} is not a folder")
            return sorted(folder.glob("*.jsonl"))
        if EnvConfig(env=self.env).family != "game24":
            return []
        for folder in shared_data_candidates("game24", "real_llm"):
            if folder.is_dir():
                return sorted(folder.glob("*.jsonl"))
        return []

    def env_config(self, limit: int | None, split: str) -> EnvConfig:
        return EnvConfig(env=self.env, env_option=list(self.env_option), limit=limit,
                         split=split)


Say = Callable[[str], None]


def run_demo(config: DemoConfig, run_dir: str | Path, say: Say = print) -> dict[str, Any]:
    """Run or resume the demo; returns the evaluation rows.

    ``say`` gets one line as the demo starts and one as each stage ends, then the closing
    "Demo done" line, the method table and (with recorded outputs) the re-ranking table; the
    stages draw their progress bars on stderr.
    """
    from armap.evaluate import EvalConfig, evaluate, method_table
    from armap.explore import ExploreConfig, explore
    from armap.llm import LLMConfig
    from armap.policy import AgentConfig
    from armap.reward.config import RewardTrainConfig
    from armap.reward.train import train
    from armap.synth import SynthConfig, synthesize

    root = Path(run_dir)
    timings: dict[str, float] = {}
    begun = time.perf_counter()

    def stage(name: str, fn: Callable[[], Any], result: Callable[[Any], str]) -> Any:
        started = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - started, 1)
        say(f"{name} done in {timings[name]:.0f} s: {result(out)}")
        return out

    size = config.sizes()
    files = config.recorded_files() if size.recorded_tasks else []
    say(f"armap demo on {config.env} in {root}: explore, synthesize, train, eval"
        f"{', rerank' if files else ''} (a finished stage is kept)")
    llm = LLMConfig(threads=config.threads)
    with RunDir(root).running("demo", config, seed=config.seed) as summary:
        summary["timings"] = timings
        agent = AgentConfig(policy=config.policy, llm=llm)
        explorer = AgentConfig(policy=config.resolved_explore_policy(), llm=llm)
        stage("explore",
              lambda: explore(ExploreConfig(env=config.env_config(size.explore_tasks, "train"),
                                            agent=explorer, samples=size.explore_samples,
                                            seed=config.seed), root / "explore"),
              lambda s: f"the {explorer.policy} policy solved {s['solved']} of "
                        f"{s['trajectories']} episodes ({size.explore_tasks} train tasks x "
                        f"{size.explore_samples}), mean score {number(s['mean_score'])}")
        synth_config = SynthConfig(env=config.env_config(None, "train"), count=size.triplets,
                                   seed=config.seed,
                                   trajectories=str(root / "explore" / "trajectories.jsonl"))
        stage("synthesize", lambda: synthesize(synth_config, root / "synthesize"),
              lambda s: f"{s['triplets']} triplets ({synth_config.strategy_id} and the "
                        f"explorer's episodes), {len(s['negative_types'])} negative types")
        stage("train",
              lambda: _train_once(train, RewardTrainConfig(time_budget_minutes=size.train_minutes,
                                                           seed=config.seed),
                                  root / "synthesize" / "triplets.jsonl", root / "train"),
              lambda s: f"MiniLM reward model ({size.train_minutes:g}-minute budget), held-out "
                        f"pairwise accuracy {number(s.get('val_accuracy'))}")
        eval_config = EvalConfig(env=config.env_config(size.eval_tasks, "test"), agent=agent,
                                 budget=size.budget, rm=str(root / "train" / "checkpoint"),
                                 seed=config.seed)
        evaluated = stage(
            "eval", lambda: evaluate(eval_config, root / "eval"),
            lambda s: f"{len(s['methods'])} methods on {size.eval_tasks} test tasks, budget "
                      f"{size.budget}: " + ", ".join(f"{r['method']} {r['score']:.3f}"
                                                     for r in s["methods"]))
        summary["methods"] = evaluated["methods"]
        rows = []
        if files:
            rows = stage(
                "rerank", lambda: rerank_recorded(files, config.env_config(size.recorded_tasks,
                                                                            None),
                                                   root / "train" / "checkpoint",
                                                   root / "rerank"),
                lambda r: f"the reward model picked among real LLMs' recorded outputs (first "
                          f"{size.recorded_tasks} puzzles of each of {len(r)} files)")
            summary["rerank"] = rows
        spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
        say(f"\nDemo done in {time.perf_counter() - begun:.0f} s ({spent}); each stage's files "
            f"are in {root}/STAGE, the report in {root / 'eval' / 'report.md'}\n")
        say("\n".join(method_table(evaluated["methods"])))
        if rows:
            say("\n" + format_recorded(rows))
    return evaluated


def rerank_recorded(files: list[Path], env: EnvConfig, rm: Path, root: Path
                     ) -> list[dict[str, Any]]:
    """Import each file of recorded outputs and re-rank all of a task's outputs with ``rm``."""
    from armap.recorded import ImportConfig, import_outputs
    from armap.rerank import RerankConfig, rerank
    from armap.reward.base import load_reward_model

    reward = load_reward_model(str(rm))
    rows = []
    with progress(total=len(files), desc="rerank", unit="file") as bar:
        for path in files:
            out = root / path.stem
            import_outputs(ImportConfig(env=env, input=str(path)), out)
            report = rerank(RerankConfig(rm=str(rm), input=str(out / "trajectories.jsonl"),
                                         n="all"), reward)
            rows.append({"file": path.name, "tasks": report["tasks"],
                         "outputs": report["trajectories"], **report["rows"][-1]})
            bar.update(1)
    return rows


def format_recorded(rows: list[dict[str, Any]]) -> str:
    """The demo's last table: per recorded file, the reward model's pick against the mean of
    the outputs (what one sample gets) and the best of them (the oracle)."""
    lines = ["| recorded outputs | puzzles | outputs | RM pick | mean of the outputs | oracle |"
             " pick / oracle |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = "-" if r["pick_over_oracle"] is None else f"{r['pick_over_oracle']:.2f}"
        lines.append(f"| {r['file']} | {r['tasks']} | {r['outputs']} | {r['pick']:.3f} | "
                     f"{r['mean']:.3f} | {r['oracle']:.3f} | {ratio} |")
    return "\n".join(lines)


def _train_once(train: Callable[..., dict[str, Any]], config: Any, triplets: Path,
                run_dir: Path) -> dict[str, Any]:
    """Train unless a finished checkpoint from the same config is already there."""
    run = RunDir(run_dir)
    if (run_dir / "checkpoint" / "config.json").exists() and run.manifest_path.exists():
        manifest = run.read_manifest()
        if manifest.get("status") == "success":
            return dict(manifest.get("summary") or {})
    return train(config, triplets, run_dir)
