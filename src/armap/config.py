"""Configuration dataclasses: each default and each help text is written once, here.

`opt` declares a field with its help; the CLI (`armap.cli.options`) turns the fields of a config
dataclass into command-line options, and `load_config_file` reads the same fields from JSON or
YAML. The resolved config (`dataclasses.asdict`) goes into every run manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import typing
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar

from armap.errors import ConfigError

C = TypeVar("C")


def opt(default: Any, help: str, *, volatile: bool = False, input: bool = False,
        **kwargs: Any) -> Any:
    """A dataclass field with its help text.

    ``volatile`` marks a field that does not change results (worker count, task limit), so a
    run may be resumed with a different value. ``input`` marks a path to an input file or
    directory: the run manifest records a hash of its content, and a resumed run must read the
    same content (wherever the file now lives).
    """
    metadata: dict[str, Any] = {"help": help, "volatile": volatile, "input": input}
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
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); YAML files "
                              "need a .yaml or .yml suffix") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    return data


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build config ``cls`` from a (possibly nested) mapping, rejecting unknown keys and
    values of the wrong type with a `ConfigError` that names the option."""
    kwargs: dict[str, Any] = {}
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{cls.__name__} has no option {key!r}; known: {', '.join(known)}")
        sub = hints[key] if dataclasses.is_dataclass(hints[key]) else None
        if sub is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"option {key!r} must be a mapping of its options, not "
                                  f"{value!r}")
            kwargs[key] = from_dict(sub, value)  # type: ignore[arg-type]
        else:
            kwargs[key] = _coerce(key, value, hints[key])
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{cls.__name__}: {e}") from None


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
          type(None): "null"}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the field type ``hint`` (ints are accepted for floats)."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, UnionType) \
        else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return None
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if option not in _NAMES:  # a type this check does not know: trust the dataclass
            return value
    wanted = " or ".join(_NAMES[o] for o in options)
    raise ConfigError(f"option {name!r} must be {wanted}, not {value!r}")


def resume_relevant(config: Any) -> dict[str, Any]:
    """The config as a dict without volatile fields: what must match to resume a run.

    An ``input`` field that names an existing file or directory (or a ``KEY=PATH`` item of an
    ``input`` list) is replaced by the hash of its content (`content_hash`), so an edited input
    file is a different config and a moved one is not.
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.metadata.get("volatile"):
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = resume_relevant(value)
        elif f.metadata.get("input") and isinstance(value, str) and Path(value).exists():
            out[f.name] = {"sha256": content_hash(value)}
        elif f.metadata.get("input") and isinstance(value, list):
            out[f.name] = [_hashed_item(v) for v in value]
        else:
            out[f.name] = value
    return out


def _hashed_item(item: Any) -> Any:
    key, sep, path = str(item).partition("=")
    if sep and path and Path(path).exists():
        return f"{key}=sha256:{content_hash(path)}"
    return item


def input_paths(config: Any) -> dict[str, str]:
    """``{name: path}`` for every input file of ``config``: each ``input`` field that is set
    (named by the field) and each ``KEY=PATH`` item of an ``input`` list (named by KEY)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(input_paths(value))
        elif f.metadata.get("input") and isinstance(value, str) and value:
            out[f.name] = value
        elif f.metadata.get("input") and isinstance(value, list):
            for item in value:
                key, sep, path = str(item).partition("=")
                if sep and path and Path(path).exists():
                    out[key.strip()] = path
    return out


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Names of what differs between two `resume_relevant` dicts; an input whose content
    changed is named ``NAME (its content changed)``. A key only ``old`` has is a field made
    volatile (or removed) since: it no longer counts."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        if "sha256" in old and "sha256" in new:
            return [f"{prefix} (its content changed)"]
        out: list[str] = []
        for k in sorted(new):
            out += config_diff(old.get(k), new[k], k)
        return out
    if isinstance(old, list) and isinstance(new, list):
        changed = []
        old_keys = {str(x).partition("=")[0]: x for x in old}
        for item in new:
            key, _, value = str(item).partition("=")
            before = old_keys.get(key)
            if before is not None and before != item and value.startswith("sha256:") and \
                    str(before).partition("=")[2].startswith("sha256:"):
                changed.append(f"{key} (its content changed)")
        return changed or [prefix]
    return [prefix]


def content_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes, or of a directory's file names and contents (files whose
    names start with a dot are left out)."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        digest.update(f"{rel.as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of one file, read in chunks (remembered while the file's size and
    modification time stay the same)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


_HASHES: dict[tuple[str, int, int], str] = {}


def keyword_options(target: Any) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a class's constructor (or a function): its options."""
    fn = target.__init__ if isinstance(target, type) else target
    return {name: p for name, p in inspect.signature(fn).parameters.items()
            if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def parse_kv_options(target: Any, items: list[str], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings (from ``--env-option`` and the like) to keyword arguments of
    ``target``, each value parsed to the type its signature declares.

    Raises `ConfigError` for bad syntax, an unknown key (with a "did you mean") and a value
    that does not parse.
    """
    from armap.errors import UnknownNameError

    known = keyword_options(target)
    hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"{what} {item!r} is not KEY=VALUE")
        if key not in known:
            raise ConfigError(str(UnknownNameError(what, key, list(known))))
        out[key] = _parse_text(f"{key}={text.strip()!r}", text.strip(), hints.get(key, str))
    return out


def _parse_text(where: str, text: str, hint: Any) -> Any:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, UnionType) \
        else (hint,)
    if type(None) in options and text.lower() in ("", "none", "null"):
        return None
    for option in options:
        if option is bool:
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
        elif option in (int, float):
            try:
                return option(text)
            except ValueError:
                continue
        elif option in (str, Path) or option is Any:
            return text
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ConfigError(f"{where}: expected {names}")
