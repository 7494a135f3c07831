"""What a run does when things go wrong: a dead or hung LLM server, Ctrl-C, damaged inputs,
two writers, wrong options and credentials in URLs. Servers are real, on 127.0.0.1."""

import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from armap.envs.spec import EnvConfig
from armap.errors import ConfigError, MissingFileError, RunDirError, RunFailedError
from armap.evaluate import EvalConfig
from armap.explore import TRAJECTORIES, ExploreConfig, explore
from armap.jsonl import read_jsonl
from armap.llm import LLMConfig
from armap.policy import AgentConfig
from armap.rundir import RunDir
from armap.runner import RunnerConfig
from armap.types import EndReason, Trajectory

from .configs import random_explore
from .llm.fault_server import FaultServer

SHARED_CSV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "game24" / "24.csv"


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openai_config(base_url: str, limit: int, **kw) -> ExploreConfig:
    llm = LLMConfig(llm="openai", model="fault", base_url=base_url, max_retries=0, timeout=5.0)
    return ExploreConfig(env=EnvConfig(limit=limit), agent=AgentConfig(policy="llm", llm=llm),
                         **kw)


def cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "armap.cli", *args], capture_output=True,
                          text=True, timeout=timeout, **kw)


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    """The run failed with exit code 2 and ended with one 'error:' line, no traceback (a
    progress bar may come before it)."""
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], out.stderr
    assert all("ep/s" in x or x.startswith(("error: ", "WARNING")) for x in lines), out.stderr
    return errors[0]


# -- 1. failed episodes are retried on resume; a dead server stops the run early ---------------
def test_episodes_that_failed_on_a_dead_server_are_redone_on_resume(tmp_path):
    port = free_port()
    config = openai_config(f"http://127.0.0.1:{port}/v1", limit=2)
    with pytest.raises(RunFailedError, match="all 2 episodes run failed"):
        explore(config, tmp_path)
    assert RunDir(tmp_path).read_manifest()["status"] == "error"
    first = [Trajectory.from_dict(r) for r in read_jsonl(tmp_path / TRAJECTORIES)]
    assert [t.end for t in first] == [EndReason.ERROR] * 2  # kept for the record
    with FaultServer(port=port):  # the server is up now, at the same address
        summary = explore(config, tmp_path)
    assert (summary["ran"], summary["skipped"]) == (2, 0)
    assert summary["trajectories"] == 2 and "error" not in summary["ends"]
    assert len(list(read_jsonl(tmp_path / TRAJECTORIES))) == 4  # 2 failed + 2 redone
    again = explore(config, tmp_path)  # nothing left to do
    assert (again["ran"], again["skipped"]) == (0, 2)


def test_no_retry_errors_keeps_failed_episodes(tmp_path):
    config = openai_config(f"http://127.0.0.1:{free_port()}/v1", limit=2)
    with pytest.raises(RunFailedError):
        explore(config, tmp_path)
    config.runner.retry_errors = False
    summary = explore(config, tmp_path)
    assert (summary["ran"], summary["skipped"], summary["ends"]) == (0, 2, {"error": 2})


def test_consecutive_backend_failures_stop_the_run_early(tmp_path):
    config = openai_config(f"http://127.0.0.1:{free_port()}/v1", limit=30,
                           runner=RunnerConfig(max_consecutive_failures=3))
    started = time.monotonic()
    with pytest.raises(RunFailedError, match="stopped early: 3 episodes in a row failed"):
        explore(config, tmp_path)
    assert time.monotonic() - started < 20
    assert len(list(read_jsonl(tmp_path / TRAJECTORIES))) == 3


def test_cli_exits_non_zero_when_every_episode_failed(tmp_path):
    out = cli("explore", "--policy", "llm", "--llm", "openai", "--model", "m", "--base-url",
              f"http://127.0.0.1:{free_port()}/v1", "--max-retries", "0", "--limit", "2",
              "--run-dir", str(tmp_path))
    line = one_line_error(out)
    assert "all 2 episodes run failed" in line and "ConnectError" in line


# -- 2. the first Ctrl-C stops a hung request ------------------------------------------------
def test_first_ctrl_c_stops_a_hung_request_within_seconds(tmp_path):
    with FaultServer(["timeout"] * 20, timeout_sleep=60) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "armap.cli", "explore", "--policy", "llm", "--llm",
             "openai", "--model", "m", "--base-url", server.base_url, "--timeout", "60",
             "--limit", "3", "--run-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # A shell that started the test run in the background (`cmd &`) passes SIGINT down
            # ignored; the CLI, like any program, keeps an inherited SIG_IGN. Start it as a
            # terminal would.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 30
        while server.count == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.count == 1, "the request never reached the server"
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        try:
            _, err = proc.communicate(timeout=10)
        finally:
            proc.kill()
        assert time.monotonic() - sent < 5
    assert proc.returncode == 130
    assert "finished records are kept; re-run the same command to resume" in err
    assert RunDir(tmp_path).read_manifest()["status"] == "interrupted"


