"""`armap view`: one self-contained HTML page for an eval run directory.

The page needs no server and no network: CSS and the few lines of script are inline and the
budget plot is SVG drawn here. It shows the method table of ``report.md`` (the same numbers,
from `method_rows`), the score-against-budget curves, and per task every method's candidates
with their reward terms and ground-truth score, the chosen one marked, each trajectory step by
step, and the MCTS tree (visits and values per node) as nested ``<details>``. Every text taken
from a record is escaped.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from armap.config import opt
from armap.errors import CorruptRecordError, MissingFileError, RunDirError, SchemaVersionError
from armap.evaluate import METHODS, RESULTS, budget_curve, method_rows
from armap.jsonl import numbered_records
from armap.planning.base import RESULT_SCHEMA_VERSION
from armap.rundir import MANIFEST

Results = dict[tuple[str, str], dict[str, Any]]
COLORS = {"sampling": "#1f77b4", "best_of_n": "#d62728", "reflexion": "#2ca02c",
          "mcts": "#9467bd", "greedy": "#7f7f7f"}


@dataclass
class ViewConfig:
    """What `armap view` writes."""

    out: str | None = opt(None, "Where to write the page (default: RUN_DIR/report.html).")
    serve: bool = opt(False, "Then serve the page on http://127.0.0.1:PORT until Ctrl-C.")
    port: int = opt(8000, "Port for --serve (0: any free port).")


@dataclass
class Run:
    """An eval run as the page shows it: its manifest, the latest result per task and
    method, and the task ids (numbers in them sorted as numbers)."""

    path: Path
    manifest: dict[str, Any]
    results: Results
    tasks: list[str]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest.get("config") or {}

    @property
    def budget(self) -> int:
        return int(self.config.get("budget") or max(r["budget"] for r in self.results.values()))


def load_run(run_dir: str | Path) -> Run:
    """Read an eval run directory; `RunDirError` or `MissingFileError` says what is missing."""
    path = Path(run_dir)
    if not path.is_dir():
        raise MissingFileError(f"{path} is not a directory: give the --run-dir of `armap eval`")
    manifest: dict[str, Any] = {}
    if (path / MANIFEST).is_file():
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CorruptRecordError(f"{path / MANIFEST}: not a JSON manifest ({e})") from None
        if manifest.get("verb") not in ("eval", None):
            hint = (f"; its eval stage is {path / 'eval'}" if (path / "eval" / RESULTS).is_file()
                    else "")
            raise RunDirError(f"{path} holds an 'armap {manifest['verb']}' run, not an "
                              f"'armap eval' run{hint}")
    if not (path / RESULTS).is_file():
        raise RunDirError(f"{path} has no {RESULTS}: not an eval run directory, or its "
                          "evaluation has not finished a task yet")
    results: Results = {}
    tasks: set[str] = set()
    for lineno, record in numbered_records(path / RESULTS):
        where = f"{path / RESULTS}:{lineno}"
        if record.get("schema_version") != RESULT_SCHEMA_VERSION:
            raise SchemaVersionError(f"{where}: result schema_version="
                                     f"{record.get('schema_version')!r}; this armap reads "
                                     f"version {RESULT_SCHEMA_VERSION}")
        if not all(k in record for k in ("task_id", "method", "candidates", "budget")):
            raise CorruptRecordError(f"{where}: not a result record of `armap eval`")
        results[(record["task_id"], record["method"])] = record
        tasks.add(record["task_id"])
    if not results:
        raise RunDirError(f"{path / RESULTS} is empty: no task has finished yet")
    return Run(path, manifest, results, sorted(tasks, key=_natural))


def _natural(text: str) -> list[Any]:
    """Sort key that puts ``webshop_9`` before ``webshop_10``."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def write_view(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the page for ``run_dir`` (default ``RUN_DIR/report.html``); returns its path."""
    run = load_run(run_dir)
    target = Path(out) if out is not None else run.path / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(run), encoding="utf-8")
    return target


