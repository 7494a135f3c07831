"""Loading and validating WebShop product data.

Two layouts are read:

* ``"1k"``: ``products_1k.jsonl`` (the 1,000 products of WebShop's small setting, already in the
  form WebShop's loader produces) and ``items_ins_v2_1000.json`` (attributes and synthetic
  instructions).
* ``"full"``: the original raw files ``items_shuffle.json`` and ``items_ins_v2.json``, turned into
  products by the rules of WebShop's ``load_products`` (``web_agent_site/engine/engine.py``).

Either layout adds the human-written instructions of ``items_human_ins.json`` when asked.
Reviews are not loaded (WebShop reads them from a separate ``reviews.json``): every product shows
``Rating: N.A.`` and no reviews, as in the 1k catalog.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from armap.errors import ArmapError
from armap.shared_data import shared_data_candidates

ENV_VAR = "ARMAP_WEBSHOP_DATA"
"""Environment variable naming the WebShop data directory."""
FILES = {
    "1k": ("products_1k.jsonl", "items_ins_v2_1000.json"),
    "full": ("items_shuffle.json", "items_ins_v2.json"),
}
"""Product file and attribute file of each catalog layout."""
HUMAN_FILE = "items_human_ins.json"
"""WebShop's human-written instructions (needed only for human goals)."""
DUMMY_ATTR = "DUMMY_ATTR"
"""Attribute list WebShop gives a product missing from the attribute file."""


class WebShopDataError(ArmapError):
    """A WebShop data file that is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Review:
    """One product review as WebShop's review page shows it."""

    title: str
    score: Any
    body: str


@dataclass(frozen=True, eq=False)
class Product:
    """A product in the form WebShop's loader produces (field names follow the original keys).

    Attributes:
        asin: Amazon id, the product's key.
        name: ``name`` (the type reward compares names).
        title: ``Title`` (shown on result and item pages).
        description: ``Description``.
        bullet_points: ``BulletPoints`` (the features page).
        price_tag: ``Price``, the price text shown (``$12.99`` or ``$12.99 to $15.99``).
        pricing: ``pricing``, one price or a (low, high) range.
        options: ``options``: option group -> values, in page order.
        attributes: ``Attributes`` from the attribute file.
        category, query, product_category: the crawl's category, search query and breadcrumb.
        rating: ``Rating``.
        reviews: ``Reviews``.
        instruction: The synthetic instruction of the attribute file, if any.
        instruction_attributes: The attributes that instruction asks for.
        human_instructions: Entries of ``items_human_ins.json`` for this asin.
    """

    asin: str
    name: str
    title: str
    description: str
    bullet_points: tuple[str, ...]
    price_tag: str
    pricing: tuple[float, ...]
    options: Mapping[str, tuple[str, ...]]
    attributes: tuple[str, ...]
    category: str
    query: str
    product_category: str
    rating: str = "N.A."
    reviews: tuple[Review, ...] = ()
    instruction: str | None = None
    instruction_attributes: tuple[str, ...] = ()
    human_instructions: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, eq=False)
class Catalog:
    """The loaded products, in file order, with a lookup by asin."""

    products: tuple[Product, ...]
    by_asin: Mapping[str, Product]
    files: tuple[str, ...]
    """The files read, for messages and manifests."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The WebShop data directory: ``data_dir``, else ``$ARMAP_WEBSHOP_DATA``, else
    ``../shared/data/webshop`` relative to the current directory, else relative to the checkout
    that holds this package. Raises `WebShopDataError` listing what was tried."""
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise WebShopDataError(f"WebShop data directory {path} does not exist; pass the "
                                   "folder that holds products_1k.jsonl as data_dir.")
        return path
    tried: list[str] = []
    if os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser()
        if path.is_dir():
            return path
        tried.append(f"${ENV_VAR}={path}")
    for path in shared_data_candidates("webshop"):
        if path.is_dir():
            return path
        tried.append(str(path))
    raise WebShopDataError("no WebShop data directory found (tried " + ", ".join(tried) +
                           f"); pass data_dir=... or set {ENV_VAR}.")


