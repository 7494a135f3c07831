"""`EnvConfig`: which environment, with which options, and which of its tasks.

Every verb that runs episodes composes one `EnvConfig`, so environment choice looks the same
everywhere: ``--env webshop --env-option data_dir=/data/webshop --split test --limit 100``.
An environment's options are the keyword arguments of its class; `EnvConfig` checks them
against that signature (unknown names get a "did you mean", values are parsed to the declared
types), and the env itself validates the values when it is built. The resolved spec (the
versioned id and the parsed options) goes into every run manifest, so `make` rebuilds the same
environment from it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache
from typing import Any

from armap.config import keyword_options, opt, parse_kv_options
from armap.envs import Env, envs, make
from armap.errors import ConfigError
from armap.types import Task


@dataclass
class EnvConfig:
    """The environment and the tasks a run uses."""

    env: str = opt("game24", "Environment id: game24, webshop, ... (or a versioned id such as "
                   "game24-v0); `armap envs` lists them with their options and splits.")
    env_option: list[str] = opt([], "Environment option KEY=VALUE, repeatable, e.g. "
                                "puzzles=../shared/data/game24/24.csv; `armap envs` lists "
                                "each environment's options.", input=True)
    split: str | None = opt(None, "Task split (default: train to explore and synthesize, test "
                            "to evaluate); each environment declares its splits.")
    limit: int | None = opt(None, "Use only the first N tasks of the split.", volatile=True)
    max_steps: int | None = opt(None, "Step budget per episode (default: the environment's).")

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be at least 1 (or left out for every task), not "
                              f"{self.limit}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, not {self.max_steps}")
        self.options  # noqa: B018 -- validate the id and the options now, not at first use

    @property
    def id(self) -> str:
        """The registered, versioned id (``game24`` -> ``game24-v0``)."""
        return envs.spec(self.env).id

    @property
    def family(self) -> str:
        """The id without its version (``game24``): prompt packs and synthesis go by it."""
        return envs.spec(self.env).name

    @property
    def env_class(self) -> type[Env]:
        return env_class(self.id)

    @property
    def options(self) -> dict[str, Any]:
        """The parsed ``env_option`` values, checked against the environment's signature."""
        return parse_options(self.id, self.env_option)

    def spec(self) -> dict[str, Any]:
        """``{"id", "options"}``: what `make` needs to rebuild this environment."""
        return {"id": self.id, "options": self.options}

    def make(self) -> Env:
        """A new environment instance (the caller closes it), with ``max_steps`` as its step
        budget when set."""
        env = make(self.id, **self.options)
        if self.max_steps is not None:
            env.max_steps = self.max_steps
        return env

    def resolved_split(self, default: str) -> str:
        return self.split or default

    def tasks(self, env: Env, default_split: str) -> list[Task]:
        """The first ``limit`` tasks of the split, checked against the env's splits."""
        split = self.resolved_split(default_split)
        if split not in env.splits:
            raise ConfigError(f"{self.id} has no split {split!r}; its splits: "
                              f"{', '.join(env.splits)}")
        return env.tasks(split)[: self.limit]


@cache
def env_class(id: str) -> type[Env]:
    """The class registered for ``id`` (imports its module, builds nothing)."""
    cls = envs.spec(id).load()
    if not (isinstance(cls, type) and issubclass(cls, Env)):
        raise ConfigError(f"environment {id!r} is registered to {cls!r}, not an Env class")
    return cls


def env_options(id: str) -> dict[str, inspect.Parameter]:
    """The keyword options of environment ``id`` (its constructor's parameters), but
    ``max_steps``: the step budget is `EnvConfig.max_steps` (``--max-steps``)."""
    return {k: v for k, v in keyword_options(env_class(id)).items() if k != "max_steps"}


def parse_options(id: str, items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to keyword arguments of environment ``id``, typed by its
    signature. Raises `ConfigError` for bad syntax, unknown keys and unparsable values."""
    if any(item.partition("=")[0].strip().replace("-", "_") == "max_steps" for item in items):
        raise ConfigError("the step budget is not an env option: use --max-steps")
    return parse_kv_options(env_class(id), items, f"option of {id}")


def describe_envs() -> list[dict[str, Any]]:
    """Every registered environment with its splits, default step budget and options (for
    `armap envs`)."""
    out = []
    for id in envs.ids():
        cls = env_class(id)
        doc = inspect.getdoc(cls) or ""
        options = [{"name": name, "default": None if p.default is p.empty else p.default}
                   for name, p in env_options(id).items()]
        out.append({"id": id, "splits": list(cls.splits), "max_steps": cls.max_steps,
                    "summary": doc.splitlines()[0] if doc else "", "options": options})
    return out
