"""Run the notebook sequence with papermill and record what happened in a manifest.

A run writes to ``<runs_dir>/<run_id>/``: the executed notebooks and an HTML copy of
each, ``artifacts/`` with data, plots and metrics, and ``manifest.json`` with the
parameters, package versions, git commit, and time and status per notebook.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from roomrec import params as P

logger = logging.getLogger(__name__)

PACKAGES = ("roomrec", "pyspark", "pandas", "numpy", "pyarrow", "papermill", "matplotlib")

# Parameters that name a file or folder. Papermill runs each notebook with the notebook's
# folder as working directory, so plan_run makes a relative local path absolute against
# the directory `roomrec run` was started in. Values with a scheme (s3://, hdfs://,
# file:) are left as they are.
PATH_PARAMETERS = (
    "input_path", "rooms_path", "users_path", "artifacts_dir", "data_dir", "output_path",
    "checkpoint_dir",
)
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class NotebookError(RuntimeError):
    """A notebook of the run raised; the message names the notebook, cell and error."""


def default_notebooks_dir() -> Path:
    """Return the repository's ``notebooks/``, or the copy packaged with the wheel."""
    repo = Path(__file__).resolve().parents[2] / "notebooks"
    if repo.is_dir():
        return repo
    return Path(__file__).resolve().parent / "notebooks"


def list_notebooks(notebooks_dir: Path) -> list[Path]:
    """Return the numbered notebooks (``01_...ipynb``) in run order."""
    found = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(
            f"no notebooks named like 01_name.ipynb in {notebooks_dir}; "
            "pass the folder with --notebooks-dir"
        )
    return found


@dataclass
class RunPlan:
    """Everything decided before the first notebook starts."""

    run_id: str
    run_dir: Path
    notebooks: list[Path]
    declared: dict[str, dict[str, dict]]  # notebook name -> parameter -> info
    values: dict[str, Any]
    params_source: str
    manifest: dict = field(default_factory=dict)

    @property
    def artifacts_dir(self) -> Path:
        return self.run_dir / "artifacts"

    def parameters_for(self, notebook: Path) -> dict:
        """Return the values this notebook declares, so papermill injects no strays."""
        declared = self.declared[notebook.stem]
        return {key: value for key, value in self.values.items() if key in declared}


def make_run_id(params_path: Path | None) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", params_path.stem) if params_path else "defaults"
    return f"{stamp}-{stem}"


def plan_run(
    params_path: Path | None,
    overrides: dict | None = None,
    *,
    runs_dir: Path = Path("runs"),
    run_id: str = "",
    notebooks_dir: Path | None = None,
) -> RunPlan:
    """Load and validate parameters and lay out the run folder, before any notebook runs.

    Raises
    ------
    roomrec.params.ParamsError
        For unknown or mistyped parameters, listing every problem at once.
    """
    notebooks = list_notebooks(notebooks_dir or default_notebooks_dir())
    declared = {nb.stem: P.notebook_parameters(nb) for nb in notebooks}
    known: dict[str, dict] = {}
    for per_notebook in declared.values():
        known.update(per_notebook)

    values: dict[str, Any] = {}
    source = "defaults"
    if params_path is not None:
        values.update(P.load_yaml(params_path))
        source = str(params_path)
    P.validate(values, known, source)
    if overrides:
        P.validate(overrides, known, "--set")
        values.update(overrides)
    values = P.coerce(values, known)

    run_id = run_id or make_run_id(params_path)
    # "{run_id}" in a string value (data_dir on a cluster, say) becomes this run's id.
    values = {
        key: value.replace("{run_id}", run_id) if isinstance(value, str) else value
        for key, value in values.items()
    }
    values = absolute_local_paths(values, Path.cwd())
    run_dir = (runs_dir / run_id).resolve()
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(
            f"run folder {run_dir} already exists; choose another --run-id or remove it"
        )
    if "artifacts_dir" in known and "artifacts_dir" not in values:
        values["artifacts_dir"] = str(run_dir / "artifacts")
    return RunPlan(run_id, run_dir, notebooks, declared, values, source)


def absolute_local_paths(values: dict[str, Any], base: Path) -> dict[str, Any]:
    """Return ``values`` with each relative local path of :data:`PATH_PARAMETERS` under ``base``.

    Empty strings keep their meaning (built-in data, defaults), and values with a URI
    scheme are not local paths, so both stay unchanged.
    """
    resolved = dict(values)
    for key in PATH_PARAMETERS:
        value = resolved.get(key)
        if not isinstance(value, str) or not value or _URI_SCHEME.match(value):
            continue
        if not Path(value).is_absolute():
            resolved[key] = str(Path(base, value).resolve())
    return resolved


