"""Baselines on tiny known cases: popularity order, seen filtering, determinism, plans."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from roomrec import columns as C
from roomrec.baselines import (
    global_popularity,
    own_history,
    random_rooms,
    recent_popularity,
    room_popularity,
)

INTERACTION_SCHEMA = "user_idx int, room_idx int, visit_count long, dwell_total_s double"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def lists_by_user(frame) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {}
    for row in frame.orderBy(C.USER_IDX, C.POSITION).collect():
        result.setdefault(row[C.USER_IDX], []).append(row[C.ROOM_IDX])
    return result


def positions_by_user(frame) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {}
    for row in frame.orderBy(C.USER_IDX, C.POSITION).collect():
        result.setdefault(row[C.USER_IDX], []).append(row[C.POSITION])
    return result


def assert_no_cross_join(frame) -> None:
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "CartesianProduct" not in plan
    assert "BroadcastNestedLoopJoin" not in plan


@pytest.fixture(scope="module")
def train(spark):
    # Distinct users per room: room 1 -> 3, room 2 -> 2, room 3 -> 2, room 4 -> 1.
    # Rooms 2 and 3 tie, so room 2 ranks first. Room 5 has no training users.
    pairs = [(0, 1), (0, 2), (1, 1), (1, 3), (2, 1), (2, 4), (3, 2), (3, 3)]
    rows = [(user, room, 1, 60.0) for user, room in pairs]
    return spark.createDataFrame(rows, INTERACTION_SCHEMA)


@pytest.fixture(scope="module")
def users(spark):
    # User 9 has no training interactions.
    return spark.createDataFrame([(0,), (1,), (9,)], "user_idx int")


def test_room_popularity_counts_users(train):
    counts = {row[C.ROOM_IDX]: row[C.N_USERS] for row in room_popularity(train).collect()}
    assert counts == {1: 3, 2: 2, 3: 2, 4: 1}


def test_global_popularity_order_and_seen_filtering(train, users):
    recs = global_popularity(train, users, k=2)
    # User 0 saw rooms 1 and 2, user 1 saw rooms 1 and 3; user 9 saw nothing.
    assert lists_by_user(recs) == {0: [3, 4], 1: [2, 4], 9: [1, 2]}
    scores = {(row[C.USER_IDX], row[C.ROOM_IDX]): row[C.SCORE] for row in recs.collect()}
    assert scores[(9, 1)] == 3.0
    assert scores[(0, 3)] == 2.0
    assert {row[C.SOURCE] for row in recs.collect()} == {"global_popularity"}
    assert_no_cross_join(recs)


def test_global_popularity_without_seen_filtering(train, users):
    recs = global_popularity(train, users, k=3, exclude_seen=False)
    assert lists_by_user(recs) == {0: [1, 2, 3], 1: [1, 2, 3], 9: [1, 2, 3]}
    assert_no_cross_join(recs)


def test_global_popularity_short_when_catalog_exhausted(train, users):
    recs = global_popularity(train, users, k=4)
    # User 0 has only rooms 3 and 4 left among ranked rooms.
    lists = lists_by_user(recs)
    assert lists[0] == [3, 4]
    assert lists[9] == [1, 2, 3, 4]
    assert positions_by_user(recs)[0] == [1, 2]


@pytest.fixture(scope="module")
def train_visits(spark):
    rows = [
        # Room 1 was the most popular room, but only before the window.
        (0, 1, utc(2024, 1, 1)),
        (1, 1, utc(2024, 1, 1)),
        (2, 1, utc(2024, 1, 1)),
        (3, 1, utc(2024, 1, 1)),
        (0, 2, utc(2024, 1, 10)),
        (1, 2, utc(2024, 1, 10)),
        (2, 2, utc(2024, 1, 10)),
        (1, 3, utc(2024, 1, 14)),
        (3, 5, utc(2024, 1, 8)),  # exactly at the start of the window
        (5, 4, utc(2024, 1, 15)),  # exactly at end_ts, which is exclusive
        (6, 4, utc(2024, 1, 15)),
        (7, 6, None),
    ]
    return spark.createDataFrame(rows, "user_idx int, room_idx int, start_ts timestamp")


def test_recent_popularity_window(spark, train_visits):
    users = spark.createDataFrame([(0,), (9,)], "user_idx int")
    recs = recent_popularity(train_visits, users, k=3, window_days=7, end_ts="2024-01-15T00:00:00Z")
    # Window [2024-01-08, 2024-01-15): room 2 -> 3 users, rooms 3 and 5 -> 1 user each.
    # User 0 visited rooms 1 and 2 in training.
    assert lists_by_user(recs) == {0: [3, 5], 9: [2, 3, 5]}
    assert {row[C.SOURCE] for row in recs.collect()} == {"recent_popularity"}
    assert_no_cross_join(recs)


def test_recent_popularity_default_end_includes_latest(spark, train_visits):
    users = spark.createDataFrame([(9,)], "user_idx int")
    recs = recent_popularity(train_visits, users, k=3, window_days=7)
    # The latest visit (2024-01-15) ends the window and is included, so room 4 (2 users)
    # ranks after room 2 (3 users) and before room 3 (1 user).
    assert lists_by_user(recs) == {9: [2, 4, 3]}


def test_own_history_order(spark):
    rows = [
        (0, 10, 5, 10.0),
        (0, 11, 5, 20.0),
        (0, 12, 7, None),
        (0, 13, 1, 100.0),
        (0, 14, 5, None),
        (1, 10, 2, 5.0),
    ]
    interactions = spark.createDataFrame(rows, INTERACTION_SCHEMA)
    users = spark.createDataFrame([(0,), (9,)], "user_idx int")
    recs = own_history(interactions, users, k=4)
    # Visit count first (12 has 7), then dwell with nulls last among the 5-visit rooms.
    assert lists_by_user(recs) == {0: [12, 11, 10, 14]}
    scores = [row[C.SCORE] for row in recs.orderBy(C.POSITION).collect()]
    assert scores == [7.0, 5.0, 5.0, 5.0]
    assert {row[C.SOURCE] for row in recs.collect()} == {"own_history"}


@pytest.fixture(scope="module")
def catalog(spark):
    return spark.createDataFrame([(room,) for room in range(100, 120)], "room_idx int")


@pytest.fixture(scope="module")
def random_users(spark):
    return spark.createDataFrame([(user,) for user in range(6)], "user_idx int")


@pytest.fixture(scope="module")
def seen_pairs(spark):
    return spark.createDataFrame(
        [(0, room) for room in range(100, 110)], "user_idx int, room_idx int"
    )


def test_random_rooms_excludes_seen(catalog, random_users, seen_pairs):
    recs = random_rooms(catalog, random_users, k=5, seed=3, seen=seen_pairs)
    lists = lists_by_user(recs)
    assert sorted(lists) == [0, 1, 2, 3, 4, 5]
    for user, rooms in lists.items():
        assert len(rooms) == 5, user
        assert len(set(rooms)) == 5, user
        assert all(100 <= room < 120 for room in rooms), user
    assert not set(lists[0]) & set(range(100, 110))
    for user, positions in positions_by_user(recs).items():
        assert positions == [1, 2, 3, 4, 5], user
    assert_no_cross_join(recs)


def test_random_rooms_deterministic(catalog, random_users, seen_pairs):
    first = lists_by_user(random_rooms(catalog, random_users, k=5, seed=3, seen=seen_pairs))
    again = lists_by_user(
        random_rooms(catalog.repartition(3), random_users.coalesce(1), k=5, seed=3, seen=seen_pairs)
    )
    other_seed = lists_by_user(random_rooms(catalog, random_users, k=5, seed=4, seen=seen_pairs))
    assert first == again
    assert first != other_seed


def test_random_rooms_spread_over_catalog(catalog, random_users):
    recs = random_rooms(catalog, random_users, k=5, seed=3)
    rooms = {row[C.ROOM_IDX] for row in recs.collect()}
    # Six lists of 5 out of 20 rooms cover about 16 rooms when uniform, one fixed list 5.
    assert len(rooms) >= 10
