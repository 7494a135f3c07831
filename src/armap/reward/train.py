"""Train a reward model on (instruction, positive, negative) triplets.

The trainer is split into small parts that are tested on their own:

* data prep (`prepare_pairs`): every trajectory goes through THE serializer once, with the
  model's token budget (an over-long trajectory keeps its instruction and latest steps);
* batching (`length_batches`): pairs are bucketed by length and the buckets shuffled, so little
  compute goes to padding;
* the collator (`collate`): positives, then negatives, in one right-padded batch, so one
  forward pass scores both;
* the losses (`pairwise_loss`, `pointwise_loss`): pure functions of two score tensors;
* metrics (`pair_metrics`): pairwise accuracy, mean margin, accuracy per negative type.

Validation is held out by task id (a task's triplets are all train or all validation). The best
checkpoint by held-out pairwise accuracy (the latest among equals) is saved atomically to
``run_dir/checkpoint`` with its ``metrics.json``; an interrupted run keeps the best checkpoint
so far.

Data rules: a trajectory with no steps is valid (an agent that did nothing is a fair negative)
and is counted in the summary; a pair whose positive and negative serialize to the same text
carries no preference and is dropped with a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from armap import console
from armap.dtypes import resolve_dtype
from armap.errors import ConfigError
from armap.reward.config import RewardTrainConfig
from armap.reward.model import LearnedRewardModel, pad_batch
from armap.reward.serialize import action_ends, common_preamble, serialize
from armap.rundir import RunDir
from armap.types import Trajectory, Triplet, read_triplets

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint"


# -- data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """One triplet ready for the model: token ids of the positive and of the negative."""

    pos: list[int]
    neg: list[int]
    negative_type: str
    task_id: str
    pos_actions: tuple[int, ...] = ()
    """Token index of the end of each action of the positive (for a model's step head)."""
    pos_labels: tuple[float | None, ...] = ()
    """The env's label of each of those actions (1.0 sound, 0.0 wrong, None unknown)."""
    neg_actions: tuple[int, ...] = ()
    neg_labels: tuple[float | None, ...] = ()

    @property
    def length(self) -> int:
        return max(len(self.pos), len(self.neg))


def load_triplets(triplets: str | Path | Sequence[Triplet]) -> list[Triplet]:
    """Triplets from a JSONL path or a list; `ConfigError` when there are none."""
    if isinstance(triplets, str | Path):
        path = Path(triplets)
        if not path.is_file():
            raise ConfigError(f"triplets file not found: {path}")
        out = read_triplets(path)
        where = str(path)
    else:
        out, where = list(triplets), "the given list"
    if not out:
        raise ConfigError(f"no triplets in {where}; run 'armap synthesize' first")
    return out


def split_by_task(triplets: Sequence[Triplet], val_fraction: float, seed: int
                  ) -> tuple[list[Triplet], list[Triplet]]:
    """(train, validation): a seeded share of task ids goes to validation, whole."""
    ids = sorted({t.task_id for t in triplets})
    if val_fraction <= 0 or len(ids) < 2:
        return list(triplets), []
    random.Random(seed).shuffle(ids)
    held = set(ids[:max(1, round(len(ids) * val_fraction))])
    return ([t for t in triplets if t.task_id not in held],
            [t for t in triplets if t.task_id in held])


def serialize_triplets(model: LearnedRewardModel, triplets: Sequence[Triplet]
                       ) -> tuple[list[str], list[str]]:
    """The positive and negative texts of each triplet, by THE serializer."""
    return ([model.serialize(t.instruction, t.positive) for t in triplets],
            [model.serialize(t.instruction, t.negative) for t in triplets])


def prepare_pairs(model: LearnedRewardModel, triplets: Sequence[Triplet]
                  ) -> tuple[list[Pair], dict[str, int]]:
    """Serialize and tokenize every triplet once; returns the pairs and data statistics.

    For a model with a step head, each pair also carries the token of each action's end and
    the env's label of that step (`Env.step_labels`; see `action_labels`)."""
    pos_texts, neg_texts = serialize_triplets(model, triplets)
    if model.step_head is not None:
        pos_ids, pos_at = model.tokenize_with_actions(pos_texts)
        neg_ids, neg_at = model.tokenize_with_actions(neg_texts)
    else:
        pos_ids, neg_ids = model.tokenize(pos_texts), model.tokenize(neg_texts)
        pos_at = neg_at = [[]] * len(triplets)
    pairs: list[Pair] = []
    stats = {"triplets": len(triplets), "identical_dropped": 0, "empty_trajectories": 0,
             "truncated": 0}
    budget = model.max_length
    for t, pt, nt, p, n, p_at, n_at in zip(triplets, pos_texts, neg_texts, pos_ids, neg_ids,
                                           pos_at, neg_at, strict=True):
        stats["empty_trajectories"] += (not t.positive.steps) + (not t.negative.steps)
        instruction = model.model_instruction(t.instruction)
        stats["truncated"] += (pt != serialize(instruction, t.positive) or len(p) >= budget) \
            + (nt != serialize(instruction, t.negative) or len(n) >= budget)
        if pt == nt:
            stats["identical_dropped"] += 1
            continue
        pairs.append(Pair(p, n, t.negative_type, t.task_id,
                          tuple(p_at), tuple(action_labels(pt, t.positive)[:len(p_at)]),
                          tuple(n_at), tuple(action_labels(nt, t.negative)[:len(n_at)])))
    if stats["identical_dropped"]:
        log.warning("dropped %d triplets whose positive and negative serialize to the same "
                    "text (no preference to learn)", stats["identical_dropped"])
    if stats["empty_trajectories"]:
        log.info("%d trajectories have no steps (kept)", stats["empty_trajectories"])
    return pairs, stats


def action_labels(text: str, trajectory: Trajectory) -> list[float | None]:
    """The env's label (`Env.step_labels`) of each action line of ``text``, the serialized
    ``trajectory`` (which may omit its earliest steps); all None when the env has none or the
    lines cannot be matched to the steps."""
    count = len(action_ends(text))
    labeller = _step_labeller(trajectory.task.env)
    labels = labeller(trajectory) if labeller is not None else None
    written = [label for step, label in zip(trajectory.steps, labels or [], strict=False)
               if step.action.strip()]
    if not labels or len(labels) != len(trajectory.steps) or count > len(written):
        return [None] * count
    return written[len(written) - count:]


def has_step_labels(triplets: Sequence[Triplet], sample: int = 20) -> bool:
    """Whether the env of ``triplets`` labels steps (`Env.step_labels`), judged on the first
    ``sample`` positives."""
    for t in triplets[:sample]:
        labeller = _step_labeller(t.env)
        if labeller is not None and labeller(t.positive) is not None:
            return True
    return False


def wants_step_head(config: RewardTrainConfig, triplets: Sequence[Triplet]) -> bool:
    """Whether a model trained by ``config`` on ``triplets`` gets a step head: a step loss
    is set and the env labels its steps."""
    return config.step_loss > 0 and has_step_labels(triplets)


_LABELLERS: dict[str, Any] = {}


def _step_labeller(env: str) -> Any:
    """The env's `Env.step_labels` (None for an unknown env), imported once."""
    if env not in _LABELLERS:
        from armap.envs import envs
        from armap.errors import UnknownNameError

        try:
            _LABELLERS[env] = envs.spec(env).load().step_labels
        except UnknownNameError:
            _LABELLERS[env] = None
    return _LABELLERS[env]


def length_batches(pairs: Sequence[Pair], batch_size: int, rng: random.Random, *,
                   bucket_batches: int = 50) -> list[list[int]]:
    """Indices of ``pairs`` in batches of similar length, in shuffled order.

    Pairs are shuffled, cut into buckets of ``bucket_batches`` batches, sorted by length within
    a bucket and cut into batches; then the batches are shuffled.
    """
    order = list(range(len(pairs)))
    rng.shuffle(order)
    span = batch_size * bucket_batches
    batches: list[list[int]] = []
    for lo in range(0, len(order), span):
        bucket = sorted(order[lo:lo + span], key=lambda i: pairs[i].length)
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(pairs: Sequence[Pair], pad_id: int) -> dict[str, torch.Tensor]:
    """One right-padded batch: the positives (rows ``0..n-1``), then the negatives."""
    return pad_batch([p.pos for p in pairs] + [p.neg for p in pairs], pad_id)


# -- losses and metrics -------------------------------------------------------------------
def pairwise_loss(r_pos: torch.Tensor, r_neg: torch.Tensor, margin: float = 0.0,
                  center_weight: float = 0.0) -> torch.Tensor:
    """``mean(-log sigmoid(r_pos - r_neg - margin)) + center_weight * |mean(r_pos + r_neg)|``."""
    loss = -F.logsigmoid(r_pos - r_neg - margin).mean()
    if center_weight:
        loss = loss + center_weight * (r_pos + r_neg).mean().abs()
    return loss


def pointwise_loss(r_pos: torch.Tensor, r_neg: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on the scores as logits: positives labelled 1, negatives 0."""
    logits = torch.cat([r_pos, r_neg])
    labels = torch.cat([torch.ones_like(r_pos), torch.zeros_like(r_neg)])
    return F.binary_cross_entropy_with_logits(logits, labels)


def pair_metrics(r_pos: Sequence[float], r_neg: Sequence[float],
                 negative_types: Sequence[str]) -> dict[str, Any]:
    """Pairwise accuracy (a tie counts as wrong), mean margin, and both per negative type."""
    groups: dict[str, list[float]] = defaultdict(list)
    for p, n, kind in zip(r_pos, r_neg, negative_types, strict=True):
        groups[kind].append(p - n)
    margins = [m for ms in groups.values() for m in ms]
    if not margins:
        return {"n": 0, "accuracy": None, "mean_margin": None, "per_type": {}}

    def summary(ms: list[float]) -> dict[str, Any]:
        return {"n": len(ms), "accuracy": round(sum(m > 0 for m in ms) / len(ms), 4),
                "mean_margin": round(sum(ms) / len(ms), 4)}

    return {**summary(margins), "per_type": {k: summary(v) for k, v in sorted(groups.items())},
            "threshold": separating_threshold(r_pos, r_neg)}


def separating_threshold(r_pos: Sequence[float], r_neg: Sequence[float]) -> float | None:
    """The score that best tells positives (at or above it) from negatives (below it): of the
    midpoints between consecutive distinct scores, the one with the highest balanced accuracy
    (ties: the lowest). None without scores of both kinds."""
    if not r_pos or not r_neg:
        return None
    labelled = sorted([(s, 1) for s in r_pos] + [(s, 0) for s in r_neg])
    n_pos, n_neg = len(r_pos), len(r_neg)
    best, best_value = labelled[0][0] - 1.0, 0.5  # everything above: recall 1, specificity 0
    neg_below = pos_below = 0
    for i, (score, label) in enumerate(labelled[:-1]):
        pos_below += label
        neg_below += 1 - label
        following = labelled[i + 1][0]
        if following == score:
            continue
        value = (neg_below / n_neg + (n_pos - pos_below) / n_pos) / 2
        if value > best_value:
            best, best_value = (score + following) / 2, value
    return round(best, 6)


def evaluate_triplets(model: LearnedRewardModel, triplets: Sequence[Triplet], *,
                      use_cache: bool = False) -> dict[str, Any]:
    """`pair_metrics` of ``model`` on ``triplets`` (batched scoring, no training)."""
    pos, neg = serialize_triplets(model, triplets)
    scores = model.score_texts(pos + neg, use_cache=use_cache)
    return pair_metrics(scores[:len(pos)], scores[len(pos):],
                        [t.negative_type for t in triplets])


# -- the loop -----------------------------------------------------------------------------
class _Schedule:
    """Linear warmup then linear decay; progress is the larger of steps done / planned steps
    and time used / time left at ``started`` (the first step), so a run cut by its budget still
    ends at a low rate, and one that keeps ahead of its budget follows the steps alone."""

    def __init__(self, total_steps: int, warmup: float, deadline: float | None,
                 started: float) -> None:
        self.total, self.warmup = max(total_steps, 1), warmup
        self.deadline, self.started = deadline, started

    def factor(self, step: int) -> float:
        progress = step / self.total
        if self.deadline is not None:
            progress = max(progress, (time.perf_counter() - self.started)
                           / max(self.deadline - self.started, 1e-9))
        if progress < self.warmup:
            return max(progress / self.warmup, 0.02)
        return max(0.0, (1 - progress) / (1 - self.warmup))


MIN_AUTO_LENGTH = 192
AUTO_COVERAGE = 0.9


def auto_max_length(model: LearnedRewardModel, triplets: Sequence[Triplet], seed: int,
                    sample: int = 200) -> int:
    """The token budget that holds `AUTO_COVERAGE` of the trajectories (of a seeded sample of
    ``triplets``) whole, rounded up to 64, at least `MIN_AUTO_LENGTH` and at most the
    backbone's position limit."""
    chosen = random.Random(seed).sample(list(triplets), min(sample, len(triplets)))
    lengths = sorted(model.count_tokens(serialize(model.model_instruction(t.instruction), x))
                     + model._n_special
                     for t in chosen for x in (t.positive, t.negative))
    need = lengths[min(len(lengths) - 1, int(len(lengths) * AUTO_COVERAGE))] if lengths else 0
    limit = int(getattr(model.backbone.config, "max_position_embeddings", 512) or 512)
    return max(MIN_AUTO_LENGTH, min(limit, -(-need // 64) * 64))


def build_model(config: RewardTrainConfig) -> LearnedRewardModel:
    """A fresh model for training (float32 weights; bf16 comes from autocast)."""
    model = LearnedRewardModel(config.backbone, max_length=config.max_length or MIN_AUTO_LENGTH,
                               dtype="float32",
                               pooling=config.pooling,
                               lora=config.lora, lora_r=config.lora_r,
                               lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout)
    model.dtype_request = config.dtype
    model.training_config = asdict(config)
    if config.dropout is not None:
        for name, module in model.backbone.named_modules():
            if isinstance(module, torch.nn.Dropout) and "lora_" not in name:
                module.p = config.dropout
    if not config.lora:
        if config.freeze_embeddings:
            model.backbone.get_input_embeddings().requires_grad_(False)
            if hasattr(model.backbone, "embeddings"):  # BERT-like: positions, types, norm
                model.backbone.embeddings.requires_grad_(False)
        if config.freeze_layers:
            for layer in transformer_layers(model.backbone)[:config.freeze_layers]:
                layer.requires_grad_(False)
    return model


def transformer_layers(backbone: torch.nn.Module) -> torch.nn.ModuleList:
    """The backbone's stack of transformer layers (the longest `ModuleList` in it)."""
    lists = [m for m in backbone.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise ConfigError(f"cannot find the transformer layers of {type(backbone).__name__}")
    return max(lists, key=len)


def make_optimizer(model: LearnedRewardModel, config: RewardTrainConfig
                   ) -> torch.optim.AdamW:
    """AdamW with separate backbone and head learning rates (the step head, if any, learns
    at the head's); no decay on biases and norms."""
    decay, no_decay = [], []
    for p in model.backbone.parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 else decay).append(p)
    heads = [model.head] + ([model.step_head] if model.step_head is not None else [])
    groups = [
        {"params": decay, "lr": config.lr, "weight_decay": config.weight_decay},
        {"params": no_decay, "lr": config.lr, "weight_decay": 0.0},
        {"params": [p for head in heads for p in head.parameters()], "lr": config.head_lr,
         "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def step_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Class-balanced binary cross-entropy of step logits: the mean loss of the sound steps
    and that of the wrong ones weigh the same (wrong steps are rare)."""
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    parts = [losses[labels == value].mean() for value in (0.0, 1.0) if (labels == value).any()]
    return torch.stack(parts).mean() if parts else logits.sum() * 0.0


def train_step(model: LearnedRewardModel, optimizer: torch.optim.Optimizer,
               pairs: Sequence[Pair], config: RewardTrainConfig, *, autocast: bool = False
               ) -> float:
    """One optimizer step on ``pairs`` (one forward pass for positives and negatives);
    returns the loss. A model with a step head scores with its step term, and its labelled
    steps add the step loss (weight ``config.step_loss``)."""
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in
             collate(pairs, int(model.tokenizer.pad_token_id)).items()}
    n = len(pairs)
    actions = [p.pos_actions for p in pairs] + [p.neg_actions for p in pairs] \
        if model.step_head is not None else None
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        scores, logits = model.scores_and_step_logits(**batch, actions=actions)
    if config.loss == "pairwise":
        loss = pairwise_loss(scores[:n], scores[n:], config.margin, config.center_weight)
    else:
        loss = pointwise_loss(scores[:n], scores[n:])
    labels = [x for p in pairs for x in p.pos_labels] + [x for p in pairs for x in p.neg_labels]
    known = [i for i, label in enumerate(labels) if label is not None]
    if logits is not None and known and config.step_loss:
        index = torch.tensor(known, device=device)
        target = torch.tensor([labels[i] for i in known], dtype=torch.float32, device=device)
        loss = loss + config.step_loss * step_loss(logits.float()[index], target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())


def improves(metrics: dict[str, Any], best: dict[str, Any] | None) -> bool:
    """Whether a validation result replaces the best checkpoint: held-out accuracy at least
    the best's. A tie goes to the later weights, which have seen more data at a lower
    learning rate (on 120 validation triplets ties are common)."""
    return best is None or metrics["accuracy"] >= best["accuracy"]


def train(config: RewardTrainConfig, triplets: str | Path | Sequence[Triplet],
          run_dir: str | Path, *, val_triplets: str | Path | Sequence[Triplet] | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Train a reward model; the best checkpoint (held-out pairwise accuracy) goes to
    ``run_dir/checkpoint``. Returns the metrics that ``metrics.json`` holds.

    ``val_triplets`` replaces the task-id split of ``triplets``. On KeyboardInterrupt the best
    checkpoint so far is kept (the current weights are saved if none was yet) and the
    interrupt is re-raised.
    """
    run = RunDir(run_dir)
    inputs = {name: path for name, path in (("triplets", triplets), ("val_triplets",
                                                                      val_triplets))
              if isinstance(path, str | Path)}
    with run.running("train", config, seed=config.seed, inputs=inputs) as summary:
        summary.update(_train(config, triplets, run, val_triplets, progress))
    summary.pop("resumed", None)
    return summary


def _train(config: RewardTrainConfig, triplets_in: str | Path | Sequence[Triplet], run: RunDir,
           val_in: str | Path | Sequence[Triplet] | None, progress: bool) -> dict[str, Any]:
    started = time.perf_counter()
    deadline = started + config.time_budget_minutes * 60 if config.time_budget_minutes else None
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    triplets = load_triplets(triplets_in)
    if val_in is not None:
        train_set, val_set = triplets, load_triplets(val_in)
    else:
        train_set, val_set = split_by_task(triplets, config.val_fraction, config.seed)
    if not train_set:
        raise ConfigError("no training triplets left after holding out validation tasks")
    if len(val_set) > config.val_max:
        val_set = random.Random(config.seed + 1).sample(val_set, config.val_max)

    model = build_model(config)
    if config.drop_preamble:
        model.instruction_preamble = common_preamble([t.instruction for t in train_set])
        if model.instruction_preamble:
            log.info("instructions are read without their shared preamble (%d tokens)",
                     model.count_tokens(model.instruction_preamble))
    if config.max_length is None:
        model.max_length = auto_max_length(model, train_set, config.seed)
        log.info("max_length %d covers 90%% of the training trajectories", model.max_length)
    data_stats: dict[str, int] = {}
    if wants_step_head(config, train_set):
        model.add_step_head()
        log.info("the model gets a step head (the env labels its steps)")
    stream = batch_stream(model, train_set, config.batch_size, rng, data_stats)
    autocast = resolve_dtype(config.dtype) == "bfloat16"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    total = math.ceil(math.ceil(len(train_set) / config.batch_size) * config.epochs)
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    optimizer = make_optimizer(model, config)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    checkpoint = run.file(CHECKPOINT)
    log_ = _Log()
    ema = WeightAverage(model, config.ema) if config.ema else None

    def summary(stopped: str) -> dict[str, Any]:
        best = log_.best_metrics or {}
        return {
            "val_accuracy": best.get("accuracy"),
            "val_mean_margin": best.get("mean_margin"),
            "val_per_type": best.get("per_type"),
            "val_threshold": best.get("threshold"),
            "val_triplets": len(val_set),
            "initial_val_accuracy": log_.evals[0]["accuracy"] if log_.evals else None,
            "best_step": log_.best_step,
            "steps": log_.step,
            "planned_steps": total,
            "train_triplets": len(train_set),
            "examples": log_.examples,
            "examples_per_second": round(log_.examples / max(log_.train_seconds, 1e-9), 3),
            "steps_per_second": round(log_.step / max(log_.train_seconds, 1e-9), 4),
            "train_loss": None if log_.loss is None else round(log_.loss, 4),
            "seconds": round(time.perf_counter() - started, 1),
            "train_seconds": round(log_.train_seconds, 1),
            "eval_seconds": round(log_.eval_seconds, 1),
            "stopped": stopped,
            "evals": log_.evals,
            "data": data_stats,
            "autocast_bf16": autocast,
            "checkpoint": str(checkpoint),
        }

    def validate() -> None:
        """Validate; save the checkpoint when held-out accuracy improved."""
        if not val_set:
            return
        t0 = time.perf_counter()
        with ema.swapped() if ema is not None else contextlib.nullcontext():
            metrics = evaluate_triplets(model, val_set)
            if improves(metrics, log_.best_metrics):
                log_.best_metrics, log_.best_step, log_.stale = metrics, log_.step, 0
                model.threshold = metrics["threshold"]
                model.save(checkpoint, metrics=summary("running"))
                log_.saved = True
            else:
                log_.stale += 1
        model.train()
        log_.eval_seconds += time.perf_counter() - t0
        log_.evals.append({"step": log_.step, "accuracy": metrics["accuracy"],
                           "mean_margin": metrics["mean_margin"]})

    validate()
    # the clock of the schedule starts with the first step: loading and the first validation
    # would otherwise make the warm-up depend on the machine's speed, and a seeded run that its
    # budget does not cut would not repeat itself
    schedule = _Schedule(total, config.warmup, deadline, time.perf_counter())
    bar = console.progress(total=total, desc="train", unit="step", enabled=progress)
    stopped: str | None = None
    try:
        model.train()
        for batch in stream:
            t0 = time.perf_counter()
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * schedule.factor(log_.step)
            value = train_step(model, optimizer, batch, config, autocast=autocast)
            if ema is not None:
                ema.update()
            log_.step += 1
            log_.examples += len(batch)
            log_.train_seconds += time.perf_counter() - t0
            log_.loss = value if log_.loss is None else 0.9 * log_.loss + 0.1 * value
            bar.update(1)
            if log_.step % config.eval_every == 0 or log_.step >= total:
                validate()
            best = log_.best_metrics["accuracy"] if log_.best_metrics else None
            bar.set_postfix(loss=f"{log_.loss:.3f}", val=console.number(best))
            if config.patience and log_.stale >= config.patience:
                stopped = "patience"
            elif log_.step >= total:
                stopped = "max_steps" if config.max_steps == log_.step else "epochs"
            elif deadline is not None and _out_of_time(deadline, log_):
                stopped = "time_budget"
            if stopped:
                break
        if log_.evals and log_.evals[-1]["step"] != log_.step:
            validate()
    except BaseException as e:
        bar.close()
        if isinstance(e, KeyboardInterrupt) and not log_.saved:
            with ema.swapped() if ema is not None else contextlib.nullcontext():
                model.save(checkpoint, metrics=summary("interrupted"))
        raise
    bar.close()
    if not log_.saved:  # no validation set: the final (averaged) weights are the checkpoint
        with ema.swapped() if ema is not None else contextlib.nullcontext():
            model.save(checkpoint, metrics=summary(stopped))
    result = summary(stopped)
    _replace_json(checkpoint / "metrics.json", result)
    return result


class WeightAverage:
    """An exponential moving average of a model's trainable weights.

    ``decay`` ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early
    weights do not linger. `swapped` puts the average in place (for validation and saving) and
    restores the trained weights afterwards.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1 - decay)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        with torch.no_grad():
            backup = [p.detach().clone() for p in self.params]
            for p, a in zip(self.params, self.average, strict=True):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, b in zip(self.params, backup, strict=True):
                    p.copy_(b)


@dataclass
class _Log:
    """Counters of one training run."""

    step: int = 0
    examples: int = 0
    loss: float | None = None
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    evals: list[dict[str, Any]] = field(default_factory=list)
    best_metrics: dict[str, Any] | None = None
    best_step: int | None = None
    stale: int = 0
    saved: bool = False


def _replace_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def _out_of_time(deadline: float, log_: _Log) -> bool:
    """Whether one more step, a last validation and a save would overrun the deadline."""
    per_step = log_.train_seconds / max(log_.step, 1)
    per_eval = log_.eval_seconds / max(len(log_.evals), 1)
    return time.perf_counter() + per_step + per_eval + 15 > deadline


def batch_stream(model: LearnedRewardModel, triplets: Sequence[Triplet], batch_size: int,
                 rng: random.Random, stats: dict[str, int], *, bucket_batches: int = 50
                 ) -> Iterator[list[Pair]]:
    """Endless training batches, epoch after epoch: the triplets are shuffled, and each bucket
    of ``bucket_batches`` batches is serialized and tokenized only when it is reached (a run
    cut by its time budget never pays for data it does not use). ``stats`` accumulates the
    `prepare_pairs` counts."""
    order = list(range(len(triplets)))
    span = batch_size * bucket_batches
    while True:
        rng.shuffle(order)
        produced = 0
        for lo in range(0, len(order), span):
            pairs, chunk_stats = prepare_pairs(model, [triplets[i] for i in order[lo:lo + span]])
            for key, value in chunk_stats.items():
                stats[key] = stats.get(key, 0) + value
            for ids in length_batches(pairs, batch_size, rng, bucket_batches=bucket_batches):
                produced += 1
                yield [pairs[i] for i in ids]
        if not produced:
            raise ConfigError("every training triplet has identical positive and negative "
                              "texts: nothing to learn")
