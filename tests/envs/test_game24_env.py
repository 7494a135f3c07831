import random
from pathlib import Path

import pytest

from armap.envs import make
from armap.envs.game24 import arith
from armap.envs.game24.env import Game24Env, make_task
from armap.episode import rollout
from armap.llm.scripted import ScriptedLLM
from armap.policy import LLMPolicy, RandomPolicy
from armap.prompts import PromptPack

CSV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "game24" / "24.csv"


@pytest.fixture
def env():
    with make("game24") as e:
        yield e


def test_steps_track_claimed_numbers_without_correcting_arithmetic(env):
    env.reset(make_task((4, 4, 6, 8), "test"))
    assert env.step("4 + 8 = 13 (left: 4 6 13)") == ("Left: 4 6 13", False)  # wrong sum kept
    obs, done = env.step("6 × 4 = 24")  # notation tolerated; left list optional
    assert (obs, done) == ("Left: 13 24", False)
    assert env.valid_actions()[0].endswith(")")
    obs, done = env.step("Answer: 13 + 24 = 24")
    assert done and obs == "Answer recorded."
    assert env.score() == 0.0


def test_invalid_steps_are_wasted_steps_not_exceptions(env):
    env.reset(make_task((4, 4, 6, 8), "test"))
    obs, done = env.step("let me think about this")
    assert obs.startswith("Invalid step") and not done
    obs, done = env.step("5 + 8 = 13 (left: 4 6 13)")
    assert "5 is not among the numbers left (4 4 6 8)" in obs and not done
    assert env.step("4 + 4 = 8")[0] == "Left: 6 8 8"
    assert len(env.actions) == 3


def test_answer_observation_does_not_depend_on_correctness(env):
    task = make_task((4, 4, 6, 8), "test")
    env.reset(task)
    right = env.step("Answer: (6 - 4) * (4 + 8) = 24")
    assert env.score() == 1.0
    env.reset(task)
    wrong = env.step("Answer: (6 + 4) * (4 + 8) = 24")
    assert env.score() == 0.0
    assert right == wrong


def test_valid_actions_lead_to_a_checked_answer(env):
    rng = random.Random(0)
    for task in env.tasks("test")[:30]:
        env.reset(task)
        while not env.done:
            actions = env.valid_actions()
            assert actions
            env.step(rng.choice(actions))
        assert len(env.actions) == 4  # three steps and the answer
        expr = arith.parse_answer(env.actions[-1])
        value, numbers = arith.parse_expression(expr)
        assert sorted(numbers) == sorted(task.spec["numbers"])
        assert env.score() == (1.0 if value == 24 else 0.0)


def test_every_solver_path_is_listed_by_valid_actions_and_scores_one(env):
    for task in env.tasks("test")[:30]:
        steps = arith.solve_steps(task.spec["numbers"])[0]
        env.reset(task)
        for line in steps[:-1]:
            assert line in env.valid_actions()
            env.step(line)
        [answer] = env.valid_actions()
        env.step(answer)
        assert env.score() == 1.0, (task.spec, steps, answer)


def test_snapshot_restore_is_cheap_and_exact(env):
    task = make_task((1, 2, 3, 4), "test")
    env.reset(task)
    env.step("1 + 2 = 3 (left: 3 3 4)")
    snap = env.snapshot()
    assert snap.state is not None
    env.step("3 * 3 = 9 (left: 4 9)")
    env.restore(snap)
    assert env.actions == ["1 + 2 = 3 (left: 3 3 4)"]
    assert "3 * 4 = 12 (left: 3 12)" in env.valid_actions()


def test_offline_splits_are_disjoint_and_cover_all_puzzles():
    env = Game24Env()
    train, test = env.tasks("train"), env.tasks("test")
    assert len(test) == 100 and len(train) == 1262
    assert not {t.id for t in train} & {t.id for t in test}


def test_csv_splits_follow_the_standard_test_rows():
    if not CSV.exists():
        pytest.skip(f"shared data not found at {CSV}")
    env = Game24Env(puzzles=CSV)
    test = env.tasks("test")
    assert len(test) == 100 and len(env.tasks("train")) == 1262
    rows = CSV.read_text().splitlines()[1:]
    assert test[0].spec["numbers"] == [int(x) for x in rows[900].split(",")[1].split()]
    assert test[-1].spec["numbers"] == [int(x) for x in rows[999].split(",")[1].split()]


def test_no_observation_or_prompt_contains_the_ground_truth():
    """Neither the env nor a prompt may reveal a solution or whether an answer was right."""
    env = Game24Env()
    for mode in ("free", "choice"):
        llm = ScriptedLLM(responder=lambda m, i: "Answer: 1 + 1 = 24")
        policy = LLMPolicy(llm, PromptPack.load("game24", mode), env.parse_action, mode=mode,
                           rank=False)
        for task in env.tasks("test")[:20]:
            hidden = [h for h in env.hidden_strings(task)]
            for p in (policy, RandomPolicy()):
                t = rollout(env, p, task, seed=1)
                texts = [t.initial_observation] + [s.observation for s in t.steps]
                texts += [m["content"] for call in llm.calls for m in call["messages"]]
                for text in texts:
                    for h in hidden:
                        if h in ("correct", "wrong", "success", "solved"):
                            assert h not in text.lower()
                        else:
                            assert h not in text, (h, text)
            llm.calls.clear()


def test_step_labels_mark_wrong_arithmetic_and_leave_the_answer_to_the_ranking_loss():
    from armap.episode import replay

    with make("game24") as env:
        task = make_task((4, 4, 6, 8), "train")
        trajectory = replay(env, task, ["4 + 8 = 13 (left: 4 6 13)", "hello",
                                        "6 * 4 = 24 (left: 13 24)", "Answer: 13 + 24 = 24"])
        assert Game24Env.step_labels(trajectory) == [0.0, None, 1.0, 1.0]
        solved = replay(env, task, ["4 + 8 = 12 (left: 4 6 12)", "6 - 4 = 2 (left: 2 12)",
                                    "2 * 12 = 24 (left: 24)", "Answer: (6 - 4) * (4 + 8) = 24"])
        assert Game24Env.step_labels(solved) == [1.0, 1.0, 1.0, 1.0]
