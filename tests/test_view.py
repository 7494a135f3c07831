"""`armap view`: the page of a real (small) eval run, checked in headless Chromium."""

import json
import random
import shutil
import statistics
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from armap.cli.main import app
from armap.envs.game24.arith import next_steps
from armap.errors import RunDirError
from armap.evaluate import RESULTS, evaluate
from armap.policy import RandomPolicy
from armap.types import Step
from armap.view import load_run, render, write_view

from .configs import random_eval

INSTALL = "run scripts/install.sh --test (as root it installs Debian's chromium and " \
          "chromium-driver; selenium comes with the test extra)"
MARKUP = "<script>window.injected = 1</script><b>not bold</b> & "


def reaches_24(numbers: tuple[Fraction, ...]) -> bool:
    if len(numbers) == 1:
        return numbers[0] == 24
    return any(reaches_24(c.left) for c in next_steps(numbers))


class Guided(RandomPolicy):
    """Random, but most proposals keep 24 reachable, so some episodes solve their puzzle."""

    def propose(self, context, *, n=1, valid_actions=None, seed=None, **kw):
        steps = super().propose(context, n=n, valid_actions=valid_actions, seed=seed, **kw)
        observation = context.steps[-1].observation if context.steps \
            else context.initial_observation
        if not observation.startswith("Left:"):
            return steps
        numbers = tuple(Fraction(x) for x in observation.split(":", 1)[1].split())
        good = [c.line for c in next_steps(numbers)
                if reaches_24(c.left) and c.line in valid_actions]
        rng = random.Random(seed)
        return [Step(rng.choice(good)) if good and rng.random() < 0.6 else s for s in steps]