def load_catalog(data_dir: Path, *, catalog: str = "1k", num_products: int | None = None,
                 human_goals: bool = False) -> Catalog:
    """Read the products of ``catalog`` (``"1k"`` or ``"full"``) from ``data_dir``.

    ``num_products`` keeps the first N products, as WebShop's ``num_products`` does; with
    ``human_goals`` the human instructions of ``items_human_ins.json`` are attached.
    """
    product_name, attr_name = FILES[catalog]
    product_path, attr_path = data_dir / product_name, data_dir / attr_name
    attributes = _read_json_object(attr_path)
    human = _read_json_object(data_dir / HUMAN_FILE) if human_goals else {}
    rows = _read_jsonl(product_path) if product_path.suffix == ".jsonl" else \
        _read_json_list(product_path)
    convert = _from_loaded if catalog == "1k" else _from_raw
    products: list[Product] = []
    seen: set[str] = set()
    for where, row in rows:
        if num_products is not None and where >= num_products:
            break
        if not isinstance(row, dict):
            raise _malformed(product_path, where, "is not a JSON object")
        asin = row.get("asin")
        if not isinstance(asin, str):
            raise _malformed(product_path, where, "has no string 'asin'")
        if asin == "nan" or len(asin) > 10 or asin in seen:  # skipped by WebShop's loader
            continue
        seen.add(asin)
        try:
            products.append(convert(row, attributes.get(asin), human.get(asin)))
        except (KeyError, TypeError, ValueError, InvalidOperation) as e:
            raise _malformed(product_path, where, f"(asin {asin}) is malformed: {e!r}") from None
    if not products:
        raise WebShopDataError(f"{product_path} holds no products; check the file.")
    files = [str(product_path), str(attr_path)] + ([str(data_dir / HUMAN_FILE)] if human_goals
                                                    else [])
    return Catalog(tuple(products), {p.asin: p for p in products}, tuple(files))


# -- readers --------------------------------------------------------------------------------
def _missing(path: Path) -> WebShopDataError:
    return WebShopDataError(f"WebShop data file {path} is missing; put WebShop's {path.name} "
                            f"in {path.parent} or point data_dir (or ${ENV_VAR}) at its folder.")


def _malformed(path: Path, where: int, what: str) -> WebShopDataError:
    return WebShopDataError(f"{path}: record {where + 1} {what}; replace the file with WebShop's "
                            f"original {path.name}.")


