import pytest

from armap.envs import make
from armap.errors import ConfigError
from armap.llm.scripted import ScriptedLLM
from armap.policy import LLMPolicy, RandomPolicy
from armap.prompts import PromptPack
from armap.types import Cost, Step, Task, Trajectory


def context(steps=()) -> Trajectory:
    task = Task("game24-4-4-6-8", "game24", "Use 4 4 6 8 to make 24.\nInput: 4 4 6 8", "test",
                {"numbers": [4, 4, 6, 8]})
    return Trajectory(task=task, initial_observation="Left: 4 4 6 8", steps=list(steps))


def test_llm_policy_takes_the_first_well_formed_action_from_a_chatty_reply():
    env = make("game24")
    reply = "Sure! Let me think.\n1. 4 + 8 = 12 (left: 4 6 12)\nThen 6 - 4 = 2."
    llm = ScriptedLLM(replies=[reply])
    policy = LLMPolicy(llm, PromptPack.load("game24", "free"), env.parse_action, mode="free")
    cost = Cost()
    [step] = policy.propose(context(), n=1, cost=cost)
    assert step.action == "4 + 8 = 12 (left: 4 6 12)"
    assert step.thought == reply
    assert cost.llm_calls == 1 and cost.completion_tokens > 0


def test_unparseable_reply_becomes_the_raw_first_line_so_the_env_records_a_wasted_step():
    env = make("game24")
    policy = LLMPolicy(ScriptedLLM(replies=["I am not sure what to do.\nmaybe"]),
                       PromptPack.load("game24", "free"), env.parse_action)
    [step] = policy.propose(context())
    assert step.action == "I am not sure what to do."
    env.reset(context().task)
    observation, done = env.step(step.action)
    assert observation.startswith("Invalid step") and not done


def test_free_prompt_shows_history_and_choice_prompt_lists_candidates():
    llm = ScriptedLLM(replies=["4 + 4 = 8 (left: 6 8 8)"])
    history = [Step("4 + 4 = 8 (left: 6 8 8)", observation="Left: 6 8 8")]
    free = LLMPolicy(llm, PromptPack.load("game24", "free"), lambda t: t, mode="free")
    free.propose(context(history), valid_actions=["8 - 6 = 2 (left: 2 8)"],
                 reflections=["Check the arithmetic."])
    prompt = llm.calls[-1]["messages"][-1]["content"]
    assert "Input: 4 4 6 8" in prompt and "4 + 4 = 8 (left: 6 8 8)" in prompt
    assert "Check the arithmetic." in prompt
    assert "8 - 6 = 2 (left: 2 8)" not in prompt  # free mode lists no candidates

    choice = LLMPolicy(llm, PromptPack.load("game24", "choice"), lambda t: t, mode="choice")
    choice.propose(context(history), valid_actions=["8 - 6 = 2 (left: 2 8)", "8 + 6 = 14"])
    prompt = llm.calls[-1]["messages"][-1]["content"]
    assert "8 - 6 = 2 (left: 2 8)\n8 + 6 = 14" in prompt


class RankingLLM(ScriptedLLM):
    """Prefers candidates by a fixed table of log-probabilities."""

    def __init__(self, table):
        super().__init__(replies=["unused"])
        self.table = table

    def continuation_logprobs(self, messages, continuations, per_token=False):
        return [self.table[c] for c in continuations]


def test_choice_mode_ranks_candidates_when_the_backend_can_score_them():
    table = {"a": -1.0, "b": -0.1, "c": -5.0}
    policy = LLMPolicy(RankingLLM(table), PromptPack.load("game24", "choice"), lambda t: t,
                       mode="choice")
    greedy = policy.propose(context(), n=3, temperature=0, valid_actions=list(table))
    assert [s.action for s in greedy] == ["b", "b", "b"]
    sampled = policy.propose(context(), n=200, temperature=1.0, valid_actions=list(table),
                             seed=1)
    counts = {k: sum(s.action == k for s in sampled) for k in table}
    assert counts["b"] > counts["a"] > counts["c"]
    again = policy.propose(context(), n=200, temperature=1.0, valid_actions=list(table), seed=1)
    assert [s.action for s in again] == [s.action for s in sampled]


def test_random_policy_samples_valid_actions_reproducibly():
    actions = [f"a{i}" for i in range(10)]
    p = RandomPolicy()
    first = p.propose(context(), n=5, valid_actions=actions, seed=3)
    assert all(s.action in actions for s in first)
    assert first == p.propose(context(), n=5, valid_actions=actions, seed=3)


