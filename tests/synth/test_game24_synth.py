import itertools
import json
from pathlib import Path

import pytest

from armap.envs.game24 import arith
from armap.envs.game24.env import Game24Env
from armap.explore import explore
from armap.llm.scripted import ScriptedLLM
from armap.synth import SynthConfig, reserved_task_ids, synthesize
from armap.synth.game24 import (
    ANSWER_FAILURES,
    NEGATIVE_TYPES,
    STEP_SLIP,
    Game24Rules,
    Game24RulesStrategy,
    Style,
    classify_failure,
    expression_tree,
    format_expression,
    paths_to_24,
    render,
)
from armap.synth.game24_llm import Game24LLMSynth
from armap.types import read_triplets

from ..configs import game24, random_explore

CSV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "game24" / "24.csv"


def test_every_rule_triplet_is_verified_and_every_negative_type_occurs():
    rules = Game24Rules(Game24Env().tasks("train"), seed=1)
    triplets = list(itertools.islice(rules.triplets(), 240))
    assert {t.negative_type for t in triplets} == set(NEGATIVE_TYPES)
    for t in triplets:
        numbers = t.positive.task.spec["numbers"]
        assert t.positive.env_score == 1.0 and t.negative.env_score == 0.0
        assert arith.check_answer(t.positive.actions[-1], numbers)
        if t.negative_type == "answer_mismatch":
            assert classify_failure(t.negative) in ANSWER_FAILURES
        else:
            assert classify_failure(t.negative) == t.negative_type
        assert classify_failure(t.positive) is None
        assert t.positive.task == t.negative.task and t.instruction == t.positive.task.instruction
        assert t.source["strategy"] == "game24-rules"
    shapes = {t.source["shape"] for t in triplets}
    assert shapes == {"steps", "answer"}


def _steps(trajectory):
    return [arith.parse_step(a) for a in trajectory.actions if arith.parse_step(a)]


def test_wrong_arithmetic_negatives_claim_the_number_they_wanted():
    rules = Game24Rules(Game24Env().tasks("train"), seed=2)
    made = [rules.make(task, "wrong_arithmetic") for task in Game24Env().tasks("train")[:60]]
    made = [t for t in made if t is not None]
    assert len(made) >= 50
    last_step_slips = 0
    for t in made:
        steps = _steps(t.negative)
        wrong = [s for s in steps if s.computed() != s.result]
        assert len(wrong) == 1  # exactly one slip, then (claimed) arithmetic to 24
        assert steps[-1].result == 24 and t.negative.actions[-1].endswith("= 24")
        last_step_slips += wrong[0] is steps[-1]
    # most slips are the last step claiming 24 (what real models do), some are earlier
    assert len(made) // 2 <= last_step_slips < len(made)


def test_step_pairs_differ_only_in_the_claim_of_their_last_step():
    rules = Game24Rules(Game24Env().tasks("train"), seed=4, step_pair_share=0.5)
    triplets = list(itertools.islice(rules.triplets(), 200))
    pairs = [t for t in triplets if t.negative_type == STEP_SLIP]
    assert 70 <= len(pairs) <= 130  # about half the stream, the rest the catalogue
    assert {t.negative_type for t in triplets} - {STEP_SLIP} <= set(NEGATIVE_TYPES)
    claims_24 = 0
    for t in pairs:
        good, bad = _steps(t.positive), _steps(t.negative)
        assert 1 <= len(good) == len(bad) == len(t.positive.actions) <= 3  # no answer line
        assert all(s.computed() == s.result for s in good)
        assert good[:-1] == bad[:-1] and all(s.computed() == s.result for s in bad[:-1])
        assert (bad[-1].a, bad[-1].op, bad[-1].b) == (good[-1].a, good[-1].op, good[-1].b)
        assert bad[-1].computed() != bad[-1].result  # the slip
        assert t.negative.steps[-1].observation != t.positive.steps[-1].observation  # left list
        claims_24 += bad[-1].result == 24 and len(bad) == 3
    assert claims_24 >= 5  # last steps often claim 24, as real models' slips do
    catalogue = Game24Rules(Game24Env().tasks("train"), seed=4, step_pair_share=0.0)
    assert STEP_SLIP not in {t.negative_type for t in itertools.islice(catalogue.triplets(), 40)}


