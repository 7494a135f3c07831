"""Throughput of the local LLM engines (llama.cpp and transformers) in one run.

For each engine, on the embedded SmolLM2-135M-Instruct with the same number of threads:

- first-call latency: construct the engine, load the model and return a first reply;
- generated tokens/s for n=1 and n=10 samples (temperature 0.7, fixed seeds, a ToT-style
  few-shot Game of 24 prompt);
- ranked steps/s: `continuation_logprobs` calls per second on the Game of 24 choice prompts a
  policy really ranks (states along random walks of test puzzles, about 20 candidates each);
- the share of those probes on which both engines pick the same best candidate.

Prints a table with the llama.cpp / transformers ratios and writes JSON::

    python benchmarks/llm_throughput.py --out benchmarks/results/llm_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from armap.envs import make
from armap.llm import llamacpp, local
from armap.llm.base import Message
from armap.policy import ranking_probes
from armap.prompts import PromptPack

PROMPT = """Use numbers and basic arithmetic operations (+ - * /) to obtain 24. In each step, \
you are only allowed to choose two of the remaining numbers and combine them with one operation \
to obtain a new number; the two numbers are then replaced by the result. Write exactly one step \
per line, in the form "a op b = c (left: remaining numbers)", listing the numbers that are left \
in ascending order. Every input number must be used exactly once. Fractions are allowed in \
intermediate steps. After three steps one number is left; if it is 24, write the whole \
computation as one expression on a final line starting with "Answer:".

Example:
Input: 4 4 8 13
Steps:
13 - 8 = 5 (left: 4 4 5)
5 * 4 = 20 (left: 4 20)
20 + 4 = 24 (left: 24)
Answer: (13 - 8) * 4 + 4 = 24

