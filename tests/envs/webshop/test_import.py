"""`armap import` on WebShop: a ReAct transcript (thoughts, actions, observations) becomes the
trajectory of its actions, played in the shop."""

import json

from armap.envs.spec import EnvConfig
from armap.envs.webshop.env import WebShopEnv
from armap.envs.webshop.explorer import HeuristicShopper
from armap.episode import rollout
from armap.jsonl import read_records
from armap.recorded import ImportConfig, import_outputs
from armap.types import Trajectory


def test_a_react_transcript_is_played_in_the_shop(tiny_dir, tmp_path):
    with WebShopEnv(data_dir=tiny_dir) as env:
        split = next(s for s in env.splits if env.tasks(s))
        task = env.tasks(split)[0]
        shopped = rollout(env, HeuristicShopper(), task, temperature=0.0, seed=0)
    assert shopped.info["bought"]
    lines = []
    for step in shopped.steps:
        lines += [f"Thought: I should do {step.action.split('[')[0]} now.",
                  f"Action: {step.action}", f"Observation: {step.observation[:60]}"]
    source = tmp_path / "transcripts.jsonl"
    source.write_text(json.dumps({"task_id": task.id, "text": "\n".join(lines)}) + "\n")

    config = ImportConfig(env=EnvConfig(env="webshop", env_option=[f"data_dir={tiny_dir}"]),
                          input=str(source))
    summary = import_outputs(config, tmp_path / "run")
    (played,) = read_records(tmp_path / "run" / "trajectories.jsonl", Trajectory.from_dict,
                             "trajectory")
    assert summary["unreadable_records"] == 0
    assert played.actions == shopped.actions
    assert played.env_score == shopped.env_score and played.info == shopped.info
    assert [s.observation for s in played.steps] == [s.observation for s in shopped.steps]
    assert all(u.startswith(("Thought:", "Observation:")) for u in played.meta["unparsed"])
