"""Best-of-N re-ranking of recorded trajectories with a reward model (`armap rerank`).

For each N, every task's first N trajectories (in file order) are candidates: the reward
model's pick, the best candidate (the oracle best-of-N) and the candidates' mean (what
sampling one of them gets) are compared on the environment's ground truth. Picks that fell
short are counted by the environment's own failure types, split by whether a better candidate
was there to pick.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armap.config import opt
from armap.envs import make
from armap.errors import ConfigError, MissingFileError
from armap.explore import latest_trajectories
from armap.reward.scoring import score_trajectories
from armap.types import Trajectory


@dataclass
class RerankConfig:
    """What `armap rerank` reads."""

    rm: str = opt("oracle", "Reward model: a checkpoint directory from `armap train`, a "
                  "server URL from `armap serve-rm` (http://HOST:PORT), or "
                  "oracle (ground truth; a sanity check).")
    input: str = opt("trajectories.jsonl", "Trajectories, several per task (e.g. from "
                     "`armap import`).")
    n: str = opt("1,5,10,all", "Candidate counts N to report, comma-separated; all: every "
                 "trajectory of a task.")
    output: str | None = opt(None, "Where to write the JSON report (default: "
                             "INPUT.rerank.json).")

    def __post_init__(self) -> None:
        self.counts  # noqa: B018 -- validate now

    @property
    def counts(self) -> list[int | None]:
        """The N values; None stands for all."""
        out: list[int | None] = []
        for item in (s.strip() for s in self.n.split(",")):
            if item == "all":
                out.append(None)
            elif item.isdigit() and int(item) >= 1:
                out.append(int(item))
            else:
                raise ConfigError(f"--n: {item!r} is not a positive count or 'all'")
        if not out:
            raise ConfigError("--n is empty: give counts such as 1,5,10,all")
        return out

    @property
    def output_path(self) -> Path:
        return Path(self.output) if self.output else Path(self.input).with_suffix(".rerank.json")


def rerank(config: RerankConfig, reward: Any) -> dict[str, Any]:
    """Score every trajectory of ``config.input`` with ``reward`` and report each N."""
    path = Path(config.input)
    if not path.is_file():
        raise MissingFileError(f"--input {path} does not exist")
    trajectories = latest_trajectories(path)
    if not trajectories:
        raise ConfigError(f"{path} holds no trajectories")
    scores = score_trajectories(reward, trajectories)
    by_task: dict[str, list[tuple[float, Trajectory]]] = {}
    for score, t in zip(scores, trajectories, strict=True):
        by_task.setdefault(t.task.id, []).append((score, t))
    with make(trajectories[0].task.env) as env:
        rows = [_row(by_task, n, env.failure_type) for n in config.counts]
    report = {"input": str(path), "rm": config.rm, "tasks": len(by_task),
              "trajectories": len(trajectories), "rows": rows}
    config.output_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _row(by_task: dict[str, list[tuple[float, Trajectory]]], n: int | None,
         failure_type: Any) -> dict[str, Any]:
    picks, oracles, means = [], [], []
    wrong: dict[str, dict[str, int]] = {}
    for candidates in by_task.values():
        chosen = candidates if n is None else candidates[:n]
        truth = [t.env_score or 0.0 for _, t in chosen]
        best = max(range(len(chosen)), key=lambda i: chosen[i][0])
        pick = truth[best]
        picks.append(pick)
        oracles.append(max(truth))
        means.append(statistics.fmean(truth))
        if pick < 1.0:
            kind = failure_type(chosen[best][1]) or f"score {pick:.2f}"
            where = "better_available" if max(truth) > pick else "none_better"
            wrong.setdefault(kind, {"better_available": 0, "none_better": 0})[where] += 1
    pick, oracle = statistics.fmean(picks), statistics.fmean(oracles)
    return {"n": "all" if n is None else n, "pick": round(pick, 4), "oracle": round(oracle, 4),
            "mean": round(statistics.fmean(means), 4),
            "pick_over_oracle": round(pick / oracle, 4) if oracle else None,
            "wrong_picks": dict(sorted(wrong.items(), key=lambda kv: -sum(kv[1].values())))}


def format_report(report: dict[str, Any]) -> str:
    """The report as markdown: one row per N, then the failure types of the wrong picks."""
    lines = [f"{report['trajectories']} trajectories of {report['tasks']} tasks, "
             f"reward model {report['rm']}", "",
             "| N | RM pick | oracle best-of-N | mean of the candidates | pick / oracle |",
             "|---|---:|---:|---:|---:|"]
    for r in report["rows"]:
        ratio = "-" if r["pick_over_oracle"] is None else f"{r['pick_over_oracle']:.3f}"
        lines.append(f"| {r['n']} | {r['pick']:.3f} | {r['oracle']:.3f} | {r['mean']:.3f} | "
                     f"{ratio} |")
    last = report["rows"][-1]
    if last["wrong_picks"]:
        lines += ["", f"Picks short of full score at N = {last['n']}, by failure type:", "",
                  "| failure | a better candidate was there | none was |", "|---|---:|---:|"]
        for kind, c in last["wrong_picks"].items():
            lines.append(f"| {kind} | {c['better_available']} | {c['none_better']} |")
    return "\n".join(lines)
