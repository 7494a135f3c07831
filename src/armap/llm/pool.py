"""Several copies of an in-process LLM engine, one per worker thread (``--engines``).

An in-process engine answers one call at a time, so worker threads that share one take turns
and each call evicts the previous worker's prompt from the KV cache. `EnginePool` gives each
calling thread its own copy (its own weights, cache and CPU threads): with ``--workers 2
--engines 2 --threads 1`` two episodes decode at once on two cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from armap.llm.base import LLM, Completion, Message


class EnginePool:
    """One engine per calling thread, at most ``size`` of them (threads beyond that share
    them in turn); implements `LLM` and `SupportsRanking` by delegating to the caller's engine.

    Args:
        factory: Builds one engine (called once now, then on demand up to ``size`` times).
        size: Most engines; each holds its own copy of the weights.
    """

    def __init__(self, factory: Callable[[], LLM], size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self.size = size
        self._factory = factory
        self._engines: list[LLM] = [factory()]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._assigned = 0
        first = self._engines[0]
        if not hasattr(first, "continuation_logprobs"):
            raise TypeError(f"{type(first).__name__} cannot rank; pool in-process engines only")
        self.model = first.model

    def _mine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            with self._lock:
                k = self._assigned % self.size
                self._assigned += 1
                if k == len(self._engines):
                    self._engines.append(self._factory())
                engine = self._engines[k]
            self._local.engine = engine
        return engine

    @property
    def engines(self) -> int:
        """Engines built so far."""
        return len(self._engines)

    def generate(self, messages: list[Message], **kwargs: Any) -> list[Completion]:
        return self._mine().generate(messages, **kwargs)

    def continuation_logprobs(self, messages: list[Message], continuations: list[str], *,
                              per_token: bool = False) -> list[float]:
        return self._mine().continuation_logprobs(messages, continuations, per_token=per_token)

    def load(self) -> None:
        """Load the calling thread's engine now."""
        engine = self._mine()
        if hasattr(engine, "load"):
            engine.load()

    def close(self) -> None:
        """Close every engine."""
        for engine in self._engines:
            if hasattr(engine, "close"):
                engine.close()

    @property
    def prefix_tokens_reused(self) -> int:
        return sum(getattr(e, "prefix_tokens_reused", 0) for e in self._engines)

    def __getattr__(self, name: str) -> Any:  # engine, threads, ... of the first engine
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._engines[0], name)

    def __repr__(self) -> str:
        return f"EnginePool({self._engines[0]!r}, size={self.size})"
