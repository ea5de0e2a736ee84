"""Export the roomrec notebooks as Apache Zeppelin notes (``roomrec export-zeppelin``).

Each Jupyter notebook becomes one Zeppelin 0.10 note file (``NAME_NOTEID.zpln``, the
JSON that Zeppelin 0.9 and later store; EMR 7 ships Zeppelin 0.10 and 0.11). Markdown
cells become ``%md`` paragraphs, code cells ``%spark.pyspark`` paragraphs. The cell
tagged ``parameters`` becomes note-level input forms (``noteForms`` and ``noteParams``)
with the notebook's defaults. Its paragraph reads them with ``z.noteTextbox`` and
``z.noteSelect``, so a data scientist can change, say, ``alpha`` at the top of the note
and run it again. Zeppelin's Spark interpreter provides ``spark``, which the notebooks'
``get_spark()`` call reuses.

IPython magics that Zeppelin's Python does not run are removed: line magics and shell
escapes become ``pass`` statements that keep the original text as a comment; a cell magic
either maps to a Zeppelin interpreter (``%%sh``, ``%%sql``, ``%%markdown``, ``%%html``),
is dropped while its Python body is kept (``%%time``, ``%%capture``, sparkmagic's
``%%local``), or turns the cell into comments.
"""

from __future__ import annotations

import argparse
import ast
import base64
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import sys
import tokenize
from pathlib import Path
from typing import Any

import nbformat

logger = logging.getLogger(__name__)

ZEPPELIN_VERSION = "0.10.1"
PYSPARK = "%spark.pyspark"
MARKDOWN = "%md"
PARAMETERS_TAG = "parameters"
# Cells that papermill adds to executed notebooks; their values are run-specific.
SKIPPED_TAGS = ("injected-parameters",)

# Cell magics whose body is another language that Zeppelin has an interpreter for.
CELL_MAGIC_INTERPRETERS = {
    "sh": "%sh",
    "bash": "%sh",
    "markdown": MARKDOWN,
    "md": MARKDOWN,
    "html": MARKDOWN,
    "sql": "%spark.sql",
}
# Cell magics that only wrap Python; the body runs as it is.
PYTHON_BODY_CELL_MAGICS = ("time", "timeit", "capture", "prun", "local", "spark", "pyspark")
# sparkmagic's session settings; Zeppelin's interpreter settings take their place.
DROPPED_CELL_MAGICS = ("configure", "info", "cleanup", "delete", "logs", "help")

_LINE_MAGIC = re.compile(r"^(\s*)((?:[A-Za-z_][\w.]*\s*=\s*)?[%!].*)$")
_EDITOR_SETTINGS = {
    PYSPARK: ("python", "ace/mode/python", False, True),
    MARKDOWN: ("markdown", "ace/mode/markdown", True, False),
    "%sh": ("sh", "ace/mode/sh", False, True),
    "%spark.sql": ("sql", "ace/mode/sql", False, True),
}


# -- public API -----------------------------------------------------------------------


