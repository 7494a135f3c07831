"""What armap shows on the terminal: one progress bar per stage, and no library chatter.

Every stage draws its bar with `progress`; a bar opened while another one is showing (a
per-batch bar inside a scoring stage, anything a worker thread opens during an evaluation)
stays silent, so the terminal shows one bar per stage. `configure` sets up logging for the
CLI and, unless the level is DEBUG, silences the libraries underneath (transformers' weight
loading bars and load reports, tokenizer length warnings, HTTP request logs, llama.cpp's load
details, which armap routes into its own DEBUG log).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

NOISY_LOGGERS = ("transformers", "huggingface_hub", "sentence_transformers", "peft", "torch",
                 "urllib3", "httpx", "httpcore", "filelock", "py4j", "bm25s", "jieba")
"""Loggers of libraries that report their own routine work; at ERROR unless DEBUG."""

QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "TOKENIZERS_PARALLELISM": "false"}
"""Environment variables read by transformers, huggingface_hub and tokenizers when they load
(a value the user set wins)."""

QUIET_WARNING_MODULES = r"(transformers|peft|huggingface_hub|torch)(\.|$)"
"""Modules whose deprecation notices (FutureWarning, DeprecationWarning) are for developers,
not for a user of armap (e.g. transformers' `is_gradient_checkpointing` one when training with
LoRA); ignored unless DEBUG."""

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

_lock = threading.Lock()
_showing = 0  # bars open and visible, across threads


class _StageBar(tqdm):  # type: ignore[misc]
    """A tqdm bar that counts itself as showing while open, so nested bars stay silent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        global _showing
        with _lock:
            if _showing:
                kwargs["disable"] = True
            self._counted = not kwargs.get("disable", False)
            _showing += self._counted
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        global _showing
        with _lock:
            if getattr(self, "_counted", False):
                self._counted = False
                _showing -= 1

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


def progress(iterable: Iterable[Any] | None = None, *, total: float | None = None,
             desc: str = "", unit: str = "it", initial: float = 0,
             enabled: bool = True) -> tqdm:
    """The progress bar of one stage, on stderr, as wide as the terminal.

    Use it as a context manager (or ``close()`` it); it can wrap an iterable like tqdm. A bar
    asked for while another is showing, in any thread, is silent (a no-op with the same
    methods), and so is one with ``enabled=False``.
    """
    return _StageBar(iterable, total=total, desc=desc, unit=unit, initial=initial,
                     disable=not enabled, dynamic_ncols=True, leave=True)


def number(x: float | None, spec: str = ".3f") -> str:
    """``x`` formatted with ``spec`` for a table or a summary line; ``-`` for None."""
    return "-" if x is None else format(x, spec)


def configure(level: str) -> None:
    """Set up logging at ``level`` (DEBUG, INFO, WARNING or ERROR) for a command-line run.

    Below DEBUG, the libraries armap drives are quietened: their loggers go to ERROR (the
    tokenizer's length warning and transformers' load report are log records, not Python
    warnings), their progress bars off, through `QUIET_ENV` for those not loaded yet, and
    their deprecation notices ignored (`QUIET_WARNING_MODULES`). At
    DEBUG they are left as they are, with armap's own debug log (llama.cpp's lines included)
    on top.
    """
    level = level.upper()
    logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger().setLevel(level)
    if level == "DEBUG":
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=QUIET_WARNING_MODULES)
    if "transformers" in sys.modules:  # loaded already: its env variables were read
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