class NoisyOracle:
    """Ground truth plus a deterministic per-trajectory offset: distinct scores, imperfect
    picks."""

    name = "noisy-oracle"

    def score(self, instruction, trajectories):
        return [0.5 * t.env_score + zlib.crc32("|".join(t.actions).encode()) % 1000 / 2000
                for t in trajectories]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished eval of every method on 3 puzzles (budget 4), with markup injected into
    one observation (the page must show it as text)."""
    path = tmp_path_factory.mktemp("eval")
    evaluate(random_eval(3, budget=4), path, policy=Guided(), reward=NoisyOracle())
    lines = [json.loads(x) for x in (path / RESULTS).read_text().splitlines()]
    greedy = next(r for r in lines if r["method"] == "greedy")
    step = greedy["candidates"][0]["trajectory"]["steps"][0]
    step["observation"] = MARKUP + step["observation"]
    (path / RESULTS).write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def latest(path: Path) -> dict[tuple[str, str], dict]:
    out = {}
    for line in (path / RESULTS).read_text().splitlines():
        r = json.loads(line)
        out[(r["task_id"], r["method"])] = r
    return out


def test_the_run_is_worth_viewing(run_dir):
    results = latest(run_dir)
    assert len(results) == 3 * 5
    scores = {r["env_score"] for r in results.values()}
    assert len(scores) > 1  # some candidates solved their puzzle, some did not
    tree = results[(next(iter(results))[0], "mcts")]["meta"]["tree"]
    assert tree["visits"] == 4 and tree["children"]


def test_page_escapes_record_text_and_marks_the_chosen_candidates(run_dir):
    page = render(load_run(run_dir))
    assert "<script>window.injected" not in page
    assert "&lt;script&gt;window.injected = 1&lt;/script&gt;&lt;b&gt;not bold&lt;/b&gt; &amp;" \
        in page
    chosen = sum(1 for r in latest(run_dir).values() if r["method"] != "sampling")
    assert page.count('class="candidate chosen"') == chosen
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_crashed_planner_shows_its_error(run_dir, tmp_path):
    shutil.copytree(run_dir, tmp_path / "r")
    task = next(iter(latest(run_dir)))[0]
    failed = {"schema_version": 1, "task_id": task, "planner": "mcts", "method": "mcts",
              "unit": "mcts", "budget": 4, "chosen": None, "env_score": 0.0, "steps": None,
              "candidates": [], "cost": {}, "error": "RuntimeError: <boom>", "meta": {}}
    with (tmp_path / "r" / RESULTS).open("a") as f:
        f.write(json.dumps(failed) + "\n")
    page = render(load_run(tmp_path / "r"))
    assert "<pre class=error>RuntimeError: &lt;boom&gt;</pre>" in page
    assert '<span class="badge failed">mcts 0.000</span>' in page


def test_cli_writes_the_page_and_explains_a_wrong_directory(run_dir, tmp_path):
    out = CliRunner().invoke(app, ["view", str(run_dir), "--out", str(tmp_path / "v.html")])
    assert out.exit_code == 0, out.output
    assert f"Wrote {tmp_path / 'v.html'}" in out.output
    assert (tmp_path / "v.html").read_text().startswith("<!doctype html>")
    out = CliRunner().invoke(app, ["view", str(tmp_path / "missing")])
    assert out.exit_code != 0 and "is not a directory" in str(out.exception)
    out = CliRunner().invoke(app, ["view", str(tmp_path)])
    assert isinstance(out.exception, RunDirError) and "has no results.jsonl" in str(
        out.exception)


def test_a_run_of_another_verb_is_refused_with_a_pointer_to_its_eval_stage(run_dir, tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"verb": "demo"}))
    shutil.copytree(run_dir, tmp_path / "eval")
    with pytest.raises(RunDirError, match=r"'armap demo' run.*its eval stage is"):
        write_view(tmp_path)


# -- in a real browser -------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Selenium; fails (never skips) when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(f"selenium is not installed: {INSTALL}")
    if not chromium or not driver_path:
        pytest.fail(f"chromium and chromedriver are not on PATH: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()


def test_page_in_headless_chromium(run_dir, browser):
    from selenium.webdriver.common.by import By

    page = write_view(run_dir)
    browser.get(page.resolve().as_uri())
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    assert browser.execute_script("return window.injected === undefined")

    # The method table shows the numbers of the records.
    results = latest(run_dir)
    for method in ("greedy", "sampling", "best_of_n", "reflexion", "mcts"):
        records = [r for (_, m), r in results.items() if m == method]
        oracle = statistics.fmean(max(c["env_score"] for c in r["candidates"]) for r in records)
        expected = {
            "score": f"{statistics.fmean(r['env_score'] for r in records):.3f}",
            "oracle_best_of_n": f"{oracle:.3f}",
            "tasks": str(len(records)),
            "errors": "0",
        }
        row = browser.find_element(By.CSS_SELECTOR, f'#methods tr[data-method="{method}"]')
        shown = {k: row.find_element(By.CSS_SELECTOR, f'td[data-col="{k}"]').text
                 for k in expected}
        assert shown == expected, method
    assert browser.find_elements(By.CSS_SELECTOR, "#budget-plot polyline")

    # Expanding a task shows its steps: the chosen trajectory of each method is open.
    task = next(iter(results))[0]
    details = browser.find_element(By.CSS_SELECTOR, f'details.task[data-task="{task}"]')
    best = results[(task, "best_of_n")]
    action = best["candidates"][best["chosen"]]["trajectory"]["steps"][-1]["action"]
    step = details.find_element(
        By.CSS_SELECTOR, 'section[data-method="best_of_n"] details.chosen li:last-child .action')
    assert not step.is_displayed()
    details.find_element(By.TAG_NAME, "summary").click()
    assert step.is_displayed() and step.text == action
    chosen = details.find_element(By.CSS_SELECTOR, 'section[data-method="best_of_n"] '
                                  "details.chosen summary [data-field=rm]")
    assert chosen.text == f"{best['candidates'][best['chosen']]['reward']['total']:.3f}"

    # Injected markup in an observation is shown as text.
    greedy_task = next(t for (t, m) in results if m == "greedy")
    if greedy_task != task:
        browser.find_element(By.CSS_SELECTOR,
                             f'details.task[data-task="{greedy_task}"] > summary').click()
    obs = browser.find_element(By.CSS_SELECTOR, f'details.task[data-task="{greedy_task}"] '
                               'section[data-method="greedy"] li:nth-child(2) pre.obs')
    assert obs.text.startswith(MARKUP.strip())

    # The MCTS tree expands to nodes with their visits.
    tree = details.find_element(By.CSS_SELECTOR, 'section[data-method="mcts"] details.tree')
    root = results[(task, "mcts")]["meta"]["tree"]
    node = tree.find_element(By.CSS_SELECTOR, "ul > li > details > ul > li code")
    assert not node.is_displayed()
    tree.find_element(By.TAG_NAME, "summary").click()
    assert node.is_displayed() and node.text == root["children"][0]["action"]
    assert f"visits {root['visits']}," in tree.text
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
