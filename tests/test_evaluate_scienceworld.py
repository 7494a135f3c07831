"""`armap eval` on ScienceWorld: the prompt packs, and every method with the embedded stack."""

import re

import pytest

from armap.envs.scienceworld.env import ScienceWorldEnv
from armap.envs.spec import EnvConfig
from armap.evaluate import EvalConfig, evaluate
from armap.jsonl import read_jsonl
from armap.prompts import PromptPack
from armap.types import Step, Task, Trajectory

TASK = Task("scienceworld_boil_14", "scienceworld", "Your task is to boil water.", "seen",
            {"task_name": "boil", "variation": 14})


def test_the_packs_state_the_vocabulary_and_cap_observations():
    room = "This room is called the kitchen. In it, you see: " + "a thing, " * 400
    context = Trajectory(task=TASK, initial_observation=room,
                         steps=[Step(f"look at thing {i}", observation=room) for i in range(12)])
    free = PromptPack.load("scienceworld", "free")
    system, user = free.render(context, reflections=["Open the door first."])
    for command in ("look around", "go to OBJ", "pick up OBJ", "connect OBJ to OBJ",
                    "focus on OBJ", "wait1", "Thought:", "Action:"):
        assert command in system["content"]
    assert "Task: Your task is to boil water." in user["content"]
    assert "Open the door first." in user["content"]
    assert "[6 earlier steps omitted]" in user["content"]
    assert len(user["content"]) < 1500 + 6 * 350 + 500  # capped: latest page, 6 past steps
    choice = PromptPack.load("scienceworld", "choice")
    assert choice.rank == "mean" and choice.history_chars == 0
    [_, user] = choice.render(context)
    assert len(user["content"]) < 1000 + 10 * 30 + 300
    assert ScienceWorldEnv.parse_action("Thought: the stove heats.\nAction: activate stove") \
        == "activate stove"


@pytest.mark.slow
def test_every_method_runs_on_scienceworld_with_the_embedded_model(tmp_path):
    # A shortlist of 32 (the default is 64) halves the ranking time on two busy cores.
    env = EnvConfig(env="scienceworld", env_option=["max_actions=32"], split="seen", limit=1,
                    max_steps=4)
    config = EvalConfig(env=env, methods="greedy,sampling,best_of_n,reflexion,mcts", budget=2)
    config.reflexion.threshold = 0.5  # the oracle's 0 is under it: reflect and try again
    summary = evaluate(config, tmp_path)
    rows = {r["method"]: r for r in summary["methods"]}
    assert set(rows) == {"greedy", "sampling", "best_of_n", "reflexion", "mcts"}
    for method, row in rows.items():
        assert row["errors"] == 0 and row["tasks"] == 1, (method, row)
        assert 0 < row["mean_steps"] <= 4 and row["env_steps"] >= 4
    ranked = [int(m) for r in read_jsonl(tmp_path / "results.jsonl") for c in r["candidates"]
              for s in c["trajectory"]["steps"]
              for m in re.findall(r"ranked (\d+) candidates", s.get("thought") or "")]
    assert ranked and max(ranked) <= 32  # the shortlist, not the simulator's 1,500+
    assert rows["greedy"]["llm_calls"] >= 1  # choice mode: the model ranks the shortlist
    assert rows["best_of_n"]["score"] == rows["best_of_n"]["oracle_best_of_n"]  # oracle RM
    assert rows["reflexion"]["env_steps"] > 4  # reflected and tried again
    report = (tmp_path / "report.md").read_text()
    assert "scienceworld-v0, split seen" in report and (tmp_path / "budget.png").is_file()
