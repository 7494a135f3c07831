"""Reward-model data for Game of 24: verified positives and a catalogue of realistic negatives.

For Game of 24 the puzzle is the instruction, so hindsight relabeling is the identity. Every
trajectory is produced by replaying its action lines through `Game24Env` (the one place that
formats observations), and every triplet is verified: the positive passes the hidden checker,
the negative fails it, and `classify_failure` confirms the negative has the intended error type.

Two shapes of trajectory are made, for positives and negatives alike, so that shape is no clue:
``steps`` (three step lines, then the answer) and ``answer`` (the answer line alone). A third,
``step_slip`` pairs (`Game24Rules.step_pair`), are short minimal pairs for arithmetic: the same
one to three step lines, the last one claiming its true result in the positive and a wrong one
in the negative.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from armap.envs.game24 import arith
from armap.envs.game24.env import Game24Env, classify_failure, make_task
from armap.episode import replay
from armap.synth.base import SynthContext
from armap.types import Task, Trajectory, Triplet

NEGATIVE_TYPES: tuple[str, ...] = (
    "wrong_arithmetic",
    "answer_mismatch",
    "number_used_twice",
    "number_left_out",
    "number_not_in_puzzle",
    "not_24",
    "broken_format",
)
"""The error catalogue: each names a way a real agent's Game of 24 attempt goes wrong."""

TYPE_WEIGHTS: dict[str, float] = {"wrong_arithmetic": 6.0, "answer_mismatch": 3.0}
"""How often each type is tried first for a puzzle (1 when absent). The two mistakes real LLMs
make most (a slip that still claims the number it wanted, above all a last step that claims
24; an answer that does not follow its own correct steps) are the hardest to see, so they get
the larger shares: about 42% and 22% of the triplets (README, "The reward model on real LLM
outputs")."""

EARLY_SLIP_SHARE = 1 / 3
"""Share of wrong-arithmetic negatives whose slip is a step before the last (the rest: the last
step claims 24)."""

WRONG_OPERATOR_SHARE = 0.0
"""Share of last-step slips made on the positive's own last pair with another operator
(``12 * 12 = 24`` where ``12 + 12`` makes it); the rest use a pair that cannot make 24."""
STEPS_ONLY = frozenset({"wrong_arithmetic", "answer_mismatch"})
"""Types that need the step lines: an answer alone shows no arithmetic and no steps to follow."""
STEP_SLIP = "step_slip"
"""The negative type of a step pair (`Game24Rules.step_pair`); not part of the catalogue."""
ANSWER_FAILURES = frozenset({"number_used_twice", "number_left_out", "number_not_in_puzzle",
                             "not_24"})
"""How the checker's classifier sees an answer_mismatch negative (its steps are all right)."""


def check_type_weights(weights: dict[str, float]) -> dict[str, float]:
    """``weights`` if each names a catalogue type and is above 0, else a ValueError."""
    for kind, weight in weights.items():
        if kind not in NEGATIVE_TYPES:
            raise ValueError(f"{kind!r} is not a negative type: {', '.join(NEGATIVE_TYPES)}")
        if not weight > 0:
            raise ValueError(f"{kind}_weight must be above 0, not {weight}")
    return weights


def check_shares(**shares: float) -> None:
    """A ValueError naming the first share outside [0, 1]."""
    for key, value in shares.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{key} must be in [0, 1], not {value}")


@dataclass(frozen=True)
class Op:
    """One step as claimed: ``a op b = result`` (``result`` may be wrong)."""

    a: Fraction
    op: str
    b: Fraction
    result: Fraction


@dataclass(frozen=True)
class Style:
    """How an agent writes: larger operand first in ``+`` and ``*`` (``8 * 3`` rather than
    ``3 * 8``), and answers with only the brackets that precedence needs
    (``(10 * 3) - 5 - 1`` rather than ``((10 * 3) - 5) - 1``). Both trajectories of a triplet
    share one style, so the way of writing is no clue to which is right."""

    swap: bool = False
    minimal: bool = False

    @classmethod
    def draw(cls, rng: random.Random) -> Style:
        return cls(swap=rng.random() < 0.5, minimal=rng.random() < 0.5)


CANONICAL = Style()


