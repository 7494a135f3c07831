"""Throughput of the local LLM backend on a Game of 24 prompt, in bfloat16 and float32.

Reports generated tokens/s for n=1 and n=10 samples (temperature 0.7, fixed seeds) and the
time `LocalLLM.continuation_logprobs` takes to score the 36 possible first step lines (next to
the time sampling 36 step lines takes). Prints tables and writes the figures as JSON::

    python benchmarks/llm_throughput.py --out benchmarks/results/llm_throughput.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
import transformers

from armap import dtypes
from armap.llm import local
from armap.llm.local import LocalLLM

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

Other first steps, such as 4 + 8 = 12 (left: 4 12 13), do not reach 24 here. Check that \
each result is computed correctly and that the numbers left are the unused numbers plus the result.

Now solve the following input in the same format.
Input: 4 5 6 10
Steps:
"""
"""A ToT-style few-shot Game of 24 prompt (about 340 tokens with the chat template)."""

NUMBERS = (4, 5, 6, 10)
SEEDS = (11, 22, 33, 44, 55)


def fmt(x: Fraction) -> str:
    """A number as the prompt writes it (``12``, ``2.5``)."""
    return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"


def candidate_steps(numbers: tuple[int, ...] = NUMBERS) -> list[str]:
    """Every first step ``a op b = c (left: ...)``: 6 pairs x (+, a-b, b-a, *, a/b, b/a)."""
    out = []
    for i, j in itertools.combinations(range(len(numbers)), 2):
        a, b = Fraction(numbers[i]), Fraction(numbers[j])
        rest = [Fraction(numbers[k]) for k in range(len(numbers)) if k not in (i, j)]
        for x, op, y, value in ((a, "+", b, a + b), (a, "-", b, a - b), (b, "-", a, b - a),
                                (a, "*", b, a * b), (a, "/", b, a / b), (b, "/", a, b / a)):
            left = " ".join(fmt(v) for v in sorted([*rest, value]))
            out.append(f"{fmt(x)} {op} {fmt(y)} = {fmt(value)} (left: {left})")
    return out


def time_generate(llm: LocalLLM, messages: list[dict[str, str]], n: int, max_tokens: int,
                  repeats: int) -> dict[str, Any]:
    """Generated tokens/s over ``repeats`` seeded calls of ``n`` samples each."""
    runs = []
    for seed in SEEDS[:repeats]:
        start = time.perf_counter()
        out = llm.generate(messages, n=n, temperature=0.7, max_tokens=max_tokens, seed=seed)
        seconds = time.perf_counter() - start
        tokens = sum(c.completion_tokens for c in out)
        runs.append({"seed": seed, "seconds": seconds, "tokens": tokens,
                     "tokens_per_s": tokens / seconds})
    total_tokens = sum(r["tokens"] for r in runs)
    total_s = sum(r["seconds"] for r in runs)
    return {"n": n, "prompt_tokens": out[0].prompt_tokens, "runs": runs,
            "tokens": total_tokens, "seconds": total_s, "tokens_per_s": total_tokens / total_s,
            "seconds_per_call": total_s / len(runs)}


def time_ranking(llm: LocalLLM, messages: list[dict[str, str]], candidates: list[str],
                 repeats: int) -> dict[str, Any]:
    """Seconds `continuation_logprobs` takes for all candidates (median of ``repeats``)."""
    times, scores = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        scores = llm.continuation_logprobs(messages, candidates)
        times.append(time.perf_counter() - start)
    best = sorted(zip(scores, candidates, strict=True), reverse=True)[:3]
    # For comparison: sampling as many step lines instead (n=36, at most 24 tokens each).
    sampling = []
    for seed in SEEDS[:repeats]:
        start = time.perf_counter()
        llm.generate(messages, n=len(candidates), temperature=0.7, max_tokens=24, seed=seed)
        sampling.append(time.perf_counter() - start)
    return {"candidates": len(candidates), "seconds": statistics.median(times), "runs": times,
            "top3": [{"step": c, "logprob": s} for s, c in best],
            "sample_same_number_s": statistics.median(sampling)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/llm_throughput.json"))
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, choices=range(1, len(SEEDS) + 1))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--convert", action="store_true",
                        help="also time the one-off GGUF conversion into a fresh temporary cache")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    result: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "transformers": transformers.__version__,
                    "python": platform.python_version(), "processor": platform.processor(),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "fast_bf16": dtypes.cpu_has_fast_bf16(),
                    "auto_dtype": dtypes.resolve_dtype("auto"),
                    "load_average": os.getloadavg()},
        "max_tokens": args.max_tokens, "repeats": args.repeats, "temperature": 0.7,
    }
    if args.convert:
        old = os.environ.get("ARMAP_CACHE_DIR")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["ARMAP_CACHE_DIR"] = tmp
            start = time.perf_counter()
            local.embedded_model_dir()
            result["convert_s"] = time.perf_counter() - start
        if old is None:
            del os.environ["ARMAP_CACHE_DIR"]
        else:
            os.environ["ARMAP_CACHE_DIR"] = old
    start = time.perf_counter()
    cache_hit = (local.cache_root() / "models" / local.EMBEDDED_MODEL / "config.json").is_file()
    local.embedded_model_dir()
    result["prepare_s"] = time.perf_counter() - start
    result["cache_hit"] = cache_hit

    messages = [{"role": "user", "content": PROMPT}]
    candidates = candidate_steps()
    result["dtypes"] = {}
    for dtype in args.dtypes.split(","):
        start = time.perf_counter()
        llm = LocalLLM(dtype=dtype)
        llm.load()
        load_s = time.perf_counter() - start
        llm.generate(messages, n=2, temperature=0.7, max_tokens=4, seed=0)  # warm up
        entry = {"load_s": load_s,
                 "generate": [time_generate(llm, messages, n, args.max_tokens, args.repeats)
                              for n in (1, 10)],
                 "ranking": time_ranking(llm, messages, candidates, args.repeats)}
        sample = llm.generate(messages, n=1, temperature=0.0, max_tokens=args.max_tokens)
        entry["greedy_sample"] = sample[0].text
        result["dtypes"][dtype] = entry
        del llm

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
          f"capability {result['machine']['cpu_capability']}, fast bf16: "
          f"{result['machine']['fast_bf16']}, load average {result['machine']['load_average']}")
    if "convert_s" in result:
        print(f"GGUF -> safetensors conversion: {result['convert_s']:.1f} s")
    print(f"cache {'hit' if cache_hit else 'miss'}: prepare {result['prepare_s']:.1f} s; "
          f"prompt {next(iter(result['dtypes'].values()))['generate'][0]['prompt_tokens']} "
          f"tokens; "
          f"max_tokens {args.max_tokens}; {args.repeats} repeats")
    print()
    print("| dtype | load s | n | tokens | s/call | tokens/s |")
    print("|---|---|---|---|---|---|")
    for dtype, entry in result["dtypes"].items():
        for g in entry["generate"]:
            print(f"| {dtype} | {entry['load_s']:.1f} | {g['n']} | {g['tokens']} "
                  f"| {g['seconds_per_call']:.2f} | {g['tokens_per_s']:.1f} |")
    print()
    print("| dtype | rank 36 steps s | sample 36 steps (n=36, <=24 tokens) s |")
    print("|---|---|---|")
    for dtype, entry in result["dtypes"].items():
        rank = entry["ranking"]
        print(f"| {dtype} | {rank['seconds']:.2f} | {rank['sample_same_number_s']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
