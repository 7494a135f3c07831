"""The first stage of ARMAP: let a policy act in an environment and record trajectories."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from armap.config import opt
from armap.envs.spec import EnvConfig
from armap.episode import rollout
from armap.errors import ConfigError
from armap.policy import AgentConfig, Policy, build_policy
from armap.rundir import RunDir
from armap.runner import Episode, RunnerConfig, Work, latest_records, make_episodes, run_episodes
from armap.types import EndReason, Trajectory

log = logging.getLogger(__name__)
TRAJECTORIES = "trajectories.jsonl"


@dataclass
class ExploreConfig:
    """What `armap explore` runs."""

    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    samples: int = opt(1, "Episodes per task.")
    temperature: float = opt(0.7, "Sampling temperature of the LLM policy (0 = greedy).")
    seed: int = opt(0, "Base seed; each episode's seed derives from it, the task and sample.")
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError("samples must be at least 1")


def explore(config: ExploreConfig, run_dir: str | Path, *, policy: Policy | None = None
            ) -> dict[str, Any]:
    """Run (or resume) exploration into ``run_dir``; returns a summary of the trajectories."""
    run = RunDir(run_dir)
    started = time.perf_counter()
    with run.running("explore", config, seed=config.seed) as summary:
        summary["env"] = config.env.spec()
        with config.env.make() as probe:
            tasks = config.env.tasks(probe, "train")
        episodes = make_episodes(tasks, config.samples, config.seed)
        with ExploreWork(config, policy) as work:
            if config.runner.in_process:
                work.prepare()
            skipped, ran = run_episodes(episodes, work, run.file(TRAJECTORIES),
                                        key=episode_key, executor=config.runner.make_executor(),
                                        desc="explore",
                                        failures=config.runner.failures(episode_failed))
        summary.update(summarize(run.file(TRAJECTORIES)), skipped=skipped, ran=ran,
                       seconds=round(time.perf_counter() - started, 2))
    return summary


class ExploreWork(Work[Episode, dict[str, Any]]):
    """One exploration episode: a rollout of the policy on its task, as a trajectory record.

    Args:
        config: The run's config; the policy is built from it on first use (once per process)
            unless ``policy`` is given (it must then be picklable to run in Ray actors).
    """

    def __init__(self, config: ExploreConfig, policy: Policy | None = None) -> None:
        super().__init__(config.env.make)
        self.config = config
        self.given_policy = policy

    def policy(self) -> Policy:
        """The given policy, or the config's, built once in this process."""
        if self.given_policy is not None:
            return self.given_policy
        env = self.config.env
        return self.shared("policy", lambda: build_policy(self.config.agent, env.family,
                                                          env.env_class.parse_action))

    def prepare(self) -> None:
        self.policy()

    def __call__(self, episode: Episode) -> dict[str, Any]:
        trajectory = rollout(self.env(), self.policy(), episode.task,
                             max_steps=self.config.env.max_steps,
                             temperature=self.config.temperature, seed=episode.seed,
                             meta={"episode": episode.key, "sample": episode.sample})
        return trajectory.to_dict()


def episode_key(record: dict[str, Any]) -> str:
    """The episode a trajectory record belongs to (``task#sample``)."""
    return str(record["meta"]["episode"])


def episode_failed(record: dict[str, Any]) -> bool:
    """Whether a trajectory record ended in an error (to be run again on resume)."""
    return record.get("end") == EndReason.ERROR.value


def latest_trajectories(path: Path) -> list[Trajectory]:
    """The latest record of each episode of a trajectories file."""
    return [Trajectory.from_dict(r) for r in latest_records(path, episode_key).values()]


def summarize(path: Path) -> dict[str, Any]:
    """Counts, success rate, mean steps and cost over a trajectories file (the latest record of
    each episode)."""
    return summarize_trajectories(latest_trajectories(path))


def summarize_trajectories(trajectories: list[Trajectory]) -> dict[str, Any]:
    """Counts, success rate, mean steps and cost over ``trajectories``."""
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
