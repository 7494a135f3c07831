"""The LLM protocol every backend implements, and the records it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from armap.types import Cost

Message = dict[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""


@dataclass(frozen=True)
class Completion:
    """One sampled reply with its token usage.

    ``prompt_tokens`` is the prompt length of the call that produced it (shared by all ``n``
    samples of that call); ``finish_reason`` is ``"stop"`` (end of turn or a stop string) or
    ``"length"`` (``max_tokens`` reached).
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    cached: bool = False


@runtime_checkable
class LLM(Protocol):
    """A chat model that samples ``n`` replies to one conversation."""

    model: str

    def generate(
        self,
        messages: list[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 128,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> list[Completion]:
        """Return ``n`` completions. ``temperature == 0`` means greedy decoding.

        With the same ``seed`` and arguments a backend returns the same samples where it can
        (the local backend always; servers when they honour the seed).
        """
        ...


@runtime_checkable
class SupportsRanking(Protocol):
    """A backend that can score given continuations of a conversation (the local backend)."""

    def continuation_logprobs(
        self, messages: list[Message], continuations: list[str], *, per_token: bool = False
    ) -> list[float]:
        """Sum of token log-probabilities of each continuation as the assistant's reply (with
        ``per_token``, their mean per token: long candidates are not penalized for length)."""
        ...


def completion_cost(completions: list[Completion]) -> Cost:
    """The cost of one `LLM.generate` call: one call, the prompt once, every sample's tokens."""
    fresh = [c for c in completions if not c.cached]
    if not fresh:
        return Cost()
    return Cost(
        llm_calls=1,
        prompt_tokens=fresh[0].prompt_tokens,
        completion_tokens=sum(c.completion_tokens for c in fresh),
    )
