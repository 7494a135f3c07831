"""Exact values of the trainer's small parts: collator, losses, metrics, batching, splits."""

import math
import random

import pytest
import torch

from armap.reward.train import (
    Pair,
    collate,
    length_batches,
    pair_metrics,
    pairwise_loss,
    pointwise_loss,
    separating_threshold,
    split_by_task,
    step_loss,
)
from armap.types import Task, Trajectory, Triplet


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_collate_puts_positives_then_negatives_right_padded():
    pairs = [Pair([1, 5, 2], [1, 6, 7, 8, 2], "a", "t1"), Pair([1, 9, 2], [1, 2], "b", "t2")]
    batch = collate(pairs, pad_id=0)
    assert batch["input_ids"].tolist() == [
        [1, 5, 2, 0, 0],
        [1, 9, 2, 0, 0],
        [1, 6, 7, 8, 2],
        [1, 2, 0, 0, 0],
    ]
    assert batch["attention_mask"].tolist() == [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1],
        [1, 1, 0, 0, 0],
    ]
    assert batch["input_ids"].dtype == batch["attention_mask"].dtype == torch.long


def test_pairwise_loss_exact_value_with_margin_and_centering():
    r_pos, r_neg = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])
    plain = -(math.log(_sig(1.0)) + math.log(_sig(-1.0))) / 2
    assert pairwise_loss(r_pos, r_neg).item() == pytest.approx(plain, abs=1e-6)
    with_margin = -(math.log(_sig(0.5)) + math.log(_sig(-1.5))) / 2
    assert pairwise_loss(r_pos, r_neg, margin=0.5).item() == pytest.approx(with_margin, abs=1e-6)
    # centering: 0.1 * |mean(r_pos + r_neg)| = 0.1 * |(3 + 2) / 2| = 0.25
    centered = pairwise_loss(r_pos, r_neg, center_weight=0.1).item()
    assert centered == pytest.approx(plain + 0.25, abs=1e-6)
    # the absolute value: shifting every score down by 5 gives |(-7 - 8) / 2| = 7.5
    shifted = pairwise_loss(r_pos - 5, r_neg - 5, center_weight=0.1).item()
    assert shifted == pytest.approx(plain + 0.75, abs=1e-6)


def test_pairwise_loss_gradient_pushes_positive_up_and_negative_down():
    r_pos = torch.tensor([0.0], requires_grad=True)
    r_neg = torch.tensor([0.0], requires_grad=True)
    pairwise_loss(r_pos, r_neg).backward()
    assert r_pos.grad.item() == pytest.approx(-0.5)
    assert r_neg.grad.item() == pytest.approx(0.5)


def test_pointwise_loss_exact_value():
    r_pos, r_neg = torch.tensor([2.0, -1.0]), torch.tensor([0.0])
    expected = -(math.log(_sig(2.0)) + math.log(_sig(-1.0)) + math.log(1 - _sig(0.0))) / 3
    assert pointwise_loss(r_pos, r_neg).item() == pytest.approx(expected, abs=1e-6)


def test_pair_metrics_accuracy_margin_and_per_type():
    m = pair_metrics([1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 1.0, 3.0], ["x", "x", "y", "y"])
    assert m["n"] == 4
    assert m["accuracy"] == 0.5  # the tie counts as wrong
    assert m["mean_margin"] == pytest.approx((1 + 0 + 2 - 1) / 4)
    assert m["per_type"] == {"x": {"n": 2, "accuracy": 0.5, "mean_margin": 0.5},
                             "y": {"n": 2, "accuracy": 0.5, "mean_margin": 0.5}}
    assert pair_metrics([], [], [])["accuracy"] is None
    assert m["threshold"] == separating_threshold([1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 1.0, 3.0])


