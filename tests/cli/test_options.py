import json

from typer.testing import CliRunner

from armap.cli.main import app
from armap.explore import ExploreConfig, summarize_trajectories

EMPTY_RUN = {**summarize_trajectories([]), "ran": 0, "skipped": 0}
"""What explore returns for a run of no episodes."""


def test_options_come_from_the_config_dataclass():
    out = CliRunner().invoke(app, ["explore", "--help"])
    assert out.exit_code == 0
    for name in ("--policy", "--samples", "--base-url", "--max-retries", "--config"):
        assert name in out.output


def test_config_file_sets_values_and_command_line_wins(tmp_path, monkeypatch):
    seen = {}

    def fake_explore(config: ExploreConfig, run_dir):
        seen["config"] = config
        return EMPTY_RUN

    monkeypatch.setattr("armap.cli.main.explore", fake_explore)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"policy": "random", "samples": 3, "llm": {"max_tokens": 7},
                               "temperature": 0.2}))
    out = CliRunner().invoke(app, ["explore", "--config", str(cfg), "--samples", "5",
                                   "--run-dir", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    config = seen["config"]
    assert (config.agent.policy, config.samples, config.temperature) == ("random", 5, 0.2)
    assert config.agent.llm.max_tokens == 7
    assert config.agent.llm.llm == "local"  # untouched default


def test_config_file_may_nest_groups_fully_or_by_their_last_name(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("armap.cli.main.explore", lambda config, run_dir: seen.update(
        config=config) or EMPTY_RUN)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("agent:\n  policy: random\n  llm:\n    max_tokens: 9\n"
                   "env:\n  env_option: [puzzles=x.csv]\n  limit: 4\nworkers: 2\n")
    out = CliRunner().invoke(app, ["explore", "--config", str(cfg), "--run-dir",
                                   str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    config = seen["config"]
    assert (config.agent.policy, config.agent.llm.max_tokens) == ("random", 9)
    assert (config.env.env_option, config.env.limit, config.runner.workers) == (
        ["puzzles=x.csv"], 4, 2)
    cfg.write_text("agent:\n  samples: 3\n")  # a leaf of another group
    out = CliRunner().invoke(app, ["explore", "--config", str(cfg), "--run-dir",
                                   str(tmp_path / "r")])
    assert out.exit_code != 0 and "has no option 'samples'" in str(out.exception)


def test_env_options_are_checked_against_the_environment():
    out = CliRunner().invoke(app, ["explore", "--env-option", "puzles=x.csv", "--run-dir", "r"])
    assert out.exit_code != 0
    assert "Did you mean 'puzzles'?" in str(out.exception)
    out = CliRunner().invoke(app, ["explore", "--env", "gam24", "--run-dir", "r"])
    assert "Did you mean" in str(out.exception)


def test_unknown_key_in_config_file_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("polcy: random\n")
    out = CliRunner().invoke(app, ["explore", "--config", str(cfg), "--run-dir", str(tmp_path)])
    assert out.exit_code != 0
    assert "has no option 'polcy'" in str(out.exception)
