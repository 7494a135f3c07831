"""`--executor ray` on a real local Ray cluster: same records as the thread pool, streamed to
the driver's file, and a killed worker loses nothing."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from armap.errors import ConfigError, MissingDependencyError, RunFailedError
from armap.evaluate import RESULTS, result_key
from armap.evaluate import evaluate as run_eval
from armap.explore import TRAJECTORIES, explore
from armap.jsonl import read_jsonl
from armap.llm.scripted import ScriptedLLM
from armap.rundir import RunDir
from armap.runner import RunnerConfig, Work, make_episodes, run_episodes
from armap.synth import SynthConfig
from armap.synth.base import SynthContext
from armap.synth.game24_llm import Game24LLMStrategy
from armap.types import Task

from .configs import random_eval, random_explore

EVAL_METHODS = "greedy,sampling,best_of_n,reflexion,mcts"


@pytest.fixture(scope="module")
def ray_cluster():
    """A two-CPU local Ray cluster shared by the tests of this module; its address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def ray_runner(workers: int = 2) -> RunnerConfig:
    return RunnerConfig(workers=workers, executor="ray")


def without_timings(value: Any) -> Any:
    """``value`` without wall-clock times (they differ from run to run)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def by_key(path: Path, key: str | tuple[str, ...]) -> dict[Any, Any]:
    records = list(read_jsonl(path))
    keys = [tuple(r[k] for k in key) if isinstance(key, tuple) else r["meta"][key]
            for r in records]
    assert len(set(keys)) == len(keys), "a record was written twice"
    return {k: without_timings(r) for k, r in zip(keys, records, strict=True)}


class Echo(Work):
    """A picklable test work: the item's key and the pid of the process that ran it, after
    ``delay`` seconds. With ``kill_marker``, the process running ``kill_key`` kills itself
    (SIGKILL) the first time (every time with ``always``), writing its pid to the marker."""

    def __init__(self, delay: float = 0.0, kill_key: str | None = None,
                 kill_marker: Path | None = None, always: bool = False) -> None:
        super().__init__()
        self.delay = delay
        self.kill_key = kill_key
        self.kill_marker = kill_marker
        self.always = always

    def __call__(self, item: Any) -> dict[str, Any]:
        time.sleep(self.delay)
        if item.key == self.kill_key and self.kill_marker \
                and (self.always or not self.kill_marker.exists()):
            self.kill_marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return {"key": item.key, "pid": os.getpid(), "seed": item.seed}


def items(n: int) -> list[Any]:
    return make_episodes([Task(f"t{i}", "test", "") for i in range(n)], 1, seed=0)


def test_a_local_cluster_is_started_for_the_run_and_shut_down(tmp_path):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    executor = RunnerConfig(workers=2, executor="ray", ray_cpus=1).make_executor()
    out = tmp_path / "echo.jsonl"
    skipped, ran = run_episodes(items(5), Echo(), out, key=lambda r: r["key"],
                                executor=executor)
    assert (skipped, ran) == (0, 5)
    records = list(read_jsonl(out))
    assert sorted(r["key"] for r in records) == [f"t{i}#0" for i in range(5)]
    # One actor (one per CPU of the cluster) ran them all, in another process.
    assert len({r["pid"] for r in records}) == 1 and os.getpid() not in {r["pid"] for r in records}
    assert not ray.is_initialized()


def test_a_killed_worker_loses_no_record_and_its_item_runs_again(tmp_path, ray_cluster):
    marker = tmp_path / "killed"
    out = tmp_path / "echo.jsonl"
    work = Echo(delay=0.2, kill_key="t3#0", kill_marker=marker)
    skipped, ran = run_episodes(items(8), work, out, key=lambda r: r["key"],
                                executor=ray_runner().make_executor())
    assert (skipped, ran) == (0, 8)
    records = list(read_jsonl(out))
    assert sorted(r["key"] for r in records) == [f"t{i}#0" for i in range(8)]  # each once
    killed = int(marker.read_text())
    assert next(r for r in records if r["key"] == "t3#0")["pid"] != killed


def test_an_item_that_kills_every_worker_stops_the_run_after_three_retries(tmp_path,
                                                                           ray_cluster):
    out = tmp_path / "echo.jsonl"
    work = Echo(kill_key="t1#0", kill_marker=tmp_path / "killed", always=True)
    with pytest.raises(RunFailedError, match=r"t1#0: its Ray worker died 4 times"):
        run_episodes(items(3), work, out, key=lambda r: r["key"],
                     executor=ray_runner(1).make_executor())
    assert [r["key"] for r in read_jsonl(out)] == ["t0#0"]  # what finished is kept


def test_a_worker_killed_from_outside_mid_item_loses_no_record(tmp_path, ray_cluster):
    out = tmp_path / "echo.jsonl"
    killed: list[int] = []

    def kill_the_first_worker() -> None:
        """Once a record is in the file, SIGKILL the process that wrote it (busy again by
        then with its next item)."""
        while not out.exists() or not out.read_text().strip():
            time.sleep(0.05)
        killed.append(json.loads(out.read_text().splitlines()[0])["pid"])
        os.kill(killed[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_the_first_worker, daemon=True)
    killer.start()
    skipped, ran = run_episodes(items(10), Echo(delay=0.5), out, key=lambda r: r["key"],
                                executor=ray_runner().make_executor())
    killer.join(timeout=5)
    assert (skipped, ran) == (0, 10) and killed
    records = list(read_jsonl(out))
    assert sorted(r["key"] for r in records) == sorted(f"t{i}#0" for i in range(10))
    assert sum(r["pid"] == killed[0] for r in records) >= 1  # it had finished some
    assert len({r["pid"] for r in records}) == 3  # two actors, then the one replacing it


def test_explore_with_ray_writes_the_same_trajectories_as_threads(tmp_path, ray_cluster):
    local = explore(random_explore(4, samples=2, runner=RunnerConfig(workers=2)),
                    tmp_path / "local")
    remote = explore(random_explore(4, samples=2, runner=ray_runner()), tmp_path / "ray")
    assert remote["ran"] == local["ran"] == 8
    assert by_key(tmp_path / "ray" / TRAJECTORIES, "episode") == \
        by_key(tmp_path / "local" / TRAJECTORIES, "episode")


@pytest.mark.slow
def test_eval_with_ray_writes_the_same_results_as_threads_and_resumes(tmp_path, ray_cluster):
    run_eval(random_eval(4, budget=3, methods=EVAL_METHODS, runner=RunnerConfig(workers=2)),
             tmp_path / "local")
    config = random_eval(4, budget=3, methods=EVAL_METHODS, runner=ray_runner())
    run_eval(config, tmp_path / "ray")
    expected = by_key(tmp_path / "local" / RESULTS, ("task_id", "method"))
    assert len(expected) == 4 * 5
    assert by_key(tmp_path / "ray" / RESULTS, ("task_id", "method")) == expected
    # Resume after losing the last three planner runs: only those run again, in the actors.
    path = tmp_path / "ray" / RESULTS
    lines = path.read_text().splitlines()
    lost = {result_key(json.loads(x)) for x in lines[-3:]}
    kept = [x for x in lines if result_key(json.loads(x)) not in lost]
    path.write_text("\n".join(kept) + "\n")
    run_eval(config, tmp_path / "ray")
    assert path.read_text().splitlines()[:len(kept)] == kept
    assert by_key(path, ("task_id", "method")) == expected


@pytest.mark.slow
def test_cli_eval_joins_a_cluster_with_ray_address(tmp_path, ray_cluster):
    args = ["eval", "--env", "game24", "--limit", "3", "--policy", "random", "--rm", "oracle",
            "--methods", "greedy,best_of_n,mcts", "--budget", "3", "--workers", "2"]
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--ray-address",
                                                ray_cluster])):
        out = subprocess.run([sys.executable, "-m", "armap.cli", *args, *extra, "--run-dir",
                              str(tmp_path / name)], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
    assert by_key(tmp_path / "ray" / RESULTS, ("task_id", "method")) == \
        by_key(tmp_path / "local" / RESULTS, ("task_id", "method"))
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["status"] == "success"


def test_llm_synthesis_with_ray_makes_the_same_attempts_as_threads(tmp_path, ray_cluster):
    def synthesize_attempts(name: str, runner: RunnerConfig) -> dict[Any, Any]:
        config = SynthConfig(strategy="llm", count=12, runner=runner)
        ctx = SynthContext(config, RunDir(tmp_path / name), [], set(),
                           make_llm=lambda: ScriptedLLM(responder=scripted_synthesis))
        list(Game24LLMStrategy().triplets(ctx))
        return {r["key"]: without_timings(r)
                for r in read_jsonl(tmp_path / name / Game24LLMStrategy.ATTEMPTS)}

    local = synthesize_attempts("local", RunnerConfig(workers=2))
    assert len(local) == 12
    assert len({r["rejected"] for r in local.values()}) > 1  # each seed asks its own mistake
    assert synthesize_attempts("ray", ray_runner()) == local


def scripted_synthesis(messages: list[dict[str, str]], sample: int) -> str:
    """A puzzle with its solution, then a wrong solution with an arithmetic mistake."""
    if "Invent" in messages[-1]["content"]:
        return "Puzzle: 4 4 6 8\nSolution: (6 - 4) * (4 + 8) = 24"
    return ("6 - 4 = 2 (left: 2 4 8)\n2 * 8 = 16 (left: 4 16)\n4 + 16 = 24 (left: 24)\n"
            "Answer: (6 - 4) * 8 + 4 = 24")


class Failing(Work):
    """Raises what a user would fix (e.g. a model that does not load) on every item."""

    def __call__(self, item: Any) -> dict[str, Any]:
        raise ConfigError(f"no model for {item.key}")


class Unpicklable(Work):
    """Holds a live lock, as an LLM or a reward model does."""

    def __init__(self) -> None:
        super().__init__()
        self.live = threading.Lock()

    def __call__(self, item: Any) -> dict[str, Any]:
        return {"key": item.key}


def test_errors_of_the_work_reach_the_driver_as_they_are(tmp_path, ray_cluster):
    with pytest.raises(ConfigError, match=r"^no model for t0#0$"):
        run_episodes(items(1), Failing(), tmp_path / "a.jsonl", key=lambda r: r["key"],
                     executor=ray_runner().make_executor())
    with pytest.raises(ConfigError, match="cannot be sent to Ray actors"):
        run_episodes(items(1), Unpicklable(), tmp_path / "b.jsonl", key=lambda r: r["key"],
                     executor=ray_runner().make_executor())


def test_an_unknown_executor_is_a_config_error():
    with pytest.raises(ConfigError, match="executor='dask' is not one of: local, ray"):
        RunnerConfig(executor="dask")
    with pytest.raises(ConfigError, match="give one of the two"):
        RunnerConfig(executor="ray", ray_address="auto", ray_cpus=2)


def test_ray_missing_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the package
    with pytest.raises(MissingDependencyError, match=r"pip install -e '\.\[ray\]'"):
        ray_runner().make_executor()
