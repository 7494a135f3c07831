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
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from armap.errors import CorruptRecordError

log = logging.getLogger(__name__)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield each record of ``path``; raise `CorruptRecordError` naming the bad line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorruptRecordError(
                    f"{path}:{lineno}: not a JSON record ({e.msg}); fix or delete that line"
                ) from None
            if not isinstance(record, dict):
                raise CorruptRecordError(f"{path}:{lineno}: expected a JSON object")
            yield record


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
