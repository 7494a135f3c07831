"""`OpenAICompatLLM` against a real HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from armap.errors import ConfigError, LLMError
from armap.llm import LLM, LLMConfig, make_llm
from armap.llm.openai_compat import OpenAICompatLLM

from .fault_server import FaultServer

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]


@contextmanager
def client(server: FaultServer, **kwargs: object) -> Iterator[tuple[OpenAICompatLLM, list[float]]]:
    """A client of ``server`` whose backoff sleeps are recorded instead of slept."""
    options: dict[str, object] = {"api_key_env": None, "timeout": 5.0, "max_retries": 4,
                                  "concurrency": 4}
    options.update(kwargs)
    sleeps: list[float] = []
    with OpenAICompatLLM("fault-model", server.base_url, **options) as llm:  # type: ignore[arg-type]
        llm._sleep = sleeps.append
        yield llm, sleeps


def test_is_an_llm_and_strips_trailing_slash() -> None:
    with OpenAICompatLLM("m", "http://127.0.0.1:1/v1/", api_key_env=None) as llm:
        assert isinstance(llm, LLM)
        assert llm.url == "http://127.0.0.1:1/v1/chat/completions"


def test_missing_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base URL"):
        OpenAICompatLLM("m", None)


def test_make_llm_builds_it_from_config() -> None:
    with FaultServer() as server:
        llm = make_llm(LLMConfig(llm="openai", model="served", base_url=server.base_url,
                                 max_retries=1, concurrency=3, timeout=7.0))
        assert isinstance(llm, OpenAICompatLLM)
        assert (llm.max_retries, llm.concurrency, llm.timeout) == (1, 3, 7.0)
        assert llm.generate(MESSAGES)[0].text == "hello there #0 seed=None"
        llm.close()
        assert server.requests[0]["model"] == "served"


def test_n_honoured_and_usage_recorded() -> None:
    with FaultServer() as server, client(server) as (llm, sleeps):
        out = llm.generate(MESSAGES, n=3, temperature=0.7, top_p=0.9, max_tokens=50)
    assert [c.text for c in out] == [f"hello there #{i} seed=None" for i in range(3)]
    assert server.count == 1 and not sleeps
    # usage: prompt 4 words; completion 3 * 3 + 1 = 10 tokens split 4 + 3 + 3
    assert [c.prompt_tokens for c in out] == [4, 4, 4]
    assert [c.completion_tokens for c in out] == [4, 3, 3]
    assert all(c.finish_reason == "stop" and not c.cached for c in out)
    body = server.requests[0]
    assert body == {"model": "fault-model", "messages": MESSAGES, "n": 3, "temperature": 0.7,
                    "top_p": 0.9, "max_tokens": 50}  # None fields (stop, seed) omitted


def test_stop_and_seed_are_sent_and_length_finish_reason() -> None:
    with FaultServer() as server, client(server) as (llm, _):
        (out,) = llm.generate(MESSAGES, max_tokens=2, stop=["\n"], seed=5)
    assert server.requests[0]["stop"] == ["\n"] and server.requests[0]["seed"] == 5
    assert out.text == "hello there" and out.finish_reason == "length"


def test_server_ignoring_n_is_asked_again_with_distinct_seeds() -> None:
    with FaultServer(ignore_n=True) as server, client(server) as (llm, _):
        out = llm.generate(MESSAGES, n=4, temperature=1.0, seed=7)
    assert len(out) == 4 and server.count == 4
    assert sorted(r["seed"] for r in server.requests) == [7, 8, 9, 10]
    assert server.requests[0]["n"] == 4 and all(r["n"] == 1 for r in server.requests[1:])
    assert len({c.text for c in out}) == 4
    assert out[0].text == "hello there #0 seed=7"
    assert all(c.completion_tokens == 4 for c in out)  # 3 * 1 + 1 each


def test_server_ignoring_n_without_seed_sends_no_seed() -> None:
    with FaultServer(ignore_n=True) as server, client(server) as (llm, _):
        out = llm.generate(MESSAGES, n=3, temperature=1.0)
    assert len(out) == 3 and server.count == 3
    assert all("seed" not in r for r in server.requests)


@pytest.mark.parametrize("fault", ["429", "500", "503", "timeout", "drop", "badjson",
                                   "nochoices"])
def test_retries_after_one_fault(fault: str) -> None:
    with (
        FaultServer([fault], timeout_sleep=1.0) as server,
        client(server, timeout=0.3) as (llm, sleeps),
    ):
        out = llm.generate(MESSAGES, n=2)
    assert [c.text for c in out] == ["hello there #0 seed=None", "hello there #1 seed=None"]
    assert server.count == 2 and len(sleeps) == 1


def test_retries_a_mix_of_faults_with_exponential_backoff() -> None:
    faults = ["500", "drop", "503", "timeout"]
    with (
        FaultServer(faults, timeout_sleep=1.0) as server,
        client(server, timeout=0.3, backoff_base=0.5) as (llm, sleeps),
    ):
        assert len(llm.generate(MESSAGES)) == 1
    assert server.count == 5
    assert len(sleeps) == 4
    for k, delay in enumerate(sleeps):  # jitter keeps it in [half, full] of 0.5 * 2**k
        assert 0.5 * 2**k / 2 <= delay <= 0.5 * 2**k


def test_backoff_is_capped() -> None:
    with (
        FaultServer(["500"] * 6) as server,
        client(server, max_retries=6, backoff_base=1.0, backoff_cap=3.0) as (llm, sleeps),
    ):
        llm.generate(MESSAGES)
    assert server.count == 7 and max(sleeps) <= 3.0 and sleeps[-1] >= 1.5


def test_retry_after_header_is_honoured_and_capped() -> None:
    with (
        FaultServer(["429:3", "429:100"]) as server,
        client(server, backoff_cap=10.0) as (llm, sleeps),
    ):
        llm.generate(MESSAGES)
    assert server.count == 3 and sleeps == [3.0, 10.0]


def test_gives_up_after_max_retries_with_a_clear_error() -> None:
    with (
        FaultServer(["503"] * 10) as server,
        client(server, max_retries=2) as (llm, sleeps),
        pytest.raises(LLMError) as info,
    ):
        llm.generate(MESSAGES)
    assert server.count == 3 and len(sleeps) == 2
    message = str(info.value)
    assert f"{server.base_url}/chat/completions" in message
    assert "after 3 attempts" in message and "HTTP 503" in message and "injected 503" in message


def test_gives_up_on_timeouts_naming_the_timeout() -> None:
    with (
        FaultServer(["timeout"] * 3, timeout_sleep=1.0) as server,
        client(server, max_retries=1, timeout=0.2) as (llm, _),
        pytest.raises(LLMError, match=r"after 2 attempts; last error: ReadTimeout"),
    ):
        llm.generate(MESSAGES)
    assert server.count == 2


def test_gives_up_on_malformed_bodies() -> None:
    with (
        FaultServer(["badjson"] * 3) as server,
        client(server, max_retries=1) as (llm, _),
        pytest.raises(LLMError, match="malformed response body"),
    ):
        llm.generate(MESSAGES)
    assert server.count == 2


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with OpenAICompatLLM("m", f"http://127.0.0.1:{port}/v1", api_key_env=None,
                         max_retries=2) as llm:
        sleeps: list[float] = []
        llm._sleep = sleeps.append
        with pytest.raises(LLMError, match=r"after 3 attempts; last error: ConnectError"):
            llm.generate(MESSAGES)
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", ["400", "401", "404", "422"])
def test_client_errors_are_not_retried(status: str) -> None:
    with (
        FaultServer([status, "500"]) as server,
        client(server) as (llm, sleeps),
        pytest.raises(LLMError, match=rf"HTTP {status} \(not retried\)"),
    ):
        llm.generate(MESSAGES)
    assert server.count == 1 and not sleeps


def test_retries_are_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    with (
        FaultServer(["503"]) as server,
        client(server) as (llm, _),
        caplog.at_level(logging.WARNING, logger="armap.llm.openai_compat"),
    ):
        llm.generate(MESSAGES)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "HTTP 503" in record.getMessage() and "attempt 1 of 5" in record.getMessage()


def _hammer(llm: OpenAICompatLLM, calls: int) -> list[int]:
    """``calls`` generate calls from as many threads at once; each call's completion count."""
    results: list[int] = []
    barrier = threading.Barrier(calls)

    def call(i: int) -> None:
        barrier.wait()
        results.append(len(llm.generate([{"role": "user", "content": f"q{i}"}], n=2)))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrency_limit_holds() -> None:
    with FaultServer(delay=0.1) as server, client(server, concurrency=2) as (llm, _):
        assert _hammer(llm, 8) == [2] * 8
    assert server.count == 8
    assert server.max_in_flight == 2