# -- 4. score refuses to overwrite its input --------------------------------------------------
def test_score_refuses_to_write_over_its_input(tmp_path):
    data = tmp_path / "t.jsonl"
    explore(random_explore(1), tmp_path / "run")
    shutil.copy(tmp_path / "run" / TRAJECTORIES, data)
    before = data.read_bytes()
    line = one_line_error(cli("score", "--input", str(data), "--output", str(data)))
    assert "is the input file" in line
    assert data.read_bytes() == before


# -- 5. user errors: one line naming the file and the line, exit code 2 ----------------------
@pytest.fixture
def trajectories_file(tmp_path) -> Path:
    explore(random_explore(3), tmp_path / "run")
    return tmp_path / "run" / TRAJECTORIES


def test_a_non_utf8_byte_names_the_file_and_line(tmp_path, trajectories_file):
    bad = tmp_path / "bad.jsonl"
    lines = trajectories_file.read_bytes().splitlines(keepends=True)
    bad.write_bytes(lines[0] + lines[1][:20] + b"\xff" + lines[1][20:])
    line = one_line_error(cli("synthesize", "--trajectories", str(bad), "--count", "5",
                              "--run-dir", str(tmp_path / "s")))
    assert f"{bad}:2: not UTF-8 text" in line


def test_a_record_of_the_wrong_shape_names_the_line_and_the_field(tmp_path, trajectories_file):
    bad = tmp_path / "shape.jsonl"
    records = [json.loads(x) for x in trajectories_file.read_text().splitlines()]
    del records[2]["task"]
    bad.write_text("".join(json.dumps(r) + "\n" for r in records))
    line = one_line_error(cli("score", "--input", str(bad)))
    assert f"{bad}:3: not a trajectory record (missing field 'task')" in line
    line = one_line_error(cli("synthesize", "--trajectories", str(bad), "--count", "5",
                              "--run-dir", str(tmp_path / "s")))
    assert f"{bad}:3: not a trajectory record" in line


def test_a_missing_input_file_is_one_line(tmp_path):
    line = one_line_error(cli("score", "--input", str(tmp_path / "nope.jsonl")))
    assert "nope.jsonl does not exist" in line
    line = one_line_error(cli("train", "--triplets", str(tmp_path / "nope.jsonl"),
                              "--run-dir", str(tmp_path / "t")))
    assert "nope.jsonl" in line


