"""Reward-model benchmark: training speed, scoring throughput, cache cost, and (``--accuracy``)
held-out accuracy of the default training run on the Game of 24 test puzzles.

    python benchmarks/reward_model.py                 # speed: about 3 minutes on 2 CPU cores
    python benchmarks/reward_model.py --accuracy      # + synthesize, train (defaults), test
    python benchmarks/reward_model.py --compare-backbone ~/.cache/armap/models/smollm2-135m-instruct
                                                      # + a decoder's step time and scoring

Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from armap.dtypes import cpu_has_fast_bf16
from armap.envs.game24.env import Game24Env
from armap.reward.config import EMBEDDED_BACKBONE
from armap.reward.model import LearnedRewardModel
from armap.reward.serialize import serialize
from armap.reward.train import (
    RewardTrainConfig,
    build_model,
    evaluate_triplets,
    length_batches,
    make_optimizer,
    pair_metrics,
    prepare_pairs,
    serialize_triplets,
    train,
    train_step,
    wants_step_head,
)
from armap.synth.game24 import Game24Rules
from armap.types import Step, Task, Trajectory

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT.parent / "shared" / "data" / "game24" / "24.csv"
RECORDED = ROOT.parent / "shared" / "data" / "game24" / "real_llm"
BATCHES = (1, 8, 32, 64)
SCORING_MAX_LENGTH = 256  # room for the ~220-token trajectories of the scoring cells


def default_threads() -> int:
    return os.cpu_count() or 1


def long_trajectories(model: LearnedRewardModel, n: int, tokens: int = 220) -> tuple[str, list]:
    """``n`` distinct trajectories whose serialized text is about ``tokens`` tokens."""
    task = Task("bench", "toy", "Find the red mug in the kitchen and put it in the sink, then "
                "report which cupboard it came from.")
    out = []
    for i in range(n):
        steps: list[Step] = []
        t = Trajectory(task, initial_observation=f"You are in the hall ({i}). Doors: north.")
        while model.count_tokens(serialize(task.instruction, t)) < tokens - 16:
            k = len(steps)
            steps.append(Step(f"go to cupboard {k + i}", observation=f"Cupboard {k + i} is "
                              f"open; it holds {k % 5 + 1} plates and a blue cup."))
            t = Trajectory(task, initial_observation=t.initial_observation, steps=list(steps))
        out.append(t)
    return task.instruction, out


def scoring_throughput(dtype: str, batch: int, seconds: float,
                       backbone: str = EMBEDDED_BACKBONE, *, step_head: bool = False
                       ) -> dict[str, Any]:
    """Trajectories scored per second; ``step_head``: as the default Game of 24 checkpoint,
    which also reads a step logit at the end of every action."""
    model = LearnedRewardModel(backbone, dtype=dtype, batch_size=batch,
                               max_length=SCORING_MAX_LENGTH)
    if step_head:
        model.add_step_head()
    instruction, pool = long_trajectories(model, batch)
    lengths = [len(ids) for ids in model.tokenize([model.serialize(instruction, t)
                                                    for t in pool])]
    model.score(instruction, pool[:batch])  # warm-up
    rates = []
    started = time.perf_counter()
    while not rates or time.perf_counter() - started < seconds:
        model.clear_cache()
        t0 = time.perf_counter()
        model.score(instruction, pool[:batch])
        rates.append(batch / (time.perf_counter() - t0))
    return {"backbone": backbone, "step_head": step_head, "dtype": dtype, "batch": batch,
            "trajectories_per_s": round(statistics.median(rates), 2), "calls": len(rates),
            "mean_tokens": round(sum(lengths) / len(lengths), 1)}


def cache_hit_cost(repeats: int = 2000) -> dict[str, Any]:
    model = LearnedRewardModel(batch_size=32, max_length=SCORING_MAX_LENGTH)
    instruction, pool = long_trajectories(model, 32)
    model.score(instruction, pool)
    t0 = time.perf_counter()
    for _ in range(repeats // 32):
        model.score(instruction, pool)
    per_batch_item = (time.perf_counter() - t0) / (repeats // 32 * 32)
    texts = [model.serialize(instruction, t) for t in pool]
    t0 = time.perf_counter()
    for _ in range(repeats // 32):
        model.score_texts(texts)
    lookup = (time.perf_counter() - t0) / (repeats // 32 * 32)
    return {"us_per_hit_with_serialization": round(per_batch_item * 1e6, 1),
            "us_per_hit_lookup_only": round(lookup * 1e6, 2),
            "hits": model.cache_hits, "misses": model.cache_misses}


def training_speed(steps: int, backbone: str = EMBEDDED_BACKBONE) -> dict[str, Any]:
    """Seconds per optimizer step of the default recipe; a compared backbone (e.g. a decoder)
    trains a LoRA adapter, as `armap train --lora` would."""
    config = RewardTrainConfig(backbone=backbone, lora=backbone != EMBEDDED_BACKBONE)
    triplets = list(itertools.islice(Game24Rules(Game24Env().tasks("train"), seed=0).triplets(),
                                     config.batch_size * (steps + 1)))
    torch.manual_seed(0)
    model = build_model(config)
    if wants_step_head(config, triplets):
        model.add_step_head()
    pairs, _ = prepare_pairs(model, triplets)
    optimizer = make_optimizer(model, config)
    import random

    batches = length_batches(pairs, config.batch_size, random.Random(0))
    model.train()
    train_step(model, optimizer, [pairs[i] for i in batches[0]], config)  # warm-up
    times, tokens = [], 0
    for ids in batches[1:steps + 1]:
        t0 = time.perf_counter()
        train_step(model, optimizer, [pairs[i] for i in ids], config)
        times.append(time.perf_counter() - t0)
        tokens += sum(len(pairs[i].pos) + len(pairs[i].neg) for i in ids)
    total = sum(times)
    return {"backbone": backbone, "lora": config.lora, "batch_size": config.batch_size,
            "steps": len(times), "seconds_per_step": round(total / len(times), 2),
            "steps_per_s": round(len(times) / total, 4),
            "triplets_per_s": round(len(times) * config.batch_size / total, 2),
            "tokens_per_s": round(tokens / total, 1),
            "mean_tokens_per_sequence": round(tokens / (2 * config.batch_size * len(times)), 1)}


TEST_CATALOGUE = ["step_pair_share=0", "answer_only_share=0.3", "wrong_arithmetic_weight=3",
                  "answer_mismatch_weight=2", f"early_slip_share={1 / 3!r}"]
"""Test triplets are the error catalogue alone in a fixed mix (the defaults before 30b74b5, on
which every figure in the README was measured), whatever the training recipe adds or its
defaults become: scores stay comparable across recipes."""


def accuracy(work: Path, test_count: int, *, strategy_options: list[str] | None = None,
             count: int | None = None, threads: int = 0, recorded: Path | None = None,
             train_options: list[str] | None = None) -> dict[str, Any]:
    """Synthesize training triplets (defaults, or ``strategy_options`` and ``count``), train
    (defaults, or ``train_options``: KEY=VALUE settings of `RewardTrainConfig`), test on the
    test split's catalogue triplets and, with ``recorded``, re-rank every recorded-output file
    of that folder (pick / oracle at N = all of a puzzle's outputs)."""
    from armap.config import parse_kv_options
    from armap.envs.spec import EnvConfig
    from armap.synth import SynthConfig, synthesize
    from armap.types import read_triplets

    config = RewardTrainConfig(threads=threads, **parse_kv_options(
        RewardTrainConfig, list(train_options or []), "--train-option"))
    puzzles = str(CSV) if CSV.exists() else None
    synth_train = work / "synth-train"
    synth_test = work / "synth-test"
    t0 = time.perf_counter()
    options = [f"puzzles={puzzles}"] if puzzles else []
    extra: dict[str, Any] = {"count": count} if count else {}
    synthesize(SynthConfig(env=EnvConfig(env_option=options),
                           strategy_option=list(strategy_options or []), **extra), synth_train)
    synthesize(SynthConfig(env=EnvConfig(env_option=options, split="test"), count=test_count,
                           seed=1, strategy_option=TEST_CATALOGUE), synth_test)
    synth_seconds = time.perf_counter() - t0
    test = read_triplets(synth_test / "triplets.jsonl")
    train_triplets = read_triplets(synth_train / "triplets.jsonl")
    train_ids = {t.task_id for t in train_triplets}
    assert not train_ids & {t.task_id for t in test}, "a test puzzle leaked into training"
    shutil.rmtree(work / "train", ignore_errors=True)  # a fresh run with today's defaults
    summary = train(config, synth_train / "triplets.jsonl", work / "train")
    model = LearnedRewardModel.load(work / "train" / "checkpoint")
    t0 = time.perf_counter()
    metrics = evaluate_triplets(model, test)
    eval_seconds = time.perf_counter() - t0
    slips = {where: evaluate_triplets(model, [t for t in test if t.source.get("slip") == where])
             for where in ("last", "earlier")}
    # the same measure on training triplets tells underfitting (both low) from overfitting
    seen = random.Random(0).sample(train_triplets, min(len(test), len(train_triplets)))
    fit = evaluate_triplets(model, seen)
    sanity = bf16_agreement(work / "train" / "checkpoint", test[:64])
    out = {"test_split": "24.csv rows 900-999" if puzzles else "offline seeded draw",
           "strategy_options": strategy_options or [], "train_triplets": len(train_triplets),
           "test_triplets": len(test), "test_puzzles": len({t.task_id for t in test}),
           "test_accuracy": metrics["accuracy"], "test_mean_margin": metrics["mean_margin"],
           "test_per_type": metrics["per_type"], "test_eval_seconds": round(eval_seconds, 1),
           "test_wrong_arithmetic_by_slip": {k: {"n": m["n"], "accuracy": m["accuracy"]}
                                             for k, m in slips.items()},
           "train_sample_accuracy": fit["accuracy"], "train_sample_per_type": fit["per_type"],
           "val_accuracy": summary["val_accuracy"], "train_seconds_total": summary["seconds"],
           "train_steps": summary["steps"], "stopped": summary["stopped"],
           "steps_per_s": summary["steps_per_second"], "synthesis_seconds":
               round(synth_seconds, 1), "bf16_vs_fp32": sanity,
           "config": config.__dict__}
    if recorded is not None and recorded.is_dir():
        from armap.demo import rerank_recorded

        out["recorded"] = rerank_recorded(sorted(recorded.glob("*.jsonl")),
                                          EnvConfig(env_option=options),
                                          work / "train" / "checkpoint", work / "recorded")
    return out


def bf16_agreement(checkpoint: Path, triplets: list) -> dict[str, Any]:
    """Scores of the trained checkpoint in bfloat16 against float32 on the same triplets."""
    out: dict[str, Any] = {"triplets": len(triplets)}
    scores: dict[str, list[float]] = {}
    for dtype in ("float32", "bfloat16"):
        model = LearnedRewardModel.load(checkpoint, dtype=dtype)
        pos, neg = serialize_triplets(model, triplets)
        scores[dtype] = model.score_texts(pos + neg)
        n = len(pos)
        out[f"accuracy_{dtype}"] = pair_metrics(scores[dtype][:n], scores[dtype][n:],
                                                [t.negative_type for t in triplets])["accuracy"]
    fp32, bf16 = scores["float32"], scores["bfloat16"]
    diffs = [abs(a - b) for a, b in zip(fp32, bf16, strict=True)]
    n = len(triplets)
    agree = sum((fp32[i] > fp32[n + i]) == (bf16[i] > bf16[n + i]) for i in range(n))
    out.update(max_abs_diff=round(max(diffs), 4), mean_abs_diff=round(statistics.mean(diffs), 4),
               score_std_fp32=round(statistics.pstdev(fp32), 4),
               pair_decisions_agree=round(agree / n, 4))
    return out


def speed(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Training speed, scoring throughput per dtype and batch, compared backbones, cache."""
    result["training"] = training_speed(args.train_steps)
    tr = result["training"]
    print(f"training: {tr['steps_per_s']} steps/s at batch {tr['batch_size']} triplets "
          f"({tr['triplets_per_s']} triplets/s, {tr['mean_tokens_per_sequence']} tokens/seq)")
    rows = []
    for dtype in ("float32", *(() if args.skip_bf16 else ("bfloat16",))):
        for batch in BATCHES:
            rows.append(scoring_throughput(dtype, batch, args.seconds))
            r = rows[-1]
            print(f"  scoring {dtype:8s} batch {batch:3d}: {r['trajectories_per_s']:8.2f} "
                  f"trajectories/s  ({r['mean_tokens']} tokens)", flush=True)
    result["scoring"] = rows
    plain = next(r for r in rows if r["dtype"] == "float32" and r["batch"] == 32)
    headed = scoring_throughput("float32", 32, args.seconds, step_head=True)
    print(f"  scoring float32  batch  32 with a step head: {headed['trajectories_per_s']:8.2f} "
          f"trajectories/s ({headed['trajectories_per_s'] / plain['trajectories_per_s']:.2f}x "
          "of no head)", flush=True)
    result["scoring_step_head"] = headed
    result["backbones"] = [{"training": tr, "scoring_batch32": headed}]
    for backbone in args.compare_backbone:
        other = {"training": training_speed(min(args.train_steps, 3), backbone),
                 "scoring_batch32": scoring_throughput("float32", 32, args.seconds, backbone)}
        result["backbones"].append(other)
    print("\n| backbone | training s/step (batch 16) | scoring trajectories/s (batch 32, "
          "float32) |\n|---|---:|---:|")
    for b in result["backbones"]:
        head = " + step head (default)" if b["scoring_batch32"]["step_head"] else ""
        print(f"| {b['training']['backbone']}{head} | {b['training']['seconds_per_step']} | "
              f"{b['scoring_batch32']['trajectories_per_s']} |")
    result["cache"] = cache_hit_cost()
    print(f"cache hit: {result['cache']['us_per_hit_with_serialization']} us with "
          f"serialization, {result['cache']['us_per_hit_lookup_only']} us lookup only")
    print()
    print("| dtype | batch | trajectories/s |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {r['dtype']} | {r['batch']} | {r['trajectories_per_s']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/reward_model.json"))
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="Least time per throughput cell.")
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="Torch threads (default: the CPU count).")
    parser.add_argument("--skip-bf16", action="store_true")
    parser.add_argument("--compare-backbone", action="append", default=[], metavar="BACKBONE",
                        help="Also time training steps and float32 scoring at batch 32 with "
                        "this backbone (e.g. a converted SmolLM2 directory; a decoder trains "
                        "with LoRA); repeatable.")
    parser.add_argument("--accuracy", action="store_true",
                        help="Also synthesize, train with the default config and test "
                        "(about 20 minutes on 2 CPU cores).")
    parser.add_argument("--work-dir", default=str(ROOT / "benchmarks/results/reward_model_run"))
    parser.add_argument("--test-count", type=int, default=600)
    parser.add_argument("--accuracy-only", action="store_true",
                        help="skip the speed sections (with --accuracy)")
    parser.add_argument("--strategy-option", action="append", default=[], metavar="KEY=VALUE",
                        help="synthesis option of the training triplets (a recipe variant), "
                        "e.g. step_pair_share=0; test triplets are always the catalogue")
    parser.add_argument("--train-option", action="append", default=[], metavar="KEY=VALUE",
                        help="training setting of the run (a recipe variant), e.g. pooling=max")
    parser.add_argument("--count", type=int, default=None,
                        help="training triplets (default: synthesize's default)")
    parser.add_argument("--recorded", default=str(RECORDED),
                        help="folder of recorded LLM outputs re-ranked by the trained model "
                        "(with --accuracy; skipped when absent)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "threads": args.threads,
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "native_bf16": cpu_has_fast_bf16(), "torch": torch.__version__,
                    "platform": platform.platform()},
    }
    print(f"threads={args.threads}  cpu={result['machine']['cpu_capability']}  "
          f"native_bf16={result['machine']['native_bf16']}")
    if not (args.accuracy and args.accuracy_only):
        speed(args, result)
    if args.accuracy:
        recorded = Path(args.recorded) if args.recorded else None
        result["accuracy"] = accuracy(Path(args.work_dir), args.test_count,
                                      strategy_options=args.strategy_option, count=args.count,
                                      threads=args.threads, recorded=recorded,
                                      train_options=args.train_option)
        a = result["accuracy"]
        print(f"test accuracy {a['test_accuracy']} on {a['test_triplets']} triplets of "
              f"{a['test_puzzles']} test puzzles ({a['test_split']}); training "
              f"{a['train_seconds_total']} s, {a['train_steps']} steps")
        fit = a["train_sample_per_type"]
        print(f"  {'type':22s} test   training (sample of {sum(m['n'] for m in fit.values())})")
        for kind, m in a["test_per_type"].items():
            seen = fit.get(kind, {}).get("accuracy")
            print(f"  {kind:22s} {m['accuracy']:.3f}  {'-' if seen is None else f'{seen:.3f}':>5s}"
                  f"  (n={m['n']})")
        print("  wrong arithmetic by slip: " + ", ".join(
            f"{k} {m['accuracy']} (n={m['n']})"
            for k, m in a["test_wrong_arithmetic_by_slip"].items()))
        print(f"bf16 vs fp32 on the trained model: {a['bf16_vs_fp32']}")
        if a.get("recorded"):
            from armap.demo import format_recorded

            print(format_recorded(a["recorded"]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
