"""Run many episodes in parallel and append each result to a JSON Lines file as it ends.

Results are flushed one line at a time, so a killed run keeps every finished episode, and a
re-run skips the episode keys already in the file, except those whose latest record failed
(an LLM server that was down, a dead env process): those are kept for the record and run
again. Many failures in a row stop the run early. Execution goes through an `Executor`; the
default runs threads on this machine (the right choice for LLM servers and the in-process model,
which releases the GIL in torch); `armap.ray_executor.RayExecutor` runs the same work in Ray
actors, on this machine or a cluster. Work that must travel to other processes is a `Work`: a
picklable object that holds plain configuration and builds its environments and models on
first use in the process that runs it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from armap import cancel
from armap.config import check_choice, opt
from armap.console import progress
from armap.errors import ConfigError, RunFailedError
from armap.jsonl import JsonlWriter, read_jsonl, repair_tail
from armap.types import Task

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
I = TypeVar("I")  # noqa: E741 -- a work item
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Episode:
    """One unit of work: a task, which sample of it, and the seed that sample uses."""

    task: Task
    sample: int
    seed: int

    @property
    def key(self) -> str:
        return f"{self.task.id}#{self.sample}"


def episode_seed(seed: int, task_id: str, sample: int) -> int:
    """A stable per-episode seed: the same for a task and sample whatever the run order."""
    digest = hashlib.sha256(f"{seed}/{task_id}/{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def make_episodes(tasks: Iterable[Task], samples: int, seed: int) -> list[Episode]:
    return [Episode(t, k, episode_seed(seed, t.id, k)) for t in tasks for k in range(samples)]


class Executor(Protocol):
    """Runs ``fn`` over ``items``, yielding results as they finish (any order)."""

    def map_unordered(self, fn: Callable[[T], R], items: list[T]) -> Iterator[R]: ...


class ThreadExecutor:
    """A bounded thread pool. On interruption pending work is cancelled and the pool is left
    without waiting for running items (a hung request must not hold up Ctrl-C); waits in the
    workers end through `armap.cancel`."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers

    def map_unordered(self, fn: Callable[[T], R], items: list[T]) -> Iterator[R]:
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="armap")
        todo = iter(items)
        running: set[Future[R]] = set()
        clean = False
        try:
            for item in todo:
                running.add(pool.submit(fn, item))
                if len(running) >= self.workers * 2:
                    break
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
                    nxt = next(todo, None)
                    if nxt is not None:
                        running.add(pool.submit(fn, nxt))
            clean = True
        finally:
            if not clean:
                cancel.CANCELLED.set()
            pool.shutdown(wait=clean, cancel_futures=True)


