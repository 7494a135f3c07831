"""Policies propose the next action(s) for a partial trajectory.

`LLMPolicy` renders a prompt pack, asks an LLM, and parses each reply with the environment's
action parser, keeping the raw reply as the step's thought. In ``choice`` mode the prompt lists
the env's valid actions; with a backend that can score continuations (the local one) the policy
then ranks the listed actions by log-likelihood and samples from their softmax, which always
yields a valid action. `RandomPolicy` samples the env's valid actions (the explorer of the
paper's first stage when no LLM is wanted).
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from armap.config import check_choice, opt
from armap.errors import ConfigError
from armap.llm import EMBEDDED_MODEL, LLMConfig, make_llm
from armap.llm.base import LLM, Message, SupportsRanking, completion_cost
from armap.prompts import PromptPack
from armap.registry import Registry
from armap.types import Cost, Step, Task, Trajectory

if TYPE_CHECKING:
    from armap.envs.base import Env

PromptMode = Literal["free", "choice"]
RANK_CACHE_SIZE = 4096
"""Rankings kept per policy: the same prompt and candidates are never scored twice."""
REFLECTION = PromptPack.from_file(Path(__file__).parent / "prompts" / "reflect.txt")
PROMPT_MODES: tuple[str, ...] = ("free", "choice")


explorers: Registry[Policy] = Registry("explorer policy")
"""Environment-specific explorers, ``<family>.<name>`` (e.g. ``webshop.heuristic``)."""
explorers.register("webshop.heuristic", "armap.envs.webshop.explorer:HeuristicShopper")


def explorer_names() -> tuple[str, ...]:
    """The names `AgentConfig.policy` accepts besides llm and random."""
    return tuple(sorted({i.split(".", 1)[1] for i in explorers.ids()}))


@dataclass
class AgentConfig:
    """Who acts: the policy, and the LLM behind it."""

    policy: str = opt("llm", "Who acts: llm (an LLM with the env's prompt pack), random "
                      "(uniform over the env's valid actions) or an environment's own explorer "
                      "(webshop: heuristic).")
    slip: float = opt(0.0, "Random policy: probability that a proposal repeats the previous "
                      "action (a realistic wasted step), so episodes vary in length.")
    prompt_mode: str = opt("auto", "Prompt pack mode: free (the LLM writes the action), "
                           "choice (the prompt lists valid actions) or auto (choice for the "
                           "embedded model, free otherwise).")
    llm: LLMConfig = field(default_factory=LLMConfig)

    def __post_init__(self) -> None:
        check_choice("policy", self.policy, ("llm", "random", *explorer_names()))
        check_choice("prompt_mode", self.prompt_mode, ("auto", *PROMPT_MODES))
        if not 0.0 <= self.slip < 1.0:
            raise ConfigError(f"slip must be in [0, 1), not {self.slip}")

    def resolved_prompt_mode(self) -> str:
        if self.prompt_mode != "auto":
            return self.prompt_mode
        return "choice" if self.llm.llm == "local" and self.llm.model == EMBEDDED_MODEL else "free"


def build_policy(agent: AgentConfig, env_family: str,
                 parse_action: Callable[[str], str | None]) -> Policy:
    """The policy ``agent`` describes for an environment family (its prompt pack) and the
    env's action parser (`Env.parse_action`)."""
    if agent.policy == "random":
        return RandomPolicy(slip=agent.slip)
    if agent.policy != "llm":
        return explorers.make(f"{env_family}.{agent.policy}")
    mode = agent.resolved_prompt_mode()
    return LLMPolicy(make_llm(agent.llm), PromptPack.load(env_family, mode), parse_action,
                     mode=mode, max_tokens=agent.llm.max_tokens)  # type: ignore[arg-type]


class Policy(Protocol):
    """Anything that proposes actions; `name` goes into trajectory metadata."""

    name: str

    def propose(
        self,
        context: Trajectory,
        *,
        n: int = 1,
        temperature: float = 0.0,
        valid_actions: list[str] | None = None,
        seed: int | None = None,
        reflections: list[str] | None = None,
        cost: Cost | None = None,
    ) -> list[Step]:
        """``n`` proposed next steps (observation empty) after the partial ``context``."""
        ...


class RandomPolicy:
    """Uniform choice among the env's valid actions (ignores temperature). Asked for ``n``
    proposals, it returns distinct actions while there are enough of them.

    Args:
        slip: Probability that a proposal repeats the previous action instead (an agent
            looping; most environments reject the repeat or make no progress). With ``slip``
            above 0 episodes vary in length, which the length target can then shorten.
    """

    name = "random"

    def __init__(self, slip: float = 0.0) -> None:
        if not 0.0 <= slip < 1.0:
            raise ValueError(f"slip must be in [0, 1), not {slip}")
        self.slip = slip
        if slip:
            self.name = f"random(slip={slip:g})"

    def propose(
        self,
        context: Trajectory,
        *,
        n: int = 1,
        temperature: float = 0.0,
        valid_actions: list[str] | None = None,
        seed: int | None = None,
        reflections: list[str] | None = None,
        cost: Cost | None = None,
    ) -> list[Step]:
        if not valid_actions:
            raise ValueError("RandomPolicy needs an env that lists its valid actions")
        rng = random.Random(seed)
        if n <= len(valid_actions):
            actions = rng.sample(valid_actions, n)
        else:
            actions = [rng.choice(valid_actions) for _ in range(n)]
        if self.slip and context.steps:
            previous = context.steps[-1].action
            actions = [previous if rng.random() < self.slip else a for a in actions]
            actions = list(dict.fromkeys(actions)) if n <= len(valid_actions) else actions
        return [Step(a) for a in actions]


