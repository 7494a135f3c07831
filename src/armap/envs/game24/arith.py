"""Exact arithmetic core of the Game of 24: parsing, checking, step generation, solving.

The protocol follows Tree of Thoughts / ARMAP: an agent turns four integers in 1..13 into 24
by writing step lines such as ``4 + 8 = 12 (left: 6 12 13)`` and finally an answer line such as
``Answer: (13 - 8) * 4 + 4 = 24``.

All arithmetic uses :class:`fractions.Fraction`; user text is never evaluated by Python
(no ``eval``/``exec``/``ast``): expressions go through a tokenizer and a recursive-descent parser.

Design choices:

* Unary minus (and plus) is rejected in expressions: the game only has binary operations and
  each number must be used as given.  Negative numbers may appear in *step* lines, since an
  intermediate result such as ``4 - 8 = -4`` is legal.
* ``x``/``X`` means multiplication only between two operands (``4 x 6``, ``(1+2)x8``).
* A step's claimed ``result`` and ``left`` are reported as written, never recomputed; the
  environment decides whether they are right (see :meth:`ParsedStep.computed`).
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache
from itertools import combinations_with_replacement
from pathlib import Path

from armap.errors import ArmapError

__all__ = [
    "OPS",
    "TARGET",
    "TOT_TEST_SLICE",
    "Candidate",
    "ExpressionError",
    "Number",
    "ParsedAnswer",
    "ParsedStep",
    "all_puzzles",
    "apply_op",
    "check_answer",
    "find_action",
    "first_solution",
    "format_number",
    "format_step",
    "load_ranked_puzzles",
    "next_steps",
    "parse_answer",
    "parse_answer_line",
    "parse_expression",
    "parse_step",
    "solve",
    "solve_steps",
]

Number = Fraction
TARGET = Fraction(24)
OPS: tuple[str, ...] = ("+", "-", "*", "/")
#: The Tree-of-Thoughts test split: data rows 900..999 (0-based) of ``24.csv``.
TOT_TEST_SLICE = slice(900, 1000)

_MAX_DEPTH = 64  # bracket nesting limit; keeps the recursive parser far from RecursionError
_DASHES = "-−–—‒"  # ASCII hyphen-minus, minus sign, en dash, em dash, figure dash
_OP_CHARS = {
    "+": "+",
    "*": "*",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "∗": "*",
    "/": "/",
    "÷": "/",
    "∕": "/",
    **dict.fromkeys(_DASHES, "-"),
}
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())
_NUM_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")


class ExpressionError(ArmapError, ValueError):
    """An arithmetic expression that cannot be parsed or evaluated."""


def format_number(x: Fraction | int) -> str:
    """Render exactly: ``12``, ``-3``, ``8/3``."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def apply_op(a: Fraction | int, op: str, b: Fraction | int) -> Fraction:
    """``a op b`` exactly for op in ``+ - * /``; ExpressionError on division by zero."""
    a, b = Fraction(a), Fraction(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            raise ExpressionError(f"division by zero: {format_number(a)} / 0")
        return a / b
    raise ExpressionError(f"unknown operator {op!r}; expected one of + - * /")


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num", "op", "open", "close"
    text: str  # normalized: ASCII operator, the bracket as written, the number as written
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        m = _NUM_RE.match(text, i)
        if m:
            tokens.append(_Token("num", m.group(), i))
            i = m.end()
            continue
        if ch in _OP_CHARS:
            tokens.append(_Token("op", _OP_CHARS[ch], i))
        elif ch in _OPEN:
            tokens.append(_Token("open", ch, i))
        elif ch in _CLOSE:
            tokens.append(_Token("close", ch, i))
        elif ch in "xX" and _is_times(text, i, tokens):
            tokens.append(_Token("op", "*", i))
        else:
            raise ExpressionError(
                f"unexpected character {ch!r} at position {i}; "
                "only numbers, + - * / (or × ÷ x), and brackets are allowed"
            )
        i += 1
    return tokens


def _is_times(text: str, i: int, tokens: list[_Token]) -> bool:
    """``x`` is multiplication only between an operand and an operand start."""
    if not tokens or tokens[-1].kind not in ("num", "close"):
        return False
    rest = text[i + 1 :].lstrip()
    return bool(rest) and (rest[0] in _OPEN or rest[0] in ".0123456789")


class _Parser:
    """Recursive descent: expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*;
    factor := NUMBER | '(' expr ')' (any of ``()[]{}``, matched by kind)."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.literals: list[Fraction] = []

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Fraction:
        if not self.tokens:
            raise ExpressionError("empty expression")
        value = self.expr(0)
        tok = self.peek()
        if tok is not None:
            if tok.kind == "close":
                raise ExpressionError(f"unbalanced bracket {tok.text!r} at position {tok.pos}")
            raise ExpressionError(
                f"expected an operator at position {tok.pos}, got {tok.text!r} "
                "(implicit multiplication is not allowed)"
            )
        return value

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in "+-":
            self.i += 1
            value = apply_op(value, tok.text, self.term(depth))
        return value

    def term(self, depth: int) -> Fraction:
        value = self.factor(depth)
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in "*/":
            self.i += 1
            value = apply_op(value, tok.text, self.factor(depth))
        return value

    def factor(self, depth: int) -> Fraction:
        tok = self.peek()
        if tok is None:
            raise ExpressionError("expression ends where a number or '(' was expected")
        self.i += 1
        if tok.kind == "num":
            value = Fraction(tok.text)
            self.literals.append(value)
            return value
        if tok.kind == "open":
            if depth >= _MAX_DEPTH:
                raise ExpressionError(f"brackets nested deeper than {_MAX_DEPTH}")
            value = self.expr(depth + 1)
            close = self.peek()
            if close is None:
                raise ExpressionError(f"unbalanced bracket {tok.text!r} at position {tok.pos}")
            if close.kind != "close" or close.text != _OPEN[tok.text]:
                raise ExpressionError(
                    f"expected {_OPEN[tok.text]!r} at position {close.pos} to close "
                    f"{tok.text!r} at position {tok.pos}, got {close.text!r}"
                )
            self.i += 1
            return value
        if tok.kind == "op":
            prev = self.tokens[self.i - 2] if self.i >= 2 else None
            if tok.text == "*" and prev is not None and prev.text == "*" and prev.kind == "op":
                raise ExpressionError(f"'**' (power) at position {prev.pos} is not allowed")
            if tok.text in "+-":
                raise ExpressionError(
                    f"unary {tok.text!r} at position {tok.pos} is not allowed: "
                    "the game has only binary + - * /"
                )
            raise ExpressionError(f"operator {tok.text!r} at position {tok.pos} lacks an operand")
        raise ExpressionError(f"unbalanced bracket {tok.text!r} at position {tok.pos}")


def _normalize_tokens(tokens: list[_Token]) -> str:
    parts: list[str] = []
    for tok in tokens:
        if tok.kind == "op":
            parts.append(f" {tok.text} ")
        elif tok.kind == "open":
            parts.append("(")
        elif tok.kind == "close":
            parts.append(")")
        else:
            parts.append(tok.text)
    return "".join(parts)


def _parse_full(text: str) -> tuple[Fraction, list[Fraction], str]:
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    value = parser.parse()
    return value, parser.literals, _normalize_tokens(tokens)


def parse_expression(text: str) -> tuple[Fraction, list[Fraction]]:
    """Exact value of ``text`` and its number literals in order.

    Accepts ``+``, ``-`` (and − – —), ``*`` (and × · x), ``/`` (and ÷), brackets ``()[]{}``,
    integers and decimals.  Raises :class:`ExpressionError` otherwise, including for unary
    minus, ``**``, implicit multiplication, unbalanced brackets and division by zero.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    value, literals, _ = _parse_full(text)
    return value, literals


# --------------------------------------------------------------------------- answer lines

_DECORATION_RE = re.compile(
    r"""^(?:
        (?:\*\*|__)                                  # markdown bold
      | [-*•+>]\s+                                   # bullets, block quote
      | [0-9]{1,2}[.)]\s+                            # numbering: 1.  2)
      | (?:possible\s+)?(?:next\s+)?step\s*[0-9]*\s*[:.)\-–—]\s*   # Step 2:  Next step:
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_ANSWER_PREFIX_RE = re.compile(
    r"^(?:(?:the|my|final|so|thus|therefore)[\s,]+)*answer(?:\s+is)?[\s*_]*[:：]?[\s*_]*",
    re.IGNORECASE,
)
_CLAIM_RE = re.compile(r"^[\s*_]*([-−–—‒]?[0-9]+(?:\.[0-9]+)?(?:/[0-9]+)?)(?![0-9]|[./][0-9])")
_TRAILING_RE = re.compile(r"(?:\*\*|__|[\s.!;,])+$")


def _strip_decorations(line: str) -> str:
    line = line.replace("`", "").strip()
    while True:
        m = _DECORATION_RE.match(line)
        if not m or not m.group():
            return line
        line = line[m.end() :].lstrip()


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """An answer line: normalized expression, its exact value, literals, claimed result."""

    expression: str
    value: Fraction
    numbers: tuple[Fraction, ...]
    claimed: Fraction | None

    @property
    def canonical(self) -> str:
        """``Answer: expr = claim`` (claim 24 when none was written)."""
        claim = TARGET if self.claimed is None else self.claimed
        return f"Answer: {self.expression} = {format_number(claim)}"


def _parse_answer(line: str, *, require_prefix: bool) -> ParsedAnswer | None:
    line = _strip_decorations(line)
    m = _ANSWER_PREFIX_RE.match(line)
    if m:
        line = line[m.end() :]
    elif require_prefix:
        return None
    expr, eq, rhs = line.partition("=")
    claimed: Fraction | None = None
    if eq:
        cm = _CLAIM_RE.match(rhs)
        if cm is None:
            return None
        try:
            claimed = _to_fraction(cm.group(1))
        except (ValueError, ZeroDivisionError):
            return None
    expr = _TRAILING_RE.sub("", expr)
    try:
        value, literals, normalized = _parse_full(expr)
    except ExpressionError:
        return None
    return ParsedAnswer(normalized, value, tuple(literals), claimed)


def parse_answer_line(line: str) -> ParsedAnswer | None:
    """Parse an ``Answer: ...`` line (prefix required); None if not a well-formed answer."""
    if not isinstance(line, str):
        return None
    return _parse_answer(line, require_prefix=True)


def parse_answer(line: str) -> str | None:
    """Normalized expression of an ``Answer: expr [= n]`` line, else None.

    The claimed result is not validated here; use :func:`check_answer`.
    """
    parsed = parse_answer_line(line)
    return None if parsed is None else parsed.expression


def check_answer(line: str, numbers: Sequence[int]) -> bool:
    """The hidden checker, Tree of Thoughts' rule: the expression before ``=`` decides. True iff
    it uses exactly ``numbers`` and equals 24; the claimed result after ``=`` is not read.

    ``line`` is like ``Answer: (13 - 8) * 4 + 4 = 24``; the ``Answer:`` prefix (also "The
    answer is") is optional. For multi-line text the last non-empty line is checked (as Tree of
    Thoughts does). Never raises.
    """
    try:
        if not isinstance(line, str):
            return False
        lines = [s for s in line.splitlines() if s.strip()]
        if not lines:
            return False
        expression = lines[-1].partition("=")[0]
        parsed = _parse_answer(expression, require_prefix=False)
        if parsed is None:
            return False
        wanted = Counter(Fraction(n) for n in numbers)
        return parsed.value == TARGET and Counter(parsed.numbers) == wanted
    except (ValueError, TypeError, ArithmeticError, RecursionError):
        return False


# --------------------------------------------------------------------------- step lines

_SNUM = r"[-−–—‒]?[0-9]+(?:\.[0-9]+)?(?:/[0-9]+(?:\.[0-9]+)?)?"
_STEP_RE = re.compile(
    rf"""^(?:\(\s*(?P<a1>{_SNUM})\s*\)|(?P<a2>{_SNUM}))
        \s*(?P<op>[-+*/×·⋅∗÷∕−–—‒xX])\s*
        (?:\(\s*(?P<b1>{_SNUM})\s*\)|(?P<b2>{_SNUM}))
        \s*=\s*(?P<res>{_SNUM})(?![0-9]|[./][0-9])(?P<rest>.*)$""",
    re.VERBOSE | re.DOTALL,
)
_LEFT_RE = re.compile(
    r"^\s*,?\s*[(\[{]\s*(?:left|remaining)\s*[:：]?\s*(?P<nums>[^)\]}]*)(?:[)\]}]|$)",
    re.IGNORECASE,
)
_SNUM_RE = re.compile(_SNUM)
_STEP_OPS = {**_OP_CHARS, "x": "*", "X": "*"}


def _to_fraction(text: str) -> Fraction:
    text = text.strip()
    for dash in _DASHES[1:]:
        text = text.replace(dash, "-")
    num, _, den = text.partition("/")
    value = Fraction(num)
    return value / Fraction(den) if den else value


@dataclass(frozen=True, slots=True)
class ParsedStep:
    """A step line ``a op b = result (left: ...)`` as written (claims are not checked)."""

    a: Fraction
    op: str
    b: Fraction
    result: Fraction
    left: tuple[Fraction, ...] | None

    @property
    def canonical(self) -> str:
        """The canonical line, see :func:`format_step`."""
        return format_step(self.a, self.op, self.b, self.result, self.left)

    def computed(self) -> Fraction | None:
        """The true value of ``a op b``; None on division by zero."""
        try:
            return apply_op(self.a, self.op, self.b)
        except ExpressionError:
            return None


def parse_step(line: str) -> ParsedStep | None:
    """Parse a step line like ``4 + 8 = 12 (left: 6 12 13)``; None if not well-formed.

    Numbers may be integers, decimals, fractions (``8/3``) or negative; list bullets and
    ``Step 2:`` prefixes and trailing text are tolerated.  A ``(left: ...)`` group that is
    present but holds anything besides numbers makes the line malformed.
    """
    if not isinstance(line, str):
        return None
    m = _STEP_RE.match(_strip_decorations(line))
    if m is None:
        return None
    try:
        a = _to_fraction(m["a1"] or m["a2"])
        b = _to_fraction(m["b1"] or m["b2"])
        result = _to_fraction(m["res"])
        left: tuple[Fraction, ...] | None = None
        lm = _LEFT_RE.match(m["rest"])
        if lm is not None:
            items = [s for s in re.split(r"[\s,;]+", lm["nums"].strip()) if s]
            if not all(_SNUM_RE.fullmatch(s) for s in items):
                return None
            left = tuple(_to_fraction(s) for s in items)
    except (ValueError, ZeroDivisionError):
        return None
    return ParsedStep(a, _STEP_OPS[m["op"]], b, result, left)


def format_step(
    a: Fraction | int,
    op: str,
    b: Fraction | int,
    result: Fraction | int,
    left: Sequence[Fraction | int] | None = None,
) -> str:
    """Canonical step line ``a op b = result (left: x y z)``; ``left`` kept in given order."""
    if op not in OPS:
        raise ValueError(f"unknown operator {op!r}; expected one of + - * /")
    line = f"{format_number(a)} {op} {format_number(b)} = {format_number(result)}"
    if left is not None:
        line += f" (left: {' '.join(format_number(x) for x in left)})"
    return line


def find_action(text: str) -> str | None:
    """First well-formed step or answer line in a chatty reply, in canonical form.

    Steps come back as :func:`format_step` output with ``left`` sorted; answers as
    ``Answer: expr = claim`` (claim 24 when none was written).  None if there is none.
    """
    if not isinstance(text, str):
        return None
    for raw in text.splitlines():
        answer = _parse_answer(raw, require_prefix=True)
        if answer is not None:
            return answer.canonical
        step = parse_step(raw)
        if step is not None:
            left = None if step.left is None else sorted(step.left)
            return format_step(step.a, step.op, step.b, step.result, left)
    return None


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True, slots=True)
class Candidate:
    """A correct next step: the canonical ``line`` and the sorted multiset ``left`` after it."""

    line: str
    a: Fraction
    op: str
    b: Fraction
    result: Fraction
    left: tuple[Fraction, ...]


def _pair_ops(x: Fraction, y: Fraction) -> Iterator[tuple[bool, str, Fraction]]:
    """For x <= y: (swapped, op, result) for x + y, y - x, x - y, x * y, y / x, x / y.

    ``swapped`` means the step reads ``y op x``; division by zero is skipped.
    """
    yield False, "+", x + y
    yield True, "-", y - x
    yield False, "-", x - y
    yield False, "*", x * y
    if x != 0:
        yield True, "/", y / x
    if y != 0:
        yield False, "/", x / y


def next_steps(numbers: Sequence[Fraction | int]) -> list[Candidate]:
    """All correct next steps from a multiset of numbers, deduplicated by line.

    Every unordered pair is combined with ``+`` and ``*`` (smaller operand first) and both
    orders of ``-`` and ``/``; the order is deterministic.
    """
    nums = sorted(Fraction(n) for n in numbers)
    seen: set[str] = set()
    out: list[Candidate] = []
    for i in range(len(nums)):
        for j in range(i + 1, len(nums)):
            rest = nums[:i] + nums[i + 1 : j] + nums[j + 1 :]
            for swapped, op, result in _pair_ops(nums[i], nums[j]):
                a, b = (nums[j], nums[i]) if swapped else (nums[i], nums[j])
                left = tuple(sorted([*rest, result]))
                line = format_step(a, op, b, result, left)
                if line not in seen:
                    seen.add(line)
                    out.append(Candidate(line, a, op, b, result, left))
    return out


# --------------------------------------------------------------------------- solving


@dataclass(frozen=True, slots=True)
class _Item:
    value: Fraction
    text: str
    prec: int  # 3 atom, 2 for * /, 1 for + -


def _combine(left: _Item, op: str, right: _Item, value: Fraction) -> _Item:
    """Render with minimal parentheses (exact arithmetic makes + and * associative)."""
    lt = f"({left.text})" if op in "*/" and left.prec == 1 else left.text
    need_right = {"+": False, "-": right.prec == 1, "*": right.prec == 1, "/": right.prec < 3}
    rt = f"({right.text})" if need_right[op] else right.text
    return _Item(value, f"{lt} {op} {rt}", 1 if op in "+-" else 2)


_RawStep = tuple[Fraction, str, Fraction, Fraction, tuple[Fraction, ...]]


def _search(
    items: list[_Item], steps: tuple[_RawStep, ...]
) -> Iterator[tuple[str, tuple[_RawStep, ...]]]:
    if len(items) == 1:
        if items[0].value == TARGET:
            yield items[0].text, steps
        return
    if len(items) == 2:  # last step: build text only for results that hit the target
        x, y = items
        for swapped, op, result in _pair_ops(x.value, y.value):
            if result == TARGET:
                a, b = (y, x) if swapped else (x, y)
                raw = (a.value, op, b.value, result, (result,))
                yield _combine(a, op, b, result).text, (*steps, raw)
        return
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            x, y = items[i], items[j]
            rest = items[:i] + items[i + 1 : j] + items[j + 1 :]
            for swapped, op, result in _pair_ops(x.value, y.value):
                a, b = (y, x) if swapped else (x, y)
                new = sorted([*rest, _combine(a, op, b, result)], key=_item_key)
                raw = (a.value, op, b.value, result, tuple(it.value for it in new))
                yield from _search(new, (*steps, raw))


def _item_key(item: _Item) -> tuple[Fraction, int, str]:
    return item.value, -item.prec, item.text


@lru_cache(maxsize=4096)
def _solutions(numbers: tuple[int, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    found: dict[str, tuple[str, ...]] = {}
    items = [_Item(Fraction(n), str(n), 3) for n in numbers]
    for expr, steps in _search(items, ()):
        if expr not in found:
            found[expr] = tuple(format_step(*step) for step in steps)
    return tuple(found.items())


def _key(numbers: Sequence[int]) -> tuple[int, ...]:
    ints = [int(n) for n in numbers]
    if any(i != n for i, n in zip(ints, numbers, strict=True)):
        raise ValueError(f"the puzzle numbers must be integers, got {list(numbers)!r}")
    return tuple(sorted(ints))


def solve(numbers: Sequence[int]) -> list[str]:
    """All distinct expressions (minimal parentheses) over ``numbers`` equal to 24.

    Deterministic: the order depends only on the multiset of numbers.
    """
    return [expr for expr, _ in _solutions(_key(numbers))]


def solve_steps(numbers: Sequence[int]) -> list[list[str]]:
    """The solutions of :func:`solve`, in the same order, as step lines plus an answer line."""
    return [[*steps, f"Answer: {expr} = 24"] for expr, steps in _solutions(_key(numbers))]


def first_solution(numbers: Sequence[int]) -> str | None:
    """The first solution of :func:`solve`, or None if the puzzle is unsolvable."""
    items = [_Item(Fraction(n), str(n), 3) for n in _key(numbers)]
    return next((expr for expr, _ in _search(items, ())), None)


# --------------------------------------------------------------------------- puzzles


@cache
def _values(ms: tuple[int, ...]) -> frozenset[Fraction]:
    """Every value reachable from the multiset ``ms`` (sorted) with + - * /."""
    if len(ms) == 1:
        return frozenset({Fraction(ms[0])})
    out: set[Fraction] = set()
    for left, right in _splits(ms):
        for x in _values(left):
            for y in _values(right):
                lo, hi = (x, y) if x <= y else (y, x)
                out.update(r for _, _, r in _pair_ops(lo, hi))
    return frozenset(out)


def _splits(ms: tuple[int, ...]) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Unordered splits of a multiset into two non-empty parts."""
    n = len(ms)
    out: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    for mask in range(1, (1 << n) - 1):
        a = tuple(ms[i] for i in range(n) if mask >> i & 1)
        b = tuple(ms[i] for i in range(n) if not mask >> i & 1)
        out.add((a, b) if a <= b else (b, a))
    return out


def _targets(x: Fraction) -> set[Fraction]:
    """Values v such that v and x combine to 24 in some order with some operator."""
    out = {TARGET - x, x - TARGET, TARGET + x}
    if x != 0:
        out |= {TARGET / x, x / TARGET, TARGET * x}
    return out


def _solvable(ms: tuple[int, ...]) -> bool:
    for left, right in _splits(ms):
        small, big = (left, right) if len(_values(left)) <= len(_values(right)) else (right, left)
        big_values = _values(big)
        if any(not _targets(x).isdisjoint(big_values) for x in _values(small)):
            return True
    return False


@lru_cache(maxsize=1)
def _all_puzzles() -> tuple[tuple[int, int, int, int], ...]:
    return tuple(p for p in combinations_with_replacement(range(1, 14), 4) if _solvable(p))


def all_puzzles() -> list[tuple[int, int, int, int]]:
    """Every sorted 4-multiset of 1..13 that can make 24 (1,362 of them), sorted."""
    return list(_all_puzzles())


def load_ranked_puzzles(path: str | os.PathLike[str]) -> list[tuple[int, ...]]:
    """Puzzles of the Tree-of-Thoughts ``24.csv`` (column ``Puzzles``: "1 1 4 6"), file order."""
    from armap.errors import ConfigError, MissingFileError

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(
            f"Game of 24 puzzle file not found: {p} (expected the Tree-of-Thoughts 24.csv)"
        )
    with p.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.DictReader(fh)
        try:
            rows = list(reader)
        except csv.Error as e:
            raise ConfigError(f"{p}:{reader.line_num}: not a CSV file ({e})") from None
        if reader.fieldnames is None or "Puzzles" not in reader.fieldnames:
            raise ConfigError(f"{p}: no 'Puzzles' column in header {reader.fieldnames!r}; "
                              "expected the Tree-of-Thoughts 24.csv")
        puzzles: list[tuple[int, ...]] = []
        for line, row in enumerate(rows, 2):
            cell = (row.get("Puzzles") or "").strip()
            try:
                puzzle = tuple(int(tok) for tok in cell.split())
            except ValueError:
                puzzle = ()
            if len(puzzle) != 4 or not all(1 <= n <= 13 for n in puzzle):
                raise ConfigError(
                    f"{p}:{line}: bad puzzle {cell!r}; "
                    "expected four integers in 1..13"
                )
            puzzles.append(puzzle)
    return puzzles