def test_separating_threshold_cuts_between_positives_and_negatives():
    assert separating_threshold([2.0, 3.0], [0.0, 1.0]) == 1.5  # separable: the midpoint
    # one positive among the negatives: balanced accuracy 0.875 at 1.5, the best cut
    assert separating_threshold([0.5, 2.0, 3.0, 4.0], [0.0, 1.0]) == 1.5
    assert separating_threshold([1.0], [1.0]) == 0.0  # indistinguishable: below everything
    assert separating_threshold([1.0], []) is None


def test_length_batches_cover_every_pair_once_with_similar_lengths():
    pairs = [Pair([0] * n, [0] * (n // 2 + 1), "t", str(n)) for n in range(1, 101)]
    batches = length_batches(pairs, 10, random.Random(0), bucket_batches=100)
    assert sorted(i for b in batches for i in b) == list(range(100))
    assert all(len(b) == 10 for b in batches)
    spans = [max(pairs[i].length for i in b) - min(pairs[i].length for i in b) for b in batches]
    assert max(spans) == 9  # one bucket: sorted, so each batch holds 10 consecutive lengths
    assert [b[0] for b in batches] != sorted(b[0] for b in batches)  # batch order shuffled


def _triplet(task_id: str) -> Triplet:
    task = Task(task_id, "toy", "do it")
    return Triplet(task_id, "toy", "do it", Trajectory(task), Trajectory(task))


def test_split_by_task_never_splits_a_task():
    triplets = [_triplet(f"t{i % 20}") for i in range(200)]
    train, val = split_by_task(triplets, 0.25, seed=3)
    train_ids, val_ids = {t.task_id for t in train}, {t.task_id for t in val}
    assert len(val_ids) == 5 and not train_ids & val_ids
    assert len(train) + len(val) == 200
    assert split_by_task(triplets, 0.25, seed=3)[1] == val  # seeded
    assert split_by_task(triplets, 0.0, seed=3) == (triplets, [])


class _CharModel:
    """Stands in for the model in data prep: one token per character."""

    max_length = 1000
    step_head = None

    def __init__(self):
        self.serialized = 0

    def serialize(self, instruction, trajectory):
        self.serialized += 1
        return instruction + "|" + " ".join(trajectory.actions)

    def tokenize(self, texts):
        return [[ord(c) for c in t] for t in texts]

    def model_instruction(self, instruction):
        return instruction


def test_batch_stream_prepares_lazily_and_covers_every_triplet_each_epoch():
    from armap.reward.train import batch_stream
    from armap.types import Step

    task = Task("t", "toy", "go")
    triplets = [Triplet(f"t{i}", "toy", "go",
                        Trajectory(task, steps=[Step("good" * (i % 7 + 1))]),
                        Trajectory(task, steps=[Step(f"bad{i}")]), {"negative_type": "x"})
                for i in range(40)]
    triplets.append(Triplet("same", "toy", "go", Trajectory(task), Trajectory(task)))
    model, stats = _CharModel(), {}
    stream = batch_stream(model, triplets, 4, random.Random(0), stats, bucket_batches=2)
    first = next(stream)
    assert len(first) == 4 and model.serialized == 16  # only the first bucket of 8 triplets
    epoch = [first]
    while sum(map(len, epoch)) < 40:
        epoch.append(next(stream))
    negatives = sorted(p.neg for batch in epoch for p in batch)
    assert len(negatives) == 40 and len({tuple(n) for n in negatives}) == 40
    assert stats["identical_dropped"] == 1 and stats["triplets"] == 41


def test_step_loss_weighs_wrong_and_sound_steps_equally():
    logits = torch.tensor([2.0, 2.0, 2.0, -1.0])
    labels = torch.tensor([1.0, 1.0, 1.0, 0.0])
    sound = -math.log(_sig(2.0))
    wrong = -math.log(1 - _sig(-1.0))
    assert step_loss(logits, labels).item() == pytest.approx((sound + wrong) / 2, rel=1e-5)
    only_sound = step_loss(logits[:3], labels[:3])
    assert only_sound.item() == pytest.approx(sound, rel=1e-5)
