"""Training the embedded MiniLM on Game of 24 triplets, and the trainer's errors."""

import json
import time
from dataclasses import replace

import pytest
import torch

from armap.envs.game24.env import Game24Env
from armap.errors import ConfigError, CorruptRecordError
from armap.jsonl import JsonlWriter
from armap.reward.model import LearnedRewardModel
from armap.reward.train import (
    RewardTrainConfig,
    _Schedule,
    build_model,
    has_step_labels,
    improves,
    make_optimizer,
    prepare_pairs,
    train,
    train_step,
)

from .game24_data import game24_triplets

EASY = ("broken_format", "number_left_out")
"""Negative types a few steps can learn (the error is visible in an observation)."""


def small(**overrides) -> RewardTrainConfig:
    base = {"max_length": 128, "batch_size": 8, "lr": 1e-4, "head_lr": 3e-3, "warmup": 0.0,
            "eval_every": 3, "time_budget_minutes": 0, "seed": 0}
    return RewardTrainConfig(**{**base, **overrides})


def test_the_schedule_follows_the_steps_while_the_run_keeps_ahead_of_its_budget():
    now = time.perf_counter()
    unbudgeted = _Schedule(1000, 0.05, None, now)
    ahead = _Schedule(1000, 0.05, now + 3600, now)
    for step in (0, 10, 49, 50, 500, 999):
        assert ahead.factor(step) == unbudgeted.factor(step)
    assert unbudgeted.factor(25) == pytest.approx(0.5)
    assert _Schedule(1000, 0.05, now, now).factor(10) == 0.0  # the budget is spent


def test_a_validation_tie_keeps_the_later_checkpoint(tmp_path):
    assert improves({"accuracy": 0.9}, None)
    assert improves({"accuracy": 0.9}, {"accuracy": 0.9})
    assert not improves({"accuracy": 0.89}, {"accuracy": 0.9})
    # with both learning rates 0 the weights never move, so every validation ties
    triplets = game24_triplets(40)
    summary = train(small(lr=0.0, head_lr=0.0, max_steps=6, step_loss=0.0), triplets, tmp_path,
                    progress=False)
    assert summary["steps"] == 6
    assert summary["best_step"] == 6


def test_train_steps_lower_the_loss_and_change_the_trained_parameters():
    config = small()
    torch.manual_seed(0)
    model = build_model(config)
    pairs, stats = prepare_pairs(model, game24_triplets(8, seed=1))
    assert stats["triplets"] == 8 and stats["identical_dropped"] == 0
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = make_optimizer(model, config)
    model.train()
    losses = [train_step(model, optimizer, pairs, config) for _ in range(4)]
    assert losses[-1] < losses[0] - 0.05
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "head.weight" in changed
    assert any(n.startswith("backbone.encoder.layer.5.") for n in changed)
    assert not any("embeddings.word_embeddings" in n for n in changed)  # frozen by default


