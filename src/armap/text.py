"""Small text helpers shared by the prompt packs and the reward-model serializer."""

from __future__ import annotations

MAX_OBSERVATION_CHARS = 400
"""Longest observation kept whole in a reward-model input (and, by default, in a prompt's
history); a WebShop results page or a ScienceWorld room description is cut there."""
CUT_MARK = " [...] "
HEAD_SHARE = 0.5
"""Share of a cut text kept from its start; the rest comes from its end (a WebShop item page
lists its options first and ends with the title, the price and the buttons)."""
INSTRUCTION_MARK = "(the instruction)"
MIN_ELIDED = 40


def cap(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    """``text`` stripped; when longer than ``limit`` characters, its start and its end with a
    marker between them."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = int(limit * HEAD_SHARE)
    return text[:head].rstrip() + CUT_MARK + text[len(text) - (limit - head):].lstrip()


def elide_instruction(observation: str, instruction: str) -> str:
    """``observation`` with every copy of ``instruction`` (at least `MIN_ELIDED` characters)
    replaced by a short marker: pages that repeat the goal (WebShop shows it on every page)
    then leave their room to what is new. The instruction itself is stated once, up front."""
    text = instruction.strip()
    if len(text) < MIN_ELIDED:
        return observation
    return observation.replace(text, INSTRUCTION_MARK)
