"""WebShopEnv: the contract, page flows, invalid actions, snapshots and the conformance checks."""

import random
import subprocess
import sys

import pytest

pytest.importorskip("bm25s")

from armap.envs import envs, make
from armap.envs.base import Snapshot
from armap.envs.checker import check_env
from armap.envs.webshop.data import WebShopDataError
from armap.envs.webshop.env import WebShopEnv, search_queries
from armap.episode import replay
from armap.errors import ConfigError

from .tiny import INSTRUCTION


@pytest.fixture
def env(tiny_dir):
    with WebShopEnv(data_dir=tiny_dir) as e:
        yield e


def deodorant_task(env):
    return next(t for t in env.tasks("test") if t.spec["asin"] == "B000TEST01"
                and t.spec["goal_options"]["scent"] == "calming lavender"
                and t.spec["goal_options"]["size"] == "travel set")


def test_registered_and_lazy():
    assert envs.spec("webshop").id == "webshop-v0"
    code = ("import sys, armap, armap.envs; armap.envs.envs.spec('webshop');"
            "print(sorted(m for m in ('bm25s', 'spacy', 'rapidfuzz', 'Stemmer') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_tasks_and_options(env, tiny_dir):
    assert env.splits == ("train", "validation", "test") and env.max_steps == 10
    tasks = env.tasks("test")
    assert [t.id for t in tasks] == [f"webshop_{i}" for i in range(6)]  # 4 + 2 goals
    assert all(t.instruction == t.spec["instruction_text"] and t.env == "webshop"
               for t in tasks)
    assert env.tasks("train") == [] and env.tasks("validation") == []
    with pytest.raises(ConfigError, match="train, validation, test"):
        env.tasks("dev")
    for bad in ({"catalog": "2k"}, {"max_steps": 0}, {"num_products": 0},
                {"price_seed": "x"}):
        with pytest.raises(ConfigError):
            WebShopEnv(data_dir=tiny_dir, **bad)
    with pytest.raises(WebShopDataError):
        WebShopEnv(data_dir=tiny_dir / "absent")
    assert WebShopEnv(data_dir=tiny_dir, max_steps=15).max_steps == 15
    assert WebShopEnv(data_dir=tiny_dir)._shared is env._shared  # loaded once per process
    human = WebShopEnv(data_dir=tiny_dir, human_goals=True).tasks("test")
    assert [t.spec["source"] for t in human] == ["human"]


def test_a_whole_episode(env):
    task = deodorant_task(env)
    first = env.reset(task)
    assert first == f"WebShop [SEP] Instruction: [SEP] {task.instruction} [SEP] Search"
    assert env.valid_actions() == [f"search[{q}]" for q in search_queries(task.instruction)]
    obs, done = env.step("search[Deodorant]")
    assert not done and "Page 1 (Total results: 1) [SEP] Next > [SEP] B000TEST01" in obs
    assert env.valid_actions() == ["click[back to search]", "click[next >]",
                                   "click[b000test01]"]
    obs, _ = env.step("click[B000TEST01]")  # clicks are case-insensitive
    assert "scent [SEP] bright citrus [SEP] calming lavender [SEP] size" in obs
    assert env.valid_actions()[:6] == ["click[back to search]", "click[< prev]",
                                       "click[description]", "click[features]",
                                       "click[reviews]", "click[buy now]"]
    env.step("click[calming lavender]")
    env.step("click[travel set]")
    obs, _ = env.step("click[Features]")
    assert obs.endswith("< Prev [SEP] Aluminum free [SEP] ")
    obs, _ = env.step("click[< prev]")  # back to the item; the options are kept
    assert obs.endswith("Buy Now") and "Price: $10.99" in obs
    cap = task.spec["price_upper"]
    assert env.info() == {"asin": None, "price": None, "price_cap": cap, "options": {},
                          "bought": False}
    assert env.score() == 0.0 and env.reward_details() is None
    obs, done = env.step("click[buy now]")
    assert done and obs.startswith("Thank you for shopping with us!")
    assert '{"scent": "calming lavender", "size": "travel set"}' in obs
    assert env.info() == {"asin": "B000TEST01", "price": 10.99, "price_cap": cap,
                          "options": {"scent": "calming lavender", "size": "travel set"},
                          "bought": True}
    assert env.valid_actions() == []
    assert env.step("click[back to search]") == (
        "The episode is over; no further actions are taken.", True)
    pytest.importorskip("spacy")
    details = env.reward_details()
    assert details is not None and details.num_option_matches == 2
    assert details.num_attr_matches == 2 and details.r_price
    assert env.score() == details.total == pytest.approx(details.r_type)


@pytest.mark.parametrize(("actions", "failure"), [
    (["search[Deodorant]", "click[b000test01]"], "no_purchase"),
    (["search[Deodorant]", "click[b000test01]", "click[calming lavender]",
      "click[travel set]", "click[buy now]"], None),
    (["search[Deodorant]", "click[b000test01]", "click[bright citrus]", "click[travel set]",
      "click[buy now]"], "wrong_options"),
    (["search[lamp]", "click[b000test03]", "click[buy now]"], "wrong_product_type"),
])
def test_failure_types_name_the_missed_reward_factor(env, actions, failure):
    task = deodorant_task(env)
    trajectory = replay(env, task, actions)
    assert env.failure_type(trajectory) == failure
    assert (failure is None) == (trajectory.env_score == 1.0)


def test_navigation_follows_the_original(env):
    env.reset(deodorant_task(env))
    env.step("search[lavender]")
    assert env.actions == ["search[lavender]"]
    env.step("click[b000test01]")
    env.step("click[travel set]")
    obs, _ = env.step("click[< prev]")  # from the item back to the results: options reset
    assert obs.startswith("Instruction:") and "Page 1 (Total results: 2)" in obs
    env.step("click[b000test01]")
    obs, _ = env.step("search[lamp]")  # search works from any page, as in the original
    assert "B000TEST03 [SEP] Brass Desk Lamp [SEP] $25.0" in obs
    obs, _ = env.step("click[next >]")
    assert "Page 2 (Total results: 1) [SEP] < Prev [SEP] Next >" in obs
    obs, _ = env.step("click[< prev]")
    assert "Page 1 (Total results: 1) [SEP] Next > [SEP] B000TEST03" in obs
    env.step("click[b000test03]")
    env.step("click[buy now]")
    assert env.info()["options"] == {}
    env.reset(deodorant_task(env))
    env.step("search[lamp]")
    obs, _ = env.step("click[back to search]")
    assert obs.startswith("WebShop [SEP] Instruction:")


@pytest.mark.parametrize("action,message", [
    ("let me think", "use search[keywords] or click[name]"),
    ("search[]", "use search[keywords] or click[name]"),
    ("click[b000test03]", "'b000test03' cannot be clicked on this page"),
    ("Click[next >]", "use search[keywords] or click[name]"),
])
def test_invalid_actions_are_wasted_steps(env, action, message):
    env.reset(deodorant_task(env))
    env.step("search[deodorant]")
    obs, done = env.step(action)
    assert obs.startswith("Invalid action") and message in obs and not done
    assert env.actions == ["search[deodorant]", action]
    # the results page is still there: its "Next >" works
    assert "Page 2 (Total results: 1)" in env.step("click[next >]")[0]


def test_click_search_is_invalid(env):
    env.reset(deodorant_task(env))
    obs, done = env.step("click[search]")
    assert obs.startswith("Invalid action") and "Use search[keywords] here" in obs
    assert not done


def test_parse_action():
    reply = "Thought:\nI should buy it.\n\nAction:\nclick[Buy Now]\nthen more"
    assert WebShopEnv.parse_action(reply) == "click[Buy Now]"
    assert WebShopEnv.parse_action("search[red shoes] now") == "search[red shoes]"
    assert WebShopEnv.parse_action("no action here") is None


def test_search_queries():
    assert search_queries(INSTRUCTION) == ["aluminum free deodorant for sensitive skin",
                                           "aluminum free deodorant"]
    assert search_queries("Find me pillows with printing technology with size: 28\" x 28\", "
                          "and price lower than 50.00 dollars") == [
        'pillows with printing technology with size: 28" x 28"',
        "pillows with printing technology", "pillows"]
    assert search_queries("i need a long lasting bottle of perfume, and price lower than "
                          "100.00 dollars") == ["long lasting bottle of perfume",
                                           "lasting bottle of perfume"]


def _walk(env, task, rng, steps):
    env.reset(task)
    for _ in range(steps):
        actions = env.valid_actions()
        if not actions:
            break
        env.step(rng.choice(actions))


def test_restore_equals_replay(env):
    rng = random.Random(3)
    for task in env.tasks("test"):
        for _ in range(5):
            _walk(env, task, rng, rng.randrange(1, 7))
            snap = env.snapshot()
            assert snap.state is not None  # a cheap snapshot, no replay
            _walk(env, task, rng, 3)
            env.restore(snap)
            restored = (env.actions, env.valid_actions(), env.info(), env.done)
            follow = env.valid_actions()[:1]
            after_restore = [env.step(a) for a in follow]
            env.restore(Snapshot(task, snap.actions))
            assert restored == (env.actions, env.valid_actions(), env.info(), env.done)
            assert after_restore == [env.step(a) for a in follow]


def test_conformance_on_the_tiny_catalog(env):
    for task in env.tasks("test")[:3]:
        check_env(env, task, episodes=5)


def test_conformance_on_real_test_goals(real_env):
    assert len(real_env.tasks("test")) == 500
    for task in real_env.tasks("test")[:5]:
        check_env(real_env, task, episodes=10)


def test_make_finds_the_shared_data(real_dir):
    with make("webshop") as e:  # default data_dir: ../shared/data/webshop
        assert e.id == "webshop-v0" and len(e.tasks("validation")) == 1000


def test_a_missing_extra_names_the_install_command(tiny_dir, monkeypatch):
    from armap.envs.webshop import data, reward
    from armap.envs.webshop import env as env_module
    from armap.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "bm25s", None)  # import bm25s now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'armap\[webshop\]'"):
        env_module._shared(data.resolve_data_dir(tiny_dir), "1k", 2, False, 7)
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)
    with pytest.raises(MissingDependencyError, match="rapidfuzz"):
        reward.token_set_ratio("a", "b")
