"""Run many episodes in parallel and append each result to a JSON Lines file as it ends.

Results are flushed one line at a time, so a killed run keeps every finished episode, and a
re-run skips the episode keys already in the file. Execution goes through an `Executor`; the
default runs threads on this machine (the right choice for LLM servers and the in-process model,
which releases the GIL in torch). A Ray executor can implement the same one-method protocol.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tqdm.auto import tqdm

from armap.jsonl import JsonlWriter, read_jsonl, repair_tail
from armap.types import Task

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


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
    """A bounded thread pool; on interruption pending work is cancelled."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers

    def map_unordered(self, fn: Callable[[T], R], items: list[T]) -> Iterator[R]:
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="armap")
        todo = iter(items)
        running: set[Future[R]] = set()
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
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def finished_keys(path: Path, key: Callable[[dict[str, Any]], str]) -> set[str]:
    """Keys of the records already in ``path`` (after cutting a torn last line)."""
    if not path.exists():
        return set()
    repair_tail(path)
    return {key(r) for r in read_jsonl(path)}


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


def run_episodes(
    episodes: list[K],
    work: Callable[[K], dict[str, Any] | list[dict[str, Any]]],
    out: Path,
    *,
    key: Callable[[dict[str, Any]], str],
    executor: Executor | None = None,
    desc: str = "episodes",
) -> tuple[int, int]:
    """Run the work items whose key is not yet in ``out``; append their records as they end.

    ``work`` turns an item (an `Episode`, or anything with a ``key``) into one JSON record, or
    a list of records written together, each with ``key(record) == item.key``. Returns
    ``(skipped, ran)``.
    """
    done = finished_keys(out, key)
    pending = [e for e in episodes if e.key not in done]
    skipped = len(episodes) - len(pending)
    if skipped:
        log.info("resuming: %d of %d episodes already in %s", skipped, len(episodes), out)
    executor = executor or ThreadExecutor()
    ran = 0
    with JsonlWriter(out) as writer, tqdm(total=len(episodes), initial=skipped, desc=desc,
                                          unit="ep", dynamic_ncols=True) as bar:
        for records in executor.map_unordered(work, pending):
            writer.write_many(records if isinstance(records, list) else [records])
            ran += 1
            bar.update(1)
    return skipped, ran
