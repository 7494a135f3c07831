"""The learned reward model: scoring, cache, checkpoints (full and LoRA), errors; the oracle."""

import json
import shutil

import pytest
import torch

from armap.errors import ConfigError
from armap.reward import (
    CheckpointError,
    OracleRewardModel,
    load_reward_model,
    reward_models,
)
from armap.reward.model import LearnedRewardModel
from armap.reward.serialize import SERIALIZER_VERSION
from armap.types import Step, Task, Trajectory

from .game24_data import game24_triplets


@pytest.fixture(scope="module")
def trajectories():
    triplets = game24_triplets(6, seed=5)
    return triplets[0].instruction, [t for x in triplets for t in (x.positive, x.negative)]


@pytest.fixture(scope="module")
def model():
    # float32 on every CPU: the exactness checks below do not hold in bfloat16 (see
    # test_bfloat16_scores_stay_close_to_float32).
    torch.manual_seed(0)
    m = LearnedRewardModel(max_length=128, batch_size=4, dtype="float32")
    with torch.no_grad():  # a head that is far from its initialization
        m.head.weight.normal_(0, 0.5)
        m.head.bias.fill_(0.25)
    return m


def test_scores_are_batched_finite_and_independent_of_batching(model, trajectories):
    instruction, ts = trajectories
    together = model.score(instruction, ts)
    model.clear_cache()
    alone = [model.score(instruction, [t])[0] for t in ts]
    assert len(together) == len(ts) and all(torch.isfinite(torch.tensor(together)))
    assert together == pytest.approx(alone, abs=1e-4)  # padding does not leak into scores
    assert len(set(together)) > 1


def test_bfloat16_scores_stay_close_to_float32(model, trajectories, tmp_path):
    """bfloat16 (``auto`` on a CPU with native bf16) rounds differently per batch shape, so
    its scores match float32 and each other only to about 1e-2."""
    instruction, ts = trajectories
    model.clear_cache()
    reference = model.score(instruction, ts)
    model.save(tmp_path / "ckpt")
    half = LearnedRewardModel.load(tmp_path / "ckpt", dtype="bfloat16")
    assert next(half.backbone.parameters()).dtype == torch.bfloat16
    together = half.score(instruction, ts)
    half.clear_cache()
    alone = [half.score(instruction, [t])[0] for t in ts]
    assert together == pytest.approx(reference, abs=0.08)
    assert alone == pytest.approx(together, abs=0.08)
    assert together != reference  # it really ran in bfloat16


def test_cache_returns_identical_scores_and_counts_hits(model, trajectories):
    instruction, ts = trajectories
    model.clear_cache()
    first = model.score(instruction, ts)
    assert (model.cache_hits, model.cache_misses) == (0, len(ts))
    again = model.score(instruction, ts[:3] + ts)
    assert again == first[:3] + first
    assert (model.cache_hits, model.cache_misses) == (len(ts) + 3, len(ts))


