"""Tests of the Game of 24 arithmetic core: parser, hidden checker, steps, solver, puzzles."""

from __future__ import annotations

import inspect
import json
import operator
import re
from collections import Counter
from fractions import Fraction
from itertools import combinations_with_replacement
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armap.envs.game24 import arith
from armap.envs.game24.arith import (
    TOT_TEST_SLICE,
    Candidate,
    ExpressionError,
    ParsedStep,
    all_puzzles,
    apply_op,
    check_answer,
    find_action,
    first_solution,
    format_number,
    format_step,
    load_ranked_puzzles,
    next_steps,
    parse_answer,
    parse_answer_line,
    parse_expression,
    parse_step,
    solve,
    solve_steps,
)

CSV_PATH = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "game24" / "24.csv"
PUZZLES = all_puzzles()
F = Fraction

# --------------------------------------------------------------------------- test oracle

_BINOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def _tokens(expr: str) -> list[str]:
    """Split a solver-style expression (integers, + - * /, parentheses)."""
    toks = re.findall(r"\d+|[-+*/()]", expr)
    assert "".join(toks) == expr.replace(" ", "")
    return toks


def oracle(tokens: list[str]) -> Fraction | None:
    """Independent evaluator (shunting-yard, not the module's parser); None on x/0."""
    out: list[Fraction] = []
    ops: list[str] = []

    def reduce() -> None:
        op = ops.pop()
        b, a = out.pop(), out.pop()
        if op == "/" and b == 0:
            raise ZeroDivisionError
        out.append(_BINOPS[op](a, b))

    try:
        for t in tokens:
            if t.isdigit():
                out.append(Fraction(int(t)))
            elif t == "(":
                ops.append(t)
            elif t == ")":
                while ops[-1] != "(":
                    reduce()
                ops.pop()
            else:
                while ops and ops[-1] != "(" and _PREC[ops[-1]] >= _PREC[t]:
                    reduce()
                ops.append(t)
        while ops:
            reduce()
    except ZeroDivisionError:
        return None
    assert len(out) == 1
    return out[0]


def _answer(tokens: list[str], claim: str = "24") -> str:
    return f"Answer: {' '.join(tokens)} = {claim}"


puzzles_st = st.sampled_from(PUZZLES)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- basics


def test_module_never_evaluates_python() -> None:
    source = inspect.getsource(arith)
    assert not re.search(
        r"(?<![\w.])(eval|exec|compile|literal_eval|__import__)\s*\(|\bimport ast\b", source
    )


@pytest.mark.parametrize(
    ("x", "text"),
    [(F(12), "12"), (F(-3), "-3"), (F(8, 3), "8/3"), (F(-8, 3), "-8/3"), (F(0), "0"), (5, "5")],
)
def test_format_number(x: Fraction | int, text: str) -> None:
    assert format_number(x) == text


def test_apply_op() -> None:
    assert apply_op(8, "/", 3) == F(8, 3)
    assert apply_op(F(1, 2), "-", 1) == F(-1, 2)
    with pytest.raises(ExpressionError, match="division by zero"):
        apply_op(1, "/", 0)
    with pytest.raises(ExpressionError, match="unknown operator"):
        apply_op(1, "^", 2)


# --------------------------------------------------------------------------- parse_expression