def render(numbers: Sequence[Fraction | int], ops: Sequence[Op],
           style: Style = CANONICAL) -> tuple[list[str], str]:
    """Step lines for ``ops`` starting from ``numbers`` (left lists follow the claims), and the
    answer expression an agent would write from them (operands' expressions composed)."""
    values = [Fraction(x) for x in numbers]
    lines = []
    for o in ops:
        for v in (o.a, o.b):
            if v in values:
                values.remove(v)
        values.append(o.result)
        a, b = (o.b, o.a) if style.swap and o.op in "+*" else (o.a, o.b)
        lines.append(arith.format_step(a, o.op, b, o.result, sorted(values)))
    return lines, format_expression(expression_tree(numbers, ops), style)


@lru_cache(maxsize=200_000)
def _reaches_24(values: tuple[Fraction, ...]) -> bool:
    if len(values) == 1:
        return values[0] == arith.TARGET
    return any(_reaches_24(c.left) for c in arith.next_steps(values))


def paths_to_24(values: Sequence[Fraction], limit: int = 50,
                rng: random.Random | None = None) -> list[list[Op]]:
    """Correct step sequences from ``values`` to the single number 24 (at most ``limit``),
    explored in random order when ``rng`` is given."""
    out: list[list[Op]] = []

    def search(nums: tuple[Fraction, ...], path: list[Op]) -> None:
        if len(out) >= limit or not _reaches_24(nums):
            return
        if len(nums) == 1:
            out.append(list(path))
            return
        candidates = arith.next_steps(nums)
        if rng is not None:
            rng.shuffle(candidates)
        for c in candidates:
            path.append(Op(c.a, c.op, c.b, c.result))
            search(c.left, path)
            path.pop()

    search(tuple(sorted(Fraction(v) for v in values)), [])
    return out


