"""The reward-model server on 127.0.0.1: batching across concurrent clients, limits, errors,
the `RemoteReward` client, and ``--rm http://...`` through `load_reward_model` and the CLI."""

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from typer.testing import CliRunner

from armap.cli.main import app
from armap.errors import ConfigError, RewardServerError
from armap.reward import OracleRewardModel, load_reward_model
from armap.reward.model import LearnedRewardModel
from armap.reward.remote import RemoteReward
from armap.reward.server import DynamicBatcher, RewardServer, RMServerConfig, load_served_model
from armap.types import Step, Task, Trajectory

from .game24_data import game24_triplets

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def triplets():
    return game24_triplets(8, seed=3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    m = LearnedRewardModel(max_length=128, batch_size=4, dtype="float32")
    with torch.no_grad():  # a head far from its initialization, so scores differ
        m.head.weight.normal_(0, 0.5)
        m.head.bias.fill_(0.25)
    return m.save(tmp_path_factory.mktemp("rm") / "ckpt")


@pytest.fixture(scope="module")
def server(checkpoint):
    config = RMServerConfig(rm=str(checkpoint), port=0, batch_window_ms=50, max_batch=64)
    with RewardServer(load_served_model(config), config) as s:
        yield s


def test_concurrent_clients_get_in_process_scores_in_shared_batches(server, checkpoint,
                                                                     triplets):
    jobs = [(t.instruction, [t.positive, t.negative][:1 + i % 2]) for i, t in
            enumerate(triplets * 2)]  # 16 requests of 1 or 2 trajectories, 8 instructions
    local = LearnedRewardModel.load(checkpoint)
    expected = [local.score(instruction, ts) for instruction, ts in jobs]
    client = RemoteReward(server.url)  # one client shared by the threads
    got: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(i: int) -> None:
        barrier.wait()
        got[i] = client.score(*jobs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, abs=1e-5)
    metrics = client.metrics()
    assert metrics["requests"] == len(jobs)
    assert metrics["batched_trajectories"] == sum(len(ts) for _, ts in jobs)
    assert metrics["max_requests_per_batch"] > 1
    assert metrics["batches"] < len(jobs)
    assert metrics["latency_ms"]["p50"] > 0
    assert client.name == "remote:learned"


def test_load_reward_model_accepts_a_server_url(server, checkpoint, triplets):
    remote = load_reward_model(server.url)
    assert isinstance(remote, RemoteReward)
    t = triplets[0]
    local = LearnedRewardModel.load(checkpoint)
    assert remote.score(t.instruction, [t.positive, t.negative]) == pytest.approx(
        local.score(t.instruction, [t.positive, t.negative]), abs=1e-5)
    assert remote.score(t.instruction, []) == []
    health = remote.health()
    assert health["status"] == "ok" and health["max_length"] == 128


def test_armap_rerank_and_score_take_rm_url(server, checkpoint, triplets, tmp_path):
    path = tmp_path / "trajectories.jsonl"
    ts = [dataclasses.replace(x, meta={"episode": i}) for t in triplets
          for i, x in enumerate((t.positive, t.negative))]
    path.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in ts))
    out = CliRunner().invoke(app, ["rerank", "--rm", server.url, "--input", str(path),
                                   "--n", "1,all"])
    assert out.exit_code == 0, out.output
    assert json.loads(path.with_suffix(".rerank.json").read_text())["rm"] == server.url
    out = CliRunner().invoke(app, ["score", "--rm", server.url, "--input", str(path)])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in path.with_suffix(".scores.jsonl").open()]
    local = LearnedRewardModel.load(checkpoint)
    assert [r["score"] for r in rows] == pytest.approx(
        [local.score(t.task.instruction, [t])[0] for t in ts], abs=1e-5)


@pytest.fixture(scope="module")
def oracle_server():
    config = RMServerConfig(rm="oracle", port=0, max_trajectories=4, max_body_bytes=20_000,
                            batch_window_ms=1)
    with RewardServer(OracleRewardModel(), config) as s:
        yield s


