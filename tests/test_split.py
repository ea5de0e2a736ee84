"""Temporal and random splits: exact cut boundaries, stable hashing, Parquet storage."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from roomrec import columns as C
from roomrec.split import random_split, temporal_split

VISIT_SCHEMA = "visit int, user_id string, room_id string, start_ts timestamp"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def visits(spark):
    rows = [
        (1, "u1", "r1", utc(2023, 12, 31, 23, 59, 59, 999999)),
        (2, "u1", "r2", utc(2024, 1, 1)),  # exactly at validation_start
        (3, "u2", "r1", utc(2024, 1, 7, 23, 59, 59, 999999)),
        (4, "u2", "r3", utc(2024, 1, 8)),  # exactly at test_start
        (5, "u3", "r2", utc(2024, 1, 14, 13, 0)),  # latest visit
        (6, "u3", "r3", None),
    ]
    return spark.createDataFrame(rows, VISIT_SCHEMA)


def visit_ids(frame) -> list[int]:
    return sorted(row["visit"] for row in frame.select("visit").collect())


def test_temporal_split_explicit_cuts(visits):
    split = temporal_split(visits, test_start="2024-01-08", validation_start="2024-01-01")
    assert visit_ids(split.train) == [1]
    assert visit_ids(split.validation) == [2, 3]
    assert visit_ids(split.test) == [4, 5]
    assert visit_ids(split.train_plus_validation) == [1, 2, 3]
    assert split.test_start == "2024-01-08T00:00:00+00:00"
    assert split.validation_start == "2024-01-01T00:00:00+00:00"
    assert split.end == "2024-01-14T13:00:00+00:00"


def test_temporal_split_derived_cuts(visits):
    # Latest visit on 2024-01-14, so test covers 2024-01-08 to 2024-01-14 and validation
    # the 7 days before.
    split = temporal_split(visits, validation_days=7, test_days=7)
    assert split.test_start == "2024-01-08T00:00:00+00:00"
    assert split.validation_start == "2024-01-01T00:00:00+00:00"
    assert visit_ids(split.train) == [1]
    assert visit_ids(split.validation) == [2, 3]
    assert visit_ids(split.test) == [4, 5]


def test_temporal_split_offset_converted_to_utc(visits):
    split = temporal_split(visits, test_start="2024-01-08T02:00:00+02:00", validation_days=0)
    assert split.test_start == "2024-01-08T00:00:00+00:00"
    assert split.validation_start == split.test_start
    assert visit_ids(split.validation) == []
    assert visit_ids(split.train) == [1, 2, 3]
    assert visit_ids(split.test) == [4, 5]


def test_temporal_split_one_microsecond_before_cut(visits):
    split = temporal_split(visits, test_start="2024-01-07T23:59:59.999999", validation_days=1)
    assert visit_ids(split.test) == [3, 4, 5]
    assert visit_ids(split.train) == [1, 2]
    earlier = temporal_split(visits.filter("visit <= 3"), test_days=1, validation_days=1)
    assert earlier.end == "2024-01-07T23:59:59.999999+00:00"
    assert earlier.test_start == "2024-01-07T00:00:00+00:00"


def test_temporal_split_rejects_reversed_cuts(visits):
    with pytest.raises(ValueError, match="after test_start"):
        temporal_split(visits, test_start="2024-01-08", validation_start="2024-01-09")


def test_temporal_split_rejects_missing_timestamps(spark, visits):
    with pytest.raises(ValueError, match="random_split"):
        temporal_split(visits.drop(C.START_TS))
    all_null = visits.filter(f"{C.START_TS} IS NULL")
    with pytest.raises(ValueError, match="every 'start_ts' is null"):
        temporal_split(all_null)


def test_temporal_split_rejects_invalid_date(visits):
    with pytest.raises(ValueError, match="invalid timestamp"):
        temporal_split(visits, test_start="next tuesday")


@pytest.fixture(scope="module")
def interactions(spark):
    rows = [(f"u{index % 97}", f"r{index}", index) for index in range(2000)]
    return spark.createDataFrame(rows, "user_id string, room_id string, visit_count long")


def assignment(split) -> dict[tuple[str, str], str]:
    parts = split.train.unionByName(split.validation).unionByName(split.test)
    return {
        (row[C.USER_ID], row[C.ROOM_ID]): row[C.SPLIT]
        for row in parts.select(C.USER_ID, C.ROOM_ID, C.SPLIT).collect()
    }


def test_random_split_stable_across_calls_and_partitions(interactions, tmp_path: Path):
    first = assignment(random_split(interactions, seed=5, path=str(tmp_path / "a")))
    second = assignment(random_split(interactions, seed=5, path=str(tmp_path / "b")))
    repartitioned = assignment(
        random_split(interactions.repartition(7), seed=5, path=str(tmp_path / "c"))
    )
    single = assignment(random_split(interactions.coalesce(1), seed=5, path=str(tmp_path / "d")))
    assert len(first) == 2000
    assert first == second
    assert first == repartitioned
    assert first == single


def test_random_split_written_to_disk(interactions, tmp_path: Path):
    path = tmp_path / "split"
    split = random_split(interactions, fractions=(0.8, 0.1, 0.1), seed=42, path=str(path))
    assert (path / "_SUCCESS").exists()
    assert sorted(child.name for child in path.iterdir() if child.is_dir()) == [
        "split=test",
        "split=train",
        "split=validation",
    ]
    for part in (split.train, split.validation, split.test):
        files = part.inputFiles()
        assert files
        assert all(str(path) in name for name in files)
    counts = [split.train.count(), split.validation.count(), split.test.count()]
    assert sum(counts) == 2000
    # Binomial standard deviation of the train share is about 0.009 for 2000 pairs.
    assert counts[0] / 2000 == pytest.approx(0.8, abs=0.05)
    assert counts[1] / 2000 == pytest.approx(0.1, abs=0.04)
    assert split.seed == 42
    assert split.path == str(path)


def test_random_split_seed_changes_assignment(interactions, tmp_path: Path):
    first = assignment(random_split(interactions, seed=1, path=str(tmp_path / "a")))
    second = assignment(random_split(interactions, seed=2, path=str(tmp_path / "b")))
    changed = sum(first[pair] != second[pair] for pair in first)
    # Two independent 80/10/10 draws disagree on about 34% of pairs.
    assert changed > 400


def test_random_split_rejects_bad_fractions(interactions, tmp_path: Path):
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(interactions, fractions=(0.8, 0.3, 0.1), path=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="user_id"):
        random_split(interactions.drop(C.USER_ID), path=str(tmp_path / "y"))
