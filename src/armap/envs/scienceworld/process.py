"""ScienceWorld simulator processes: one JVM each, a timeout on every call, none left behind.

A `Simulator` is one Java process running the ``scienceworld`` jar behind a py4j gateway.
Every call has a timeout; a process that dies, hangs or fails a call is killed and the call
raises `SimulatorError` (an `armap.errors.EnvProcessError`), so the rollout records the episode
as an error instead of hanging. `ProcessPool` bounds how many simulators are alive at once in
this Python process.

No Java process outlives Python: each JVM runs in its own session (a terminal's Ctrl-C reaches
only Python, which then closes its envs in order), every live simulator is killed at
interpreter exit, and the JVM is started with py4j's ``--die-on-broken-pipe``, so it exits by
itself when Python dies any other way (SIGKILL included) and its stdin pipe closes.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import importlib.util
import logging
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any

from armap import cancel
from armap.errors import EnvProcessError, MissingDependencyError

log = logging.getLogger(__name__)

DETERMINISTIC_OPTIONS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2")
"""JVM options that make the simulator deterministic. With HotSpot's default (random)
identity hashes, ScienceWorld lists the objects of a room, and names them in its valid actions,
in an order that changes from one load of the same task to the next; with a constant identity
hash the order is the order of creation, identical across loads and processes, which replay
(snapshots, retries after a dead process) relies on. Measured: no slower."""
DEFAULT_JAVA_OPTIONS = "-Xmx1g -XX:+UseSerialGC"
"""Heap cap (a process then stays under about 600 MB resident) and the single-threaded
collector (fewer threads on a busy machine)."""
PROCESS_MEMORY_GIB = 1.5
"""Memory set aside per simulator when the pool size is derived from the available memory."""
INSTALL_JAVA = ("install a Java runtime, 11 or newer (Debian/Ubuntu: `apt-get install "
                "openjdk-17-jre-headless`), or pass java=/path/to/java")
INSTALL_EXTRA = "pip install -e '.[scienceworld]' (scienceworld==1.2.3 and py4j)"


class SimulatorError(EnvProcessError):
    """A ScienceWorld simulator process failed to start, died, hung or failed a call."""


def check_dependencies(java: str) -> str:
    """The resolved ``java`` executable; `MissingDependencyError` naming the fix when Java or the
    ``scienceworld``/``py4j`` packages are missing."""
    for module in ("scienceworld", "py4j"):
        if importlib.util.find_spec(module) is None:  # checked without importing it
            raise MissingDependencyError(module, "The ScienceWorld environment", INSTALL_EXTRA)
    path = shutil.which(java)
    if path is None:
        raise MissingDependencyError(f"java ({java!r} not found)", "The ScienceWorld environment",
                                     INSTALL_JAVA)
    return path


def default_max_processes() -> int:
    """How many simulators may run at once by default: one per CPU core, and no more than the
    available memory holds at `PROCESS_MEMORY_GIB` each (at least one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    by_memory = int(_available_gib() / PROCESS_MEMORY_GIB)
    return max(1, min(cores or 1, by_memory))


def _available_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return PROCESS_MEMORY_GIB * 2  # unknown: allow two


class Simulator:
    """One ScienceWorld JVM. `call` runs a method of the simulator's Python interface
    (``scienceworld.runtime.pythonapi.PythonInterface``) with the call timeout.

    Args:
        java: The Java executable.
        java_options: Extra JVM options (the deterministic options are always added).
        start_timeout: Seconds the JVM may take to start and answer.
        call_timeout: Seconds any call may take before the process counts as hung.
    """

    def __init__(self, *, java: str = "java", java_options: Sequence[str] = (),
                 start_timeout: float = 60.0, call_timeout: float = 60.0) -> None:
        from py4j.java_gateway import find_jar_path
        from scienceworld.constants import BASEPATH, JAR_PATH

        self.call_timeout = call_timeout
        self._lock = threading.Lock()
        self._killed = False
        self._errors: collections.deque[str] = collections.deque(maxlen=20)
        self._gateway: Any = None
        command = [java, *java_options, *DETERMINISTIC_OPTIONS, "-cp",
                   os.pathsep.join([find_jar_path(), JAR_PATH]), "py4j.GatewayServer",
                   "--die-on-broken-pipe", "0"]
        started = time.perf_counter()
        try:
            self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, cwd=BASEPATH,
                                          start_new_session=True)
        except OSError as e:
            raise SimulatorError(f"could not start Java ({java}): {e}; {INSTALL_JAVA}") from e
        _LIVE.add(self)
        _quiet_py4j_network_errors()
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._drain, args=(self._proc.stderr, self._errors),
                         daemon=True, name="scienceworld-err").start()
        try:
            port = self._read_port(start_timeout)
            threading.Thread(target=self._drain, args=(self._proc.stdout, None), daemon=True,
                             name="scienceworld-out").start()
            self._connect(port)
            self.call("getTaskNames")  # the simulator answers: it is up
        except BaseException:
            self.kill()
            raise
        self.start_seconds = time.perf_counter() - started

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return not self._killed and self._proc.poll() is None

    def call(self, method: str, *args: Any) -> Any:
        """``server.<method>(*args)``; `SimulatorError` (and the process killed) when the
        process is dead, does not answer within the call timeout, or the call fails."""
        from py4j.protocol import Py4JError

        if not self.alive:
            raise SimulatorError(f"the ScienceWorld process (pid {self.pid}) is not running"
                                 f"{self._exit_text()}")
        started = time.perf_counter()
        try:
            return getattr(self._server, method)(*args)
        except KeyboardInterrupt:
            self.kill()  # the interrupted answer is still on the wire: the process is unusable
            raise
        except Exception as e:
            if _interrupted(e):  # py4j 0.10.9 turns an interrupt into an AttributeError
                self.kill()
                raise KeyboardInterrupt from e
            if not isinstance(e, Py4JError | OSError):
                raise
            seconds = time.perf_counter() - started
            hung = self._proc.poll() is None and seconds >= self.call_timeout * 0.9
            self.kill()
            why = (f"did not answer {method} within {self.call_timeout:g} s" if hung
                   else f"failed during {method}{self._exit_text()}")
            raise SimulatorError(f"the ScienceWorld process (pid {self.pid}) {why}: "
                                 f"{_first_line(e)}") from e

    def kill(self) -> None:
        """Kill the JVM and close the connection; safe to call more than once."""
        with self._lock:
            if self._killed:
                return
            self._killed = True
        _LIVE.discard(self)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kernel that ignores SIGKILL
            log.warning("ScienceWorld process %d did not exit after SIGKILL", self._proc.pid)
        if self._gateway is not None:
            try:
                self._gateway.close()
            except Exception as e:  # the process is gone; nothing left to close cleanly
                log.debug("closing the py4j gateway: %s", e)
        if self._proc.stdin is not None:  # stdout: the drain thread closes it at its end
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    # -- internals ------------------------------------------------------------------------
    def _read_port(self, timeout: float) -> int:
        """The gateway's port: the first line of its output that is a number. Reads the pipe
        unbuffered, so that `_drain` then reads what follows."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        pending = b""
        while True:
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                if raw.strip().isdigit():
                    return int(raw)
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimulatorError(f"the ScienceWorld process did not start within "
                                     f"{timeout:g} s{self._exit_text()}")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            cancel.check()
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._proc.wait(timeout=2)
                    raise SimulatorError(f"the ScienceWorld process exited at start"
                                         f"{self._exit_text()}")
                pending += chunk

    def _connect(self, port: int) -> None:
        from py4j.java_gateway import GatewayParameters, JavaGateway

        # auto_field=False: a method lookup is then local, not a round trip to the JVM.
        self._gateway = JavaGateway(gateway_parameters=GatewayParameters(
            port=port, auto_field=False, read_timeout=self.call_timeout))
        self._server = self._gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()

    @staticmethod
    def _drain(stream: Any, keep: collections.deque[str] | None) -> None:
        """Read a pipe of the JVM to its end (a full pipe would block the JVM), keeping the
        last lines in ``keep`` (its error output, for error messages)."""
        with contextlib.suppress(OSError, ValueError), stream:
            for raw in iter(stream.readline, b""):
                if keep is not None and raw.strip():
                    keep.append(raw.decode(errors="replace").rstrip())

    def _exit_text(self) -> str:
        code = self._proc.poll()
        parts = [] if code is None else [f" (exit code {code})"]
        tail = list(self._errors)[-3:]
        if tail:
            parts.append("; its last error output: " + " | ".join(tail))
        return "".join(parts)

    def __repr__(self) -> str:
        return f"Simulator(pid={self.pid}, alive={self.alive})"


class _Py4JNetworkNoise(logging.Filter):
    """Drops py4j's own tracebacks of a connection that failed (a JVM that died or hung) or was
    interrupted (Ctrl-C): `Simulator.call` raises `SimulatorError` or `KeyboardInterrupt` for
    those, and the env logs one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "py4j" not in record.pathname or not record.exc_info:
            return True
        error = record.exc_info[1]
        from py4j.protocol import Py4JNetworkError

        return not isinstance(error, Py4JNetworkError | OSError | IndexError | KeyboardInterrupt)