def _trajectory(score: float | None = 1.0) -> Trajectory:
    return Trajectory(Task("t1", "game24", "make 24"), steps=[Step("4 * 6 = 24")],
                      env_score=score)


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 422, "must be a JSON object"),
    (b'{"trajectories": []}', 422, "'instruction' must be a string"),
    (b'{"instruction": "x", "trajectories": {}}', 422, "must be a list"),
    (b'{"instruction": "x", "trajectories": [], "n": 1}', 422, "unknown field(s) n"),
    (b'{"instruction": "x", "trajectories": [{"steps": []}]}', 422,
     "trajectories[0] is not a trajectory"),
    (b'{"instruction": "x", "trajectories": [1]}', 422, "trajectories[0]"),
    (json.dumps({"instruction": "x", "trajectories": [_trajectory().to_dict()] * 5}).encode(),
     413, "at most 4"),
    (json.dumps({"instruction": "x" * 30_000, "trajectories": []}).encode(), 413,
     "at most 20000"),
    (json.dumps({"instruction": "x", "trajectories": [_trajectory(None).to_dict()]}).encode(),
     422, "no env_score"),
])
def test_bad_requests_get_4xx_with_a_message(oracle_server, body, status, message):
    r = httpx.post(f"{oracle_server.url}/score", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == status
    assert message in r.json()["error"]


def test_oversized_chunked_body_is_refused_while_reading(oracle_server):
    def chunks():
        for _ in range(30):
            yield b"x" * 1000

    r = httpx.post(f"{oracle_server.url}/score", content=chunks())
    assert r.status_code == 413 and "over 20000 bytes" in r.json()["error"]


def test_other_paths_and_methods_get_a_message(oracle_server):
    r = httpx.get(f"{oracle_server.url}/nope")
    assert r.status_code == 404 and "POST /score" in r.json()["error"]
    r = httpx.get(f"{oracle_server.url}/score")
    assert r.status_code == 405 and "GET is not allowed" in r.json()["error"]


def test_client_splits_large_requests_and_reports_refusals(oracle_server):
    client = RemoteReward(oracle_server.url)
    ts = [_trajectory(i / 10) for i in range(10)]
    assert client.score("make 24", ts) == [i / 10 for i in range(10)]  # 3 requests of <= 4
    with pytest.raises(RewardServerError, match=r"HTTP 422: .*no env_score"):
        client.score("make 24", [_trajectory(None)])
    errors = client.metrics()["errors"]
    assert errors.get("422", 0) >= 1


def test_unreachable_server_is_a_clear_error_after_retries():
    start = time.monotonic()
    with pytest.raises(RewardServerError, match=r"after 2 attempt.*armap serve-rm"):
        RemoteReward("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2)
    assert time.monotonic() - start < 10


class _Recording:
    name = "recording"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, instruction, trajectories):
        if instruction == "boom":
            raise ConfigError("boom")
        self.calls.append(len(trajectories))
        time.sleep(0.01)
        return [float(len(t.steps)) for t in trajectories]


def test_batcher_groups_concurrent_jobs_and_fails_a_bad_one_alone():
    reward = _Recording()
    batcher = DynamicBatcher(reward, max_batch=8, window_s=0.05)
    ts = [Trajectory(Task("t", "toy", "x"), steps=[Step("a")] * n) for n in range(1, 4)]
    futures = [batcher.submit("x", ts) for _ in range(3)] + [batcher.submit("boom", ts[:1])]
    assert [f.result(timeout=10) for f in futures[:3]] == [[1.0, 2.0, 3.0]] * 3
    with pytest.raises(ConfigError, match="boom"):
        futures[3].result(timeout=10)
    batcher.close()
    stats = batcher.stats()
    assert stats["batched_requests"] == 4 and stats["batches"] <= 3
    assert stats["max_requests_per_batch"] >= 2  # 3 + 3 fit in 8, the third job waits


def test_config_is_validated():
    with pytest.raises(ConfigError, match="--max-batch"):
        RMServerConfig(rm="x", max_batch=0)
    with pytest.raises(ConfigError, match="--threads"):
        RMServerConfig(rm="x", threads=-1)
    with pytest.raises(ConfigError, match="is a server"):
        load_served_model(RMServerConfig(rm="http://127.0.0.1:1"))
    with pytest.raises(ConfigError, match="--rm is required"):
        load_served_model(RMServerConfig())


def test_armap_serve_rm_prints_its_url_and_serves():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "armap.cli", "serve-rm", "--rm", "oracle",
                             "--port", "0"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert "Serving reward model oracle at http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        assert httpx.get(f"{url}/health", timeout=10).json()["model"] == "oracle"
        assert RemoteReward(url).score("make 24", [_trajectory(0.5)]) == [0.5]
    finally:
        proc.terminate()  # uvicorn shuts down, then re-raises SIGTERM
        assert proc.wait(timeout=20) in (0, -15)
        assert "Traceback" not in proc.stderr.read()
