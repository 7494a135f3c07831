"""`RemoteReward`: a reward model served by `armap serve-rm`, used like a local one.

``load_reward_model("http://host:port")`` returns one, so ``--rm http://host:port`` works
wherever a checkpoint is accepted and many planner processes share one model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from armap.errors import RewardServerError
from armap.types import Trajectory

_RETRIED = (httpx.TransportError,)  # connect, read/write timeouts, dropped connections
_RETRIED_STATUS = {502, 503, 504}


class RemoteReward:
    """Scores trajectories on a reward-model server.

    Args:
        url: The server's base URL, e.g. ``http://127.0.0.1:8700``.
        timeout: Seconds for one request (connect, read and write each).
        retries: Further attempts after a connection error, a timeout or a 502/503/504,
            with exponential backoff from ``backoff`` seconds. A 4xx is never retried.
        check: Ask ``/health`` now, so a wrong URL fails here with a clear message.

    Requests larger than the server's ``max_trajectories`` are split. Raises
    `RewardServerError` when the server refuses a request or cannot be reached.
    """

    name = "remote"
    concurrent = True
    """`score` may be called from many threads at once (the server batches their requests)."""

    def __init__(self, url: str, *, timeout: float = 120.0, retries: int = 3,
                 backoff: float = 0.5, check: bool = True) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.max_trajectories = 256
        self.info: dict[str, Any] = {}
        self.threshold: float | None = None
        self._client = httpx.Client(base_url=self.url, timeout=timeout,
                                    limits=httpx.Limits(max_connections=64,
                                                        max_keepalive_connections=64))
        if check:
            self.info = self.health()
            limits = self.info.get("limits") or {}
            self.max_trajectories = int(limits.get("max_trajectories", self.max_trajectories))
            self.name = f"remote:{self.info.get('model', 'unknown')}"
            self.threshold = self.info.get("threshold")

    def health(self) -> dict[str, Any]:
        """The server's ``/health`` answer."""
        return self._request("GET", "/health")

    def metrics(self) -> dict[str, Any]:
        """The server's ``/metrics`` answer."""
        return self._request("GET", "/metrics")

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        """One score per trajectory, in order (the `RewardModel` interface)."""
        out: list[float] = []
        step = max(1, self.max_trajectories)
        for lo in range(0, len(trajectories), step):
            chunk = trajectories[lo:lo + step]
            body = {"instruction": instruction,
                    "trajectories": [t.to_dict() for t in chunk]}
            scores = self._request("POST", "/score", json=body).get("scores")
            if not isinstance(scores, list) or len(scores) != len(chunk):
                raise RewardServerError(f"{self.url}/score answered {scores!r:.200} for "
                                        f"{len(chunk)} trajectories")
            out += [float(s) for s in scores]
        return out

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._client.request(method, path, **kwargs)
            except _RETRIED as e:
                if last:
                    raise RewardServerError(
                        f"no answer from the reward-model server at {self.url} after "
                        f"{attempt + 1} attempt(s) ({type(e).__name__}: {e}); is "
                        f"'armap serve-rm' running there?") from None
            else:
                if response.status_code < 400:
                    try:
                        data = response.json()
                    except ValueError:
                        raise RewardServerError(f"{self.url}{path} answered a body that is "
                                                "not JSON; is this an armap reward-model "
                                                "server?") from None
                    if not isinstance(data, dict):
                        raise RewardServerError(f"{self.url}{path} answered {data!r:.200}")
                    return data
                if response.status_code not in _RETRIED_STATUS or last:
                    raise RewardServerError(f"the reward-model server at {self.url} refused "
                                            f"{method} {path}: HTTP {response.status_code}: "
                                            f"{_message(response)}")
            time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("unreachable")


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    return str(data.get("error", data)) if isinstance(data, dict) else str(data)[:300]
