"""Game of 24 as a multi-step text environment (the Tree of Thoughts / ARMAP protocol).

The agent writes one line per step, ``4 + 8 = 12 (left: 6 12 13)``, and finally
``Answer: (13 - 8) * 4 + 4 = 24``. The environment is a notebook, not a teacher: it keeps the
numbers left according to the agent's own claimed results, never corrects arithmetic, and never
says whether an answer is right. Only `score` (the hidden checker) knows.

Rules the environment does enforce, each answered by an error observation and a wasted step:
a line that is neither a step nor an answer, and a step whose operands are not among the
numbers left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from armap.envs.base import Env
from armap.envs.game24 import arith
from armap.types import Task, Trajectory

INSTRUCTION = (
    "Use numbers and basic arithmetic operations (+ - * /) to obtain 24. Each step, you are "
    "only allowed to choose two of the remaining numbers to obtain a new number.\nInput: {numbers}"
)
TEST_SPLIT_ROWS = range(900, 1000)
"""Data rows of the ranked CSV (Tree of Thoughts' 24.csv) that form the standard test split."""
OFFLINE_TEST_SEED = 24
FORMAT_HELP = ("Write one step such as `4 + 8 = 12 (left: 6 12 13)`, or, when one number is "
               "left, `Answer: <expression> = 24`.")


@dataclass(frozen=True)
class _Item:
    value: Fraction
    expr: str


def task_id(numbers: tuple[int, ...]) -> str:
    return "game24-" + "-".join(map(str, sorted(numbers)))


def make_task(numbers: tuple[int, ...], split: str) -> Task:
    text = " ".join(map(str, numbers))
    return Task(task_id(numbers), "game24", INSTRUCTION.format(numbers=text), split,
                {"numbers": list(numbers)})


class Game24Env(Env):
    """Game of 24. Observations show the numbers left; the score is 1 for a correct answer.

    Args:
        puzzles: Path to the ranked puzzle CSV of Tree of Thoughts (``24.csv``). Its data rows
            900-999 are the standard test split and the rest is train. Without it, the 1,362
            solvable puzzles are enumerated in-package and a fixed seeded draw of 100 of them
            is the test split (not the standard one; use the CSV to compare with papers).
        max_steps: Default step budget (3 steps and an answer need 4).
    """

    max_steps = 6

    def __init__(self, *, puzzles: str | Path | None = None, max_steps: int = 6) -> None:
        super().__init__()
        self.puzzles = str(puzzles) if puzzles else None
        self.max_steps = max_steps
        self._items: list[_Item] = []
        self._answer: str | None = None

    # -- tasks ----------------------------------------------------------------------------
    def tasks(self, split: str) -> list[Task]:
        train, test = self._splits()
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")
        chosen = train if split == "train" else test
        return [make_task(p, split) for p in chosen]

    def _splits(self) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        if self.puzzles:
            ranked = arith.load_ranked_puzzles(self.puzzles)
            test = [ranked[i] for i in TEST_SPLIT_ROWS if i < len(ranked)]
            test_set = set(test)
            return [p for p in ranked if p not in test_set], test
        puzzles = list(arith.all_puzzles())
        test = sorted(random.Random(OFFLINE_TEST_SEED).sample(puzzles, 100))
        test_set = set(test)
        return [p for p in puzzles if p not in test_set], test

    # -- episode --------------------------------------------------------------------------
    def _reset(self, task: Task) -> str:
        numbers = [int(x) for x in task.spec["numbers"]]
        self._items = [_Item(Fraction(x), str(x)) for x in numbers]
        self._answer = None
        return self._left_text()

    def _left_text(self) -> str:
        return "Left: " + " ".join(arith.format_number(i.value) for i in self._items)

    def _step(self, action: str) -> tuple[str, bool]:
        line = action.strip()
        if arith.parse_answer(line) is not None:
            self._answer = line
            return "Answer recorded.", True
        parsed = arith.parse_step(line)
        if parsed is None:
            return f"Invalid step: could not read {line[:80]!r}. {FORMAT_HELP}", False
        remaining = list(self._items)
        operands: list[_Item] = []
        for value in (parsed.a, parsed.b):
            match = next((i for i in remaining if i.value == value), None)
            if match is None:
                left = " ".join(arith.format_number(i.value) for i in self._items)
                return (f"Invalid step: {arith.format_number(value)} is not among the numbers "
                        f"left ({left})."), False
            remaining.remove(match)
            operands.append(match)
        expr = f"({operands[0].expr} {parsed.op} {operands[1].expr})"
        self._items = sorted([*remaining, _Item(parsed.result, expr)], key=lambda i: i.value)
        return self._left_text(), False

    def valid_actions(self) -> list[str]:
        if self._done:
            return []
        if len(self._items) == 1:
            expr = self._items[0].expr
            if expr.startswith("(") and expr.endswith(")"):
                expr = expr[1:-1]
            return [f"Answer: {expr} = 24"]
        return [c.line for c in arith.next_steps([i.value for i in self._items])]

    def score(self) -> float:
        if self._answer is None:
            return 0.0
        return 1.0 if arith.check_answer(self._answer, self.task.spec["numbers"]) else 0.0

    def _get_state(self) -> tuple[tuple[_Item, ...], str | None]:
        return tuple(self._items), self._answer

    def _set_state(self, state: tuple[tuple[_Item, ...], str | None]) -> None:
        items, self._answer = state
        self._items = list(items)
        self._done = self._answer is not None

    @staticmethod
    def parse_action(text: str) -> str | None:
        return arith.find_action(text)

    def reserved_task_ids(self) -> set[str]:
        """Both test splits, the standard one of the CSV and the offline seeded draw, so that
        training data made with either never holds a puzzle the other evaluates."""
        ids = {t.id for t in self.tasks("test")}
        if self.puzzles:
            ids |= {t.id for t in Game24Env().tasks("test")}
        return ids

    def find_task(self, ref: str) -> Task | None:
        """By id, or by the puzzle's numbers (``"4 4 8 13"``, any order)."""
        numbers = ref.replace(",", " ").split()
        if numbers and all(n.isdigit() for n in numbers):
            ref = task_id(tuple(int(n) for n in numbers))
        return super().find_task(ref)

    def failure_type(self, trajectory: Trajectory) -> str | None:
        return classify_failure(trajectory)

    @staticmethod
    def step_labels(trajectory: Trajectory) -> list[float | None] | None:
        return step_labels(trajectory)

    def hidden_strings(self, task: Task) -> list[str]:
        """Texts that would reveal the ground truth if they appeared in an observation."""
        return ["correct", "wrong", "success", "solved", *arith.solve(task.spec["numbers"])[:50]]


def step_labels(trajectory: Trajectory) -> list[float | None]:
    """Training labels of each step for a reward model's step head: a step line 1.0 when its
    claimed result is right and 0.0 when not; the answer line always 1.0, so that the head
    learns arithmetic alone and leaves the answer to the ranking loss (a head that also judged
    answers picked worse among real LLM outputs: README, "The reward model on real LLM
    outputs"); anything else None. For training only: a reward model must not run these
    rules when it scores."""
    labels: list[float | None] = []
    for action in trajectory.actions:
        step = arith.parse_step(action)
        if step is not None:
            labels.append(float(step.computed() == step.result))
        elif arith.parse_answer(action) is not None:
            labels.append(1.0)
        else:
            labels.append(None)
    return labels


def classify_failure(trajectory: Trajectory) -> str | None:
    """The error type of a failed Game of 24 trajectory (None if it passes the checker)."""
    numbers = [Fraction(x) for x in trajectory.task.spec["numbers"]]
    answer_lines = [a for a in trajectory.actions if arith.parse_answer(a) is not None]
    if not answer_lines:
        return "broken_format"
    parsed = arith.parse_answer_line(answer_lines[-1])
    assert parsed is not None
    if arith.check_answer(answer_lines[-1], [int(x) for x in numbers]):
        return None
    used, wanted = sorted(parsed.numbers), sorted(numbers)
    if used != wanted:
        if len(used) < len(wanted) and all(used.count(x) <= wanted.count(x) for x in used):
            return "number_left_out"
        if any(x not in wanted for x in used):
            return "number_not_in_puzzle"
        return "number_used_twice"
    for action in trajectory.actions:
        step = arith.parse_step(action)
        if step is not None and step.computed() != step.result:
            return "wrong_arithmetic"
    return "not_24"
