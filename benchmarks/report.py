"""The output of the benchmarks: a markdown table of measures, and the JSON result file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_report(rows: list[tuple[str, Any]], result: dict[str, Any], out: str | Path) -> None:
    """Print ``rows`` as a two-column table and write ``result`` to ``out`` as JSON."""
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