class Game24Rules:
    """Rule-based, verified triplets for the puzzles of one split.

    Args:
        tasks: The puzzles to use (never a test split when making training data).
        seed: Makes the stream of triplets reproducible.
        answer_only_share: Share of triplets in the ``answer`` shape (the rest: ``steps``).
        step_pair_share: Share of triplets that are short step pairs (`step_pair`) instead
            of a catalogue triplet.
        type_weights: Weights of the negative types (`TYPE_WEIGHTS` for those not given).
        early_slip_share: Share of wrong-arithmetic negatives that slip before the last step.
        wrong_operator_share: Share of last-step slips that apply another operator to the
            positive's own last pair.
    """

    name = "game24-rules"

    def __init__(self, tasks: Sequence[Task], *, seed: int = 0,
                 answer_only_share: float = 0.3, step_pair_share: float = 0.0,
                 type_weights: dict[str, float] | None = None,
                 early_slip_share: float = EARLY_SLIP_SHARE,
                 wrong_operator_share: float = WRONG_OPERATOR_SHARE) -> None:
        if not tasks:
            raise ValueError("no tasks to synthesize from")
        check_shares(answer_only_share=answer_only_share, step_pair_share=step_pair_share,
                     early_slip_share=early_slip_share, wrong_operator_share=wrong_operator_share)
        self.early_slip_share = early_slip_share
        self.wrong_operator_share = wrong_operator_share
        self.tasks = list(tasks)
        self.rng = random.Random(seed)
        self.answer_only_share = answer_only_share
        self.step_pair_share = step_pair_share
        self.type_weights = check_type_weights({**TYPE_WEIGHTS, **(type_weights or {})})
        self.env = Game24Env()
        self.rejected: dict[str, int] = {}
        self.style = CANONICAL

    def triplets(self) -> Iterator[Triplet]:
        """An endless, verified stream: tasks in shuffled rounds; per task, a step pair
        (share ``step_pair_share``) or a catalogue triplet, its negative type drawn in a random
        order by `TYPE_WEIGHTS` (the first one possible is used)."""
        while True:
            order = list(self.tasks)
            self.rng.shuffle(order)
            for task in order:
                if self.step_pair_share and self.rng.random() < self.step_pair_share:
                    pair = self.step_pair(task)
                    if pair is not None:
                        yield pair
                        continue
                for kind in self._kind_order():
                    triplet = self.make(task, kind)
                    if triplet is not None:
                        yield triplet
                        break

    def _kind_order(self) -> list[str]:
        """Negative types in a random order, heavier types earlier more often (weighted
        sampling without replacement: sort by ``u ** (1 / weight)``)."""
        keys = {k: self.rng.random() ** (1.0 / self.type_weights.get(k, 1.0))
                for k in NEGATIVE_TYPES}
        return sorted(NEGATIVE_TYPES, key=lambda k: -keys[k])

    def make(self, task: Task, kind: str) -> Triplet | None:
        """One triplet for ``task`` with a negative of type ``kind`` (None if not possible)."""
        numbers = [int(x) for x in task.spec["numbers"]]
        solutions = paths_to_24([Fraction(x) for x in numbers], limit=1, rng=self.rng)
        if not solutions:
            return self._reject("unsolvable puzzle")
        shape = "answer" if self.rng.random() < self.answer_only_share else "steps"
        if kind in STEPS_ONLY:
            shape = "steps"
        good_ops = solutions[0]
        self.style = Style.draw(self.rng)
        negative = getattr(self, f"_neg_{kind}")(numbers, good_ops, shape)
        if negative is None:
            return self._reject(f"{kind}: no such mutation for this puzzle")
        positive = self._trajectory(task, numbers, good_ops, shape)
        bad = self._trajectory(task, numbers, *negative) if isinstance(negative, tuple) else \
            replay(self.env, task, negative)
        if positive.env_score != 1.0:
            return self._reject("positive failed the checker")
        if bad.env_score != 0.0:
            return self._reject(f"{kind}: negative passed the checker")
        seen_as = classify_failure(bad)
        if seen_as != kind and not (kind == "answer_mismatch" and seen_as in ANSWER_FAILURES):
            return self._reject(f"{kind}: negative classified as {seen_as}")
        source = {"strategy": self.name, "positive": f"solver/{shape}", "negative_type": kind,
                  "shape": shape, "model": None}
        if kind == "wrong_arithmetic":
            source["slip"] = slip_position(bad)
        return Triplet(task.id, "game24", task.instruction, positive, bad, source)

    def step_pair(self, task: Task) -> Triplet | None:
        """A short minimal pair for arithmetic: zero to two correct steps (whole numbers when
        possible), then one step whose
        claimed result is right (positive) or wrong (negative: off by a little, another
        operator's result, or, as the last step, 24). No answer line: neither trajectory is
        solved, the pair teaches only that a wrong claim is worse (a fraction of the tokens of
        a full triplet)."""
        numbers = [int(x) for x in task.spec["numbers"]]
        values = [Fraction(x) for x in numbers]
        self.style = Style.draw(self.rng)
        at = self.rng.randrange(len(values) - 1)
        prefix: list[Op] = []
        left = list(values)
        for _ in range(at + 1):
            candidates = arith.next_steps(left)
            plain = [o for o in candidates if o.result >= 0 and o.result.denominator == 1]
            c = self.rng.choice(plain or candidates)  # whole numbers, as agents mostly write
            prefix.append(Op(c.a, c.op, c.b, c.result))
            left = list(c.left)
        prefix.pop()
        last = at == len(values) - 2
        if last and c.result != arith.TARGET and self.rng.random() < 0.5:
            wrong = arith.TARGET
        else:
            others = {o.result for o in candidates if {o.a, o.b} == {c.a, c.b}}
            claims = [c.result + d for d in (-2, -1, 1, 2, 3)] + sorted(others)
            claims = [x for x in claims if x != c.result and x >= 0]
            wrong = self.rng.choice(claims)
        good, _ = render(numbers, [*prefix, Op(c.a, c.op, c.b, c.result)], self.style)
        bad, _ = render(numbers, [*prefix, Op(c.a, c.op, c.b, wrong)], self.style)
        positive, negative = replay(self.env, task, good), replay(self.env, task, bad)
        if _slips(positive) != 0 or _slips(negative) != 1:
            return self._reject("step_slip: the steps do not read back as intended")
        source = {"strategy": self.name, "positive": "solver/step", "negative_type": STEP_SLIP,
                  "shape": "step", "model": None}
        return Triplet(task.id, "game24", task.instruction, positive, negative, source)

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return None

    def _trajectory(self, task: Task, numbers: Sequence[int], ops: Sequence[Op], shape: str,
                    answer: str | None = None) -> Trajectory:
        lines, expr = render(numbers, ops, self.style)
        final = answer or f"Answer: {expr} = 24"
        actions = [final] if shape == "answer" else [*lines, final]
        return replay(self.env, task, actions)

    # -- the catalogue: each returns (ops, shape[, answer]) or a list of actions, or None ----
    def _neg_wrong_arithmetic(self, numbers, good_ops, shape):  # type: ignore[no-untyped-def]
        """A step's claimed result is wrong and is the number the agent wanted: most often the
        last step claims 24 from two numbers that do not make it (``6 * 8 = 24``); otherwise an
        earlier step claims a value (off by a little, or another operator's result) from which
        correct steps then 'reach' 24."""
        values = [Fraction(x) for x in numbers]
        if self.rng.random() < 1 - self.early_slip_share:
            if self.wrong_operator_share and self.rng.random() < self.wrong_operator_share:
                *prefix, last = good_ops
                others = [c for c in arith.next_steps([last.a, last.b])
                          if c.result != arith.TARGET]
                c = self.rng.choice(others)
                return [*prefix, Op(c.a, c.op, c.b, arith.TARGET)], shape
            for _ in range(30):
                prefix, left = self._random_steps(values, len(values) - 2)
                finals = arith.next_steps(left)
                if any(c.result == arith.TARGET for c in finals):
                    continue
                near = min(finals, key=lambda c: abs(c.result - arith.TARGET))
                c = near if self.rng.random() < 0.5 else self.rng.choice(finals)
                return [*prefix, Op(c.a, c.op, c.b, arith.TARGET)], shape
            return None
        at = self.rng.randrange(len(values) - 2)  # a step before the last
        prefix, left = self._random_steps(values, at)
        firsts = arith.next_steps(left)
        self.rng.shuffle(firsts)
        for c in firsts[:12]:
            others = {o.result for o in firsts if {o.a, o.b} == {c.a, c.b}}
            claims = [c.result + d for d in (-2, -1, 1, 2, 3)] + sorted(others)
            self.rng.shuffle(claims)
            for wrong in claims:
                if wrong == c.result or wrong < 0:
                    continue
                tails = paths_to_24(_replace(c.left, c.result, wrong), limit=1, rng=self.rng)
                if tails:
                    return [*prefix, Op(c.a, c.op, c.b, wrong), *self.rng.choice(tails)], shape
        return None

    def _random_steps(self, values: Sequence[Fraction], count: int
                      ) -> tuple[list[Op], list[Fraction]]:
        """``count`` correct steps chosen at random, and the numbers left after them."""
        ops: list[Op] = []
        left = list(values)
        for _ in range(count):
            c = self.rng.choice(arith.next_steps(left))
            ops.append(Op(c.a, c.op, c.b, c.result))
            left = list(c.left)
        return ops, left

    def _neg_answer_mismatch(self, numbers, good_ops, shape):  # type: ignore[no-untyped-def]
        """Correct steps that reach 24, then an answer that does not follow them: a
        sub-expression written by its value, repeated, dropped, regrouped or given another
        operator (the answer's numbers or value no longer match the puzzle)."""
        lines, _ = render(numbers, good_ops, self.style)
        tree = expression_tree(numbers, good_ops)
        for _ in range(20):
            wrong = mutate_expression(tree, self.rng)
            if wrong is None:
                continue
            answer = f"Answer: {format_expression(wrong, self.style)} = 24"
            if arith.parse_answer(answer) is not None and not arith.check_answer(answer,
                                                                                  numbers):
                return [*lines, answer]
        return None

    def _neg_number_used_twice(self, numbers, good_ops, shape):  # type: ignore[no-untyped-def]
        return self._swap_number(numbers, shape, inside=True)

    def _neg_number_not_in_puzzle(self, numbers, good_ops, shape):  # type: ignore[no-untyped-def]
        return self._swap_number(numbers, shape, inside=False)

    def _swap_number(self, numbers, shape, *, inside):  # type: ignore[no-untyped-def]
        """Solve a puzzle with one number replaced: by another of the puzzle's (used twice)
        or by a number outside it; the agent answers with that solution."""
        options = []
        for i, x in enumerate(numbers):
            pool = [y for y in set(numbers) if y != x] if inside else \
                [y for y in range(1, 14) if y not in numbers]
            options += [(i, y) for y in pool]
        self.rng.shuffle(options)
        for i, y in options[:20]:
            changed = [*numbers[:i], y, *numbers[i + 1:]]
            paths = paths_to_24([Fraction(v) for v in changed], limit=1, rng=self.rng)
            if paths:
                ops = self.rng.choice(paths)
                lines, expr = render(changed, ops, self.style)
                answer = f"Answer: {expr} = 24"
                return [answer] if shape == "answer" else [*lines, answer]
        return None

    def _neg_number_left_out(self, numbers, good_ops, shape):  # type: ignore[no-untyped-def]
        """Three (or two) of the numbers make 24 and the agent answers without the rest; half the
        time its "left" lists already dropped the number (bookkeeping)."""
        subsets = [[v for j, v in enumerate(numbers) if j != i] for i in range(len(numbers))]
        subsets += [[numbers[i], numbers[j]] for i in range(4) for j in range(i + 1, 4)]
        self.rng.shuffle(subsets)
        for subset in subsets:
            paths = paths_to_24([Fraction(v) for v in subset], limit=1, rng=self.rng)
            if paths:
                ops = self.rng.choice(paths)
                # half the time the step lines' "left" lists lose the number too (bookkeeping)
                lines, _ = render(subset if self.rng.random() < 0.5 else numbers, ops,
                                  self.style)
                _, sub_expr = render(subset, ops, self.style)
                answer = f"Answer: {sub_expr} = 24"
                return [answer] if shape == "answer" else [*lines, answer]
        return None

    def _neg_not_24(self, numbers, good_ops, shape):  # type: ignore[no-untyped-def]
        """Correct arithmetic along a path that does not end at 24, answered as if it did."""
        for _ in range(20):
            values = [Fraction(x) for x in numbers]
            ops = []
            while len(values) > 1:
                c = self.rng.choice(arith.next_steps(values))
                ops.append(Op(c.a, c.op, c.b, c.result))
                values = list(c.left)
            if values[0] != arith.TARGET:
                return ops, shape
        return None

    def _neg_broken_format(self, numbers, good_ops, shape):  # type: ignore[no-untyped-def]
        """The right idea written so that it cannot be read: a torn expression or step."""
        lines, expr = render(numbers, good_ops, self.style)
        breakers = [
            lambda e: e.replace(")", "", 1) if ")" in e else e + ")",  # unbalanced brackets
            lambda e: e.replace(" * ", " ", 1) if " * " in e else e.replace(" + ", " ", 1),
            lambda e: e.replace("(", "[", 1) + "]]" if "(" in e else "(" + e,
        ]
        broken = self.rng.choice(breakers)(expr)
        answer = f"Answer: {broken} = 24"
        if arith.parse_answer(answer) is not None:
            return None
        if shape == "answer":
            return [answer]
        i = self.rng.randrange(len(lines))
        garbled = lines[i].replace(" = ", " ", 1)
        return [*lines[:i], garbled, *lines[i + 1:], answer]


