"""ScienceWorld environment benchmark: time to start a simulator process and to reset, env
steps/s with one process and with a pool of processes (episodes in parallel threads), the cost
of listing valid actions, and the peak memory of a simulator process.

    python benchmarks/scienceworld_env.py                     # about a minute on 2 CPU cores
    python benchmarks/scienceworld_env.py --seconds 60 --processes 4

Episodes take random valid actions on the first ``seen`` variation of each task type, up to
``--episode-steps`` steps; a step counts listing the valid actions and taking one, as a policy
does (resets take time but are not steps). Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from report import write_report  # benchmarks/report.py (run as a script)

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of process ``pid`` in MiB (Linux)."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def start_and_reset(tasks: list[Any], repeats: int) -> dict[str, Any]:
    """Seconds to start a simulator (JVM up and answering) and to reset to a task."""
    from armap.envs.scienceworld.env import ScienceWorldEnv

    starts, resets = [], []
    for i in range(repeats):
        with ScienceWorldEnv() as env:
            env.reset(tasks[i % len(tasks)])
            assert env.simulator is not None
            starts.append(env.simulator.start_seconds)
            for task in tasks:
                t = time.perf_counter()
                env.reset(task)
                resets.append(time.perf_counter() - t)
    resets.sort()
    return {"start_s_mean": round(statistics.mean(starts), 2), "starts": len(starts),
            "reset_s_p50": round(resets[len(resets) // 2], 3),
            "reset_s_max": round(resets[-1], 3), "resets": len(resets)}


def run_steps(env: Any, tasks: list[Any], start: int, seconds: float, episode_steps: int,
              seed: int, stats: dict[str, Any]) -> None:
    """Random valid actions over ``tasks`` (from ``tasks[start]`` on) for ``seconds``; adds
    counts and timings to ``stats``."""
    rng = random.Random(seed)
    deadline = time.perf_counter() + seconds
    i = start
    while time.perf_counter() < deadline:
        env.reset(tasks[i % len(tasks)])
        i += 1
        stats["episodes"] += 1
        for _ in range(episode_steps):
            t = time.perf_counter()
            actions = env.valid_actions()
            stats["valid_s"] += time.perf_counter() - t
            if not actions:
                break
            t = time.perf_counter()
            _, done = env.step(rng.choice(actions))
            stats["step_s"] += time.perf_counter() - t
            stats["steps"] += 1
            if done or time.perf_counter() >= deadline:
                break
        _, peak = rss_mib(env.simulator.pid)
        stats["peak_rss_mib"] = max(stats["peak_rss_mib"], peak)


def throughput(tasks: list[Any], processes: int, seconds: float, episode_steps: int,
               seed: int) -> dict[str, Any]:
    """Env steps/s (a step = listing the valid actions + taking one) with ``processes`` envs,
    each on its own simulator, in parallel threads."""
    from armap.envs.scienceworld.env import ScienceWorldEnv

    envs = [ScienceWorldEnv(max_processes=processes) for _ in range(processes)]
    stats = [{"episodes": 0, "steps": 0, "valid_s": 0.0, "step_s": 0.0, "peak_rss_mib": 0.0}
             for _ in envs]
    try:
        for env in envs:
            env.reset(tasks[0])  # start the JVMs before the clock
        started = time.perf_counter()
        threads = [threading.Thread(target=run_steps, args=(
            env, tasks, k * len(tasks) // processes, seconds, episode_steps, seed + k, s))
                   for k, (env, s) in enumerate(zip(envs, stats, strict=True))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
    finally:
        for env in envs:
            env.close()
    steps = sum(s["steps"] for s in stats)
    return {"processes": processes, "steps": steps,
            "episodes": sum(s["episodes"] for s in stats), "seconds": round(wall, 1),
            "steps_per_s": round(steps / wall, 2),
            "valid_actions_ms": round(sum(s["valid_s"] for s in stats) / steps * 1e3, 1),
            "step_ms": round(sum(s["step_s"] for s in stats) / steps * 1e3, 1),
            "peak_rss_mib": round(max(s["peak_rss_mib"] for s in stats))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/scienceworld_env.json"))
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="Seconds of stepping for each pool size.")
    parser.add_argument("--processes", type=int, default=2, help="Size of the pool measured.")
    parser.add_argument("--episode-steps", type=int, default=10)
    parser.add_argument("--starts", type=int, default=2, help="Process starts to time.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from armap.envs.scienceworld.env import ScienceWorldEnv

    tasks = ScienceWorldEnv().tasks("seen")[:30]
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(),
                                          "platform": platform.platform()}}
    result["start"] = start_and_reset(tasks, args.starts)
    result["one"] = throughput(tasks, 1, args.seconds, args.episode_steps, args.seed)
    result["pool"] = throughput(tasks, args.processes, args.seconds, args.episode_steps,
                                args.seed)

    st, one, pool = result["start"], result["one"], result["pool"]
    rows = [
        ("process start (JVM up, answering)", f"{st['start_s_mean']} s (mean of {st['starts']})"),
        ("reset (load a variation + look around)",
         f"{st['reset_s_p50']} s p50, {st['reset_s_max']} s max ({st['resets']} resets)"),
        ("steps/s, one process", f"{one['steps_per_s']} ({one['steps']} steps, "
         f"{one['episodes']} episodes)"),
        (f"steps/s, pool of {pool['processes']}", f"{pool['steps_per_s']} ({pool['steps']} "
         f"steps, {pool['episodes']} episodes)"),
        ("valid-action list / step, one process",
         f"{one['valid_actions_ms']} / {one['step_ms']} ms"),
        ("peak RSS of a simulator process", f"{max(one['peak_rss_mib'], pool['peak_rss_mib'])}"
         " MiB"),
    ]
    write_report(rows, result, args.out)


if __name__ == "__main__":
    main()
