import json

from typer.testing import CliRunner

from armap.cli.main import app
from armap.explore import ExploreConfig


def test_options_come_from_the_config_dataclass():
    out = CliRunner().invoke(app, ["explore", "--help"])
    assert out.exit_code == 0
    for name in ("--policy", "--samples", "--base-url", "--max-retries", "--config"):
        assert name in out.output


def test_config_file_sets_values_and_command_line_wins(tmp_path, monkeypatch):
    seen = {}

    def fake_explore(config: ExploreConfig, run_dir):
        seen["config"] = config
        return {"trajectories": 0, "ran": 0, "skipped": 0}

    monkeypatch.setattr("armap.cli.main.explore", fake_explore)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"policy": "random", "samples": 3, "llm": {"max_tokens": 7},
                               "temperature": 0.2}))
    out = CliRunner().invoke(app, ["explore", "--config", str(cfg), "--samples", "5",
                                   "--run-dir", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    config = seen["config"]
    assert (config.policy, config.samples, config.temperature) == ("random", 5, 0.2)
    assert config.llm.max_tokens == 7
    assert config.llm.llm == "local"  # untouched default


def test_unknown_key_in_config_file_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("polcy: random\n")
    out = CliRunner().invoke(app, ["explore", "--config", str(cfg), "--run-dir", str(tmp_path)])
    assert out.exit_code != 0
    assert "has no option 'polcy'" in str(out.exception)
