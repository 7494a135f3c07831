"""`WebShopEnv`: the WebShop text shop (Yao et al., 2022) with its original goals and reward."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from armap.envs.base import Env
from armap.envs.webshop import pages
from armap.envs.webshop.data import (
    Catalog,
    Product,
    WebShopDataError,
    load_catalog,
    resolve_data_dir,
)
from armap.envs.webshop.goals import DEFAULT_PRICE_SEED, SPLITS, Goal, build_goals
from armap.envs.webshop.pages import Page
from armap.envs.webshop.reward import RewardDetails, get_reward
from armap.envs.webshop.search import SearchIndex
from armap.errors import ConfigError
from armap.types import Task, Trajectory

CATALOGS = ("1k", "full")
_ACTION = re.compile(r"(.+)\[(.+)\]")  # the original parse_action
_REPLY_ACTION = re.compile(r"(?:search|click)\[[^\]\n]+\]")
_INTRO = re.compile(
    r"^\s*(?:(?:please\s+)?(?:find|get|buy|show|search\s+for|look\s+for)\s+me\s+|"
    r"i\s*(?:'m|am)\s+(?:looking|searching|shopping)\s+for\s+|"
    r"i\s+(?:would\s+like|want|need|wish)(?:\s+to\s+(?:buy|get|find|have))?\s+|"
    r"(?:please\s+)?(?:find|buy|get|search\s+for|look\s+for)\s+|looking\s+for\s+)",
    re.IGNORECASE)
_ARTICLE = re.compile(r"^\s*(?:a|an|some|the)\s+", re.IGNORECASE)
_PRICE_CLAUSE = re.compile(r",?\s*and\s+price\s+lower\s+than\s+[\d.,]+\s+dollars\.?\s*$",
                           re.IGNORECASE)
_OPTION_CLAUSE = re.compile(r"\s+with\s+(?:(?!with\s)[\w&|'-]+\s){0,3}(?!with\s)[\w&|'-]+:\s.*$",
                            re.IGNORECASE)
_SPLIT_WORDS = re.compile(r"\s+(?:with|for|that|which|and|in|under)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class _Shared:
    """What all envs on the same data share: products, goals, prices, the search index."""

    catalog: Catalog
    goals: tuple[Goal, ...]
    prices: Mapping[str, float]
    index: SearchIndex
    tasks: dict[str, list[Task]] = field(default_factory=dict)


_SHARED: dict[tuple[Any, ...], _Shared] = {}
_SHARED_LOCK = threading.Lock()


def _shared(data_dir: Path, catalog: str, num_products: int | None, human_goals: bool,
            price_seed: int) -> _Shared:
    key = (str(data_dir.resolve()), catalog, num_products, human_goals, price_seed)
    with _SHARED_LOCK:
        if key not in _SHARED:
            cat = load_catalog(data_dir, catalog=catalog, num_products=num_products,
                               human_goals=human_goals)
            goals, prices = build_goals(cat.products, human=human_goals, price_seed=price_seed)
            if not goals:
                raise WebShopDataError(f"{', '.join(cat.files)} define no goals; check that the "
                                       "attribute file holds instructions.")
            _SHARED[key] = _Shared(cat, tuple(goals), prices, SearchIndex(cat.products))
        return _SHARED[key]


@dataclass(frozen=True)
class _State:
    """The session of the original server: everything a page and the reward depend on."""

    page: str = "search"
    """search, results, item, description, features, reviews, attributes or done."""
    keywords: str = ""
    page_num: int = 1
    results: tuple[str, ...] = ()
    asin: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    """Chosen option values as (group, value), in the order chosen."""


class WebShopEnv(Env):
    """WebShop's text mode: search, result pages, item pages with options, buy.

    Actions are the original ones, ``search[keywords]`` and ``click[name]`` for a clickable of
    the current page (case-insensitive); observations are WebShop's ``text`` observation mode
    (`armap.envs.webshop.pages`). Search works from every page, as in the original. Where the
    original silently ignores an invalid action, this env answers with an ``Invalid action:``
    observation (the page stays as it was, the step counts). The page after "Buy Now" ends the
    episode and shows the purchase but not the score. `score` is the original ``get_reward``
    of the purchase (`armap.envs.webshop.reward`), 0.0 without one.

    `valid_actions` lists the page's clicks in the original's order and, on the search page,
    three searches made from the instruction (see `search_queries`), so a policy that cannot
    write text (a random explorer, a model that ranks listed choices) can still search.

    Args:
        data_dir: Folder of the WebShop files. None: ``$ARMAP_WEBSHOP_DATA``, else
            ``../shared/data/webshop`` relative to the current directory, else relative to the
            checkout that holds this package.
        catalog: ``"1k"`` (``products_1k.jsonl`` + ``items_ins_v2_1000.json``, the small setting
            of WebShop, AgentGym and ARMAP) or ``"full"`` (the original ``items_shuffle.json`` +
            ``items_ins_v2.json``).
        num_products: Keep only the first N products (the original's ``num_products``).
        human_goals: Goals from the human instructions of ``items_human_ins.json`` instead of
            the synthetic ones.
        max_steps: Default step budget. 10, as in the setting of ARMAP's WebShop numbers: its
            evaluation runs AgentBench's WebShop task, which gives an agent 10 rounds, and its
            MCTS uses a horizon of 10.
        price_seed: Seed of the draws the original leaves unseeded: prices of products with a
            price range and the goals' price caps (`armap.envs.webshop.goals`).
        show_attrs: Show the item page's Attributes button (the original's ``show_attrs``).
    """

    id = "webshop-v0"
    max_steps = 10
    splits: tuple[str, ...] = ("train", "validation", "test")

    def __init__(self, *, data_dir: str | Path | None = None, catalog: str = "1k",
                 num_products: int | None = None, human_goals: bool = False,
                 max_steps: int = 10, price_seed: int = DEFAULT_PRICE_SEED,
                 show_attrs: bool = False) -> None:
        super().__init__()
        if catalog not in CATALOGS:
            raise ConfigError(f"catalog={catalog!r} is not one of: {', '.join(CATALOGS)}")
        if num_products is not None and (not isinstance(num_products, int) or num_products < 1):
            raise ConfigError(f"num_products must be a positive integer or None, not "
                              f"{num_products!r}")
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise ConfigError(f"max_steps must be a positive integer, not {max_steps!r}")
        if not isinstance(price_seed, int) or isinstance(price_seed, bool):
            raise ConfigError(f"price_seed must be an integer, not {price_seed!r}")
        self.data_dir = resolve_data_dir(data_dir)
        self.catalog, self.num_products = catalog, num_products
        self.human_goals, self.show_attrs = bool(human_goals), bool(show_attrs)
        self.max_steps, self.price_seed = max_steps, price_seed
        self._shared = _shared(self.data_dir, catalog, num_products, self.human_goals,
                               price_seed)
        self._state = _State()
        self._page: Page = pages.search_page("")
        self._goal: Goal | None = None
        self._goal_task: Task | None = None
        self._reward: RewardDetails | None = None

    # -- tasks ----------------------------------------------------------------------------
    def tasks(self, split: str) -> list[Task]:
        """The goals of ``split`` in index order, as tasks ``webshop_<index>``."""
        if split not in self.splits:
            raise ConfigError(f"unknown split {split!r}: use one of {', '.join(self.splits)}")
        cache = self._shared.tasks
        if split not in cache:
            indices = SPLITS[split]
            cache[split] = [
                Task(f"webshop_{g.index}", "webshop", g.instruction_text, split, g.spec())
                for g in self._shared.goals if g.index in indices]
        return list(cache[split])

    @property
    def goals(self) -> tuple[Goal, ...]:
        """All goals, in the original's (shuffled) order."""
        return self._shared.goals

    # -- episode --------------------------------------------------------------------------
    def _reset(self, task: Task) -> str:
        self._set_state(_State())
        return self._page.text

    def _step(self, action: str) -> tuple[str, bool]:
        m = _ACTION.match(action)
        name, arg = (m.group(1), m.group(2).lower()) if m else (action, None)
        if name == "search" and arg:
            return self._go(_State("results", arg, 1, self._shared.index.search(arg))), False
        if name != "click" or arg is None:
            return ("Invalid action: use search[keywords] or click[name] with a name from "
                    "the page."), False
        if arg == "search" or arg not in self._page.clickables:
            listed = ", ".join(c for c in self._page.clickables if c != "search")
            hint = f"Clickable here: {listed}." if listed else "Use search[keywords] here."
            return f"Invalid action: {arg!r} cannot be clicked on this page. {hint}", False
        return self._click(arg)

    def _click(self, arg: str) -> tuple[str, bool]:
        s = self._state
        if arg == pages.END_BUTTON.lower():
            return self._go(_State("done", s.keywords, s.page_num, s.results, s.asin,
                                   s.options)), True
        if arg == pages.BACK_TO_SEARCH.lower():
            return self._go(_State()), False
        if arg == pages.NEXT_PAGE.lower() and s.page == "results":
            return self._go(_State("results", s.keywords, s.page_num + 1, s.results)), False
        if arg == pages.PREV_PAGE.lower() and s.page == "results":
            return self._go(_State("results", s.keywords, s.page_num - 1, s.results)), False
        if arg == pages.PREV_PAGE.lower() and s.page == "item":
            return self._go(_State("results", s.keywords, s.page_num, s.results)), False
        if arg == pages.PREV_PAGE.lower():  # from a sub-page back to the item
            return self._go(_State("item", s.keywords, s.page_num, s.results, s.asin,
                                   s.options)), False
        sub = next((p for p in pages.SUB_PAGES if p.lower() == arg), None)
        if sub is not None:
            return self._go(_State(sub.lower(), s.keywords, s.page_num, s.results, s.asin,
                                   s.options)), False
        if arg in self._page.option_groups:
            options = dict(s.options)
            options[self._page.option_groups[arg]] = arg
            return self._go(_State("item", s.keywords, s.page_num, s.results, s.asin,
                                   tuple(options.items()))), False
        asin = next(a for a in s.results if a.lower() == arg)  # a product link
        return self._go(_State("item", s.keywords, s.page_num, s.results, asin, s.options)), \
            False

    def _go(self, state: _State) -> str:
        self._set_state(state)
        return self._page.text

    def _render(self, s: _State) -> Page:
        instruction = self.task.instruction if self._task is not None else ""
        if s.page == "search":
            return pages.search_page(instruction)
        if s.page == "results":
            start = (s.page_num - 1) * pages.PRODUCT_WINDOW
            shown = [self._shared.catalog.by_asin[a]
                     for a in s.results[max(start, 0):max(start + pages.PRODUCT_WINDOW, 0)]]
            return pages.results_page(instruction, shown, s.page_num, len(s.results))
        assert s.asin is not None
        if s.page == "done":
            return pages.done_page(s.asin, dict(s.options))
        product = self._shared.catalog.by_asin[s.asin]
        if s.page == "item":
            return pages.item_page(instruction, product, show_attrs=self.show_attrs)
        return pages.sub_page(instruction, product, s.page.capitalize())

    def valid_actions(self) -> list[str]:
        """The page's clicks in the original's order, plus, on the search page, the searches
        of `search_queries`."""
        if self._done:
            return []
        actions = [f"click[{c}]" for c in self._page.clickables if c != "search"]
        if self._page.has_search_bar and self._task is not None:
            actions += [f"search[{q}]" for q in search_queries(self.task.instruction)]
        return actions

    @staticmethod
    def parse_action(text: str) -> str | None:
        """The first ``search[...]`` or ``click[...]`` in an LLM reply (None if there is none)."""
        m = _REPLY_ACTION.search(text)
        return m.group(0) if m else None

    def product(self, asin: str) -> Product:
        """The catalog's product ``asin`` (any case); `KeyError` if there is none."""
        return self._shared.catalog.by_asin[asin.upper()]

    def price(self, asin: str) -> float:
        """The price product ``asin`` sells at in this shop."""
        return self._shared.prices[asin.upper()]

    @property
    def page(self) -> Page:
        """The current page: its text, clickables and option groups."""
        return self._page

    # -- ground truth and facts -----------------------------------------------------------
    def reward_details(self) -> RewardDetails | None:
        """The parts of the reward of the purchase (None before "Buy Now")."""
        s = self._state
        if s.page != "done" or s.asin is None or self._goal is None:
            return None
        if self._reward is None:
            product = self._shared.catalog.by_asin[s.asin]
            self._reward = get_reward(product, self._goal, self._shared.prices[s.asin],
                                      dict(s.options))
        return self._reward

    def score(self) -> float:
        details = self.reward_details()
        return details.total if details is not None else 0.0

    def info(self) -> dict[str, Any]:
        """Facts of the episode for reward targets (never the score)."""
        s = self._state
        bought = s.page == "done" and s.asin is not None
        return {"asin": s.asin if bought else None,
                "price": self._shared.prices[s.asin] if bought and s.asin else None,
                "price_cap": self._goal.price_upper if self._goal is not None else None,
                "options": dict(s.options) if bought else {},
                "bought": bought}

    def failure_type(self, trajectory: Trajectory) -> str | None:
        """Which reward factor an episode short of the full reward missed first: nothing
        bought, the product type, its attributes, the options, or the price cap."""
        info = trajectory.info
        if not info.get("bought") or not info.get("asin"):
            return "no_purchase"
        asin = str(info["asin"])
        try:
            goal = Goal.from_spec(trajectory.task.spec)
            details = get_reward(self.product(asin), goal, self.price(asin),
                                 dict(info.get("options") or {}))
        except (KeyError, TypeError, ValueError):
            return None  # not a task or a product of this shop
        if details.total >= 1.0:
            return None
        if details.r_type < 1.0:
            return "wrong_product_type"
        if details.r_att < 1.0:
            return "missing_attributes"
        if details.r_option is not None and details.r_option < 1.0:
            return "wrong_options"
        return "over_price_cap" if not details.r_price else None

    def hidden_strings(self, task: Task) -> list[str]:
        """Texts of the original's purchase page that would reveal the score."""
        return [pages.SCORE_TEXT, pages.REWARD_DETAILS_TEXT]

    # -- snapshots ------------------------------------------------------------------------
    def _get_state(self) -> _State:
        return self._state

    def _set_state(self, state: _State) -> None:
        if self._task is not None and self._task is not self._goal_task:
            self._goal, self._goal_task = Goal.from_spec(self._task.spec), self._task
            self._reward = None
        if state != self._state:
            self._reward = None
        self._state = state
        self._page = self._render(state)
        self._done = state.page == "done"


def search_queries(instruction: str) -> list[str]:
    """Up to three searches made from ``instruction``: without its opening words ("Find me",
    "i need", ...) and price clause; then also without its option clause (`` with color: ...``);
    then the last four words before the first "with/for/that/..." (usually the product type)."""
    text = _PRICE_CLAUSE.sub("", instruction.strip())
    text = _ARTICLE.sub("", _INTRO.sub("", text)).strip().rstrip(".")
    full = " ".join(text.replace(",", " ").split())
    core = " ".join(_OPTION_CLAUSE.sub("", text).replace(",", " ").split())
    head = _SPLIT_WORDS.split(core, maxsplit=1)[0]
    short = " ".join(head.replace(",", " ").split()[-4:])
    return [q.lower() for q in dict.fromkeys([full, core, short]) if q]
