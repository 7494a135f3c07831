"""ARMAP-M: Monte Carlo tree search over action prefixes, guided by the reward target.

One implementation for every environment: it touches only `Env` (snapshot/restore or replay),
`Policy` (proposals and rollouts) and the reward target.

* A node is an action prefix. Expanding it asks the policy once for ``expansion_width``
  candidate actions (deduplicated) and keeps them on the node, so no prefix is asked twice.
* Each iteration selects a path by UCT on the best (or mean) discounted return below a node,
  adds one untried child, completes it with a policy rollout and scores the complete
  trajectory with the reward target (whose cache answers repeated trajectories for free).
* The budget is the number of complete trajectories. The result is the highest-scoring
  trajectory seen; all of them are returned as candidates, and the search tree (per node: the
  action, visits, best and mean value) goes into the result's meta, where `armap view` shows it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from armap.config import check_choice, opt
from armap.envs.base import Snapshot
from armap.planning.base import Candidate, PlanContext, PlanResult, best_index
from armap.types import Step, Trajectory

QValue = Literal["max", "mean"]


@dataclass
class MCTSConfig:
    """ARMAP-M knobs; defaults follow the paper."""

    exploration_weight: float = opt(6.36, "UCT exploration constant c (on raw reward scores).")
    discount: float = opt(0.9, "Discount gamma applied per step between a node and the end.")
    expansion_width: int = opt(10, "Candidate actions asked of the policy per expansion (k).")
    horizon: int = opt(10, "Deepest tree node, in actions (at most the episode's step "
                       "budget); rollouts finish the episode.")
    expansion_temperature: float = opt(1.0, "Policy temperature when proposing candidates.")
    rollout_temperature: float = opt(0.7, "Policy temperature of the rollouts.")
    q_value: str = opt("max", "Node value used by UCT: max (best return below) or mean.")
    keep_tree: bool = opt(True, "Record the search tree (each node's action, visits and "
                          "values) in the result's meta, for `armap view`.", volatile=True)

    def __post_init__(self) -> None:
        check_choice("q_value", self.q_value, ("max", "mean"))
        if self.expansion_width < 1 or self.horizon < 1:
            raise ValueError("expansion_width and horizon must be at least 1")


@dataclass(eq=False)
class _Node:
    id: int
    step: Step | None  # the action that led here, with its observation
    parent: _Node | None
    depth: int
    done: bool = False
    snapshot: Snapshot | None = None
    untried: list[str] | None = None
    children: list[_Node] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    best: float = -math.inf
    exhausted: bool = False

    @property
    def actions(self) -> tuple[str, ...]:
        out = []
        node: _Node | None = self
        while node is not None and node.step is not None:
            out.append(node.step.action)
            node = node.parent
        return tuple(reversed(out))

    @property
    def steps(self) -> list[Step]:
        out = []
        node: _Node | None = self
        while node is not None and node.step is not None:
            out.append(node.step)
            node = node.parent
        return list(reversed(out))

    def q(self, kind: str) -> float:
        return self.best if kind == "max" else self.value_sum / max(self.visits, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.step.action if self.step else None,
                "visits": self.visits, "best": self.best if self.visits else None,
                "mean": self.value_sum / self.visits if self.visits else None,
                "done": self.done, "children": [c.to_dict() for c in self.children]}


class MCTS:
    """ARMAP-M. See the module docstring for the algorithm."""

    name = "mcts"

    def __init__(self, config: MCTSConfig | None = None) -> None:
        self.config = config or MCTSConfig()

    def solve(self, ctx: PlanContext, budget: int) -> PlanResult:
        search = _Search(ctx, self.config)
        search.run(budget)
        candidates = search.candidates
        meta: dict[str, Any] = {"iterations": search.iterations, "nodes": search.next_id,
                                "proposal_calls": search.proposal_calls,
                                "proposal_hits": search.proposal_hits}
        if self.config.keep_tree:
            meta["tree"] = search.root.to_dict()
        return ctx.result(self.name, candidates, best_index(candidates), budget, **meta)


class _Search:
    def __init__(self, ctx: PlanContext, config: MCTSConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.next_id = 0
        self.iterations = 0
        self.proposal_calls = 0
        self.proposal_hits = 0
        self.candidates: list[Candidate] = []
        step_limit = ctx.max_steps if ctx.max_steps is not None else ctx.env.step_limit(ctx.task)
        self.horizon = min(config.horizon, step_limit)  # deeper nodes could not be completed
        first = ctx.env.reset(ctx.task)
        self.initial_observation = first
        self.root = self._node(None, None, done=False)
        self.root.snapshot = ctx.env.snapshot()

    def _node(self, step: Step | None, parent: _Node | None, *, done: bool) -> _Node:
        node = _Node(self.next_id, step, parent, parent.depth + 1 if parent else 0, done)
        self.next_id += 1
        return node

    # -- the loop -------------------------------------------------------------------------
    def run(self, budget: int) -> None:
        while len(self.candidates) < budget and not self.root.exhausted:
            self.iterations += 1
            path = self._select()
            leaf = path[-1]
            value, length = self._simulate(leaf)
            self._backup(path, value, length)
            if self.iterations > budget * 20:  # safety net: nothing new can be found
                break

    def _select(self) -> list[_Node]:
        node = self.root
        path = [node]
        while not node.done and node.depth < self.horizon:
            if node.untried is None:
                node.untried = self._propose(node)
            if node.untried:
                child = self._expand(node, node.untried.pop(0))
                node.children.append(child)
                path.append(child)
                return path
            live = [c for c in node.children if not c.exhausted]
            if not live:
                node.exhausted = True
                return path
            node = max(live, key=lambda c: self._uct(node, c))
            path.append(node)
        return path

    def _uct(self, parent: _Node, child: _Node) -> float:
        explore = math.sqrt(math.log(max(parent.visits, 1)) / max(child.visits, 1))
        return child.q(self.config.q_value) + self.config.exploration_weight * explore

    def _restore(self, node: _Node) -> None:
        if node.snapshot is not None:
            self.ctx.env.restore(node.snapshot)
        else:
            self.ctx.env.restore(Snapshot(self.ctx.task, node.actions))
            self.ctx.cost.env_steps += len(node.actions)

    def _propose(self, node: _Node) -> list[str]:
        self._restore(node)
        context = Trajectory(self.ctx.task, self.initial_observation, node.steps)
        self.proposal_calls += 1
        steps = self.ctx.policy.propose(
            context, n=self.config.expansion_width,
            temperature=self.config.expansion_temperature,
            valid_actions=self.ctx.env.valid_actions(), seed=self._seed("expand", node),
            cost=self.ctx.cost)
        unique: list[str] = []
        for s in steps:
            if s.action not in unique:
                unique.append(s.action)
        self.proposal_hits += len(steps) - len(unique)
        return unique

    def _expand(self, node: _Node, action: str) -> _Node:
        self._restore(node)
        observation, done = self.ctx.env.step(action)
        self.ctx.cost.env_steps += 1
        child = self._node(Step(action, observation=observation), node, done=done)
        snapshot = self.ctx.env.snapshot()
        child.snapshot = snapshot if snapshot.state is not None else None
        return child

    def _simulate(self, leaf: _Node) -> tuple[float, int]:
        if leaf.exhausted:  # a dead end (no proposals): nothing new to complete
            return leaf.best if leaf.visits else 0.0, leaf.depth
        trajectory = self.ctx.rollout(temperature=self.config.rollout_temperature,
                                      seed=self._seed("rollout", leaf), prefix=leaf.actions,
                                      meta={"iteration": self.iterations})
        [candidate] = self.ctx.candidates([trajectory])
        self.candidates.append(candidate)
        if leaf.done or leaf.depth >= self.horizon:
            leaf.exhausted = True  # a finished prefix has only this one completion
        return candidate.score, len(trajectory.steps)

    def _backup(self, path: list[_Node], value: float, length: int) -> None:
        for node in reversed(path):
            discounted = value * self.config.discount ** max(length - node.depth, 0)
            node.visits += 1
            node.value_sum += discounted
            node.best = max(node.best, discounted)
            if node.untried == [] and node.children and all(c.exhausted for c in node.children):
                node.exhausted = True

    def _seed(self, kind: str, node: _Node) -> int:
        key = f"{self.ctx.seed}/{kind}/{node.id}/{self.iterations}/{'|'.join(node.actions)}"
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")
