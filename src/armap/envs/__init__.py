"""Environments: the `Env` contract, the registry, and `make`.

>>> from armap.envs import make
>>> with make("game24") as env:
...     task = env.tasks("test")[0]
...     observation = env.reset(task)
"""

from __future__ import annotations

from typing import Any

from armap.envs.base import Env, Snapshot
from armap.registry import Registry

envs: Registry[Env] = Registry("environment")
envs.register("game24-v0", "armap.envs.game24.env:Game24Env")
envs.register("webshop-v0", "armap.envs.webshop.env:WebShopEnv")
envs.register("scienceworld-v0", "armap.envs.scienceworld.env:ScienceWorldEnv")


def make(id: str, **kwargs: Any) -> Env:
    """Build the environment registered as ``id`` (``game24`` means its latest version)."""
    spec = envs.spec(id)
    env = envs.make(spec.id, **kwargs)
    env.id = spec.id
    return env


__all__ = ["Env", "Snapshot", "envs", "make"]
