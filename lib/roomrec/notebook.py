"""Small helpers the notebooks share: display settings, input location, artifacts."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def setup(log_level: str = "WARNING") -> None:
    """Set display options so executed notebooks are readable and reproducible.

    Floats print with 4 decimals, so outputs compared by nbval do not change with the
    last bits of a floating-point sum; plots render inline at a fixed size.
    """
    import matplotlib
    import pandas as pd

    logging.getLogger("roomrec").setLevel(log_level)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    pd.set_option("display.float_format", "{:.4f}".format)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 120)
    matplotlib.rcParams.update({"figure.figsize": (8, 4), "figure.dpi": 80, "axes.grid": True})


def input_location(input_path: str, dataset_size: str, seed: int) -> str:
    """Return ``input_path``, or the built-in generated data of ``dataset_size`` when empty."""
    if input_path:
        return input_path
    from roomrec.generate import ensure_generated

    return str(ensure_generated(size=dataset_size, seed=seed))


def artifacts_path(artifacts_dir: str, *parts: str) -> str:
    """Return a path below ``artifacts_dir``, creating local parent folders."""
    path = Path(artifacts_dir, *parts)
    if "://" not in artifacts_dir:
        path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def write_json(artifacts_dir: str, name: str, payload: Any) -> str:
    """Write ``payload`` as ``<artifacts_dir>/<name>.json`` and return the path."""
    path = artifacts_path(artifacts_dir, f"{name}.json")
    Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_json(artifacts_dir: str, name: str, *, written_by: str) -> Any:
    """Read ``<artifacts_dir>/<name>.json``, naming the notebook to run first if missing."""
    path = Path(artifacts_dir, f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; run {written_by} first with the same artifacts_dir"
        )
    return json.loads(path.read_text())


def require_artifact(artifacts_dir: str, name: str, *, written_by: str) -> str:
    """Return the path of a Parquet artifact, naming the notebook to run first if missing."""
    path = Path(artifacts_dir, name)
    if "://" not in artifacts_dir and not path.exists():
        raise FileNotFoundError(
            f"{path} not found; run {written_by} first with the same artifacts_dir"
        )
    return str(path)


def save_figure(figure, artifacts_dir: str, name: str) -> None:
    """Save a matplotlib figure as ``<artifacts_dir>/plots/<name>.png``.

    Returns None, so a notebook cell ending in this call shows the plot but no path.
    """
    path = artifacts_path(artifacts_dir, "plots", f"{name}.png")
    figure.savefig(path, bbox_inches="tight")
    logger.debug("saved plot %s", path)
