"""``armap``: one typer app; each verb is registered from its config dataclass."""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import typer

from armap.cli.options import config_command, exit_interrupted
from armap.config import check_choice
from armap.console import configure, number
from armap.demo import DemoConfig, run_demo
from armap.errors import ArmapError, MissingFileError
from armap.evaluate import RESULTS, EvalConfig, evaluate, method_table
from armap.explore import ExploreConfig, explore
from armap.recorded import ImportConfig, import_outputs
from armap.redact import redact
from armap.rerank import RerankConfig, format_report, rerank
from armap.reward.config import RewardTrainConfig
from armap.reward.scoring import ScoreConfig
from armap.reward.server import RMServerConfig
from armap.synth import SynthConfig, synthesize
from armap.view import ViewConfig, serve, write_view

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Automatic reward modeling and planning for LLM agents.")

RUN_DIR = inspect.Parameter(
    "run_dir", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
    default=typer.Option(..., "--run-dir", envvar="ARMAP_RUN_DIR",
                         help="Run directory: created, or resumed if it holds the same run."))


@app.callback()
def _root(
    log_level: str = typer.Option("WARNING", "--log-level", envvar="ARMAP_LOG_LEVEL",
                                  help="Logging level: DEBUG, INFO, WARNING, ERROR. Below "
                                  "DEBUG the libraries underneath (transformers, llama.cpp, "
                                  "HTTP clients) are kept quiet."),
) -> None:
    check_choice("log_level", log_level.upper(), ("DEBUG", "INFO", "WARNING", "ERROR"))
    configure(log_level)


def _manifest_line(run_dir: Path) -> str:
    """Where a verb's full summary is (its manifest), and how to print it."""
    manifest = run_dir / "manifest.json"
    return f"Full summary: {manifest} (jq .summary {manifest})"


def _trajectories_lines(summary: dict[str, Any], run_dir: Path, note: str = "") -> list[str]:
    """The closing lines of a verb that writes trajectories (explore, import)."""
    calls = f", {summary['llm_calls']} LLM calls" if summary["llm_calls"] else ""
    return [f"Wrote {summary['trajectories']} trajectories to {run_dir / 'trajectories.jsonl'}"
            f" ({summary['ran']} new, {summary['skipped']} resumed{note})",
            f"Solved {summary['solved']} of {summary['trajectories']}, mean score "
            f"{number(summary['mean_score'])}, mean steps "
            f"{number(summary['mean_steps'], '.1f')}{calls}",
            _manifest_line(run_dir)]


def _explore(config: ExploreConfig, run_dir: Path) -> None:
    _echo_lines(_trajectories_lines(explore(config, run_dir), run_dir))


config_command(app, "explore", ExploreConfig, _explore, extra=[RUN_DIR],
               help="Let a policy act in an environment and record trajectories (JSONL).")


def _synthesize(config: SynthConfig, run_dir: Path) -> None:
    summary = synthesize(config, run_dir)
    types = ", ".join(f"{k} {v}" for k, v in sorted(summary["negative_types"].items(),
                                                    key=lambda kv: -kv[1]))
    _echo_lines([f"Wrote {summary['triplets']} triplets of {summary['tasks']} tasks to "
                 f"{run_dir / 'triplets.jsonl'}",
                 f"Negative types: {types or 'none'}",
                 _manifest_line(run_dir)])


config_command(app, "synthesize", SynthConfig, _synthesize, extra=[RUN_DIR],
               help="Make (instruction, positive, negative) triplets for reward-model training.")


def _eval(config: EvalConfig, run_dir: Path) -> None:
    summary = evaluate(config, run_dir)
    _echo_lines([*method_table(summary["methods"]), "",
                 f"Results: {run_dir / RESULTS}; report: {run_dir / 'report.md'} (costs and "
                 f"the budget plot); every candidate: armap view {run_dir}"])


config_command(app, "eval", EvalConfig, _eval, extra=[RUN_DIR],
               help="Evaluate methods (greedy, sampling, best_of_n, reflexion, mcts) on a "
                    "split with one policy and budget; writes results.jsonl and report.md.")


TRIPLETS = inspect.Parameter(
    "triplets", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
    default=typer.Option(..., "--triplets", help="Training triplets (JSONL from synthesize)."))
VAL_TRIPLETS = inspect.Parameter(
    "val_triplets", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
    default=typer.Option(None, "--val-triplets", help="Held-out triplets for validation "
                         "(default: a split of --triplets by task id)."))


def _train(config: RewardTrainConfig, run_dir: Path, triplets: Path,
           val_triplets: Path | None) -> None:
    from armap.reward.train import train

    _echo_lines(_train_lines(train(config, triplets, run_dir, val_triplets=val_triplets),
                             run_dir))


def _train_lines(metrics: dict[str, Any], run_dir: Path) -> list[str]:
    """The closing lines of `armap train`: held-out accuracy, steps, where the checkpoint is."""
    checkpoint = run_dir / "checkpoint"
    if metrics["val_accuracy"] is None:
        held_out = "No held-out triplets: the checkpoint is the last step's weights"
    else:
        held_out = (f"Held-out pairwise accuracy {metrics['val_accuracy']:.3f} on "
                    f"{metrics['val_triplets']} triplets (before training "
                    f"{metrics['initial_val_accuracy']:.3f}), threshold "
                    f"{metrics['val_threshold']:.4f}, best at step {metrics['best_step']}")
    return [held_out,
            f"Trained {metrics['steps']} step{'' if metrics['steps'] == 1 else 's'} on "
            f"{metrics['train_triplets']} triplets in "
            f"{metrics['seconds']:.0f} s (stopped: {metrics['stopped']})",
            f"Checkpoint: {checkpoint}; metrics: {checkpoint / 'metrics.json'}"]


