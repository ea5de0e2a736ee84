"""Tests for roomrec.params: YAML loading and validation against notebook parameters."""

from __future__ import annotations

import pytest

from roomrec import params as P

DECLARED = {
    "alpha": {"type": "float", "default": 10.0, "help": ""},
    "rank": {"type": "int", "default": 32, "help": ""},
    "input_path": {"type": "str", "default": "", "help": ""},
    "exclude_visited": {"type": "bool", "default": True, "help": ""},
    "search_space": {"type": "dict", "default": {}, "help": ""},
}


def test_validate_accepts_known_keys():
    P.validate({"alpha": 5, "rank": 16, "exclude_visited": False}, DECLARED, "p.yaml")


def test_validate_unknown_key_suggests_close_name():
    with pytest.raises(P.ParamsError) as error:
        P.validate({"aplha": 5.0}, DECLARED, "params/local.yaml")
    message = str(error.value)
    assert "'aplha'" in message
    assert "params/local.yaml" in message
    assert "did you mean alpha" in message


def test_validate_unknown_key_lists_known_when_nothing_close():
    with pytest.raises(P.ParamsError, match="known: alpha, exclude_visited"):
        P.validate({"zzz": 1}, DECLARED, "x.yaml")


def test_validate_wrong_type_names_expected_type():
    with pytest.raises(P.ParamsError, match="'rank' in x.yaml must be int, got str '16'"):
        P.validate({"rank": "16"}, DECLARED, "x.yaml")


def test_validate_bool_is_not_a_number():
    with pytest.raises(P.ParamsError, match="must be float"):
        P.validate({"alpha": True}, DECLARED, "x.yaml")


def test_validate_reports_every_problem():
    with pytest.raises(P.ParamsError) as error:
        P.validate({"rank": 1.5, "aplha": 1.0}, DECLARED, "x.yaml")
    assert len(str(error.value).splitlines()) == 2


def test_coerce_int_to_float_where_declared():
    coerced = P.coerce({"alpha": 5, "rank": 16}, DECLARED)
    assert isinstance(coerced["alpha"], float)
    assert isinstance(coerced["rank"], int)


def test_parse_override_reads_yaml_value():
    assert P.parse_override("rank=16") == ("rank", 16)
    assert P.parse_override("search_space={a: [1, 2]}") == ("search_space", {"a": [1, 2]})


def test_parse_override_without_equals_raises():
    with pytest.raises(P.ParamsError, match="key=value"):
        P.parse_override("rank")


def test_load_yaml_rejects_non_mapping(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(P.ParamsError, match="mapping"):
        P.load_yaml(path)


def test_load_yaml_missing_file(tmp_path):
    with pytest.raises(P.ParamsError, match="not found"):
        P.load_yaml(tmp_path / "missing.yaml")


def test_notebook_parameters_reads_types(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cell = new_code_cell(
        'alpha: float = 10.0  # confidence scale\nrank: int = 32\nname = "x"\n',
        metadata={"tags": ["parameters"]},
    )
    notebook = new_notebook(cells=[cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    path = tmp_path / "01_x.ipynb"
    nbformat.write(notebook, path)
    declared = P.notebook_parameters(path)
    assert declared["alpha"]["type"] == "float"
    assert declared["alpha"]["default"] == 10.0
    assert declared["alpha"]["help"] == "confidence scale"
    assert declared["rank"]["type"] == "int"
    assert declared["name"]["type"] == "str"


def test_emr_params_validate_against_notebooks():
    from pathlib import Path

    from roomrec import runner

    repo = Path(__file__).resolve().parent.parent
    declared = {}
    for notebook in runner.list_notebooks(repo / "notebooks"):
        declared.update(P.notebook_parameters(notebook))
    for name in ("emr.yaml", "default.yaml", "tiny.yaml"):
        P.validate(P.load_yaml(repo / "params" / name), declared, name)
