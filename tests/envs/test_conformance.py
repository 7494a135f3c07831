"""Every registered environment passes the `Env` contract checks (`armap.envs.checker`)."""

import pytest

from armap.envs import envs, make
from armap.envs.checker import check_env
from armap.errors import ArmapError


@pytest.mark.parametrize("env_id", envs.ids())
def test_every_registered_env_passes_the_conformance_checks(env_id):
    try:
        e = make(env_id)
    except ArmapError as error:  # e.g. WebShop without its catalog
        pytest.skip(f"{env_id} cannot be built here: {error}")
    with e:
        for task in e.tasks("test")[:5]:
            check_env(e, task, episodes=10)
