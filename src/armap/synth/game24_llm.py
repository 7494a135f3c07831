"""LLM-based Game of 24 synthesis, as in the paper, with every output verified.

The LLM invents a puzzle by reasoning backwards from 24 and writes its solution, then writes a
wrong solution with a named error. Unlike the paper's released code, the positive is checked by
the hidden checker before use, the negative must fail it, and `classify_failure` must agree with
the error type the LLM was asked for. Anything else is recorded as a rejection with its reason.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from armap.envs.game24 import arith
from armap.envs.game24.env import Game24Env, make_task
from armap.episode import replay
from armap.llm.base import LLM, completion_cost
from armap.runner import Episode, Work
from armap.synth.base import SynthContext
from armap.synth.game24 import classify_failure
from armap.types import Cost, Task, Triplet

ERROR_DESCRIPTIONS = {
    "wrong_arithmetic": "one step has an arithmetic mistake (for example 7 * 3 = 24), and the "
                        "steps after it build on the wrong number",
    "number_used_twice": "the answer uses one of the puzzle's numbers twice and leaves "
                         "another out",
    "number_left_out": "the answer reaches 24 without using one of the four numbers",
    "number_not_in_puzzle": "the answer uses a number that is not in the puzzle",
    "not_24": "every step is correct but the final result is not 24, and the answer still "
              "claims 24",
    "broken_format": "the answer is written so that it cannot be read (unbalanced brackets or "
                     "a missing operator)",
}
LLM_ERROR_TYPES = tuple(ERROR_DESCRIPTIONS)
"""The mistakes an LLM is asked to make: the classifier must recognise each in its output, so
the rule catalogue's answer_mismatch (told apart only by how it was made) is not among them."""

PROPOSE_PROMPT = """Invent a new Game of 24 puzzle by working backwards from 24.
Start from 24 and write it as two numbers combined with + - * or /. Then split one of those
numbers the same way, and once more, until you have exactly four whole numbers from 1 to 13.
Then write the solution that uses each of the four numbers exactly once.

Reply in exactly this form:
Puzzle: <four numbers separated by spaces>
Solution: <expression> = 24"""

WRONG_PROMPT = """Game of 24 puzzle: {numbers}
A correct solution: {solution}
Write a WRONG solution for a training set of mistakes. The mistake must be this one:
{description}.
Write the steps, one per line, like `4 + 8 = 12 (left: 6 12 13)`, then the answer line:
Answer: <expression> = 24"""

_PUZZLE = re.compile(r"puzzle\s*:\s*([0-9 ,]+)", re.IGNORECASE)
_SOLUTION = re.compile(r"solution\s*:\s*(.+)", re.IGNORECASE)


@dataclass
class Attempt:
    """The outcome of one proposal: a triplet or the reason it was rejected."""

    key: str
    triplet: Triplet | None = None
    rejected: str | None = None
    raw: dict[str, str] = field(default_factory=dict)
    cost: Cost = field(default_factory=Cost)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "triplet": self.triplet.to_dict() if self.triplet else None,
                "rejected": self.rejected, "raw": self.raw, "cost": self.cost.to_dict()}


class Game24LLMSynth:
    """Makes one triplet per attempt with an LLM, or records why the attempt was rejected.

    Args:
        llm: The generating model.
        excluded: Task ids that must never appear (the test split).
        temperature: Sampling temperature for both prompts.
    """

    name = "game24-llm"

    def __init__(self, llm: LLM, *, excluded: Collection[str] = (),
                 temperature: float = 0.8, max_tokens: int = 160) -> None:
        self.llm = llm
        self.excluded = set(excluded)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.env = Game24Env()

    def attempt(self, key: str, seed: int) -> Attempt:
        out = Attempt(key)
        rng = random.Random(seed)
        kind = rng.choice(LLM_ERROR_TYPES)
        reply = self._ask(PROPOSE_PROMPT, seed, out)
        out.raw["proposal"] = reply
        puzzle, solution = parse_proposal(reply)
        if puzzle is None or solution is None:
            out.rejected = "proposal: no 'Puzzle:' with four numbers 1-13 and a 'Solution:'"
            return out
        task = make_task(puzzle, "train")
        if task.id in self.excluded:
            out.rejected = "proposal: puzzle is in the test split"
            return out
        answer = f"Answer: {solution}"
        if not arith.check_answer(answer, puzzle):
            out.rejected = "proposal: solution fails the checker"
            return out
        prompt = WRONG_PROMPT.format(numbers=" ".join(map(str, puzzle)), solution=solution,
                                     description=ERROR_DESCRIPTIONS[kind])
        wrong = self._ask(prompt, seed + 1, out)
        out.raw["wrong"] = wrong
        actions = [a for a in (arith.find_action(line) for line in wrong.splitlines()) if a]
        if not actions:
            actions = [line.strip() for line in wrong.splitlines() if line.strip()][-1:]
        if not actions:
            out.rejected = f"{kind}: empty wrong solution"
            return out
        positive = replay(self.env, task, [answer])
        negative = replay(self.env, task, actions)
        if positive.env_score != 1.0:
            out.rejected = "positive failed the checker on replay"
        elif negative.env_score != 0.0:
            out.rejected = f"{kind}: the 'wrong' solution is correct"
        elif (found := classify_failure(negative)) != kind:
            out.rejected = f"{kind}: the mistake made was {found}"
        else:
            source = {"strategy": self.name, "positive": "llm/answer", "negative_type": kind,
                      "shape": "steps" if len(actions) > 1 else "answer",
                      "model": self.llm.model}
            out.triplet = Triplet(task.id, "game24", task.instruction, positive, negative,
                                  source)
        return out

    def _ask(self, prompt: str, seed: int, out: Attempt) -> str:
        completions = self.llm.generate([{"role": "user", "content": prompt}], n=1,
                                        temperature=self.temperature,
                                        max_tokens=self.max_tokens, seed=seed)
        out.cost.add(completion_cost(completions))
        return completions[0].text