_QUIET = _Py4JNetworkNoise()


def _quiet_py4j_network_errors() -> None:
    """py4j logs a failed connection with a traceback, partly on the root logger; those records
    (and only those: from py4j's files, with a network error) are dropped."""
    for logger in (logging.getLogger(), logging.getLogger("py4j.java_gateway")):
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` was raised while handling a `KeyboardInterrupt` (its context chain)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class ProcessPool:
    """Bounds the simulators alive at once in this Python process. An env takes a slot when it
    starts its simulator and gives it back when it closes (or its simulator dies), so the
    same JVM serves every episode of an env."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._live = 0

    @property
    def live(self) -> int:
        """Simulators started through the pool and not yet released."""
        return self._live

    def start(self, max_processes: int, *, wait: float, **options: Any) -> Simulator:
        """A new `Simulator` once fewer than ``max_processes`` are alive; waits up to ``wait``
        seconds for a slot, then raises `SimulatorError` naming the fix."""
        deadline = time.monotonic() + wait
        with self._cond:
            while self._live >= max_processes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SimulatorError(
                        f"all {max_processes} ScienceWorld processes allowed are in use by other "
                        f"environments; run at most {max_processes} episodes in parallel "
                        "(--workers) or raise the env option max_processes")
                self._cond.wait(min(left, 0.5))
                cancel.check()
            self._live += 1
        try:
            return Simulator(**options)
        except BaseException:
            self._free()
            raise

    def release(self, simulator: Simulator) -> None:
        """Kill ``simulator`` and free its slot."""
        simulator.kill()
        self._free()

    def _free(self) -> None:
        with self._cond:
            self._live -= 1
            self._cond.notify()


POOL = ProcessPool()
"""The pool every ScienceWorld env of this Python process starts its simulator from."""

_LIVE: set[Simulator] = set()


def live_simulators() -> list[Simulator]:
    """Simulators started and not yet killed (for tests and diagnostics)."""
    return list(_LIVE)


def kill_all() -> None:
    """Kill every live simulator (registered to run at interpreter exit)."""
    for simulator in list(_LIVE):
        simulator.kill()


atexit.register(kill_all)
