"""Short ways to write the configs tests use most: Game of 24 with the random policy."""

from pathlib import Path

from armap.envs.spec import EnvConfig
from armap.evaluate import EvalConfig
from armap.explore import ExploreConfig
from armap.policy import AgentConfig


def game24(limit: int | None = None, *, puzzles: str | Path | None = None) -> EnvConfig:
    return EnvConfig(limit=limit, env_option=[f"puzzles={puzzles}"] if puzzles else [])


def random_explore(limit: int | None = None, *, puzzles: str | Path | None = None,
                   **kw) -> ExploreConfig:
    return ExploreConfig(env=game24(limit, puzzles=puzzles), agent=AgentConfig(policy="random"),
                         **kw)


def random_eval(limit: int | None = None, **kw) -> EvalConfig:
    return EvalConfig(env=game24(limit), agent=AgentConfig(policy="random"), **kw)