class Game24LLMStrategy:
    """``game24.llm``: ``config.count`` LLM attempts (resumable: each is a record in
    ``attempts.jsonl``), then every verified triplet they made.

    Args:
        max_tokens: Reply length limit of both prompts.
    """

    name = "game24-llm"
    ATTEMPTS = "attempts.jsonl"

    def __init__(self, *, max_tokens: int = 160) -> None:
        self.max_tokens = max_tokens
        self.rejected: dict[str, int] = {}
        self.attempts: int | None = None

    def triplets(self, ctx: SynthContext) -> Iterator[Triplet]:
        from armap.jsonl import read_jsonl
        from armap.runner import make_episodes, run_episodes

        assert ctx.make_llm is not None
        config = ctx.config
        seeds = [Task(f"attempt-{i}", "game24", "") for i in range(config.count)]
        path = ctx.run.file(self.ATTEMPTS)
        with AttemptWork(ctx.make_llm, excluded=ctx.reserved, temperature=config.temperature,
                         max_tokens=self.max_tokens) as work:
            if config.runner.in_process:
                work.prepare()
            run_episodes(make_episodes(seeds, 1, config.seed), work, path,
                         key=attempt_key, executor=config.runner.make_executor(),
                         desc="synthesize (llm)")
        records = list(read_jsonl(path))
        self.attempts = len(records)
        for r in records:
            if r["rejected"]:
                self.rejected[r["rejected"]] = self.rejected.get(r["rejected"], 0) + 1
        for r in records:
            if r["triplet"]:
                yield Triplet.from_dict(r["triplet"])


class AttemptWork(Work[Episode, dict[str, Any]]):
    """One LLM synthesis attempt, as its record; the LLM is made once per process.

    Args:
        make_llm: Builds the generating model (sent to Ray actors as it is: keep it a plain
            function of the config).
        excluded, temperature, max_tokens: As for `Game24LLMSynth`.
    """

    def __init__(self, make_llm: Callable[[], LLM], *, excluded: Collection[str],
                 temperature: float, max_tokens: int) -> None:
        super().__init__()
        self.make_llm = make_llm
        self.excluded = set(excluded)
        self.temperature = temperature
        self.max_tokens = max_tokens

    def synth(self) -> Game24LLMSynth:
        """The synthesiser of this process."""
        return self.shared("synth", lambda: Game24LLMSynth(
            self.make_llm(), excluded=self.excluded, temperature=self.temperature,
            max_tokens=self.max_tokens))

    def prepare(self) -> None:
        self.synth()

    def __call__(self, episode: Episode) -> dict[str, Any]:
        return self.synth().attempt(episode.key, episode.seed).to_dict()


def attempt_key(record: dict[str, Any]) -> str:
    """The attempt a record belongs to."""
    return str(record["key"])


def parse_proposal(text: str) -> tuple[tuple[int, ...] | None, str | None]:
    """The puzzle (four numbers in 1..13, sorted) and the solution text of a proposal."""
    pm, sm = _PUZZLE.search(text), _SOLUTION.search(text)
    puzzle = None
    if pm:
        numbers = [int(x) for x in re.findall(r"[0-9]+", pm.group(1))]
        if len(numbers) == 4 and all(1 <= x <= 13 for x in numbers):
            puzzle = tuple(sorted(numbers))
    solution = sm.group(1).strip() if sm else None
    return puzzle, solution