def test_train_raises_held_out_accuracy_and_saves_the_best_checkpoint(tmp_path):
    triplets = game24_triplets(40, seed=2, kinds=EASY)
    val = game24_triplets(16, seed=3, split="test", kinds=EASY)
    summary = train(small(max_steps=6, epochs=3), triplets, tmp_path, val_triplets=val,
                    progress=False)
    assert summary["steps"] == 6 and summary["stopped"] == "max_steps"
    assert summary["val_accuracy"] > summary["initial_val_accuracy"]
    assert summary["val_triplets"] == 16
    assert set(summary["val_per_type"]) == set(EASY)
    metrics = json.loads((tmp_path / "checkpoint" / "metrics.json").read_text())
    assert metrics["val_accuracy"] == summary["val_accuracy"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "success" and manifest["verb"] == "train"
    model = LearnedRewardModel.load(tmp_path / "checkpoint")
    assert model.training_config["max_steps"] == 6
    assert model.threshold == summary["val_threshold"] is not None  # Reflexion's default cut
    scores = model.score(val[0].instruction, [val[0].positive, val[0].negative])
    assert len(scores) == 2


def test_interrupted_training_keeps_a_usable_checkpoint(tmp_path, monkeypatch):
    calls = []

    def flaky_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    import armap.reward.train as module

    real_step = module.train_step
    monkeypatch.setattr(module, "train_step", flaky_step)
    with pytest.raises(KeyboardInterrupt):
        train(small(max_steps=5, val_fraction=0.3), game24_triplets(16, seed=4), tmp_path,
              progress=False)
    assert json.loads((tmp_path / "manifest.json").read_text())["status"] == "interrupted"
    LearnedRewardModel.load(tmp_path / "checkpoint")  # the best so far (the initial model)


def test_corrupt_triplets_file_is_a_clear_error_and_leaves_no_checkpoint(tmp_path):
    path = tmp_path / "triplets.jsonl"
    with JsonlWriter(path) as w:
        for t in game24_triplets(2, seed=0):
            w.write(t.to_dict())
    with path.open("a") as f:
        f.write('{"schema_version": 1, "task_id": "x"\n')
    with pytest.raises(CorruptRecordError, match=r"triplets.jsonl:3"):
        train(small(), path, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint").exists()
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "error"


def test_missing_or_empty_triplets_and_unknown_backbone_are_clear_errors(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match="no triplets"):
        train(small(), tmp_path / "empty.jsonl", tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="not found"):
        train(small(), tmp_path / "nope.jsonl", tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="unknown reward-model backbone 'nope/nope'"):
        train(small(backbone="nope/nope"), game24_triplets(4), tmp_path / "c", progress=False)
    assert not (tmp_path / "c" / "checkpoint").exists()
    with pytest.raises(ConfigError, match="loss"):
        small(loss="hinge")


def test_the_default_max_length_covers_most_trajectories_of_the_data():
    from dataclasses import replace

    from armap.reward.train import auto_max_length

    model = build_model(small())
    short = game24_triplets(20, seed=2)
    assert auto_max_length(model, short, seed=0) == 192  # Game of 24: the floor
    # Observations are capped per step by the serializer, so length comes from many distinct steps.
    step = short[0].positive.steps[0]
    many = [replace(step, observation=" ".join(f"page{k}word{i}" for i in range(100)))
            for k in range(12)]
    longer = [replace(t, positive=replace(t.positive, steps=many)) for t in short]
    assert auto_max_length(model, longer, seed=0) == 512  # capped at MiniLM's 512 positions


def test_step_labels_point_at_the_last_token_of_each_kept_action():
    model = build_model(small(max_length=100))
    triplet = next(t for t in game24_triplets(40, seed=4) if t.negative_type == "wrong_arithmetic")
    assert prepare_pairs(model, [triplet])[0][0].neg_actions == ()  # no step head: no steps
    model.add_step_head()
    pairs, _ = prepare_pairs(model, [triplet])
    tokens = model.tokenizer.convert_ids_to_tokens(pairs[0].neg)
    labels = Game24Env.step_labels(triplet.negative)
    kept = pairs[0].neg_actions
    assert 0 < len(kept) < len(labels)  # 100 tokens: the earliest steps are omitted
    assert list(pairs[0].neg_labels) == labels[len(labels) - len(kept):]
    assert all(tokens[i] in {")", "24"} for i in kept)  # "... (left: 6 12)" or "= 24"
    assert 0.0 in list(pairs[0].neg_labels) + labels[:-len(kept)]


def test_step_loss_trains_a_step_head_that_the_checkpoint_keeps_and_scores_with(tmp_path):
    triplets = game24_triplets(24, seed=5)
    summary = train(small(max_steps=2, step_loss=1.0), triplets, tmp_path, progress=False)
    assert summary["steps"] == 2
    model = LearnedRewardModel.load(tmp_path / "checkpoint")
    assert model.step_head is not None
    assert model.instruction_preamble == triplets[0].instruction.split("\n")[0] + "\n"
    text = model.serialize(triplets[0].instruction, triplets[0].positive)
    assert text.startswith("Instruction: Input: ") and "arithmetic" not in text
    other = "Reach 10.\nInput: 1 2"  # another task keeps its whole instruction
    assert model.model_instruction(other) == other
    # The score adds log sigmoid(step logit) per action: a constant logit b over n actions
    # shifts it by n * log sigmoid(b).
    trajectory = triplets[0].positive
    with torch.no_grad():
        model.step_head.weight.zero_()
        model.step_head.bias.fill_(50.0)  # every step surely sound: term ~0
        sound = model.score(triplets[0].instruction, [trajectory])[0]
        model.step_head.bias.fill_(-3.0)
        model.clear_cache()
        doubted = model.score(triplets[0].instruction, [trajectory])[0]
    n = len(trajectory.steps)
    assert doubted - sound == pytest.approx(n * torch.nn.functional.logsigmoid(
        torch.tensor(-3.0)).item(), abs=1e-3)


def test_only_triplets_of_an_env_that_labels_steps_get_a_step_head():
    triplets = game24_triplets(12, seed=3)
    assert has_step_labels(triplets)
    unlabelled = [replace(t, env="webshop") for t in triplets]  # WebShop labels no steps
    assert not has_step_labels(unlabelled)


def test_step_loss_adds_to_the_pairwise_loss_and_moves_the_step_head():
    losses = {}
    for weight in (0.0, 1.0):
        config = small(step_loss=weight)
        torch.manual_seed(0)
        model = build_model(config)
        model.add_step_head()
        pairs, _ = prepare_pairs(model, game24_triplets(8, seed=1))
        before = model.step_head.weight.detach().clone()
        model.train()
        losses[weight] = train_step(model, make_optimizer(model, config), pairs, config)
        assert not torch.equal(model.step_head.weight, before)
    assert losses[1.0] > losses[0.0]  # the step loss is added (about log 2 at the start)
