"""Game of 24 triplets for the reward tests, from the rule-based synthesis strategy."""

import itertools
from functools import cache

from armap.envs.game24.env import Game24Env
from armap.synth.game24 import Game24Rules
from armap.types import Triplet


@cache
def _triplets(n: int, seed: int, split: str, kinds: tuple[str, ...] | None) -> tuple:
    tasks = Game24Env().tasks(split)
    rules = Game24Rules(tasks[seed * 7 % 500:][:n * 2], seed=seed)
    stream = rules.triplets()
    if kinds is not None:
        stream = (t for t in stream if t.negative_type in kinds)
    return tuple(itertools.islice(stream, n))


def game24_triplets(n: int, *, seed: int = 0, split: str = "train",
                    kinds: tuple[str, ...] | None = None) -> list[Triplet]:
    """``n`` verified triplets of distinct-ish puzzles (cached per arguments)."""
    return list(_triplets(n, seed, split, kinds))
