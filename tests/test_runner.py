"""Tests for roomrec.runner with small notebooks executed by a real papermill kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from roomrec import params as P
from roomrec import runner


def _write_notebook(path: Path, parameters: str, body: str) -> None:
    notebook = new_notebook(cells=[
        new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        new_code_cell(body),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                       "display_name": "Python 3"}
    nbformat.write(notebook, path)


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _write_notebook(
        folder / "01_first.ipynb",
        'artifacts_dir: str = "out"  # output folder\nalpha: float = 1.0  # scale\n',
        "from pathlib import Path\n"
        "Path(artifacts_dir).mkdir(parents=True, exist_ok=True)\n"
        "Path(artifacts_dir, 'alpha.txt').write_text(str(alpha))\n",
    )
    _write_notebook(
        folder / "02_second.ipynb",
        'artifacts_dir: str = "out"  # output folder\nfail: bool = False  # raise\n',
        "if fail:\n    raise ValueError('planted failure')\nprint('done')\n",
    )
    return folder


def test_plan_rejects_unknown_parameter_before_running(notebooks, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("aplha: 2.0\n")
    with pytest.raises(P.ParamsError, match="did you mean alpha"):
        runner.plan_run(params, runs_dir=tmp_path / "runs", notebooks_dir=notebooks)
    assert not (tmp_path / "runs").exists()


def test_plan_rejects_wrong_type(notebooks, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("fail: 'yes'\n")
    with pytest.raises(P.ParamsError, match="'fail' .* must be bool"):
        runner.plan_run(params, runs_dir=tmp_path / "runs", notebooks_dir=notebooks)


def test_plan_passes_each_notebook_its_own_parameters(notebooks, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("alpha: 2\nfail: true\n")
    plan = runner.plan_run(params, runs_dir=tmp_path / "runs", run_id="r",
                           notebooks_dir=notebooks)
    first, second = plan.notebooks
    assert plan.parameters_for(first)["alpha"] == 2.0
    assert "fail" not in plan.parameters_for(first)
    assert "alpha" not in plan.parameters_for(second)
    assert plan.values["artifacts_dir"] == str(tmp_path / "runs" / "r" / "artifacts")


def test_plan_fills_run_id_in_strings(notebooks, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("artifacts_dir: /tmp/x/{run_id}/a\n")
    plan = runner.plan_run(params, runs_dir=tmp_path / "runs", run_id="r7",
                           notebooks_dir=notebooks)
    assert plan.values["artifacts_dir"] == "/tmp/x/r7/a"


def test_execute_writes_outputs_and_manifest(notebooks, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("alpha: 3.5\n")
    plan = runner.plan_run(params, runs_dir=tmp_path / "runs", run_id="ok",
                           notebooks_dir=notebooks)
    runner.execute(plan, progress_bar=False)
    run_dir = tmp_path / "runs" / "ok"
    assert (run_dir / "artifacts" / "alpha.txt").read_text() == "3.5"
    for name in ("01_first", "02_second"):
        assert (run_dir / f"{name}.ipynb").is_file()
        assert (run_dir / f"{name}.html").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert [n["status"] for n in manifest["notebooks"]] == ["succeeded", "succeeded"]
    assert manifest["parameters"]["alpha"] == 3.5
    assert manifest["versions"]["papermill"]


def test_execute_stops_at_failing_notebook(notebooks, tmp_path):
    _write_notebook(notebooks / "03_third.ipynb", 'x: int = 1  # unused\n', "print(x)\n")
    params = tmp_path / "p.yaml"
    params.write_text("fail: true\n")
    plan = runner.plan_run(params, runs_dir=tmp_path / "runs", run_id="bad",
                           notebooks_dir=notebooks)
    with pytest.raises(runner.NotebookError) as error:
        runner.execute(plan, progress_bar=False)
    message = str(error.value)
    assert "02_second" in message
    assert "ValueError: planted failure" in message
    manifest = json.loads((tmp_path / "runs" / "bad" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert [n["notebook"] for n in manifest["notebooks"]] == [
        "01_first.ipynb", "02_second.ipynb"
    ]
    assert not (tmp_path / "runs" / "bad" / "03_third.ipynb").exists()


def test_cli_run_exits_nonzero_naming_notebook(notebooks, tmp_path, caplog):
    from roomrec.cli import main

    params = tmp_path / "p.yaml"
    params.write_text("fail: true\n")
    code = main(["run", "--params", str(params), "--runs-dir", str(tmp_path / "runs"),
                 "--notebooks-dir", str(notebooks), "--no-progress"])
    assert code == 1
    assert "notebook 02_second failed" in caplog.text


def test_cli_run_unknown_parameter_exits_2(notebooks, tmp_path, caplog):
    from roomrec.cli import main

    code = main(["run", "--set", "aplha=1", "--runs-dir", str(tmp_path / "runs"),
                 "--notebooks-dir", str(notebooks)])
    assert code == 2
    assert "unknown parameter 'aplha'" in caplog.text
