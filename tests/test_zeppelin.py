"""Tests for the Zeppelin export: note JSON, paragraph code, parameters as note forms."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from roomrec import zeppelin

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "zeppelin_fixture.ipynb"
# The fixture always, and every project notebook once notebooks/ has them.
NOTEBOOKS = [FIXTURE, *sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))]

NOTE_KEYS = {
    "paragraphs",
    "name",
    "id",
    "defaultInterpreterGroup",
    "version",
    "noteParams",
    "noteForms",
    "angularObjects",
    "config",
    "info",
    "path",
}
PARAGRAPH_KEYS = {
    "text",
    "user",
    "dateUpdated",
    "config",
    "settings",
    "apps",
    "runtimeInfos",
    "progressUpdateIntervalMs",
    "jobName",
    "id",
    "dateCreated",
    "status",
}
ZEPPELIN_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


class NoteForms:
    """Stand-in for the note-form methods of Zeppelin's ``z`` (ZeppelinContext).

    Returns the value a user typed (``typed``) or else the form's default, as Zeppelin
    does, and records each form the paragraph asked for.
    """

    def __init__(self, typed: dict[str, str] | None = None) -> None:
        self.typed = typed or {}
        self.asked: dict[str, str] = {}

    def noteTextbox(self, name, defaultValue=""):  # noqa: N802, N803 - Zeppelin's API
        self.asked[name] = defaultValue
        return self.typed.get(name, defaultValue)

    def noteSelect(self, name, options, defaultValue=""):  # noqa: N802, N803
        assert defaultValue in [value for value, _ in options]
        self.asked[name] = defaultValue
        return self.typed.get(name, defaultValue)


def _parameters_cell(nb: nbformat.NotebookNode) -> str:
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    return cells[0].source


def _python_body(paragraph: dict) -> str:
    first, _, body = paragraph["text"].partition("\n")
    assert first == zeppelin.PYSPARK
    return body


def _parameters_paragraph(note: dict) -> dict:
    found = [p for p in note["paragraphs"] if p.get("title") == "Parameters"]
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def fixture_note() -> dict:
    return zeppelin.notebook_to_note(nbformat.read(FIXTURE, as_version=4), "zeppelin_fixture")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, dict]:
    """Export the fixture folder and every project notebook, and read the files back."""
    notes = {}
    for source_dir in {path.parent for path in NOTEBOOKS}:
        out = tmp_path_factory.mktemp("zeppelin")
        for path in zeppelin.export_notebooks(str(source_dir), str(out)):
            notes[path.name] = json.loads(path.read_text())
    return notes


def _note_for(exported: dict[str, dict], notebook: Path) -> dict:
    matches = [n for name, n in exported.items() if name.startswith(f"{notebook.stem}_")]
    assert len(matches) == 1
    return matches[0]


# -- every notebook -------------------------------------------------------------------


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_note_has_zeppelin_fields(exported, notebook):
    note = _note_for(exported, notebook)
    assert set(note) == NOTE_KEYS
    assert note["name"] == notebook.stem
    assert re.fullmatch(r"[A-Z2-7]{9}", note["id"])
    assert note["defaultInterpreterGroup"] == "spark"
    assert note["version"].startswith("0.10")
    assert note["paragraphs"], "the note has no paragraphs"
    ids = [p["id"] for p in note["paragraphs"]]
    assert len(set(ids)) == len(ids)
    for paragraph in note["paragraphs"]:
        assert PARAGRAPH_KEYS <= set(paragraph)
        assert paragraph["settings"] == {"params": {}, "forms": {}}
        assert paragraph["jobName"] == paragraph["id"]
        assert ZEPPELIN_DATE.match(paragraph["dateCreated"])
        assert paragraph["status"] in ("READY", "FINISHED")
        assert paragraph["text"].split("\n", 1)[0] in ("%md", "%spark.pyspark", "%sh", "%spark.sql")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_pyspark_paragraph_compiles(exported, notebook):
    note = _note_for(exported, notebook)
    pyspark = [p for p in note["paragraphs"] if p["text"].startswith("%spark.pyspark\n")]
    assert pyspark
    for paragraph in pyspark:
        compile(_python_body(paragraph), f"{notebook.stem}:{paragraph['id']}", "exec")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_become_note_forms(exported, notebook):
    nb = nbformat.read(notebook, as_version=4)
    expected: dict = {}
    exec(_parameters_cell(nb), {}, expected)  # the cell contains literals only
    expected = {name: value for name, value in expected.items() if not name.startswith("__")}
    note = _note_for(exported, notebook)

    forms = NoteForms()
    namespace: dict = {"z": forms}
    exec(_python_body(_parameters_paragraph(note)), namespace)
    got = {name: namespace[name] for name in expected}

    assert got == expected
    assert {name: type(value) for name, value in got.items()} == {
        name: type(value) for name, value in expected.items()
    }
    assert set(note["noteForms"]) == set(expected)
    assert note["noteParams"] == forms.asked
    for name, form in note["noteForms"].items():
        assert form["name"] == name
        assert form["defaultValue"] == forms.asked[name]
        assert form["type"] in ("TextBox", "Select")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_ipython_magic_left(exported, notebook):
    note = _note_for(exported, notebook)
    for paragraph in note["paragraphs"]:
        if not paragraph["text"].startswith("%spark.pyspark\n"):
            continue
        for line in _python_body(paragraph).splitlines():
            code = line.split("#", 1)[0].strip()
            assert not code.startswith(("%", "!")), line


# -- the fixture in detail ------------------------------------------------------------


def test_fixture_parameter_defaults(fixture_note):
    params = fixture_note["noteParams"]
    assert params["alpha"] == "40.0"
    assert params["rank"] == "16"
    assert params["implicit_prefs"] == "True"
    assert params["cold_start_strategy"] == "None"
    assert params["input_path"] == "data/sample/events"
    assert params["top_n_values"] == "[5, 10, 20]"
    select = fixture_note["noteForms"]["implicit_prefs"]
    assert select["type"] == "Select"
    assert [option["value"] for option in select["options"]] == ["True", "False"]


def test_fixture_changed_forms_change_values(fixture_note):
    typed = {
        "alpha": "1.5",
        "rank": "64",
        "implicit_prefs": "False",
        "spark_conf": "{'spark.sql.shuffle.partitions': '8'}",
        "input_path": "s3://bucket/logs/",
    }
    namespace: dict = {"z": NoteForms(typed)}
    exec(_python_body(_parameters_paragraph(fixture_note)), namespace)
    assert namespace["alpha"] == 1.5
    assert namespace["rank"] == 64
    assert namespace["implicit_prefs"] is False
    assert namespace["spark_conf"] == {"spark.sql.shuffle.partitions": "8"}
    assert namespace["input_path"] == "s3://bucket/logs/"
    assert namespace["max_iter"] == 10


def test_fixture_parameters_keep_comments(fixture_note):
    body = _python_body(_parameters_paragraph(fixture_note))
    assert "# ALS hyperparameters" in body
    assert "# confidence scale for implicit feedback" in body
    assert "import ast" in body


def test_fixture_magics(fixture_note):
    texts = [p["text"] for p in fixture_note["paragraphs"]]
    setup = next(t for t in texts if "get_spark(" in t)
    assert "pass  # removed IPython magic: %matplotlib inline" in setup
    assert "    pass  # removed IPython magic: %time counted = spark.range(rank).count()" in setup
    assert "pass  # removed IPython magic: files = !ls" in setup
    timed = next(t for t in texts if "sum(top_n_values)" in t)
    assert timed.startswith("%spark.pyspark\n# %%time removed")
    assert "%sh\necho hello from the shell" in texts
    assert not any("driverMemory" in t for t in texts), "%%configure cells are dropped"
    javascript = next(t for t in texts if "console.log" in t)
    assert "# console.log('not in Zeppelin')" in javascript


def test_fixture_markdown_rendered(fixture_note):
    markdown = [p for p in fixture_note["paragraphs"] if p["text"].startswith("%md\n")]
    assert len(markdown) == 2
    first = markdown[0]
    assert first["config"]["editorHide"] is True
    assert first["status"] == "FINISHED"
    html = first["results"]["msg"][0]["data"]
    assert first["results"]["msg"][0]["type"] == "HTML"
    assert "<h1>Fixture: room affinity</h1>" in html
    assert "<li>markdown with a list</li>" in html


def test_fixture_skips_empty_raw_and_injected(fixture_note):
    nb = nbformat.read(FIXTURE, as_version=4)
    injected = nbformat.v4.new_code_cell("alpha = 99.0", metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(2, injected)
    note = zeppelin.notebook_to_note(nb, "zeppelin_fixture")
    assert not any("99.0" in p["text"] for p in note["paragraphs"])
    assert not any("raw text" in p["text"] for p in note["paragraphs"])
    # 10 cells: 2 markdown, params, 4 code kept; configure, empty and raw dropped.
    assert len(fixture_note["paragraphs"]) == 7


def test_export_ids_stable(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = zeppelin.export_notebooks(str(FIXTURE.parent), str(tmp_path / "a"))
    second = zeppelin.export_notebooks(str(FIXTURE.parent), str(tmp_path / "b"))
    assert [p.name for p in first] == [p.name for p in second]
    assert first[0].read_text() == second[0].read_text()
    note = json.loads(first[0].read_text())
    assert note["paragraphs"][0]["dateCreated"] == "2023-11-14 22:13:20.000"
    assert first[0].name == f"zeppelin_fixture_{note['id']}.zpln"


def test_main_writes_notes(tmp_path):
    out = tmp_path / "notes"
    assert zeppelin.main(["--notebooks", str(FIXTURE.parent), "--out", str(out)]) == 0
    written = sorted(out.glob("*.zpln"))
    assert [p.name.rsplit("_", 1)[0] for p in written] == ["zeppelin_fixture"]


def test_main_missing_folder(tmp_path, caplog):
    assert zeppelin.main(["--notebooks", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "notebook folder not found" in caplog.text


def test_non_literal_parameter_kept_as_code():
    code, forms, params = zeppelin.parameters_to_forms(
        "import os\nrank = 8\nartifacts_dir = os.path.join('runs', 'x')\n"
    )
    assert set(forms) == {"rank"}
    assert params == {"rank": "8"}
    assert "import os" in code
    assert "artifacts_dir = os.path.join('runs', 'x')" in code
    namespace: dict = {"z": NoteForms()}
    exec(code, namespace)
    assert namespace["artifacts_dir"] == "runs/x"
    assert namespace["rank"] == 8
