"""`rollout`: play one episode of a policy in an environment. Every runner and planner uses it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from armap.envs.base import Env
from armap.policy import Policy
from armap.redact import redact
from armap.types import Cost, EndReason, Step, Task, Trajectory


def replay(env: Env, task: Task, actions: Sequence[str], *,
           meta: dict[str, Any] | None = None) -> Trajectory:
    """The trajectory of taking exactly ``actions`` in ``task`` (no policy involved)."""
    return rollout(env, None, task, max_steps=len(actions), prefix=actions, meta=meta)


def rollout(
    env: Env,
    policy: Policy | None,
    task: Task,
    *,
    max_steps: int | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    prefix: Sequence[str] = (),
    reflections: list[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Trajectory:
    """Reset ``env`` to ``task``, replay ``prefix``, then let ``policy`` act until the env is
    done or ``max_steps`` (default ``env.step_limit(task)``) steps were taken in all. Without a
    policy only the prefix is played.

    At the end the env's ground-truth score goes into ``env_score`` and its episode facts
    (`Env.info`) into ``info``. An exception from the policy or the env ends the episode with
    `EndReason.ERROR` and the error text; the steps taken so far are kept.
    ``KeyboardInterrupt`` propagates.
    """
    limit = env.step_limit(task) if max_steps is None else max_steps
    started = time.perf_counter()
    cost = Cost()
    name = policy.name if policy is not None else "replay"
    trajectory = Trajectory(task=task, meta={"policy": name, "temperature": temperature,
                                             "seed": seed, **(meta or {})})
    done = False
    try:
        trajectory.initial_observation = env.reset(task)
        for action in prefix:
            observation, done = env.step(action)
            cost.env_steps += 1
            trajectory.steps.append(Step(action, observation=observation))
            if done:
                break
        while policy is not None and not done and len(trajectory.steps) < limit:
            step_seed = None if seed is None else seed * 1_000 + len(trajectory.steps)
            proposal = policy.propose(trajectory, n=1, temperature=temperature,
                                      valid_actions=env.valid_actions(), seed=step_seed,
                                      reflections=reflections, cost=cost)[0]
            observation, done = env.step(proposal.action)
            cost.env_steps += 1
            trajectory.steps.append(Step(proposal.action, proposal.thought, observation))
        trajectory.end = EndReason.FINISHED if done else EndReason.STEP_LIMIT
        trajectory.env_score = env.score()
        trajectory.info = env.info()
    except Exception as e:  # recorded, never lost: the runner writes the partial episode
        trajectory.end = EndReason.ERROR
        trajectory.error = redact(f"{type(e).__name__}: {e}")
    cost.seconds = time.perf_counter() - started
    trajectory.cost = cost
    return trajectory
