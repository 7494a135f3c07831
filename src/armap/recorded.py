"""Recorded LLM outputs as trajectories (`armap import`).

A user who logged an LLM's raw outputs (an API model's samples, another project's logs) turns
them into trajectories without running the model again: each output's lines are parsed into
actions by the environment's own parser, as a live policy's replies are, and played in the
environment, so the trajectories carry real observations and a ground-truth ``env_score``.
Lines that hold no action ("Steps:", prose) are kept in the trajectory's ``meta["unparsed"]``;
a record that cannot be read (not JSON, no text, an unknown task) is reported and skipped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from armap.config import opt
from armap.envs.base import Env
from armap.envs.spec import EnvConfig
from armap.episode import replay
from armap.errors import ConfigError, MissingFileError
from armap.explore import (
    TRAJECTORIES,
    episode_key,
    latest_trajectories,
    summarize_trajectories,
)
from armap.rundir import RunDir
from armap.runner import ThreadExecutor, run_episodes
from armap.types import Task, Trajectory

log = logging.getLogger(__name__)
TASK_FIELDS = ("task_id", "task", "puzzle")
"""What ``--task-field auto`` looks for, in this order."""
SHOWN_PROBLEMS = 20


@dataclass
class ImportConfig:
    """What `armap import` reads."""

    env: EnvConfig = field(default_factory=EnvConfig)
    input: str = opt("outputs.jsonl", "JSON Lines of recorded outputs, one a line: a task field "
                     "and a text field; other fields (model, sample, ...) are kept in each "
                     "trajectory's meta.", input=True)
    task_field: str = opt("auto", "Field naming the task: its id, or what the environment "
                          "accepts (Game of 24: the puzzle, \"4 4 8 13\"); auto: the first of "
                          f"{', '.join(TASK_FIELDS)} that a record has.")
    text_field: str = opt("text", "Field holding the raw output text.")

    def __post_init__(self) -> None:
        if self.env.split is not None:
            raise ConfigError("--split does not apply to import: the tasks come from the file")


@dataclass(frozen=True)
class _Output:
    """One recorded output, ready to play."""

    key: str
    task: Task
    text: str
    record: dict[str, Any]


def read_outputs(config: ImportConfig, env: Env) -> tuple[list[_Output], list[dict[str, Any]]]:
    """The playable outputs of ``config.input`` (the first ``limit`` tasks' when a limit is
    set), and one problem entry (line and reason) for each record that is not."""
    path = Path(config.input)
    if not path.is_file():
        raise MissingFileError(f"--input {path} does not exist")
    outputs: list[_Output] = []
    problems: list[dict[str, Any]] = []
    tasks_seen: dict[str, None] = {}
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                output = _parse(raw, lineno, config, env, path.name)
            except ValueError as e:
                problems.append({"line": lineno, "problem": str(e)})
                continue
            if config.env.limit is not None and output.task.id not in tasks_seen \
                    and len(tasks_seen) >= config.env.limit:
                continue
            tasks_seen[output.task.id] = None
            outputs.append(output)
    return outputs, problems


def _parse(raw: bytes, lineno: int, config: ImportConfig, env: Env, source: str) -> _Output:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not a JSON record ({e})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    name = config.task_field
    if name == "auto":
        name = next((f for f in TASK_FIELDS if f in record), TASK_FIELDS[0])
    ref, text = record.get(name), record.get(config.text_field)
    if ref is None:
        raise ValueError(f"no task field {name!r} (--task-field)")
    if not isinstance(text, str):
        raise ValueError(f"no text field {config.text_field!r} (--text-field)")
    task = env.find_task(str(ref))
    if task is None:
        raise ValueError(f"{ref!r} is not a task of {config.env.id}")
    extra = {k: v for k, v in record.items() if k != config.text_field}
    return _Output(f"{source}:{lineno}", task, text, extra)


def play(env: Env, output: _Output, max_steps: int | None) -> dict[str, Any]:
    """The trajectory record of one output: its action lines played in order, up to the end
    of the episode (an answer, a purchase) or ``max_steps`` actions when set."""
    actions: list[str] = []
    unparsed: list[str] = []
    for line in filter(str.strip, output.text.splitlines()):
        action = env.parse_action(line)
        if action is None:
            unparsed.append(line)
        else:
            actions.append(action)
    played = actions if max_steps is None else actions[:max_steps]
    trajectory = replay(env, output.task, played, meta={
        "episode": output.key, "policy": "recorded", "recorded": output.record,
        "unparsed": unparsed})
    trajectory.meta["unplayed"] = actions[len(trajectory.steps):]
    return trajectory.to_dict()


def import_outputs(config: ImportConfig, run_dir: str | Path) -> dict[str, Any]:
    """Import (or resume importing) ``config.input`` into ``run_dir/trajectories.jsonl``."""
    run = RunDir(run_dir)
    started = time.perf_counter()
    with run.running("import", config) as summary:
        summary["env"] = config.env.spec()
        with config.env.make() as env:
            outputs, problems = read_outputs(config, env)
            if not outputs:
                raise ConfigError(f"{config.input}: no record could be imported"
                                  + (f" (line {problems[0]['line']}: {problems[0]['problem']})"
                                     if problems else " (the file is empty)"))
            for p in problems[:SHOWN_PROBLEMS]:
                log.warning("%s:%d skipped: %s", config.input, p["line"], p["problem"])
            skipped, ran = run_episodes(
                outputs, lambda o: play(env, o, config.env.max_steps), run.file(TRAJECTORIES),
                key=episode_key, executor=ThreadExecutor(1), desc="import")
        trajectories = latest_trajectories(run.file(TRAJECTORIES))
        summary.update(summarize_trajectories(trajectories), skipped=skipped, ran=ran,
                       unreadable_records=len(problems), problems=problems[:SHOWN_PROBLEMS],
                       seconds=round(time.perf_counter() - started, 2))
        labels = _label_agreement(trajectories)
        if labels:
            summary["recorded_labels"] = labels
    return summary


def _label_agreement(trajectories: list[Trajectory]) -> dict[str, Any] | None:
    """When records carry a recorded verdict (``correct`` 0/1), how often the env agrees."""
    pairs = [(t.meta["recorded"]["correct"], t.env_score)
             for t in trajectories
             if isinstance(t.meta.get("recorded", {}).get("correct"), int | float | bool)]
    if not pairs:
        return None
    agree = sum(bool(c) == ((s or 0.0) >= 1.0) for c, s in pairs)
    return {"field": "correct", "records": len(pairs), "agree": agree}
