import json

import pytest

from armap.errors import SchemaVersionError
from armap.types import Cost, EndReason, Step, Task, Trajectory


def make_trajectory() -> Trajectory:
    task = Task("t1", "game24", "Use 1 2 3 4", "test", {"numbers": [1, 2, 3, 4]})
    return Trajectory(
        task=task,
        initial_observation="Left: 1 2 3 4",
        steps=[Step("1 + 2 = 3 (left: 3 3 4)", "raw text", "Left: 3 3 4")],
        end=EndReason.ERROR,
        error="LLMError: boom",
        env_score=0.0,
        cost=Cost(llm_calls=2, prompt_tokens=10, completion_tokens=5, env_steps=1, seconds=0.5),
        meta={"policy": "random", "seed": 3},
    )


def test_trajectory_json_round_trip_is_lossless():
    t = make_trajectory()
    line = json.dumps(t.to_dict())
    back = Trajectory.from_dict(json.loads(line))
    assert back == t
    assert back.end is EndReason.ERROR
    assert json.loads(line)["schema_version"] == 1


def test_unknown_schema_version_is_rejected_with_a_clear_error():
    data = make_trajectory().to_dict()
    data["schema_version"] = 99
    with pytest.raises(SchemaVersionError, match="schema_version=99"):
        Trajectory.from_dict(data)
    del data["schema_version"]
    with pytest.raises(SchemaVersionError):
        Trajectory.from_dict(data)


def test_cost_adds_every_counter():
    a = Cost(1, 2, 3, 4, 5, 0.5)
    a.add(Cost(1, 1, 1, 1, 1, 1.0))
    assert a == Cost(2, 3, 4, 5, 6, 1.5)
