"""Small text helpers shared by the prompt packs and the reward-model serializer."""

from __future__ import annotations

MAX_OBSERVATION_CHARS = 1_000
"""Longest observation kept whole in a prompt's history or a reward-model input; a WebShop
results page or a ScienceWorld room description is cut there."""
CUT_MARK = " [...]"


def cap(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    """``text`` stripped, and cut to ``limit`` characters (plus a marker) when longer."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[:limit] + CUT_MARK
