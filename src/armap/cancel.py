"""Cooperative cancellation of in-flight work after Ctrl-C.

The runner sets `CANCELLED` when the user interrupts a run; long waits in worker threads
(retry back-off, queued requests) use `wait` instead of `time.sleep`, so they end at once
and raise `Cancelled` rather than finishing their work.
"""

from __future__ import annotations

import threading

CANCELLED = threading.Event()


class Cancelled(Exception):
    """The run was interrupted; this worker stops without a result."""


def check() -> None:
    """Raise `Cancelled` if the run was interrupted."""
    if CANCELLED.is_set():
        raise Cancelled("the run was interrupted")


def wait(seconds: float) -> None:
    """Sleep ``seconds`` unless the run is interrupted first (then raise `Cancelled`)."""
    if CANCELLED.wait(max(seconds, 0.0)):
        raise Cancelled("the run was interrupted")
