"""BM25 product search over the text the original WebShop indexes.

WebShop indexes, per product, ``" ".join([Title, Description, BulletPoints[0], options])``
lowercased (``search_engine/convert_product_file_format.py``), where the options read
``"size: s, m, and color: red, blue"``, and answers a query with Pyserini's BM25 (k1=0.9,
b=0.4, Lucene's English analyzer) and its top 50 hits (``SEARCH_RETURN_N``). Here bm25s scores
the same text with Lucene's BM25 formula and the same parameters; the analyzer is imitated:
Unicode word tokens that keep ``l'eau``, ``6.76`` and ``1,000`` whole, the possessive ``'s``
removed, Lucene's 33 English stop words dropped, Porter stemming (PyStemmer's original Porter
algorithm). Ties are broken by catalog order, as Lucene breaks them by document id.

Known differences from Pyserini: Lucene stores document lengths in one lossy byte, and its
tokenizer follows Unicode's word-break rules in full, so scores of near-tied products can
differ slightly and reorder them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from armap.envs.webshop.data import Product
from armap.errors import MissingDependencyError

SEARCH_RETURN_N = 50
"""Hits per search in the original."""
K1, B = 0.9, 0.4
"""Pyserini's default BM25 parameters."""
LUCENE_STOP_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with"))
"""Lucene's English stop word set (``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``)."""
_TOKEN = re.compile(
    r"\w+(?:(?:(?<=[^\W\d_])[.:'’](?=[^\W\d_])|(?<=\d)[.,;'’](?=\d))\w+)*")
INSTALL = "pip install 'armap[webshop]' (or scripts/install.sh)"


def document_text(product: Product) -> str:
    """The text the original indexes for ``product``."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}"
                                for name, values in product.options.items())
    first_bullet = product.bullet_points[0] if product.bullet_points else ""
    return " ".join([product.title, product.description, first_bullet, option_text]).lower()


class Analyzer:
    """Lowercase, tokenize, drop possessives and stop words, Porter-stem (with a stem cache)."""

    def __init__(self) -> None:
        try:
            import Stemmer
        except ImportError:
            raise MissingDependencyError("PyStemmer", "WebShop search", INSTALL) from None
        self._stemmer = Stemmer.Stemmer("porter")
        self._lock = threading.Lock()

    def __call__(self, text: str) -> list[str]:
        words = []
        for token in _TOKEN.findall(text.lower()):
            if token.endswith(("'s", "’s")):
                token = token[:-2]
            if token and token not in LUCENE_STOP_WORDS:
                words.append(token)
        with self._lock:  # PyStemmer objects are not thread-safe
            return self._stemmer.stemWords(words)


class SearchIndex:
    """A bm25s index of the catalog; `search` returns the asins of the top hits."""

    def __init__(self, products: Sequence[Product]) -> None:
        try:
            import bm25s
        except ImportError:
            raise MissingDependencyError("bm25s", "WebShop search", INSTALL) from None
        bm25s_log = logging.getLogger("bm25s")
        if bm25s_log.level == logging.DEBUG:  # bm25s sets DEBUG on import; keep it quiet
            bm25s_log.setLevel(logging.WARNING)
        self.asins = tuple(p.asin for p in products)
        self.analyze = Analyzer()
        corpus = [self.analyze(document_text(p)) or [""] for p in products]
        self._bm25: Any = bm25s.BM25(method="lucene", k1=K1, b=B)
        self._bm25.index(corpus, show_progress=False)
        self.search = lru_cache(maxsize=8192)(self._search)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every product for ``query`` (0 where no query term occurs)."""
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in self.analyze(query) if t in vocab]
        if not ids:
            return np.zeros(len(self.asins), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids))

    def _search(self, query: str, k: int = SEARCH_RETURN_N) -> tuple[str, ...]:
        """The asins of the (at most ``k``) best products with a positive score, best first."""
        scores = self.scores(query)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth]
        order = hits[np.lexsort((hits, -scores[hits]))][:k]
        return tuple(self.asins[i] for i in order)
