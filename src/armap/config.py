"""Configuration dataclasses: each default and each help text is written once, here.

`opt` declares a field with its help; the CLI (`armap.cli.options`) turns the fields of a config
dataclass into command-line options, and `load_config_file` reads the same fields from JSON or
YAML. The resolved config (`dataclasses.asdict`) goes into every run manifest.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

from armap.errors import ConfigError

C = TypeVar("C")


def opt(default: Any, help: str, *, volatile: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with its help text.

    ``volatile`` marks a field that does not change results (worker count, task limit), so a
    run may be resumed with a different value.
    """
    metadata: dict[str, Any] = {"help": help, "volatile": volatile}
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise `ConfigError` listing the valid values when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(map(str, choices))}")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML mapping of config field names to values."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    return data


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build config ``cls`` from a (possibly nested) mapping, rejecting unknown keys."""
    kwargs: dict[str, Any] = {}
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{cls.__name__} has no option {key!r}; known: {', '.join(known)}")
        ftype = known[key].type
        sub = _dataclass_type(cls, key, ftype)
        kwargs[key] = from_dict(sub, value) if sub and isinstance(value, dict) else value
    return cls(**kwargs)


def _dataclass_type(cls: type, name: str, ftype: Any) -> type | None:
    import typing

    hints = typing.get_type_hints(cls)
    t = hints.get(name, ftype)
    return t if dataclasses.is_dataclass(t) else None


def resume_relevant(config: Any) -> dict[str, Any]:
    """The config as a dict without volatile fields: what must match to resume a run."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.metadata.get("volatile"):
            continue
        value = getattr(config, f.name)
        out[f.name] = resume_relevant(value) if dataclasses.is_dataclass(value) else value
    return out
