"""The demo end to end, tiny: random policy, a few triplets, a short training run."""

import json

import pytest

from armap.demo import DemoConfig, run_demo
from armap.evaluate import RESULTS, load_results


@pytest.mark.slow
def test_demo_runs_every_stage_and_resumes_without_redoing_them(tmp_path):
    config = DemoConfig(policy="random", explore_tasks=2, explore_samples=2, triplets=48,
                        train_minutes=1.0, eval_tasks=2, budget=2)
    said: list[str] = []
    rows = run_demo(config, tmp_path, say=said.append)
    for stage in ("explore", "synthesize", "train", "eval"):
        assert any(line.startswith(f"\n== {stage}:") for line in said), stage
        assert (tmp_path / stage / "manifest.json").exists()
    assert {r["method"] for r in rows["methods"]} == {"greedy", "sampling", "best_of_n",
                                                      "reflexion", "mcts"}
    assert len(load_results(tmp_path / "eval" / RESULTS)) == 2 * 5
    assert "| mcts |" in said[-1]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "success"
    checkpoint = (tmp_path / "train" / "checkpoint" / "head.safetensors").stat().st_mtime_ns

    said.clear()
    again = run_demo(config, tmp_path, say=said.append)
    assert again["methods"] == rows["methods"]
    assert (tmp_path / "train" / "checkpoint" / "head.safetensors").stat().st_mtime_ns \
        == checkpoint