class Game24RulesStrategy:
    """``game24.rules``: the explorer's episodes paired with solver positives, then the
    verified rule catalogue (`Game24Rules`) until the count is reached.

    Args:
        answer_only_share: Share of triplets whose trajectories are a single answer line
            rather than steps and an answer.
        step_pair_share: Share of the catalogue's triplets replaced by short step pairs
            (negative type ``step_slip``: one step claiming a wrong result).
        wrong_arithmetic_weight: How often a wrong-arithmetic negative is tried first,
            against 1 for most types.
        answer_mismatch_weight: The same for an answer that does not follow its steps.
        early_slip_share: Share of the wrong-arithmetic negatives whose slip is a step before
            the last (the rest: the last step claims 24).
        wrong_operator_share: Share of those last-step slips made with the wrong operator on
            the pair that the positive's last step uses (``12 * 12 = 24`` for ``12 + 12``).
    """

    name = "game24-rules"
    pairs_explored = True  # explorer episodes are paired by `explorer_triplets`

    def __init__(self, *, answer_only_share: float = 0.3, step_pair_share: float = 0.0,
                 wrong_arithmetic_weight: float = TYPE_WEIGHTS["wrong_arithmetic"],
                 answer_mismatch_weight: float = TYPE_WEIGHTS["answer_mismatch"],
                 early_slip_share: float = EARLY_SLIP_SHARE,
                 wrong_operator_share: float = WRONG_OPERATOR_SHARE) -> None:
        check_shares(answer_only_share=answer_only_share, step_pair_share=step_pair_share,
                     early_slip_share=early_slip_share, wrong_operator_share=wrong_operator_share)
        self.answer_only_share = answer_only_share
        self.early_slip_share = early_slip_share
        self.wrong_operator_share = wrong_operator_share
        self.step_pair_share = step_pair_share
        self.type_weights = check_type_weights({"wrong_arithmetic": wrong_arithmetic_weight,
                                                "answer_mismatch": answer_mismatch_weight})
        self.rules: Game24Rules | None = None

    @property
    def rejected(self) -> dict[str, int]:
        return self.rules.rejected if self.rules else {}

    def triplets(self, ctx: SynthContext) -> Iterator[Triplet]:
        self.rules = Game24Rules(ctx.tasks, seed=ctx.config.seed,
                                 answer_only_share=self.answer_only_share,
                                 step_pair_share=self.step_pair_share,
                                 type_weights=self.type_weights,
                                 early_slip_share=self.early_slip_share,
                                 wrong_operator_share=self.wrong_operator_share)
        yield from explorer_triplets(ctx.explored, self.rules)
        yield from self.rules.triplets()


