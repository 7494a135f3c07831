"""``armap``: one typer app; each verb is registered from its config dataclass."""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import typer

from armap.cli.options import config_command, exit_interrupted
from armap.config import check_choice
from armap.demo import DemoConfig, run_demo
from armap.errors import ArmapError, MissingFileError
from armap.evaluate import EvalConfig, evaluate
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
                                  help="Logging level: DEBUG, INFO, WARNING, ERROR."),
) -> None:
    check_choice("log_level", log_level.upper(), ("DEBUG", "INFO", "WARNING", "ERROR"))
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")


def _explore(config: ExploreConfig, run_dir: Path) -> None:
    summary = explore(config, run_dir)
    typer.echo(f"Wrote {summary['trajectories']} trajectories to {run_dir / 'trajectories.jsonl'}"
               f" ({summary['ran']} new, {summary['skipped']} resumed)")
    typer.echo(json.dumps(summary, indent=2))


config_command(app, "explore", ExploreConfig, _explore, extra=[RUN_DIR],
               help="Let a policy act in an environment and record trajectories (JSONL).")


def _synthesize(config: SynthConfig, run_dir: Path) -> None:
    summary = synthesize(config, run_dir)
    typer.echo(f"Wrote {summary['triplets']} triplets to {run_dir / 'triplets.jsonl'}")
    typer.echo(json.dumps(summary, indent=2))


config_command(app, "synthesize", SynthConfig, _synthesize, extra=[RUN_DIR],
               help="Make (instruction, positive, negative) triplets for reward-model training.")


def _eval(config: EvalConfig, run_dir: Path) -> None:
    evaluate(config, run_dir)
    typer.echo((run_dir / "report.md").read_text())


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

    metrics = train(config, triplets, run_dir, val_triplets=val_triplets)
    typer.echo(f"Checkpoint: {run_dir / 'checkpoint'}")
    typer.echo(json.dumps(metrics, indent=2))


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
    typer.echo(f"Wrote {out}")
    typer.echo(json.dumps(summary, indent=2))


config_command(app, "score", ScoreConfig, _score,
               help="Score trajectories, or triplets (pairwise accuracy), with a reward model.")


def _import(config: ImportConfig, run_dir: Path) -> None:
    summary = import_outputs(config, run_dir)
    typer.echo(f"Wrote {summary['trajectories']} trajectories to "
               f"{run_dir / 'trajectories.jsonl'} ({summary['ran']} new, {summary['skipped']} "
               f"resumed; {summary['unreadable_records']} records skipped)")
    typer.echo(json.dumps(summary, indent=2))


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