def test_answer_mismatch_negatives_have_right_steps_and_a_wrong_answer():
    rules = Game24Rules(Game24Env().tasks("train"), seed=3)
    made = [rules.make(task, "answer_mismatch") for task in Game24Env().tasks("train")[:40]]
    made = [t for t in made if t is not None]
    assert len(made) >= 35
    for t in made:
        steps = _steps(t.negative)
        assert len(steps) == 3 and all(s.computed() == s.result for s in steps)
        assert steps[-1].result == 24
        assert t.negative.actions[:3] != t.positive.actions[:3] or \
            t.negative.actions[-1] != t.positive.actions[-1]
        assert not arith.check_answer(t.negative.actions[-1], t.positive.task.spec["numbers"])


def test_expression_tree_writes_the_answer_render_composes():
    for numbers in ([4, 4, 6, 8], [1, 2, 3, 4], [3, 3, 8, 8]):
        for ops in paths_to_24([arith.Fraction(x) for x in numbers], limit=5):
            _, expr = render(numbers, ops)
            assert format_expression(expression_tree(numbers, ops)) == expr


def test_every_writing_style_keeps_the_value_and_the_numbers():
    puzzles = Game24Env().tasks("train")[:80]
    styles = [Style(swap, minimal) for swap in (False, True) for minimal in (False, True)]
    written = set()
    for task in puzzles:
        numbers = task.spec["numbers"]
        for ops in paths_to_24([arith.Fraction(x) for x in numbers], limit=3):
            for style in styles:
                lines, expr = render(numbers, ops, style)
                written.add(expr)
                assert arith.check_answer(f"Answer: {expr} = 24", numbers), (style, expr)
                assert all(arith.parse_step(line).computed() == 24 or
                           arith.parse_step(line).computed() == arith.parse_step(line).result
                           for line in lines)
    # minimal brackets do drop some: fewer "(" on the whole than the fully bracketed style
    full = [e for e in written if e.count("(") == 2]
    assert full and any(e.count("(") < 2 for e in written)


def test_same_seed_same_triplets():
    tasks = Game24Env().tasks("train")[:50]

    def stream(seed):
        out = []
        for t in itertools.islice(Game24Rules(tasks, seed=seed).triplets(), 20):
            out.append((t.source, t.positive.actions, t.negative.actions))
        return out

    assert stream(3) == stream(3)
    assert stream(3) != stream(4)


def test_training_triplets_never_use_a_test_puzzle(tmp_path):
    puzzles = str(CSV) if CSV.exists() else None
    config = SynthConfig(env=game24(puzzles=puzzles), count=400)
    stats = synthesize(config, tmp_path)
    triplets = read_triplets(tmp_path / "triplets.jsonl")
    assert stats["triplets"] == len(triplets) == 400
    banned = reserved_task_ids(config)
    assert len(banned) >= 100
    assert not {t.task_id for t in triplets} & banned
    if puzzles:
        csv_test = {t.id for t in Game24Env(puzzles=puzzles).tasks("test")}
        assert csv_test <= banned


def test_explorer_trajectories_become_triplets(tmp_path):
    explore(random_explore(40, samples=4), tmp_path / "explore")
    stats = synthesize(SynthConfig(count=60, trajectories=str(tmp_path / "explore" /
                                                              "trajectories.jsonl")),
                       tmp_path / "synth")
    triplets = read_triplets(tmp_path / "synth" / "triplets.jsonl")
    explorer = [t for t in triplets if t.source.get("negative") == "explorer"
                or t.source.get("positive") == "explorer"]
    assert explorer, stats
    for t in explorer:
        assert t.positive.env_score == 1.0 and t.negative.env_score == 0.0


def test_llm_synthesis_keeps_only_verified_outputs():
    replies = {
        "good": ("Puzzle: 4 4 6 8\nSolution: (6 - 4) * (4 + 8) = 24",
                 "6 - 4 = 2 (left: 2 4 8)\n2 * 8 = 16 (left: 4 16)\n4 + 16 = 24 (left: 24)\n"
                 "Answer: (6 - 4) * 8 + 4 = 24"),
        "false_positive": ("Puzzle: 4 4 6 8\nSolution: (6 + 4) * (4 + 8) = 24", "x"),
        "test_split": None,
        "rambling": ("I like puzzles!", "x"),
    }
    test_task = Game24Env().tasks("test")[0]
    numbers = " ".join(map(str, test_task.spec["numbers"]))
    solution = arith.solve(test_task.spec["numbers"])[0]
    replies["test_split"] = (f"Puzzle: {numbers}\nSolution: {solution} = 24", "x")

    for name, (proposal, wrong) in replies.items():
        llm = ScriptedLLM(responder=lambda m, i, p=proposal, w=wrong:
                          p if "Invent" in m[-1]["content"] else w)
        synth = Game24LLMSynth(llm, excluded={t.id for t in Game24Env().tasks("test")})
        # Pick seeds whose requested error type matches the scripted wrong solution.
        results = [synth.attempt(f"a{s}", s) for s in range(12)]
        if name == "good":
            kept = [r for r in results if r.triplet]
            assert kept and all(r.triplet.negative_type == "wrong_arithmetic" for r in kept)
            assert all(r.triplet.source["model"] == "scripted" for r in kept)
            others = [r for r in results if not r.triplet]
            assert all("the mistake made was wrong_arithmetic" in r.rejected for r in others)
        else:
            assert all(r.triplet is None for r in results)
            reason = {"false_positive": "solution fails the checker",
                      "test_split": "puzzle is in the test split",
                      "rambling": "no 'Puzzle:'"}[name]
            assert all(reason in r.rejected for r in results), results[0].rejected
        assert json.dumps(results[0].to_dict())


