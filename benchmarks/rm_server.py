"""Reward-model server benchmark: throughput of 1, 4 and 16 concurrent clients against
``armap serve-rm`` (dynamic batching), versus 16 threads scoring one trajectory at a time
in-process with one shared model, and whether the scores agree.

    python benchmarks/rm_server.py                # about 60 s on two CPU cores
    python benchmarks/rm_server.py --rounds 1     # quicker

Each client sends one trajectory per request (what a planner scoring one candidate does). The
model is the embedded MiniLM with a random head, float32, its score cache off, so every request
costs a forward pass. The server runs in its own process, as it would for many planners. The
settings take turns for ``--rounds`` rounds, so a busy machine slows them alike; the speed-up
is the median of the rounds' ratios.
Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from armap.reward.model import LearnedRewardModel
from armap.reward.remote import RemoteReward

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reward_model import long_trajectories

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = (1, 4, 16)
POOL = 128
TOKENS = 150
BATCH = 16


def batch_of(pool: list[Any], i: int) -> list[Any]:
    """The ``i``-th run of ``BATCH`` trajectories of ``pool`` (wrapping around)."""
    return [pool[(i * BATCH + k) % len(pool)] for k in range(BATCH)]


def run_clients(n: int, seconds: float, score_one: Callable[[int], float]) -> dict[str, Any]:
    """``n`` threads call ``score_one(i)`` for i = 0, 1, ... until ``seconds`` pass."""
    counter = itertools.count()
    done = [0] * n
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(n)

    def work(k: int) -> None:
        barrier.wait()
        while time.perf_counter() < stop:
            score_one(next(counter))
            done[k] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"clients": n, "trajectories": sum(done), "seconds": round(elapsed, 2),
            "trajectories_per_s": round(sum(done) / elapsed, 2)}


def start_server(checkpoint: Path, threads: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "armap.cli", "serve-rm", "--rm", str(checkpoint), "--port", "0",
         "--dtype", "float32", "--cache-size", "0", "--max-batch", "64",
         "--threads", str(threads)],
        stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen = ""
    for line in proc.stderr:  # progress bars of the model loading come first
        if line.startswith("Serving reward model"):
            return proc, line.split(" at ")[1].split()[0]
        seen += line
    proc.kill()
    raise RuntimeError(f"serve-rm did not start: {seen[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/rm_server.json"))
    parser.add_argument("--seconds", type=float, default=3.0, help="Per measurement.")
    parser.add_argument("--rounds", type=int, default=3,
                        help="Rounds of (in-process, server with 1, 4, 16 clients).")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads, in-process and in the server (one thread "
                             "behaves on a machine that other processes keep busy).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="armap-rm-server-"))
    torch.manual_seed(0)
    model = LearnedRewardModel(dtype="float32", cache_size=0)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.5)
    checkpoint = model.save(work / "ckpt")
    local = LearnedRewardModel.load(checkpoint, dtype="float32", cache_size=0)
    instruction, pool = long_trajectories(local, POOL, tokens=TOKENS)

    proc, url = start_server(checkpoint, args.threads)
    runs: dict[str, list[float]] = {"in-process": [], "in-process-batch": [],
                                    **{f"server-{n}": [] for n in CLIENTS}}
    per_batch: dict[int, list[float]] = {n: [] for n in CLIENTS}
    try:
        client = RemoteReward(url)
        client.score(instruction, pool[:4])  # warm up
        local.score(instruction, pool[:4])
        for _ in range(args.rounds):  # interleaved, so load from other processes hits all
            runs["in-process"].append(run_clients(
                16, args.seconds,
                lambda i: local.score(instruction, [pool[i % POOL]])[0])["trajectories_per_s"])
            # the ceiling of any batching server: one caller, 16 trajectories a call, no HTTP
            runs["in-process-batch"].append(BATCH * run_clients(
                1, args.seconds,
                lambda i: local.score(instruction, batch_of(pool, i))[0])["trajectories_per_s"])
            for n in CLIENTS:
                before = client.metrics()
                runs[f"server-{n}"].append(run_clients(
                    n, args.seconds,
                    lambda i: client.score(instruction, [pool[i % POOL]])[0]
                )["trajectories_per_s"])
                after = client.metrics()
                per_batch[n].append((after["batched_requests"] - before["batched_requests"])
                                    / max(1, after["batches"] - before["batches"]))
        check = 64
        served: list[float | None] = [None] * check

        def one(i: int) -> float:
            served[i % check] = s = client.score(instruction, [pool[i % check]])[0]
            return s

        run_clients(16, 1.0, one)
        reference = [local.score(instruction, [t])[0] for t in pool[:check]]
        diffs = [abs(s - r) for s, r in zip(served, reference, strict=True) if s is not None]
        metrics = client.metrics()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    rows = [{"setting": "in-process, shared model, one trajectory per call", "clients": 16,
             "trajectories_per_s": runs["in-process"]},
            {"setting": f"in-process, one caller, {BATCH} trajectories per call (the ceiling "
                        "of batching)", "clients": 1,
             "trajectories_per_s": runs["in-process-batch"]}]
    rows += [{"setting": "server, one trajectory per request", "clients": n,
              "trajectories_per_s": runs[f"server-{n}"],
              "requests_per_batch": [round(x, 2) for x in per_batch[n]]} for n in CLIENTS]
    ratios = [s / b for s, b in zip(runs["server-16"], runs["in-process"], strict=True)]
    ceilings = [c / b for c, b in zip(runs["in-process-batch"], runs["in-process"], strict=True)]
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "model": {"backbone": local.backbone_id, "dtype": "float32",
                  "max_length": local.max_length, "tokens_per_trajectory": TOKENS,
                  "cache": "off"},
        "seconds_per_measurement": args.seconds,
        "rows": rows,
        "rounds": args.rounds,
        "speedup_16_clients_per_round": [round(r, 2) for r in ratios],
        "speedup_16_clients_median": round(statistics.median(ratios), 2),
        "batching_ceiling_median": round(statistics.median(ceilings), 2),
        "scores": {"compared": len(diffs), "max_abs_diff": max(diffs) if diffs else None},
        "server_metrics": metrics,
    }
    print("| setting | clients | trajectories/s (median) | per round | requests per batch |")
    print("|---|---:|---:|---|---:|")
    for r in rows:
        v = r["trajectories_per_s"]
        b = statistics.median(r["requests_per_batch"]) if "requests_per_batch" in r else 1
        print(f"| {r['setting']} | {r['clients']} | {statistics.median(v):.2f} | "
              f"{', '.join(f'{x:.2f}' for x in v)} | {b:.1f} |")
    print(f"\n16 clients: {result['speedup_16_clients_median']}x the in-process baseline "
          f"(median of rounds; {result['speedup_16_clients_per_round']}); "
          f"scores of {len(diffs)} trajectories differ by at most "
          f"{result['scores']['max_abs_diff']:.2e}")
    print(f"batching ceiling: scoring {BATCH} trajectories per call in-process is "
          f"{result['batching_ceiling_median']}x one at a time (median of rounds): no batching "
          "server can beat that ratio on this machine")
    print(f"server: {metrics['batches']} batches, "
          f"{metrics['mean_requests_per_batch']} requests per batch on average, "
          f"latency p50 {metrics['latency_ms']['p50']} ms")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
