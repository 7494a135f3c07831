"""A heuristic WebShop explorer for offline runs, and a reader of WebShop's page text.

`HeuristicShopper` plays the way a careless but purposeful shopper does: it searches with words
of the instruction, opens one of the first results, picks a value for every option group
(usually the one the instruction names), sometimes looks at a sub-page or goes back, and buys.
At temperature 0 it always takes its best guess; above 0 it wanders, so several attempts at one
goal buy different things with different rewards, which is what synthesis needs. It reads only
what any policy sees: the observation text and the valid actions.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from armap.envs.webshop.pages import PREV_PAGE, SEP
from armap.types import Cost, Step, Trajectory

_ASIN = re.compile(r"^b[0-9a-z]{9}$")
_PRICE = re.compile(r"^\$(\d+(?:\.\d+)?)")
INVALID = "Invalid action"


@dataclass
class PageView:
    """What a page offers, read from its text and its valid actions.

    Attributes:
        kind: ``search``, ``results``, ``item``, ``sub`` (description, features, ...), ``done``
            or ``other``.
        products: On a results page, ``(asin, title, price)`` in page order (price is the low
            end of a range; None when unreadable).
        options: On an item page, option group -> values, in page order.
    """

    kind: str
    products: list[tuple[str, str, float | None]] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)


def read_page(observation: str, valid_actions: list[str]) -> PageView:
    """Classify a WebShop page and pull out its products or option groups."""
    clicks = {a[6:-1] for a in valid_actions if a.startswith("click[")}
    if any(a.startswith("search[") for a in valid_actions):
        return PageView("search")
    if not valid_actions:
        return PageView("done")
    tokens = [t.strip() for t in observation.split(SEP.strip())]
    if "buy now" in clicks:
        return PageView("item", options=_options(tokens, clicks))
    asins = [c for c in clicks if _ASIN.match(c)]
    if asins:
        return PageView("results", products=_products(tokens))
    if "< prev" in clicks:
        return PageView("sub")
    return PageView("other")


def _products(tokens: list[str]) -> list[tuple[str, str, float | None]]:
    out = []
    for i, token in enumerate(tokens):
        if _ASIN.match(token.lower()) and i + 2 < len(tokens):
            m = _PRICE.match(tokens[i + 2])
            out.append((token.lower(), tokens[i + 1], float(m.group(1)) if m else None))
    return out


def _options(tokens: list[str], clicks: set[str]) -> dict[str, list[str]]:
    """Option groups on an item page: a name that is not clickable, followed by clickable
    values; the first non-clickable token after the values (the title) ends the list."""
    try:
        i = next(k for k, t in enumerate(tokens) if t == PREV_PAGE) + 1
    except StopIteration:
        return {}
    groups: dict[str, list[str]] = {}
    current: str | None = None
    while i < len(tokens):
        token = tokens[i]
        if token.lower() in clicks and current is not None:
            groups[current].append(token.lower())
        elif i + 1 < len(tokens) and tokens[i + 1].lower() in clicks:
            current = token
            groups[current] = []
        else:
            break
        i += 1
    return {g: v for g, v in groups.items() if v}


class HeuristicShopper:
    """The offline explorer of WebShop (see the module docstring).

    Args:
        follow_instruction: Probability of choosing the option value the instruction names,
            when it names one (above temperature 0).
        wander: Probability of a detour (a sub-page, the next results page, or back to the
            results for another product) where one is possible (above temperature 0).
    """

    name = "webshop-heuristic"

    def __init__(self, *, follow_instruction: float = 0.8, wander: float = 0.15) -> None:
        self.follow_instruction = follow_instruction
        self.wander = wander

    def propose(self, context: Trajectory, *, n: int = 1, temperature: float = 0.0,
                valid_actions: list[str] | None = None, seed: int | None = None,
                reflections: list[str] | None = None, cost: Cost | None = None) -> list[Step]:
        if not valid_actions:
            raise ValueError("the heuristic shopper needs the page's valid actions")
        rng = random.Random(seed)
        return [Step(self._choose(context, valid_actions, temperature, rng))
                for _ in range(n)]

    def _choose(self, context: Trajectory, actions: list[str], temperature: float,
                rng: random.Random) -> str:
        observation = _latest_page(context)
        page = read_page(observation, actions)
        explore = temperature > 0
        instruction = context.task.instruction.lower()
        if page.kind == "search":
            searches = [a for a in actions if a.startswith("search[")]
            return rng.choice(searches) if explore else searches[0]
        if page.kind == "results":
            if explore and rng.random() < self.wander / 2 and "click[next >]" in actions \
                    and "Page 1 " in observation:
                return "click[next >]"
            asins = [a for a, _, _ in page.products if f"click[{a}]" in actions]
            if not asins:
                return "click[back to search]"
            if not explore:
                return f"click[{asins[0]}]"
            weights = [math.exp(-k / max(temperature, 1e-3) / 2) for k in range(len(asins))]
            return f"click[{rng.choices(asins, weights)[0]}]"
        if page.kind == "item":
            chosen = _chosen_since_item(context, page)
            for group, values in page.options.items():
                if group in chosen:
                    continue
                named = [v for v in values if f"{group.lower()}: {v}" in instruction]
                if named and (not explore or rng.random() < self.follow_instruction):
                    return f"click[{named[0]}]"
                return f"click[{rng.choice(values) if explore else values[0]}]"
            if explore and rng.random() < self.wander:
                return rng.choice(["click[description]", "click[features]", "click[< prev]"])
            return "click[buy now]"
        if page.kind == "sub":
            return "click[< prev]"
        return actions[0]


def _latest_page(context: Trajectory) -> str:
    """The last observation that is a page (not an invalid-action message)."""
    for step in reversed(context.steps):
        if not step.observation.startswith(INVALID):
            return step.observation
    return context.initial_observation


def _chosen_since_item(context: Trajectory, page: PageView) -> set[str]:
    """Option groups already set on this item page (since the product was opened)."""
    value_group = {v: g for g, values in page.options.items() for v in values}
    chosen: set[str] = set()
    for step in reversed(context.steps):
        inner = step.action[6:-1] if step.action.startswith("click[") else ""
        if _ASIN.match(inner) or step.action.startswith("search["):
            break
        if inner in value_group:
            chosen.add(value_group[inner])
    return chosen