def notebook_to_note(nb: nbformat.NotebookNode, name: str) -> dict:
    """Convert one Jupyter notebook to a Zeppelin note.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook, nbformat version 4.
    name : str
        Note name shown in Zeppelin, usually the notebook's file stem. The note id and
        paragraph ids are derived from it, so exporting again gives the same ids.

    Returns
    -------
    dict
        The note, ready for ``json.dump``: ``paragraphs``, ``name``, ``id``,
        ``defaultInterpreterGroup``, ``version``, ``noteParams``, ``noteForms``,
        ``angularObjects``, ``config``, ``info`` and ``path``.
    """
    note_id = _note_id(name)
    timestamp = _timestamp()
    paragraphs: list[dict] = []
    note_forms: dict[str, dict] = {}
    note_params: dict[str, str] = {}

    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if any(tag in SKIPPED_TAGS for tag in tags):
            continue
        source = _source_text(cell)
        if not source.strip():
            continue
        if cell.cell_type == "markdown":
            paragraphs.append(_paragraph(name, index, f"{MARKDOWN}\n{source}", timestamp))
        elif cell.cell_type == "code" and PARAMETERS_TAG in tags:
            code, forms, params = parameters_to_forms(source)
            note_forms.update(forms)
            note_params.update(params)
            paragraphs.append(
                _paragraph(name, index, f"{PYSPARK}\n{code}", timestamp, title="Parameters")
            )
        elif cell.cell_type == "code":
            text = code_cell_to_paragraph_text(source)
            if text is not None:
                paragraphs.append(_paragraph(name, index, text, timestamp))
        else:
            logger.info("%s: skipped %s cell %d", name, cell.cell_type, index)

    return {
        "paragraphs": paragraphs,
        "name": name,
        "id": note_id,
        "defaultInterpreterGroup": "spark",
        "version": ZEPPELIN_VERSION,
        "noteParams": note_params,
        "noteForms": note_forms,
        "angularObjects": {},
        "config": {
            "isZeppelinNotebookCronEnable": False,
            "looknfeel": "default",
            "personalizedMode": "false",
        },
        "info": {},
        "path": f"/{name}",
    }


