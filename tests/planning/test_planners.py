import pytest

from armap.envs.game24.env import Game24Env
from armap.llm.scripted import ScriptedLLM
from armap.planning import (
    MCTS,
    BestOfN,
    Greedy,
    MCTSConfig,
    PlanContext,
    Reflexion,
    ReflexionConfig,
    Sampling,
)
from armap.policy import LLMPolicy, RandomPolicy
from armap.prompts import PromptPack
from armap.reward.target import RewardTarget, TargetConfig
from armap.types import EndReason

from .toy_env import CHOICES, GOAL, PrefixReward, ToyEnv


class Oracle:
    name = "oracle"

    def score(self, instruction, trajectories):
        return [t.env_score for t in trajectories]


def ctx(reward, seed=0, env=None, policy=None):
    env = env or ToyEnv()
    return PlanContext(env.tasks("test")[0], env, policy or RandomPolicy(),
                       RewardTarget(reward), seed=seed)


@pytest.mark.parametrize("seed", range(5))
def test_mcts_with_a_perfect_reward_finds_the_optimal_path_within_budget(seed):
    config = MCTSConfig(exploration_weight=1.0, expansion_width=4, keep_tree=True)
    result = MCTS(config).solve(ctx(PrefixReward(), seed), budget=24)
    assert tuple(result.trajectory.actions) == GOAL
    assert result.env_score == 1.0
    assert len(result.candidates) <= 24
    assert result.meta["tree"]["visits"] == result.meta["iterations"]


def test_mcts_with_a_misleading_reward_still_returns_a_valid_trajectory():
    result = MCTS(MCTSConfig(expansion_width=4)).solve(ctx(PrefixReward(sign=-1.0)), budget=12)
    t = result.trajectory
    assert t.end is EndReason.FINISHED and len(t.actions) == 3
    assert all(a in CHOICES for a in t.actions)
    assert t.actions[0] != GOAL[0]  # it followed the (wrong) reward


def test_mcts_asks_each_prefix_for_proposals_once_and_stops_when_the_tree_is_exhausted():
    reward = PrefixReward()
    result = MCTS(MCTSConfig(expansion_width=4)).solve(ctx(reward), budget=500)
    # 4 + 16 + 64 nodes, each completed once; the 64 distinct paths are scored once each.
    assert len(result.candidates) == 84
    assert len({tuple(c.trajectory.actions) for c in result.candidates}) == 64
    assert result.meta["proposal_calls"] == 1 + 4 + 16
    assert reward.calls == result.cost.rm_calls == 64


def test_sampling_and_best_of_n_share_candidates_and_bon_picks_the_top_score():
    c1, c2 = ctx(Oracle(), seed=3), ctx(Oracle(), seed=3)
    sampled = Sampling().solve(c1, budget=30)
    best = BestOfN().solve(c2, budget=30)
    assert [c.trajectory.actions for c in sampled.candidates] == [
        c.trajectory.actions for c in best.candidates]
    assert best.env_score == max(c.trajectory.env_score for c in best.candidates)
    assert best.cost.rm_calls == 1 and best.cost.env_steps == 90


def test_greedy_is_one_deterministic_episode():
    env = Game24Env()
    task = env.tasks("test")[0]
    llm = ScriptedLLM(responder=lambda m, i: "4 + 5 = 9 (left: 6 9 10)")
    policy = LLMPolicy(llm, PromptPack.load("game24", "free"), env.parse_action)
    result = Greedy().solve(PlanContext(task, env, policy, RewardTarget(Oracle())), budget=5)
    assert len(result.candidates) == 1 and result.budget == 1
    assert all(call["temperature"] == 0.0 for call in llm.calls)


def test_reflexion_retries_below_threshold_with_reflections_in_the_prompt():
    env = Game24Env()
    task = env.tasks("test")[0]
    seen_prompts = []

    def respond(messages, i):
        content = messages[-1]["content"]
        seen_prompts.append(content)
        if "did not succeed" in content:
            return "Use multiplication to reach 24."
        return "Answer: 4 + 5 + 6 + 10 = 24"

    policy = LLMPolicy(ScriptedLLM(responder=respond), PromptPack.load("game24", "free"),
                       env.parse_action)
    result = Reflexion(ReflexionConfig(threshold=0.5)).solve(
        PlanContext(task, env, policy, RewardTarget(Oracle())), budget=3)
    assert result.meta["attempts"] == 3
    assert result.meta["reflections"] == ["Use multiplication to reach 24."] * 2
    attempt_prompts = [p for p in seen_prompts if "did not succeed" not in p]
    assert "Use multiplication" not in attempt_prompts[0]
    assert "Use multiplication" in attempt_prompts[-1]


def test_reflexion_stops_once_the_reward_clears_the_threshold():
    result = Reflexion(ReflexionConfig(threshold=-0.5)).solve(ctx(PrefixReward()), budget=4)
    assert result.meta["attempts"] == 1


class PickyReward(PrefixReward):
    """PrefixReward with a threshold of its own that no trajectory reaches."""

    threshold = 10.0


def test_reflexion_takes_the_reward_models_own_threshold_unless_one_is_set():
    result = Reflexion().solve(ctx(PickyReward()), budget=3)
    assert result.meta["attempts"] == 3 and result.meta["threshold"] == 10.0
    result = Reflexion(ReflexionConfig(threshold=-0.5)).solve(ctx(PickyReward()), budget=3)
    assert result.meta["attempts"] == 1
    assert Reflexion().solve(ctx(PrefixReward()), budget=3).meta["threshold"] == 0.0


def test_length_target_reports_terms_and_prefers_shorter_trajectories():
    target = RewardTarget(Oracle(), TargetConfig(length_weight=0.1))
    env = ToyEnv()
    c = PlanContext(env.tasks("test")[0], env, RandomPolicy(), target)
    short = c.rollout(temperature=0, seed=1, prefix=("b",), meta={})
    [terms] = target.terms("x", [short])
    assert terms["steps_term"] == pytest.approx(0.1 * len(short.steps))
    assert terms["total"] == pytest.approx(terms["rm"] - terms["steps_term"])
    with pytest.raises(ValueError, match="no price"):
        RewardTarget(Oracle(), TargetConfig(price_weight=1.0)).terms("x", [short])
