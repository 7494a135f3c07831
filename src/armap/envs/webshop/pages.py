"""The pages of WebShop's text mode: observation text and clickables.

WebShop renders each page from an HTML template (``web_agent_site/templates``), and its text
mode (``observation_mode="text"``) joins the page's visible text nodes with ``" [SEP] "``, each
stripped, after BeautifulSoup has dropped the nodes that are only a line break. The functions
here emit the same nodes in the same order for the templates of WebShop's main branch, so the
text is the text the original shows. A node that is only spaces (no line break) survives as an
empty segment, as in the original.

Clickables follow the original ``get_available_actions``: the lowercased text of every button,
then every product link, then the value of every option radio button, in page order and without
duplicates. Pages differ from the original in one place: the page after "Buy Now" leaves out the
score (``Your score (min 0.0, max 1.0)`` with the reward, and the hidden reward details).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from armap.envs.webshop.data import Product

SEP = " [SEP] "
PRODUCT_WINDOW = 10
"""Products per results page."""
END_BUTTON = "Buy Now"
NEXT_PAGE = "Next >"
PREV_PAGE = "< Prev"
BACK_TO_SEARCH = "Back to Search"
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
"""The item sub-pages (Attributes only when ``show_attrs``)."""
SCORE_TEXT = "Your score (min 0.0, max 1.0)"
REWARD_DETAILS_TEXT = "Reward Details"
_ASCII_SPACE = " \t\n\r\x0c"


@dataclass(frozen=True)
class Page:
    """A rendered page.

    Attributes:
        text: The observation, as WebShop's text mode shows it.
        clickables: The lowercased names ``click[...]`` accepts, in the original's order.
        option_groups: For each option clickable, the option group a click sets (the last group
            that offers the value, as in the original).
        has_search_bar: Whether the page has the search box.
    """

    text: str
    clickables: tuple[str, ...]
    option_groups: Mapping[str, str]
    has_search_bar: bool = False


def node(text: str) -> list[str]:
    """One text node as WebShop's text mode reports it: stripped; dropped when empty or when it
    is only whitespace with a line break (BeautifulSoup turns it into ``"\\n"``, which the text
    mode skips); only spaces give an empty segment."""
    if not text:
        return []
    if not text.strip(_ASCII_SPACE):
        return [] if "\n" in text else [""]
    return [text.strip()]


def _join(nodes: Iterable[list[str]]) -> str:
    return SEP.join(segment for n in nodes for segment in n)


def _instruction(instruction: str) -> list[list[str]]:
    return [["Instruction:"], node(instruction)]


def search_page(instruction: str) -> Page:
    """The start page: the instruction and the search box."""
    text = _join([["WebShop"], ["Instruction:"], node(instruction), ["Search"]])
    return Page(text, ("search",), {}, has_search_bar=True)


def results_page(instruction: str, products: Sequence[Product], page: int, total: int) -> Page:
    """Results page ``page`` (1-based) of a search with ``total`` hits; ``products`` are the
    hits of this page. "Next >" is always shown, "< Prev" from page 2 on, as in the original."""
    nav = [PREV_PAGE, NEXT_PAGE] if page > 1 else [NEXT_PAGE]
    nodes = [*_instruction(instruction), [BACK_TO_SEARCH],
             [f"Page {page} (Total results: {total})"], *([b] for b in nav)]
    for p in products:
        nodes += [node(p.asin), node(p.title), node(p.price_tag)]
    clickables = [BACK_TO_SEARCH.lower(), *(b.lower() for b in nav),
                  *(p.asin.lower() for p in products)]
    return Page(_join(nodes), _unique(clickables), {})


def item_page(instruction: str, product: Product, *, show_attrs: bool = False) -> Page:
    """A product page: option groups with their values, title, price, rating, sub-page
    buttons and "Buy Now"."""
    nodes = [*_instruction(instruction), [BACK_TO_SEARCH], [PREV_PAGE]]
    groups: dict[str, str] = {}
    option_values: list[str] = []
    for name, values in product.options.items():
        nodes.append(node(name))
        for value in values:
            nodes.append(node(value))
            groups[value] = name
            option_values.append(value)
    buttons = [b for b in SUB_PAGES if show_attrs or b != "Attributes"]
    nodes += [node(product.title), node(f"Price: {product.price_tag}"),
              node(f"Rating: {product.rating}"), *([b] for b in buttons), [END_BUTTON]]
    clickables = [BACK_TO_SEARCH.lower(), PREV_PAGE.lower(), *(b.lower() for b in buttons),
                  END_BUTTON.lower(), *option_values]
    return Page(_join(nodes), _unique(clickables), groups)


def sub_page(instruction: str, product: Product, which: str) -> Page:
    """The Description, Features, Reviews or Attributes page of ``product``."""
    nodes = [*_instruction(instruction), [BACK_TO_SEARCH], [PREV_PAGE]]
    if which == "Description":
        nodes.append(node(product.description))
    elif which == "Features":
        nodes += [node(" " + b) for b in product.bullet_points]
    elif which == "Reviews":
        for r in product.reviews:
            nodes += [node(f'"{r.title}"'), node(str(r.score)), node(r.body)]
    elif which == "Attributes":
        nodes += [node(" " + a) for a in product.attributes]
        nodes += [node(product.category), node(product.query), node(product.product_category)]
    else:
        raise ValueError(f"unknown sub-page {which!r}")
    return Page(_join(nodes), (BACK_TO_SEARCH.lower(), PREV_PAGE.lower()), {})


def done_page(asin: str, options: Mapping[str, str]) -> Page:
    """The page after "Buy Now", as the original renders it but without the score: the
    original ends with ``Your score (min 0.0, max 1.0) [SEP] <reward> [SEP] Reward Details
    [SEP] None``."""
    chosen = json.dumps(dict(options), sort_keys=True)  # Flask's tojson, made HTML-safe
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("'", "\\u0027")):
        chosen = chosen.replace(char, escape)
    nodes = [["Thank you for shopping with us!"], ["Your code:"], ["None"],
             ["(Paste it in your MTurk interface.)"], ["Purchased"], ["asin"], node(asin),
             ["options"], node(chosen)]
    for label in ("attrs", "category", "query", "product category"):
        nodes += [[label], ["None"]]
    nodes += [["Target"], *([label] for label in ("asin", "options", "attrs", "price upper",
                                                   "instuction text", "category",
                                                   "product category", "query")),
              ["Goal"], ["None"], ["Reward"]]
    return Page(_join(nodes), (), {})


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
