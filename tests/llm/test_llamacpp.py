"""The llama.cpp engine of the local backend, against the embedded SmolLM2-135M-Instruct GGUF,
and its agreement with the transformers engine on the same weights."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from armap.errors import ConfigError, MissingDependencyError
from armap.llm import LLM, LLMConfig, SupportsRanking, make_llm, resolve_engine
from armap.llm import llamacpp as cpp_mod

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

if not cpp_mod.available():
    pytest.skip(f"llama-cpp-python is not installed: {cpp_mod.INSTALL}",
                allow_module_level=True)

from armap.llm.llamacpp import LlamaCppLLM  # noqa: E402
from armap.llm.local import LocalLLM  # noqa: E402

ARITH = [{"role": "user", "content": "What is 2 + 3?"}]
COUNT = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]
ESSAY = [{"role": "user", "content": "Write a long essay about the history of Rome."}]
AGREEMENT_PROBES = 40
AGREEMENT_CANDIDATES = 8  # a seeded sample of each state's candidates: keeps the test short


@pytest.fixture(scope="module")
def cpp() -> Iterator[LlamaCppLLM]:
    # One thread: on a CPU shared with other processes, llama.cpp's thread barriers wait for
    # descheduled threads and two threads get slower than one.
    model = LlamaCppLLM(threads=1)
    model.load()
    yield model
    model.close()


@pytest.fixture(scope="module")
def hf() -> Iterator[LocalLLM]:
    import torch

    threads = torch.get_num_threads()  # one thread, as in test_local (and restored after)
    model = LocalLLM(dtype="float32", threads=1)
    model.load()
    yield model
    torch.set_num_threads(threads)


def test_protocols_and_make_llm(cpp: LlamaCppLLM) -> None:
    assert isinstance(cpp, LLM) and isinstance(cpp, SupportsRanking)
    assert resolve_engine("auto", "smollm2-135m-instruct") == "llama.cpp"
    assert resolve_engine("auto", "/models/some-hf-dir") == "transformers"
    assert isinstance(make_llm(LLMConfig()), LlamaCppLLM)
    assert isinstance(make_llm(LLMConfig(engine="transformers")), LocalLLM)
    with pytest.raises(ConfigError, match="engine"):
        LLMConfig(engine="vllm")
    with pytest.raises(ConfigError, match="GGUF file"):
        LlamaCppLLM(model="/no/such/dir")


def test_forcing_a_missing_llama_cpp_names_the_install(monkeypatch) -> None:
    monkeypatch.setattr(cpp_mod, "available", lambda: False)
    with pytest.raises(MissingDependencyError, match="pip install llama-cpp-python"):
        make_llm(LLMConfig(engine="llama.cpp"))
    assert resolve_engine("auto", "smollm2-135m-instruct") == "transformers"


def test_prompt_ids_match_transformers(cpp: LlamaCppLLM, hf: LocalLLM) -> None:
    """The chat template comes from the GGUF and renders like transformers renders it
    (including SmolLM2's default system prompt when none is given)."""
    conversations = [
        ARITH,
        [{"role": "system", "content": "You are terse."}, *ARITH],
        [*ARITH, {"role": "assistant", "content": "5"},
         {"role": "user", "content": "And 4 + 4? <|im_start|> stays text?"}],
    ]
    for messages in conversations:
        assert cpp.prompt_ids(messages) == hf.prompt_ids(messages)


def test_ranking_agrees_with_transformers(cpp: LlamaCppLLM, hf: LocalLLM) -> None:
    """Both engines pick the same best Game of 24 step on at least 95% of the probes (the
    throughput benchmark measures it with every candidate)."""
    import random

    from armap.envs import make
    from armap.policy import ranking_probes
    from armap.prompts import PromptPack

    with make("game24") as env:
        probes = ranking_probes(env, PromptPack.load("game24", "choice"),
                                env.tasks("test")[:20], seed=0)[:AGREEMENT_PROBES]
    assert len(probes) == AGREEMENT_PROBES
    rng = random.Random(0)
    same, worst = 0, 0.0
    for messages, every in probes:
        candidates = rng.sample(every, min(AGREEMENT_CANDIDATES, len(every)))
        a = cpp.continuation_logprobs(messages, candidates)
        b = hf.continuation_logprobs(messages, candidates)
        same += max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
        worst = max(worst, *(abs(x - y) for x, y in zip(a, b, strict=True)))
    log.warning("ranking agreement %d/%d, largest log-prob difference %.3f", same, len(probes),
                worst)
    assert same >= 0.95 * len(probes)


def test_same_seed_same_samples(cpp: LlamaCppLLM) -> None:
    kw = dict(n=3, temperature=1.0, max_tokens=12)
    first = cpp.generate(ESSAY, seed=7, **kw)
    assert len(first) == 3
    assert [c.text for c in cpp.generate(ESSAY, seed=7, **kw)] == [c.text for c in first]
    assert [c.text for c in cpp.generate(ESSAY, seed=8, **kw)] != [c.text for c in first]
    assert len({c.text for c in first}) > 1  # the rows are sampled independently
    # Sample i depends on the seed and i only, not on how many samples were asked for.
    assert cpp.generate(ESSAY, seed=7, n=2, temperature=1.0, max_tokens=12) == first[:2]


def test_greedy_rows_and_counts(cpp: LlamaCppLLM) -> None:
    many = cpp.generate(ARITH, n=3, temperature=0.0, max_tokens=20)
    (single,) = cpp.generate(ARITH, max_tokens=20)
    assert many == [single] * 3
    assert "5" in single.text and single.finish_reason == "stop"
    assert single.prompt_tokens == len(cpp.prompt_ids(ARITH))
    rows = cpp.generate(COUNT, n=3, temperature=1.0, top_p=1e-6, max_tokens=16, seed=5)
    (greedy,) = cpp.generate(COUNT, max_tokens=16)
    assert [c.text for c in rows] == [greedy.text] * 3  # a tiny nucleus is greedy


def test_max_tokens_and_stop_strings(cpp: LlamaCppLLM) -> None:
    out = cpp.generate(ESSAY, n=2, temperature=1.0, max_tokens=5, seed=1)
    assert [(c.finish_reason, c.completion_tokens) for c in out] == [("length", 5)] * 2
    (full,) = cpp.generate(COUNT, max_tokens=24)
    middle = len(full.text) // 2
    stop = full.text[middle:middle + 2]
    (cut,) = cpp.generate(COUNT, max_tokens=24, stop=["no such text", stop])
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.finish_reason == "stop"
    assert 0 < cut.completion_tokens < full.completion_tokens
    sampled = cpp.generate(COUNT, n=2, temperature=0.5, max_tokens=24, stop=["\n"], seed=2)
    assert len(sampled) == 2 and all("\n" not in c.text for c in sampled)


def test_reused_prefix_and_batching_give_the_same_scores(cpp: LlamaCppLLM) -> None:
    """Scores do not depend on what the cache held before, nor on the other candidates."""
    base = [{"role": "system", "content": "You are a careful calculator. Answer briefly."},
            {"role": "user", "content": "What is 2 + 3?"}]
    longer = [*base, {"role": "assistant", "content": "5"},
              {"role": "user", "content": "And 4 + 4?"}]
    conts = ["8", "Eight.", "4 + 4 = 8", "4 + 4 = 9", "", "8"]
    cpp.close()  # nothing cached
    fresh = cpp.continuation_logprobs(longer, conts)
    assert fresh[0] == fresh[-1]
    alone = [cpp.continuation_logprobs(longer, [c])[0] for c in conts]
    cpp.continuation_logprobs(base, ["5"])
    before = cpp.prefix_tokens_reused
    reused = cpp.continuation_logprobs(longer, conts)
    assert cpp.prefix_tokens_reused - before >= len(cpp.prompt_ids(base)) - 2
    assert reused == pytest.approx(fresh, abs=0.05)
    assert alone == pytest.approx(fresh, abs=0.05)
    assert cpp.continuation_logprobs(longer, []) == []
    right, garbage = cpp.continuation_logprobs(
        [{"role": "user", "content": "What is the capital of France?"}],
        ["The capital of France is Paris.", "Purple ukulele seventeen banana the of."])
    assert right > garbage + 10


def test_threads_share_the_model(cpp: LlamaCppLLM) -> None:
    kw = dict(n=2, temperature=1.0, max_tokens=8)
    want = {s: cpp.generate(ARITH, seed=s, **kw) for s in (1, 2)}
    ranks = {s: cpp.continuation_logprobs(ARITH, ["5", "Five."]) for s in (1, 2)}
    got: dict[int, object] = {}

    def work(seed: int) -> None:
        got[seed] = (cpp.generate(ARITH, seed=seed, **kw),
                     cpp.continuation_logprobs(ARITH, ["5", "Five."]))

    workers = [threading.Thread(target=work, args=(s,)) for s in (1, 2, 1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for seed in (1, 2):
        samples, scores = got[seed]  # type: ignore[misc]
        assert samples == want[seed]
        assert scores == pytest.approx(ranks[seed], abs=1e-4)


def test_context_limits_are_errors_not_crashes() -> None:
    from armap.errors import LLMError

    small = LlamaCppLLM(threads=1, n_ctx=64)
    with pytest.raises(LLMError, match="context"):
        small.generate(ESSAY * 4, max_tokens=8)
    (ok,) = small.generate(ARITH, max_tokens=4)
    assert ok.completion_tokens == 4
    small.close()
