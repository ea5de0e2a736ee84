"""Checks on the committed notebooks that do not need a kernel."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from roomrec import params as P

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("0*.ipynb"))


def _parameters_cells(notebook):
    return [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]


def test_notebooks_present_in_order():
    names = [path.stem for path in NOTEBOOKS]
    assert names == [
        "01_explore_logs",
        "02_build_interactions",
        "03_tune_als",
        "04_evaluate",
        "05_recommend",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_literal_parameters_cell(path):
    notebook = nbformat.read(path, as_version=4)
    cells = _parameters_cells(notebook)
    assert len(cells) == 1
    tree = ast.parse(cells[0].source)
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign), f"not an annotated assignment: {ast.dump(node)}"
        ast.literal_eval(node.value)  # raises if a default is computed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_visible_to_papermill(path):
    # papermill drops a parameter line it cannot parse (an '=' in the comment does it),
    # and the runner would then reject that key as unknown.
    notebook = nbformat.read(path, as_version=4)
    source = _parameters_cells(notebook)[0].source
    tree = ast.parse(source)
    assigned = {node.target.id for node in tree.body}
    declared = P.notebook_parameters(path)
    assert set(declared) == assigned
    lines = source.splitlines()
    for node in tree.body:
        # papermill reads the help text of one-line values; a multi-line value carries
        # its comment on the first line.
        assert "  # " in lines[node.lineno - 1], f"parameter {node.target.id} has no comment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path):
    notebook = nbformat.read(path, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), "run top to bottom once"
    for cell in code_cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert "/work/" not in text, "absolute path in output"
            assert "/home/" not in text, "absolute path in output"
            assert "WARN" not in text, "JVM warning in output"
            assert "Warning" not in text, "Python warning in output"


def test_shared_parameters_agree_across_notebooks():
    seen: dict[str, tuple] = {}
    for path in NOTEBOOKS:
        for name, info in P.notebook_parameters(path).items():
            entry = (info["type"], repr(info["default"]))
            assert seen.setdefault(name, entry) == entry, f"{name} differs in {path.stem}"
