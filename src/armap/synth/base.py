"""The strategy protocol of synthesis, its registry, and the generic explorer pairing.

A strategy makes (instruction, positive, negative) triplets (`armap.types.Triplet`) for one
environment family. It has three parts: where trajectories come from (explorer runs or
generated), how the instruction is refined to match what a trajectory achieved (hindsight
relabeling), and how negatives are made. Strategies are registered as ``<family>.<name>``
(``game24.rules``, ``webshop.relabel``) with lazy entry points; their keyword options come
from ``--strategy-option KEY=VALUE``. Every triplet records its `source`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from armap.registry import Registry
from armap.types import Task, Trajectory, Triplet

if TYPE_CHECKING:
    from armap.envs import Env
    from armap.llm import LLM
    from armap.rundir import RunDir
    from armap.synth import SynthConfig


@dataclass
class SynthContext:
    """What a strategy works from.

    Attributes:
        config: The synthesis config (count, seed, temperature, runner, ...).
        run: The run directory (a strategy may keep resumable records of its own there).
        tasks: The tasks it may use: the config's split, never a reserved (test) task.
        reserved: Ids of tasks that must never appear in training triplets.
        explored: Explorer trajectories (scored, none of a reserved task), if given.
        make_env: Builds a fresh environment of the config's spec (the caller closes it).
        make_llm: Builds the config's LLM (for LLM-based strategies).
    """

    config: SynthConfig
    run: RunDir
    tasks: list[Task]
    reserved: set[str]
    explored: list[Trajectory] = field(default_factory=list)
    make_env: Callable[[], Env] | None = None
    make_llm: Callable[[], LLM] | None = None


class Strategy(Protocol):
    """Makes triplets for one environment family."""

    name: str

    def triplets(self, ctx: SynthContext) -> Iterator[Triplet]:
        """Verified triplets; may be endless (the caller stops at ``config.count``). Unless the
        strategy sets ``pairs_explored = True`` (it pairs ``ctx.explored`` itself), the
        explorer's attempts are paired by `pair_by_score` first."""
        ...


strategies: Registry[Strategy] = Registry("synthesis strategy")
strategies.register("game24.rules", "armap.synth.game24:Game24RulesStrategy")
strategies.register("game24.llm", "armap.synth.game24_llm:Game24LLMStrategy")
strategies.register("webshop.relabel", "armap.synth.webshop:WebShopRelabel")
strategies.register("scienceworld.relabel", "armap.synth.scienceworld:ScienceWorldRelabel")


def pair_by_score(trajectories: Sequence[Trajectory], margin: float, *,
                  strategy: str = "explorer-pairs") -> Iterator[Triplet]:
    """Triplets from attempts at the same task: every pair whose ground-truth scores differ by
    at least ``margin`` (the higher one is the positive; ties and near-ties are dropped).

    Works for any score scale (Game of 24's 0/1, WebShop's reward in [0, 1], ScienceWorld's
    progress). The instruction is the task's own: the attempts share it.
    """
    by_task: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        if t.env_score is not None:
            by_task.setdefault(t.task.id, []).append(t)
    for attempts in by_task.values():
        for a, b in itertools.combinations(attempts, 2):
            assert a.env_score is not None and b.env_score is not None
            if abs(a.env_score - b.env_score) < margin:
                continue
            positive, negative = (a, b) if a.env_score > b.env_score else (b, a)
            yield Triplet(positive.task.id, positive.task.env, positive.task.instruction,
                          positive, negative,
                          {"strategy": strategy, "positive": "explorer",
                           "negative": "explorer", "negative_type": "lower_score",
                           "score_gap": round(positive.env_score - negative.env_score, 4),
                           "model": positive.meta.get("policy")})


def strategy_stats(strategy: Any) -> dict[str, Any]:
    """Counters a strategy keeps (rejections by reason, attempts), for the run summary."""
    out: dict[str, Any] = {}
    rejected = getattr(strategy, "rejected", None)
    if rejected:
        out["rejected"] = dict(rejected)
    attempts = getattr(strategy, "attempts", None)
    if attempts is not None:
        out["attempts"] = attempts
    return out