class ThreadEnvs:
    """One environment per worker thread, made on first use and all closed at the end (an
    env may own a process, e.g. ScienceWorld's JVM)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self._local = threading.local()
        self._made: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        """This thread's environment."""
        env = getattr(self._local, "env", None)
        if env is None:
            env = self._local.env = self.factory()
            with self._lock:
                self._made.append(env)
        return env

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
        for env in made:
            try:
                env.close()
            except Exception as e:  # closing one must not keep the others open
                log.warning("closing %r failed: %s", env, e)

    def __enter__(self) -> ThreadEnvs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Work(Generic[I, R]):
    """A picklable work function for `run_episodes`: ``work(item)`` returns its record(s).

    A `Work` holds only plain configuration (and any objects it was given). What is costly or
    tied to a process is built on first use in the process that runs the work: an environment
    per thread (`env`, through `ThreadEnvs`) and objects shared by the threads (`shared`: the
    policy's LLM, the reward model). A copy sent to another process (a Ray actor) leaves that
    state behind and builds its own there. `close` closes the environments.

    Args:
        make_env: Builds one environment (e.g. `EnvConfig.make`), or None for work without one.
    """

    _TRANSIENT = ("_lock", "_envs", "_shared")

    def __init__(self, make_env: Callable[[], Any] | None = None) -> None:
        self.make_env = make_env
        self._init_state()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._envs = ThreadEnvs(self.make_env) if self.make_env is not None else None
        self._shared: dict[str, Any] = {}

    def __call__(self, item: I) -> R:
        """Run one item; each kind of work (`ExploreWork`, `EvalWork`, ...) defines it."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Build the shared state now (the local executor does, so that a bad model or server
        fails before the first episode); by default nothing."""

    def env(self) -> Any:
        """This thread's environment, made on first use."""
        if self._envs is None:
            raise RuntimeError(f"{type(self).__name__} has no environment")
        return self._envs.get()

    def shared(self, name: str, build: Callable[[], T]) -> T:
        """The object ``build`` makes, made once in this process and shared by its threads."""
        with self._lock:
            if name not in self._shared:
                self._shared[name] = build()
            return self._shared[name]  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the environments made so far (a later call makes new ones)."""
        if self._envs is not None:
            self._envs.close()
            self._envs = ThreadEnvs(self.make_env)  # type: ignore[arg-type]

    def __enter__(self) -> Work[I, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_state()


def latest_records(path: Path, key: Callable[[dict[str, Any]], str]) -> dict[str, dict[str, Any]]:
    """The last record of each key in ``path`` (a re-run appends, so the last one counts)."""
    if not path.exists():
        return {}
    repair_tail(path)
    return {key(r): r for r in read_jsonl(path)}


def finished_keys(path: Path, key: Callable[[dict[str, Any]], str],
                  failed: Callable[[dict[str, Any]], bool] | None = None) -> set[str]:
    """Keys whose latest record in ``path`` did not fail (after cutting a torn last line)."""
    return {k for k, r in latest_records(path, key).items() if failed is None or not failed(r)}


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


@dataclass
class RunnerConfig:
    """How a verb runs its episodes: in parallel, and what it does about failed ones."""

    workers: int = opt(1, "Episodes (or tasks) run in parallel.", volatile=True)
    retry_errors: bool = opt(True, "On resume, run again the episodes that ended in an error "
                             "(their records stay in the file).", volatile=True)
    max_consecutive_failures: int = opt(5, "Stop the run after this many episodes in a row "
                                        "ended in an error (0: never).", volatile=True)
    executor: str = opt("local", "Where episodes run: local (threads in this process) or ray "
                        "(--workers Ray actors of one CPU each, each with its own environment "
                        "and models; needs pip install -e '.[ray]').", volatile=True)
    ray_address: str | None = opt(None, "Executor ray: the address of a running Ray cluster "
                                  "to join (auto: the one started on this machine with `ray "
                                  "start`); default: start a local one for the run.",
                                  volatile=True)
    ray_cpus: int | None = opt(None, "Executor ray: CPUs of the local cluster it starts, "
                               "the most actors it runs (default: every CPU of the machine).",
                               volatile=True)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, not {self.workers}")
        if self.max_consecutive_failures < 0:
            raise ConfigError("max_consecutive_failures must be 0 (never stop) or more")
        check_choice("executor", self.executor, EXECUTORS)
        if self.ray_cpus is not None and self.ray_cpus < 1:
            raise ConfigError(f"ray_cpus must be at least 1, not {self.ray_cpus}")
        if self.ray_cpus is not None and self.ray_address:
            raise ConfigError("ray_cpus sizes the local Ray cluster a run starts; a cluster "
                              "joined with ray_address has its own CPUs: give one of the two")

    def make_executor(self) -> Executor:
        """The executor this config asks for (`MissingDependencyError` when it is ray and Ray
        is not installed)."""
        if self.executor == "ray":
            from armap.ray_executor import RayExecutor

            return RayExecutor(self.workers, address=self.ray_address, cpus=self.ray_cpus)
        return ThreadExecutor(self.workers)

    @property
    def in_process(self) -> bool:
        """Whether the work runs in this process (its shared state can be built here first)."""
        return self.executor == "local"

    def failures(self, failed: Callable[[dict[str, Any]], bool]) -> FailurePolicy:
        """The failure policy for records that ``failed`` tells apart."""
        return FailurePolicy(failed, retry=self.retry_errors,
                             max_consecutive=self.max_consecutive_failures)


@dataclass
class FailurePolicy:
    """What a run does about work items that failed on their infrastructure.

    Attributes:
        failed: Tells a failed record (e.g. a trajectory that ended in an error).
        retry: Run failed items again on resume (their old records stay in the file).
        max_consecutive: Stop the run after this many failed items in a row (0: never).
    """

    failed: Callable[[dict[str, Any]], bool]
    retry: bool = True
    max_consecutive: int = 5


def run_episodes(
    episodes: list[K],
    work: Callable[[K], dict[str, Any] | list[dict[str, Any]]],
    out: Path,
    *,
    key: Callable[[dict[str, Any]], str],
    executor: Executor | None = None,
    desc: str = "episodes",
    failures: FailurePolicy | None = None,
) -> tuple[int, int]:
    """Run the work items whose key is not yet in ``out``; append their records as they end.

    ``work`` turns an item (an `Episode`, or anything with a ``key``) into one JSON record, or
    a list of records written together, each with ``key(record) == item.key``. With
    ``failures``, items whose latest record failed are run again (unless ``retry`` is off), and
    `RunFailedError` is raised (after writing every record) when ``max_consecutive`` items
    fail in a row or when every item of the run failed. Returns ``(skipped, ran)``.
    """
    failed = failures.failed if failures and failures.retry else None
    done = finished_keys(out, key, failed)
    pending = [e for e in episodes if e.key not in done]
    skipped = len(episodes) - len(pending)
    if skipped:
        log.info("resuming: %d of %d episodes already in %s", skipped, len(episodes), out)
    executor = executor or ThreadExecutor()
    cancel.CANCELLED.clear()
    ran = streak = failed_items = 0
    last_error = ""
    with JsonlWriter(out) as writer, progress(total=len(episodes), initial=skipped, desc=desc,
                                              unit="ep") as bar:
        results = executor.map_unordered(work, pending)
        for records in results:
            batch = records if isinstance(records, list) else [records]
            writer.write_many(batch)
            ran += 1
            bar.update(1)
            if failures is None:
                continue
            bad = [r for r in batch if failures.failed(r)]
            streak = streak + 1 if bad else 0
            failed_items += bool(bad)
            last_error = _error_text(bad[0]) if bad else last_error
            if failures.max_consecutive and streak >= failures.max_consecutive \
                    and ran < len(pending):
                close = getattr(results, "close", None)
                if close is not None:
                    close()
                raise RunFailedError(
                    f"stopped early: {streak} episodes in a row failed (last error: "
                    f"{last_error}). {ran - failed_items + skipped} finished records are kept in "
                    f"{out}; fix the cause and re-run the same command to resume")
    if failures is not None and ran and failed_items == ran and not skipped:
        raise RunFailedError(
            f"all {ran} episodes run failed (last error: {last_error}); their records are in "
            f"{out} and will be run again when you re-run the same command")
    if failed_items:
        log.warning("%d of %d episodes failed; re-run the same command to run them again",
                    failed_items, len(episodes))
    return skipped, ran


def _error_text(record: dict[str, Any]) -> str:
    text = record.get("error")
    if not text:
        errors = [c["trajectory"].get("error") for c in record.get("candidates") or []
                  if isinstance(c, dict) and isinstance(c.get("trajectory"), dict)]
        text = next((e for e in errors if e), "unknown error")
    text = " ".join(str(text).split())
    return text if len(text) <= 300 else text[:300] + "..."
