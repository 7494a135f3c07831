"""ScienceWorldEnv on the real simulator: tasks and splits, a short episode, a gold path to
the full score, snapshots, the conformance checks, and processes that die, hang, or are left
behind. Needs Java and the ``scienceworld`` extra (CI installs both); without them these tests
fail with the fix in the message rather than skip."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from armap.envs import envs, make
from armap.envs.checker import check_env
from armap.envs.spec import EnvConfig
from armap.episode import replay, rollout
from armap.errors import ArmapError, ConfigError
from armap.explore import TRAJECTORIES, ExploreConfig, explore
from armap.jsonl import read_jsonl
from armap.policy import RandomPolicy
from armap.runner import RunnerConfig
from armap.types import EndReason

try:
    from armap.envs.scienceworld.env import HIDDEN, ScienceWorldEnv
    from armap.envs.scienceworld.process import SimulatorError, live_simulators

    ScienceWorldEnv()  # checks that Java and the packages are there
except ArmapError as error:
    pytest.fail(f"ScienceWorld cannot run here: {error}", pytrace=False)


@pytest.fixture(scope="module")
def env():
    with ScienceWorldEnv() as e:
        yield e


def first(env, task_name, split="seen"):
    return next(t for t in env.tasks(split) if t.spec["task_name"] == task_name)


def assert_no_leak(observation):
    assert not any(h in observation.lower() for h in HIDDEN), observation


def test_registered_and_lazy():
    assert envs.spec("scienceworld").id == "scienceworld-v0"
    code = ("import sys, armap.envs; armap.envs.envs.spec('scienceworld'); "
            "from armap.envs.scienceworld import env; env.ScienceWorldEnv().tasks('seen'); "
            "print(sorted(m for m in ('scienceworld', 'py4j') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"  # listing tasks needs neither the simulator nor Java


def test_splits_are_the_simulators_variations(env):
    sizes = {s: len(env.tasks(s)) for s in env.splits}
    assert sizes == {"train": 3592, "seen": 1796, "unseen": 1819, "test": 3615}
    seen = env.tasks("seen")
    assert len({t.spec["task_name"] for t in seen[:30]}) == 30  # round robin: one per type
    boil = seen[0]
    assert boil.id == "scienceworld_boil_14" and boil.split == "seen" and boil.env == \
        "scienceworld"
    assert boil.spec == {"task_name": "boil", "variation": 14}
    assert boil.instruction.startswith("Your task is to boil")
    test = env.tasks("test")
    assert [t.split for t in test[:31]] == ["seen"] * 30 + ["unseen"]
    assert {t.id for t in test} == {t.id for t in seen} | {t.id for t in env.tasks("unseen")}
    reserved = env.reserved_task_ids()
    assert len(reserved) == 3615 and not reserved & {t.id for t in env.tasks("train")}
    assert env.find_task("scienceworld_boil_14") == boil


def test_step_limits_and_options(env):
    assert env.step_limit(first(env, "boil")) == 100
    assert env.step_limit(first(env, "find-plant")) == 15
    assert env.step_limit(first(env, "mendelian-genetics-known-plant")) == 230
    assert ScienceWorldEnv(max_steps=7).step_limit(first(env, "boil")) == 7
    spec_env = EnvConfig(env="scienceworld", max_steps=5).make()
    assert spec_env.step_limit(first(env, "boil")) == 5  # --max-steps wins over the table
    for bad in ({"simplifications": "hard"}, {"max_processes": 0}, {"timeout": 0},
                {"max_steps": 0}):
        with pytest.raises(ConfigError):
            ScienceWorldEnv(**bad)
    with pytest.raises(ConfigError, match="train, seen, unseen, test"):
        env.tasks("dev")
    with pytest.raises(ArmapError, match="apt-get install"):
        ScienceWorldEnv(java="no-such-java")


def test_a_real_short_episode(env):
    task = first(env, "find-non-living-thing")
    observation = env.reset(task)
    assert observation.startswith("This room is called")
    assert 0.0 <= env.score() < 1.0  # some subgoals may hold from the start
    valid = env.valid_actions()
    assert "look around" in valid and len(valid) > 50
    observation, done = env.step("look around")
    assert not done and "This room is called" in observation
    observation, done = env.step("jump over the moon")
    assert observation == "No known action matches that input." and not done
    observation, done = env.step("score")  # refused: the score is never shown
    assert observation == "No known action matches that input." and not done
    observation, done = env.step("inventory")
    assert observation.startswith("In your inventory")
    assert env.info() == {"task_name": "find-non-living-thing", "variation": task.spec[
        "variation"], "invalid_actions": 2, "process_restarts": 0}
    assert env.actions == ["look around", "jump over the moon", "score", "inventory"]
    trajectory = rollout(env, RandomPolicy(), task, max_steps=3, seed=1)
    assert trajectory.end in (EndReason.STEP_LIMIT, EndReason.FINISHED)
    assert len(trajectory.steps) <= 3 and trajectory.env_score is not None
    for text in [trajectory.initial_observation, *(s.observation for s in trajectory.steps)]:
        assert_no_leak(text)


def test_a_gold_path_reaches_the_full_score(env):
    task = first(env, "lifespan-longest-lived")
    gold = env.gold_actions(task)
    assert 2 <= len(gold) <= 10
    trajectory = replay(env, task, gold)
    assert trajectory.end is EndReason.FINISHED and trajectory.env_score == 1.0
    assert env.failure_type(trajectory) is None and env.valid_actions() == []
    focus = next(i for i, a in enumerate(gold) if a.startswith("focus on"))
    partial = replay(env, task, gold[:focus])  # walked to the animals, chose none
    assert 0.0 < partial.env_score < 1.0  # best progress so far
    assert env.failure_type(partial) == "partial_progress"


def test_snapshot_and_restore_by_replay(env):
    task = first(env, "find-animal")
    env.reset(task)
    env.step("open door to kitchen")
    observation, _ = env.step("look around")
    snapshot, valid, score = env.snapshot(), env.valid_actions(), env.score()
    env.step("go to kitchen")
    env.step("look around")
    assert env.restore(snapshot) == observation
    assert env.actions == list(snapshot.actions) and env.valid_actions() == valid
    assert env.score() == score
    assert env.reset(task) == env.reset(task)  # deterministic, also across processes


def test_conformance(env):
    check_env(env, first(env, "lifespan-shortest-lived"), episodes=2)


def _kill(env, sig=signal.SIGKILL):
    pid = env.simulator.pid
    os.kill(pid, sig)
    return pid


def test_a_killed_process_is_replaced_and_the_episode_goes_on(env):
    task = first(env, "find-living-thing")
    env.reset(task)
    env.step("open door to hallway")
    looked, _ = env.step("look around")
    valid = env.valid_actions()
    killed = _kill(env)
    assert env.step("look around") == (looked, False)  # a new process, replayed to here
    assert env.simulator.pid != killed and env.info()["process_restarts"] == 1
    assert env.valid_actions() == valid
    env.step("inventory")
    _kill(env)  # a second death in the same episode ends it with an error
    with pytest.raises(SimulatorError, match="ScienceWorld process"):
        env.step("look around")
    trajectory = rollout(env, RandomPolicy(), task, max_steps=2, seed=0)  # a new process
    assert trajectory.end is not EndReason.ERROR and env.info()["process_restarts"] == 0


def test_a_hung_process_times_out_and_is_replaced():
    with ScienceWorldEnv(timeout=8) as env:
        task = first(env, "lifespan-longest-lived")
        env.reset(task)
        stopped = _kill(env, signal.SIGSTOP)  # alive but never answers
        started = time.monotonic()
        observation, _ = env.step("look around")
        assert time.monotonic() - started < 30 and observation.startswith("This room is")
        assert env.simulator.pid != stopped and env.info()["process_restarts"] == 1
        with pytest.raises(ProcessLookupError):
            os.kill(stopped, 0)  # the hung JVM was killed


class KillingPolicy(RandomPolicy):
    """A random explorer that kills the run's simulator before chosen steps of chosen tasks."""

    def __init__(self, kills, spare):
        super().__init__()
        self.kills, self.spare = kills, spare

    def propose(self, context, **kwargs):
        if len(context.steps) in self.kills.get(context.task.id, ()):
            for simulator in live_simulators():
                if simulator is not self.spare:
                    os.kill(simulator.pid, signal.SIGKILL)
        return super().propose(context, **kwargs)


