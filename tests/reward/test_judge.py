"""The LLM-as-judge baseline with scripted backends."""

import pytest

from armap.errors import ConfigError
from armap.llm.scripted import ScriptedLLM
from armap.reward.judge import JudgeRewardModel, parse_rating
from armap.types import Step, Task, Trajectory


def _trajectory(answer: str) -> Trajectory:
    task = Task("game24-1-2-3-4", "game24", "Make 24 from 1 2 3 4")
    return Trajectory(task, "Left: 1 2 3 4", [Step(answer, observation="Answer recorded.")],
                      env_score=0.0)


class RankingLLM(ScriptedLLM):
    """A scripted backend that also ranks continuations: log P(Yes) depends on the answer."""

    def continuation_logprobs(self, messages, continuations):
        good = "1 * 2 * 3 * 4" in messages[-1]["content"]
        table = {"Yes": -0.1 if good else -3.0, "No": -2.5 if good else -0.2}
        self.calls.append({"ranked": continuations})
        return [table[c] for c in continuations]


def test_rating_mode_parses_the_reply_and_scores_unparseable_as_the_midpoint():
    llm = ScriptedLLM(replies=["Rating: 8/10", "I cannot tell."])
    judge = JudgeRewardModel(llm)
    assert judge.mode == "rating"
    scores = judge.score("Make 24", [_trajectory("Answer: 1 * 2 * 3 * 4 = 24"),
                                     _trajectory("Answer: 1 + 2 + 3 + 4 = 24")])
    assert scores == [8.0, 5.0] and judge.unparseable == 1
    prompt = llm.calls[0]["messages"][-1]["content"]
    assert prompt.startswith("Instruction: Make 24\nObservation: Left: 1 2 3 4\n")
    assert "0.0" not in prompt and "env_score" not in prompt  # no ground truth


def test_logprob_mode_scores_yes_minus_no_and_caches():
    llm = RankingLLM(replies=["unused"])
    judge = JudgeRewardModel(llm)
    assert judge.mode == "logprobs"
    good, bad = _trajectory("Answer: 1 * 2 * 3 * 4 = 24"), _trajectory("Answer: 1 + 2 = 24")
    scores = judge.score("Make 24", [good, bad])
    assert scores == pytest.approx([2.4, -2.8])
    assert judge.score("Make 24", [good]) == [scores[0]]
    assert judge.cache_hits == 1 and judge.llm_calls == 2
    assert llm.calls[0]["ranked"] == ["Yes", "No"]


def test_logprob_mode_needs_a_ranking_backend():
    with pytest.raises(ConfigError, match="continuation_logprobs"):
        JudgeRewardModel(ScriptedLLM(replies=["x"]), mode="logprobs")
    with pytest.raises(ConfigError, match="mode"):
        JudgeRewardModel(ScriptedLLM(replies=["x"]), mode="vibes")


@pytest.mark.parametrize(("reply", "rating"), [
    ("7", 7.0), ("10", 10.0), ("Rating: 3/10", 3.0), ("score 0.", 0.0), ("100", None),
    ("2.5", None), ("none", None), ("**9**", 9.0),
])
def test_parse_rating(reply, rating):
    assert parse_rating(reply) == rating
