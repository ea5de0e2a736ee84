"""Load run parameters from YAML and check them against the notebooks' parameters cells.

The parameters cells are the single source of truth: a YAML key is valid when some
notebook declares a parameter of that name, and its value must match the declared type.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


class ParamsError(ValueError):
    """Invalid run parameters; the message names the key, the rule and the fix."""


def notebook_parameters(notebook: Path) -> dict[str, dict]:
    """Return the declared parameters of one notebook: name -> {type, default, help}."""
    from papermill.inspection import inspect_notebook

    declared = {}
    for name, info in inspect_notebook(str(notebook)).items():
        type_name = (info.get("inferred_type_name") or "None").strip()
        default = _literal(info.get("default"))
        if type_name in ("None", ""):
            type_name = type(default).__name__ if default is not None else "None"
        declared[name] = {"type": type_name, "default": default, "help": info.get("help", "")}
    return declared


def _literal(source: Any) -> Any:
    if not isinstance(source, str):
        return source
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return source


def load_yaml(path: Path) -> dict:
    """Read a params file; an empty file means no overrides."""
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}; pass an existing file to --params")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ParamsError(f"invalid YAML in {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise ParamsError(
            f"{path} must contain a mapping of parameter names to values, "
            f"got {type(loaded).__name__}"
        )
    return loaded


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` from the command line; the value is read as YAML (``rank=16``)."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise ParamsError(f"invalid --set {text!r}; write it as key=value, for example rank=16")
    return key.strip(), yaml.safe_load(value)


def validate(
    values: Mapping[str, Any], declared: Mapping[str, dict], source: str
) -> None:
    """Raise ParamsError for unknown keys or values of the wrong type, listing every problem."""
    problems = []
    for key, value in values.items():
        if key not in declared:
            close = difflib.get_close_matches(key, declared, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "known: " + ", ".join(
                sorted(declared)
            )
            problems.append(f"unknown parameter {key!r} in {source}; {hint}")
            continue
        expected = declared[key]["type"]
        allowed = _TYPES.get(expected)
        if allowed is None or value is None:
            continue
        wrong_bool = isinstance(value, bool) and expected in ("int", "float")
        if wrong_bool or not isinstance(value, allowed):
            problems.append(
                f"parameter {key!r} in {source} must be {expected}, got "
                f"{type(value).__name__} {value!r}"
            )
    if problems:
        raise ParamsError("\n".join(problems))


def coerce(values: Mapping[str, Any], declared: Mapping[str, dict]) -> dict:
    """Return the values with ints turned into floats where a float is declared."""
    coerced = dict(values)
    for key, value in values.items():
        if declared.get(key, {}).get("type") == "float" and isinstance(value, int):
            coerced[key] = float(value)
    return coerced