@pytest.mark.parametrize(
    ("text", "value", "literals"),
    [
        ("(13 - 8) * 4 + 4", 24, [13, 8, 4, 4]),
        ("[13 − 8] × 4 + 4", 24, [13, 8, 4, 4]),
        ("{13 – 8} x 4 + 4", 24, [13, 8, 4, 4]),
        ("(13—8)X4+4", 24, [13, 8, 4, 4]),
        ("  ( 13  -  8 )·4 +4  ", 24, [13, 8, 4, 4]),
        ("8 ÷ (3 - 8 ÷ 3)", 24, [8, 3, 8, 3]),
        ("1.5 * 16", 24, [F(3, 2), 16]),
        ("8/3", F(8, 3), [8, 3]),
        ("2 - 3 - 4", -5, [2, 3, 4]),
        ("12 / 2 / 3", 2, [12, 2, 3]),
        ("2 + 3 * 4", 14, [2, 3, 4]),
        ("((((7))))", 7, [7]),
        ("3x(2)", 6, [3, 2]),
    ],
)
def test_parse_expression(text: str, value: Fraction, literals: list[Fraction]) -> None:
    assert parse_expression(text) == (value, [F(x) for x in literals])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-4 + 28", "unary"),
        ("4 * -6", "unary"),
        ("+24", "unary"),
        ("2**3", "power"),
        ("4 ^ 2", "unexpected character"),
        ("__import__('os')", "unexpected character"),
        ("(1 + 2", "unbalanced"),
        ("1 + 2)", "unbalanced"),
        ("(1 + 2]", "expected ')'"),
        ("4(6)", "implicit multiplication"),
        ("4 6", "implicit multiplication"),
        ("1 / (2 - 2)", "division by zero"),
        ("4 +", "ends"),
        ("x 4", "unexpected character 'x'"),
        ("4 x", "unexpected character 'x'"),
        ("1e3", "unexpected character 'e'"),
        ("٣ + 1", "unexpected character"),
        ("(" * 200 + "1" + ")" * 200, "nested"),
    ],
)
def test_parse_expression_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse_expression(text)
    assert issubclass(ExpressionError, ValueError)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.+-−*/×÷x()[]{} =aA:", max_size=30) | st.text(max_size=30))
def test_parse_expression_only_raises_expression_error(text: str) -> None:
    try:
        value, literals = parse_expression(text)
    except ExpressionError:
        return
    assert isinstance(value, Fraction)
    assert all(isinstance(x, Fraction) for x in literals)


# --------------------------------------------------------------------------- check_answer


@FAST
@given(puzzles_st)
def test_every_solution_passes_checker(puzzle: tuple[int, ...]) -> None:
    sols = solve(puzzle)
    assert sols, puzzle
    assert first_solution(puzzle) == sols[0]
    for expr in sols:
        assert oracle(_tokens(expr)) == 24, expr
        value, literals = parse_expression(expr)
        assert value == 24 and sorted(literals) == sorted(F(n) for n in puzzle), expr
        assert check_answer(f"Answer: {expr} = 24", puzzle), expr
    for lines in solve_steps(puzzle):
        assert check_answer(lines[-1], puzzle), lines


def _mutations(tokens: list[str]) -> dict[str, list[list[str]]]:
    """Single mutations of a solution, grouped by kind (all but 'op' change the numbers)."""
    nums = [i for i, t in enumerate(tokens) if t.isdigit()]
    ops = [i for i, t in enumerate(tokens) if t in _PREC]
    parens = [i for i, t in enumerate(tokens) if t in "()"]

    def sub(i: int, new: list[str]) -> list[str]:
        return tokens[:i] + new + tokens[i + 1 :]

    out: dict[str, list[list[str]]] = {
        "number": [sub(i, [str(v)]) for i in nums for v in range(14) if str(v) != tokens[i]],
        "op": [sub(i, [o]) for i in ops for o in _PREC if o != tokens[i]],
        "drop": [],
        "duplicate": [],
        "extra": [],
        "syntax": [sub(i, []) for i in parens],
    }
    for i in nums:
        out["drop"].append(sub(i, []))
        if i + 1 < len(tokens) and tokens[i + 1] in _PREC:
            out["drop"].append(tokens[:i] + tokens[i + 2 :])
        if i > 0 and tokens[i - 1] in _PREC:
            out["drop"].append(tokens[: i - 1] + tokens[i + 1 :])
        n = tokens[i]
        out["duplicate"] += [
            sub(i, ["(", n, "/", n, "*", n, ")"]),
            ["(", *tokens, ")", "*", n, "/", n],
            [*tokens, "+", n],
            sub(i, [n, n]),
        ]
    out["extra"] = [
        [*tokens, "+", "0"],
        [*tokens, "*", "1"],
        ["1", "*", "(", *tokens, ")"],
        [*tokens, "-", "13", "+", "13"],
        [*tokens, "7"],
    ]
    return out