def _read_json_object(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise WebShopDataError(f"{path} is not a JSON object keyed by asin; replace it with "
                               f"WebShop's original {path.name}.")
    return data


def _read_json_list(path: Path) -> Iterator[tuple[int, Any]]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise WebShopDataError(f"{path} is not a JSON list of products; replace it with "
                               f"WebShop's original {path.name}.")
    return enumerate(data)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise _missing(path)
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WebShopDataError(f"{path} is not valid JSON ({e}); replace it with WebShop's "
                               f"original {path.name}.") from None


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    if not path.is_file():
        raise _missing(path)
    rows: list[tuple[int, Any]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            try:
                rows.append((len(rows), json.loads(line)))
            except json.JSONDecodeError as e:
                raise WebShopDataError(f"{path}: line {n + 1} is not valid JSON ({e}); replace "
                                       f"the file with the original {path.name}.") from None
    return iter(rows)


# -- conversion -----------------------------------------------------------------------------
def _str(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise TypeError(f"{key!r} must be a string, not {type(value).__name__}")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{key!r} must be a list of strings")
    return tuple(value)


def _instruction_fields(attrs: Mapping[str, Any] | None, human: Any) -> dict[str, Any]:
    attrs = attrs if isinstance(attrs, dict) else {}
    instruction = attrs.get("instruction")
    if instruction is not None and not isinstance(instruction, str):
        raise TypeError("'instruction' in the attribute file must be a string")
    ins_attrs = attrs.get("instruction_attributes") or []
    if human is not None and not (isinstance(human, list)
                                  and all(isinstance(h, dict) for h in human)):
        raise TypeError("human instructions must be a list of objects")
    return {
        "instruction": instruction,
        "instruction_attributes": _strings(ins_attrs, "instruction_attributes"),
        "human_instructions": tuple(human or ()),
    }


def _from_loaded(row: Mapping[str, Any], attrs: Mapping[str, Any] | None,
                 human: Any) -> Product:
    """A product of ``products_1k.jsonl`` (fields already as WebShop's loader leaves them)."""
    pricing = row["pricing"]
    if not isinstance(pricing, list) or not all(isinstance(p, int | float) for p in pricing):
        raise TypeError("'pricing' must be a list of numbers")
    options = row.get("options") or {}
    if not isinstance(options, dict):
        raise TypeError("'options' must be an object")
    return Product(
        asin=_str(row, "asin"),
        name=_str(row, "name"),
        title=_str(row, "Title"),
        description=_str(row, "Description"),
        bullet_points=_strings(row["BulletPoints"], "BulletPoints"),
        price_tag=_str(row, "Price"),
        pricing=tuple(float(p) for p in pricing),
        options={str(k): _strings(v, f"options.{k}") for k, v in options.items()},
        attributes=_strings(row["Attributes"], "Attributes"),
        category=_str(row, "category"),
        query=_str(row, "query").lower().strip(),
        product_category=_str(row, "product_category"),
        rating=str(row.get("Rating", "N.A.")),
        reviews=tuple(_review(r) for r in row.get("Reviews") or []),
        **_instruction_fields(attrs, human),
    )


def _review(r: Any) -> Review:
    if not isinstance(r, dict):
        raise TypeError("a review must be an object")
    return Review(str(r.get("title", "")), r.get("score", r.get("stars", 0)),
                  str(r.get("body", r.get("review", ""))))


def parse_pricing(pricing: Any) -> tuple[tuple[float, ...], str]:
    """WebShop's reading of a raw ``pricing`` string (``"$12.99"``, ``"$12.99$15.99"``):
    the prices and the ``Price`` text; no price means ``[100.0]`` and ``"$100.0"``."""
    if not pricing:
        return (100.0,), "$100.0"
    values = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in str(pricing).split("$")[1:]]
    if not values:
        raise ValueError(f"pricing {pricing!r} holds no '$' price")
    if len(values) == 1:
        return (values[0],), f"${values[0]}"
    return (values[0], values[1]), f"${values[0]} to ${values[1]}"


def _from_raw(row: Mapping[str, Any], attrs: Mapping[str, Any] | None, human: Any) -> Product:
    """A product of the original ``items_shuffle.json``, by WebShop's ``load_products`` rules."""
    small = row["small_description"]
    bullets = small if isinstance(small, list) else [small]
    pricing, price_tag = parse_pricing(row.get("pricing"))
    options: dict[str, tuple[str, ...]] = {}
    for name, contents in (row.get("customization_options") or {}).items():
        if contents is None:
            continue
        options[str(name).lower()] = tuple(
            str(c["value"]).strip().replace("/", " | ").lower() for c in contents)
    if isinstance(attrs, dict) and "attributes" in attrs:
        attributes = _strings(attrs["attributes"], "attributes")
    else:
        attributes = (DUMMY_ATTR,)
    return Product(
        asin=_str(row, "asin"),
        name=_str(row, "name"),
        title=_str(row, "name"),
        description=_str(row, "full_description"),
        bullet_points=tuple(str(b) for b in bullets),
        price_tag=price_tag,
        pricing=pricing,
        options=options,
        attributes=attributes,
        category=_str(row, "category"),
        query=_str(row, "query").lower().strip(),
        product_category=_str(row, "product_category"),
        **_instruction_fields(attrs, human),
    )
