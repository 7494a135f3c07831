"""Fixtures: the tiny hand-made catalog (written once per session) and the real 1k catalog."""

import pytest

from .tiny import REAL_DATA, write_tiny


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("webshop"))


@pytest.fixture(scope="session")
def real_dir():
    if not (REAL_DATA / "products_1k.jsonl").is_file():
        pytest.skip(f"the WebShop 1k catalog is not in {REAL_DATA.resolve()}")
    return REAL_DATA


@pytest.fixture
def real_env(real_dir):
    from armap.envs.webshop.env import WebShopEnv

    with WebShopEnv(data_dir=real_dir) as env:
        yield env
