import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from armap.errors import RunFailedError
from armap.explore import TRAJECTORIES, explore
from armap.jsonl import read_jsonl
from armap.policy import RandomPolicy
from armap.runner import RunnerConfig
from armap.types import EndReason, Trajectory

from .configs import random_explore


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_random_exploration_writes_every_episode_and_resume_redoes_nothing(tmp_path):
    cfg = random_explore(5, samples=2, runner=RunnerConfig(workers=2))
    summary = explore(cfg, tmp_path)
    assert summary["trajectories"] == 10 and summary["ran"] == 10
    before = lines(tmp_path / TRAJECTORIES)
    records = [Trajectory.from_dict(json.loads(x)) for x in before]
    assert {r.meta["episode"] for r in records} == {
        f"{t}#{k}" for t in {r.task.id for r in records} for k in (0, 1)}
    assert all(r.end is EndReason.FINISHED and len(r.steps) == 4 for r in records)
    again = explore(cfg, tmp_path)
    assert (again["ran"], again["skipped"]) == (0, 10)
    assert lines(tmp_path / TRAJECTORIES) == before
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "success" and len(manifest["attempts"]) == 2


class InterruptingPolicy(RandomPolicy):
    """Acts randomly, then simulates Ctrl-C after a number of proposals."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.left = after

    def propose(self, *args, **kwargs):
        self.left -= 1
        if self.left < 0:
            raise KeyboardInterrupt
        return super().propose(*args, **kwargs)


def test_interrupted_run_keeps_finished_episodes_and_resumes(tmp_path):
    cfg = random_explore(4, samples=2)
    with pytest.raises(KeyboardInterrupt):
        explore(cfg, tmp_path, policy=InterruptingPolicy(after=10))
    kept = lines(tmp_path / TRAJECTORIES)
    assert len(kept) == 2  # 4 steps per episode: 2 finished before the interrupt
    assert json.loads((tmp_path / "manifest.json").read_text())["status"] == "interrupted"
    summary = explore(cfg, tmp_path)
    assert (summary["skipped"], summary["ran"], summary["trajectories"]) == (2, 6, 8)
    assert lines(tmp_path / TRAJECTORIES)[:2] == kept


def test_llm_errors_are_recorded_as_failed_episodes(tmp_path):
    class Broken(RandomPolicy):
        name = "broken"

        def propose(self, *args, **kwargs):
            raise ConnectionError("server went away")

    with pytest.raises(RunFailedError, match="all 2 episodes run failed"):
        explore(random_explore(2), tmp_path, policy=Broken())
    records = [Trajectory.from_dict(r) for r in read_jsonl(tmp_path / TRAJECTORIES)]
    assert [r.end for r in records] == [EndReason.ERROR] * 2
    assert all(r.error == "ConnectionError: server went away" for r in records)
    assert json.loads((tmp_path / "manifest.json").read_text())["status"] == "error"


def test_cli_reports_bad_options_without_a_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "armap.cli", "explore", "--policy", "smart",
                          "--run-dir", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "policy='smart' is not one of: llm, random" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_killed_llm_exploration_resumes_without_losing_or_redoing_episodes(tmp_path):
    """The acceptance command: the embedded LLM, 10 tasks x 2 samples, SIGKILL midway."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "armap.cli", "explore", "--env", "game24", "--policy", "llm",
           "--limit", "10", "--samples", "2", "--run-dir", str(run_dir)]
    out = run_dir / TRAJECTORIES
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and len(out.read_bytes().splitlines()) >= 4:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [line for line in out.read_text().splitlines(keepends=True)
              if line.endswith("\n")]
    assert 4 <= len(before) < 20

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    after = out.read_text().splitlines(keepends=True)
    assert after[: len(before)] == before  # finished episodes kept byte for byte
    keys = [json.loads(x)["meta"]["episode"] for x in after]
    assert len(keys) == len(set(keys)) == 20
    summary = json.loads((run_dir / "manifest.json").read_text())["summary"]
    assert summary["skipped"] == len(before) and summary["ran"] == 20 - len(before)
    assert summary["llm_calls"] > 0