def test_save_then_load_gives_identical_scores(model, trajectories, tmp_path):
    instruction, ts = trajectories
    before = model.score(instruction, ts)
    model.threshold = 0.25  # the trainer's held-out cut, kept for Reflexion
    model.save(tmp_path / "ckpt", metrics={"val_accuracy": 0.5})
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"config.json", "head.safetensors", "backbone", "tokenizer", "metrics.json"} <= files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["serializer_version"] == SERIALIZER_VERSION and config["max_length"] == 128
    assert config["backbone"] == "all-minilm-l6-v2" and config["pooling"] == "mean"
    loaded = load_reward_model(str(tmp_path / "ckpt"))
    assert isinstance(loaded, LearnedRewardModel) and loaded.threshold == 0.25
    assert loaded.score(instruction, ts) == pytest.approx(before, rel=1e-5, abs=1e-6)
    # saving over an existing checkpoint replaces it
    model.save(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt" / "metrics.json").exists()
    # format version 1 (before step heads) reads as a checkpoint without one; 3 is refused
    path = tmp_path / "ckpt" / "config.json"
    for version, readable in ((1, True), (3, False)):
        path.write_text(json.dumps({**config, "format_version": version,
                                    "files": json.loads(path.read_text())["files"]}))
        if readable:
            assert LearnedRewardModel.load(tmp_path / "ckpt").step_head is None
        else:
            with pytest.raises(CheckpointError, match="format version 3"):
                LearnedRewardModel.load(tmp_path / "ckpt")


def test_lora_checkpoint_holds_only_the_adapter_and_reloads_exactly(trajectories, tmp_path):
    instruction, ts = trajectories
    torch.manual_seed(1)
    m = LearnedRewardModel(max_length=128, lora=True, lora_r=4, lora_alpha=8, dtype="float32")
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    with torch.no_grad():  # LoRA's B starts at zero; make the adapter matter
        for name, p in m.backbone.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    before = m.score(instruction, ts)
    m.save(tmp_path / "lora")
    adapter = tmp_path / "lora" / "adapter"
    assert not (tmp_path / "lora" / "backbone").exists()
    assert sum(f.stat().st_size for f in adapter.iterdir()) < 5_000_000  # the base is 90 MB
    config = json.loads((tmp_path / "lora" / "config.json").read_text())
    assert config["lora"]["r"] == 4 and config["backbone"] == "all-minilm-l6-v2"
    loaded = LearnedRewardModel.load(tmp_path / "lora")
    assert loaded.score(instruction, ts) == pytest.approx(before, rel=1e-5, abs=1e-6)


def test_half_written_checkpoint_is_refused(model, tmp_path):
    model.save(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        LearnedRewardModel.load(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="not a directory"):
        LearnedRewardModel.load(tmp_path / "missing")


def test_an_interrupted_save_leaves_the_previous_checkpoint(model, trajectories, tmp_path,
                                                            monkeypatch):
    instruction, ts = trajectories
    model.save(tmp_path / "ckpt")
    before = LearnedRewardModel.load(tmp_path / "ckpt").score(instruction, ts)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("armap.reward.model.save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(tmp_path / "ckpt")
    with pytest.raises(KeyboardInterrupt):
        model.save(tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert LearnedRewardModel.load(tmp_path / "ckpt").score(instruction, ts) == before


def test_other_serializer_version_is_refused(model, tmp_path):
    model.save(tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "serializer_version": 99}))
    with pytest.raises(CheckpointError, match="serializer version 99"):
        LearnedRewardModel.load(tmp_path / "ckpt")
    shutil.rmtree(tmp_path / "ckpt" / "backbone")
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"backbone/config\.json is missing"):
        LearnedRewardModel.load(tmp_path / "ckpt")


def test_unknown_backbone_names_what_was_tried(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown reward-model backbone 'no-such/model-xyz'"):
        LearnedRewardModel("no-such/model-xyz")
    with pytest.raises(ConfigError, match="empty-dir"):
        LearnedRewardModel(str(tmp_path / "empty-dir"))


def test_a_local_decoder_backbone_uses_last_token_pooling(tmp_path, trajectories):
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    from armap.reward.model import embedded_backbone_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_backbone_path()))
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         architectures=["LlamaForCausalLM"])
    LlamaModel(config).save_pretrained(tmp_path / "tiny-llama")
    tokenizer.save_pretrained(tmp_path / "tiny-llama")
    m = LearnedRewardModel(str(tmp_path / "tiny-llama"), max_length=96, lora=True, lora_r=2)
    assert (m.architecture, m.pooling) == ("decoder", "last")
    assert "q_proj" in m.lora["target_modules"]
    instruction, ts = trajectories
    together = m.score(instruction, ts[:4])
    m.clear_cache()
    assert together == pytest.approx([m.score(instruction, [t])[0] for t in ts[:4]], abs=1e-5)


def test_oracle_and_registry():
    task = Task("t", "toy", "x")
    oracle = load_reward_model("oracle")
    assert isinstance(oracle, OracleRewardModel)
    assert oracle.score("x", [Trajectory(task, env_score=1.0), Trajectory(task, env_score=0.0)]) \
        == [1.0, 0.0]
    with pytest.raises(ConfigError, match="no env_score"):
        oracle.score("x", [Trajectory(task, steps=[Step("a")])])
    assert set(reward_models.ids()) == {"judge", "learned", "oracle", "remote"}
    with pytest.raises(ConfigError, match="neither 'oracle', an existing checkpoint"):
        load_reward_model("no/such/dir")


@pytest.mark.parametrize("damage", ["tokenizer", "truncated", "head_width", "config"])
def test_a_damaged_checkpoint_is_one_clear_error_naming_the_file(model, tmp_path, damage):
    root = model.save(tmp_path / "ckpt")
    config = json.loads((root / "config.json").read_text())
    assert "tokenizer/tokenizer.json" in config["files"]
    if damage == "tokenizer":  # loaded fine before: every word became [UNK]
        (root / "tokenizer" / "tokenizer.json").unlink()
        expected = "tokenizer/tokenizer.json is missing"
    elif damage == "truncated":
        weights = root / "backbone" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
        expected = "backbone/model.safetensors has 1000 bytes"
    elif damage == "head_width":  # a head of another width, with a manifest that agrees
        from safetensors.torch import save_file

        save_file({"weight": torch.zeros(1, 8), "bias": torch.zeros(1)},
                  str(root / "head.safetensors"))
        del config["files"]
        (root / "config.json").write_text(json.dumps(config))
        expected = "head.safetensors does not fit this model"
    else:
        del config["max_length"]
        (root / "config.json").write_text(json.dumps(config))
        expected = "config.json is incomplete: it has no max_length"
    with pytest.raises(CheckpointError, match=expected):
        LearnedRewardModel.load(root)


def test_a_lora_checkpoint_without_its_adapter_config_is_refused(trajectories, tmp_path):
    lora = LearnedRewardModel(max_length=64, lora=True, lora_r=2, dtype="float32")
    root = lora.save(tmp_path / "lora")
    (root / "adapter" / "adapter_config.json").unlink()
    with pytest.raises(CheckpointError, match=r"adapter/adapter_config\.json is missing"):
        LearnedRewardModel.load(root)
