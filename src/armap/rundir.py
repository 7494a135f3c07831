"""The run directory: one folder per run with a manifest and JSON Lines records.

``manifest.json`` records what produced the files: the verb, the resolved config, seeds, the
git revision, package versions, the content hash of every input file, status (``started`` ->
``success`` | ``error`` | ``interrupted``) and timings of every attempt. Re-running the same
command on the same folder resumes it; a different config (or an input file whose content
changed) is refused, so records of two configs never mix, unless the folder holds no record
yet. While a verb runs, the folder is locked against a second writer. Credentials in URLs are
masked in everything the manifest records.
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

from armap.config import config_diff, content_hash, input_paths, resume_relevant
from armap.errors import RunDirError
from armap.redact import redact_value

MANIFEST = "manifest.json"
LOCK = ".lock"
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

    def has_records(self) -> bool:
        """Whether the folder holds any output yet (anything but manifests and the lock)."""
        if not self.path.is_dir():
            return False
        for p in self.path.rglob("*"):
            if p.is_file() and p.name not in (MANIFEST, LOCK) and not p.name.endswith(".tmp") \
                    and p.stat().st_size > 0:
                return True
        return False

    def start(self, verb: str, config: Any, *, seed: int | None = None,
              inputs: dict[str, str | Path] | None = None) -> bool:
        """Create or resume the run; returns True when resuming an earlier attempt.

        ``inputs`` names input files that are not fields of ``config`` (their content hashes
        must match on resume, like those of the config's ``input`` fields). Raises
        `RunDirError` if the folder holds a run of another verb, or records of another config.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        now = time.time()
        resolved = asdict(config)
        key = redact_value(_jsonable(resume_relevant(config)))
        all_inputs = {**input_paths(config), **{k: str(v) for k, v in (inputs or {}).items()}}
        for name, value in (inputs or {}).items():
            key[name] = {"sha256": content_hash(value)} if Path(value).exists() else str(value)
        manifest: dict[str, Any] | None = None
        if self.manifest_path.exists():
            manifest = self.read_manifest()
            diff = config_diff(manifest.get("resume_key") or {}, key)
            if manifest.get("verb") != verb or diff:
                if self.has_records():
                    raise self._mismatch(manifest, verb, diff)
                manifest = None  # nothing was written: the corrected command starts afresh
        resumed = manifest is not None
        if manifest is None:
            manifest = {"schema_version": 1, "verb": verb, "created": now, "attempts": []}
        manifest.update(
            status="started",
            config=_jsonable(resolved),
            resume_key=key,
            inputs={k: {"path": v, "sha256": content_hash(v) if Path(v).exists() else None}
                    for k, v in sorted(all_inputs.items())},
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

    def _mismatch(self, manifest: dict[str, Any], verb: str, diff: list[str]) -> RunDirError:
        if manifest.get("verb") != verb:
            return RunDirError(f"{self.path} holds an 'armap {manifest.get('verb')}' run; "
                               f"use another --run-dir for 'armap {verb}'")
        return RunDirError(
            f"{self.path} was started with a different config (differs in: "
            f"{', '.join(diff)}); resume with the same options and inputs or use a new "
            "--run-dir")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's exclusive lock; `RunDirError` at once if another process has it."""
        from filelock import FileLock, Timeout

        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunDirError(f"{self.path} is in use by another armap process (it holds "
                              f"{self.path / LOCK}); wait for it to finish or use another "
                              "--run-dir") from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def running(self, verb: str, config: Any, *, seed: int | None = None,
                inputs: dict[str, str | Path] | None = None) -> Iterator[dict[str, Any]]:
        """Lock the folder, `start`, run the body, then `finish` with its outcome.

        The body fills the yielded dict with summary fields. Ctrl-C ends the attempt as
        ``interrupted``, an exception as ``error`` (both re-raised), a normal exit as
        ``success``; ``resumed`` tells whether an earlier attempt existed.
        """
        with self.lock():
            summary: dict[str, Any] = {
                "resumed": self.start(verb, config, seed=seed, inputs=inputs)}
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
        text = json.dumps(redact_value(manifest), indent=2, sort_keys=True)
        tmp.write_text(text, encoding="utf-8")
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
