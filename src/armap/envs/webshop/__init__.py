"""WebShop (Yao et al., 2022) as an armap environment, faithful to the original text mode.

Modules: `data` (loading and validating the product files), `goals` (the original goal rules
and splits), `search` (BM25 over the text the original indexes), `pages` (observation text and
clickables of each page), `reward` (the original ``get_reward``), `env` (`WebShopEnv`).
Importing this package loads none of bm25s, rapidfuzz or spaCy.
"""
