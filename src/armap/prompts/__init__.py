"""Prompt packs: per-environment text templates, one file per mode.

A pack file has sections introduced by ``### system``, ``### user`` and optionally
``### step`` (how one past step is shown; default ``$action`` then ``$observation``),
``### candidates`` (how listed valid actions are shown, with ``$list``; choice mode) and
``### settings`` (``name: value`` lines: `history_steps`, `history_chars` and `latest_chars`,
the caps that keep long episodes within a small model's context, and `rank`, how a model that
ranks candidates scores them: ``sum`` of their token log-probabilities, or ``mean`` per token
so long candidates such as product ids are not penalized for their length). Templates
use ``$name`` placeholders (`string.Template`): ``$instruction``, ``$initial_observation``,
``$observation`` (the latest one), ``$history`` (the rendered steps), ``$candidates`` (the
candidates section, empty when no actions are listed, e.g. when a local model ranks them by
likelihood instead) and ``$reflections`` (lessons from earlier attempts).

Long episodes are kept within a small model's context: the history shows at most
``history_steps`` latest steps (older ones are counted, not shown), each past observation is
cut at ``history_chars`` characters, and the latest observation (the page the agent acts on) at
``latest_chars``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from armap.errors import ConfigError
from armap.llm.base import Message
from armap.text import MAX_OBSERVATION_CHARS, cap, elide_instruction
from armap.types import Trajectory

_SECTION = re.compile(r"^### (system|user|step|candidates|settings)\s*$", re.MULTILINE)
_LIMITS = ("history_steps", "history_chars", "latest_chars")
RANKINGS = ("sum", "mean")


@dataclass(frozen=True)
class PromptPack:
    """The templates that turn a partial trajectory into chat messages."""

    system: str
    user: str
    step: str = "$action\n$observation"
    candidates: str = "$list"
    history_steps: int = 8
    history_chars: int = MAX_OBSERVATION_CHARS
    latest_chars: int = 4 * MAX_OBSERVATION_CHARS
    rank: str = "sum"

    @classmethod
    def parse(cls, text: str) -> PromptPack:
        parts = _SECTION.split(text)
        sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
        if "user" not in sections:
            raise ConfigError("a prompt pack needs a '### user' section")
        limits: dict[str, Any] = {}
        for line in sections.get("settings", "").splitlines():
            if not line.strip():
                continue
            name, _, value = (x.strip() for x in line.partition(":"))
            if name == "rank" and value in RANKINGS:
                limits[name] = value
            elif name in _LIMITS and value.isdigit():
                limits[name] = int(value)
            else:
                raise ConfigError(f"prompt pack setting {line.strip()!r}: use one of "
                                  f"{', '.join(_LIMITS)} with a whole number, or rank: "
                                  f"{' or '.join(RANKINGS)}")
        return cls(sections.get("system", ""), sections["user"],
                   sections.get("step", cls.step), sections.get("candidates", cls.candidates),
                   **limits)

    @classmethod
    def load(cls, env: str, mode: str) -> PromptPack:
        """The pack shipped for env family ``env`` (e.g. ``game24``) and ``mode``."""
        name = env.split("-v")[0]
        path = resources.files("armap.prompts") / name / f"{mode}.txt"
        if not path.is_file():
            raise ConfigError(f"no prompt pack {mode!r} for environment {name!r}")
        return cls.parse(path.read_text(encoding="utf-8"))

    @classmethod
    def from_file(cls, path: str | Path) -> PromptPack:
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    def render(
        self,
        context: Trajectory,
        *,
        candidates: list[str] | None = None,
        reflections: list[str] | None = None,
    ) -> list[Message]:
        """Chat messages asking for the next action after ``context``."""
        shown = context.steps[-self.history_steps:] if self.history_steps else []
        instruction = context.task.instruction

        def elide(observation: str) -> str:
            return elide_instruction(observation, instruction)

        steps = [Template(self.step).safe_substitute(
            action=s.action, observation=cap(elide(s.observation), self.history_chars))
            for s in shown]
        if len(shown) < len(context.steps):
            steps.insert(0, f"[{len(context.steps) - len(shown)} earlier steps omitted]")
        latest = context.steps[-1].observation if context.steps else context.initial_observation
        values = {
            "instruction": context.task.instruction,
            "initial_observation": cap(elide(context.initial_observation), self.latest_chars),
            "observation": cap(elide(latest), self.latest_chars),
            "history": "\n".join(steps) if steps else "(none yet)",
            "candidates": Template(self.candidates).safe_substitute(
                list="\n".join(candidates)) if candidates else "",
            "reflections": _reflections(reflections),
        }
        user = Template(self.user).safe_substitute(values)
        user = re.sub(r"\n{3,}", "\n\n", user).strip()
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": user})
        return messages


def _reflections(reflections: list[str] | None) -> str:
    if not reflections:
        return ""
    lines = "\n".join(f"- {r}" for r in reflections)
    return f"Lessons from your earlier attempts at this task:\n{lines}\n"
