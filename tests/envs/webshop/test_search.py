"""BM25 search over the text the original indexes, returning as many hits as the original."""

import pytest

pytest.importorskip("bm25s")

from armap.envs.webshop.data import load_catalog
from armap.envs.webshop.search import (
    SEARCH_RETURN_N,
    Analyzer,
    SearchIndex,
    document_text,
)


@pytest.fixture(scope="module")
def tiny_index(tiny_dir):
    catalog = load_catalog(tiny_dir)
    return catalog, SearchIndex(catalog.products)


def test_indexed_text_is_the_originals(tiny_dir):
    deodorant = load_catalog(tiny_dir).by_asin["B000TEST01"]
    assert document_text(deodorant) == (
        "bright citrus deodorant by earth mama a natural deodorant. aluminum free scent: bright "
        "citrus, calming lavender, and size: 3 ounce (pack of 1), travel set")


def test_analyzer_imitates_lucene():
    tokens = Analyzer()("L'eau d'Issey's 6.76 fl. oz, 1,000 pieces for the kids")
    assert tokens[:2] == ["l'eau", "d'issei"]          # apostrophes inside words, possessive
    assert "6.76" in tokens and "1,000" in tokens      # numbers stay whole
    assert "for" not in tokens and "the" not in tokens  # Lucene stop words
    assert "kid" in tokens and "piec" in tokens         # Porter stems


def test_title_words_rank_a_product_first(tiny_index):
    _, index = tiny_index
    assert index.search("deodorant")[0] == "B000TEST01"
    assert index.search("brass desk lamp") == ("B000TEST03",)  # only matching products
    assert index.search("calming lavender")[:2] == ("B000TEST02", "B000TEST01")
    assert index.search("zebra") == ()
    assert index.search("") == ()


def test_real_catalog_search_as_logged_from_the_original(real_dir):
    catalog = load_catalog(real_dir)
    index = SearchIndex(catalog.products)
    # page 1 of "women jumpsuits" in a log of the original 1k environment
    logged = ["B09NDS8F4V", "B09PVNLVRW", "B09RV4TXKJ", "B099WX3CV5", "B09Q37JQZ6",
              "B09QPX97VW", "B09NSC5VDG", "B09QGK5XHZ", "B09S632DT3", "B09QXF3V3X"]
    hits = index.search("women jumpsuits")
    assert len(hits) == SEARCH_RETURN_N == 50
    assert list(hits[:10]) == logged
    assert index.search("double sided machine washable decorative pillows 28x28 printing "
                        "technology under 50 dollars")[:3] == ("B07XTK3P89", "B08K7LDM7Q",
                                                              "B08QVDNJC7")
    # a product's own title finds it first (a few near-duplicate titles aside)
    firsts = sum(index.search(p.title.lower())[0] == p.asin for p in catalog.products[:200])
    assert firsts >= 196