def test_explore_survives_killed_processes(env, tmp_path):
    config = ExploreConfig(env=EnvConfig(env="scienceworld", split="seen", limit=3,
                                         max_steps=3),
                           runner=RunnerConfig(workers=1))
    tasks = env.tasks("seen")[:3]
    policy = KillingPolicy({tasks[0].id: [1], tasks[1].id: [1, 2]}, spare=env.simulator)
    run = tmp_path / "run"
    summary = explore(config, run, policy=policy)  # the module's env and the run's: two JVMs
    records = {r["task"]["id"]: r for r in read_jsonl(run / TRAJECTORIES)}
    assert len(records) == 3 and summary["ends"].get("error") == 1
    assert records[tasks[0].id]["end"] != "error"  # replaced, replayed, went on
    assert records[tasks[0].id]["info"]["process_restarts"] == 1
    assert records[tasks[1].id]["end"] == "error"  # died twice: recorded as failed
    assert "SimulatorError" in records[tasks[1].id]["error"]
    assert records[tasks[2].id]["end"] != "error"  # the run went on
    summary = explore(config, run, policy=RandomPolicy())  # resuming runs the failed one again
    assert summary["ran"] == 1 and "error" not in summary["ends"]
    assert set(live_simulators()) <= {env.simulator}  # the run closed its env


EXIT_SCRIPT = textwrap.dedent("""
    import faulthandler, os, signal, sys, time
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stack dump if it hangs
    # Ctrl-C as in a terminal: a test run started in the background (nohup ... &) inherits
    # SIGINT ignored, and Python then leaves it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from armap.envs.scienceworld.env import ScienceWorldEnv
    env = ScienceWorldEnv()
    task = env.tasks("seen")[0]
    env.reset(task)
    print(env.simulator.pid, flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)  # without close(): the exit handler kills the JVM
    while True:
        env.step("look around")
""")


@pytest.mark.parametrize("how", ["exit", "ctrl-c", "sigkill"])
def test_no_java_process_outlives_python(how):
    proc = subprocess.Popen([sys.executable, "-c", EXIT_SCRIPT, how], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        java = int(proc.stdout.readline())
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
        elif how == "sigkill":
            proc.kill()  # no Python clean-up at all: the JVM sees its stdin close
        try:
            proc.wait(timeout=90)  # generous: CI runs this on two busy cores
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # the child's faulthandler dumps its threads
            time.sleep(2)
            proc.kill()
            raise AssertionError(f"Python did not exit after {how}:\n"
                                 f"{proc.stderr.read()[-4000:]}") from None
        if how == "ctrl-c":  # a KeyboardInterrupt ended it, not an error made of one by py4j
            assert proc.returncode == -signal.SIGINT, proc.stderr.read()[-2000:]
        deadline = time.monotonic() + 15
        while _running(java) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(java), f"the JVM {java} outlived Python ({how})"
    finally:
        proc.kill()
        proc.wait()


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_make_builds_it_without_starting_java():
    with make("scienceworld") as env:
        assert env.id == "scienceworld-v0" and env.simulator is None
