"""Tests for roomrec.interactions: aggregation, confidence schemes, support filter, indexes."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from roomrec import columns as C
from roomrec.interactions import (
    add_confidence,
    aggregate_visits,
    apply_index,
    build_index,
    filter_support,
)

VISITS_SCHEMA = (
    "user_id string, room_id string, start_ts timestamp, end_ts timestamp, dwell_s double, "
    "visit_count long, is_imputed boolean"
)


def _ts(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour)


@pytest.fixture(scope="module")
def visits(spark):
    rows = [
        ("u1", "r1", _ts(1), _ts(1), 60.0, 1, False),
        ("u1", "r1", _ts(2), _ts(2), 120.0, 1, False),
        ("u1", "r2", _ts(3), _ts(3), None, 1, False),  # check-in without duration
        ("u2", "r1", _ts(4), _ts(4), 600.0, 1, True),
        ("u2", "r3", _ts(5), _ts(5), 30.0, 1, False),  # u2 owns r3
    ]
    return spark.createDataFrame(rows, VISITS_SCHEMA)


@pytest.fixture(scope="module")
def rooms(spark):
    return spark.createDataFrame(
        [("r1", "u9"), ("r2", "u9"), ("r3", "u2")], "room_id string, owner_id string"
    )


def _by_pair(frame, column):
    return {(row[C.USER_ID], row[C.ROOM_ID]): row[column] for row in frame.collect()}


def test_aggregate_visits_counts_and_dwell(visits, rooms):
    pairs = aggregate_visits(visits, rooms)
    counts = _by_pair(pairs, C.VISIT_COUNT)
    dwell = _by_pair(pairs, C.DWELL_TOTAL_S)
    assert counts == {("u1", "r1"): 2, ("u1", "r2"): 1, ("u2", "r1"): 1, ("u2", "r3"): 1}
    assert dwell[("u1", "r1")] == 180.0
    assert dwell[("u1", "r2")] == 0.0  # unknown duration counts as 0


def test_aggregate_visits_first_and_last(visits, rooms):
    pairs = aggregate_visits(visits, rooms)
    first = _by_pair(pairs, C.FIRST_VISIT_TS)
    last = _by_pair(pairs, C.LAST_VISIT_TS)
    assert first[("u1", "r1")] == _ts(1)
    assert last[("u1", "r1")] == _ts(2)


def test_aggregate_visits_marks_own_room(visits, rooms):
    own = _by_pair(aggregate_visits(visits, rooms), C.IS_OWN_ROOM)
    assert own[("u2", "r3")] is True
    assert sum(own.values()) == 1


def test_aggregate_visits_without_rooms_marks_none(visits):
    own = _by_pair(aggregate_visits(visits), C.IS_OWN_ROOM)
    assert not any(own.values())


@pytest.fixture(scope="module")
def pairs(visits, rooms):
    return aggregate_visits(visits, rooms).cache()


def test_confidence_visits_is_count(pairs):
    values = _by_pair(add_confidence(pairs, "visits"), C.CONFIDENCE)
    assert values[("u1", "r1")] == 2.0
    assert ("u2", "r3") not in values  # own room dropped at weight 0


def test_confidence_log_visits(pairs):
    values = _by_pair(add_confidence(pairs, "log_visits"), C.CONFIDENCE)
    assert values[("u1", "r1")] == pytest.approx(math.log(3))


def test_confidence_dwell_in_minutes(pairs):
    values = _by_pair(add_confidence(pairs, "dwell", dwell_unit_s=60), C.CONFIDENCE)
    assert values[("u1", "r1")] == pytest.approx(math.log1p(3.0))
    assert ("u1", "r2") not in values  # zero dwell gives zero confidence, removed


def test_confidence_visits_dwell(pairs):
    values = _by_pair(add_confidence(pairs, "visits_dwell"), C.CONFIDENCE)
    assert values[("u2", "r1")] == pytest.approx(math.log(2) + math.log1p(10.0))


def test_confidence_bm25_hand_computed(pairs):
    # Own room dropped first: u1 has r1 (2 visits), r2 (1); u2 has r1 (1).
    # Users N = 2, mean visits per user = 4 / 2 = 2; room users: r1 2, r2 1.
    # idf uses N + 1 = 3: r1 log(3/2), r2 log(3/1).
    k1, b = 1.2, 0.75
    values = _by_pair(add_confidence(pairs, "bm25", bm25_k1=k1, bm25_b=b), C.CONFIDENCE)

    def weight(n, user_visits):
        return n * (k1 + 1) / (n + k1 * (1 - b + b * user_visits / 2.0))

    assert values[("u1", "r1")] == pytest.approx(weight(2, 3) * math.log(1.5))
    assert values[("u1", "r2")] == pytest.approx(weight(1, 3) * math.log(3.0))
    assert values[("u2", "r1")] == pytest.approx(weight(1, 1) * math.log(1.5))


def test_confidence_bm25_tapers_heavy_repeat_visits(spark):
    rows = [("u1", "r1", 100, 0.0, False), ("u1", "r2", 1, 0.0, False),
            ("u2", "r1", 1, 0.0, False), ("u2", "r2", 1, 0.0, False)]
    frame = spark.createDataFrame(
        rows, "user_id string, room_id string, visit_count long, dwell_total_s double, "
        "is_own_room boolean",
    )
    bm25 = _by_pair(add_confidence(frame, "bm25"), C.CONFIDENCE)
    visits = _by_pair(add_confidence(frame, "visits"), C.CONFIDENCE)
    assert visits[("u1", "r1")] / visits[("u2", "r1")] == 100
    assert bm25[("u1", "r1")] / bm25[("u2", "r1")] < 3


def test_confidence_own_room_weight_keeps_row(pairs):
    values = _by_pair(add_confidence(pairs, "visits", own_room_weight=0.5), C.CONFIDENCE)
    assert values[("u2", "r3")] == 0.5


def test_confidence_user_max_normalization(pairs):
    values = _by_pair(
        add_confidence(pairs, "visits", normalization="user_max"), C.CONFIDENCE
    )
    assert values[("u1", "r1")] == 1.0
    assert values[("u1", "r2")] == 0.5
    assert values[("u2", "r1")] == 1.0


def test_confidence_unknown_scheme_names_choices(pairs):
    with pytest.raises(ValueError, match="unknown confidence_scheme 'clicks'.*log_visits"):
        add_confidence(pairs, "clicks")


def test_confidence_negative_own_weight_raises(pairs):
    with pytest.raises(ValueError, match="own_room_weight must be 0 or more"):
        add_confidence(pairs, "visits", own_room_weight=-1.0)


def test_filter_support_drops_rare_rooms_and_users(pairs):
    result = filter_support(pairs, min_room_users=2, min_user_rooms=1)
    kept = set(_by_pair(result.interactions, C.VISIT_COUNT))
    assert kept == {("u1", "r1"), ("u2", "r1")}
    assert result.counts == {"pairs_in": 4, "pairs_out": 2, "pairs_removed": 2}


def test_build_index_dense_and_sorted(pairs):
    index = build_index(pairs, C.ROOM_ID, C.ROOM_IDX)
    mapping = {row[C.ROOM_ID]: row[C.ROOM_IDX] for row in index.collect()}
    assert mapping == {"r1": 0, "r2": 1, "r3": 2}
    assert dict(index.dtypes)[C.ROOM_IDX] == "int"


def test_apply_index_adds_both_indexes(pairs):
    users = build_index(pairs, C.USER_ID, C.USER_IDX)
    rooms = build_index(pairs, C.ROOM_ID, C.ROOM_IDX)
    indexed = apply_index(pairs, users, rooms)
    rows = {(r[C.USER_IDX], r[C.ROOM_IDX]) for r in indexed.collect()}
    assert rows == {(0, 0), (0, 1), (1, 0), (1, 2)}


def test_build_index_dense_across_partitions(spark):
    ids = [f"u{n:04d}" for n in range(1000)]
    frame = spark.createDataFrame([(i,) for i in reversed(ids)], "user_id string").repartition(7)
    index = build_index(frame, C.USER_ID, C.USER_IDX)
    mapping = {row[C.USER_ID]: row[C.USER_IDX] for row in index.collect()}
    assert len(mapping) == 1000
    assert [mapping[i] for i in ids] == list(range(1000))