def explorer_triplets(trajectories: Sequence[Trajectory], rules: Game24Rules) -> list[Triplet]:
    """Pair each successful explorer episode with a failure of the same task (or a catalogue
    negative), and each failure with a solver positive (hindsight relabeling is the identity
    for Game of 24: the puzzle is the instruction)."""
    by_task: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        by_task.setdefault(t.task.id, []).append(t)
    out = []
    for attempts in by_task.values():
        good = [t for t in attempts if t.env_score == 1.0]
        bad = [t for t in attempts if t.env_score == 0.0]
        for negative in bad:
            kind = classify_failure(negative) or "unknown"
            positive = good[0] if good else None
            if positive is None:
                made = rules.make(negative.task, "not_24")
                positive = made.positive if made else None
            if positive is not None:
                out.append(Triplet(negative.task.id, "game24", negative.task.instruction,
                                   positive, negative,
                                   {"strategy": "game24-explorer", "negative_type": kind,
                                    "positive": "explorer" if good else "solver",
                                    "negative": "explorer", "model": negative.meta.get("policy")}))
        for positive in good if not bad else []:
            made = rules.make(positive.task, "not_24")
            if made is not None:
                out.append(Triplet(positive.task.id, "game24", positive.task.instruction,
                                   positive, made.negative,
                                   {**made.source, "positive": "explorer"}))
    return out


