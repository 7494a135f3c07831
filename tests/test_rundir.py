import json

import pytest

from armap.errors import RunDirError
from armap.explore import ExploreConfig
from armap.rundir import RunDir
from armap.runner import RunnerConfig

from .configs import random_explore


def test_manifest_records_config_versions_and_status(tmp_path):
    run = RunDir(tmp_path / "r")
    cfg = random_explore(3)
    assert run.start("explore", cfg, seed=5) is False
    m = run.read_manifest()
    assert m["status"] == "started"
    assert m["config"]["agent"]["policy"] == "random"
    assert m["config"]["agent"]["llm"]["llm"] == "local"
    assert m["config"]["env"] == {"env": "game24", "env_option": [], "split": None, "limit": 3,
                                  "max_steps": None}
    assert m["packages"]["torch"]
    assert m["seed"] == 5
    run.finish("success", summary={"n": 3})
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["status"] == "success" and m["summary"] == {"n": 3}
    assert m["attempts"][0]["status"] == "success"


def test_resume_allows_volatile_changes_and_refuses_others(tmp_path):
    run = RunDir(tmp_path / "r")
    run.start("explore", random_explore(3, runner=RunnerConfig(workers=1)))
    (tmp_path / "r" / "trajectories.jsonl").write_text('{"a": 1}\n')  # a finished record
    run.finish("interrupted")
    assert run.start("explore", random_explore(9, runner=RunnerConfig(workers=4))) is True
    assert len(run.read_manifest()["attempts"]) == 2
    with pytest.raises(RunDirError, match="differs in: temperature"):
        run.start("explore", random_explore(temperature=0.1))
    with pytest.raises(RunDirError, match="armap explore"):
        run.start("train", ExploreConfig())


def test_a_field_made_volatile_since_does_not_block_a_resume(tmp_path):
    run = RunDir(tmp_path / "r")
    run.start("explore", random_explore(3))
    (tmp_path / "r" / "trajectories.jsonl").write_text('{"a": 1}\n')
    manifest = run.read_manifest()
    manifest["resume_key"]["runner"]["old_knob"] = False  # recorded before it became volatile
    run._write(manifest)
    assert run.start("explore", random_explore(3)) is True


def test_resume_with_the_same_input_file_is_accepted_and_an_edited_one_refused(tmp_path):
    from dataclasses import dataclass

    from armap.config import opt

    @dataclass
    class WithInput:
        data: str = opt("", "an input file", input=True)

    data = tmp_path / "in.jsonl"
    data.write_text("a\n")
    run = RunDir(tmp_path / "r")
    run.start("verb", WithInput(str(data)))
    (tmp_path / "r" / "out.jsonl").write_text("record\n")
    assert run.start("verb", WithInput(str(data))) is True
    data.write_text("b\n")
    with pytest.raises(RunDirError, match=r"differs in: data \(its content changed\)"):
        run.start("verb", WithInput(str(data)))