def test_concurrency_limit_holds_when_follow_up_requests_fan_out() -> None:
    with (
        FaultServer(delay=0.05, ignore_n=True) as server,
        client(server, concurrency=2) as (llm, _),
    ):
        assert _hammer(llm, 4) == [2] * 4
    assert server.count == 8 and server.max_in_flight == 2


def test_without_a_tight_limit_requests_do_overlap() -> None:
    """Control for the test above: the server can see more than two requests at once."""
    with FaultServer(delay=0.2) as server, client(server, concurrency=8) as (llm, _):
        _hammer(llm, 8)
    assert server.max_in_flight > 2


def test_api_key_header_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARMAP_TEST_API_KEY", "sk-test-123")
    with FaultServer() as server, client(server, api_key_env="ARMAP_TEST_API_KEY") as (llm, _):
        llm.generate(MESSAGES)
    headers = {k.lower(): v for k, v in server.headers[0].items()}
    assert headers["authorization"] == "Bearer sk-test-123"


def test_no_api_key_header_when_the_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARMAP_TEST_API_KEY", raising=False)
    with FaultServer() as server, client(server, api_key_env="ARMAP_TEST_API_KEY") as (llm, _):
        llm.generate(MESSAGES)
    assert "authorization" not in {k.lower() for k in server.headers[0]}
