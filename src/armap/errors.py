"""The exceptions armap raises for problems a user can fix. Each message names the fix."""

from __future__ import annotations

import difflib


class ArmapError(Exception):
    """Base class: the CLI prints these without a traceback."""


class UnknownNameError(ArmapError, KeyError):
    """A registry id (env, LLM backend, planner, ...) that is not registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class SchemaVersionError(ArmapError):
    """A record written by an incompatible armap version."""


class CorruptRecordError(ArmapError):
    """A JSON Lines file with a line that is not a valid record."""


class MissingFileError(ArmapError, FileNotFoundError):
    """An input file or directory named by the user does not exist."""

    def __str__(self) -> str:  # OSError would otherwise format its arguments
        return str(self.args[0])


class MissingDependencyError(ArmapError, ImportError):
    """An optional package is needed; the message says what to install."""

    def __init__(self, package: str, purpose: str, install: str) -> None:
        super().__init__(f"{purpose} needs the package {package!r}: {install}")


class ConfigError(ArmapError, ValueError):
    """An invalid configuration value."""


class RunDirError(ArmapError):
    """A run directory that cannot be used as asked (e.g. resumed with a different config)."""


class LLMError(ArmapError):
    """An LLM backend failed after its retries."""


class RewardServerError(ArmapError):
    """A reward-model server refused a request or could not be reached after retries."""


class EnvProcessError(ArmapError):
    """An environment's backing process died or stopped answering."""


class RunFailedError(ArmapError):
    """Episodes of a run failed on their infrastructure (LLM server, env process): every one
    of them, or too many in a row. Finished records are kept; the failed ones are redone when
    the run is resumed."""
