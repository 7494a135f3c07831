"""ScienceWorld synthesis: hindsight relabeling by the simulator's own goals, altered negatives.

The explorer wanders (a small LLM or the random policy seldom does what its task asks), so
an explored trajectory is scored again under every goal it may have served, and the
instruction becomes the goal under which it does best. The goals are the simulator's own: in
ScienceWorld the variation index fixes the world (the house, its objects and where they are)
for the task types of one topic, so ``find-animal`` variation 3 and ``find-living-thing``
variation 3 are the same world with different goals, and the same actions replay there with
the same observations. The candidates are the trajectory's own task and its siblings: the
train variations with the same index of the task types of the same topic (the paper's
numbering: 1-x changes of state, 4-x finding things, ...). Each is replayed; one whose
observations differ from the explored ones is another world and is dropped; among the rest the
simulator's progress (its subgoal score) picks the instruction. The relabeled positive is that
replay, kept when its score reaches ``min_positive``. With ``instruction=llm`` the synthesis LLM
words the instruction from the chosen goal and the actions taken; the goal the simulator scores
stays the chosen variation's, so the positive is verified the same way.

Gold action sequences of train variations (the simulator's ``getGoldActionSequence``) are
positives too; those of seen and unseen variations never are (`gold_positive` refuses them).

Negatives alter the positive's actions and are replayed under the same task: ``truncated``
(it stops before the action that last raised the progress), ``dropped_step`` (one action that
raised the progress left out, the rest played), ``swapped_action`` (one such action replaced
by another valid action of that state, the rest played). A pair is kept only when the
simulator's score separates them by ``margin``.

Limits: an instruction can only be one the simulator has, so a trajectory that did something
no task of its world asks for (boiled water in a ``find-animal`` world) is not relabeled; and
progress is partial credit, so a positive may be only part of the way to its goal
(``min_positive``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import random
import time
from collections.abc import Iterator, Sequence

from armap.envs.base import Env
from armap.envs.scienceworld.catalog import TASK_TYPE
from armap.envs.scienceworld.env import ScienceWorldEnv
from armap.errors import EnvProcessError
from armap.llm.base import LLM
from armap.synth.base import SynthContext
from armap.types import Cost, EndReason, Step, Task, Trajectory, Triplet

NEGATIVE_TYPES = ("truncated", "dropped_step", "swapped_action")
INSTRUCTION_PROMPT = """An agent in a science simulation of a house took these actions:
{actions}
They achieve this task: {goal}
Write that task again as one instruction to the agent, starting with "Your task is to". Keep
every object, colour, place and substance the task names. Reply with the instruction only.
Instruction:"""


@dataclasses.dataclass
class Played:
    """A replay and the best progress after each of its steps (``curve[0]``: before any)."""

    trajectory: Trajectory
    curve: list[float]

    @property
    def score(self) -> float:
        return self.trajectory.env_score or 0.0


class ScienceWorldRelabel:
    """``scienceworld.relabel`` (see the module docstring).

    Args:
        instruction: ``template`` (the chosen goal's own task description) or ``llm`` (the
            synthesis LLM words it; the simulator still scores the chosen goal).
        margin: Least score difference between the positive and a negative.
        min_positive: Least score of a positive under its (relabeled) task.
        gold: Also use the gold action sequences of train variations as positives.
    """

    name = "scienceworld-relabel"

    def __init__(self, *, instruction: str = "template", margin: float = 0.1,
                 min_positive: float = 0.5, gold: bool = True) -> None:
        if instruction not in ("template", "llm"):
            raise ValueError(f"instruction must be template or llm, not {instruction!r}")
        if not 0 < margin <= 1 or not 0 < min_positive <= 1:
            raise ValueError("margin and min_positive must be in (0, 1]")
        self.instruction = instruction
        self.margin = margin
        self.min_positive = min_positive
        self.gold = gold
        self.rejected: dict[str, int] = {}

    def triplets(self, ctx: SynthContext) -> Iterator[Triplet]:
        assert ctx.make_env is not None
        llm = ctx.make_llm() if self.instruction == "llm" and ctx.make_llm else None
        rng = random.Random(ctx.config.seed)
        train = [t for t in ctx.tasks if t.split == "train" and t.id not in ctx.reserved]
        explored = [t for t in ctx.explored if t.steps and t.end is not EndReason.ERROR]
        rng.shuffle(explored)
        golds = list(train) if self.gold else []
        rng.shuffle(golds)
        with ctx.make_env() as env:
            assert isinstance(env, ScienceWorldEnv)
            for trajectory, task in itertools.zip_longest(explored, golds):
                try:
                    if trajectory is not None:
                        yield from self._relabeled(env, trajectory, train, rng, llm,
                                                   ctx.config.temperature)
                    if task is not None:
                        yield from self._gold(env, task, ctx.reserved, rng)
                except EnvProcessError as e:  # a broken simulator costs one item, not the run
                    self._reject(f"simulator error: {type(e).__name__}")

    def _relabeled(self, env: Env, explored: Trajectory, train: Sequence[Task],
                   rng: random.Random, llm: LLM | None, temperature: float
                   ) -> Iterator[Triplet]:
        played = [(task, p) for task in siblings(explored.task, train)
                  if (p := play(env, task, explored.actions, expected=explored)) is not None]
        if not played:
            self._reject("relabel: no train goal in the trajectory's world")
            return
        task, best = max(played, key=lambda tp: tp[1].score)
        if best.score < self.min_positive:
            self._reject("relabel: no goal of its world scores it min_positive")
            return
        model = None
        if llm is not None:
            wording = llm_instruction(llm, task, explored.actions, temperature)
            if wording is None:
                self._reject("relabel: the LLM's instruction was unusable")
                return
            digest = hashlib.sha256(wording.encode()).hexdigest()[:8]
            task = dataclasses.replace(task, id=f"{task.id}~relabel-{digest}",
                                       instruction=wording)
            replayed = play(env, task, best.trajectory.actions)
            if replayed is None or replayed.score < self.min_positive:
                self._reject("relabel: the reworded replay falls short")
                return
            best, model = replayed, llm.model
        best.trajectory.meta.update(relabeled_from=explored.task.id, policy=explored.meta.get(
            "policy"))
        source = {"positive": "explorer/relabeled", "instruction": self.instruction,
                  "model": model, "relabeled_from": explored.task.id}
        yield from self._pairs(env, _base_id(task.id), best, rng, source)

    def _gold(self, env: ScienceWorldEnv, task: Task, reserved: set[str], rng: random.Random
              ) -> Iterator[Triplet]:
        positive = gold_positive(env, task, reserved)
        if positive is None or positive.score < self.min_positive:
            self._reject("gold: the gold sequence falls short of min_positive")
            return
        yield from self._pairs(env, task.id, positive, rng,
                               {"positive": "gold", "instruction": "task", "model": None})

    def _pairs(self, env: Env, task_id: str, positive: Played, rng: random.Random,
               source: dict[str, object]) -> Iterator[Triplet]:
        task = positive.trajectory.task
        for kind in NEGATIVE_TYPES:
            actions = altered_actions(env, positive, kind, rng)
            if actions is None:
                self._reject(f"{kind}: no such change for this trajectory")
                continue
            negative = play(env, task, actions, meta={"negative_type": kind})
            if negative is None or positive.score - negative.score < self.margin:
                self._reject(f"{kind}: the score does not separate it from the positive")
                continue
            yield Triplet(task_id, "scienceworld", task.instruction, positive.trajectory,
                          negative.trajectory,
                          {"strategy": self.name, "negative_type": kind,
                           "score_gap": round(positive.score - negative.score, 4), **source})

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def topic(task: Task) -> str:
    """The paper's topic number of the task's type (``4`` for ``find-animal``, 4-4)."""
    task_type = TASK_TYPE.get(str(task.spec.get("task_name")))
    return task_type.number.split("-")[0] if task_type else str(task.spec.get("task_name"))


def siblings(task: Task, train: Sequence[Task]) -> list[Task]:
    """The train tasks that may share ``task``'s world: its own (when it is a train task) and
    those of the same topic with the same variation index, the own one first."""
    variation, own = task.spec.get("variation"), topic(task)
    same = [t for t in train if t.spec.get("variation") == variation and topic(t) == own]
    return sorted(same, key=lambda t: t.id != task.id)


def gold_positive(env: ScienceWorldEnv, task: Task, reserved: set[str]) -> Played | None:
    """The replay of ``task``'s gold action sequence; only for a train task outside
    ``reserved`` (`ValueError` otherwise: evaluation goals never become training data)."""
    if task.split != "train" or task.id in reserved:
        raise ValueError(f"gold actions of {task.id} ({task.split}) may not be training data")
    actions = env.gold_actions(task)
    return play(env, task, actions, meta={"policy": "gold"})


def play(env: Env, task: Task, actions: Sequence[str], *, expected: Trajectory | None = None,
         meta: dict[str, object] | None = None) -> Played | None:
    """Take ``actions`` in ``task`` (until the simulator ends the episode); None when
    ``expected`` is given and an observation differs from its (another world)."""
    started = time.perf_counter()
    first = env.reset(task)
    if expected is not None and first != expected.initial_observation:
        return None
    trajectory = Trajectory(task=task, initial_observation=first,
                            meta={"policy": "replay", **(meta or {})})
    curve = [env.score()]
    done = False
    for i, action in enumerate(actions):
        observation, done = env.step(action)
        if expected is not None and i < len(expected.steps) and \
                observation != expected.steps[i].observation:
            return None
        trajectory.steps.append(Step(action, observation=observation))
        curve.append(env.score())
        if done:
            break
    trajectory.end = EndReason.FINISHED if done else EndReason.STEP_LIMIT
    trajectory.env_score = env.score()
    trajectory.info = env.info()
    trajectory.cost = Cost(env_steps=len(trajectory.steps),
                           seconds=time.perf_counter() - started)
    return Played(trajectory, curve)


def altered_actions(env: Env, positive: Played, kind: str, rng: random.Random
                    ) -> list[str] | None:
    """The positive's actions with one change (see `NEGATIVE_TYPES`), or None if there is
    none to make (no action raised the progress)."""
    actions = positive.trajectory.actions
    raised = [i for i in range(len(actions)) if positive.curve[i + 1] > positive.curve[i]]
    if not raised:
        return None
    if kind == "truncated":
        return actions[:raised[-1]]
    at = rng.choice(raised)
    if kind == "dropped_step":
        return actions[:at] + actions[at + 1:]
    if kind == "swapped_action":
        env.reset(positive.trajectory.task)
        for action in actions[:at]:
            env.step(action)
        others = [a for a in env.valid_actions() or [] if a != actions[at]]
        if not others:
            return None
        return [*actions[:at], rng.choice(others), *actions[at + 1:]]
    raise ValueError(f"unknown negative type {kind!r}; use one of {', '.join(NEGATIVE_TYPES)}")


def llm_instruction(llm: LLM, task: Task, actions: Sequence[str], temperature: float
                    ) -> str | None:
    """The LLM's wording of ``task``'s goal for a trajectory of ``actions``; None when the reply
    is not a usable instruction (one line starting "Your task is to", at most 400 characters,
    no score)."""
    shown = "\n".join(f"> {a}" for a in actions[-30:])
    prompt = INSTRUCTION_PROMPT.format(actions=shown, goal=task.instruction)
    [reply] = llm.generate([{"role": "user", "content": prompt}], n=1,
                           temperature=temperature, max_tokens=96)
    line = next((x.strip() for x in reply.text.splitlines() if x.strip()), "").strip('"')
    if not line.lower().startswith("your task is to") or len(line) > 400 or \
            "score" in line.lower():
        return None
    return line


def _base_id(task_id: str) -> str:
    return task_id.split("~", 1)[0]
