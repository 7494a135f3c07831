"""An on-disk cache of LLM replies, keyed by (model, messages, parameters, sample index).

Each of the ``n`` samples of a request is stored under its own index, so asking for 10
samples after 5 were cached generates only the 5 missing ones. Hits cost nothing and are marked
``Completion.cached``; SQLite keeps the cache safe to share between threads and processes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import asdict, replace
from pathlib import Path

from armap.llm.base import LLM, Completion, Message


class CachedLLM:
    """Wraps any `LLM` with a persistent reply cache (SQLite file in ``cache_dir``)."""

    def __init__(self, llm: LLM, cache_dir: str | Path) -> None:
        self.llm = llm
        self.model = llm.model
        path = Path(cache_dir)
        path.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path / "llm_cache.sqlite", check_same_thread=False,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT)")
        self._db.commit()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> object:  # continuation_logprobs etc. pass through
        return getattr(self.llm, name)

    def _key(self, messages: list[Message], params: dict[str, object], index: int) -> str:
        blob = json.dumps([self.model, messages, params, index], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

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
        params = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
                  "stop": stop, "seed": seed}
        keys = [self._key(messages, params, i) for i in range(n)]
        with self._lock:
            rows = dict(self._db.execute(
                f"SELECT key, value FROM replies WHERE key IN ({','.join('?' * n)})", keys
            ).fetchall())
        missing = [k for k in keys if k not in rows]
        self.hits += n - len(missing)
        self.misses += len(missing)
        if missing:
            # A different seed for the top-up keeps new samples distinct from cached ones.
            top_up_seed = None if seed is None else seed + n - len(missing)
            fresh = self.llm.generate(messages, n=len(missing), temperature=temperature,
                                      top_p=top_p, max_tokens=max_tokens, stop=stop,
                                      seed=top_up_seed)
            new = {k: json.dumps(asdict(c)) for k, c in zip(missing, fresh, strict=True)}
            with self._lock:
                self._db.executemany("INSERT OR REPLACE INTO replies VALUES (?, ?)",
                                     list(new.items()))
                self._db.commit()
            out = [fresh[missing.index(k)] if k in new else None for k in keys]
        else:
            out = [None] * n
        return [
            c if c is not None else replace(Completion(**json.loads(rows[k])), cached=True)
            for k, c in zip(keys, out, strict=True)
        ]

    def close(self) -> None:
        self._db.close()
