from armap.llm.base import completion_cost
from armap.llm.cache import CachedLLM
from armap.llm.scripted import ScriptedLLM

MESSAGES = [{"role": "user", "content": "hello there"}]


def counting_llm():
    return ScriptedLLM(responder=lambda messages, i: f"reply {i}")


def test_repeated_request_is_free_and_survives_reopening(tmp_path):
    inner = counting_llm()
    cached = CachedLLM(inner, tmp_path)
    first = cached.generate(MESSAGES, n=2, temperature=0.7, seed=1)
    again = cached.generate(MESSAGES, n=2, temperature=0.7, seed=1)
    assert [c.text for c in again] == [c.text for c in first]
    assert len(inner.calls) == 1 and all(c.cached for c in again)
    assert completion_cost(again).llm_calls == 0
    cached.close()

    reopened = CachedLLM(counting_llm(), tmp_path)
    assert [c.text for c in reopened.generate(MESSAGES, n=2, temperature=0.7, seed=1)] == [
        c.text for c in first]
    assert reopened.llm.calls == []


def test_only_missing_sample_indices_are_generated(tmp_path):
    inner = counting_llm()
    cached = CachedLLM(inner, tmp_path)
    cached.generate(MESSAGES, n=2, seed=5)
    out = cached.generate(MESSAGES, n=5, seed=5)
    assert len(out) == 5
    assert inner.calls[-1]["n"] == 3
    assert [c.cached for c in out] == [True, True, False, False, False]


def test_different_parameters_are_different_entries(tmp_path):
    inner = counting_llm()
    cached = CachedLLM(inner, tmp_path)
    cached.generate(MESSAGES, temperature=0.0)
    cached.generate(MESSAGES, temperature=0.5)
    cached.generate([{"role": "user", "content": "other"}], temperature=0.0)
    assert len(inner.calls) == 3
