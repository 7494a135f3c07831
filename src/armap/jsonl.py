"""JSON Lines files that survive interruption: append-and-flush writes, strict reads.

Writers flush and fsync after every record, so a killed process keeps every finished record.
A reader reports a corrupt line with its file and line number. The one exception is a final
line without a newline: that is what an interrupted write leaves, and `repair_tail` removes it
before a run resumes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from armap.errors import ArmapError, CorruptRecordError, MissingFileError, SchemaVersionError

log = logging.getLogger(__name__)
T = TypeVar("T")


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield each record of ``path``; raise `CorruptRecordError` naming the bad line."""
    for _, record in numbered_records(path):
        yield record


def numbered_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each record of ``path`` (blank lines skipped).

    Raises `MissingFileError` for a missing file and `CorruptRecordError` naming the file and
    line for a line that is not UTF-8, not JSON, or not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a JSON Lines file" if path.is_dir() else "does not exist"
        raise MissingFileError(f"{path} {what}")
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CorruptRecordError(
                    f"{path}:{lineno}: not UTF-8 text (byte {raw[e.start]:#04x} at column "
                    f"{e.start + 1}); fix or delete that line") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as e:
                msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
                raise CorruptRecordError(
                    f"{path}:{lineno}: not a JSON record ({msg}); fix or delete that line"
                ) from None
            if not isinstance(record, dict):
                raise CorruptRecordError(f"{path}:{lineno}: expected a JSON object, found "
                                         f"{type(record).__name__}; fix or delete that line")
            yield lineno, record


def read_records(path: str | Path, parse: Callable[[dict[str, Any]], T], kind: str
                 ) -> Iterator[T]:
    """Parse each record of ``path`` with ``parse`` (e.g. `Trajectory.from_dict`).

    A record of the wrong shape raises `CorruptRecordError` naming the file, the line and
    what is wrong; other armap errors (an unknown schema version) get the line too.
    """
    for lineno, record in numbered_records(path):
        try:
            yield parse(record)
        except ArmapError as e:
            cls = type(e) if type(e) in (SchemaVersionError, CorruptRecordError) \
                else CorruptRecordError
            raise cls(f"{path}:{lineno}: {e}") from None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
            detail = f"missing field {e.args[0]!r}" if isinstance(e, KeyError) else str(e)
            raise CorruptRecordError(
                f"{path}:{lineno}: not a {kind} record ({detail[:200]}); is this the right "
                f"file? Fix or delete that line") from None


def repair_tail(path: str | Path) -> int:
    """Cut an unterminated last line (left by a killed writer). Returns bytes removed."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open("rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
    removed = len(data) - keep
    log.warning("%s: removed an incomplete last line (%d bytes) left by an interrupted run",
                path, removed)
    return removed


class JsonlWriter:
    """Appends records to a JSON Lines file, one flushed and fsynced line per record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self._f: IO[str] | None = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Append records in one write, then flush and fsync."""
        if self._f is None:
            raise ValueError(f"writer for {self.path} is closed")
        self._f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
