"""The run directory: one folder per run with a manifest and JSON Lines records.

``manifest.json`` records what produced the files: the verb, the resolved config, seeds, the
git revision, package versions, status (``started`` -> ``success`` | ``error`` |
``interrupted``) and timings of every attempt. Re-running the same command on the same folder
resumes it; a different config is refused, so records of two configs never mix.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from armap.config import resume_relevant
from armap.errors import RunDirError

MANIFEST = "manifest.json"
PACKAGES = ("armap", "torch", "transformers", "peft", "httpx", "typer")


class RunDir:
    """A run folder. Use `start` before writing records and `finish` after."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def file(self, name: str) -> Path:
        return self.path / name

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            raise RunDirError(f"{self.path} has no {MANIFEST}: not an armap run directory")
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def start(self, verb: str, config: Any, *, seed: int | None = None) -> bool:
        """Create or resume the run; returns True when resuming an earlier attempt.

        Raises `RunDirError` if the folder holds a run of another verb or another config.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        now = time.time()
        resolved = asdict(config)
        if self.manifest_path.exists():
            manifest = self.read_manifest()
            if manifest.get("verb") != verb:
                raise RunDirError(f"{self.path} holds an 'armap {manifest.get('verb')}' run; "
                                  f"use another --run-dir for 'armap {verb}'")
            old = manifest.get("resume_key")
            new = _jsonable(resume_relevant(config))
            if old != new:
                diff = sorted(k for k in set(old or {}) | set(new) if
                              (old or {}).get(k) != new.get(k))
                raise RunDirError(
                    f"{self.path} was started with a different config (differs in: "
                    f"{', '.join(diff)}); resume with the same options or use a new --run-dir")
            resumed = True
        else:
            manifest = {"schema_version": 1, "verb": verb, "created": now, "attempts": []}
            resumed = False
        manifest.update(
            status="started",
            config=_jsonable(resolved),
            resume_key=_jsonable(resume_relevant(config)),
            seed=seed,
            argv=sys.argv,
            git_revision=_git_revision(),
            packages=_versions(),
            python=platform.python_version(),
            platform=platform.platform(),
            updated=now,
            error=None,
        )
        manifest["attempts"].append({"started": now})
        self._write(manifest)
        return resumed

    @contextmanager
    def running(self, verb: str, config: Any, *, seed: int | None = None
                ) -> Iterator[dict[str, Any]]:
        """`start`, run the body, then `finish` with its outcome.

        The body fills the yielded dict with summary fields. Ctrl-C ends the attempt as
        ``interrupted``, an exception as ``error`` (both re-raised), a normal exit as
        ``success``; ``resumed`` tells whether an earlier attempt existed.
        """
        summary: dict[str, Any] = {"resumed": self.start(verb, config, seed=seed)}
        try:
            yield summary
        except KeyboardInterrupt:
            self.finish("interrupted", error="interrupted by the user")
            raise
        except Exception as e:
            self.finish("error", error=f"{type(e).__name__}: {e}")
            raise
        self.finish("success", summary=summary)

    def finish(self, status: str, *, error: str | None = None, **extra: Any) -> None:
        """Close the current attempt with ``status`` and extra summary fields."""
        manifest = self.read_manifest()
        now = time.time()
        attempt = manifest["attempts"][-1]
        attempt.update(finished=now, seconds=round(now - attempt["started"], 3), status=status)
        manifest.update(status=status, error=error, updated=now, **_jsonable(extra))
        self._write(manifest)

    def _write(self, manifest: dict[str, Any]) -> None:
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.manifest_path)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
