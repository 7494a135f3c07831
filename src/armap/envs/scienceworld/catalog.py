"""The 30 ScienceWorld task types, their step limits, and the simulator's variation splits.

`TASK_TYPES` lists the task types in the paper's order (1-1 boil ... 10-2) with the step limit
of an episode. The variations of each split and the task description of every variation come
from the simulator (``get_variations_train/dev/test`` and the description after ``load``); they
are read once into ``variations.json.gz`` beside this module, so listing tasks needs no Java.
``python -m armap.envs.scienceworld.catalog`` rebuilds that file (about 10 minutes).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from armap.errors import ArmapError

CATALOG_FILE = "variations.json.gz"
SPLITS = {"train": "train", "seen": "dev", "unseen": "test"}
"""armap's split names and the simulator's: seen = dev variations, unseen = test variations."""
DEFAULT_MAX_STEPS = 100
"""Step limit of a task type missing from `TASK_TYPES` (the simulator's own ``envStepLimit``)."""


@dataclass(frozen=True)
class TaskType:
    """A ScienceWorld task type: its simulator name, the paper's number, its step limit."""

    name: str
    number: str
    max_steps: int


TASK_TYPES: tuple[TaskType, ...] = (
    # Step limits: those of ETO (Song et al., 2024, eval_agent/data/sciworld/max_steps.json),
    # the setting of ARMAP's ScienceWorld numbers, for the 24 task types it covers.
    TaskType("boil", "1-1", 100),
    TaskType("melt", "1-2", 80),
    TaskType("freeze", "1-3", 80),
    TaskType("change-the-state-of-matter-of", "1-4", 80),
    TaskType("use-thermometer", "2-1", 30),
    TaskType("measure-melting-point-known-substance", "2-2", 120),
    # Not in ETO: the limit of its twin task (known substance).
    TaskType("measure-melting-point-unknown-substance", "2-3", 120),
    TaskType("power-component", "3-1", 20),
    TaskType("power-component-renewable-vs-nonrenewable-energy", "3-2", 30),
    TaskType("test-conductivity", "3-3", 30),
    TaskType("test-conductivity-of-unknown-substances", "3-4", 30),
    TaskType("find-living-thing", "4-1", 15),
    TaskType("find-non-living-thing", "4-2", 15),
    TaskType("find-plant", "4-3", 15),
    TaskType("find-animal", "4-4", 15),
    TaskType("grow-plant", "5-1", 30),
    TaskType("grow-fruit", "5-2", 60),
    TaskType("chemistry-mix", "6-1", 60),
    TaskType("chemistry-mix-paint-secondary-color", "6-2", 15),
    TaskType("chemistry-mix-paint-tertiary-color", "6-3", 30),
    TaskType("lifespan-longest-lived", "7-1", 10),
    TaskType("lifespan-shortest-lived", "7-2", 10),
    TaskType("lifespan-longest-lived-then-shortest-lived", "7-3", 12),
    TaskType("identify-life-stages-1", "8-1", 30),
    TaskType("identify-life-stages-2", "8-2", 30),
    # Not in ETO: 1.5 times the median length of the simulator's gold paths on the first five
    # dev variations (60, 53, 180, 148, 148 steps), rounded up to a multiple of ten.
    TaskType("inclined-plane-determine-angle", "9-1", 90),
    TaskType("inclined-plane-friction-named-surfaces", "9-2", 80),
    TaskType("inclined-plane-friction-unnamed-surfaces", "9-3", 270),
    TaskType("mendelian-genetics-known-plant", "10-1", 230),
    TaskType("mendelian-genetics-unknown-plant", "10-2", 230),
)
TASK_TYPE = {t.name: t for t in TASK_TYPES}


class CatalogError(ArmapError):
    """The variations file is missing or does not match the task types."""


@dataclass(frozen=True)
class TaskVariations:
    """One task type's variations: the simulator's split lists and each variation's task
    description."""

    name: str
    topic: str
    title: str
    splits: dict[str, tuple[int, ...]]
    """Simulator split name (train, dev, test) -> its variations, ascending."""
    descriptions: tuple[str, ...]
    """The task description of variation i, for every variation."""


@cache
def load_catalog(path: str | None = None) -> dict[str, TaskVariations]:
    """Task name -> `TaskVariations`, from ``path`` or the file shipped beside this module."""
    source = Path(path) if path else resources.files(__package__) / CATALOG_FILE
    try:
        data = json.loads(gzip.decompress(source.read_bytes()))
    except (OSError, ValueError) as e:
        raise CatalogError(f"cannot read the ScienceWorld variations file {source}: {e}; "
                           "rebuild it with `python -m armap.envs.scienceworld.catalog`") from e
    out = {t["name"]: TaskVariations(t["name"], t["topic"], t["title"],
                                     {k: tuple(v) for k, v in t["splits"].items()},
                                     tuple(t["descriptions"])) for t in data["tasks"]}
    missing = [t.name for t in TASK_TYPES if t.name not in out]
    if missing:
        raise CatalogError(f"{source} lacks the task types {', '.join(missing)}")
    return out


def build_catalog(simulator: Any, *, progress: bool = False) -> dict[str, Any]:
    """Read every task type's variation splits and descriptions from a running `Simulator`."""
    from scienceworld.constants import TASKS
    from scienceworld.version import __version__

    info = {t["task_name"]: t for t in TASKS}
    tasks = []
    for task_type in TASK_TYPES:
        name = task_type.name
        simulator.call("load", name, 0, "", False)
        splits = {s: sorted(int(v) for v in simulator.call(f"getVariations{s.capitalize()}"))
                  for s in ("train", "dev", "test")}
        count = int(simulator.call("getTaskMaxVariations", name))
        descriptions = []
        for variation in range(count):
            simulator.call("load", name, variation, "", False)
            descriptions.append(str(simulator.call("getTaskDescription")).strip())
        tasks.append({"name": name, "topic": info[name]["topic"], "title": info[name]["task"],
                      "splits": splits, "descriptions": descriptions})
        if progress:
            print(f"{name}: {count} variations", file=sys.stderr, flush=True)  # noqa: T201
    return {"scienceworld": __version__, "tasks": tasks}


def main(argv: list[str] | None = None) -> None:
    """Rebuild the variations file from the installed simulator."""
    from armap.envs.scienceworld.process import Simulator, check_dependencies

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", default=str(Path(__file__).with_name(CATALOG_FILE)))
    parser.add_argument("--java", default="java")
    args = parser.parse_args(argv)
    simulator = Simulator(java=check_dependencies(args.java), java_options=["-Xmx1g"])
    try:
        data = build_catalog(simulator, progress=True)
    finally:
        simulator.kill()
    text = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    Path(args.out).write_bytes(gzip.compress(text, mtime=0))


if __name__ == "__main__":
    main()
