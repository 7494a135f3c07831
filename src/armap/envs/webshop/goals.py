"""WebShop goals, built by the rules of the original ``web_agent_site/engine/goal.py``.

Synthetic goals: for every product with an instruction in the attribute file, one goal per
combination of its option values (option groups in sorted order), with the instruction text
``{instruction}{ with k: v, and k: v}{, and price lower than P dollars}``. Human goals: one goal
per human-written instruction that names at least one attribute. The price cap is drawn from the
next four multiples of $10 above the product's price. The list is then shuffled with
``random.seed(233)``, so goal index N is the ``webshop_N`` task of other benchmarks, and split by
index: 0-499 test, 500-1499 validation, the rest train.

The original draws product prices (for products with a price range) and price caps from
Python's global random generator without seeding it, so its price caps change from run to run.
Here the same draws, in the same order, come from ``random.Random(price_seed)``: the asin,
options and attributes of goal N match the original and the price cap is reproducible.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from armap.envs.webshop.data import Product, WebShopDataError

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
"""The candidate price caps of the original."""
NO_PRICE_CAP = 1000000
"""The original's price cap when fewer than two candidates lie above the price."""
SHUFFLE_SEED = 233
"""The seed of the original's goal shuffle."""
DEFAULT_PRICE_SEED = 233
"""Seed of the draws the original leaves unseeded (prices of ranged products, price caps)."""
SPLITS: dict[str, range] = {
    "test": range(0, 500),
    "validation": range(500, 1500),
    "train": range(1500, 10**9),
}
"""The original split of goal indices."""


@dataclass(frozen=True)
class Goal:
    """One WebShop goal (the fields of the original goal dictionary plus its index)."""

    index: int
    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    goal_options: Mapping[str, str] | tuple[str, ...]
    """A dict (option group -> value) for synthetic goals, a list of strings for human ones."""
    price_upper: float
    source: str
    """``"synthetic"`` or ``"human"``."""

    @property
    def split(self) -> str:
        return split_of(self.index)

    def spec(self) -> dict[str, Any]:
        """A JSON-safe dict that rebuilds the goal (`Goal.from_spec`)."""
        options: Any = dict(self.goal_options) if isinstance(self.goal_options, Mapping) \
            else list(self.goal_options)
        return {"index": self.index, "asin": self.asin, "category": self.category,
                "query": self.query, "name": self.name,
                "product_category": self.product_category,
                "instruction_text": self.instruction_text, "attributes": list(self.attributes),
                "goal_options": options, "price_upper": self.price_upper,
                "source": self.source}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Goal:
        """The goal stored in a task's spec; `ValueError` names a missing field."""
        missing = [k for k in ("asin", "query", "name", "product_category", "attributes",
                               "goal_options", "price_upper") if k not in spec]
        if missing:
            raise ValueError(f"not a WebShop task spec: missing {', '.join(missing)}")
        options = spec["goal_options"]
        return cls(
            index=int(spec.get("index", -1)), asin=str(spec["asin"]),
            category=str(spec.get("category", "")), query=str(spec["query"]),
            name=str(spec["name"]), product_category=str(spec["product_category"]),
            instruction_text=str(spec.get("instruction_text", "")),
            attributes=tuple(spec["attributes"]),
            goal_options=dict(options) if isinstance(options, Mapping) else tuple(options),
            price_upper=float(spec["price_upper"]), source=str(spec.get("source", "synthetic")))


def split_of(index: int) -> str:
    """The original split of goal ``index``."""
    return next(name for name, r in SPLITS.items() if index in r)


def product_prices(products: Sequence[Product], rng: random.Random) -> dict[str, float]:
    """The price each product sells at (``generate_product_prices``): its one price, or a
    uniform draw from its price range."""
    prices: dict[str, float] = {}
    for p in products:
        if not p.pricing:
            prices[p.asin] = 100.0
        elif len(p.pricing) == 1:
            prices[p.asin] = p.pricing[0]
        else:
            prices[p.asin] = rng.uniform(*p.pricing[:2])
    return prices


def price_cap(price: float, rng: random.Random) -> tuple[float, str]:
    """A goal's price cap for an item of ``price`` (the original rule: the larger of two draws
    among the next four steps of `PRICE_RANGE`) and the clause that states it."""
    candidates = [p for p in PRICE_RANGE if p > price][:4]
    if len(candidates) >= 2:
        _, upper = sorted(rng.sample(candidates, 2))
        return upper, f", and price lower than {upper:.2f} dollars"
    return NO_PRICE_CAP, ""


def synthetic_goals(products: Sequence[Product], prices: Mapping[str, float],
                    rng: random.Random) -> list[dict[str, Any]]:
    """The original ``get_synthetic_goals`` (before the shuffle)."""
    goals: list[dict[str, Any]] = []
    for p in products:
        if p.instruction is None:
            continue
        if not p.instruction_attributes:
            raise WebShopDataError(f"asin {p.asin} has an instruction but no "
                                   "instruction_attributes in the attribute file; replace it "
                                   "with WebShop's original file.")
        upper, price_text = price_cap(prices[p.asin], rng)
        names = sorted(p.options)
        for combination in itertools.product(*(p.options[n] for n in names)):
            options = dict(zip(names, combination, strict=True))
            option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
            option_text = " with " + option_text if option_text else ""
            goals.append({
                "asin": p.asin, "category": p.category, "query": p.query, "name": p.title,
                "product_category": p.product_category,
                "instruction_text": f"{p.instruction}{option_text}{price_text}",
                "attributes": tuple(p.instruction_attributes), "price_upper": upper,
                "goal_options": options, "source": "synthetic",
            })
    return goals


def human_goals(products: Sequence[Product], prices: Mapping[str, float],
                rng: random.Random) -> list[dict[str, Any]]:
    """The original ``get_human_goals`` (before the shuffle): instructions without attributes
    are skipped."""
    goals: list[dict[str, Any]] = []
    for p in products:
        for entry in p.human_instructions:
            attributes = entry.get("instruction_attributes") or []
            if len(attributes) == 0:
                continue
            upper, price_text = price_cap(prices[p.asin], rng)
            goals.append({
                "asin": p.asin, "category": p.category, "query": p.query, "name": p.name,
                "product_category": p.product_category,
                "instruction_text": str(entry["instruction"]).strip(".") + price_text,
                "attributes": tuple(attributes), "price_upper": upper,
                "goal_options": tuple(entry.get("instruction_options") or ()),
                "source": "human",
            })
    return goals


def build_goals(products: Sequence[Product], *, human: bool = False,
                price_seed: int = DEFAULT_PRICE_SEED) -> tuple[list[Goal], dict[str, float]]:
    """All goals in the original order (shuffled with seed 233) and the product prices."""
    rng = random.Random(price_seed)
    prices = product_prices(products, rng)
    raw = (human_goals if human else synthetic_goals)(products, prices, rng)
    random.Random(SHUFFLE_SEED).shuffle(raw)
    return [Goal(index=i, **g) for i, g in enumerate(raw)], prices
