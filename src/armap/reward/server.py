"""A reward-model server (`armap serve-rm`): one model shared by many planner processes.

Endpoints (JSON):

* ``POST /score`` ``{"instruction": str, "trajectories": [Trajectory.to_dict(), ...]}``
  -> ``{"scores": [float, ...]}``, one per trajectory, in order;
* ``GET /health`` -> ``{"status": "ok", "model", "limits", ...}``;
* ``GET /metrics`` -> request, batch and latency counters.

Requests that arrive within ``batch_window_ms`` of each other are scored together by
`DynamicBatcher`: one call into the model's own scoring path (the one serializer, then
``score_texts`` for a learned model) for up to ``max_batch`` trajectories from any number of
requests. A request over the limits gets 413, malformed JSON 400, a body that is not a
scoring request 422; every error body is ``{"error": message}``.

Starlette (the ASGI toolkit under FastAPI) and uvicorn are optional (``pip install
'armap[serve]'``) and imported only to serve.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from armap.config import opt
from armap.errors import ArmapError, ConfigError, MissingDependencyError
from armap.reward.base import RewardModel, load_reward_model, reward_models
from armap.types import Trajectory

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

log = logging.getLogger(__name__)


@dataclass
class RMServerConfig:
    """What `armap serve-rm` serves, where, and within which limits."""

    rm: str = opt("", "Reward model to serve: a checkpoint directory from `armap train` (or "
                  "oracle, for tests).")
    host: str = opt("127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
    port: int = opt(8700, "Port to listen on (0: any free port; the URL is printed).")
    dtype: str | None = opt(None, "Override the checkpoint's weight dtype: auto, bfloat16 or "
                            "float32.")
    max_batch: int = opt(64, "Most trajectories scored in one forward pass, across requests.")
    batch_window_ms: float = opt(5.0, "How long the batcher waits for more requests after the "
                                 "first one of a batch (milliseconds).")
    max_trajectories: int = opt(256, "Most trajectories in one request (413 above).")
    max_body_bytes: int = opt(8 << 20, "Largest request body in bytes (413 above).")
    cache_size: int = opt(100_000, "Scores the model keeps in its cache (0: none).")
    threads: int = opt(0, "CPU threads of the model's forward passes (0: all cores but one, "
                       "which the HTTP loop keeps; at least 1).")

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ConfigError("--threads must be 0 (all cores but one) or more")
        for name in ("max_batch", "max_trajectories", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.batch_window_ms < 0:
            raise ConfigError("--batch-window-ms must not be negative")
        if not 0 <= self.port < 65536:
            raise ConfigError(f"--port {self.port} is not a port number (0..65535)")


class RequestError(ArmapError):
    """A request the server refuses; ``status`` is its HTTP status (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Job:
    instruction: str
    trajectories: list[Trajectory]
    future: Future[list[float]]


class DynamicBatcher:
    """Scores requests from many threads in shared batches on one worker thread.

    The worker takes the first waiting job, then keeps taking jobs that arrive within
    ``window_s`` until the batch holds ``max_batch`` trajectories, and scores them with one
    call into the model. A job is never split; a job larger than ``max_batch`` is a batch of
    its own. If a batch fails, its jobs are scored one by one, so one bad request fails alone.
    """

    def __init__(self, reward: RewardModel, *, max_batch: int = 64, window_s: float = 0.005
                 ) -> None:
        self.reward = reward
        self.max_batch = max_batch
        self.window_s = window_s
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._stats_lock = threading.Lock()
        self.batches = 0
        self.batched_requests = 0
        self.batched_trajectories = 0
        self.max_requests_per_batch = 0
        self.busy_s = 0.0
        self._thread = threading.Thread(target=self._run, name="rm-batcher", daemon=True)
        self._thread.start()

    def submit(self, instruction: str, trajectories: list[Trajectory]) -> Future[list[float]]:
        """A future of the scores of ``trajectories`` against ``instruction``."""
        future: Future[list[float]] = Future()
        if not trajectories:
            future.set_result([])
            return future
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.append(_Job(instruction, trajectories, future))
            self._cond.notify()
        return future

    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        """Blocking `submit` (the `RewardModel` interface)."""
        return self.submit(instruction, list(trajectories)).result()

    def close(self) -> None:
        """Finish the waiting jobs, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=60)

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            n = self.batches
            return {
                "batches": n,
                "batched_requests": self.batched_requests,
                "batched_trajectories": self.batched_trajectories,
                "mean_trajectories_per_batch":
                    round(self.batched_trajectories / n, 3) if n else None,
                "mean_requests_per_batch": round(self.batched_requests / n, 3) if n else None,
                "max_requests_per_batch": self.max_requests_per_batch,
                "model_busy_s": round(self.busy_s, 3),
            }

    def _take(self) -> list[_Job] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            jobs = [self._queue.popleft()]
            size = len(jobs[0].trajectories)
            deadline = time.monotonic() + self.window_s
            while size < self.max_batch:
                if self._queue:
                    if size + len(self._queue[0].trajectories) > self.max_batch:
                        break
                    jobs.append(self._queue.popleft())
                    size += len(jobs[-1].trajectories)
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    break
                self._cond.wait(left)
            return jobs

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
            if not jobs:
                continue
            start = time.perf_counter()
            try:
                results = score_many(self.reward, [(j.instruction, j.trajectories)
                                                   for j in jobs])
            except Exception:
                results = None
            if results is None:  # score alone, so only the bad request fails
                for job in jobs:
                    try:
                        job.future.set_result(score_many(
                            self.reward, [(job.instruction, job.trajectories)])[0])
                    except Exception as e:
                        job.future.set_exception(e)
            else:
                for job, scores in zip(jobs, results, strict=True):
                    job.future.set_result(scores)
            with self._stats_lock:
                self.busy_s += time.perf_counter() - start
                self.batches += 1
                self.batched_requests += len(jobs)
                self.batched_trajectories += sum(len(j.trajectories) for j in jobs)
                self.max_requests_per_batch = max(self.max_requests_per_batch, len(jobs))


def score_many(reward: RewardModel, jobs: Sequence[tuple[str, Sequence[Trajectory]]]
               ) -> list[list[float]]:
    """Scores of several (instruction, trajectories) jobs in as few model calls as possible.

    A model with the learned model's text API (``serialize`` + ``score_texts``) gets one
    ``score_texts`` call for all jobs (it pads length-sorted batches of its ``batch_size``);
    any other `RewardModel` gets one ``score`` call per job.
    """
    serialize = getattr(reward, "serialize", None)
    score_texts = getattr(reward, "score_texts", None)
    if serialize is None or score_texts is None:
        return [reward.score(instruction, ts) for instruction, ts in jobs]
    texts = [serialize(instruction, t) for instruction, ts in jobs for t in ts]
    flat = score_texts(texts)
    out, at = [], 0
    for _, ts in jobs:
        out.append([float(s) for s in flat[at:at + len(ts)]])
        at += len(ts)
    return out


class ServerMetrics:
    """Request counters and a window of recent latencies (thread-safe)."""

    def __init__(self, window: int = 2048) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests = 0
        self.trajectories = 0
        self.errors: dict[int, int] = {}
        self.latencies: deque[float] = deque(maxlen=window)

    def ok(self, trajectories: int, seconds: float) -> None:
        with self._lock:
            self.requests += 1
            self.trajectories += trajectories
            self.latencies.append(seconds)

    def error(self, status: int) -> None:
        with self._lock:
            self.errors[status] = self.errors.get(status, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            lat = sorted(self.latencies)
            ms = [x * 1000 for x in lat]
            return {
                "uptime_s": round(time.time() - self.started, 1),
                "requests": self.requests,
                "trajectories": self.trajectories,
                "errors": {str(k): v for k, v in sorted(self.errors.items())},
                "latency_ms": {
                    "window": len(ms),
                    "mean": round(statistics.fmean(ms), 3) if ms else None,
                    "p50": round(ms[len(ms) // 2], 3) if ms else None,
                    "p95": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 3) if ms else None,
                    "max": round(ms[-1], 3) if ms else None,
                },
            }


def parse_request(body: bytes, *, max_trajectories: int) -> tuple[str, list[Trajectory]]:
    """The instruction and trajectories of a ``/score`` body; `RequestError` (400, 413 or
    422, with a message naming the problem) otherwise."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestError(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RequestError(422, "the body must be a JSON object with 'instruction' and "
                                f"'trajectories', not {type(data).__name__}")
    unknown = sorted(set(data) - {"instruction", "trajectories"})
    if unknown:
        raise RequestError(422, f"unknown field(s) {', '.join(unknown)}; a scoring request "
                                "has 'instruction' and 'trajectories'")
    instruction, items = data.get("instruction"), data.get("trajectories")
    if not isinstance(instruction, str):
        raise RequestError(422, "'instruction' must be a string")
    if not isinstance(items, list):
        raise RequestError(422, "'trajectories' must be a list of trajectory objects "
                                "(Trajectory.to_dict())")
    if len(items) > max_trajectories:
        raise RequestError(413, f"{len(items)} trajectories in one request; this server "
                                f"takes at most {max_trajectories}: split the request")
    trajectories = []
    for i, item in enumerate(items):
        try:
            trajectories.append(Trajectory.from_dict(item))
        except (ArmapError, TypeError, KeyError, ValueError, AttributeError) as e:
            what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
            raise RequestError(422, f"trajectories[{i}] is not a trajectory: {what}") from None
    return instruction, trajectories


