"""ScienceWorld synthesis on the real simulator: relabeling by the simulator's goals, gold
positives of train variations only, negatives the simulator's score separates."""

import contextlib
import random

import pytest

from armap.envs.spec import EnvConfig
from armap.episode import replay
from armap.errors import ArmapError
from armap.jsonl import JsonlWriter
from armap.llm.scripted import ScriptedLLM
from armap.synth import SynthConfig, synthesize
from armap.synth.base import SynthContext, strategies
from armap.synth.scienceworld import (
    NEGATIVE_TYPES,
    ScienceWorldRelabel,
    gold_positive,
    llm_instruction,
    siblings,
)
from armap.types import read_triplets

try:
    from armap.envs.scienceworld.env import ScienceWorldEnv

    ScienceWorldEnv()  # checks that Java and the packages are there
except ArmapError as error:
    pytest.fail(f"ScienceWorld cannot run here: {error}", pytrace=False)

WANDERED = "scienceworld_find-non-living-thing_0"
ACHIEVED = "scienceworld_find-animal_0"


@pytest.fixture(scope="module")
def env():
    with ScienceWorldEnv() as e:
        yield e


@pytest.fixture(scope="module")
def tasks(env):
    return {t.id: t for split in ("train", "seen") for t in env.tasks(split)}


@pytest.fixture(scope="module")
def wandered(env, tasks):
    """An explorer's episode under one task (a non-living thing) that did another's goal: it
    found an animal, focused on it and picked it up (a wrong focus for its own task)."""
    gold = env.gold_actions(tasks[ACHIEVED])
    trajectory = replay(env, tasks[WANDERED], gold, meta={"policy": "explorer"})
    assert trajectory.env_score < 0.5
    return trajectory


def context(env, tasks, explored=(), llm=None, seed=0):
    train = [t for t in tasks.values() if t.split == "train"]
    reserved = {i for i, t in tasks.items() if t.split != "train"}
    return SynthContext(SynthConfig(env=EnvConfig(env="scienceworld"), seed=seed),
                        run=None, tasks=train, reserved=reserved, explored=list(explored),
                        make_env=lambda: contextlib.nullcontext(env),
                        make_llm=(lambda: llm) if llm else None)


def test_registered():
    assert strategies.spec("scienceworld.relabel").load() is ScienceWorldRelabel
    assert SynthConfig(env=EnvConfig(env="scienceworld")).strategy_id == "scienceworld.relabel"


def test_siblings_share_the_variation_and_topic_and_are_train_tasks(tasks):
    train = [t for t in tasks.values() if t.split == "train"]
    found = siblings(tasks[WANDERED], train)
    assert found[0].id == WANDERED
    assert {t.spec["task_name"] for t in found} == {
        "find-living-thing", "find-non-living-thing", "find-plant", "find-animal"}
    assert all(t.spec["variation"] == 0 and t.split == "train" for t in found)


def test_a_wandering_trajectory_is_relabeled_to_the_goal_it_achieved(env, tasks, wandered):
    strategy = ScienceWorldRelabel(gold=False)
    triplets = list(strategy.triplets(context(env, tasks, [wandered])))
    assert {t.negative_type for t in triplets} == set(NEGATIVE_TYPES), strategy.rejected
    for t in triplets:
        positive, negative = t.positive, t.negative
        assert t.instruction != wandered.task.instruction  # rewritten
        assert t.task_id in tasks and tasks[t.task_id].split == "train"
        assert tasks[t.task_id].spec["task_name"] in ("find-animal", "find-living-thing")
        assert t.instruction == positive.task.instruction == negative.task.instruction
        assert positive.env_score >= strategy.min_positive > wandered.env_score
        assert t.source["relabeled_from"] == WANDERED
        # the positive replays to its own score under its new instruction, the negative too
        again = replay(env, positive.task, positive.actions)
        assert again.env_score == positive.env_score
        assert [s.observation for s in again.steps] == [s.observation for s in positive.steps]
        assert replay(env, negative.task, negative.actions).env_score == negative.env_score
        assert positive.env_score - negative.env_score >= strategy.margin
        assert positive.actions != negative.actions