class LLMPolicy:
    """Prompt pack + LLM + action parser.

    Args:
        llm: Any `armap.llm.LLM` backend.
        prompts: The prompt pack for the environment and mode.
        parse_action: The environment's parser (`Env.parse_action`).
        mode: ``free`` (the LLM writes the action) or ``choice`` (the prompt lists the valid
            actions; ranked by log-likelihood when the backend supports it).
        max_tokens: Reply length limit.
        rank: In choice mode, rank candidates by likelihood when the backend can (default)
            instead of generating a reply.
    """

    def __init__(
        self,
        llm: LLM,
        prompts: PromptPack,
        parse_action: Callable[[str], str | None],
        *,
        mode: PromptMode = "free",
        max_tokens: int = 64,
        rank: bool = True,
    ) -> None:
        check_choice("mode", mode, PROMPT_MODES)
        self.llm = llm
        self.prompts = prompts
        self.parse_action = parse_action
        self.mode = mode
        self.max_tokens = max_tokens
        self.rank = rank
        self.name = f"llm:{llm.model}:{mode}"
        self._ranked: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.rank_hits = 0  # ranking requests answered from the memo
        self.rank_calls = 0  # ranking requests the LLM computed

    def propose(
        self,
        context: Trajectory,
        *,
        n: int = 1,
        temperature: float = 0.0,
        valid_actions: list[str] | None = None,
        seed: int | None = None,
        reflections: list[str] | None = None,
        cost: Cost | None = None,
    ) -> list[Step]:
        candidates = valid_actions if self.mode == "choice" else None
        if candidates and self.rank and isinstance(self.llm, SupportsRanking):
            # Ranked by likelihood: the candidates are scored, not listed in the prompt.
            messages = self.prompts.render(context, reflections=reflections)
            return self._rank(messages, candidates, n, temperature, seed, cost)
        messages = self.prompts.render(context, candidates=candidates, reflections=reflections)
        completions = self.llm.generate(messages, n=n, temperature=temperature,
                                        max_tokens=self.max_tokens, seed=seed)
        if cost is not None:
            cost.add(completion_cost(completions))
        return [Step(self._action(c.text), thought=c.text) for c in completions]

    def reflect(self, attempt: Trajectory, score: float | None = None, *,
                cost: Cost | None = None) -> str:
        """A short lesson from an unsuccessful ``attempt`` (ARMAP-R), written by the LLM."""
        messages = REFLECTION.render(attempt)
        [completion] = self.llm.generate(messages, n=1, temperature=0.0,
                                         max_tokens=self.max_tokens)
        if cost is not None:
            cost.add(completion_cost([completion]))
        lesson = " ".join(completion.text.split())[:400]
        return lesson or "The last attempt failed; try a different first step."

    def _action(self, text: str) -> str:
        action = self.parse_action(text)
        if action is not None:
            return action
        # Nothing well-formed: send the first line so the env records a wasted step.
        first = text.strip().splitlines()[0].strip() if text.strip() else ""
        return first or "(empty reply)"

    def _rank(self, messages: list[Message], candidates: list[str], n: int,
              temperature: float, seed: int | None, cost: Cost | None) -> list[Step]:
        assert isinstance(self.llm, SupportsRanking)
        if len(candidates) == 1:  # nothing to choose: no LLM call
            return [Step(candidates[0], thought="[the only valid action]") for _ in range(n)]
        key = json.dumps([messages, candidates])
        logprobs = self._ranked.get(key)
        if logprobs is None:
            logprobs = self.llm.continuation_logprobs(messages, candidates,
                                                      per_token=self.prompts.rank == "mean")
            self.rank_calls += 1
            if cost is not None:
                cost.add(Cost(llm_calls=1))
            with self._lock:
                if len(self._ranked) >= RANK_CACHE_SIZE:
                    self._ranked.pop(next(iter(self._ranked)))
                self._ranked[key] = logprobs
        else:
            self.rank_hits += 1
        if temperature <= 0:
            best = max(range(len(candidates)), key=lambda i: logprobs[i])
            picks = [best] * n
        else:
            top = max(logprobs)
            weights = [math.exp((lp - top) / temperature) for lp in logprobs]
            picks = random.Random(seed).choices(range(len(candidates)), weights, k=n)
        return [Step(candidates[i], thought=f"[ranked {len(candidates)} candidates; "
                     f"logprob {logprobs[i]:.2f}]") for i in picks]


def ranking_probes(env: Env, prompts: PromptPack, tasks: list[Task], *, seed: int = 0
                   ) -> list[tuple[list[Message], list[str]]]:
    """(messages, candidates) as a choice-mode policy ranks them, along one random walk per
    task: every state of the walk that lists two or more valid actions gives one probe.

    Used to compare ranking backends on the prompts they really see.
    """
    rng = random.Random(seed)
    probes: list[tuple[list[Message], list[str]]] = []
    for task in tasks:
        trajectory = Trajectory(task=task, initial_observation=env.reset(task))
        for _ in range(env.step_limit(task)):
            actions = env.valid_actions() or []
            if len(actions) >= 2:
                probes.append((prompts.render(trajectory), list(actions)))
            if not actions:
                break
            action = rng.choice(actions)
            observation, done = env.step(action)
            trajectory.steps.append(Step(action, observation=observation))
            if done:
                break
    return probes
