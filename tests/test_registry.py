import subprocess
import sys

import pytest

from armap.envs import envs, make
from armap.errors import UnknownNameError
from armap.registry import Registry


def test_bare_name_resolves_to_latest_version():
    reg: Registry[object] = Registry("thing")
    reg.register("foo-v0", dict, version=0)
    reg.register("foo-v2", dict, version=2)
    reg.register("foo-v1", dict, version=1)
    assert reg.make("foo") == {"version": 2}
    assert reg.make("foo-v1") == {"version": 1}
    assert reg.make("foo-v1", version=7) == {"version": 7}


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean 'game24"):
        make("game42")
    with pytest.raises(UnknownNameError, match="Known:"):
        envs.spec("zzzzzz")


def test_make_sets_the_versioned_id():
    with make("game24") as env:
        assert env.id == "game24-v0"


def test_import_armap_loads_no_model_or_heavy_library():
    code = ("import sys, armap, armap.envs, armap.llm; "
            "print(sorted(m for m in ('torch', 'transformers', 'httpx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
