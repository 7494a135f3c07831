"""Goals by the original rules: instruction text, options, price caps, shuffle, splits."""

import hashlib
import json
import random
import subprocess
import sys

import pytest

from armap.envs.webshop.data import load_catalog
from armap.envs.webshop.goals import (
    NO_PRICE_CAP,
    SPLITS,
    Goal,
    build_goals,
    product_prices,
    split_of,
    synthetic_goals,
)

from .tiny import INSTRUCTION, product


def test_synthetic_goals_follow_the_original_rules(tiny_dir):
    catalog = load_catalog(tiny_dir)
    rng = random.Random(0)
    prices = product_prices(catalog.products, rng)
    goals = synthetic_goals(catalog.products, prices, rng)
    # the deodorant has 2 scents x 2 sizes; the lamp 2 colours; the body wash no instruction
    assert [g["asin"] for g in goals] == ["B000TEST01"] * 4 + ["B000TEST03"] * 2
    first = goals[0]
    cap = first["price_upper"]
    assert cap in (30.0, 40.0, 50.0)  # the larger of two of 20, 30, 40, 50 (above $10.99)
    assert first["instruction_text"] == (
        f"{INSTRUCTION} with scent: bright citrus, and size: 3 ounce (pack of 1), and price "
        f"lower than {cap:.2f} dollars")
    assert first["goal_options"] == {"scent": "bright citrus", "size": "3 ounce (pack of 1)"}
    assert goals[3]["goal_options"] == {"scent": "calming lavender", "size": "travel set"}
    assert all(g["price_upper"] == cap for g in goals[:4])  # one cap per product
    assert first["name"] == "Bright Citrus Deodorant by Earth Mama"
    assert first["attributes"] == ("aluminum free", "sensitive skin")


def test_price_cap_rules():
    rng = random.Random(1)
    caps = set()
    for _ in range(200):
        goal = synthetic_goals([product(asin="A", instruction="Find me x",
                                        instruction_attributes=("x",))],
                               {"A": 25.0}, rng)[0]
        caps.add(goal["price_upper"])
    assert caps == {40.0, 50.0, 60.0}  # max of two of 30, 40, 50, 60
    pricey = synthetic_goals([product(asin="A", instruction="Find me x",
                                      instruction_attributes=("x",))], {"A": 985.0}, rng)[0]
    assert pricey["price_upper"] == NO_PRICE_CAP  # only 990 lies above: no price clause
    assert pricey["instruction_text"] == "Find me x"


def test_ranged_prices_are_drawn_within_the_range():
    prices = product_prices([product(asin="A", pricing=(2.99, 6.99)),
                             product(asin="B", pricing=(4.0,)), product(asin="C", pricing=())],
                            random.Random(0))
    assert 2.99 <= prices["A"] <= 6.99 and prices["B"] == 4.0 and prices["C"] == 100.0


def test_human_goals_skip_instructions_without_attributes(tiny_dir):
    catalog = load_catalog(tiny_dir, human_goals=True)
    goals, _ = build_goals(catalog.products, human=True)
    assert len(goals) == 1
    [g] = goals
    assert g.source == "human" and g.goal_options == ("travel size",)
    assert g.instruction_text.startswith("i want a lavender body wash, and price lower than ")
    assert Goal.from_spec(json.loads(json.dumps(g.spec()))) == g


def test_spec_round_trip_and_bad_specs(tiny_dir):
    goals, _ = build_goals(load_catalog(tiny_dir).products)
    for g in goals:
        assert Goal.from_spec(json.loads(json.dumps(g.spec()))) == g
    with pytest.raises(ValueError, match="missing"):
        Goal.from_spec({"numbers": [1, 2, 3, 4]})


def test_split_by_index():
    assert [split_of(i) for i in (0, 499, 500, 1499, 1500, 6909)] == \
        ["test", "test", "validation", "validation", "train", "train"]
    assert list(SPLITS) == ["test", "validation", "train"]


def _digest(goals):
    return hashlib.sha256(json.dumps([g.spec() for g in goals]).encode()).hexdigest()


def test_real_catalog_goals(real_dir):
    catalog = load_catalog(real_dir)
    goals, prices = build_goals(catalog.products)
    assert len(catalog.products) == 1000 and len(goals) == 6910
    # goal 0 is the "webshop_0" of other benchmarks (its price cap is drawn unseeded there)
    g0 = goals[0]
    assert g0.asin == "B0743JKHBV" and g0.goal_options == {"size": '28" x 28"'}
    assert g0.instruction_text.startswith(
        'Find me double sided, machine washable decorative pillows with printing technology '
        'with size: 28" x 28", and price lower than ')
    assert goals[3].instruction_text.startswith(
        "Find me dual band streaming media players with quad core, and price lower than")
    # with the default price seed, goals 0-19 get the price caps of a logged original run
    assert [g.price_upper for g in goals[:20]] == [
        50, 30, 50, 340, 40, 60, 40, 50, 40, 40, 70, 30, 50, 80, 40, 50, 40, 70, 50, 80]
    sizes = {name: sum(1 for g in goals if g.split == name) for name in SPLITS}
    assert sizes == {"test": 500, "validation": 1000, "train": 5410}
    assert len(prices) == 1000
    # the same goals in a fresh process
    code = ("import hashlib, json, sys; from armap.envs.webshop.data import load_catalog;"
            "from armap.envs.webshop.goals import build_goals;"
            f"g, _ = build_goals(load_catalog(__import__('pathlib').Path({str(real_dir)!r}))"
            ".products); print(hashlib.sha256(json.dumps([x.spec() for x in g]).encode())"
            ".hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": "",
                                          "PYTHONPATH": ":".join(sys.path)})
    assert out.stdout.strip() == _digest(goals)
    # another price seed changes price caps only
    other, _ = build_goals(catalog.products, price_seed=1)
    assert [g.asin for g in other] == [g.asin for g in goals]
    assert [g.goal_options for g in other] == [g.goal_options for g in goals]
    assert [g.price_upper for g in other] != [g.price_upper for g in goals]