def test_ranking_is_cached_per_prompt_and_does_not_list_the_candidates():
    table = {"a": -1.0, "b": -0.1}
    llm = RankingLLM(table)
    seen = []
    original = llm.continuation_logprobs

    def spy(messages, continuations, **kw):
        seen.append(messages[-1]["content"])
        return original(messages, continuations, **kw)

    llm.continuation_logprobs = spy
    policy = LLMPolicy(llm, PromptPack.load("game24", "choice"), lambda t: t, mode="choice")
    cost = Cost()
    for seed in range(5):
        policy.propose(context(), n=2, temperature=1.0, valid_actions=list(table), seed=seed,
                       cost=cost)
    assert len(seen) == 1 and cost.llm_calls == 1 and policy.rank_hits == 4
    assert "Possible next lines" not in seen[0]


def test_random_policy_slips_repeat_the_previous_action_and_lengthen_episodes():
    from armap.episode import rollout

    with pytest.raises(ValueError, match="slip"):
        RandomPolicy(slip=1.0)
    with make("game24") as env:
        task = env.tasks("test")[0]
        plain = [rollout(env, RandomPolicy(), task, seed=s) for s in range(20)]
        slipping = [rollout(env, RandomPolicy(slip=0.5), task, seed=s) for s in range(20)]
    assert {len(t.steps) for t in plain} == {4}  # three steps and the answer, always valid
    repeats = [t for t in slipping
               if any(a.action == b.action for a, b in zip(t.steps, t.steps[1:], strict=False))]
    assert repeats, "no episode repeated an action"
    assert any("Invalid step" in s.observation for t in repeats for s in t.steps)
    assert max(len(t.steps) for t in slipping) > 4


def test_ranking_a_single_valid_action_costs_no_llm_call():
    class CountingLLM(RankingLLM):
        asked = 0

        def continuation_logprobs(self, messages, continuations, per_token=False):
            self.asked += 1
            return super().continuation_logprobs(messages, continuations)

    llm = CountingLLM({"Answer: 4 * 6 = 24": -3.0, "other": -1.0})
    policy = LLMPolicy(llm, PromptPack.load("game24", "choice"), lambda t: t, mode="choice")
    cost = Cost()
    steps = policy.propose(context(), n=2, temperature=1.0, valid_actions=["Answer: 4 * 6 = 24"],
                           cost=cost)
    assert [s.action for s in steps] == ["Answer: 4 * 6 = 24"] * 2
    assert cost.llm_calls == 0 and llm.asked == 0
    policy.propose(context(), valid_actions=["Answer: 4 * 6 = 24", "other"], cost=cost)
    assert cost.llm_calls == 1 and llm.asked == 1 and policy.rank_calls == 1


def test_a_pack_sets_its_context_limits_and_how_candidates_are_ranked():
    pack = PromptPack.load("webshop", "choice")
    assert (pack.rank, pack.history_chars, pack.latest_chars) == ("mean", 0, 1200)
    assert PromptPack.load("game24", "choice").rank == "sum"
    seen = []

    class Spy(RankingLLM):
        def continuation_logprobs(self, messages, continuations, per_token=False):
            seen.append(per_token)
            return super().continuation_logprobs(messages, continuations)

    LLMPolicy(Spy({"a": 0.0, "b": -1.0}), pack, lambda t: t, mode="choice").propose(
        context(), valid_actions=["a", "b"])
    assert seen == [True]
    with pytest.raises(ConfigError, match="prompt pack setting 'rank: max'"):
        PromptPack.parse("### user\nhi\n### settings\nrank: max\n")


def test_long_history_is_capped_and_the_instruction_stated_once():
    pack = PromptPack.parse("### user\n$instruction\n$history\nNOW: $observation\n"
                            "### settings\nhistory_steps: 2\nhistory_chars: 20\n"
                            "latest_chars: 50\n")
    goal = "Find me a brass desk lamp with color: gold, under thirty dollars please"
    task = Task("t", "toy", goal)
    steps = [Step(f"a{i}", observation=f"page {i} {goal} " + "x" * 100) for i in range(5)]
    text = pack.render(Trajectory(task, initial_observation="start", steps=steps))[-1]["content"]
    assert text.count(goal) == 1
    assert "[3 earlier steps omitted]" in text and "a2" not in text and "a3" in text
    assert "\na3\npage 3 (th [...] xxx" in text  # capped at 20 characters, start and end
    assert len(text.split("NOW: ")[1]) <= 50 + len(" [...] ")
