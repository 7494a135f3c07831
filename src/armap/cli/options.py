"""Generate typer options from config dataclasses, so each default and help lives only in the
dataclass. Nested dataclass fields (e.g. ``ExploreConfig.llm``) become flat options."""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import threading
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from armap.config import from_dict, load_config_file

C = TypeVar("C")


def _flat_fields(cls: type) -> list[tuple[tuple[str, ...], dataclasses.Field[Any], Any]]:
    """(path, field, type) for every leaf field, depth first."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        ftype = hints[f.name]
        if dataclasses.is_dataclass(ftype):
            out += [((f.name, *p), sf, st) for p, sf, st in _flat_fields(ftype)]  # type: ignore[arg-type]
        else:
            out.append(((f.name,), f, ftype))
    return out


def _flag(name: str, ftype: Any) -> str:
    """``--name``, or ``--name/--no-name`` for a boolean (so a True default can be turned off)."""
    flag = name.replace("_", "-")
    return f"--{flag}/--no-{flag}" if ftype is bool else f"--{flag}"


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return ...


def config_command(
    app: typer.Typer,
    name: str,
    config_cls: type[C],
    run: Callable[..., None],
    *,
    help: str,
    extra: list[inspect.Parameter] | None = None,
) -> None:
    """Register ``armap <name>``: options from ``config_cls`` plus ``--config FILE`` and
    ``extra`` parameters; ``run(config, **extra_values)`` does the work."""
    leaves = _flat_fields(config_cls)
    names = [p[-1] for p, _, _ in leaves]
    if len(set(names)) != len(names):
        raise ValueError(f"{config_cls.__name__}: nested option names collide")
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)]
    params += [
        inspect.Parameter(
            path[-1], inspect.Parameter.KEYWORD_ONLY, annotation=ftype,
            default=typer.Option(_default(f), _flag(path[-1], ftype),
                                 help=f.metadata.get("help", "")),
        )
        for path, f, ftype in leaves
    ]
    params.append(inspect.Parameter(
        "config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
        default=typer.Option(None, "--config", help="JSON or YAML file of option values; "
                             "options given on the command line win.")))
    params += extra or []
    extra_names = [p.name for p in extra or []]

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        values: dict[str, Any] = {}
        config_file = kwargs.pop("config_file")
        if config_file is not None:
            values = _nest(load_config_file(config_file), leaves)
        for path, _, _ in leaves:
            source = ctx.get_parameter_source(path[-1])
            from_default = source is None or source.name in ("DEFAULT", "DEFAULT_MAP")
            if not from_default or not _has(values, path):
                _set(values, path, kwargs[path[-1]])
        config = from_dict(config_cls, values)
        try:
            run(config, **{k: kwargs[k] for k in extra_names})
        except KeyboardInterrupt:
            exit_interrupted()

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = help
    app.command(name, help=help)(command)


INTERRUPTED = "interrupted: finished records are kept; re-run the same command to resume"


def exit_interrupted() -> NoReturn:
    """Say what Ctrl-C kept and exit with status 130 at once.

    Worker threads may still wait on a hung request; the process does not wait for them
    (every finished record is already on disk and the run's manifest says ``interrupted``).
    """
    typer.secho(INTERRUPTED, fg=typer.colors.YELLOW, err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        os._exit(130)
    raise typer.Exit(130)


def _nest(given: dict[str, Any], leaves: list[tuple[tuple[str, ...], Any, Any]],
          group: tuple[str, ...] = ()) -> dict[str, Any]:
    """A config file's values at their paths in the config. Accepts flat files
    (``{"model": ..}``), nested ones (``{"agent": {"llm": {"model": ..}}}``) and any mix;
    a group may be named by its last part (``{"llm": {"model": ..}}``). Unknown names are kept
    for `from_dict` to report."""
    inside = [p for p, _, _ in leaves if p[:len(group)] == group]
    out: dict[str, Any] = {}
    for key, value in given.items():
        leaf = [p for p in inside if p[-1] == key]
        sub = sorted({p[:i + 1] for p in inside for i in range(len(group), len(p) - 1)
                      if p[i] == key}, key=len)
        if isinstance(value, dict) and sub:
            for path, v in _flatten(_nest(value, leaves, sub[0])):
                _set(out, path, v)
        elif leaf:
            _set(out, leaf[0], value)
        else:
            _set(out, (*group, key), value)  # from_dict reports the unknown key
    return out


def _flatten(d: dict[str, Any], prefix: tuple[str, ...] = ()
             ) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += _flatten(v, (*prefix, k))
        else:
            out.append(((*prefix, k), v))
    return out


def _has(d: dict[str, Any], path: tuple[str, ...]) -> bool:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return False
        d = d[p]
    return True


def _set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        d = d.setdefault(p, {})
    d[path[-1]] = value
