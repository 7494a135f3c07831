"""A backend that replays scripted replies: deterministic planner tests and offline examples."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from armap.llm.base import Completion, Message

Responder = Callable[[list[Message], int], str]
"""Maps (messages, sample index) to a reply."""


class ScriptedLLM:
    """Answers from a fixed list of replies (cycled) or from a function of the conversation.

    Every call is recorded in `calls`, so tests can assert what a policy or planner asked.
    """

    def __init__(
        self,
        model: str = "scripted",
        replies: Sequence[str] | None = None,
        responder: Responder | None = None,
    ) -> None:
        if (replies is None) == (responder is None):
            raise ValueError("give exactly one of replies= or responder=")
        self.model = model
        self._replies = list(replies or [])
        self._responder = responder
        self._next = 0
        self._lock = threading.Lock()
        self.calls: list[dict[str, object]] = []

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
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        out = []
        with self._lock:
            self.calls.append({"messages": messages, "n": n, "temperature": temperature,
                               "seed": seed})
            for i in range(n):
                if self._responder is not None:
                    text = self._responder(messages, i)
                else:
                    text = self._replies[self._next % len(self._replies)]
                    self._next += 1
                for s in stop or []:
                    text = text.split(s)[0]
                out.append(Completion(text, prompt_tokens, len(text.split())))
        return out
