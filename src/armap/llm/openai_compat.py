"""A client for any OpenAI-compatible chat completions server (vLLM, llama.cpp, Ollama, ...).

Uses a synchronous `httpx.Client`; one instance is safe to share between threads. Transient
failures (HTTP 429, 5xx, connection errors, timeouts, and a 200 response whose body is not a
valid chat completion) are retried with exponential backoff and jitter; any other 4xx fails at
once. A server that ignores ``n`` (llama.cpp returns one choice) is asked again until ``n``
completions are in hand.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from armap import cancel
from armap.errors import ConfigError, LLMError
from armap.llm.base import Completion, Message
from armap.redact import redact

log = logging.getLogger(__name__)

_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _TransientError(Exception):
    """A failed attempt that may succeed when repeated."""


class OpenAICompatLLM:
    """`LLM` backed by ``POST {base_url}/chat/completions`` of an OpenAI-compatible server.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1``. The API key is read from
    the environment variable ``api_key_env`` when it is set (local servers need none). At most
    ``concurrency`` requests of this instance are in flight at once; each may take ``timeout``
    seconds and is retried up to ``max_retries`` times, waiting ``backoff_base * 2**k`` seconds
    (with jitter, at most ``backoff_cap``; a ``Retry-After`` header, capped likewise, wins).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 4,
        concurrency: int = 8,
        *,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
    ) -> None:
        if not base_url:
            raise ConfigError("the openai backend needs a base URL, e.g. --base-url "
                              "http://127.0.0.1:8000/v1")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be at least 0, got {max_retries}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.shown_url = redact(self.url)  # what messages and logs show: no credentials
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep: Callable[[float], None] = cancel.wait
        self._semaphore = threading.BoundedSemaphore(concurrency)
        headers = {"Accept": "application/json"}
        key = os.environ.get(api_key_env) if api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency,
                                max_keepalive_connections=concurrency),
        )

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
        """Return ``n`` completions, asking again (seed ``seed + i``) if the server gives fewer."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")

        def payload(k: int, request_seed: int | None) -> dict[str, Any]:
            body = {"model": self.model, "messages": messages, "n": k,
                    "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
                    "stop": stop or None, "seed": request_seed}
            return {key: value for key, value in body.items() if value is not None}

        completions = self._request(payload(n, seed))
        extra = 0  # follow-up requests issued so far; request i uses seed + i
        while len(completions) < n:
            missing = n - len(completions)
            seeds = [None if seed is None else seed + extra + i + 1 for i in range(missing)]
            extra += missing
            with ThreadPoolExecutor(max_workers=min(missing, self.concurrency)) as pool:
                for more in pool.map(lambda s: self._request(payload(1, s)), seeds):
                    completions.extend(more)
        return completions[:n]

    def _request(self, body: dict[str, Any]) -> list[Completion]:
        """POST one request with retries; the completions of its response."""
        attempts = self.max_retries + 1
        last = "no attempt made"
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                with self._semaphore:
                    cancel.check()
                    response = self._client.post(self.url, json=body)
                status = response.status_code
                if status == 429 or status >= 500:
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    raise _TransientError(f"HTTP {status}: {_snippet(response.text)}")
                if status >= 400:
                    raise LLMError(f"POST {self.shown_url} failed with HTTP {status} (not "
                                   f"retried): {_snippet(response.text)}")
                return _parse(response)
            except _TransientError as exc:
                last = str(exc)
            except _TRANSIENT_ERRORS as exc:
                last = redact(f"{type(exc).__name__}: {exc or 'no detail'}")
            if attempt + 1 < attempts:
                delay = self._backoff(attempt, retry_after)
                log.warning("POST %s: %s (attempt %d of %d); retrying in %.2f s",
                            self.shown_url, last, attempt + 1, attempts, delay)
                self._sleep(delay)
        raise LLMError(f"POST {self.shown_url} failed after {attempts} attempt"
                       f"{'s' if attempts != 1 else ''}; last error: {last}")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self.backoff_cap)
        delay = min(self.backoff_cap, self.backoff_base * 2**attempt)
        return delay * random.uniform(0.5, 1.0)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> OpenAICompatLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAICompatLLM(model={self.model!r}, base_url={redact(self.base_url)!r})"


def _parse(response: httpx.Response) -> list[Completion]:
    """The completions of a chat.completion body; `_TransientError` if it is malformed."""
    try:
        data = response.json()
        choices = data["choices"]
        if not isinstance(choices, list) or not choices:
            raise _TransientError("response has no choices")
        texts = [choice["message"].get("content") or "" for choice in choices]
        reasons = ["length" if c.get("finish_reason") == "length" else "stop" for c in choices]
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        total = int(usage.get("completion_tokens") or 0)
    except _TransientError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _TransientError(f"malformed response body ({type(exc).__name__}): "
                              f"{_snippet(response.text)}") from exc
    share, rest = divmod(total, len(choices))
    return [Completion(text=text, prompt_tokens=prompt_tokens,
                       completion_tokens=share + (1 if i < rest else 0), finish_reason=reason)
            for i, (text, reason) in enumerate(zip(texts, reasons, strict=True))]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
