"""Loading the product files: the 1k layout, the original raw layout, and clear errors."""

import json

import pytest

from armap.envs.webshop.data import (
    DUMMY_ATTR,
    ENV_VAR,
    WebShopDataError,
    load_catalog,
    parse_pricing,
    resolve_data_dir,
)

from .tiny import write_tiny

RAW = [
    {"asin": "B00RAW0001", "name": "Cotton T-Shirt", "full_description": "Soft cotton.",
     "small_description": "Machine wash", "pricing": "$12.99$15.49", "images": ["i.jpg"],
     "category": "fashion", "query": " Men's Shirts ", "product_category": "Clothing › Men",
     "customization_options": {"Color": [{"value": "Navy/White", "image": None}],
                               "Size": None}},
    {"asin": "nan", "name": "skipped"},
    {"asin": "B00RAW0001", "name": "duplicate, skipped"},
    {"asin": "B00RAW0002", "name": "Mug", "full_description": "", "small_description": ["a"],
     "pricing": "", "images": ["m.jpg"], "category": "garden", "query": "mugs",
     "product_category": "Kitchen", "customization_options": ""},
]


def test_loads_the_1k_layout(tiny_dir):
    catalog = load_catalog(tiny_dir)
    assert [p.asin for p in catalog.products] == ["B000TEST01", "B000TEST02", "B000TEST03"]
    deodorant = catalog.by_asin["B000TEST01"]
    assert deodorant.options["size"] == ("3 ounce (pack of 1)", "travel set")
    assert deodorant.instruction == "Find me aluminum free deodorant for sensitive skin"
    assert catalog.by_asin["B000TEST02"].instruction is None
    assert load_catalog(tiny_dir, num_products=2).products[-1].asin == "B000TEST02"


def test_converts_the_original_raw_layout(tmp_path):
    (tmp_path / "items_shuffle.json").write_text(json.dumps(RAW))
    (tmp_path / "items_ins_v2.json").write_text(json.dumps(
        {"B00RAW0001": {"attributes": ["machine wash"], "instruction": "Find me a shirt",
                        "instruction_attributes": ["machine wash"]}}))
    catalog = load_catalog(tmp_path, catalog="full")
    shirt, mug = catalog.products
    assert len(catalog.products) == 2  # "nan" and the duplicate asin are skipped
    assert shirt.title == "Cotton T-Shirt" and shirt.description == "Soft cotton."
    assert shirt.bullet_points == ("Machine wash",)
    assert shirt.pricing == (12.99, 15.49) and shirt.price_tag == "$12.99 to $15.49"
    assert shirt.options == {"color": ("navy | white",)}  # lowercased, "/" -> " | "
    assert shirt.query == "men's shirts" and shirt.attributes == ("machine wash",)
    assert mug.pricing == (100.0,) and mug.price_tag == "$100.0"
    assert mug.attributes == (DUMMY_ATTR,) and mug.options == {}
    assert parse_pricing("$5") == ((5.0,), "$5.0")


def test_missing_and_malformed_files_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(WebShopDataError, match=r"products_1k\.jsonl is missing"):
        load_catalog(write_empty(tmp_path / "a"))
    folder = write_tiny(tmp_path / "b")
    (folder / "items_human_ins.json").unlink()
    with pytest.raises(WebShopDataError, match=r"items_human_ins\.json is missing"):
        load_catalog(folder, human_goals=True)
    (folder / "products_1k.jsonl").write_text('{"asin": "B1"}\nnot json\n')
    with pytest.raises(WebShopDataError, match="line 2 is not valid JSON"):
        load_catalog(folder)
    (folder / "products_1k.jsonl").write_text('{"asin": "B1", "Title": 3}\n')
    with pytest.raises(WebShopDataError, match=r"record 1 \(asin B1\) is malformed"):
        load_catalog(folder)
    (folder / "items_ins_v2_1000.json").write_text("[1, 2]")
    with pytest.raises(WebShopDataError, match="not a JSON object keyed by asin"):
        load_catalog(folder)


def write_empty(folder):
    folder.mkdir()
    (folder / "items_ins_v2_1000.json").write_text("{}")
    return folder


def test_data_dir_resolution(tmp_path, monkeypatch):
    assert resolve_data_dir(tmp_path) == tmp_path
    with pytest.raises(WebShopDataError, match="does not exist"):
        resolve_data_dir(tmp_path / "absent")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent"))
    shared = tmp_path / "work" / "shared" / "data" / "webshop"
    shared.mkdir(parents=True)
    (tmp_path / "work" / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "work" / "repo")
    assert resolve_data_dir(None) == shared.resolve()  # ../shared/data/webshop from the cwd