def test_gold_positives_come_only_from_train_variations(env, tasks, monkeypatch):
    seen = next(t for t in tasks.values() if t.split == "seen")
    with pytest.raises(ValueError, match="may not be training data"):
        gold_positive(env, seen, set())
    train = tasks["scienceworld_power-component_0"]
    with pytest.raises(ValueError, match="may not be training data"):
        gold_positive(env, train, {train.id})  # reserved, whatever its split says

    asked = []
    real = env.gold_actions

    def recording(task):
        asked.append(task)
        return real(task)

    monkeypatch.setattr(env, "gold_actions", recording)
    ctx = context(env, tasks)
    ctx.tasks = [seen, train]  # a seen task slipped into the list by mistake
    strategy = ScienceWorldRelabel()
    triplets = list(strategy.triplets(ctx))
    assert [t.id for t in asked] == [train.id]
    assert triplets and {t.task_id for t in triplets} == {train.id}
    for t in triplets:
        assert t.source["positive"] == "gold" and t.positive.env_score == 1.0
        assert t.positive.env_score - t.negative.env_score >= strategy.margin


def test_synthesize_never_makes_a_triplet_of_a_reserved_task(env, tasks, wandered, tmp_path):
    seen = next(t for t in tasks.values() if t.split == "seen")
    by_mistake = replay(env, seen, wandered.actions[:3], meta={"episode": "x#0"})
    path = tmp_path / "trajectories.jsonl"
    with JsonlWriter(path) as writer:
        writer.write(dict(wandered.to_dict(), meta={"episode": "w#0"}))
        writer.write(by_mistake.to_dict())
    config = SynthConfig(env=EnvConfig(env="scienceworld"), trajectories=str(path), count=20,
                         strategy_option=["gold=false"])
    stats = synthesize(config, tmp_path / "synth")
    triplets = read_triplets(tmp_path / "synth" / "triplets.jsonl")
    assert stats["triplets"] == len(triplets) == 3
    reserved = {i for i, t in tasks.items() if t.split != "train"}
    assert not {t.task_id for t in triplets} & reserved
    assert all(t.source["relabeled_from"] == WANDERED for t in triplets)


def test_an_llm_may_word_the_relabeled_instruction(env, tasks, wandered):
    wording = "Your task is to find an animal, focus on it, and carry it to the red box."
    llm = ScriptedLLM(replies=[wording + "\nmore text"])
    strategy = ScienceWorldRelabel(instruction="llm", gold=False)
    triplets = list(strategy.triplets(context(env, tasks, [wandered], llm=llm)))
    assert triplets and all(t.instruction == wording for t in triplets)
    for t in triplets:
        assert t.positive.task.id.startswith(t.task_id + "~relabel-")
        assert t.source["model"] == "scripted" and t.positive.env_score >= 0.5
    assert "They achieve this task: Your task is to find" in \
        llm.calls[0]["messages"][0]["content"]
    bad = ScriptedLLM(replies=["Sure! The agent found a butterfly."])
    assert llm_instruction(bad, tasks[ACHIEVED], ["look around"], 0.7) is None
    rejected = ScienceWorldRelabel(instruction="llm", gold=False)
    assert list(rejected.triplets(context(env, tasks, [wandered], llm=bad))) == []
    assert rejected.rejected == {"relabel: the LLM's instruction was unusable": 1}


def test_negatives_alter_the_positive(env, tasks):
    from armap.synth.scienceworld import altered_actions, play

    task = tasks["scienceworld_power-component_0"]
    positive = play(env, task, env.gold_actions(task))
    actions = positive.trajectory.actions
    rng = random.Random(0)
    truncated = altered_actions(env, positive, "truncated", rng)
    assert truncated == actions[:len(truncated)] and len(truncated) < len(actions)
    assert len(altered_actions(env, positive, "dropped_step", rng)) == len(actions) - 1
    swapped = altered_actions(env, positive, "swapped_action", rng)
    assert sum(a != b for a, b in zip(swapped, actions, strict=True)) == 1
    with pytest.raises(ValueError, match="unknown negative type"):
        altered_actions(env, positive, "nonsense", rng)