def environment_info() -> dict:
    """Return versions of Python, Java and the packages a run depends on."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> dict:
    """Return the commit of the source tree and whether it has uncommitted changes."""
    source = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=source, capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _write_manifest(plan: RunPlan) -> None:
    path = plan.run_dir / "manifest.json"
    path.write_text(json.dumps(plan.manifest, indent=2, default=str) + "\n")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def execute(plan: RunPlan, *, kernel_name: str = "python3", progress_bar: bool = True) -> RunPlan:
    """Execute every notebook of the plan in order; stop at the first failure.

    Raises
    ------
    NotebookError
        Names the notebook, the failing cell and its error, and where the executed copy is.
    """
    import papermill as pm

    plan.artifacts_dir.mkdir(parents=True, exist_ok=True)
    plan.manifest = {
        "run_id": plan.run_id,
        "status": "running",
        "started_at": _now(),
        "params_file": plan.params_source,
        "parameters": plan.values,
        "versions": environment_info(),
        "git": git_commit(),
        "command": sys.argv,
        "notebooks": [],
    }
    _write_manifest(plan)
    total = len(plan.notebooks)
    for number, notebook in enumerate(plan.notebooks, start=1):
        output = plan.run_dir / notebook.name
        entry = {"notebook": notebook.name, "status": "running", "started_at": _now()}
        plan.manifest["notebooks"].append(entry)
        _write_manifest(plan)
        logger.info("[%d/%d] %s started", number, total, notebook.stem)
        start = time.monotonic()
        try:
            pm.execute_notebook(
                str(notebook),
                str(output),
                parameters=plan.parameters_for(notebook),
                kernel_name=kernel_name,
                cwd=str(notebook.parent),
                progress_bar=progress_bar,
                report_mode=False,
            )
            _raise_on_remote_errors(output)
        except Exception as error:
            entry.update(status="failed", seconds=round(time.monotonic() - start, 1),
                         error=_describe(error))
            plan.manifest.update(status="failed", finished_at=_now())
            _export_html(output)
            _write_manifest(plan)
            raise NotebookError(
                f"notebook {notebook.stem} failed: {entry['error']}; "
                f"executed copy: {output}"
            ) from error
        entry.update(status="succeeded", seconds=round(time.monotonic() - start, 1))
        _export_html(output)
        _collect_artifact_summaries(plan)
        _write_manifest(plan)
        logger.info("[%d/%d] %s finished in %.0f s", number, total, notebook.stem,
                    entry["seconds"])
    plan.manifest.update(status="succeeded", finished_at=_now())
    _write_manifest(plan)
    return plan


def _describe(error: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        return f"cell {error.exec_count}: {error.ename}: {error.evalue}"
    return f"{type(error).__name__}: {error}"


def _raise_on_remote_errors(output: Path) -> None:
    """Fail on errors that a Livy (sparkmagic) kernel reports as stderr text, not as errors."""
    try:
        from roomrec.emr import find_remote_errors
    except ImportError:
        return
    import nbformat

    errors = find_remote_errors(nbformat.read(str(output), as_version=4))
    if errors:
        raise RuntimeError("remote Spark error reported as output: " + errors[0])


def _export_html(notebook: Path) -> None:
    if not notebook.exists():
        return
    from nbconvert import HTMLExporter

    # nbconvert warns once per notebook about plots without alternative text, which
    # every matplotlib output lacks. Only the exporter's errors reach the run log.
    html_logger = logging.getLogger(f"{__name__}.html")
    html_logger.setLevel(logging.ERROR)
    try:
        body, _ = HTMLExporter(log=html_logger).from_filename(str(notebook))
    except Exception as error:  # an HTML copy is a convenience; never fail the run on it
        logger.warning("could not write HTML copy of %s: %s", notebook.name, error)
        return
    notebook.with_suffix(".html").write_text(body, encoding="utf-8")


def _collect_artifact_summaries(plan: RunPlan) -> None:
    """Copy the small JSON summaries that notebooks write into the manifest."""
    for name in ("data_quality", "best_params"):
        path = plan.artifacts_dir / f"{name}.json"
        if path.is_file():
            plan.manifest[name] = json.loads(path.read_text())
    metrics = plan.artifacts_dir / "metrics.json"
    if metrics.is_file():
        plan.manifest["headline_metrics"] = json.loads(metrics.read_text()).get("headline")