Now solve the following input in the same format.
Input: 4 5 6 10
Steps:
"""
"""A ToT-style few-shot Game of 24 prompt (about 300 tokens with the chat template)."""

SEEDS = (11, 22, 33, 44, 55)
ENGINES = ("llama.cpp", "transformers")


def build(engine: str, threads: int, dtype: str) -> Any:
    if engine == "llama.cpp":
        return llamacpp.LlamaCppLLM(threads=threads)
    return local.LocalLLM(dtype=dtype, threads=threads)


def time_generate(llm: Any, messages: list[Message], n: int, max_tokens: int,
                  repeats: int) -> dict[str, Any]:
    """Generated tokens/s over ``repeats`` seeded calls of ``n`` samples each."""
    runs = []
    for seed in SEEDS[:repeats]:
        start = time.perf_counter()
        out = llm.generate(messages, n=n, temperature=0.7, max_tokens=max_tokens, seed=seed)
        seconds = time.perf_counter() - start
        tokens = sum(c.completion_tokens for c in out)
        runs.append({"seed": seed, "seconds": round(seconds, 4), "tokens": tokens})
    tokens = sum(r["tokens"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    return {"n": n, "prompt_tokens": out[0].prompt_tokens, "runs": runs, "tokens": tokens,
            "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 2)}


def time_ranking(llm: Any, probes: list[tuple[list[Message], list[str]]]) -> dict[str, Any]:
    """Rank every probe once, in order (consecutive probes share their prompt's prefix)."""
    times, scores = [], []
    for messages, candidates in probes:
        start = time.perf_counter()
        scores.append(llm.continuation_logprobs(messages, candidates))
        times.append(time.perf_counter() - start)
    total = sum(times)
    return {"probes": len(probes), "seconds": round(total, 3),
            "steps_per_s": round(len(probes) / total, 3),
            "median_s": round(statistics.median(times), 4), "scores": scores}


def first_call(engine: str, threads: int, dtype: str) -> tuple[Any, dict[str, float]]:
    """A fresh engine: seconds to construct + load, and to its first (greedy) reply."""
    start = time.perf_counter()
    llm = build(engine, threads, dtype)
    llm.load()
    loaded = time.perf_counter() - start
    llm.generate([{"role": "user", "content": "Say hi."}], max_tokens=8)
    return llm, {"load_s": round(loaded, 3),
                 "first_call_s": round(time.perf_counter() - start, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/llm_throughput.json"))
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, choices=range(1, len(SEEDS) + 1))
    parser.add_argument("--threads", type=int, default=llamacpp.physical_cores(),
                        help="CPU threads of both engines (default: the physical cores)")
    parser.add_argument("--dtype", default="float32", help="transformers weights")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--tasks", type=int, default=8,
                        help="test puzzles whose random walks give the ranking probes")
    parser.add_argument("--convert", action="store_true",
                        help="also time transformers' one-off GGUF conversion (fresh cache)")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]

    result: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "threads": args.threads,
                    "python": platform.python_version(), "processor": platform.processor(),
                    "load_average_start": os.getloadavg()},
        "max_tokens": args.max_tokens, "repeats": args.repeats, "temperature": 0.7,
        "transformers_dtype": args.dtype,
    }
    if args.convert:
        old = os.environ.get("ARMAP_CACHE_DIR")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["ARMAP_CACHE_DIR"] = tmp
            start = time.perf_counter()
            local.embedded_model_dir()
            result["convert_s"] = round(time.perf_counter() - start, 2)
        if old is None:
            del os.environ["ARMAP_CACHE_DIR"]
        else:
            os.environ["ARMAP_CACHE_DIR"] = old
    if "transformers" in engines:
        local.embedded_model_dir()  # converted once, outside the timings

    with make("game24") as env:
        probes = ranking_probes(env, PromptPack.load("game24", "choice"),
                                env.tasks("test")[:args.tasks], seed=0)
    result["ranking_probes"] = len(probes)
    result["mean_candidates"] = round(sum(len(c) for _, c in probes) / len(probes), 2)
    messages = [{"role": "user", "content": PROMPT}]
    result["engines"] = {}
    for engine in engines:
        llm, entry = first_call(engine, args.threads, args.dtype)
        entry["generate"] = [time_generate(llm, messages, n, args.max_tokens, args.repeats)
                             for n in (1, 10)]
        entry["ranking"] = time_ranking(llm, probes)
        entry["greedy_sample"] = llm.generate(messages, max_tokens=args.max_tokens)[0].text
        result["engines"][engine] = entry
        print(f"{engine}: done", flush=True)
        del llm
    result["machine"]["load_average_end"] = os.getloadavg()

    if len(result["engines"]) == 2:
        a, b = (result["engines"][e]["ranking"]["scores"] for e in ENGINES)
        same = sum(max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__)
                   for x, y in zip(a, b, strict=True))
        result["ranking_agreement"] = round(same / len(a), 4)
    for entry in result["engines"].values():
        entry["ranking"].pop("scores")

    print(f"\n{args.threads} threads, load average {result['machine']['load_average_start']} -> "
          f"{result['machine']['load_average_end']}; {len(probes)} ranking probes, "
          f"{result['mean_candidates']} candidates each; max_tokens {args.max_tokens}\n")
    rows = {
        "tokens/s, n=1": lambda e: e["generate"][0]["tokens_per_s"],
        "tokens/s, n=10": lambda e: e["generate"][1]["tokens_per_s"],
        "ranked steps/s": lambda e: e["ranking"]["steps_per_s"],
        "first-call latency, s": lambda e: e["first_call_s"],
    }
    names = list(result["engines"])
    print("| | " + " | ".join(names) + (" | ratio |" if len(names) == 2 else " |"))
    print("|---|" + "---:|" * (len(names) + (len(names) == 2)))
    result["ratios"] = {}
    for label, get in rows.items():
        values = [get(result["engines"][n]) for n in names]
        line = f"| {label} | " + " | ".join(f"{v:.2f}" for v in values)
        if len(names) == 2:
            ratio = values[0] / values[1]
            result["ratios"][label] = round(ratio, 2)
            line += f" | {ratio:.2f}x"
        print(line + " |")
    if "ranking_agreement" in result:
        print(f"\nsame best candidate on {result['ranking_agreement']:.1%} of the probes")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