def load_served_model(config: RMServerConfig) -> RewardModel:
    """The model named by ``config.rm``: a checkpoint is loaded with ``max_batch`` sequences
    per forward pass and the configured dtype and cache."""
    if not config.rm:
        raise ConfigError("--rm is required: the checkpoint directory to serve")
    if config.rm.startswith(("http://", "https://")):
        raise ConfigError(f"--rm {config.rm} is a server; serve a checkpoint directory")
    path = Path(config.rm).expanduser()
    if path.is_dir():
        return reward_models.make("learned", path=path, dtype=config.dtype,
                                  batch_size=config.max_batch, cache_size=config.cache_size)
    return load_reward_model(config.rm)


def _import_uvicorn() -> Any:
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise MissingDependencyError(e.name or "uvicorn", "The reward-model server",
                                     "pip install 'armap[serve]'") from None
    return uvicorn


def build_app(reward: RewardModel, config: RMServerConfig) -> tuple[Starlette, DynamicBatcher]:
    """The ASGI app serving ``reward`` and the batcher it submits to (close it after)."""
    _import_uvicorn()
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    batcher = DynamicBatcher(reward, max_batch=config.max_batch,
                             window_s=config.batch_window_ms / 1000)
    metrics = ServerMetrics()
    info = {"model": getattr(reward, "name", type(reward).__name__),
            "backbone": getattr(reward, "backbone_id", None),
            "max_length": getattr(reward, "max_length", None),
            "threshold": getattr(reward, "threshold", None),
            "limits": {"max_trajectories": config.max_trajectories,
                       "max_body_bytes": config.max_body_bytes,
                       "max_batch": config.max_batch,
                       "batch_window_ms": config.batch_window_ms}}

    def refuse(status: int, message: str) -> JSONResponse:
        metrics.error(status)
        return JSONResponse({"error": message}, status_code=status)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and \
                int(declared) > config.max_body_bytes:
            raise RequestError(413, f"the body has {declared} bytes; this server takes at "
                                    f"most {config.max_body_bytes}: split the request")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body_bytes:
                raise RequestError(413, f"the body is over {config.max_body_bytes} bytes; "
                                        "split the request")
            chunks.append(chunk)
        return b"".join(chunks)

    async def score(request: Request) -> JSONResponse:
        start = time.perf_counter()
        try:
            instruction, trajectories = parse_request(
                await read_body(request), max_trajectories=config.max_trajectories)
        except RequestError as e:
            return refuse(e.status, str(e))
        try:
            scores = await asyncio.wrap_future(batcher.submit(instruction, trajectories))
        except ArmapError as e:  # e.g. the oracle asked about a trajectory without a score
            return refuse(422, str(e))
        except Exception as e:
            log.exception("scoring failed")
            return refuse(500, f"scoring failed: {type(e).__name__}: {e}")
        metrics.ok(len(trajectories), time.perf_counter() - start)
        return JSONResponse({"scores": scores})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", **info})

    async def metrics_(request: Request) -> JSONResponse:
        return JSONResponse({**metrics.snapshot(), **batcher.stats()})

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return refuse(404, f"no endpoint {request.method} {request.url.path}; the endpoints "
                           "are POST /score, GET /health, GET /metrics")

    async def bad_method(request: Request, exc: Exception) -> JSONResponse:
        return refuse(405, f"{request.method} is not allowed on {request.url.path}")

    app = Starlette(routes=[Route("/score", score, methods=["POST"]),
                            Route("/health", health, methods=["GET"]),
                            Route("/metrics", metrics_, methods=["GET"])],
                    exception_handlers={404: not_found, 405: bad_method})
    return app, batcher


