"""Planning benchmark: success and cost per method at several budgets, and cache savings.

Runs `armap eval` once per budget on the same tasks with the same policy and reward model, then
prints a table and writes JSON. Cache savings are counted where they happen: the plan-level
score cache (identical trajectories inside one plan), the learned reward model's text cache,
the policy's ranking cache (the same prompt and candidates) and MCTS's deduplicated proposals.

    python benchmarks/planning.py --policy random --rm runs/rm/checkpoint --limit 100
    python benchmarks/planning.py --policy llm --rm runs/rm/checkpoint --limit 10 --budgets 1,5
    python benchmarks/planning.py --env webshop --policy llm --rm runs/ws-rm/checkpoint \
        --budgets 4 --price-weight 0.5
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from armap.envs.spec import EnvConfig
from armap.evaluate import RESULTS, EvalConfig, evaluate, load_results
from armap.llm import LLMConfig
from armap.policy import AgentConfig, build_policy
from armap.reward import load_reward_model
from armap.runner import RunnerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="game24")
    parser.add_argument("--env-option", action="append", default=[],
                        help="KEY=VALUE, repeatable (e.g. puzzles=../shared/data/game24/24.csv)")
    parser.add_argument("--policy", default="random", help="llm, random or heuristic")
    parser.add_argument("--rm", default="oracle", help="checkpoint directory or oracle")
    parser.add_argument("--limit", type=int, default=100, help="test tasks")
    parser.add_argument("--budgets", default="1,5,10,20")
    parser.add_argument("--methods", default="greedy,sampling,best_of_n,reflexion,mcts")
    parser.add_argument("--puzzles", default=None, help="Game of 24 ranked CSV (short for "
                        "--env-option puzzles=...)")
    parser.add_argument("--length-weight", type=float, default=0.0)
    parser.add_argument("--price-weight", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--engine", default="auto", help="local LLM engine (see --llm local)")
    parser.add_argument("--threads", type=int, default=0,
                        help="local LLM threads (0: the physical cores)")
    parser.add_argument("--out", default="benchmarks/results/planning.json")
    args = parser.parse_args()

    budgets = [int(b) for b in args.budgets.split(",")]
    reward = load_reward_model(args.rm)
    options = [*args.env_option, *([f"puzzles={args.puzzles}"] if args.puzzles else [])]
    env = EnvConfig(env=args.env, env_option=options, limit=args.limit)
    agent = AgentConfig(policy=args.policy, llm=LLMConfig(engine=args.engine,
                                                          threads=args.threads))
    base = EvalConfig(env=env, agent=agent, rm=args.rm, methods=args.methods,
                      runner=RunnerConfig(workers=args.workers))
    base.target.length_weight = args.length_weight
    base.target.price_weight = args.price_weight
    policy = build_policy(base.agent, env.family, env.env_class.parse_action)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for budget in budgets:
            config = EvalConfig(**{**base.__dict__, "budget": budget})
            rm_hits_before = getattr(reward, "cache_hits", 0)
            rm_misses_before = getattr(reward, "cache_misses", 0)
            rank_before = getattr(policy, "rank_hits", 0)
            llm_calls_before = _llm_calls(policy)
            started = time.perf_counter()
            summary = evaluate(config, Path(tmp) / f"b{budget}", policy=policy, reward=reward)
            seconds = time.perf_counter() - started
            results = load_results(Path(tmp) / f"b{budget}" / RESULTS)
            saved = _savings(results)
            saved["rm_text_cache_hits"] = getattr(reward, "cache_hits", 0) - rm_hits_before
            saved["rank_cache_hits"] = getattr(policy, "rank_hits", 0) - rank_before
            rm_hits = saved["rm_text_cache_hits"]
            rm_misses = getattr(reward, "cache_misses", 0) - rm_misses_before
            saved["rm_forward_saved_share"] = _share(rm_hits, rm_hits + rm_misses)
            llm_calls = _llm_calls(policy) - llm_calls_before
            saved["llm_saved_share"] = _share(saved["rank_cache_hits"],
                                              saved["rank_cache_hits"] + llm_calls)
            for row in summary["methods"]:
                # greedy always runs one episode; "budget" is the run's budget
                rows.append({**row, "budget": budget, **saved.get(row["method"], {})})
            rows.append({"budget": budget, "method": "(all)", "wall_seconds": round(seconds, 1),
                         **{k: v for k, v in saved.items() if not isinstance(v, dict)}})
    _print(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "python": platform.python_version(),
                               "rows": rows}, indent=2))
    print(f"\nwrote {out}")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _llm_calls(policy: Any) -> int:
    """Ranking requests the policy's LLM computed (0 for the random policy)."""
    return int(getattr(policy, "rank_calls", 0))


def _savings(results: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """Per method: RM calls made vs trajectories scored, and MCTS proposal deduplication."""
    out: dict[str, Any] = {}
    for (_, method), r in results.items():
        m = out.setdefault(method, {"trajectories_scored": 0, "score_cache_hits": 0,
                                    "proposal_duplicates": 0})
        m["trajectories_scored"] += len(r["candidates"])
        m["score_cache_hits"] += r.get("score_cache_hits", 0)
        m["proposal_duplicates"] += r["meta"].get("proposal_hits", 0)
    for m in out.values():
        total = m["trajectories_scored"]
        m["rm_saved_share"] = round(m["score_cache_hits"] / total, 3) if total else 0.0
    return out


def _print(rows: list[dict[str, Any]]) -> None:
    cols = ["budget", "method", "score", "oracle_best_of_n", "mean_steps", "mean_price",
            "llm_calls", "rm_calls", "env_steps", "seconds", "rm_saved_share", "rank_cache_hits",
            "rm_text_cache_hits", "rm_forward_saved_share", "llm_saved_share", "wall_seconds"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    main()
