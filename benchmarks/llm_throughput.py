"""Throughput of the local LLM engines (llama.cpp and transformers) in one run.

For each engine, on the embedded SmolLM2-135M-Instruct with the same number of threads:

- first-call latency: construct the engine, load the model and return a first reply;
- generated tokens/s for n=1 and n=10 samples (temperature 0.7, fixed seeds, a ToT-style
  few-shot Game of 24 prompt);
- ranked steps/s: `continuation_logprobs` calls per second on the Game of 24 choice prompts a
  policy really ranks (states along random walks of test puzzles, about 20 candidates each);
- the share of those probes on which both engines pick the same best candidate;
- how close ranking is to the arithmetic limit: the floating-point operations the transformers
  engine's ranking performs (counted from the tokens its forward passes run: weights, attention,
  and the output layer where logits are kept), over its time, against the float32 matrix-multiply
  peak of the same threads on the model's own layer shapes (``torch.mm``, best of repeats). An
  engine that does the same arithmetic in float32 cannot rank faster than ``peak / achieved``
  times transformers; the trie of llama.cpp removes a share of the tokens on top of that.

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


def count_forward_flops(llm: local.LocalLLM) -> dict[str, float]:
    """Wrap the transformers engine's forward pass to add up the floating-point operations it
    runs: 2 per weight per token in the layers, 4 per hidden unit per attended position per layer,
    and 2 per output-layer weight for every position whose logits are kept."""
    llm.load()
    cfg = llm._lm.config
    d, layers, vocab = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
    weights = sum(p.numel() for n, p in llm._lm.named_parameters()
                  if p.ndim == 2 and "embed" not in n and "lm_head" not in n)
    counts = {"tokens": 0.0, "flops": 0.0}
    inner = llm._forward

    def forward(input_ids: Any, cache: Any = None, *, logits_to_keep: int = 0) -> Any:
        rows, width = input_ids.shape
        past = cache.get_seq_length() if cache is not None else 0
        attended = rows * (width * past + width * (width + 1) / 2)
        kept = rows * (logits_to_keep or width)
        counts["tokens"] += rows * width
        counts["flops"] += (2 * weights * rows * width + 4 * d * layers * attended
                            + 2 * d * vocab * kept)
        return inner(input_ids, cache, logits_to_keep=logits_to_keep)

    llm._forward = forward  # type: ignore[method-assign]
    return counts


def matmul_peak(llm: local.LocalLLM, rows: int, repeats: int = 30) -> float:
    """Best float32 GFLOP/s of ``torch.mm`` on the model's two MLP shapes, ``rows`` tokens."""
    import torch

    cfg = llm._lm.config
    d, ff = cfg.hidden_size, cfg.intermediate_size
    best = 0.0
    for k, n in ((d, ff), (ff, d)):
        a, b = torch.randn(rows, k), torch.randn(k, n)
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(10):
                torch.mm(a, b)
            best = max(best, 10 * 2 * rows * k * n / (time.perf_counter() - start) / 1e9)
    return best


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
        counts = count_forward_flops(llm) if engine == "transformers" else None
        entry["generate"] = [time_generate(llm, messages, n, args.max_tokens, args.repeats)
                             for n in (1, 10)]
        entry["ranking"] = time_ranking(llm, probes)
        if counts is not None:
            seconds = entry["ranking"]["seconds"]
            rows = round(counts["tokens"] / len(probes))
            peak = matmul_peak(llm, rows=max(rows, 1))
            achieved = counts["flops"] / seconds / 1e9
            result["compute_bound"] = {
                "ranking_gflop": round(counts["flops"] / 1e9, 2),
                "ranking_tokens_per_probe": rows,
                "achieved_gflops": round(achieved, 2), "matmul_peak_gflops": round(peak, 2),
                "share_of_peak": round(achieved / peak, 3),
                "max_float32_speedup": round(peak / achieved, 2)}
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
    if "compute_bound" in result:
        cb = result["compute_bound"]
        print(f"\ntransformers ranking: {cb['ranking_gflop']} GFLOP over the probes "
              f"({cb['ranking_tokens_per_probe']} tokens a probe), {cb['achieved_gflops']} GFLOP/s "
              f"= {cb['share_of_peak']:.0%} of the float32 matmul peak "
              f"({cb['matmul_peak_gflops']} GFLOP/s): at most {cb['max_float32_speedup']}x "
              "faster for any engine doing the same float32 arithmetic")
    if "ranking_agreement" in result:
        print(f"\nsame best candidate on {result['ranking_agreement']:.1%} of the probes")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
