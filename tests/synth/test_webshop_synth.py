"""WebShop synthesis: hindsight relabeling with one-decision negatives, and explorer pairs."""

import json
from pathlib import Path

import pytest

from armap.envs.spec import EnvConfig
from armap.envs.webshop.explorer import HeuristicShopper
from armap.episode import rollout
from armap.explore import explore
from armap.llm.scripted import ScriptedLLM
from armap.policy import AgentConfig
from armap.synth import SynthConfig, reserved_task_ids, synthesize
from armap.synth.base import pair_by_score
from armap.synth.webshop import NEGATIVE_TYPES, relabeled_task
from armap.types import read_triplets

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "webshop"
pytestmark = pytest.mark.skipif(not (REAL / "products_1k.jsonl").is_file(),
                                reason=f"the WebShop 1k catalog is not in {REAL.resolve()}")


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    run = tmp_path_factory.mktemp("ws") / "explore"
    config = EnvConfig(env="webshop", limit=40)
    explore(_explore_config(config), run)
    return run / "trajectories.jsonl"


def _explore_config(env):
    from armap.explore import ExploreConfig

    return ExploreConfig(env=env, agent=AgentConfig(policy="heuristic"), samples=2)


def test_relabel_triplets_are_verified_by_the_shops_reward(explored, tmp_path):
    config = SynthConfig(env=EnvConfig(env="webshop"), trajectories=str(explored), count=400)
    stats = synthesize(config, tmp_path)
    triplets = read_triplets(tmp_path / "triplets.jsonl")
    assert stats["triplets"] == len(triplets) > 50
    kinds = {t.negative_type for t in triplets}
    assert set(NEGATIVE_TYPES) - {"other_option"} <= kinds and "lower_score" in kinds
    for t in triplets:
        assert t.positive.env_score > t.negative.env_score
        if t.source["strategy"] == "webshop-relabel":
            assert t.positive.env_score >= 0.75
            assert t.positive.env_score - t.negative.env_score >= 0.1
            assert t.instruction == t.positive.task.instruction == t.negative.task.instruction
            assert t.instruction in t.positive.initial_observation  # replayed under it
            spec = t.positive.task.spec
            assert spec["asin"] == t.positive.info["asin"].upper()
            assert f"price lower than {spec['price_upper']:.2f} dollars" in t.instruction
            for group, value in spec["goal_options"].items():
                assert f"{group}: {value}" in t.instruction
        if t.negative_type == "over_price":
            assert t.negative.info["price"] > t.negative.task.spec["price_upper"]
        if t.negative_type == "no_purchase":
            assert not t.negative.info["bought"]


def test_synthesis_never_uses_an_evaluation_goal(tmp_path):
    env = EnvConfig(env="webshop", split="test", limit=10)
    explore(_explore_config(env), tmp_path / "explore")  # explored test goals, by mistake
    config = SynthConfig(env=EnvConfig(env="webshop"),
                         trajectories=str(tmp_path / "explore" / "trajectories.jsonl"),
                         count=100)
    stats = synthesize(config, tmp_path / "synth")
    assert stats["triplets"] == 0
    reserved = reserved_task_ids(config)
    assert len(reserved) == 1500 and "webshop_0" in reserved and "webshop_1499" in reserved
    assert "webshop_1500" not in reserved


def test_explorer_pairs_need_a_score_margin():
    from armap.envs import make

    with make("webshop") as env:
        task = env.tasks("train")[3]
        attempts = [rollout(env, HeuristicShopper(), task, temperature=1.0, seed=s)
                    for s in range(6)]
    scores = sorted({round(a.env_score, 6) for a in attempts})
    pairs = list(pair_by_score(attempts, margin=0.2))
    for p in pairs:
        assert p.positive.env_score - p.negative.env_score >= 0.2
        assert p.instruction == task.instruction and p.task_id == task.id
    wide = [(a, b) for a in attempts for b in attempts
            if a.env_score - b.env_score >= 0.2]
    assert len(pairs) == len(wide), scores


def test_an_llm_may_word_the_relabeled_instruction(explored):
    import random

    from armap.envs import make
    from armap.types import Trajectory

    bought = next(Trajectory.from_dict(json.loads(x)) for x in explored.read_text().splitlines()
                  if json.loads(x)["info"].get("bought"))
    llm = ScriptedLLM(replies=["Find me a sturdy thing with two handles\nmore text"])
    with make("webshop") as env:
        task = relabeled_task(env, bought, random.Random(0), llm=llm)
        assert task.instruction.startswith("Find me a sturdy thing with two handles")
        bad = ScriptedLLM(replies=["Sure! Here is a request: $$$"])
        fallback = relabeled_task(env, bought, random.Random(0), llm=bad)
        assert fallback.instruction.startswith("Find me") and "$$$" not in fallback.instruction
