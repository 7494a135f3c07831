"""Every registered environment passes the `Env` contract checks (`armap.envs.checker`)."""

import pytest

from armap.envs import envs, make
from armap.envs.checker import check_env
from armap.errors import ArmapError

SMALL = {"scienceworld-v0": (1, 2, 10)}
"""Envs checked on fewer tasks, episodes and steps: (tasks, episodes, step budget). A
ScienceWorld step runs its Java simulator (about 8 steps/s with the valid-action list);
tests/envs/test_scienceworld.py checks it further."""


@pytest.mark.parametrize("env_id", envs.ids())
def test_every_registered_env_passes_the_conformance_checks(env_id):
    try:
        e = make(env_id)
    except ArmapError as error:  # e.g. WebShop without its catalog
        pytest.skip(f"{env_id} cannot be built here: {error}")
    tasks, episodes, max_steps = SMALL.get(env_id, (5, 10, None))
    if max_steps is not None:
        e.max_steps = max_steps
    with e:
        for task in e.tasks("test")[:tasks]:
            check_env(e, task, episodes=episodes)