@FAST
@given(puzzles_st, st.data())
def test_every_single_mutation_is_rejected(puzzle: tuple[int, ...], data: st.DataObject) -> None:
    expr = data.draw(st.sampled_from(solve(puzzle)))
    tokens = _tokens(expr)
    assert check_answer(_answer(tokens), puzzle)
    for kind, mutants in _mutations(tokens).items():
        for mutant in mutants:
            line = _answer(mutant)
            if kind == "op":
                # Same numbers: still a valid answer iff it still makes 24 (checked independently).
                assert check_answer(line, puzzle) == (oracle(mutant) == 24), line
            else:
                assert not check_answer(line, puzzle), (kind, line)
    # Tree of Thoughts' rule: the expression before "=" decides, whatever result is claimed.
    for claim in ["24.0", "25", "23", "-24", "240", "2 4", "24.5", "12*2", "twenty-four"]:
        assert check_answer(_answer(tokens, claim), puzzle), claim


_VARIANTS = {"*": ["*", "×", "x", "X", "·"], "/": ["/", "÷"], "-": ["-", "−", "–", "—"]}
_BRACKETS = [("(", ")"), ("[", "]"), ("{", "}")]


@FAST
@given(puzzles_st, st.data())
def test_notations_are_accepted(puzzle: tuple[int, ...], data: st.DataObject) -> None:
    expr = data.draw(st.sampled_from(solve(puzzle)))
    stack: list[str] = []
    parts: list[str] = []
    for tok in _tokens(expr):
        if tok == "(":
            opening, closing = data.draw(st.sampled_from(_BRACKETS))
            stack.append(closing)
            tok = opening
        elif tok == ")":
            tok = stack.pop()
        elif tok in _VARIANTS:
            tok = data.draw(st.sampled_from(_VARIANTS[tok]))
        parts.append(tok)
    spaces = data.draw(st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=len(parts)))
    body = "".join(s + p for s, p in zip(spaces, parts, strict=False))
    prefix = data.draw(
        st.sampled_from(["Answer: ", "answer:", "ANSWER : ", "The answer is ", "", "**Answer:** "])
    )
    suffix = data.draw(
        st.sampled_from(["", " = 24", "=24.", " = 24 (left: 24)", " = 24. Done!", " = 24**"])
    )
    line = f"{prefix}{body}{suffix}"
    assert check_answer(line, puzzle), line
    assert check_answer(f"Let me think.\n{line}\n", list(reversed(puzzle))), line


@pytest.mark.parametrize(
    "line",
    [
        "Answer: (13 - 8) * 4 + 4 = 24",
        "answer: (13-8)*4+4",
        "Answer: [13 − 8] × 4 + 4 = 24.",
        "Answer: (13 – 8) x 4 + 4 = 24, which is correct!",
        "(13 - 8) * 4 + 4 = 24",
        "The answer is (13 - 8) * 4 + 4 = 24",
        "**Answer:** `(13 - 8) * 4 + 4 = 24`",
        "- Answer: 4 + 4 * (13 - 8) = 24",
    ],
)
def test_check_answer_accepts(line: str) -> None:
    assert check_answer(line, [4, 4, 8, 13])
    assert check_answer(line, (13, 8, 4, 4))


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "Answer:",
        "Answer: = 24",
        "Answer: 24",
        "24",
        "__import__('os').system('echo hi')",
        "Answer: __import__('os') = 24",
        "Answer: 2**3 * 3 = 24",
        "Answer: (13 - 8) ** 4 + 4 = 24",
        "Answer: -(8 - 13) * 4 + 4 = 24",
        "Answer: (13 - 8) * 4 + 4 + 0 = 24",
        "Answer: (13 - 8) * 4 * 4 = 24",
        "Answer: (13 - 8 * 4 + 4 = 24",
        "Answer: 13 - 8 * 4 + 4 = 24",
        "Answer: 24 = (13 - 8) * 4 + 4",
        "Answer: (13 - 8) * 4 + 4 = 24\nsorry, I meant 25",
        "So (13 - 8) * 4 + 4 = 24",
        "lambda: 24",
        "\x00",
        "(" * 500 + ")" * 500,
        "9" * 5000,
    ],
)
def test_check_answer_rejects(line: str) -> None:
    assert check_answer(line, [4, 4, 8, 13]) is False


