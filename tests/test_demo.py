"""The demo end to end, tiny: random policy, a few triplets, a short training run."""

import json

import pytest

from armap.demo import DemoConfig, run_demo
from armap.evaluate import RESULTS, load_results


@pytest.mark.slow
def test_demo_runs_every_stage_and_resumes_without_redoing_them(tmp_path):
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    outputs = [("4 4 6 8", "4 + 8 = 12 (left: 4 6 12)\n6 - 4 = 2 (left: 2 12)\n"
                "2 * 12 = 24 (left: 24)\nAnswer: (6 - 4) * (4 + 8) = 24"),
               ("4 4 6 8", "4 * 6 = 24 (left: 4 8 24)\nAnswer: 4 * 6 = 24"),
               ("1 1 4 6", "1 * 1 = 1 (left: 1 4 6)\n1 * 4 = 4 (left: 4 6)\n"
                "4 * 6 = 24 (left: 24)\nAnswer: (1 * 1) * 4 * 6 = 24"),
               ("2 9 10 12", "Answer: (12 * 2) * (10 - 9) = 24")]
    (recorded / "some-model.jsonl").write_text("".join(
        json.dumps({"puzzle": p, "text": t}) + "\n" for p, t in outputs))
    config = DemoConfig(policy="random", explore_tasks=2, explore_samples=2, triplets=48,
                        train_minutes=1.0, eval_tasks=2, budget=2, recorded=str(recorded))
    said: list[str] = []
    rows = run_demo(config, tmp_path, say=said.append)
    for stage in ("explore", "synthesize", "train", "eval", "rerank"):
        assert sum(line.startswith(f"{stage} done in ") for line in said) == 1, stage
    assert any(line.startswith("\nDemo done in ") for line in said)
    for stage in ("explore", "synthesize", "train", "eval", "rerank/some-model"):
        assert (tmp_path / stage / "manifest.json").exists()
    assert {r["method"] for r in rows["methods"]} == {"greedy", "sampling", "best_of_n",
                                                      "reflexion", "mcts"}
    assert len(load_results(tmp_path / "eval" / RESULTS)) == 2 * 5
    assert any("| mcts |" in line for line in said)
    # the last table: 3 puzzles, 4 outputs; the oracle solves 3 of 3, the mean is 2.5 / 3
    assert "| some-model.jsonl | 3 | 4 |" in said[-1] and "| 0.833 | 1.000 |" in said[-1]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "success"
    checkpoint = (tmp_path / "train" / "checkpoint" / "head.safetensors").stat().st_mtime_ns

    said.clear()
    again = run_demo(config, tmp_path, say=said.append)
    assert again["methods"] == rows["methods"]
    assert (tmp_path / "train" / "checkpoint" / "head.safetensors").stat().st_mtime_ns \
        == checkpoint
