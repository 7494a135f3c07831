"""The first stage of ARMAP: let a policy act in an environment and record trajectories."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from armap.config import check_choice, opt
from armap.envs import Env, make
from armap.episode import rollout
from armap.errors import ConfigError
from armap.llm import EMBEDDED_MODEL, LLMConfig, make_llm
from armap.policy import PROMPT_MODES, LLMPolicy, Policy, RandomPolicy
from armap.prompts import PromptPack
from armap.rundir import RunDir
from armap.runner import Episode, RunnerConfig, latest_records, make_episodes, run_episodes
from armap.types import EndReason, Trajectory

log = logging.getLogger(__name__)
TRAJECTORIES = "trajectories.jsonl"


@dataclass
class ExploreConfig:
    """What `armap explore` runs."""

    env: str = opt("game24", "Environment id (game24, game24-v0, ...).")
    policy: str = opt("llm", "Who acts: llm (an LLM with the env's prompt pack) or random "
                      "(uniform over the env's valid actions).")
    slip: float = opt(0.0, "Random policy: probability that a proposal repeats the previous "
                      "action (a realistic wasted step), so episodes vary in length.")
    split: str = opt("train", "Task split to explore: train or test.")
    limit: int | None = opt(None, "Explore only the first N tasks of the split.", volatile=True)
    samples: int = opt(1, "Episodes per task.")
    temperature: float = opt(0.7, "Sampling temperature of the LLM policy (0 = greedy).")
    max_steps: int | None = opt(None, "Step budget per episode (default: the env's).")
    prompt_mode: str = opt("auto", "Prompt pack mode: free (the LLM writes the action), "
                           "choice (the prompt lists valid actions) or auto (choice for the "
                           "embedded model, free otherwise).")
    puzzles: str | None = opt(None, "Game of 24: path to the ranked puzzle CSV (24.csv); its "
                              "rows 900-999 are the standard test split.", input=True)
    seed: int = opt(0, "Base seed; each episode's seed derives from it, the task and sample.")
    llm: LLMConfig = field(default_factory=LLMConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    def __post_init__(self) -> None:
        check_choice("policy", self.policy, ("llm", "random"))
        check_choice("split", self.split, ("train", "test"))
        check_choice("prompt_mode", self.prompt_mode, ("auto", *PROMPT_MODES))
        if self.samples < 1:
            raise ConfigError("samples must be at least 1")
        check_limit(self.limit)

    def resolved_prompt_mode(self) -> str:
        if self.prompt_mode != "auto":
            return self.prompt_mode
        return "choice" if self.llm.llm == "local" and self.llm.model == EMBEDDED_MODEL else "free"

    def env_kwargs(self) -> dict[str, Any]:
        return {"puzzles": self.puzzles} if self.puzzles else {}


def build_policy(config: ExploreConfig, env: Env) -> Policy:
    if config.policy == "random":
        return RandomPolicy(slip=config.slip)
    mode = config.resolved_prompt_mode()
    return LLMPolicy(make_llm(config.llm), PromptPack.load(env.id, mode), env.parse_action,
                     mode=mode, max_tokens=config.llm.max_tokens)  # type: ignore[arg-type]


def explore(config: ExploreConfig, run_dir: str | Path, *, policy: Policy | None = None
            ) -> dict[str, Any]:
    """Run (or resume) exploration into ``run_dir``; returns a summary of the trajectories."""
    run = RunDir(run_dir)
    started = time.perf_counter()
    with run.running("explore", config, seed=config.seed) as summary:
        with make(config.env, **config.env_kwargs()) as probe:
            tasks = probe.tasks(config.split)[: config.limit]
            policy = policy or build_policy(config, probe)
        episodes = make_episodes(tasks, config.samples, config.seed)
        local = threading.local()

        def work(episode: Episode) -> dict[str, Any]:
            if not hasattr(local, "env"):
                local.env = make(config.env, **config.env_kwargs())
            trajectory = rollout(local.env, policy, episode.task,
                                 max_steps=config.max_steps, temperature=config.temperature,
                                 seed=episode.seed,
                                 meta={"episode": episode.key, "sample": episode.sample})
            return trajectory.to_dict()

        skipped, ran = run_episodes(episodes, work, run.file(TRAJECTORIES), key=episode_key,
                                    executor=config.runner.executor(), desc="explore",
                                    failures=config.runner.failures(episode_failed))
        summary.update(summarize(run.file(TRAJECTORIES)), skipped=skipped, ran=ran,
                       seconds=round(time.perf_counter() - started, 2))
    return summary


def episode_key(record: dict[str, Any]) -> str:
    """The episode a trajectory record belongs to (``task#sample``)."""
    return str(record["meta"]["episode"])


def episode_failed(record: dict[str, Any]) -> bool:
    """Whether a trajectory record ended in an error (to be run again on resume)."""
    return record.get("end") == EndReason.ERROR.value


def check_limit(limit: int | None) -> None:
    """`ConfigError` unless ``limit`` is None or a positive task count."""
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1 (or left out for every task), not {limit}")


def summarize(path: Path) -> dict[str, Any]:
    """Counts, success rate, mean steps and cost over a trajectories file (the latest record of
    each episode)."""
    trajectories = [Trajectory.from_dict(r) for r in latest_records(path, episode_key).values()]
    n = len(trajectories)
    scored = [t.env_score for t in trajectories if t.env_score is not None]
    ends: dict[str, int] = {}
    for t in trajectories:
        ends[t.end.value] = ends.get(t.end.value, 0) + 1
    return {
        "trajectories": n,
        "tasks": len({t.task.id for t in trajectories}),
        "mean_score": round(sum(scored) / len(scored), 4) if scored else None,
        "solved": sum(1 for s in scored if s >= 1.0),
        "mean_steps": round(sum(len(t.steps) for t in trajectories) / n, 3) if n else None,
        "ends": ends,
        "llm_calls": sum(t.cost.llm_calls for t in trajectories),
        "completion_tokens": sum(t.cost.completion_tokens for t in trajectories),
    }
