"""THE trajectory serializer: the only way a trajectory becomes reward-model input.

Training, scoring and every planner call `serialize`, so the reward model always sees the same
layout::

    Instruction: <instruction>
    Observation: <initial observation>
    Action: <action 1>
    Observation: <observation 1>
    ...

Thoughts (raw LLM text), the end reason, the cost and the ground-truth score are never part of
the input. Observations are written compactly (version 2): a copy of the instruction inside one
is replaced by ``(the instruction)`` (`armap.text.elide_instruction`), an observation identical
to the one before it is written ``(unchanged)`` (clicking a WebShop option leaves the page text
as it was), and a long one keeps its start and its end (`armap.text.cap`).

Truncation rule (when a token budget is given): the instruction is always kept; then as many of
the *latest* steps as fit; older steps, and the initial observation before them, are replaced by
a marker line ``[k earlier steps omitted]``. An instruction that alone exceeds the budget is cut
at its end. Each observation is also capped at `armap.text.MAX_OBSERVATION_CHARS` characters so
that one long page (a WebShop search result) cannot crowd out the rest.

Each action is one ``Action:`` line; a reward model with a step head reads its hidden state at
the end of each such line (`action_ends`). A model may also drop the lines that every one of
its training instructions began with (`common_preamble`; Game of 24's rules).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from armap.text import cap, elide_instruction
from armap.types import Step, Trajectory

SERIALIZER_VERSION = 2
"""Recorded in reward-model checkpoints; a model is only valid with the serializer it saw.
Version 2 added the compact observations; on Game of 24 it writes the same text as version 1
but for an observation repeated verbatim (an identical invalid step twice in a row)."""
UNCHANGED = "(unchanged)"
ACTION_PREFIX = "Action: "

CountTokens = Callable[[str], int]


def step_lines(step: Step, instruction: str = "", previous: str | None = None) -> str:
    """One step: its action and its observation, written compactly (see the module
    docstring); ``previous`` is the observation before it."""
    observation = UNCHANGED if previous and step.observation == previous \
        else cap(elide_instruction(step.observation, instruction))
    return f"{ACTION_PREFIX}{step.action.strip()}\nObservation: {observation}"


def serialize(
    instruction: str,
    trajectory: Trajectory | Sequence[Step],
    *,
    max_tokens: int | None = None,
    count_tokens: CountTokens | None = None,
) -> str:
    """The reward-model text for ``trajectory`` judged against ``instruction``.

    ``trajectory`` may be a `Trajectory` or a bare list of steps (then there is no initial
    observation). With ``max_tokens`` and ``count_tokens`` (e.g. a tokenizer's length), the
    result fits the budget by the truncation rule in the module docstring.
    """
    if isinstance(trajectory, Trajectory):
        steps, first = list(trajectory.steps), trajectory.initial_observation
    else:
        steps, first = list(trajectory), ""
    head = f"Instruction: {instruction.strip()}"
    opening = f"Observation: {cap(elide_instruction(first, instruction))}" if first else ""
    before = [first, *(s.observation for s in steps)][:len(steps)]
    body = [step_lines(s, instruction, previous) for s, previous in zip(steps, before,
                                                                          strict=True)]
    full = "\n".join(x for x in [head, opening, *body] if x)
    if max_tokens is None or count_tokens is None or count_tokens(full) <= max_tokens:
        return full

    budget = max_tokens - count_tokens(head + "\n")
    if budget <= 0:
        return _cut_to(head, max_tokens, count_tokens)
    kept: list[str] = []
    used = 0
    for text in reversed(body):
        cost = count_tokens(text + "\n")
        marker = count_tokens(f"[{len(body)} earlier steps omitted]\n")
        if used + cost + marker > budget:
            break
        kept.insert(0, text)
        used += cost
    if not kept and body:  # even the latest step is too long: keep its beginning
        room = budget - count_tokens(f"[{len(body)} earlier steps omitted]\n")
        kept = [_cut_to(body[-1], max(room, 0), count_tokens)]
    omitted = len(body) - len(kept)
    marker = f"[{omitted} earlier steps omitted]" if omitted else ""
    if not omitted and opening and used + count_tokens(opening + "\n") <= budget:
        return "\n".join([head, opening, *kept])
    return "\n".join(x for x in [head, marker or "[initial observation omitted]", *kept] if x)


def action_ends(text: str) -> list[int]:
    """Character index of the last non-blank character of each ``Action:`` line of a
    serialized trajectory (in order; a line cut to nothing but its prefix is skipped). A
    reward model with a step head reads its hidden state there."""
    ends: list[int] = []
    start = 0
    for line in text.split("\n"):
        if line.startswith(ACTION_PREFIX) and line[len(ACTION_PREFIX):].strip():
            ends.append(start + len(line.rstrip()) - 1)
        start += len(line) + 1
    return ends


def common_preamble(instructions: Sequence[str]) -> str:
    """The whole lines that every one of ``instructions`` begins with, each followed by its
    newline ("" when there are none). Each instruction keeps at least its last line, so a set
    of identical instructions keeps its final line. A reward model trained on such a set reads
    instructions without this preamble (`LearnedRewardModel.model_instruction`): text that is
    the same in every input tells the model nothing and costs tokens (Game of 24's rules are a
    third of a trajectory's)."""
    if not instructions:
        return ""
    split = [text.split("\n") for text in instructions]
    shared: list[str] = []
    for lines in zip(*(lines[:-1] for lines in split), strict=False):
        if any(line != lines[0] for line in lines):
            break
        shared.append(lines[0])
    return "".join(line + "\n" for line in shared)


def _cut_to(text: str, max_tokens: int, count_tokens: CountTokens) -> str:
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within budget
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]
