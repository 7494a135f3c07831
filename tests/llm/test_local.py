"""The local transformers backend, against the embedded SmolLM2-135M-Instruct."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator

import pytest
import torch

from armap.dtypes import resolve_dtype
from armap.errors import ConfigError
from armap.llm import LLM, SupportsRanking
from armap.llm import local as local_mod
from armap.llm.local import LocalLLM

pytestmark = pytest.mark.slow

ARITH = [{"role": "user", "content": "What is 2 + 3?"}]
COUNT = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]
ESSAY = [{"role": "user", "content": "Write a long essay about the history of Rome."}]


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    # One torch thread: with two, every parallel region waits for a descheduled thread when
    # other processes share the CPU, and decoding gets ~10x slower.
    threads = torch.get_num_threads()
    model = LocalLLM(dtype="float32", threads=1)
    model.load()
    yield model
    torch.set_num_threads(threads)


def test_protocols(llm: LocalLLM) -> None:
    assert isinstance(llm, LLM)
    assert isinstance(llm, SupportsRanking)
    assert llm.model == "smollm2-135m-instruct"
    assert llm.dtype == "float32"
    assert resolve_dtype("auto") in ("bfloat16", "float32")


def test_same_seed_same_samples(llm: LocalLLM) -> None:
    kw = dict(n=3, temperature=1.0, max_tokens=12)
    first = llm.generate(ESSAY, seed=7, **kw)
    assert [c.text for c in llm.generate(ESSAY, seed=7, **kw)] == [c.text for c in first]
    other = llm.generate(ESSAY, seed=8, **kw)
    assert [c.text for c in other] != [c.text for c in first]
    assert len({c.text for c in first}) > 1  # the rows are sampled independently


def test_greedy_rows_identical(llm: LocalLLM) -> None:
    many = llm.generate(ARITH, n=3, temperature=0.0, max_tokens=20)
    single = llm.generate(ARITH, max_tokens=20)
    assert len(many) == 3
    assert {c.text for c in many} == {single[0].text}
    assert many[0] == single[0]


def test_greedy_matches_transformers_generate(llm: LocalLLM) -> None:
    ids = torch.tensor([llm.prompt_ids(COUNT)])
    with torch.inference_mode():
        ref = llm.hf_model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                    max_new_tokens=24, pad_token_id=llm.tokenizer.eos_token_id)
    expected = llm.tokenizer.decode(ref[0, ids.shape[1]:], skip_special_tokens=True)
    (ours,) = llm.generate(COUNT, max_tokens=24)
    assert ours.text == expected
    assert ours.completion_tokens == ref.shape[1] - ids.shape[1]


def test_shared_cache_rows_decode_like_greedy(llm: LocalLLM, monkeypatch) -> None:
    (greedy,) = llm.generate(COUNT, max_tokens=24)
    # A nucleus this small keeps only the top token: sampling n rows from the repeated KV
    # cache must then reproduce the greedy text in every row.
    rows = llm.generate(COUNT, n=3, temperature=1.0, top_p=1e-6, max_tokens=24, seed=5)
    assert [c.text for c in rows] == [greedy.text] * 3
    # End row 0 early: row 1 then decodes on from the cache with row 0 removed.
    steps = 0

    def pick(logits: torch.Tensor, *_: object) -> torch.Tensor:
        nonlocal steps
        steps += 1
        ids = logits.argmax(-1)
        if steps == 4:
            ids[0] = llm.tokenizer.eos_token_id
        return ids

    monkeypatch.setattr(llm, "_pick", pick)
    first, second = llm.generate(COUNT, n=2, temperature=1.0, max_tokens=24)
    assert second == greedy
    assert (first.finish_reason, first.completion_tokens) == ("stop", 4)
    assert greedy.text.startswith(first.text) and len(first.text) < len(greedy.text)


def test_token_counts(llm: LocalLLM) -> None:
    out = llm.generate(ARITH, n=4, temperature=1.0, max_tokens=16, seed=3)
    prompt_len = len(llm.prompt_ids(ARITH))
    for c in out:
        assert c.prompt_tokens == prompt_len > 0
        assert 0 < c.completion_tokens <= 16
        assert (c.finish_reason == "length") == (c.completion_tokens == 16)
        assert c.finish_reason in ("stop", "length")


def test_max_tokens_gives_length(llm: LocalLLM) -> None:
    out = llm.generate(ESSAY, n=2, temperature=1.0, max_tokens=5, seed=1)
    assert [(c.finish_reason, c.completion_tokens) for c in out] == [("length", 5)] * 2
    (greedy,) = llm.generate(ESSAY, max_tokens=5)
    assert (greedy.finish_reason, greedy.completion_tokens) == ("length", 5)
    assert len(llm.tokenizer(greedy.text, add_special_tokens=False)["input_ids"]) <= 6


def test_stop_strings_cut_the_text(llm: LocalLLM) -> None:
    (full,) = llm.generate(COUNT, max_tokens=24)
    middle = len(full.text) // 2
    stop = full.text[middle:middle + 2]
    (cut,) = llm.generate(COUNT, max_tokens=24, stop=["no such text", stop])
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.finish_reason == "stop"
    assert 0 < cut.completion_tokens < full.completion_tokens
    sampled = llm.generate(COUNT, n=2, temperature=0.5, max_tokens=24, stop=["\n"], seed=2)
    assert all("\n" not in c.text for c in sampled)


def _scratch_logprob(llm: LocalLLM, prompt: list[int], text: str) -> float:
    """Log-probability of ``text`` then end-of-turn by one full forward pass, no cache."""
    end = llm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    cont = [*llm.tokenizer(text, add_special_tokens=False)["input_ids"], end]
    ids = torch.tensor([prompt + cont])
    with torch.inference_mode():
        logp = torch.log_softmax(llm.hf_model(ids).logits[0].float(), dim=-1)
    rows = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(cont))
    return float(logp[rows, torch.tensor(cont)].sum())


def test_continuation_logprobs_match_scratch(llm: LocalLLM, monkeypatch) -> None:
    conts = ["5", "2 + 3 equals 5, because adding three to two gives five.", "", "Five."]
    got = llm.continuation_logprobs(ARITH, conts)
    prompt = llm.prompt_ids(ARITH)
    want = [_scratch_logprob(llm, prompt, c) for c in conts]
    assert got == pytest.approx(want, abs=2e-3, rel=1e-4)
    monkeypatch.setattr(local_mod, "RANK_BATCH", 2)  # chunked: the same numbers
    assert llm.continuation_logprobs(ARITH, conts) == pytest.approx(got, abs=2e-3)
    assert llm.continuation_logprobs(ARITH, []) == []


def test_reused_prompt_prefix_gives_the_same_numbers(llm: LocalLLM) -> None:
    """A prompt that extends the previous one reuses its KV cache: same logprobs and text."""
    base = [{"role": "system", "content": "You are a careful calculator. Answer briefly."},
            {"role": "user", "content": "What is 2 + 3?"}]
    longer = [*base, {"role": "assistant", "content": "5"},
              {"role": "user", "content": "And 4 + 4?"}]
    conts = ["8", "Eight.", "4 + 4 = 8"]
    prompt = llm.prompt_ids(longer)
    want = [_scratch_logprob(llm, prompt, c) for c in conts]
    llm.continuation_logprobs(base, ["5"])  # leaves base's cache behind
    before = llm.prefix_tokens_reused
    got = llm.continuation_logprobs(longer, conts)
    assert llm.prefix_tokens_reused - before >= len(llm.prompt_ids(base)) - 2
    assert got == pytest.approx(want, abs=2e-3, rel=1e-4)
    llm.continuation_logprobs(base, ["5"])
    (reused,) = llm.generate(longer, max_tokens=12)
    llm._prefix = None
    (fresh,) = llm.generate(longer, max_tokens=12)
    assert reused.text == fresh.text


def test_no_deprecated_transformers_arguments(llm: LocalLLM) -> None:
    """Decoding and ranking pass the KV cache under the name this transformers release takes,
    so a release that drops the old name does not break the backend."""
    llm._prefix = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        llm.generate(ARITH, n=2, temperature=1.0, max_tokens=4, seed=0)
        llm.continuation_logprobs(ARITH, ["5", "Five."])
    assert llm._cache_kwarg in ("cache", "past_key_values")


def test_continuation_logprobs_rank(llm: LocalLLM) -> None:
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    right, garbage = llm.continuation_logprobs(
        msgs, ["The capital of France is Paris.", "Purple ukulele seventeen banana the of."])
    assert right > garbage + 10


def test_threads_share_the_model(llm: LocalLLM, monkeypatch) -> None:
    # Prefill from scratch every time: a reused KV prefix runs other kernels, and where they
    # round differently a sampled token can flip, whichever thread came first.
    monkeypatch.setattr(local_mod, "MIN_PREFIX_REUSE", 10**9)
    kw = dict(n=2, temperature=1.0, max_tokens=8)
    want = {s: [c.text for c in llm.generate(ARITH, seed=s, **kw)] for s in (1, 2)}
    got: dict[int, list[str]] = {}

    def work(seed: int) -> None:
        got[seed] = [c.text for c in llm.generate(ARITH, seed=seed, **kw)]

    workers = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert got == want


def test_model_directory(llm: LocalLLM) -> None:
    other = LocalLLM(model=str(local_mod.embedded_model_dir()), dtype="float32")
    assert other.generate(ARITH, max_tokens=10) == llm.generate(ARITH, max_tokens=10)


def test_missing_model_dir(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        LocalLLM(model=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="no config"):
        LocalLLM(model=str(tmp_path))
    with pytest.raises(ConfigError):
        LocalLLM(dtype="float16")


def test_sampler_frequencies_and_nucleus() -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().expand(1000, -1).contiguous()
    gen = torch.Generator().manual_seed(0)
    counts = sum(torch.bincount(LocalLLM._pick(logits, 1.0, 1.0, gen), minlength=4)
                 for _ in range(20))
    assert (counts / counts.sum()).tolist() == pytest.approx(probs.tolist(), abs=0.01)
    counts = torch.bincount(LocalLLM._pick(logits, 1.0, 0.7, gen), minlength=4)
    assert counts[2:].tolist() == [0, 0] and counts[0] > counts[1] > 0  # nucleus {0.5, 0.3}
    assert set(LocalLLM._pick(logits, 0.0, 1.0, gen).tolist()) == {0}
    kept = local_mod._nucleus(probs[None], 0.81, k=2)  # the top 2 hold too little: full sort
    assert kept[0].tolist() == pytest.approx([0.5, 0.3, 0.15, 0.0])
