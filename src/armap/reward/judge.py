"""LLM-as-judge: the baseline reward model that asks an LLM whether a trajectory does the job.

The trajectory is shown as THE serializer writes it. Two ways to turn the answer into a score:

* ``logprobs`` (backends with `SupportsRanking.continuation_logprobs`, e.g. the local one):
  score = log P("Yes") - log P("No") as the judge's reply. The reply starts a new assistant
  turn, so the words carry no leading space.
* ``rating`` (any backend): the judge replies with a 0-10 rating, read from the first integer
  in its reply. A reply without one is counted in `unparseable` and scores
  ``unparseable_score`` (5.0, the middle of the scale: "the judge abstained"); NaN is never
  returned, because planners compare and sort scores.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence

from armap.config import check_choice
from armap.llm.base import LLM, Message, SupportsRanking
from armap.reward.serialize import serialize
from armap.types import Trajectory

log = logging.getLogger(__name__)

SYSTEM = ("You are a strict judge. You read an agent's attempt at a task and decide whether "
          "the attempt accomplishes the task exactly as instructed.")
QUESTION = "Does this trajectory accomplish the instruction? Answer Yes or No."
RATING = ("How likely is it that this trajectory accomplishes the instruction? Reply with one "
          "integer from 0 (certainly not) to 10 (certainly), and nothing else.")
YES, NO = "Yes", "No"
MODES = ("auto", "logprobs", "rating")
_INT = re.compile(r"(?<![\d.])(10|[0-9])(?!\d|\.\d)")


class JudgeRewardModel:
    """Scores trajectories by asking ``llm``.

    Args:
        llm: Any `armap.llm.LLM`; one with ``continuation_logprobs`` enables ``logprobs``.
        mode: ``auto`` (``logprobs`` when the backend supports it, else ``rating``),
            ``logprobs`` or ``rating``.
        max_tokens: Rough token budget of the serialized trajectory (4 characters a token),
            applied by the serializer's truncation rule.
        unparseable_score: The score of a rating reply without an integer 0-10.
    """

    name = "judge"

    def __init__(self, llm: LLM, *, mode: str = "auto", max_tokens: int = 1536,
                 unparseable_score: float = 5.0) -> None:
        check_choice("mode", mode, MODES)
        ranking = isinstance(llm, SupportsRanking)
        if mode == "logprobs" and not ranking:
            from armap.errors import ConfigError

            raise ConfigError(f"judge mode 'logprobs' needs a backend with "
                              f"continuation_logprobs (e.g. --llm local); {llm!r} has none")
        self.llm = llm
        self.mode = ("logprobs" if ranking else "rating") if mode == "auto" else mode
        self.max_tokens = max_tokens
        self.unparseable_score = unparseable_score
        self.unparseable = 0
        self.llm_calls = 0
        self.cache_hits = 0
        self._cache: dict[str, float] = {}
        self._lock = threading.Lock()

    def messages(self, instruction: str, trajectory: Trajectory) -> list[Message]:
        """The judge's conversation for one trajectory."""
        text = serialize(instruction, trajectory, max_tokens=self.max_tokens,
                         count_tokens=lambda s: len(s) // 4 + 1)
        ask = QUESTION if self.mode == "logprobs" else RATING
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{text}\n\n{ask}"}]

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        out = []
        for t in trajectories:
            messages = self.messages(instruction, t)
            key = messages[-1]["content"]
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None:
                self.cache_hits += 1
                out.append(cached)
                continue
            value = self._judge(messages)
            with self._lock:
                self._cache[key] = value
            out.append(value)
        return out

    def _judge(self, messages: list[Message]) -> float:
        self.llm_calls += 1
        if self.mode == "logprobs":
            yes, no = self.llm.continuation_logprobs(messages, [YES, NO])  # type: ignore[attr-defined]
            return float(yes - no)
        reply = self.llm.generate(messages, n=1, temperature=0.0, max_tokens=8)[0].text
        rating = parse_rating(reply)
        if rating is None:
            self.unparseable += 1
            log.warning("judge reply has no 0-10 rating: %r", reply[:80])
            return self.unparseable_score
        return rating


def parse_rating(reply: str) -> float | None:
    """The first integer 0-10 in ``reply`` (``"8"``, ``"Rating: 7/10"``), else None."""
    m = _INT.search(reply)
    return float(m.group(1)) if m else None
