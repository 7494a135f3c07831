"""The benchmark loop: every method on every task with the same policy and budget.

``results.jsonl`` gets one line per (task, method) as soon as a task's method finishes; a
crashed planner is recorded as a failure with its error and the run goes on; re-running
resumes. Sampling, Best-of-N and the oracle best-of-N come from the same candidates (one run
of N episodes per task), so they are comparable by construction. `write_report` turns the
results into ``report.md`` and ``budget.png`` (score against budget, read off the candidates in
the order each planner produced them: every planner here is anytime).
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from armap.config import check_choice, opt
from armap.console import number
from armap.envs.spec import EnvConfig
from armap.errors import ConfigError
from armap.jsonl import read_jsonl
from armap.planning import MCTSConfig, PlanContext, ReflexionConfig, SamplingConfig, planners
from armap.planning.base import RESULT_SCHEMA_VERSION
from armap.policy import AgentConfig, build_policy
from armap.redact import redact
from armap.reward.target import RewardTarget, TargetConfig
from armap.rundir import RunDir
from armap.runner import Episode, RunnerConfig, Work, make_episodes, run_episodes
from armap.types import Cost

log = logging.getLogger(__name__)
RESULTS = "results.jsonl"
METHODS = ("greedy", "sampling", "best_of_n", "reflexion", "mcts")
NEEDS_RM = ("best_of_n", "reflexion", "mcts")


@dataclass
class EvalConfig:
    """What `armap eval` runs."""

    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    methods: str = opt(",".join(METHODS), "Comma-separated methods: " + ", ".join(METHODS))
    budget: int = opt(10, "Complete trajectories per task for sampling, best_of_n, reflexion "
                      "(attempts) and mcts; greedy always uses one.")
    rm: str = opt("oracle", "Reward model: a checkpoint directory from `armap train`, a "
                  "server URL from `armap serve-rm` (http://HOST:PORT), or "
                  "oracle (ground truth; an upper bound, not a method).", input=True)
    seed: int = opt(0, "Base seed (per-task seeds derive from it).")
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    reflexion: ReflexionConfig = field(default_factory=ReflexionConfig)
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    def __post_init__(self) -> None:
        if not self.method_list:
            raise ConfigError(f"methods is empty: give one or more of {', '.join(METHODS)}")
        for m in self.method_list:
            check_choice("method", m, METHODS)
        if self.budget < 1:
            raise ConfigError("budget must be at least 1")

    @property
    def method_list(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]

    @property
    def split(self) -> str:
        return self.env.resolved_split("test")


@dataclass(frozen=True)
class _Unit:
    """One planner run on one task (sampling and best_of_n share one)."""

    method: str
    episode: Episode

    @property
    def key(self) -> str:
        return f"{self.episode.task.id}|{self.method}"


def _units(methods: Sequence[str]) -> list[str]:
    """Methods grouped into runs: sampling and best_of_n share one run of N episodes."""
    units = [m for m in methods if m not in ("sampling", "best_of_n")]
    if "sampling" in methods or "best_of_n" in methods:
        units.insert(0, "best_of_n" if "best_of_n" in methods else "sampling")
    return units


class _LockedReward:
    """Serialises calls into a reward model shared by worker threads, unless the model says
    its ``score`` takes concurrent calls (``concurrent = True``: a reward-model server, which
    batches the workers' requests together)."""

    def __init__(self, reward: Any) -> None:
        self.reward = reward
        self.name = reward.name
        self.threshold = getattr(reward, "threshold", None)
        self._lock: Any = (contextlib.nullcontext() if getattr(reward, "concurrent", False)
                           else threading.Lock())

    def score(self, instruction: str, trajectories: Sequence[Any]) -> list[float]:
        with self._lock:
            return self.reward.score(instruction, trajectories)


def load_reward(spec: str) -> Any:
    from armap.reward import load_reward_model

    return load_reward_model(spec)


def evaluate(config: EvalConfig, run_dir: str | Path, *, policy: Any = None,
             reward: Any = None) -> dict[str, Any]:
    """Run (or resume) the evaluation into ``run_dir`` and write the report."""
    run = RunDir(run_dir)
    started = time.perf_counter()
    with run.running("eval", config, seed=config.seed) as summary:
        summary["env"] = config.env.spec()
        methods = config.method_list
        with config.env.make() as probe:
            tasks = config.env.tasks(probe, "test")
        items = [_Unit(m, e) for m in _units(methods)
                 for e in make_episodes(tasks, 1, config.seed)]
        with EvalWork(config, policy, reward) as work:
            if config.runner.in_process:
                work.prepare()
            run_episodes(items, work, run.file(RESULTS), key=result_key,
                         executor=config.runner.make_executor(), desc="eval",
                         failures=config.runner.failures(result_failed))
        summary["methods"] = write_report(run.path, config)
        summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


class EvalWork(Work[_Unit, list[dict[str, Any]]]):
    """One planner run on one task, as its result record(s).

    Args:
        config: The run's config; the policy and the reward model are built from it on first
            use (once per process) unless given (they must then be picklable to run in Ray
            actors).
    """

    def __init__(self, config: EvalConfig, policy: Any = None, reward: Any = None) -> None:
        super().__init__(config.env.make)
        self.config = config
        self.given_policy = policy
        self.given_reward = reward

    def policy(self) -> Any:
        """The given policy, or the config's, built once in this process."""
        if self.given_policy is not None:
            return self.given_policy
        env = self.config.env
        return self.shared("policy", lambda: build_policy(self.config.agent, env.family,
                                                          env.env_class.parse_action))

    def target(self) -> RewardTarget:
        """The reward target over the (given or loaded) reward model, made once in this
        process; its calls into the model are serialised."""
        return self.shared("target", lambda: RewardTarget(
            _LockedReward(self.given_reward or load_reward(self.config.rm)), self.config.target))

    def prepare(self) -> None:
        self.policy()
        self.target()

    def __call__(self, unit: _Unit) -> list[dict[str, Any]]:
        return _run_unit(unit.method, unit.episode.task, self.env(), self.policy(),
                         self.target(), self.config, unit.episode.seed,
                         self.config.method_list)


def result_key(record: dict[str, Any]) -> str:
    """The planner run a result record belongs to (``task|unit``)."""
    return f"{record['task_id']}|{record['unit']}"


def result_failed(record: dict[str, Any]) -> bool:
    """Whether a result record is a crashed planner run (to be run again on resume)."""
    return bool(record.get("error"))


def _run_unit(unit: str, task: Any, env: Any, policy: Any, target: RewardTarget,
              config: EvalConfig, seed: int, methods: Sequence[str]) -> list[dict[str, Any]]:
    planner = _planner(unit, config)
    ctx = PlanContext(task, env, policy, target, seed=seed, max_steps=config.env.max_steps)
    budget = 1 if unit == "greedy" else config.budget
    try:
        result = planner.solve(ctx, budget)
        record = result.to_dict()
        record["score_cache_hits"] = ctx.score_hits
        records = [record]
    except Exception as e:  # a crashed planner is a recorded failure; the run goes on
        log.warning("%s on %s failed: %s", unit, task.id, e)
        records = [{"schema_version": RESULT_SCHEMA_VERSION, "task_id": task.id,
                    "planner": unit, "budget": budget, "chosen": None, "env_score": 0.0,
                    "steps": None, "candidates": [], "cost": ctx.cost.to_dict(),
                    "error": redact(f"{type(e).__name__}: {e}"), "meta": {}}]
    if unit == "best_of_n" and "sampling" in methods:
        sampled = dict(records[0], planner="sampling")
        if sampled["candidates"]:
            sampled["chosen"] = 0
            scores = [c["env_score"] or 0.0 for c in sampled["candidates"]]
            sampled["env_score"] = statistics.fmean(scores)
            sampled["steps"] = statistics.fmean(
                len(c["trajectory"]["steps"]) for c in sampled["candidates"])
        records.append(sampled)
    for r in records:
        r["unit"] = unit
        r["method"] = r["planner"]
    return records


def _planner(unit: str, config: EvalConfig) -> Any:
    if unit in ("sampling", "best_of_n"):
        return planners.make(unit, config=config.sampling)
    if unit == "reflexion":
        return planners.make(unit, config=config.reflexion)
    if unit == "mcts":
        return planners.make(unit, config=config.mcts)
    return planners.make(unit)


# -- report ------------------------------------------------------------------------------
def load_results(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest record per (task, method)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in read_jsonl(path):
        out[(r["task_id"], r["method"])] = r
    return out


def method_rows(results: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per method: success, oracle best-of-N, steps and mean cost."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for (_, method), r in results.items():
        by_method.setdefault(method, []).append(r)
    rows = []
    for method in [m for m in METHODS if m in by_method]:
        records = by_method[method]
        n = len(records)
        cost = Cost()
        for r in records:
            cost.add(Cost.from_dict(r["cost"]))
        oracle = [max((c["env_score"] or 0.0) for c in r["candidates"]) if r["candidates"]
                  else 0.0 for r in records]
        success = [r["env_score"] or 0.0 for r in records]
        steps = [r["steps"] for r in records if r["steps"] is not None]
        rows.append({
            "method": method,
            "tasks": n,
            "score": round(statistics.fmean(success), 4),
            "oracle_best_of_n": round(statistics.fmean(oracle), 4),
            "of_oracle": (round(statistics.fmean(success) / statistics.fmean(oracle), 3)
                          if statistics.fmean(oracle) > 0 else None),
            "mean_steps": round(statistics.fmean(steps), 3) if steps else None,
            "mean_price": _mean_price(records, method),
            "errors": sum(1 for r in records if r.get("error")),
            "budget": records[0]["budget"],
            "llm_calls": round(cost.llm_calls / n, 2),
            "completion_tokens": round(cost.completion_tokens / n, 1),
            "env_steps": round(cost.env_steps / n, 1),
            "rm_calls": round(cost.rm_calls / n, 2),
            "seconds": round(cost.seconds / n, 3),
        })
    return rows


def _mean_price(records: list[dict[str, Any]], method: str) -> float | None:
    """Mean price the environment reported for the chosen trajectories' purchases (for
    sampling, of every candidate's), or None when nothing reported a price."""
    prices = []
    for r in records:
        if not r["candidates"] or r.get("chosen") is None:
            continue
        chosen = r["candidates"] if method == "sampling" else [r["candidates"][r["chosen"]]]
        prices += [c["trajectory"].get("info", {}).get("price") for c in chosen]
    prices = [p for p in prices if p is not None]
    return round(statistics.fmean(prices), 3) if prices else None


def budget_curve(results: dict[tuple[str, str], dict[str, Any]], method: str, budget: int
                 ) -> list[float]:
    """Mean ground truth of what ``method`` would have returned at budgets 1..``budget``:
    the best reward among its first b candidates (mean over them for sampling)."""
    curve = []
    records = [r for (_, m), r in results.items() if m == method and r["candidates"]]
    for b in range(1, budget + 1):
        values = []
        for r in records:
            cands = r["candidates"][:b]
            if method == "sampling":
                values.append(statistics.fmean(c["env_score"] or 0.0 for c in cands))
            else:
                best = max(cands, key=lambda c: c["reward"].get("total", float("-inf")))
                values.append(best["env_score"] or 0.0)
        curve.append(statistics.fmean(values) if values else 0.0)
    return curve


def write_report(run_dir: Path, config: EvalConfig) -> list[dict[str, Any]]:
    """Write ``report.md`` and ``budget.png``; returns the per-method rows."""
    results = load_results(run_dir / RESULTS)
    rows = method_rows(results)
    lines = [
        f"# armap eval: {config.env.id}, split {config.split}",
        "",
        f"Policy: {config.agent.policy} ({config.agent.llm.llm}:{config.agent.llm.model}), "
        f"reward model: "
        f"{config.rm}, budget: {config.budget} complete trajectories per task "
        "(greedy: 1), tasks: "
        f"{max((r['tasks'] for r in rows), default=0)}.",
        "",
        *method_table(rows),
    ]
    lines += ["", "Costs are means per task. Score is the mean ground-truth score of the chosen "
              "trajectory (sampling: the mean over its N episodes); score / oracle is how much "
              "of the best candidate's score the method's own pick reaches; mean price is that "
              "of the purchases made (environments that report a price).", "",
              "![score against budget](budget.png)", ""]
    (run_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")
    _plot(run_dir / "budget.png", results, config)
    return rows


def method_table(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of ``method_rows``: score, oracle and costs per method."""
    lines = [
        "| method | score | oracle best-of-N (same candidates) | score / oracle | mean steps | "
        "mean price | errors | LLM calls | completion tokens | env steps | RM calls | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['score']:.3f} | {r['oracle_best_of_n']:.3f} | "
                     f"{number(r['of_oracle'])} | {r['mean_steps']} | "
                     f"{number(r['mean_price'])} | "
                     f"{r['errors']} | {r['llm_calls']} | {r['completion_tokens']} | "
                     f"{r['env_steps']} | {r['rm_calls']} | {r['seconds']} |")
    return lines


def _plot(path: Path, results: dict[tuple[str, str], dict[str, Any]], config: EvalConfig
          ) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    budgets = list(range(1, config.budget + 1))
    methods = {m for _, m in results}
    for method in [m for m in METHODS if m in methods and m != "greedy"]:
        ax.plot(budgets, budget_curve(results, method, config.budget), marker="o",
                label=method)
    if "greedy" in methods:
        greedy = [r["env_score"] or 0.0 for (_, m), r in results.items() if m == "greedy"]
        ax.axhline(statistics.fmean(greedy), linestyle="--", color="grey", label="greedy")
    ax.set_xlabel("budget (complete trajectories)")
    ax.set_ylabel("mean ground-truth score")
    ax.set_title(f"{config.env.id} {config.split}: score against budget")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
