"""Greedy, Sampling, Best-of-N (ARMAP-B) and Reflexion (ARMAP-R)."""

from __future__ import annotations

from dataclasses import dataclass

from armap.config import opt
from armap.planning.base import PlanContext, PlanResult, best_index


@dataclass
class SamplingConfig:
    """Sampling and Best-of-N draw the same N episodes."""

    temperature: float = opt(0.7, "Sampling temperature of the N episodes.")


class Greedy:
    """One episode at temperature 0."""

    name = "greedy"

    def solve(self, ctx: PlanContext, budget: int = 1) -> PlanResult:
        t = ctx.rollout(temperature=0.0, seed=ctx.seed)
        return ctx.result(self.name, ctx.candidates([t]), 0, 1)


class Sampling:
    """N sampled episodes; the reported score is their mean ground truth (the chosen one is
    the first). Best-of-N reads the same candidates, see `BestOfN`."""

    name = "sampling"

    def __init__(self, config: SamplingConfig | None = None) -> None:
        self.config = config or SamplingConfig()

    def solve(self, ctx: PlanContext, budget: int) -> PlanResult:
        trajectories = [ctx.rollout(temperature=self.config.temperature, seed=ctx.seed + i,
                                    meta={"sample": i}) for i in range(budget)]
        return ctx.result(self.name, ctx.candidates(trajectories), 0, budget)


class BestOfN(Sampling):
    """ARMAP-B: N sampled episodes, keep the one the reward target scores highest."""

    name = "best_of_n"

    def solve(self, ctx: PlanContext, budget: int) -> PlanResult:
        result = super().solve(ctx, budget)
        result.planner = self.name
        result.chosen = best_index(result.candidates)
        return result


@dataclass
class ReflexionConfig:
    """ARMAP-R settings."""

    threshold: float | None = opt(
        None, "Reward below which the policy reflects and tries again (default: the reward "
        "model's own threshold, the score that best separated held-out positives from negatives "
        "in its training; 1 for the oracle; 0 for a model without one).")
    retry_temperature: float = opt(0.7, "Temperature of the attempts after the first "
                                   "(the first is greedy).")


class Reflexion:
    """ARMAP-R: a greedy attempt; while its reward is under the threshold, the LLM writes a
    reflection that goes into the next attempt's prompt; return the best attempt."""

    name = "reflexion"

    def __init__(self, config: ReflexionConfig | None = None) -> None:
        self.config = config or ReflexionConfig()

    def solve(self, ctx: PlanContext, budget: int) -> PlanResult:
        reflections: list[str] = []
        candidates = []
        threshold = self.threshold(ctx)
        for attempt in range(budget):
            temperature = 0.0 if attempt == 0 else self.config.retry_temperature
            t = ctx.rollout(temperature=temperature, seed=ctx.seed + attempt,
                            reflections=list(reflections) or None,
                            meta={"attempt": attempt, "reflections": list(reflections)})
            [candidate] = ctx.candidates([t])
            candidates.append(candidate)
            if candidate.score >= threshold or attempt == budget - 1:
                break
            reflect = getattr(ctx.policy, "reflect", None)
            if reflect is not None:
                reflections.append(reflect(t, candidate.score, cost=ctx.cost))
        return ctx.result(self.name, candidates, best_index(candidates), budget,
                          attempts=len(candidates), reflections=reflections,
                          threshold=threshold)

    def threshold(self, ctx: PlanContext) -> float:
        """The configured threshold, else the reward model's own, else 0."""
        if self.config.threshold is not None:
            return self.config.threshold
        own = getattr(ctx.target.reward, "threshold", None)
        return float(own) if own is not None else 0.0
