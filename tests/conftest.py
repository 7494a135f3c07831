"""Session checks shared by every test module."""

import os
import time
from pathlib import Path

import pytest


def java_children() -> list[int]:
    """Pids of ScienceWorld JVMs (py4j gateways) whose parent is this test process."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid() and b"py4j.GatewayServer" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


@pytest.fixture(scope="session", autouse=True)
def no_java_process_left_behind():
    """After the session, no simulator process started by a test may still run."""
    yield
    deadline = time.monotonic() + 10
    while java_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = java_children()
    assert not left, f"Java processes left behind by the tests: {left}"
