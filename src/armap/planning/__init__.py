"""Planners: Greedy, Sampling, Best-of-N (ARMAP-B), Reflexion (ARMAP-R) and MCTS (ARMAP-M).

Each is one implementation shared by every environment; `planners` maps method names to them.
"""

from __future__ import annotations

from armap.planning.base import Candidate, PlanContext, Planner, PlanResult
from armap.planning.mcts import MCTS, MCTSConfig
from armap.planning.simple import (
    BestOfN,
    Greedy,
    Reflexion,
    ReflexionConfig,
    Sampling,
    SamplingConfig,
)
from armap.registry import Registry

planners: Registry[Planner] = Registry("planner")
planners.register("greedy", Greedy)
planners.register("sampling", Sampling)
planners.register("best_of_n", BestOfN)
planners.register("reflexion", Reflexion)
planners.register("mcts", MCTS)

__all__ = [
    "MCTS",
    "BestOfN",
    "Candidate",
    "Greedy",
    "MCTSConfig",
    "PlanContext",
    "PlanResult",
    "Planner",
    "Reflexion",
    "ReflexionConfig",
    "Sampling",
    "SamplingConfig",
    "planners",
]
