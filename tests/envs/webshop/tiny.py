"""A tiny hand-made catalog in WebShop's file format, and helpers to build products."""

import json
from pathlib import Path

from armap.envs.webshop.data import Product

REAL_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "webshop"
INSTRUCTION = "Find me aluminum free deodorant for sensitive skin"

DEODORANT = {
    "asin": "B000TEST01", "name": "Bright Citrus Deodorant by Earth Mama",
    "Title": "Bright Citrus Deodorant by Earth Mama", "Description": "A natural deodorant.",
    "BulletPoints": ["Aluminum free", "  "], "Price": "$10.99", "pricing": [10.99],
    "options": {"scent": ["bright citrus", "calming lavender"],
                "size": ["3 ounce (pack of 1)", "travel set"]},
    "Attributes": ["aluminum free", "sensitive skin"], "category": "beauty",
    "query": "deodorant", "Rating": "N.A.", "Reviews": [],
    "product_category": "Beauty & Personal Care › Personal Care › Deodorants",
}
BODY_WASH = {
    "asin": "B000TEST02", "name": "Calming Lavender Body Wash",
    "Title": "Calming Lavender Body Wash",
    "Description": "", "BulletPoints": ["Gentle cleanser"], "Price": "$2.99 to $6.99",
    "pricing": [2.99, 6.99], "options": {}, "Attributes": ["body wash"], "category": "beauty",
    "query": "body wash", "Rating": "N.A.", "Reviews": [],
    "product_category": "Beauty & Personal Care › Personal Care › Bath & Bathing Accessories",
}
LAMP = {
    "asin": "B000TEST03", "name": "Brass Desk Lamp", "Title": "Brass Desk Lamp",
    "Description": "A lamp for the desk.", "BulletPoints": ["LED bulb"], "Price": "$25.0",
    "pricing": [25.0], "options": {"color": ["gold", "black"]}, "Attributes": [],
    "category": "garden", "query": "desk lamps", "Rating": "N.A.", "Reviews": [],
    "product_category": "Tools & Home Improvement › Lighting › Lamps",
}
ATTRIBUTES = {
    "B000TEST01": {"attributes": ["aluminum free", "sensitive skin"], "instruction": INSTRUCTION,
                   "instruction_attributes": ["aluminum free", "sensitive skin"]},
    "B000TEST02": {"attributes": ["body wash"]},
    "B000TEST03": {"attributes": [], "instruction": "Find me a brass lamp",
                   "instruction_attributes": ["brass"]},
}
HUMAN = {"B000TEST02": [
    {"instruction": "i want a lavender body wash.", "instruction_attributes": ["lavender"],
     "instruction_options": ["travel size"]},
    {"instruction": "i need soap", "instruction_attributes": [], "instruction_options": []},
]}


def write_tiny(folder: Path, products=(DEODORANT, BODY_WASH, LAMP)) -> Path:
    """Write the tiny catalog as products_1k.jsonl + items_ins_v2_1000.json (+ human file)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "products_1k.jsonl").open("w", encoding="utf-8") as f:
        for p in products:
            f.write(json.dumps(p) + "\n")
    (folder / "items_ins_v2_1000.json").write_text(json.dumps(ATTRIBUTES), encoding="utf-8")
    (folder / "items_human_ins.json").write_text(json.dumps(HUMAN), encoding="utf-8")
    return folder


def product(**fields) -> Product:
    """A Product with neutral defaults for the fields a test does not care about."""
    base = dict(asin="B0", name="thing", title="thing", description="", bullet_points=(),
                price_tag="$1.0", pricing=(1.0,), options={}, attributes=(), category="c",
                query="q", product_category="a › b › c")
    return Product(**{**base, **fields})
