"""Where data shipped beside a checkout lives: ``../shared/data/...``."""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
"""The checkout that holds this package (when it is installed from source)."""


def shared_data_candidates(*parts: str) -> list[Path]:
    """``../shared/data/<parts>`` next to the current directory, then next to the checkout,
    in the order to try them."""
    return [(base / ".." / "shared" / "data" / Path(*parts)).resolve()
            for base in (Path.cwd(), CHECKOUT)]