def slip_position(trajectory: Trajectory) -> str | None:
    """Where the first step line claiming a wrong result is: ``last`` (the last step line),
    ``earlier``, or None when every step line is right."""
    steps = [arith.parse_step(a) for a in trajectory.actions]
    steps = [s for s in steps if s is not None]
    for i, step in enumerate(steps):
        if step.computed() != step.result:
            return "last" if i == len(steps) - 1 else "earlier"
    return None


def _slips(trajectory: Trajectory) -> int:
    """How many of the trajectory's actions are step lines that claim a wrong result (an
    unreadable step counts as one)."""
    steps = [arith.parse_step(a) for a in trajectory.actions]
    return sum(s is None or s.computed() != s.result for s in steps)


Expr = Fraction | tuple[str, "Expr", "Expr"]
"""An answer expression: a number, or ``(op, left, right)``."""


def expression_tree(numbers: Sequence[int], ops: Sequence[Op]) -> Expr:
    """The expression that ``ops`` build from ``numbers`` (as `render`'s answer composes
    it; numbers not used by ``ops`` are summed in)."""
    items: list[tuple[Fraction, Expr]] = [(Fraction(x), Fraction(x)) for x in numbers]
    for o in ops:
        parts: list[Expr] = []
        for value in (o.a, o.b):
            found = next((it for it in items if it[0] == value), None)
            if found is not None:
                items.remove(found)
                parts.append(found[1])
            else:
                parts.append(value)
        items.append((o.result, (o.op, parts[0], parts[1])))
    tree = items[0][1]
    for _, other in items[1:]:
        tree = ("+", tree, other)
    return tree


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def format_expression(tree: Expr, style: Style = CANONICAL) -> str:
    """The answer expression: ``(a op b)`` for every operation but the outermost, or with
    ``style.minimal`` only the brackets precedence needs."""
    return _format(tree, style, top=True)


