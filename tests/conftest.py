"""Shared fixtures: one local Spark session for the whole test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ROOMREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from roomrec.spark import get_spark

    session = get_spark(
        app_name="roomrec-tests",
        master="local[2]",
        shuffle_partitions=4,
        checkpoint_dir=str(tmp_path_factory.mktemp("checkpoints")),
        conf={"spark.driver.memory": "2g", "spark.sql.adaptive.enabled": "false"},
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the public data sets; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data test: {SHARED_DATA} not found; set ROOMREC_SHARED_DATA")
    return SHARED_DATA