@pytest.mark.slow
def test_llm_synthesis_runs_with_the_embedded_model(tmp_path):
    stats = synthesize(SynthConfig(strategy="llm", count=2), tmp_path)
    assert stats["attempts"] == 2
    assert stats["triplets"] + sum(stats["rejected"].values()) == 2
    attempts = [json.loads(x) for x in (tmp_path / "attempts.jsonl").read_text().splitlines()]
    assert all(a["raw"]["proposal"] for a in attempts)


def test_interrupted_synthesis_keeps_the_triplets_made_so_far(tmp_path, monkeypatch):
    real = Game24Rules.triplets

    def interrupted(self):
        yield from itertools.islice(real(self), 30)
        raise KeyboardInterrupt

    monkeypatch.setattr(Game24Rules, "triplets", interrupted)
    with pytest.raises(KeyboardInterrupt):
        synthesize(SynthConfig(count=100), tmp_path)
    assert len(read_triplets(tmp_path / "triplets.jsonl")) == 30
    assert not (tmp_path / "triplets.jsonl.tmp").exists()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    monkeypatch.setattr(Game24Rules, "triplets", real)
    assert synthesize(SynthConfig(count=100), tmp_path)["triplets"] == 100  # starts over


def test_type_weights_set_the_share_of_each_negative_type():
    def share(rules: Game24Rules) -> float:
        kinds = [t.negative_type for t in itertools.islice(rules.triplets(), 300)]
        return kinds.count("wrong_arithmetic") / len(kinds)

    tasks = Game24Env().tasks("train")
    light = share(Game24Rules(tasks, seed=5, type_weights={"wrong_arithmetic": 1.0}))
    heavy = share(Game24Rules(tasks, seed=5, type_weights={"wrong_arithmetic": 10.0}))
    assert 0.05 < light < 0.2 and heavy > light + 0.3
    with pytest.raises(ValueError, match="not_a_type"):
        Game24Rules(tasks, type_weights={"not_a_type": 2.0})
    with pytest.raises(ValueError, match="wrong_arithmetic_weight"):
        Game24RulesStrategy(wrong_arithmetic_weight=0)


def test_early_slip_share_sets_where_wrong_arithmetic_slips():
    def early(share: float) -> float:
        rules = Game24Rules(Game24Env().tasks("train"), seed=3, early_slip_share=share,
                            type_weights={"wrong_arithmetic": 50.0})
        slips = [t.source["slip"] for t in itertools.islice(rules.triplets(), 200)
                 if t.negative_type == "wrong_arithmetic"]
        assert len(slips) > 100 and set(slips) <= {"last", "earlier"}
        return slips.count("earlier") / len(slips)

    assert early(0.0) == 0.0 and early(1.0) == 1.0
    assert 0.2 < early(1 / 3) < 0.45
    with pytest.raises(ValueError, match="early_slip_share"):
        Game24RulesStrategy(early_slip_share=1.5)


def test_wrong_operator_slips_reuse_the_positive_last_pair():
    rules = Game24Rules(Game24Env().tasks("train"), seed=4, early_slip_share=0.0,
                        wrong_operator_share=1.0, type_weights={"wrong_arithmetic": 50.0})
    made = [t for t in itertools.islice(rules.triplets(), 60)
            if t.negative_type == "wrong_arithmetic"]
    assert len(made) > 30
    for t in made:
        good, bad = (arith.parse_step(x.actions[-2]) for x in (t.positive, t.negative))
        assert t.positive.actions[:-2] == t.negative.actions[:-2]  # same earlier steps
        assert sorted([good.a, good.b]) == sorted([bad.a, bad.b])
        assert (bad.op, bad.a) != (good.op, good.a)  # another operator, or the other order
        assert bad.result == 24 and bad.computed() != 24 and t.source["slip"] == "last"