def test_check_answer_rejects_non_strings() -> None:
    assert check_answer(None, [4, 4, 8, 13]) is False  # type: ignore[arg-type]
    assert check_answer("Answer: 4 * 6 = 24", ["a", "b"]) is False  # type: ignore[list-item]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.text(alphabet="Answer: 0123456789+-*/()=x×\n.", max_size=60))
def test_garbage_never_raises(text: str) -> None:
    assert check_answer(text, [4, 4, 8, 13]) in (True, False)
    parse_answer(text)
    parse_step(text)
    find_action(text)


# --------------------------------------------------------------------------- answer & step lines


def test_parse_answer() -> None:
    assert parse_answer("Answer: [13−8]×4+4 = 24.") == "(13 - 8) * 4 + 4"
    assert parse_answer("  ANSWER:(6 - 4) * (4 + 8)") == "(6 - 4) * (4 + 8)"
    assert parse_answer("Answer: 4 * 6 = 25") == "4 * 6"  # claim not validated here
    assert parse_answer("(13 - 8) * 4 + 4 = 24") is None  # no prefix: not an answer line
    assert parse_answer("Answer: I am not sure") is None
    assert parse_answer("4 + 8 = 12 (left: 6 12 13)") is None
    parsed = parse_answer_line("Answer: 4 * 6 = 25")
    assert parsed is not None
    assert (parsed.value, parsed.numbers, parsed.claimed) == (24, (4, 6), 25)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("4 + 8 = 12 (left: 6 12 13)", ParsedStep(F(4), "+", F(8), F(12), (F(6), F(12), F(13)))),
        ("4 + 8 = 12", ParsedStep(F(4), "+", F(8), F(12), None)),
        ("13 − 8 = 5 [left: 4 4 5].", ParsedStep(F(13), "-", F(8), F(5), (F(4), F(4), F(5)))),
        ("4 x 6 = 24 (left: 24) done", ParsedStep(F(4), "*", F(6), F(24), (F(24),))),
        ("12 ÷ 3 = 4 (left: 4, 4)", ParsedStep(F(12), "/", F(3), F(4), (F(4), F(4)))),
        ("8/3 * 9 = 24 (left: 24)", ParsedStep(F(8, 3), "*", F(9), F(24), (F(24),))),
        ("8 / 3 = 8/3 (left: 8/3 4)", ParsedStep(F(8), "/", F(3), F(8, 3), (F(8, 3), F(4)))),
        ("8/3 = 2.67", ParsedStep(F(8), "/", F(3), F(267, 100), None)),
        ("(8/3) / 2 = 4/3", ParsedStep(F(8, 3), "/", F(2), F(4, 3), None)),
        ("-4 * -6 = 24", ParsedStep(F(-4), "*", F(-6), F(24), None)),
        ("4 - 8 = -4 (left: -4 6)", ParsedStep(F(4), "-", F(8), F(-4), (F(-4), F(6)))),
        ("1.5 × 16 = 24", ParsedStep(F(3, 2), "*", F(16), F(24), None)),
        ("4 + 8 = 13 (left: 1 2)", ParsedStep(F(4), "+", F(8), F(13), (F(1), F(2)))),
        ("Step 2: 4  +  8 = 12 (left: 6 12 13)", ParsedStep(F(4), "+", F(8), F(12), (6, 12, 13))),
        ("2. 4 + 8 = 12.", ParsedStep(F(4), "+", F(8), F(12), None)),
        ("- 4 + 8 = 12", ParsedStep(F(4), "+", F(8), F(12), None)),
    ],
)
def test_parse_step(line: str, expected: ParsedStep) -> None:
    assert parse_step(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "Answer: 4 * 6 = 24",
        "4 + 8 + 6 = 18",
        "4 + = 12",
        "4 + 8",
        "(4 + 8) * 2 = 24",
        "four + 8 = 12",
        "4 ^ 8 = 12",
        "4 + 8 = 12 (left: 6, 12, and 13)",
        "8 / 0/0 = 1",
        "Let's compute 4 + 8 = 12",
    ],
)
def test_parse_step_rejects(line: str) -> None:
    assert parse_step(line) is None


