"""WebShop synthesis by hindsight relabeling, as the paper describes.

An explorer episode that bought something is a correct trajectory for *some* instruction: the
one that asks for exactly what was bought. `WebShopRelabel` writes that instruction (from the
product's own attribute-file instruction or its type and attributes, the options chosen, and a
price cap above the price paid; an LLM may word the product part), builds the goal behind it,
and replays the episode under it: that is the positive. Negatives change one decision and are
replayed in the shop under the same goal: another product from the same results page, a
product over the price cap, another value of one option, or no purchase. Each pair is kept only
if the shop's own reward separates them by a margin. The other pairing of the paper (two
attempts at one goal, the better one positive) is the generic `pair_by_score`.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator

from armap.envs.webshop.env import WebShopEnv
from armap.envs.webshop.goals import Goal, price_cap
from armap.episode import replay
from armap.llm.base import LLM
from armap.synth.base import SynthContext
from armap.types import Task, Trajectory, Triplet

NEGATIVE_TYPES = ("other_product", "over_price", "other_option", "no_purchase")
_ASIN = re.compile(r"^click\[(b[0-9a-z]{9})\]$")
BUY = "click[buy now]"
INSTRUCTION_PROMPT = """Write a one-sentence shopping request for this product, starting with
"Find me", naming the kind of product and up to three of its features. Do not mention colour,
size or price.
Product: {title}
Kind of product: {query}
Features: {features}
Request:"""


class WebShopRelabel:
    """``webshop.relabel`` (see the module docstring).

    Args:
        instruction: ``template`` (offline) or ``llm`` (the synthesis LLM words the product
            part; options and price are always stated by the template, so the goal is exact).
        margin: Least reward difference between the positive and a negative, under the
            relabeled goal.
        min_positive: Least reward of a replayed positive under its own relabeled goal.
    """

    name = "webshop-relabel"

    def __init__(self, *, instruction: str = "template", margin: float = 0.1,
                 min_positive: float = 0.75) -> None:
        if instruction not in ("template", "llm"):
            raise ValueError(f"instruction must be template or llm, not {instruction!r}")
        self.instruction = instruction
        self.margin = margin
        self.min_positive = min_positive
        self.rejected: dict[str, int] = {}

    def triplets(self, ctx: SynthContext) -> Iterator[Triplet]:
        assert ctx.make_env is not None
        llm = ctx.make_llm() if self.instruction == "llm" and ctx.make_llm else None
        rng = random.Random(ctx.config.seed)
        bought = [t for t in ctx.explored if t.info.get("bought") and t.info.get("asin")]
        rng.shuffle(bought)
        with ctx.make_env() as env:
            assert isinstance(env, WebShopEnv)
            for explored in bought:
                yield from self._relabel(env, explored, rng, llm, ctx.config.temperature)

    def _relabel(self, env: WebShopEnv, explored: Trajectory, rng: random.Random,
                 llm: LLM | None, temperature: float) -> Iterator[Triplet]:
        task = relabeled_task(env, explored, rng, llm=llm, temperature=temperature)
        actions = explored.actions
        positive = replay(env, task, actions, meta={**explored.meta, "relabeled": True})
        if positive.env_score is None or positive.env_score < self.min_positive:
            self._reject(f"positive scores {positive.env_score} under its relabeled goal")
            return
        for kind in NEGATIVE_TYPES:
            changed = negative_actions(env, task, actions, kind, rng)
            if changed is None:
                self._reject(f"{kind}: no such change for this episode")
                continue
            negative = replay(env, task, changed, meta={"negative_type": kind})
            if negative.env_score is None or \
                    positive.env_score - negative.env_score < self.margin:
                self._reject(f"{kind}: the reward does not separate it from the positive")
                continue
            yield Triplet(explored.task.id, "webshop", task.instruction, positive, negative,
                          {"strategy": self.name, "positive": "explorer/relabeled",
                           "negative_type": kind, "instruction": self.instruction,
                           "model": llm.model if llm else None,
                           "relabeled_from": explored.task.id})

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def relabeled_task(env: WebShopEnv, explored: Trajectory, rng: random.Random, *,
                   llm: LLM | None = None, temperature: float = 0.7) -> Task:
    """The task whose goal is exactly what ``explored`` bought, at the options it chose."""
    asin = str(explored.info["asin"]).upper()
    product = env.product(asin)
    chosen: dict[str, str] = dict(explored.info.get("options") or {})
    options = {g: chosen[g] for g in product.options if g in chosen}
    if product.instruction and product.instruction_attributes:
        head, attributes = product.instruction, tuple(product.instruction_attributes)
    else:
        attributes = tuple(product.attributes[:3])
        head = f"Find me {product.query}" + (f" with {', '.join(attributes)}"
                                              if attributes else "")
    if llm is not None:
        head = _llm_head(llm, product.title, product.query, attributes, temperature) or head
    option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
    upper, price_text = price_cap(env.price(asin), rng)
    instruction = f"{head}{' with ' + option_text if option_text else ''}{price_text}"
    goal = Goal(index=-1, asin=asin, category=product.category, query=product.query,
                name=product.name, product_category=product.product_category,
                instruction_text=instruction, attributes=attributes, goal_options=options,
                price_upper=upper, source="relabeled")
    digest = hashlib.sha256(instruction.encode()).hexdigest()[:8]
    return Task(f"{explored.task.id}~relabel-{digest}", "webshop", instruction, "train",
                goal.spec())


def negative_actions(env: WebShopEnv, task: Task, actions: list[str], kind: str,
                     rng: random.Random) -> list[str] | None:
    """``actions`` with one decision changed (see `NEGATIVE_TYPES`), or None if impossible."""
    if BUY not in actions:
        return None
    buy = len(actions) - 1 - actions[::-1].index(BUY)
    opened = [i for i, a in enumerate(actions[:buy]) if _ASIN.match(a)]
    if not opened:
        return None
    at = opened[-1]
    bought = _ASIN.match(actions[at]).group(1)  # type: ignore[union-attr]
    if kind == "no_purchase":
        return actions[:buy]
    if kind == "other_option":
        return _other_option(env, actions, at, buy, bought, rng)
    env.reset(task)
    for action in actions[:at]:  # back on the results page the product was opened from
        env.step(action)
    others = [c for c in env.page.clickables if re.fullmatch(r"b[0-9a-z]{9}", c) and c != bought]
    if kind == "over_price":
        cap = float(task.spec["price_upper"])
        others = [a for a in others if env.price(a) > cap]
    if not others:
        return None
    other = rng.choice(others)
    chosen_values = {a[6:-1] for a in actions[at + 1:buy] if a.startswith("click[")}
    clicks = []
    for values in env.product(other).options.values():  # the same values where it has them
        same = [v for v in values if v.lower() in chosen_values]
        clicks.append(f"click[{(same[0] if same else rng.choice(values)).lower()}]")
    return [*actions[:at], f"click[{other}]", *clicks, BUY]


def _other_option(env: WebShopEnv, actions: list[str], at: int, buy: int, bought: str,
                  rng: random.Random) -> list[str] | None:
    groups = env.product(bought).options
    value_group = {v.lower(): g for g, values in groups.items() for v in values}
    picks = [i for i in range(at + 1, buy) if actions[i].startswith("click[")
             and actions[i][6:-1] in value_group]
    rng.shuffle(picks)
    for i in picks:
        value = actions[i][6:-1]
        alternatives = [v.lower() for v in groups[value_group[value]] if v.lower() != value]
        if alternatives:
            return [*actions[:i], f"click[{rng.choice(alternatives)}]", *actions[i + 1:]]
    return None


def _llm_head(llm: LLM, title: str, query: str, attributes: tuple[str, ...],
              temperature: float) -> str | None:
    prompt = INSTRUCTION_PROMPT.format(title=title, query=query,
                                       features=", ".join(attributes) or "(none listed)")
    [reply] = llm.generate([{"role": "user", "content": prompt}], n=1,
                           temperature=temperature, max_tokens=48)
    line = next((x.strip() for x in reply.text.splitlines() if x.strip()), "")
    line = line.strip('"').rstrip(".")
    if not line.lower().startswith("find me") or len(line) > 200 or "$" in line:
        return None
    return line
