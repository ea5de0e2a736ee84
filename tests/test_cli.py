"""Tests for roomrec.cli: subcommands reach their own option parsers."""

from __future__ import annotations

import pytest

from roomrec.cli import main


@pytest.mark.parametrize("command, expected", [
    ("generate", "--size"),
    ("export-zeppelin", "--notebooks"),
    ("emr", "--cluster"),
])
def test_delegated_command_help_shows_own_options(command, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert expected in capsys.readouterr().out


def test_generate_accepts_its_options(tmp_path):
    out = tmp_path / "tiny"
    assert main(["generate", "--size", "tiny", "--seed", "3", "--out", str(out)]) == 0
    assert (out / "manifest.json").is_file()


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("run", "params", "generate", "export-zeppelin", "emr"):
        assert command in text


def test_params_lists_notebook_parameters(capsys):
    assert main(["params"]) == 0
    text = capsys.readouterr().out
    assert "03_tune_als" in text
    assert "search_space: dict" in text