config_command(app, "train", RewardTrainConfig, _train, extra=[RUN_DIR, TRIPLETS, VAL_TRIPLETS],
               help="Train a reward model on triplets with a pairwise ranking loss.")


def _score(config: ScoreConfig) -> None:
    from armap.reward import load_reward_model
    from armap.reward.scoring import check_not_input, score_file

    out = config.output_path
    check_not_input(config.input, out)
    if not Path(config.input).is_file():
        raise MissingFileError(f"--input {config.input} does not exist")
    summary = score_file(load_reward_model(config.rm), config.input, out)
    if "pairwise_accuracy" in summary:
        by_type = ", ".join(f"{k} {v:.3f}" for k, v in summary["by_negative_type"].items())
        lines = [f"Pairwise accuracy {number(summary['pairwise_accuracy'])} on "
                 f"{summary['records']} triplets", f"By negative type: {by_type or '-'}"]
    else:
        lines = [f"Scored {summary['records']} trajectories, mean score "
                 f"{number(summary['mean_score'], '.4f')}"]
    _echo_lines([*lines, f"Wrote {out}"])


config_command(app, "score", ScoreConfig, _score,
               help="Score trajectories, or triplets (pairwise accuracy), with a reward model.")


def _import(config: ImportConfig, run_dir: Path) -> None:
    summary = import_outputs(config, run_dir)
    lines = _trajectories_lines(summary, run_dir,
                                f"; {summary['unreadable_records']} records skipped")
    labels = summary.get("recorded_labels")
    if labels:
        lines.insert(2, f"The recorded verdict ({labels['field']}) agrees with the "
                        f"environment on {labels['agree']} of {labels['records']}")
    _echo_lines(lines)


config_command(app, "import", ImportConfig, _import, extra=[RUN_DIR],
               help="Turn recorded LLM outputs (JSONL) into trajectories by parsing and "
                    "playing them in the environment.")


def _rerank(config: RerankConfig) -> None:
    from armap.reward import load_reward_model

    report = rerank(config, load_reward_model(config.rm))
    typer.echo(format_report(report))
    typer.echo(f"\nWrote {config.output_path}")


config_command(app, "rerank", RerankConfig, _rerank,
               help="Best-of-N re-ranking of recorded trajectories with a reward model: the "
                    "pick against the oracle and the mean, for several N.")


def _serve_rm(config: RMServerConfig) -> None:
    from armap.reward.server import serve

    serve(config, say=lambda line: typer.echo(line, err=True))


config_command(app, "serve-rm", RMServerConfig, _serve_rm,
               help="Serve a reward model over HTTP with dynamic batching, so many planner "
                    "processes share it: give them --rm http://HOST:PORT.")


VIEW_DIR = inspect.Parameter(
    "run_dir", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
    default=typer.Argument(..., metavar="RUN_DIR", help="The run directory of `armap eval` "
                           "(or of the demo's "
                           "eval stage, runs/demo/eval)."))


def _view(config: ViewConfig, run_dir: Path) -> None:
    page = write_view(run_dir, config.out)
    typer.echo(f"Wrote {page}")
    if config.serve:
        serve(page, config.port, say=typer.echo)


config_command(app, "view", ViewConfig, _view, extra=[VIEW_DIR],
               help="Write a self-contained HTML page of an eval run (open it from disk): the "
                    "method table and plot, and per task every method's candidates, steps and "
                    "MCTS tree.")


DEMO_DIR = inspect.Parameter(
    "run_dir", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
    default=typer.Option(Path("runs/demo"), "--run-dir", envvar="ARMAP_RUN_DIR",
                         help="Run directory of the demo (resumed if it exists)."))


def _demo(config: DemoConfig, run_dir: Path) -> None:
    run_demo(config, run_dir, say=typer.echo)


config_command(app, "demo", DemoConfig, _demo, extra=[DEMO_DIR],
               help="The whole loop, small and offline: explore, synthesize, train, evaluate.")


@app.command("envs")
def _envs(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the environments with their splits, default step budget and options."""
    from armap.envs.spec import describe_envs

    described = describe_envs()
    if as_json:
        typer.echo(json.dumps(described, indent=2, default=str))
        return
    for env in described:
        typer.echo(f"{env['id']}: {env['summary']}")
        typer.echo(f"  splits: {', '.join(env['splits'])}; step budget: {env['max_steps']}")
        for option in env["options"]:
            typer.echo(f"  --env-option {option['name']}=...  (default: {option['default']!r})")


def _echo_lines(lines: list[str]) -> None:
    typer.echo("\n".join(lines))


def main() -> None:
    """Entry point: a user error prints one line (exit 2), any other failure one line (exit 1);
    ``--log-level DEBUG`` shows the traceback."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        app()
    except ArmapError as e:
        _fail(e, f"error: {e}", 2)
    except KeyboardInterrupt:
        exit_interrupted()
    except Exception as e:
        _fail(e, f"error: {type(e).__name__}: {e} (this is a bug or an unexpected condition; "
                 "re-run with --log-level DEBUG for the traceback)", 1)


def _fail(error: BaseException, message: str, code: int) -> NoReturn:
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        traceback.print_exception(error)
    typer.secho(redact(message), fg=typer.colors.RED, err=True)
    sys.exit(code)
