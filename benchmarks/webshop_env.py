"""WebShop environment benchmark: catalog load and index build time, memory of the loaded
catalog and index, env steps/s under random valid actions, search latency, snapshot/restore and
reward cost.

    python benchmarks/webshop_env.py                       # about a minute on 2 CPU cores
    python benchmarks/webshop_env.py --data-dir ../shared/data/webshop --steps 50000

Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

from report import write_report  # benchmarks/report.py (run as a script)

ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_and_index(data_dir: Path) -> dict[str, Any]:
    """Time and memory of reading the catalog, building the goals and the BM25 index."""
    import bm25s  # noqa: F401  (imports are not counted as catalog memory)
    import Stemmer  # noqa: F401

    from armap.envs.webshop.data import load_catalog
    from armap.envs.webshop.goals import build_goals
    from armap.envs.webshop.search import SearchIndex

    rss0 = rss_mib()
    t0 = time.perf_counter()
    catalog = load_catalog(data_dir)
    t1 = time.perf_counter()
    goals, _ = build_goals(catalog.products)
    t2 = time.perf_counter()
    index = SearchIndex(catalog.products)
    t3 = time.perf_counter()
    rss1 = rss_mib()
    tracemalloc.start()
    catalog2 = load_catalog(data_dir)
    build_goals(catalog2.products)
    mid = tracemalloc.get_traced_memory()[0]
    SearchIndex(catalog2.products)
    end, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return {"products": len(catalog.products), "goals": len(goals),
            "load_s": round(t1 - t0, 3), "goals_s": round(t2 - t1, 3),
            "index_s": round(t3 - t2, 3), "rss_delta_mib": round(rss1 - rss0, 1),
            "traced_catalog_goals_mib": round(mid / 2**20, 1),
            "traced_total_mib": round(end / 2**20, 1), "traced_peak_mib": round(peak / 2**20, 1)}


def env_steps(env: Any, steps: int, seed: int) -> dict[str, Any]:
    """Random valid actions over the test goals; episodes end on buy or at the step limit."""
    rng = random.Random(seed)
    tasks = env.tasks("test")
    kinds = {"search": 0, "click": 0}
    done_steps, episodes = 0, 0
    started = time.perf_counter()
    while done_steps < steps:
        env.reset(tasks[episodes % len(tasks)])
        episodes += 1
        for _ in range(env.max_steps):
            actions = env.valid_actions()
            if not actions:
                break
            action = rng.choice(actions)
            kinds[action.split("[", 1)[0]] += 1
            env.step(action)
            done_steps += 1
            if env.done:
                break
    seconds = time.perf_counter() - started
    return {"steps": done_steps, "episodes": episodes, "seconds": round(seconds, 2),
            "steps_per_s": round(done_steps / seconds), "search_share":
            round(kinds["search"] / done_steps, 3)}


def search_latency(env: Any) -> dict[str, Any]:
    """Latency of uncached searches for the queries `valid_actions` offers on test goals, and
    of a repeated (cached) search."""
    from armap.envs.webshop.env import search_queries

    index = env._shared.index
    queries = sorted({q for t in env.tasks("test") for q in search_queries(t.instruction)})
    times, hits = [], []
    for q in queries:
        t = time.perf_counter()
        hits.append(len(index._search(q)))
        times.append(time.perf_counter() - t)
    times.sort()
    index.search(queries[0])
    t = time.perf_counter()
    for _ in range(1000):
        index.search(queries[0])
    cached_us = (time.perf_counter() - t) / 1000 * 1e6
    return {"queries": len(queries), "p50_ms": round(times[len(times) // 2] * 1e3, 3),
            "p95_ms": round(times[int(len(times) * 0.95)] * 1e3, 3),
            "mean_ms": round(statistics.mean(times) * 1e3, 3), "cached_us": round(cached_us, 2),
            "mean_hits": round(statistics.mean(hits), 1)}


def snapshot_restore(env: Any, seed: int) -> dict[str, Any]:
    """Cost of snapshot + restore (cheap state) against replaying the actions."""
    from armap.envs.base import Snapshot

    rng = random.Random(seed)
    task = env.tasks("test")[0]
    env.reset(task)
    for _ in range(5):
        env.step(rng.choice(env.valid_actions()))
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        env.restore(env.snapshot())
    cheap = (time.perf_counter() - t) / n
    replay = Snapshot(task, tuple(env.actions))
    t = time.perf_counter()
    for _ in range(200):
        env.restore(replay)
    by_replay = (time.perf_counter() - t) / 200
    return {"restore_us": round(cheap * 1e6, 1), "replay_5_steps_us": round(by_replay * 1e6, 1)}


def reward_cost(env: Any, n: int, seed: int) -> dict[str, Any]:
    """Time of the first score (loads spaCy) and of later scores of random purchases."""
    rng = random.Random(seed)
    tasks = env.tasks("test")

    def buy(task: Any) -> None:
        env.reset(task)
        env.step(f"search[{task.instruction}]")
        env.step(rng.choice([a for a in env.valid_actions() if a.startswith("click[b")]))
        env.step("click[buy now]")

    buy(tasks[0])
    t = time.perf_counter()
    env.score()
    first = time.perf_counter() - t
    times = []
    for task in rng.sample(tasks, n):
        buy(task)
        t = time.perf_counter()
        env.score()
        times.append(time.perf_counter() - t)
    return {"first_score_s": round(first, 2), "score_ms_mean": round(
        statistics.mean(times) * 1e3, 2), "score_ms_p95": round(
        sorted(times)[int(len(times) * 0.95)] * 1e3, 2), "scores": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help="WebShop data folder (default: the env's own lookup).")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/webshop_env.json"))
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--scores", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from armap.envs.webshop.data import resolve_data_dir
    from armap.envs.webshop.env import WebShopEnv

    data_dir = resolve_data_dir(args.data_dir)
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(),
                                          "platform": platform.platform()},
                              "data_dir": str(data_dir)}
    result["load"] = load_and_index(data_dir)
    env = WebShopEnv(data_dir=data_dir)
    result["steps"] = env_steps(env, args.steps, args.seed)
    result["search"] = search_latency(env)
    result["snapshot"] = snapshot_restore(env, args.seed)
    result["reward"] = reward_cost(env, args.scores, args.seed)

    ld, st, se = result["load"], result["steps"], result["search"]
    sn, rw = result["snapshot"], result["reward"]
    rows = [
        ("catalog load", f"{ld['load_s']} s ({ld['products']} products)"),
        ("goals", f"{ld['goals_s']} s ({ld['goals']} goals)"),
        ("BM25 index build", f"{ld['index_s']} s"),
        ("memory, RSS delta", f"{ld['rss_delta_mib']} MiB"),
        ("memory, traced (catalog+goals / +index)",
         f"{ld['traced_catalog_goals_mib']} / {ld['traced_total_mib']} MiB"),
        ("env steps/s (random valid actions)",
         f"{st['steps_per_s']} ({st['steps']} steps, {st['search_share']:.0%} searches)"),
        ("search latency p50 / p95 (uncached)", f"{se['p50_ms']} / {se['p95_ms']} ms "
         f"({se['queries']} queries)"),
        ("search, cached", f"{se['cached_us']} us"),
        ("restore (cheap) / replay of 5 steps", f"{sn['restore_us']} / "
         f"{sn['replay_5_steps_us']} us"),
        ("first score (loads spaCy) / later scores",
         f"{rw['first_score_s']} s / {rw['score_ms_mean']} ms mean, "
         f"{rw['score_ms_p95']} ms p95"),
    ]
    write_report(rows, result, args.out)


if __name__ == "__main__":
    main()
