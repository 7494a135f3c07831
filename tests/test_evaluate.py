import json

from armap.envs import make
from armap.evaluate import RESULTS, evaluate, load_results
from armap.policy import RandomPolicy

from .configs import random_eval


class Oracle:
    name = "oracle"

    def score(self, instruction, trajectories):
        return [t.env_score for t in trajectories]


class ExplodingPolicy(RandomPolicy):
    """Random, but raises on one task when asked for several proposals (MCTS expansion)."""

    def __init__(self, bad: str) -> None:
        super().__init__()
        self.bad = bad

    def propose(self, context, **kw):
        if context.task.id == self.bad and kw.get("n", 1) > 1:
            raise RuntimeError("policy exploded")
        return super().propose(context, **kw)


def test_eval_writes_one_line_per_task_and_method_and_a_report(tmp_path):
    config = random_eval(6, budget=4)
    summary = evaluate(config, tmp_path, reward=Oracle())
    results = load_results(tmp_path / RESULTS)
    assert len(results) == 6 * 5
    rows = {r["method"]: r for r in summary["methods"]}
    assert set(rows) == {"greedy", "sampling", "best_of_n", "reflexion", "mcts"}
    # Sampling and best-of-N come from the same candidates.
    for (task, method), r in results.items():
        if method == "best_of_n":
            assert r["candidates"] == results[(task, "sampling")]["candidates"]
    # With the oracle as reward, best-of-N reaches the oracle best-of-N exactly.
    assert rows["best_of_n"]["score"] == rows["best_of_n"]["oracle_best_of_n"]
    assert rows["best_of_n"]["of_oracle"] in (1.0, None)  # None: no candidate solved any task
    assert rows["sampling"]["score"] <= rows["best_of_n"]["score"]
    report = (tmp_path / "report.md").read_text()
    assert "| best_of_n |" in report and "budget: 4" in report and "score / oracle" in report
    assert (tmp_path / "budget.png").stat().st_size > 1000


def test_crashed_planner_is_recorded_and_the_run_resumes(tmp_path):
    config = random_eval(3, budget=3, methods="greedy,mcts")
    policy = ExplodingPolicy(bad=make("game24").tasks("test")[1].id)
    evaluate(config, tmp_path, policy=policy, reward=Oracle())
    lines = (tmp_path / RESULTS).read_text().splitlines()
    failed = [json.loads(x) for x in lines if json.loads(x).get("error")]
    assert len(failed) == 1 and failed[0]["planner"] == "mcts"
    assert "policy exploded" in failed[0]["error"]
    # Resuming runs the failed planner again (the old record stays for the record).
    again = evaluate(config, tmp_path, policy=policy, reward=Oracle())
    after = (tmp_path / RESULTS).read_text().splitlines()
    assert after[:len(lines)] == lines and len(after) == len(lines) + 1
    assert json.loads(after[-1])["task_id"] == failed[0]["task_id"]
    assert {r["method"]: r["errors"] for r in again["methods"]} == {"greedy": 0, "mcts": 1}
    # With --no-retry-errors the failure is kept as it is.
    config.runner.retry_errors = False
    evaluate(config, tmp_path, policy=policy, reward=Oracle())
    assert (tmp_path / RESULTS).read_text().splitlines() == after


def test_length_target_is_reported_next_to_the_score(tmp_path):
    config = random_eval(3, budget=3, methods="best_of_n")
    config.target.length_weight = 0.05
    evaluate(config, tmp_path, reward=Oracle())
    r = next(iter(load_results(tmp_path / RESULTS).values()))
    terms = r["candidates"][0]["reward"]
    assert set(terms) == {"rm", "steps_term", "price_term", "total"}
    assert terms["steps_term"] > 0


class _MeetingReward:
    """A reward whose score returns only once two threads are inside it at the same time."""

    name = "meeting"

    def __init__(self, concurrent: bool) -> None:
        import threading

        self.concurrent = concurrent
        self.barrier = threading.Barrier(2, timeout=2)

    def score(self, instruction, trajectories):
        self.barrier.wait()
        return [0.0] * len(trajectories)


def test_worker_threads_share_a_concurrent_reward_without_a_lock():
    """A reward-model server batches the workers' requests only if they reach it together;
    an in-process model is called by one worker at a time."""
    import threading

    from armap.evaluate import _LockedReward
    from armap.reward.remote import RemoteReward

    assert RemoteReward.concurrent is True
    for concurrent in (True, False):
        shared = _LockedReward(_MeetingReward(concurrent))
        outcomes: list[str] = []

        def call(shared=shared, outcomes=outcomes):
            try:
                shared.score("task", [None])
                outcomes.append("met")
            except threading.BrokenBarrierError:
                outcomes.append("alone")

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes == (["met", "met"] if concurrent else ["alone", "alone"])
