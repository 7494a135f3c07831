"""A shortlist of ScienceWorld's valid actions, and the action parser.

The simulator lists every valid action-object combination: 1,500-3,000 in a furnished room,
most of them ``connect``, ``move`` and ``pour`` between any two objects (``connect air to
bedroom``). A policy that ranks candidates by likelihood pays for each, and a random explorer
spends nearly every step on them. `shortlist` keeps at most ``limit`` of them, by a rule that
needs no extra simulator call:

1. Always kept: ``look around``, ``inventory``, ``wait1``, every ``go to ...`` and every
   ``open door to ...`` (moving through the house).
2. Never kept: ``reset task`` (it restarts the episode's world mid-episode).
3. The others are ranked by relevance: 3 points per word of the task description among the
   action's object words (``focus on substance in metal pot`` for "boil water ... focus on the
   substance"), 2 when it uses something in the inventory (``... in inventory``), and a small
   bonus for verbs that most gold paths use (``pick up``, ``open``, ``focus on``,
   ``activate``, ...). No verb takes more than a quarter of the places, so the hundreds of
   ``connect`` actions that name a described object do not crowd out the rest. Ties keep the
   simulator's order, and the kept actions are listed in the simulator's order.

Limits: relevance is lexical. A goal the description names by category ("find an animal")
does not match the animal's name (``focus on butterfly``); such actions compete on the verb
bonus alone, and in a room with many objects some fall outside the shortlist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ALWAYS = ("look around", "inventory", "wait1")
ALWAYS_PREFIXES = ("go to ", "open door to ")
NEVER = ("reset task",)
VERB_BONUS = {
    "pick up": 3, "open": 3, "activate": 2, "deactivate": 2, "focus on": 2, "read": 2,
    "move": 1, "use": 1, "put down": 1, "wait": 1, "look at": 0, "pour": 0, "connect": 0,
    "mix": 0, "dunk": 0, "look in": 0, "close": 0, "disconnect": -1, "eat": -1, "flush": -1,
    "task": -1,
}
"""A small bonus for the verbs that gold paths use most (``pick up``, ``open``)."""
PAIR_VERBS = frozenset({"move", "pour", "dunk", "use", "connect"})
"""Verbs of two objects: every pair of objects in reach makes one, so they get half a quota."""
_VERBS = sorted(VERB_BONUS, key=len, reverse=True)
_STOP = frozenset({
    "the", "into", "and", "for", "with", "its", "are", "your", "you", "this", "that", "then",
    "first", "take", "actions", "will", "cause", "can", "also", "which", "what", "when",
    "where", "there", "their", "from", "not", "task", "thing", "things", "focus", "change",
    "state", "matter",
})
"""Words of task descriptions that name no object (words under three letters never count)."""
_WORD = re.compile(r"[a-z]+")
INVENTORY_BONUS = 2
SEED = 2
"""Places every verb gets first (its best actions), so no verb is left out entirely."""
ABSURD_PENALTY = 10
_ABSURD = re.compile(r"(?<!in )(?<!on )\b(?:agent|air|door to|art studio|bathroom|bedroom|"
                     r"foundry|greenhouse|hallway|kitchen|living room|outside|workshop)\b")
"""Objects no action but looking and moving about makes sense on: the agent, the air, doors
and rooms (``connect air to bedroom``, ``pour apple into hallway``), unless named as where
something is (``cup in art studio``)."""
MATCH_POINTS = 3
VERB_SHARE = 0.25
"""Most places one verb may take in a shortlist (of the places not kept by rule 1)."""
_REPLY_PREFIX = re.compile(r"^\s*(?:>\s*|action\s*:\s*)", re.IGNORECASE)
_ACTION_LINE = re.compile(r"^\s*action\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_THOUGHT_LINE = re.compile(r"^\s*(?:thought|think)\s*:", re.IGNORECASE)


def content_words(text: str) -> set[str]:
    """The lower-case words of ``text`` of three letters or more, without function words."""
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP}


def verb(action: str) -> str:
    """The action's verb (``pick up``, ``connect``, ...), or its first word if none is known."""
    low = action.lower()
    for v in _VERBS:
        if low == v or low.startswith(v + " "):
            return v
    return low.split(" ", 1)[0]


def relevance(action: str, described: set[str]) -> int:
    """How likely ``action`` serves a task whose description has the words ``described``."""
    name = verb(action)
    objects = content_words(action[len(name):])
    score = MATCH_POINTS * len(objects & described) + VERB_BONUS.get(name, 0)
    if "in inventory" in action:
        score += INVENTORY_BONUS
    if name not in ("look at", "look in") and _ABSURD.search(action[len(name):]):
        score -= ABSURD_PENALTY
    return score


def shortlist(actions: Sequence[str], instruction: str, limit: int) -> list[str]:
    """At most ``limit`` of ``actions`` (more only when rule 1 alone keeps more; see the module
    docstring), in their given order; ``limit`` 0 keeps them all."""
    if not limit or len(actions) <= limit:
        return [a for a in actions if a not in NEVER] if limit else list(actions)
    kept = {i for i, a in enumerate(actions) if a in ALWAYS or a.startswith(ALWAYS_PREFIXES)}
    described = content_words(instruction)
    scores = {i: relevance(a, described) for i, a in enumerate(actions)
              if i not in kept and a not in NEVER}
    ranked = sorted(scores, key=lambda i: -scores[i])
    room = max(0, limit - len(kept))
    quota = max(SEED, int(room * VERB_SHARE))
    taken: dict[str, int] = {}

    def take(i: int, most: int) -> None:
        nonlocal room
        name = verb(actions[i])
        if room and i not in kept and taken.get(name, 0) < most:
            taken[name] = taken.get(name, 0) + 1
            kept.add(i)
            room -= 1

    for i in ranked:  # the best few of every verb, then the best of the rest
        take(i, SEED)
    for i in ranked:
        take(i, quota // 2 if verb(actions[i]) in PAIR_VERBS else quota)
    return [actions[i] for i in sorted(kept)]


def parse_action(text: str) -> str | None:
    """The action of an LLM reply: the text after ``Action:`` (ReAct), else the first non-empty
    line that is not a thought, without a leading ``>``; None if there is none."""
    match = _ACTION_LINE.search(text)
    if match:
        action = match.group(1).strip().strip("`").strip()
        return action or None
    for line in text.splitlines():
        if _THOUGHT_LINE.match(line):
            continue
        action = _REPLY_PREFIX.sub("", line).strip().strip("`").strip()
        if action:
            return action
    return None