def serve(page: Path, port: int, say: Callable[[str], None]) -> None:
    """Serve ``page``'s folder on 127.0.0.1 until Ctrl-C."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(page.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        say(f"Serving http://127.0.0.1:{server.server_address[1]}/{page.name} (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            say("stopped")


# -- the page ----------------------------------------------------------------------------
def render(run: Run) -> str:
    """The whole page as one HTML string."""
    config = run.config
    env_id = (run.manifest.get("summary") or {}).get("env", {}).get("id") \
        or (config.get("env") or {}).get("env", "?")
    split = (config.get("env") or {}).get("split") or "test"
    title = f"armap eval: {env_id}, split {split}"
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>", _about(run),
        '<h2>Methods</h2>', _method_table(run.results),
        "<p class=note>Means per task. Score: the chosen trajectory's ground truth (sampling: "
        "the mean over its N episodes); oracle: the best candidate's.</p>",
        "<h2>Score against budget</h2>", budget_svg(run.results, run.budget),
        f'<h2>Tasks ({len(run.tasks)})</h2><p><button type="button" id="expand-all">Expand '
        'all</button> <button type="button" id="collapse-all">Collapse all</button></p>',
        *(_task(run, task) for task in run.tasks),
        f"<script>{SCRIPT}</script></body></html>", ""])


def _about(run: Run) -> str:
    config, manifest = run.config, run.manifest
    agent = config.get("agent") or {}
    llm = agent.get("llm") or {}
    facts = [("policy", f"{agent.get('policy', '?')} ({llm.get('llm', '?')}:"
                        f"{llm.get('model', '?')})" if agent else None),
             ("reward model", config.get("rm")),
             ("budget", f"{run.budget} complete trajectories per task (greedy: 1)"),
             ("tasks", str(len(run.tasks))),
             ("status", manifest.get("status")),
             ("git revision", (manifest.get("git_revision") or "")[:12] or None),
             ("run directory", str(run.path))]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts
                    if v is not None)
    return f"<dl class=about>{items}</dl>"


COLUMNS = [("score", "score"), ("oracle_best_of_n", "oracle best-of-N"),
           ("of_oracle", "score / oracle"), ("mean_steps", "mean steps"),
           ("mean_price", "mean price"), ("errors", "errors"), ("budget", "budget"),
           ("tasks", "tasks"), ("llm_calls", "LLM calls"),
           ("completion_tokens", "completion tokens"), ("env_steps", "env steps"),
           ("rm_calls", "RM calls"), ("seconds", "seconds")]
THREE_DECIMALS = {"score", "oracle_best_of_n", "of_oracle", "mean_price"}


def _method_table(results: Results) -> str:
    head = "".join(f"<th>{escape(label)}</th>" for _, label in COLUMNS)
    rows = []
    for row in method_rows(results):
        cells = "".join(f'<td data-col="{key}">{_cell(key, row[key])}</td>'
                        for key, _ in COLUMNS)
        rows.append(f'<tr data-method="{escape(row["method"])}"><th>{escape(row["method"])}'
                    f"</th>{cells}</tr>")
    return (f'<table id="methods"><thead><tr><th>method</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if key in THREE_DECIMALS else escape(str(value))


def budget_svg(results: Results, budget: int, width: int = 640, height: int = 320) -> str:
    """Mean ground truth against budget per method (greedy: a dashed line), as inline SVG."""
    methods = {m for _, m in results}
    curves = {m: budget_curve(results, m, budget) for m in METHODS
              if m in methods and m != "greedy"}
    greedy = [r["env_score"] or 0.0 for (_, m), r in results.items() if m == "greedy"]
    values = [*(v for c in curves.values() for v in c), *greedy]
    low, top = min([0.0, *values]), max([1.0, *values])
    left, right, pad = 56, 130, 28
    plot_w, plot_h = width - left - right, height - 2 * pad

    def x(b: float) -> float:
        return left + (plot_w * (b - 1) / (budget - 1) if budget > 1 else plot_w / 2)

    def y(v: float) -> float:
        return pad + plot_h * (top - v) / (top - low)

    parts = [f'<svg id="budget-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f'<rect x="{left}" y="{pad}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    for i in range(5):
        v = low + (top - low) * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'class="grid"/><text x="{left - 6}" y="{y(v) + 4:.1f}" '
                     f'text-anchor="end">{v:.2f}</text>')
    step = max(1, budget // 10)
    for b in range(1, budget + 1, step):
        parts.append(f'<text x="{x(b):.1f}" y="{pad + plot_h + 16}" '
                     f'text-anchor="middle">{b}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 2}" text-anchor="middle">budget '
                 "(complete trajectories)</text>")
    legend = []
    if greedy:
        g = statistics.fmean(greedy)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(g):.1f}" y2="{y(g):.1f}" '
                     f'stroke="{COLORS["greedy"]}" stroke-dasharray="6 4" stroke-width="2">'
                     f"<title>greedy: {g:.3f}</title></line>")
        legend.append("greedy")
    for method, curve in curves.items():
        color = COLORS.get(method, "#000")
        points = " ".join(f"{x(b):.1f},{y(v):.1f}" for b, v in enumerate(curve, 1))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" '
                     'stroke-width="2"/>')
        parts += [f'<circle cx="{x(b):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}">'
                  f"<title>{method}, budget {b}: {v:.3f}</title></circle>"
                  for b, v in enumerate(curve, 1)]
        legend.append(method)
    for i, method in enumerate(legend):
        ly = pad + 10 + 18 * i
        dash = ' stroke-dasharray="6 4"' if method == "greedy" else ""
        parts.append(f'<line x1="{width - right + 12}" x2="{width - right + 36}" y1="{ly}" '
                     f'y2="{ly}" stroke="{COLORS.get(method, "#000")}" stroke-width="2"{dash}/>'
                     f'<text x="{width - right + 42}" y="{ly + 4}">{method}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _task(run: Run, task: str) -> str:
    records = [(m, run.results[(task, m)]) for m in METHODS if (task, m) in run.results]
    instruction = next((c["trajectory"]["task"].get("instruction", "") for _, r in records
                        for c in r["candidates"]), "")
    badges = "".join(f'<span class="badge{" failed" if r.get("error") else ""}">'
                     f"{escape(m)} {_num(r.get('env_score'))}</span>" for m, r in records)
    body = "".join(_method(m, r, run.results) for m, r in records)
    return (f'<details class="task" data-task="{escape(task)}"><summary><b>{escape(task)}</b> '
            f"{badges}</summary><pre class=instruction>{escape(instruction)}</pre>{body}"
            "</details>")


def _method(method: str, record: dict[str, Any], results: Results) -> str:
    cands = record["candidates"]
    head = (f"<h3>{escape(method)}: score {_num(record.get('env_score'))}, "
            f"{len(cands)} candidate{'s' if len(cands) != 1 else ''}</h3>")
    parts = [f'<section class="method" data-method="{escape(method)}">', head]
    if record.get("error"):
        parts.append(f"<pre class=error>{escape(str(record['error']))}</pre>")
    shared = (method == "sampling" and record.get("unit") == "best_of_n"
              and (record["task_id"], "best_of_n") in results)
    if shared:
        parts.append("<p class=note>The same candidates as best_of_n (below); sampling's score "
                     "is their mean ground truth.</p>")
    else:
        chosen = None if method == "sampling" else record.get("chosen")
        parts += [_candidate(i, c, i == chosen) for i, c in enumerate(cands)]
    meta = {k: v for k, v in (record.get("meta") or {}).items() if k != "tree"}
    if meta:
        parts.append(_meta(meta))
    tree = (record.get("meta") or {}).get("tree")
    if tree and not shared:
        path = _chosen_actions(record)
        parts.append(f'<details class="tree"><summary>Search tree: '
                     f"{_count(tree)} nodes</summary><ul>{_node(tree, path)}</ul></details>")
    parts.append("</section>")
    return "".join(parts)


def _candidate(index: int, candidate: dict[str, Any], chosen: bool) -> str:
    t = candidate["trajectory"]
    reward = candidate.get("reward") or {}
    terms = ", ".join(f"{escape(k)} {_num(v)}" for k, v in reward.items()
                      if k not in ("total", "rm") and v)  # a custom target's own terms
    if terms:
        terms = f"rm {_num(reward.get('rm'))}, {terms}"
    end = t.get("end", "?") + (f": {t['error']}" if t.get("error") else "")
    summary = (f"<span class=idx>#{index}</span>{' <b class=mark>chosen</b>' if chosen else ''}"
               f" <span>RM <b data-field=rm>{_num(reward.get('total'))}</b></span>"
               f" <span>ground truth <b data-field=gt>{_num(candidate.get('env_score'))}</b>"
               f"</span> <span>{len(t['steps'])} steps, {escape(end)}</span>"
               f" <span class=terms>{terms}</span>")
    steps = [f"<li class=initial><pre class=obs>{escape(t.get('initial_observation', ''))}"
             "</pre></li>"]
    for s in t["steps"]:
        thought = (f"<pre class=thought>{escape(s['thought'])}</pre>" if s.get("thought")
                   and s["thought"].strip() != s["action"] else "")
        steps.append(f"<li>{thought}<div class=action>{escape(s['action'])}</div>"
                     f"<pre class=obs>{escape(s.get('observation', ''))}</pre></li>")
    open_ = " open" if chosen else ""
    css = "candidate chosen" if chosen else "candidate"
    return (f'<details class="{css}"{open_} data-index="{index}"><summary>{summary}</summary>'
            f"<ol class=steps start=0>{''.join(steps)}</ol></details>")


def _meta(meta: dict[str, Any]) -> str:
    items = []
    for k, v in meta.items():
        if v == []:
            shown = "none"
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            shown = "<ol>" + "".join(f"<li><pre>{escape(x)}</pre></li>" for x in v) + "</ol>"
        else:
            shown = escape(json.dumps(v) if isinstance(v, dict | list) else str(v))
        items.append(f"<dt>{escape(k)}</dt><dd>{shown}</dd>")
    return f"<dl class=meta>{''.join(items)}</dl>"


def _chosen_actions(record: dict[str, Any]) -> list[str]:
    if record.get("chosen") is None or not record["candidates"]:
        return []
    return [s["action"] for s in record["candidates"][record["chosen"]]["trajectory"]["steps"]]


def _count(node: dict[str, Any]) -> int:
    return 1 + sum(_count(c) for c in node.get("children", []))


def _node(node: dict[str, Any], path: list[str], on_path: bool = True) -> str:
    """One tree node as a list item; its children nest in a ``<details>``. ``path``: the
    chosen trajectory's remaining actions, marked along the way."""
    label = escape(node["action"]) if node.get("action") is not None else "root"
    stats = (f"visits {node.get('visits', 0)}, best {_num(node.get('best'))}, mean "
             f"{_num(node.get('mean'))}{', done' if node.get('done') else ''}")
    css = ' class="on-path"' if on_path else ""
    text = f"<span{css}><code>{label}</code> <small>{stats}</small></span>"
    children = node.get("children") or []
    if not children:
        return f"<li>{text}</li>"
    items = []
    for child in children:
        follows = on_path and bool(path) and child.get("action") == path[0]
        items.append(_node(child, path[1:] if follows else [], follows))
    open_ = " open" if node.get("action") is None else ""
    return f"<li><details{open_}><summary>{text}</summary><ul>{''.join(items)}</ul></details></li>"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;
