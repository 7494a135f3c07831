"""Generated garbage through the parsers and readers: 10,000 LLM replies through the policy's
action parser and 10,000 JSON Lines records through the trajectory and triplet readers. Nothing
may raise but the clear errors armap means to raise."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armap.envs import make
from armap.errors import CorruptRecordError, SchemaVersionError
from armap.jsonl import read_records
from armap.llm.scripted import ScriptedLLM
from armap.policy import LLMPolicy
from armap.prompts import PromptPack
from armap.reward.serialize import serialize
from armap.types import Trajectory, Triplet

FUZZ = settings(max_examples=10_000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

STEP_WORDS = st.sampled_from(["4", "8", "+", "-", "*", "/", "×", "÷", "=", "24", "(left:",
                              ")", "Answer:", "left", "13", "0", "1/2", "\n", "  ", "Step 1:",
                              "```", "**", "1.", "Thought:", "Action:"])
REPLIES = st.one_of(
    st.text(max_size=300),
    st.lists(STEP_WORDS, max_size=40).map(" ".join),
    st.lists(st.one_of(STEP_WORDS, st.text(max_size=5)), max_size=40).map("".join),
)


@pytest.fixture(scope="module")
def agent():
    """An env mid-episode and an LLM policy whose LLM says whatever ``reply["text"]`` holds."""
    reply = {"text": ""}
    with make("game24") as env:
        task = env.tasks("train")[0]
        llm = ScriptedLLM(responder=lambda messages, i: reply["text"])
        policy = LLMPolicy(llm, PromptPack.load("game24", "free"), env.parse_action)
        yield env, task, policy, llm, reply


@FUZZ
@given(text=REPLIES)
def test_any_llm_reply_becomes_one_action_and_one_env_step(agent, text):
    env, task, policy, llm, reply = agent
    reply["text"] = text
    llm.calls.clear()
    context = Trajectory(task, env.reset(task))
    [step] = policy.propose(context, n=1)
    assert isinstance(step.action, str) and step.action.strip() and "\n" not in step.action
    assert step.thought == text
    observation, _ = env.step(step.action)  # an invalid action is a wasted step, not a crash
    assert isinstance(observation, str) and observation


def _valid_trajectory() -> dict:
    with make("game24") as env:
        task = env.tasks("train")[0]
        from armap.episode import replay

        return replay(env, task, ["4 + 8 = 12 (left: 12)", "Answer: 1 + 1 = 24"]).to_dict()


VALID = _valid_trajectory()
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _paths(value, prefix=()):
    """Every (path) into a JSON value, for mutating one place at a time."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(VALID) if p]


@st.composite
def mutated(draw, base):
    record = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = record
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue
    return record


def _triplet_of(trajectory: dict) -> dict:
    return {"schema_version": 1, "task_id": "t", "env": "game24", "instruction": "i",
            "positive": trajectory, "negative": trajectory, "source": {}}


LINES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    mutated(VALID).map(lambda r: json.dumps(r).encode()),
    mutated(_triplet_of(VALID)).map(lambda r: json.dumps(r).encode()),
    st.just(json.dumps(VALID).encode()),
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "one.jsonl"


@FUZZ
@given(line=LINES)
def test_any_jsonl_line_is_a_record_or_a_clear_error(scratch, line):
    scratch.write_bytes(line.replace(b"\n", b" ") + b"\n")
    for parse, kind in ((Trajectory.from_dict, "trajectory"), (Triplet.from_dict, "triplet")):
        try:
            records = list(read_records(scratch, parse, kind))
        except (CorruptRecordError, SchemaVersionError) as e:
            assert str(e).startswith(f"{scratch}:1: ")
            continue
        for record in records:  # what is accepted is usable downstream
            trajectories = [record] if isinstance(record, Trajectory) else \
                [record.positive, record.negative]
            for t in trajectories:
                assert Trajectory.from_dict(t.to_dict()) == t
                assert serialize(t.task.instruction, t).startswith("Instruction:")