def test_parsed_step_helpers() -> None:
    step = parse_step("8 / 3 = 3 (left: 3 4)")
    assert step is not None
    assert step.computed() == F(8, 3) and step.result == 3  # claimed, not recomputed
    assert step.canonical == "8 / 3 = 3 (left: 3 4)"
    assert ParsedStep(F(1), "/", F(0), F(0), None).computed() is None


fractions_st = st.builds(Fraction, st.integers(-200, 200), st.integers(1, 12))


@settings(max_examples=200, deadline=None)
@given(
    fractions_st,
    st.sampled_from(["+", "-", "*", "/"]),
    fractions_st,
    fractions_st,
    st.none() | st.lists(fractions_st, max_size=4).map(tuple),
)
def test_format_step_round_trips(
    a: Fraction, op: str, b: Fraction, r: Fraction, left: tuple[Fraction, ...] | None
) -> None:
    line = format_step(a, op, b, r, left)
    assert parse_step(line) == ParsedStep(a, op, b, r, left)
    assert find_action(f"ok:\n{line}") == format_step(
        a, op, b, r, None if left is None else sorted(left)
    )


def test_format_step_rejects_unknown_op() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        format_step(1, "^", 2, 1)


def test_find_action() -> None:
    reply = "Sure! Let's see.\n1. 4 + 8 = 12 (left: 6 12 13)\nThen 12 * 2 = 24."
    assert find_action(reply) == "4 + 8 = 12 (left: 6 12 13)"
    assert find_action("Step 1: 13 − 8 = 5 [left: 5 4 4]  ← good") == "13 - 8 = 5 (left: 4 4 5)"
    assert find_action("* **Step 2:** 12 ÷ 3 = 4") == "12 / 3 = 4"
    assert find_action("Thinking...\n**Answer:** [13−8]×4+4") == "Answer: (13 - 8) * 4 + 4 = 24"
    assert find_action("Answer: 4 * 6 = 25.") == "Answer: 4 * 6 = 25"  # the claim is kept
    assert find_action("Answer: no idea\n4 - 8 = -4") == "4 - 8 = -4"
    assert find_action("I think (13 - 8) * 4 + 4 works.\nDone.") is None
    assert find_action("") is None
    assert find_action(None) is None  # type: ignore[arg-type]


def test_find_action_answer_keeps_checker_verdict() -> None:
    for line in ["Answer: (13-8)*4+4", "Answer: (13-8)*4+4 = 25", "answer: 4*4+8 = 24"]:
        action = find_action(f"Here:\n{line}")
        assert action is not None
        assert check_answer(action, [4, 4, 8, 13]) == check_answer(line, [4, 4, 8, 13])


# --------------------------------------------------------------------------- next_steps


