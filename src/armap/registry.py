"""Registries that map versioned ids such as ``game24-v0`` to lazy ``module:attr`` entry points.

Nothing is imported until `Registry.make` is called, so ``import armap`` starts no Java process
and loads no model. A bare name (``game24``) resolves to its highest registered version.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from armap.errors import UnknownNameError

T = TypeVar("T")
_ID = re.compile(r"^(?P<name>[a-z0-9_][a-z0-9_.-]*?)(?:-v(?P<version>\d+))?$")


@dataclass(frozen=True)
class Spec:
    """A registered id: where to find the implementation and the keyword defaults to pass it."""

    id: str
    entry_point: str | Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return _split(self.id)[0]

    @property
    def version(self) -> int | None:
        return _split(self.id)[1]

    def load(self) -> Callable[..., Any]:
        if callable(self.entry_point):
            return self.entry_point
        module, _, attr = self.entry_point.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


def _split(id_: str) -> tuple[str, int | None]:
    m = _ID.match(id_)
    if not m:
        raise ValueError(f"invalid id {id_!r}: use lowercase 'name' or 'name-vN'")
    version = m.group("version")
    return m.group("name"), (int(version) if version is not None else None)


class Registry(Generic[T]):
    """One registry per plug-in kind (environments, LLM backends, planners, reward models)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._specs: dict[str, Spec] = {}

    def register(
        self, id: str, entry_point: str | Callable[..., T], **kwargs: Any
    ) -> None:
        """Register ``id`` (``name`` or ``name-vN``); re-registering an id replaces it."""
        _split(id)
        self._specs[id] = Spec(id, entry_point, kwargs)

    def ids(self, *, ordered: bool = False) -> list[str]:
        """Registered ids, sorted (or in registration order with ``ordered``)."""
        return list(self._specs) if ordered else sorted(self._specs)

    def spec(self, id: str) -> Spec:
        """The spec for ``id``; a bare name gives its latest version."""
        if id in self._specs:
            return self._specs[id]
        name, version = _split(id) if _ID.match(id) else (id, None)
        if version is None:
            versions = [s for s in self._specs.values() if s.name == name]
            if versions:
                return max(versions, key=lambda s: s.version or -1)
        known = self.ids() + sorted({s.name for s in self._specs.values()})
        raise UnknownNameError(self.kind, id, known)

    def make(self, id: str, **kwargs: Any) -> T:
        """Build the object for ``id``; ``kwargs`` override the registered defaults."""
        spec = self.spec(id)
        return spec.load()(**{**spec.kwargs, **kwargs})

    def __contains__(self, id: object) -> bool:
        try:
            self.spec(str(id))
        except UnknownNameError:
            return False
        return True
