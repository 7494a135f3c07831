"""`armap import` and `armap rerank`: recorded LLM outputs become trajectories and are re-ranked."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from armap.envs.spec import EnvConfig
from armap.errors import ConfigError
from armap.jsonl import read_records
from armap.recorded import ImportConfig, import_outputs
from armap.rerank import RerankConfig, format_report, rerank
from armap.reward.base import OracleRewardModel
from armap.types import Trajectory

# Outputs as real LLMs write them, on the puzzle 4 4 8 13 (and one on 1 1 4 6).
GOOD = "Steps:\n13 - 8 = 5 (left: 4 4 5)\n5 * 4 = 20 (left: 4 20)\n20 + 4 = 24 (left: 24)\n" \
       "Answer: (13 - 8) * 4 + 4 = 24"
NUMBERED = "Let me solve it step by step.\n1. 4 + 8 = 12 (left: 4 12 13)\n" \
           "2. 13 - 12 = 1 (left: 1 4)\n3. 4 * 1 = 4 (left: 4)\nAnswer: (13 - (4 + 8)) * 4 = 4\n" \
           "I hope this helps!"
NO_ANSWER = "13 - 8 = 5 (left: 4 4 5)\n5 * 4 = 20 (left: 4 20)\nI cannot find a solution."
SLIP = "4 * 4 = 16 (left: 8 13 16)\n16 + 8 = 24 (left: 13 24)\n24 * 13 = 24 (left: 24)\n" \
       "Answer: 4 * 4 + 8 * 13 = 24"


def write_outputs(path: Path) -> Path:
    lines = [
        json.dumps({"puzzle": "4 4 8 13", "model": "m", "sample": 0, "text": GOOD, "correct": 1}),
        json.dumps({"puzzle": "13 8 4 4", "model": "m", "sample": 1, "text": NUMBERED,
                    "correct": 0}),
        json.dumps({"puzzle": "4 4 8 13", "model": "m", "sample": 2, "text": NO_ANSWER,
                    "correct": 0}),
        "{not json",
        json.dumps({"puzzle": "4 4 8 13", "sample": 3}),
        json.dumps({"puzzle": "0 0 0 0", "text": GOOD}),
        json.dumps({"puzzle": "4 4 8 13", "model": "m", "sample": 4, "text": SLIP, "correct": 0}),
        json.dumps({"task_id": "game24-1-1-4-6", "text": "Answer: 6 * 4 * 1 * 1 = 24"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def imported(tmp_path: Path) -> tuple[dict, list[Trajectory]]:
    source = write_outputs(tmp_path / "outputs.jsonl")
    summary = import_outputs(ImportConfig(input=str(source)), tmp_path / "run")
    trajectories = list(read_records(tmp_path / "run" / "trajectories.jsonl",
                                     Trajectory.from_dict, "trajectory"))
    return summary, trajectories


def test_outputs_are_parsed_and_played_as_a_policy_would(tmp_path):
    summary, trajectories = imported(tmp_path)
    by_line = {t.meta["episode"].split(":")[-1]: t for t in trajectories}
    assert sorted(by_line) == ["1", "2", "3", "7", "8"]
    good, numbered, no_answer, slip, other = (by_line[k] for k in ("1", "2", "3", "7", "8"))
    assert good.env_score == 1.0 and good.end.value == "finished"
    assert good.actions[-1] == "Answer: (13 - 8) * 4 + 4 = 24"
    assert good.meta["unparsed"] == ["Steps:"]
    assert good.steps[0].observation == "Left: 4 4 5"  # real observations, not the text's claims
    assert good.meta["recorded"] == {"puzzle": "4 4 8 13", "model": "m", "sample": 0,
                                     "correct": 1}
    # numbered steps and prose around them: the steps are read, the prose kept aside
    assert numbered.actions[0] == "4 + 8 = 12 (left: 4 12 13)"
    assert numbered.meta["unparsed"] == ["Let me solve it step by step.", "I hope this helps!"]
    assert numbered.env_score == 0.0
    assert numbered.task.id == good.task.id  # the puzzle in another order is the same task
    # no answer: the steps are played, the episode never finishes
    assert no_answer.end.value == "step_limit" and no_answer.env_score == 0.0
    assert len(no_answer.steps) == 2
    # a slip that lands on 24 is what the environment records, but the checker fails it
    assert slip.steps[-2].observation == "Left: 24" and slip.env_score == 0.0
    assert other.task.id == "game24-1-1-4-6" and other.env_score == 1.0
    # unreadable records are reported with their line, not fatal
    assert summary["unreadable_records"] == 3
    problems = {p["line"]: p["problem"] for p in summary["problems"]}
    assert "not a JSON record" in problems[4]
    assert "no text field 'text'" in problems[5]
    assert "'0 0 0 0' is not a task of game24-v0" in problems[6]
    assert summary["recorded_labels"] == {"field": "correct", "records": 4, "agree": 4}


def test_import_resumes_and_takes_field_names(tmp_path):
    source = write_outputs(tmp_path / "outputs.jsonl")
    import_outputs(ImportConfig(input=str(source)), tmp_path / "run")
    again = import_outputs(ImportConfig(input=str(source)), tmp_path / "run")
    assert (again["ran"], again["skipped"]) == (0, 5)
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text(json.dumps({"numbers": "4 4 8 13", "output": GOOD}) + "\n")
    summary = import_outputs(ImportConfig(input=str(renamed), task_field="numbers",
                                          text_field="output"), tmp_path / "run2")
    assert summary["solved"] == 1
    with pytest.raises(ConfigError, match="no record could be imported"):
        import_outputs(ImportConfig(input=str(renamed)), tmp_path / "run3")
    with pytest.raises(ConfigError, match="--split does not apply"):
        ImportConfig(env=EnvConfig(split="test"))


def test_rerank_reports_pick_oracle_and_mean_for_each_n(tmp_path):
    imported(tmp_path)
    path = tmp_path / "run" / "trajectories.jsonl"
    report = rerank(RerankConfig(input=str(path), n="1,2,all"), OracleRewardModel())
    rows = {r["n"]: r for r in report["rows"]}
    # 4 4 8 13 has four trajectories (1 correct, first in the file); 1 1 4 6 has one (correct)
    assert report["tasks"] == 2 and report["trajectories"] == 5
    assert rows["all"]["oracle"] == 1.0 and rows["all"]["pick"] == 1.0
    assert rows["all"]["mean"] == pytest.approx((0.25 + 1.0) / 2)
    assert rows[1]["mean"] == 1.0 and rows[2]["mean"] == pytest.approx((0.5 + 1.0) / 2)
    assert json.loads((tmp_path / "run" / "trajectories.rerank.json").read_text()) == report

    class Contrary:  # prefers the worst trajectory: its picks fail, with a better one there
        def score(self, instruction, trajectories):
            return [-(t.env_score or 0.0) for t in trajectories]

    report = rerank(RerankConfig(input=str(path), n="all"), Contrary())
    row = report["rows"][0]
    assert row["pick"] == 0.5 and row["pick_over_oracle"] == 0.5
    assert sum(c["better_available"] for c in row["wrong_picks"].values()) == 1
    assert set(row["wrong_picks"]) <= {"not_24", "broken_format", "wrong_arithmetic"}
    assert "| all | 0.500 | 1.000 |" in format_report(report)


def test_rerank_rejects_bad_counts():
    for bad in ("0", "ten", ""):
        with pytest.raises(ConfigError, match="--n"):
            RerankConfig(n=bad)


def test_import_and_rerank_on_the_command_line(tmp_path):
    source = write_outputs(tmp_path / "outputs.jsonl")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "armap.cli", *args], capture_output=True,
                              text=True, timeout=120)

    out = cli("import", "--input", str(source), "--run-dir", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    assert "Wrote 5 trajectories" in out.stdout and "3 records skipped" in out.stdout
    assert "outputs.jsonl:4 skipped: not a JSON record" in out.stderr
    out = cli("rerank", "--rm", "oracle", "--input", str(tmp_path / "run" / "trajectories.jsonl"))
    assert out.returncode == 0, out.stderr
    assert "| all | 1.000 | 1.000 |" in out.stdout
    out = cli("import", "--input", str(tmp_path / "nope.jsonl"), "--run-dir", str(tmp_path / "x"))
    assert out.returncode == 2 and "nope.jsonl does not exist" in out.stderr
