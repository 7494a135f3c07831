"""`armap eval` on WebShop: every method runs, and the reward targets move what they target."""

from pathlib import Path

import pytest

from armap.envs.spec import EnvConfig
from armap.evaluate import EvalConfig, evaluate
from armap.policy import AgentConfig

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "webshop"
pytestmark = pytest.mark.skipif(not (REAL / "products_1k.jsonl").is_file(),
                                reason=f"the WebShop 1k catalog is not in {REAL.resolve()}")


def config(methods: str, **kw) -> EvalConfig:
    return EvalConfig(env=EnvConfig(env="webshop", limit=8), methods=methods, budget=6,
                      agent=AgentConfig(policy="heuristic"), **kw)


def test_every_method_runs_on_webshop(tmp_path):
    summary = evaluate(config("greedy,sampling,best_of_n,reflexion,mcts"), tmp_path)
    rows = {r["method"]: r for r in summary["methods"]}
    assert set(rows) == {"greedy", "sampling", "best_of_n", "reflexion", "mcts"}
    assert all(r["errors"] == 0 and r["mean_price"] is not None for r in rows.values())
    assert rows["best_of_n"]["score"] == rows["best_of_n"]["oracle_best_of_n"]  # oracle RM
    report = (tmp_path / "report.md").read_text()
    assert "webshop-v0, split test" in report and "mean price" in report


def test_price_and_length_targets_lower_what_they_target(tmp_path):
    plain = {r["method"]: r for r in evaluate(config("best_of_n"), tmp_path / "a")["methods"]}
    priced = config("best_of_n")
    priced.target.price_weight = 1.0
    cheap = {r["method"]: r for r in evaluate(priced, tmp_path / "b")["methods"]}
    assert cheap["best_of_n"]["mean_price"] < plain["best_of_n"]["mean_price"]
    short = config("best_of_n")
    short.target.length_weight = 0.2
    brief = {r["method"]: r for r in evaluate(short, tmp_path / "c")["methods"]}
    assert brief["best_of_n"]["mean_steps"] < plain["best_of_n"]["mean_steps"]