color:#222}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1.05em;
margin:.9em 0 .3em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
thead th,tbody th{text-align:left;background:#f4f4f4}
dl.about,dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
dt{font-weight:600}dd{margin:0}
.note{color:#555}svg text{font-size:12px;fill:#333}.frame{fill:none;stroke:#999}
.grid{stroke:#eee}
details.task{border:1px solid #ddd;border-radius:4px;margin:4px 0;padding:2px 8px}
details.task>summary{cursor:pointer;padding:3px 0}
.badge{display:inline-block;background:#eef;border-radius:3px;padding:0 6px;margin-left:6px;
font-size:12px}.badge.failed{background:#fdd}
details.candidate{margin:2px 0 2px 1em}details.candidate>summary{cursor:pointer}
details.candidate>summary span{margin-right:10px}.idx{font-family:monospace}
details.chosen>summary{background:#fff3b0}.mark{color:#8a5a00}.terms{color:#666;font-size:12px}
ol.steps{margin:4px 0}ol.steps li{margin:3px 0}
.action{font-family:monospace;font-weight:600;color:#0b3d91;white-space:pre-wrap}
pre{margin:2px 0;white-space:pre-wrap;word-break:break-word;font-size:12px}
pre.obs{color:#333;background:#f8f8f8;padding:2px 6px;max-height:20em;overflow:auto}
pre.thought{color:#666;font-style:italic}pre.instruction{background:#f4f7ff;padding:4px 8px}
pre.error{color:#a00}
details.tree ul{list-style:none;padding-left:1.2em;margin:0}
details.tree summary{cursor:pointer}.on-path code{background:#fff3b0}
"""

SCRIPT = """
function setAll(open) {
  document.querySelectorAll("details.task").forEach(function (d) { d.open = open; });
}
document.getElementById("expand-all").addEventListener("click", function () { setAll(true); });
document.getElementById("collapse-all").addEventListener("click", function () { setAll(false); });
"""
