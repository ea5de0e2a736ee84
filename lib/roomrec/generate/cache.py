"""Cached data sets: generate once per size and seed, reuse while the generator is unchanged."""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from roomrec.generate.core import (
    DEFAULT_START_DATE,
    GENERATOR_VERSION,
    MANIFEST_NAME,
    generate,
    parse_start_date,
)
from roomrec.generate.sizes import get_size

try:
    import fcntl
except ImportError:  # Windows: the temporary directory and rename still keep outputs whole.
    fcntl = None

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "ROOMREC_DATA_DIR"


def _repo_root() -> Path | None:
    """Return the repository root when the package runs from a source checkout."""
    candidate = Path(__file__).resolve().parents[3]
    if (candidate / "pyproject.toml").is_file() and (candidate / "lib" / "roomrec").is_dir():
        return candidate
    return None


def default_root() -> Path:
    """Return the folder that contains cached data sets.

    Order: the ROOMREC_DATA_DIR environment variable, ``<repo>/data/generated`` for a
    source checkout (editable install), else ``~/.cache/roomrec/generated``.
    """
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env)
    repo = _repo_root()
    if repo is not None:
        return repo / "data" / "generated"
    return Path.home() / ".cache" / "roomrec" / "generated"


def dataset_dir(
    size: str, seed: int, root: str | Path | None = None, start_date: str = DEFAULT_START_DATE
) -> Path:
    """Return ``<root>/<size>-seed<seed>``, with ``-<start_date>`` appended if not the default."""
    name = f"{size}-seed{seed}"
    if start_date != DEFAULT_START_DATE:
        name += f"-{start_date}"
    base = Path(root) if root is not None else default_root()
    return base / name


def is_current(path: Path, size: str, seed: int, start_date: str = DEFAULT_START_DATE) -> bool:
    """Return whether ``path`` contains a data set of this generator, size, seed and start."""
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(manifest, dict)
        and manifest.get("generator_version") == GENERATOR_VERSION
        and manifest.get("size") == size
        and manifest.get("seed") == seed
        and manifest.get("start_date") == start_date
    )


@contextmanager
def _exclusive_lock(path: Path):
    """Hold an exclusive advisory lock on ``path`` (a no-op where fcntl is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_generated(
    size: str = "tiny",
    seed: int = 42,
    root: str | Path | None = None,
    *,
    start_date: str = DEFAULT_START_DATE,
    force: bool = False,
) -> Path:
    """Return the folder of a generated data set, generating it only when needed.

    The folder is ``<root>/<size>-seed<seed>`` (see :func:`default_root` for the default
    root). It is regenerated when its manifest.json is missing or was written by another
    generator version, size, seed or start date, or when ``force`` is true. Concurrent
    callers are serialised by a lock file next to the folder, and the data set is moved into
    place only when complete, so readers never see a partial data set.

    Raises
    ------
    ValueError
        If ``size`` or ``start_date`` is invalid.
    """
    get_size(size)
    parse_start_date(start_date)
    path = dataset_dir(size, seed, root, start_date)
    if not force and is_current(path, size, seed, start_date):
        return path
    with _exclusive_lock(path.parent / f".{path.name}.lock"):
        # Another process may have finished the same data set while this one waited.
        if not force and is_current(path, size, seed, start_date):
            return path
        if path.exists() and not (path / MANIFEST_NAME).is_file():
            logger.warning("removing incomplete data set folder %s", path)
            shutil.rmtree(path)
        generate(path, size=size, seed=seed, start_date=start_date)
    return path