def export_notebooks(notebook_dir: str, out_dir: str) -> list[Path]:
    """Write one ``NAME_NOTEID.zpln`` file per notebook in ``notebook_dir``.

    Returns
    -------
    list of Path
        The files written, in notebook name order.

    Raises
    ------
    FileNotFoundError
        If ``notebook_dir`` does not exist or contains no ``.ipynb`` file.
    """
    source_dir = Path(notebook_dir)
    if not source_dir.is_dir():
        raise FileNotFoundError(
            f"notebook folder not found: {notebook_dir}; pass --notebooks with the folder "
            "that contains the .ipynb files"
        )
    notebooks = sorted(source_dir.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no .ipynb files in {notebook_dir}")
    target_dir = Path(out_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        note = notebook_to_note(nb, path.stem)
        target = target_dir / f"{path.stem}_{note['id']}.zpln"
        target.write_text(json.dumps(note, indent=2, ensure_ascii=False) + "\n")
        logger.info(
            "wrote %s (%d paragraphs, %d note forms)",
            target,
            len(note["paragraphs"]),
            len(note["noteForms"]),
        )
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Run ``roomrec export-zeppelin``; return 0, or 2 when the notebooks are missing."""
    parser = argparse.ArgumentParser(
        prog="roomrec export-zeppelin",
        description="Write every notebook as a Zeppelin note (.zpln JSON). Import the "
        "files in Zeppelin with 'Import note', or copy them into Zeppelin's notebook "
        "folder.",
    )
    parser.add_argument(
        "--notebooks", default="notebooks", help="folder with the .ipynb files (default: notebooks)"
    )
    parser.add_argument(
        "--out", default="zeppelin", help="folder for the .zpln files (default: zeppelin)"
    )
    args = parser.parse_args(argv)
    try:
        written = export_notebooks(args.notebooks, args.out)
    except FileNotFoundError as error:
        logger.error("%s", error)
        return 2
    logger.info("exported %d notes to %s", len(written), args.out)
    return 0


# -- parameters cell ------------------------------------------------------------------


def parameters_to_forms(source: str) -> tuple[str, dict[str, dict], dict[str, str]]:
    """Turn a literal parameters cell into Zeppelin note-form code.

    Each ``name = literal`` line becomes a read of a note-level form with the literal as
    its default. str, int and float values get a text box (cast back with ``int`` or
    ``float``), and bool values a True/False select. Other values (lists, dicts, None) get
    a text box with the Python literal, read back with ``ast.literal_eval``. Comments stay.
    Statements that are not literal assignments are kept as they are and get no form.

    Returns
    -------
    tuple
        The paragraph code (without the interpreter line), ``noteForms`` and
        ``noteParams``.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    comments = _comments_by_line(source)
    code_lines: list[str] = []
    forms: dict[str, dict] = {}
    params: dict[str, str] = {}
    needs_ast = False
    previous_end = 0

    for statement in tree.body:
        for number in range(previous_end + 1, statement.lineno):
            if lines[number - 1].strip().startswith("#"):
                code_lines.append(lines[number - 1].strip())
        previous_end = statement.end_lineno or statement.lineno
        name, value, ok = _literal_assignment(statement)
        if not ok:
            logger.warning(
                "parameters cell: kept line %d as code, it is not 'name = literal'",
                statement.lineno,
            )
            code_lines.append(ast.get_source_segment(source, statement) or "")
            continue
        expression, form, default, uses_ast = _form_read(name, value)
        needs_ast = needs_ast or uses_ast
        forms[name] = form
        params[name] = default
        comment = comments.get(previous_end, "")
        code_lines.append(f"{name} = {expression}" + (f"  {comment}" if comment else ""))

    for number in range(previous_end + 1, len(lines) + 1):
        if lines[number - 1].strip().startswith("#"):
            code_lines.append(lines[number - 1].strip())

    header = ["# Values come from the note's forms; change them there and run the note."]
    if needs_ast:
        header.append("import ast")
    return "\n".join(header + code_lines), forms, params


def _literal_assignment(statement: ast.stmt) -> tuple[str, Any, bool]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value_node = statement.targets[0], statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, value_node = statement.target, statement.value
    else:
        return "", None, False
    if not isinstance(target, ast.Name):
        return "", None, False
    try:
        return target.id, ast.literal_eval(value_node), True
    except ValueError:
        return "", None, False


def _form_read(name: str, value: Any) -> tuple[str, dict, str, bool]:
    """Return (read expression, noteForms entry, default string, needs ``import ast``)."""
    if isinstance(value, bool):
        default = str(value)
        options = [("True", "True"), ("False", "False")]
        form = _form("Select", name, default)
        form["options"] = [{"value": v, "displayName": d} for v, d in options]
        return f"z.noteSelect({name!r}, {options!r}, {default!r}) == 'True'", form, default, False
    if isinstance(value, int):
        default = str(value)
        return (
            f"int(z.noteTextbox({name!r}, {default!r}))",
            _form("TextBox", name, default),
            default,
            False,
        )
    if isinstance(value, float):
        default = repr(value)
        return (
            f"float(z.noteTextbox({name!r}, {default!r}))",
            _form("TextBox", name, default),
            default,
            False,
        )
    if isinstance(value, str):
        return f"z.noteTextbox({name!r}, {value!r})", _form("TextBox", name, value), value, False
    default = repr(value)
    return (
        f"ast.literal_eval(z.noteTextbox({name!r}, {default!r}))",
        _form("TextBox", name, default),
        default,
        True,
    )


def _form(kind: str, name: str, default: str) -> dict:
    # Field names and the "type" values follow Zeppelin's Input classes (TextBox, Select)
    # as Gson writes them into the note file.
    return {
        "type": kind,
        "name": name,
        "displayName": name,
        "defaultValue": default,
        "hidden": False,
    }


def _comments_by_line(source: str) -> dict[int, str]:
    comments = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string
    except (tokenize.TokenError, IndentationError):
        pass
    return comments


# -- code cells -----------------------------------------------------------------------


def code_cell_to_paragraph_text(source: str) -> str | None:
    """Return the paragraph text for a code cell, or None to drop the cell.

    The text starts with the interpreter line (``%spark.pyspark`` unless a cell magic
    names another interpreter). Magics are handled as the module docstring says.
    """
    first, _, body = source.partition("\n")
    stripped = first.strip()
    if stripped.startswith("%%"):
        magic = stripped[2:].split()[0] if stripped[2:].split() else ""
        if magic in CELL_MAGIC_INTERPRETERS:
            return f"{CELL_MAGIC_INTERPRETERS[magic]}\n{body}"
        if magic in DROPPED_CELL_MAGICS:
            logger.info("dropped a %%%%%s cell: Zeppelin has no equivalent", magic)
            return None
        if magic in PYTHON_BODY_CELL_MAGICS:
            return (
                f"{PYSPARK}\n# {stripped} removed: IPython cell magic\n{_strip_line_magics(body)}"
            )
        logger.warning("commented out a %%%%%s cell: Zeppelin cannot run it", magic)
        commented = "\n".join(f"# {line}" for line in source.splitlines())
        return (
            f"{PYSPARK}\n# This cell used an IPython cell magic that Zeppelin cannot run.\n"
            f"{commented}"
        )
    return f"{PYSPARK}\n{_strip_line_magics(source)}"


def _strip_line_magics(source: str) -> str:
    out = []
    for line in source.splitlines():
        match = _LINE_MAGIC.match(line)
        if match and not line.lstrip().startswith("#"):
            indent, text = match.groups()
            out.append(f"{indent}pass  # removed IPython magic: {text.strip()}")
        else:
            out.append(line)
    return "\n".join(out)


# -- note and paragraph JSON ------------------------------------------------------------


def _paragraph(note_name: str, index: int, text: str, timestamp: str, title: str = "") -> dict:
    interpreter = text.split("\n", 1)[0].strip()
    language, mode, hide_editor, completion = _EDITOR_SETTINGS.get(
        interpreter, _EDITOR_SETTINGS[PYSPARK]
    )
    paragraph_id = _paragraph_id(note_name, index)
    paragraph = {
        "text": text,
        "user": "anonymous",
        "dateUpdated": timestamp,
        "progress": 0,
        "config": {
            "editorSetting": {
                "language": language,
                "editOnDblClick": hide_editor,
                "completionKey": "TAB",
                "completionSupport": completion,
            },
            "colWidth": 12.0,
            "editorMode": mode,
            "fontSize": 9.0,
            "editorHide": hide_editor,
            "title": bool(title),
            "results": {},
            "enabled": True,
        },
        "settings": {"params": {}, "forms": {}},
        "apps": [],
        "runtimeInfos": {},
        "progressUpdateIntervalMs": 500,
        "jobName": paragraph_id,
        "id": paragraph_id,
        "dateCreated": timestamp,
        "status": "READY",
    }
    if title:
        paragraph["title"] = title
    if interpreter == MARKDOWN:
        html = _markdown_html(text.split("\n", 1)[1] if "\n" in text else "")
        if html is not None:
            # Rendered output lets the note show its prose before anyone runs it.
            paragraph["results"] = {
                "code": "SUCCESS",
                "msg": [{"type": "HTML", "data": f'<div class="markdown-body">\n{html}\n</div>'}],
            }
            paragraph["status"] = "FINISHED"
            paragraph["dateStarted"] = timestamp
            paragraph["dateFinished"] = timestamp
    return paragraph


def _markdown_html(markdown: str) -> str | None:
    try:
        import mistune
    except ImportError:
        return None
    return str(mistune.html(markdown)).strip()


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()


def _note_id(name: str) -> str:
    # Zeppelin note ids are 9 upper-case letters and digits, for example 2EWM84JXA.
    return base64.b32encode(_digest("note", name)).decode()[:9]


def _paragraph_id(note_name: str, index: int) -> str:
    digest = _digest("paragraph", note_name, index)
    created = 1_500_000_000_000 + int.from_bytes(digest[:4], "big")
    return f"paragraph_{created}_{int.from_bytes(digest[4:8], 'big') % 1_000_000_000}"


def _timestamp() -> str:
    # SOURCE_DATE_EPOCH makes exports byte-identical, for example in CI.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc)
        if epoch
        else dt.datetime.now(tz=dt.timezone.utc)
    )
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _source_text(cell: nbformat.NotebookNode) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
