"""Which floating-point precision to run torch models in (shared by the LLM and reward model).

Imports torch only when asked, so configuration modules can use `DTYPES` cheaply.
"""

from __future__ import annotations

from typing import Any

from armap.errors import ConfigError

DTYPES = ("auto", "bfloat16", "float32")


def torch_dtype(name: str) -> Any:
    """The torch dtype for a resolved name (``bfloat16`` or ``float32``)."""
    import torch

    return {"bfloat16": torch.bfloat16, "float32": torch.float32}[name]


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN has native bfloat16 kernels on this CPU (AVX-512 BF16 / AMX, Arm BF16).

    Without them (e.g. AVX2-only x86) bfloat16 matmuls are emulated and several times slower
    than float32.
    """
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: str) -> str:
    """``"auto"`` -> ``"bfloat16"`` on a GPU or a CPU with native bf16 kernels, else
    ``"float32"``; other values are checked and returned."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype={dtype!r} is not one of: {', '.join(DTYPES)}")
    if dtype == "auto":
        import torch

        return "bfloat16" if torch.cuda.is_available() or cpu_has_fast_bf16() else "float32"
    return dtype
