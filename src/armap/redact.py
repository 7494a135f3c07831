"""Keep credentials out of everything armap writes or prints.

A URL may carry a user name and password (``http://user:secret@host/v1``) or a key in its
query (``?api_key=...``). `redact` masks both wherever they occur in a string; `redact_value`
does it through nested JSON-like data (manifests, error records).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:api[_-]?key|key|token|access[_-]?token|secret|password)=)[^&\s#]+",
    re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with URL credentials (user info, secret query values) masked."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)


def redact_value(value: Any) -> Any:
    """A copy of JSON-like ``value`` with every string passed through `redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
