"""`check_env`: the conformance checks every registered environment must pass."""

from __future__ import annotations

import random

from armap.envs.base import Env, Snapshot
from armap.types import Task

INVALID_ACTION = "@@ not an action @@"


def check_env(env: Env, task: Task, *, episodes: int = 5, seed: int = 0) -> None:
    """Raise `AssertionError` with a reason if ``env`` breaks the `Env` contract on ``task``.

    Checks: reset is deterministic; an invalid action yields an error observation without
    ending the episode; random episodes over `valid_actions` never show a hidden string
    (`hidden_strings`, when the env defines it) in an observation; snapshot/restore reaches the
    same state as replaying the actions.
    """
    first = env.reset(task)
    if env.reset(task) != first:
        raise AssertionError("reset(task) is not deterministic")
    if not isinstance(first, str) or not first:
        raise AssertionError("reset must return a non-empty observation string")

    observation, done = env.step(INVALID_ACTION)
    if done or not observation:
        raise AssertionError("an invalid action must give an error observation, not end the "
                             "episode")

    hidden = [h.lower() for h in getattr(env, "hidden_strings", lambda t: [])(task)]
    rng = random.Random(seed)
    for _ in range(episodes):
        observations = [env.reset(task)]
        snapshot, snapshot_actions = None, []
        while not env.done and len(env.actions) < env.step_limit(task):
            actions = env.valid_actions()
            if not actions:
                break
            if snapshot is None and rng.random() < 0.5:
                snapshot, snapshot_actions = env.snapshot(), env.actions
            observation, _ = env.step(rng.choice(actions))
            observations.append(observation)
        for obs in observations:
            leaked = [h for h in hidden if h and h in obs.lower()]
            if leaked:
                raise AssertionError(f"observation {obs!r} reveals hidden text {leaked[0]!r}")
        if snapshot is not None:
            env.restore(snapshot)
            restored = (env.actions, env.valid_actions())
            env.restore(Snapshot(task, tuple(snapshot_actions)))
            if restored != (env.actions, env.valid_actions()):
                raise AssertionError("restore(snapshot) differs from replaying the actions")