def test_a_malformed_puzzle_csv_names_the_line(tmp_path):
    csv = tmp_path / "24.csv"
    csv.write_text("Rank,Puzzles,AMT (s)\n1,1 1 4 6,4.4\n2,1 1 x 6,4.5\n")
    line = one_line_error(cli("explore", "--policy", "random", "--env-option", f"puzzles={csv}",
                              "--run-dir", str(tmp_path / "r")))
    assert f"{csv}:3: bad puzzle '1 1 x 6'" in line


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("c.json", '{"samples": 2,\n "limit": }', "c.json:2: not valid JSON"),
    ("c.yaml", "samples: [2\nlimit: 3\n", "c.yaml:"),
    ("c.json", '{"samples": "two"}', "option 'samples' must be an integer, not 'two'"),
    ("c.json", '{"sampels": 2}', "has no option 'sampels'"),
])
def test_a_bad_config_file_is_one_line(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    line = one_line_error(cli("explore", "--policy", "random", "--config", str(path),
                              "--run-dir", str(tmp_path / "r")))
    assert expected in line


def test_debug_log_level_shows_the_traceback(tmp_path):
    out = cli("--log-level", "DEBUG", "score", "--input", str(tmp_path / "nope.jsonl"))
    assert out.returncode == 2 and "Traceback" in out.stderr


# -- 6. one writer per run directory ----------------------------------------------------------
def _hold_lock(path: str, ready, release) -> None:
    with RunDir(path).lock():
        ready.set()
        release.wait(30)


def test_a_second_writer_is_refused_while_the_first_holds_the_run_directory(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunDirError, match="in use by another armap process"):
            explore(random_explore(2), tmp_path)
        assert not (tmp_path / TRAJECTORIES).exists()
    finally:
        release.set()
        holder.join(30)
    assert explore(random_explore(2), tmp_path)["ran"] == 2


def test_two_explores_started_at_once_write_each_episode_once(tmp_path):
    args = ["explore", "--policy", "random", "--limit", "40", "--samples", "3", "--run-dir",
            str(tmp_path)]
    procs = [subprocess.Popen([sys.executable, "-m", "armap.cli", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    records = list(read_jsonl(tmp_path / TRAJECTORIES))
    keys = [r["meta"]["episode"] for r in records]
    assert len(keys) == len(set(keys)) == 120
    if codes == [0, 2]:  # they overlapped: the second was refused
        assert any("in use by another armap process" in err for _, err in outs)
    else:  # the first had finished before the second started: it resumed, 0 new
        assert codes == [0, 0]


# -- 7. negative limits and empty method lists -----------------------------------------------
def test_negative_limit_and_empty_methods_are_refused():
    with pytest.raises(ConfigError, match="limit must be at least 1"):
        ExploreConfig(env=EnvConfig(limit=-1))
    with pytest.raises(ConfigError, match="limit must be at least 1"):
        EvalConfig(env=EnvConfig(limit=0))
    with pytest.raises(ConfigError, match="methods is empty"):
        EvalConfig(methods=", ")
    line = one_line_error(cli("eval", "--methods", "", "--run-dir", "/tmp/never-made"))
    assert "methods is empty" in line


# -- 8. a run that wrote nothing accepts the corrected command --------------------------------
def test_a_run_that_failed_before_writing_accepts_a_corrected_config(tmp_path):
    with pytest.raises(MissingFileError):
        explore(random_explore(2, puzzles=tmp_path / "no.csv"),
                tmp_path / "r")
    assert RunDir(tmp_path / "r").read_manifest()["status"] == "error"
    summary = explore(random_explore(2), tmp_path / "r")
    assert summary["ran"] == 2 and summary["resumed"] is False


# -- 9. resume compares input files by content ------------------------------------------------
def test_resume_refuses_an_edited_input_file_and_accepts_a_moved_one(tmp_path):
    if not SHARED_CSV.exists():
        pytest.skip(f"needs the shared Game of 24 CSV at {SHARED_CSV}")
    csv = tmp_path / "24.csv"
    shutil.copy(SHARED_CSV, csv)
    run = tmp_path / "r"
    explore(random_explore(2, puzzles=csv), run)
    inputs = RunDir(run).read_manifest()["inputs"]
    assert inputs["puzzles"]["path"] == str(csv) and len(inputs["puzzles"]["sha256"]) == 64
    moved = tmp_path / "moved.csv"
    shutil.move(csv, moved)
    assert explore(random_explore(2, puzzles=moved), run)["ran"] == 0
    rows = moved.read_text().splitlines()
    rows[1], rows[2] = rows[2], rows[1]  # another task order: other tasks under the same ids
    moved.write_text("\n".join(rows) + "\n")
    with pytest.raises(RunDirError, match=r"puzzles \(its content changed\)"):
        explore(random_explore(2, puzzles=moved), run)


# -- 10. credentials in URLs are never written ----------------------------------------------
def test_credentials_in_the_base_url_are_redacted_everywhere(tmp_path):
    secret = "s3cr3t-pa55"
    url = f"http://alice:{secret}@127.0.0.1:{free_port()}/v1"
    out = cli("explore", "--policy", "llm", "--llm", "openai", "--model", "m", "--base-url",
              url, "--max-retries", "0", "--limit", "1", "--run-dir", str(tmp_path))
    assert out.returncode == 2
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert "127.0.0.1" in written and "***@127.0.0.1" in written
    assert secret not in written and secret not in out.stdout + out.stderr
    with FaultServer(["503"]) as server:
        url = server.base_url.replace("http://", f"http://alice:{secret}@")
        config = openai_config(url, limit=1)
        with pytest.raises(RunFailedError) as info:
            explore(config, tmp_path / "second")
        assert server.headers[0]["Authorization"].startswith("Basic ")  # the server got them
    assert secret not in str(info.value)
    assert secret not in (tmp_path / "second" / TRAJECTORIES).read_text()
    assert secret not in (tmp_path / "second" / "manifest.json").read_text()


def test_redact_masks_user_info_and_secret_query_values():
    from armap.redact import redact

    assert redact("see http://u:p@h:1/v1 and https://tok@x.org") == \
        "see http://***@h:1/v1 and https://***@x.org"
    assert redact("https://h/v1?api_key=abc&model=m") == "https://h/v1?api_key=***&model=m"
    assert redact("no url here: a=b") == "no url here: a=b"


def test_environment_api_key_never_reaches_the_manifest(tmp_path):
    env = {**os.environ, "ARMAP_TEST_KEY": "sk-never-written"}
    out = cli("explore", "--policy", "llm", "--llm", "openai", "--model", "m", "--base-url",
              f"http://127.0.0.1:{free_port()}/v1", "--api-key-env", "ARMAP_TEST_KEY",
              "--max-retries", "0", "--limit", "1", "--run-dir", str(tmp_path), env=env)
    assert out.returncode == 2
    assert all("sk-never-written" not in p.read_text() for p in tmp_path.rglob("*")
               if p.is_file())
