"""`RayExecutor`: run a verb's work items in Ray actors, on this machine or a cluster.

It implements the executor protocol of `armap.runner` (``map_unordered(fn, items)``), so
`armap.runner.run_episodes` writes each finished record to the driver's JSON Lines file as
soon as it comes back, and resume works as with threads. ``fn`` (picklable: an
`armap.runner.Work`) is sent once to each of ``workers`` actors, one CPU each, which keep it for
the whole run: the environments (a ScienceWorld JVM) and models it builds on first use live in
the actor and are reused by every item the actor runs. An actor that dies (its process killed,
its node lost) is replaced by a fresh one and its item runs again, up to `MAX_ITEM_RETRIES`
times; records already written stay written.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from armap.errors import ConfigError, MissingDependencyError, RunFailedError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
MAX_ITEM_RETRIES = 3
"""How many times an item whose actor died runs again before the run stops."""
CLOSE_TIMEOUT_S = 60.0
"""How long an actor may take to close its environments at the end of a run."""
INSTALL = "install it with pip install -e '.[ray]' (or pip install ray==2.40.0)"


def import_ray() -> Any:
    """The ``ray`` module, or `MissingDependencyError` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "--executor ray", INSTALL) from None
    return ray


class _WorkActor:
    """Holds one copy of the work function for the actor's life."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def run(self, item: Any) -> Any:
        return self.fn(item)

    def close(self) -> None:
        close = getattr(self.fn, "close", None)
        if close is not None:
            close()


class RayExecutor:
    """Runs work items in ``workers`` Ray actors and yields their results as they finish.

    Args:
        workers: Actors, each running one item at a time and holding one CPU of the cluster
            (at most as many as the cluster has CPUs).
        address: A running cluster to join (``auto``: the one ``ray start`` started on this
            machine); None starts a local cluster for the run and shuts it down at the end.
        cpus: CPUs of that local cluster (None: every CPU of the machine).

    If Ray is already initialised in this process (a caller's ``ray.init``), that cluster is
    used and left running.
    """

    def __init__(self, workers: int = 1, *, address: str | None = None,
                 cpus: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.ray = import_ray()
        self.workers = workers
        self.address = address
        self.cpus = cpus

    def _init(self) -> bool:
        """Connect to (or start) Ray; True when this call started it."""
        if self.ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   "logging_level": logging.WARNING}
        if self.address:
            self.ray.init(address=self.address, **options)
        else:
            self.ray.init(address="local", num_cpus=self.cpus, **options)
        return True

    def map_unordered(self, fn: Callable[[T], R], items: list[T]) -> Iterator[R]:
        if not items:
            return
        ray = self.ray
        started = self._init()
        actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_WorkActor)
        actors: list[Any] = []
        clean = False
        try:
            try:
                fn_ref = ray.put(fn)
            except (TypeError, pickle.PicklingError) as e:
                raise ConfigError(f"the work of this run cannot be sent to Ray actors (it must "
                                  f"be picklable; pass configs, not live objects): {e}") from e
            todo = list(reversed(items))
            retries: dict[int, int] = {}
            running: dict[Any, tuple[Any, int, T]] = {}  # ref -> (actor, slot, item)

            def submit(slot: int, item: T) -> None:
                actor = actors[slot]
                running[actor.run.remote(item)] = (actor, slot, item)

            for slot in range(min(self._actor_count(), len(items))):
                actors.append(actor_class.remote(fn_ref))
                submit(slot, todo.pop())
            while running:
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in ready:
                    actor, slot, item = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # the work raised: as with threads
                        log.debug("%s", e)  # with the actor's traceback
                        cause = e.cause if isinstance(e.cause, BaseException) else e
                        raise cause from None
                    except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                            ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError) as e:
                        tries = retries[id(item)] = retries.get(id(item), 0) + 1
                        name = getattr(item, "key", repr(item))
                        if tries > MAX_ITEM_RETRIES:
                            raise RunFailedError(
                                f"{name}: its Ray worker died {tries} times (last: "
                                f"{_short(e)}); the records finished so far are kept: re-run "
                                f"the same command to resume") from e
                        log.warning("the Ray worker running %s died (%s); running it again "
                                    "in a new actor (%d of %d)", name, type(e).__name__,
                                    tries, MAX_ITEM_RETRIES)
                        ray.kill(actor, no_restart=True)
                        actors[slot] = actor_class.remote(fn_ref)
                        submit(slot, item)
                        continue
                    if todo:
                        submit(slot, todo.pop())
                    yield result
            clean = True
        finally:
            self._close(actors, clean, started)

    def _actor_count(self) -> int:
        """``workers``, at most one per CPU of the cluster (each actor holds a CPU, so that
        Ray spreads them over the machines and none waits for a CPU that never frees)."""
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        if 0 < cpus < self.workers:
            log.warning("the Ray cluster has %d CPUs: running %d actors, not %d workers",
                        cpus, cpus, self.workers)
            return cpus
        return self.workers

    def _close(self, actors: list[Any], clean: bool, started: bool) -> None:
        """Let the actors close their environments (after a clean run), then end them, and
        shut Ray down if this executor started it."""
        ray = self.ray
        try:
            if clean and actors:
                closing = [a.close.remote() for a in actors]
                _, late = ray.wait(closing, num_returns=len(closing), timeout=CLOSE_TIMEOUT_S)
                if late:
                    log.warning("%d Ray actors did not close their environments in %.0f s",
                                len(late), CLOSE_TIMEOUT_S)
            for actor in actors:
                ray.kill(actor, no_restart=True)
        finally:
            if started:
                ray.shutdown()


def _short(error: BaseException, limit: int = 400) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[:limit] + "..."
