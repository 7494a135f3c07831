"""Observation text and clickables of every page, derived by hand from WebShop's templates
and checked against text logged from the original environment."""

from armap.envs.webshop import pages
from armap.envs.webshop.data import Review

from .tiny import product

INSTR = ("i need a long lasting 6.76 fl oz bottle of l'eau d'issey, and price lower than "
         "100.00 dollars")
ISSEY = product(
    asin="B000VOHH8I",
    title="L'eau D'issey By Issey Miyake for MenEau De Toilette Spray, 6.7 Fl Oz Bottle",
    price_tag="$64.98", options={"size": ("2.5 fl oz", "6.76 fl oz (pack of 1)")})
HEAD = f"Instruction: [SEP] {INSTR} [SEP] Back to Search"


def test_search_page_as_logged_from_the_original():
    page = pages.search_page(INSTR)
    assert page.text == f"WebShop [SEP] Instruction: [SEP] {INSTR} [SEP] Search"
    assert page.clickables == ("search",) and page.has_search_bar


def test_item_page_as_logged_from_the_original():
    # the item page of AgentBench's WebShop example, shown by the original text mode
    page = pages.item_page(INSTR, ISSEY)
    assert page.text == (
        f"{HEAD} [SEP] < Prev [SEP] size [SEP] 2.5 fl oz [SEP] 6.76 fl oz (pack of 1) [SEP] "
        "L'eau D'issey By Issey Miyake for MenEau De Toilette Spray, 6.7 Fl Oz Bottle [SEP] "
        "Price: $64.98 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] "
        "Buy Now")
    assert page.clickables == ("back to search", "< prev", "description", "features", "reviews",
                               "buy now", "2.5 fl oz", "6.76 fl oz (pack of 1)")
    assert page.option_groups == {"2.5 fl oz": "size", "6.76 fl oz (pack of 1)": "size"}
    assert not page.has_search_bar


def test_item_page_with_attributes_button():
    page = pages.item_page(INSTR, ISSEY, show_attrs=True)
    assert "Reviews [SEP] Attributes [SEP] Buy Now" in page.text
    assert page.clickables[2:7] == ("description", "features", "reviews", "attributes",
                                    "buy now")


def test_results_pages():
    items = [ISSEY, product(asin="B000MJZOPK", title="L'eau d'Issey for Women 3.3 oz",
                            price_tag="$49.98 to $59.0")]
    first = pages.results_page(INSTR, items, 1, 50)
    assert first.text == (
        f"{HEAD} [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B000VOHH8I [SEP] "
        "L'eau D'issey By Issey Miyake for MenEau De Toilette Spray, 6.7 Fl Oz Bottle [SEP] "
        "$64.98 [SEP] B000MJZOPK [SEP] L'eau d'Issey for Women 3.3 oz [SEP] $49.98 to $59.0")
    assert first.clickables == ("back to search", "next >", "b000vohh8i", "b000mjzopk")
    later = pages.results_page(INSTR, [], 6, 50)  # "Next >" is always there, as in the original
    assert later.text == f"{HEAD} [SEP] Page 6 (Total results: 50) [SEP] < Prev [SEP] Next >"
    assert later.clickables == ("back to search", "< prev", "next >")


def test_sub_pages():
    shop = product(description=" Long\nlasting. ", bullet_points=("Lasting scent", "  ", "\n"),
                   reviews=(Review("Great", 5, "Love it"),), attributes=("long lasting",),
                   category="beauty", query="perfume", product_category="Beauty › Fragrance")
    head = f"{HEAD} [SEP] < Prev"
    assert pages.sub_page(INSTR, shop, "Description").text == f"{head} [SEP] Long\nlasting."
    # a bullet of spaces is an empty segment; one with a line break disappears
    assert pages.sub_page(INSTR, shop, "Features").text == f"{head} [SEP] Lasting scent [SEP] "
    assert pages.sub_page(INSTR, shop, "Reviews").text == f'{head} [SEP] "Great" [SEP] 5 [SEP] ' \
        "Love it"
    assert pages.sub_page(INSTR, shop, "Attributes").text == (
        f"{head} [SEP] long lasting [SEP] beauty [SEP] perfume [SEP] Beauty › Fragrance")
    assert pages.sub_page(INSTR, product(), "Description").text == head  # empty description
    assert pages.sub_page(INSTR, product(), "Reviews").text == head
    assert pages.sub_page(INSTR, shop, "Features").clickables == ("back to search", "< prev")


def test_done_page_is_the_original_without_the_score():
    page = pages.done_page("B09QGK5XHZ", {"size": "large", "color": "it's <b>"})
    logged = ("Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] (Paste it in "
              "your MTurk interface.) [SEP] Purchased [SEP] asin [SEP] B09QGK5XHZ [SEP] options "
              '[SEP] {"color": "it\\u0027s \\u003cb\\u003e", "size": "large"} [SEP] attrs [SEP] '
              "None [SEP] category [SEP] None [SEP] query [SEP] None [SEP] product category [SEP] "
              "None [SEP] Target [SEP] asin [SEP] options [SEP] attrs [SEP] price upper [SEP] "
              "instuction text [SEP] category [SEP] product category [SEP] query [SEP] Goal [SEP] "
              "None [SEP] Reward")
    assert page.text == logged
    assert pages.SCORE_TEXT not in page.text and page.clickables == ()
    assert pages.done_page("B0", {}).text.startswith(
        "Thank you for shopping with us! [SEP] Your code: [SEP] None")
    assert "options [SEP] {} [SEP] attrs" in pages.done_page("B0", {}).text


def test_text_nodes_follow_beautifulsoup():
    assert pages.node("") == []
    assert pages.node(" \n ") == []           # becomes "\n", which the text mode skips
    assert pages.node("   ") == [""]          # becomes " ", which strips to ""
    assert pages.node("\xa0") == [""]         # not ASCII space: kept, then stripped
    assert pages.node("  a b \t") == ["a b"]


def test_option_clickables_keep_the_last_group_of_a_value():
    shirt = product(options={"color": ("black", "navy"), "size": ("black", "large")})
    page = pages.item_page("x", shirt)
    assert page.clickables[-3:] == ("black", "navy", "large")
    assert page.option_groups["black"] == "size"
