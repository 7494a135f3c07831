import itertools
import json

from armap.envs.game24.env import Game24Env
from armap.reward.base import load_reward_model
from armap.reward.scoring import score_file
from armap.synth.game24 import Game24Rules
from armap.types import Triplet


def test_a_triplet_file_is_scored_pair_by_pair_in_file_order(tmp_path):
    triplets = list(itertools.islice(Game24Rules(Game24Env().tasks("train"), seed=5).triplets(),
                                     30))
    # swap half of them so that the oracle prefers the "negative" there
    swapped = [Triplet(t.task_id, t.env, t.instruction, t.negative, t.positive, t.source)
               if i % 2 else t for i, t in enumerate(triplets)]
    path = tmp_path / "triplets.jsonl"
    path.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in swapped))
    summary = score_file(load_reward_model("oracle"), path, tmp_path / "scores.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [x["task_id"] for x in lines] == [t.task_id for t in swapped]
    assert [x["positive_score"] > x["negative_score"] for x in lines] == \
        [i % 2 == 0 for i in range(30)]
    assert summary["records"] == 30 and summary["pairwise_accuracy"] == 0.5