class RewardServer:
    """The server on a bound socket, run in a thread (`start`) or in the foreground (`run`).

    Binding happens in the constructor, so `url` is known (``port`` 0 takes a free port) and
    connections made before the server runs wait in the backlog instead of being refused.
    """

    def __init__(self, reward: RewardModel, config: RMServerConfig) -> None:
        uvicorn = _import_uvicorn()
        self.app, self.batcher = build_app(reward, config)
        self._sock = socket.create_server((config.host, config.port), backlog=256)
        host, port = self._sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", access_log=False, timeout_keep_alive=30,
            backlog=256))
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C / SIGTERM), then stop the batcher."""
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self.batcher.close()
            self._sock.close()

    def start(self) -> RewardServer:
        """Serve in a daemon thread; returns once the server accepts requests."""
        self._thread = threading.Thread(target=self.run, name="rm-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reward-model server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> RewardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(config: RMServerConfig, *, say: Callable[[str], None] = print) -> None:
    """Load the model and serve it in the foreground; ``say`` gets the URL once bound.

    Sets this process's torch threads (``config.threads``): forward passes that take every
    core starve the HTTP loop (on two busy cores, answers 3-4x slower were measured), so by
    default one core is left to it.
    """
    if Path(config.rm).expanduser().is_dir():
        import torch

        torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) - 1))
    reward = load_served_model(config)
    server = RewardServer(reward, config)
    say(f"Serving reward model {config.rm} at {server.url} (POST /score, GET /health, "
        "GET /metrics); Ctrl-C stops")
    server.run()
