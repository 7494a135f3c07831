"""What the terminal shows: one bar per stage, short summaries, no library chatter unless
``--log-level DEBUG``."""

import json
import logging
import os
import subprocess
import sys
import threading
import warnings

import pytest
from typer.testing import CliRunner

from armap import console
from armap.cli.main import app

NOISE = ("Loading weights", "Writing model shards", "Token indices sequence length",
         "llama.cpp", "LOAD REPORT")


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in console.QUIET_ENV}
    return subprocess.run([sys.executable, "-m", "armap.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def assert_quiet(out: subprocess.CompletedProcess[str]) -> str:
    """The run succeeded and printed no library chatter and no JSON; returns stdout."""
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    for noise in NOISE:
        assert noise not in text, text
    assert not any(line.strip().startswith(("{", '"')) for line in out.stdout.splitlines())
    return out.stdout


# -- progress ---------------------------------------------------------------------------------
def test_a_bar_opened_inside_another_is_silent_and_the_next_stage_shows_again(capsys):
    with console.progress(total=2, desc="outer") as outer:
        with console.progress(total=3, desc="inner") as inner:
            inner.update(3)
            assert not outer.disable and inner.disable
        outer.update(2)
    with console.progress(total=1, desc="next") as after:
        after.update(1)
        assert not after.disable
    err = capsys.readouterr().err
    assert "outer: 100%" in err and "next: 100%" in err and "inner" not in err


def test_a_bar_opened_by_a_worker_thread_during_a_stage_is_silent(capsys):
    seen: list[bool] = []

    def worker() -> None:
        with console.progress(total=1, desc="per-episode") as bar:
            seen.append(bar.disable)

    with console.progress(total=1, desc="stage"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert seen == [True]
    assert "per-episode" not in capsys.readouterr().err


def test_a_disabled_bar_does_not_silence_the_one_inside_it_and_errors_close_bars(capsys):
    with console.progress(total=1, desc="off", enabled=False) as off, \
            console.progress(total=1, desc="on") as on:
        assert off.disable and not on.disable
    with pytest.raises(ValueError), console.progress([1, 2], desc="broken") as bar:
        for _ in bar:
            raise ValueError
    with console.progress(total=1, desc="after an error") as after:
        assert not after.disable
    assert list(console.progress(range(3), desc="wrapped")) == [0, 1, 2]


def test_numbers_in_summaries_and_tables():
    assert (console.number(None), console.number(0.5), console.number(4, ".1f")) == \
        ("-", "0.500", "4.0")


# -- configure --------------------------------------------------------------------------------
@pytest.fixture
def restored(monkeypatch):
    """Put logging and the library switches back as they were after the test."""
    for key in console.QUIET_ENV:
        monkeypatch.setenv(key, "")  # so that teardown puts back what was there
        monkeypatch.delenv(key)
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *console.NOISY_LOGGERS)}
    handlers = list(root.handlers)
    hf, hub = sys.modules.get("transformers"), sys.modules.get("huggingface_hub")
    hf_level = hf.utils.logging.get_verbosity() if hf else logging.WARNING
    hf_bars = hf.utils.logging.is_progress_bar_enabled() if hf else True
    hub_bars = not hub.utils.are_progress_bars_disabled() if hub else True
    yield
    for key in console.QUIET_ENV:  # monkeypatch puts the user's values back afterwards
        os.environ.pop(key, None)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    root.handlers[:] = handlers
    hf, hub = sys.modules.get("transformers"), sys.modules.get("huggingface_hub")
    if hf is not None:  # loaded before or during the test
        hf.utils.logging.set_verbosity(hf_level)
        if hf_bars:
            hf.utils.logging.enable_progress_bar()
    if hub is not None and hub_bars:
        hub.utils.enable_progress_bars()


def library_warnings() -> list[str]:
    """The deprecation notices of transformers and of armap that get through the filters."""
    with warnings.catch_warnings(record=True) as caught:
        for module in ("transformers.modeling_utils", "armap.policy"):
            warnings.warn_explicit(f"{module} is deprecated", FutureWarning, "x.py", 1,
                                   module=module, registry={})
    return [str(w.message) for w in caught]


def test_configure_quiets_the_libraries_below_debug(restored):
    for name in console.NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    console.configure("warning")
    assert logging.getLogger().level == logging.WARNING
    for name in console.NOISY_LOGGERS:
        assert logging.getLogger(name).level == logging.ERROR, name
    assert {k: os.environ[k] for k in console.QUIET_ENV} == console.QUIET_ENV
    assert library_warnings() == ["armap.policy is deprecated"]


def test_configure_keeps_a_setting_the_user_made(restored, monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    console.configure("INFO")
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("httpx").level == logging.ERROR


def test_configure_at_debug_leaves_the_libraries_alone(restored):
    for name in console.NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    console.configure("DEBUG")
    assert logging.getLogger().level == logging.DEBUG
    assert all(logging.getLogger(n).level == logging.NOTSET for n in console.NOISY_LOGGERS)
    assert not any(k in os.environ for k in console.QUIET_ENV)
    assert len(library_warnings()) == 2


# -- the verbs on the command line ------------------------------------------------------------
def test_explore_ends_with_a_short_summary_and_one_bar(tmp_path):
    out = cli("explore", "--env", "game24", "--policy", "random", "--limit", "3",
              "--run-dir", str(tmp_path))
    stdout = assert_quiet(out)
    assert stdout.splitlines() == [
        f"Wrote 3 trajectories to {tmp_path / 'trajectories.jsonl'} (3 new, 0 resumed)",
        "Solved 0 of 3, mean score 0.000, mean steps 4.0",
        f"Full summary: {tmp_path / 'manifest.json'} (jq .summary {tmp_path / 'manifest.json'})"]
    bars = {line.split(":")[0] for line in out.stderr.replace("\r", "\n").splitlines()
            if line.strip()}
    assert bars == {"explore"}, out.stderr
    summary = json.loads((tmp_path / "manifest.json").read_text())["summary"]
    assert summary["trajectories"] == 3 and summary["ran"] == 3


@pytest.mark.slow
def test_train_and_score_are_quiet_unless_debug(tmp_path, restored):
    import transformers  # noqa: F401 -- loaded before configure runs here, so restorable

    from armap.synth import SynthConfig, synthesize

    synthesize(SynthConfig(count=6, seed=0), tmp_path / "synth")
    triplets = tmp_path / "synth" / "triplets.jsonl"
    run = tmp_path / "rm"
    lines = assert_quiet(cli("train", "--triplets", str(triplets), "--max-steps", "1",
                             "--batch-size", "2", "--eval-every", "1", "--max-length", "128",
                             "--time-budget-minutes", "0", "--run-dir", str(run))).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Held-out pairwise accuracy ") and "threshold" in lines[0]
    assert lines[1].startswith("Trained 1 step on ") and "(stopped: max_steps)" in lines[1]
    checkpoint = run / "checkpoint"
    assert lines[2] == f"Checkpoint: {checkpoint}; metrics: {checkpoint / 'metrics.json'}"
    metrics = json.loads((checkpoint / "metrics.json").read_text())
    assert f"{metrics['val_accuracy']:.3f}" in lines[0]

    args = ["score", "--rm", str(checkpoint), "--input", str(triplets)]
    scored = tmp_path / "scored.jsonl"
    out = CliRunner().invoke(app, [*args, "--output", str(scored)])  # in-process: faster
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("Pairwise accuracy ") and out.stdout.endswith(f"Wrote {scored}\n")
    loud = cli("--log-level", "DEBUG", *args, "--output", str(tmp_path / "again.jsonl"))
    assert loud.returncode == 0, loud.stderr
    assert "Loading weights" in loud.stderr


@pytest.mark.slow
def test_the_embedded_llm_loads_silently_unless_debug(tmp_path):
    args = ("explore", "--env", "game24", "--policy", "llm", "--limit", "1", "--max-steps", "1",
            "--threads", "1")
    assert "Wrote 1 trajectories" in assert_quiet(cli(*args, "--run-dir", str(tmp_path / "a")))
    loud = cli("--log-level", "DEBUG", *args, "--run-dir", str(tmp_path / "b"))
    assert loud.returncode == 0, loud.stderr
    assert "llama.cpp: " in loud.stderr
