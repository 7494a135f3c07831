"""Custom reward targets on WebShop: best-of-N picks re-ranked with the price and length terms.

Takes the ``results.jsonl`` of a WebShop eval that ran ``best_of_n`` and picks again among each
goal's candidates with the planner's own target (`RewardTarget`: ``RM - λ·steps - μ·price/cap``)
for several weights, from the reward-model scores the run recorded, so no model or LLM runs.
A real ``armap eval --price-weight μ`` run samples the same candidates (same seeds) and picks
the same way. Prints the mean reward, the mean price of the purchases and the mean steps per
setting, and writes them as JSON.

    python benchmarks/webshop_targets.py RUN/results.jsonl --out webshop_targets.json
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from armap.evaluate import load_results
from armap.planning.base import Candidate, best_index
from armap.reward.target import RewardTarget, TargetConfig
from armap.types import Trajectory
from report import write_report  # benchmarks/report.py (run as a script)

SETTINGS = [("none", 0.0, 0.0), ("price", 1.0, 0.0), ("price", 2.0, 0.0), ("price", 4.0, 0.0),
            ("length", 0.0, 0.5), ("length", 0.0, 1.0)]


class Recorded:
    """The reward-model scores an eval recorded, handed out in candidate order."""

    name = "recorded"

    def __init__(self, scores: Sequence[float]) -> None:
        self.scores = list(scores)

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        return self.scores[:len(trajectories)]


def repick(record: dict[str, Any], price_weight: float, length_weight: float) -> Trajectory:
    """The candidate of ``record`` the planner would choose under the given target."""
    trajectories = [Trajectory.from_dict(c["trajectory"]) for c in record["candidates"]]
    target = RewardTarget(Recorded([c["reward"]["rm"] for c in record["candidates"]]),
                          TargetConfig(price_weight=price_weight, length_weight=length_weight))
    terms = target.terms(trajectories[0].task.instruction, trajectories)
    return trajectories[best_index([Candidate(t, r) for t, r in zip(trajectories, terms,
                                                                     strict=True)])]


def summarize(chosen: list[Trajectory]) -> dict[str, Any]:
    prices = [t.info["price"] for t in chosen if t.info.get("price") is not None]
    return {"mean_reward": round(statistics.mean(t.env_score or 0.0 for t in chosen), 4),
            "mean_price": round(statistics.mean(prices), 2) if prices else None,
            "purchases": len(prices),
            "mean_steps": round(statistics.mean(len(t.steps) for t in chosen), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results.jsonl of a WebShop eval run")
    parser.add_argument("--out", default="webshop_targets.json")
    args = parser.parse_args()
    records = [r for (_, method), r in sorted(load_results(args.results).items())
               if method == "best_of_n"]
    if not records:
        raise SystemExit(f"{args.results} has no best_of_n results")
    settings = []
    for kind, mu, lam in SETTINGS:
        chosen = [repick(r, mu, lam) for r in records]
        if kind == "none":  # the recorded pick: the re-ranking reproduces the planner
            recorded = [Trajectory.from_dict(r["candidates"][r["chosen"]]["trajectory"])
                        for r in records]
            assert [t.actions for t in chosen] == [t.actions for t in recorded]
        settings.append({"target": kind, "price_weight": mu, "length_weight": lam,
                         "goals": len(records), **summarize(chosen)})
    base = settings[0]["mean_price"]
    rows = []
    for s in settings:
        label = {"none": "none", "price": f"price, μ = {s['price_weight']:g}",
                 "length": f"length, λ = {s['length_weight']:g}"}[s["target"]]
        change = "" if s is settings[0] or not base else \
            f" ({(s['mean_price'] / base - 1) * 100:+.0f}%)"
        rows.append((label, f"reward {s['mean_reward']:.3f}, price {s['mean_price']}{change}, "
                            f"{s['purchases']} purchases, {s['mean_steps']:.2f} steps"))
    write_report(rows, {"results": str(args.results), "settings": settings}, args.out)


if __name__ == "__main__":
    main()