small_multisets = st.lists(st.integers(1, 13).map(Fraction) | fractions_st, min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(small_multisets)
def test_next_steps_are_correct(numbers: list[Fraction]) -> None:
    cands = next_steps(numbers)
    assert len({c.line for c in cands}) == len(cands)
    n = len(numbers)
    assert len(cands) <= 6 * n * (n - 1) // 2
    if n == 1:
        assert cands == []
    for c in cands:
        assert isinstance(c, Candidate)
        assert c.op in "+-*/"
        assert c.result == {
            "+": operator.add,
            "-": operator.sub,
            "*": operator.mul,
            "/": operator.truediv,
        }[c.op](c.a, c.b)
        assert len(c.left) == n - 1
        assert list(c.left) == sorted(c.left)
        expected = Counter(numbers)
        expected.subtract([c.a, c.b])
        assert min(expected.values()) >= 0
        expected[c.result] += 1
        assert +expected == Counter(c.left)
        assert c.line == format_step(c.a, c.op, c.b, c.result, c.left)
        assert parse_step(c.line) == ParsedStep(c.a, c.op, c.b, c.result, c.left)


def test_next_steps_example() -> None:
    lines = [c.line for c in next_steps([6, 4, 4])]
    assert lines == [
        "4 + 4 = 8 (left: 6 8)",
        "4 - 4 = 0 (left: 0 6)",
        "4 * 4 = 16 (left: 6 16)",
        "4 / 4 = 1 (left: 1 6)",
        "4 + 6 = 10 (left: 4 10)",
        "6 - 4 = 2 (left: 2 4)",
        "4 - 6 = -2 (left: -2 4)",
        "4 * 6 = 24 (left: 4 24)",
        "6 / 4 = 3/2 (left: 3/2 4)",
        "4 / 6 = 2/3 (left: 2/3 4)",
    ]
    assert all(c.op != "/" or c.b != 0 for c in next_steps([0, 5]))


@settings(max_examples=60, deadline=None)
@given(puzzles_st, st.randoms(use_true_random=False))
def test_random_walk_matches_exact_arithmetic(puzzle: tuple[int, ...], rnd) -> None:
    items = [(F(n), str(n)) for n in puzzle]
    while len(items) > 1:
        c = rnd.choice(next_steps([v for v, _ in items]))
        ia = next(i for i, (v, _) in enumerate(items) if v == c.a)
        ea = items.pop(ia)[1]
        ib = next(i for i, (v, _) in enumerate(items) if v == c.b)
        eb = items.pop(ib)[1]
        items.append((c.result, f"({ea} {c.op} {eb})"))
        assert sorted(v for v, _ in items) == list(c.left)
    ((value, expr),) = items
    assert oracle(_tokens(expr)) == value
    parsed, literals = parse_expression(expr)
    assert parsed == value
    assert sorted(literals) == sorted(F(n) for n in puzzle)
    assert check_answer(f"Answer: {expr} = 24", puzzle) == (value == 24)


# --------------------------------------------------------------------------- solver


def test_solve_examples() -> None:
    assert "(6 - 4) * (4 + 8)" in solve([4, 4, 6, 8])
    assert solve([1, 1, 1, 1]) == [] and solve_steps([1, 1, 1, 1]) == []
    assert first_solution([1, 1, 1, 1]) is None
    assert solve([3, 3, 8, 8]) == ["8 / (3 - 8 / 3)"]
    assert solve([24]) == ["24"] and solve_steps([24]) == [["Answer: 24 = 24"]]
    assert solve([8, 4, 6, 4]) == solve([4, 4, 6, 8])  # order of the input does not matter
    assert solve([4, 4, 6, 8]) == solve([4, 4, 6, 8])
    with pytest.raises(ValueError, match="integers"):
        solve([F(9, 2), 1, 2, 3])


@FAST
@given(st.sampled_from(list(combinations_with_replacement(range(1, 14), 4))))
def test_solve_agrees_with_all_puzzles(puzzle: tuple[int, ...]) -> None:
    assert bool(solve(puzzle)) == (puzzle in set(PUZZLES))
    assert (first_solution(puzzle) is None) == (not solve(puzzle))


@FAST
@given(puzzles_st)
def test_solve_steps_replay(puzzle: tuple[int, ...]) -> None:
    sols = solve(puzzle)
    all_steps = solve_steps(puzzle)
    lines_from: dict[tuple[Fraction, ...], set[str]] = {}
    assert len(all_steps) == len(sols)
    for expr, lines in zip(sols, all_steps, strict=True):
        assert len(lines) == len(puzzle)
        assert lines[-1] == f"Answer: {expr} = 24"
        current = [F(n) for n in puzzle]
        for line in lines[:-1]:
            key = tuple(current)
            if key not in lines_from:
                lines_from[key] = {c.line for c in next_steps(current)}
            assert line in lines_from[key], (line, current)
            step = parse_step(line)
            assert step is not None and step.left is not None
            assert step.computed() == step.result
            current = list(step.left)
        assert current == [24]
        assert find_action("\n".join(lines)) == lines[0]


# --------------------------------------------------------------------------- puzzles


def _csv() -> Path:
    if not CSV_PATH.is_file():
        pytest.skip(f"Tree-of-Thoughts puzzle file not found at {CSV_PATH.resolve()}")
    return CSV_PATH


def test_all_puzzles() -> None:
    assert len(PUZZLES) == 1362
    assert len(set(PUZZLES)) == 1362
    assert all(list(p) == sorted(p) and all(1 <= n <= 13 for n in p) for p in PUZZLES)
    assert sorted(PUZZLES) == PUZZLES
    assert all_puzzles() is not all_puzzles()  # callers get their own list


def test_all_puzzles_equal_csv() -> None:
    ranked = load_ranked_puzzles(_csv())
    assert len(ranked) == 1362
    assert ranked[0] == (1, 1, 4, 6)
    assert {tuple(sorted(p)) for p in ranked} == set(PUZZLES)
    test_split = ranked[TOT_TEST_SLICE]
    assert len(test_split) == 100
    assert test_split[0] == (4, 5, 6, 10)  # rank 901
    assert {tuple(sorted(p)) for p in test_split} <= set(PUZZLES)


def test_load_ranked_puzzles_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_ranked_puzzles(tmp_path / "missing.csv")
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("Rank,Numbers\n1,1 1 4 6\n")
    with pytest.raises(ValueError, match="Puzzles"):
        load_ranked_puzzles(bad_header)
    bad_row = tmp_path / "row.csv"
    bad_row.write_text("Rank,Puzzles,AMT (s)\n1,1 1 4 6,4.4\n2,1 1 x 6,4.5\n")
    with pytest.raises(ValueError, match=r"row.csv:3: bad puzzle"):
        load_ranked_puzzles(bad_row)
    good = tmp_path / "good.csv"
    good.write_text("Rank,Puzzles,AMT (s)\n1,6 1 4 1,4.4\n2,13 12 11 10,9\n")
    assert load_ranked_puzzles(str(good)) == [(6, 1, 4, 1), (13, 12, 11, 10)]


# --------------------------------------------------------------------------- Tree of Thoughts' rule

REAL_LLM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "game24" / "real_llm"


def test_the_claimed_result_does_not_decide() -> None:
    # (13 - 9) * (12 - 6) is 24 whatever the line claims; Tree of Thoughts counts it correct.
    assert check_answer("Answer: (13 - 9) * (12 - 6) = 48", [6, 9, 12, 13])
    assert not check_answer("Answer: (13 - 9) * (12 - 5) = 24", [5, 9, 12, 13])


def test_the_checker_agrees_with_the_recorded_verdicts_of_real_llm_outputs() -> None:
    """Every recorded output's ``correct`` was re-checked with Tree of Thoughts' own code. The
    one kind of difference allowed: a markdown-bold answer line (``**Answer: ... = 24**``),
    which that code hands to sympy with the asterisks and so scores 0; the checker reads the
    expression through the formatting."""
    files = sorted(REAL_LLM.glob("*.jsonl"))
    if not files:
        pytest.skip(f"needs the recorded real-LLM outputs in {REAL_LLM}")
    checked, disagree = 0, []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            numbers = [int(x) for x in record["puzzle"].split()]
            if check_answer(record["text"], numbers) != bool(record["correct"]):
                last = record["text"].strip().splitlines()[-1]
                if not (record["correct"] == 0 and last.startswith("**")):
                    disagree.append((path.name, record["row"], last))
            checked += 1
    assert checked > 2000
    assert disagree == []