def _format(tree: Expr, style: Style, *, top: bool = False, parent: str | None = None,
            right: bool = False) -> str:
    if isinstance(tree, Fraction):
        return arith.format_number(tree)
    op, a, b = tree
    if style.swap and op in "+*":
        a, b = b, a
    text = f"{_format(a, style, parent=op)} {op} {_format(b, style, parent=op, right=True)}"
    if top:
        return text
    if not style.minimal or parent is None:
        return f"({text})"
    mine, theirs = _PRECEDENCE[op], _PRECEDENCE[parent]
    needed = mine < theirs or (right and mine == theirs and parent in "-/")
    return f"({text})" if needed else text


def _evaluate(tree: Expr) -> Fraction:
    if isinstance(tree, Fraction):
        return tree
    op, a, b = tree
    return arith.apply_op(_evaluate(a), op, _evaluate(b))


def _paths(tree: Expr, at: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    if isinstance(tree, Fraction):
        return [at]
    return [at, *_paths(tree[1], (*at, 1)), *_paths(tree[2], (*at, 2))]


def _get(tree: Expr, path: tuple[int, ...]) -> Expr:
    for i in path:
        assert not isinstance(tree, Fraction)
        tree = tree[i]
    return tree


def _put(tree: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    if not path:
        return new
    assert not isinstance(tree, Fraction)
    parts = list(tree)
    parts[path[0]] = _put(tree[path[0]], path[1:], new)
    return (parts[0], parts[1], parts[2])  # type: ignore[return-value]


def mutate_expression(tree: Expr, rng: random.Random) -> Expr | None:
    """One composing mistake in ``tree``, or None when the drawn one does not apply: an inner
    operation written as its value, a sub-expression copied over another, an operation
    replaced by one operand, ``a - (b - c)`` regrouped as ``(a - b) - c``, or an operator
    changed."""
    paths = _paths(tree)
    inner = [p for p in paths if p and not isinstance(_get(tree, p), Fraction)]
    kind = rng.choice(["value", "copy", "drop", "regroup", "operator"])
    if kind == "value" and inner:
        p = rng.choice(inner)
        try:
            return _put(tree, p, _evaluate(_get(tree, p)))
        except arith.ExpressionError:
            return None
    if kind == "copy":
        below_root = [p for p in paths if p]
        if len(below_root) < 2:
            return None
        p, q = rng.sample(below_root, 2)
        if p[:len(q)] == q or q[:len(p)] == p:  # one inside the other
            return None
        return _put(tree, p, _get(tree, q))
    nodes = [p for p in paths if not isinstance(_get(tree, p), Fraction)]
    p = rng.choice(nodes)
    node = _get(tree, p)
    assert not isinstance(node, Fraction)
    op, a, b = node
    if kind == "drop":
        return _put(tree, p, rng.choice([a, b]))
    if kind == "regroup":
        if isinstance(b, Fraction):
            return None
        return _put(tree, p, (b[0], (op, a, b[1]), b[2]))
    if kind == "operator":
        return _put(tree, p, (rng.choice([o for o in "+-*/" if o != op]), a, b))
    return None


def _replace(values: Sequence[Fraction], old: Fraction, new: Fraction) -> list[Fraction]:
    out = list(values)
    out[out.index(old)] = new
    return sorted(out)


__all__ = [
    "EARLY_SLIP_SHARE",
    "NEGATIVE_TYPES",
    "TYPE_WEIGHTS",
    "WRONG_OPERATOR_SHARE",
    "Game24Rules",
    "Game24RulesStrategy",
    "classify_failure",
    "explorer_triplets",
    "expression_tree",
    "format_expression",
    "make_task",
    "mutate_expression",
    "paths_to_24",
    "render",
    "slip_position",
]
