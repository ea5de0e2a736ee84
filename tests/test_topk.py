"""Top-K list utilities: seen filtering, fallback filling and ALS array output."""

from __future__ import annotations

import pytest
from pyspark.ml.recommendation import ALS

from roomrec import columns as C
from roomrec.topk import exclude_seen, fill_with_fallback, from_array_recommendations

LIST_SCHEMA = "user_idx int, room_idx int, score double, position int"


def make_list(spark, lists: dict[int, list[int]], source: str | None = None):
    rows = [
        (user, room, float(100 - index), index + 1)
        for user, rooms in lists.items()
        for index, room in enumerate(rooms)
    ]
    frame = spark.createDataFrame(rows, LIST_SCHEMA)
    if source is not None:
        frame = frame.selectExpr("*", f"'{source}' AS source")
    return frame


def lists_by_user(frame) -> dict[int, list[int]]:
    ordered = frame.orderBy(C.USER_IDX, C.POSITION).collect()
    result: dict[int, list[int]] = {}
    for row in ordered:
        result.setdefault(row[C.USER_IDX], []).append(row[C.ROOM_IDX])
    return result


def assert_contiguous_positions(frame) -> None:
    positions: dict[int, list[int]] = {}
    for row in frame.orderBy(C.USER_IDX, C.POSITION).collect():
        positions.setdefault(row[C.USER_IDX], []).append(row[C.POSITION])
    for user, values in positions.items():
        assert values == list(range(1, len(values) + 1)), user


def physical_plan(frame) -> str:
    return frame._jdf.queryExecution().executedPlan().toString()


def test_exclude_seen_renumbers_positions(spark):
    recs = make_list(spark, {1: [1, 2, 3, 4, 5], 2: [1, 2]}, source="als")
    seen = spark.createDataFrame([(1, 2), (1, 4), (3, 1)], "user_idx int, room_idx int")
    result = exclude_seen(recs, seen, k=2)
    assert lists_by_user(result) == {1: [1, 3], 2: [1, 2]}
    assert_contiguous_positions(result)
    assert result.columns == recs.columns
    scores = {row[C.ROOM_IDX]: row[C.SCORE] for row in result.filter("user_idx = 1").collect()}
    assert scores == {1: 100.0, 3: 98.0}


def test_exclude_seen_rejects_missing_columns(spark):
    recs = make_list(spark, {1: [1]})
    seen = spark.createDataFrame([(1,)], "user_idx int")
    with pytest.raises(ValueError, match="room_idx"):
        exclude_seen(recs, seen, k=1)


def test_fill_with_fallback_per_user(spark):
    primary = make_list(spark, {1: [10, 11], 3: [12]}, source="als")
    fallback = make_list(spark, {1: [11, 20, 21, 22], 2: [20, 21, 22, 23]}, source="popularity")
    users = spark.createDataFrame([(1,), (2,)], "user_idx int")
    result = fill_with_fallback(primary, fallback, users, k=3)
    # User 1 keeps 10 and 11; fallback room 11 is already listed, so 20 fills the list.
    # User 2 has no primary rows and gets the whole fallback; user 3 is not requested.
    assert lists_by_user(result) == {1: [10, 11, 20], 2: [20, 21, 22]}
    assert_contiguous_positions(result)
    sources = {(row[C.USER_IDX], row[C.ROOM_IDX]): row[C.SOURCE] for row in result.collect()}
    assert sources[(1, 10)] == "als"
    assert sources[(1, 11)] == "als"
    assert sources[(1, 20)] == "popularity"
    assert sources[(2, 20)] == "popularity"


def test_fill_with_fallback_trims_primary(spark):
    primary = make_list(spark, {1: [10, 11, 12, 13]})
    fallback = make_list(spark, {1: [20]})
    users = spark.createDataFrame([(1,)], "user_idx int")
    result = fill_with_fallback(primary, fallback, users, k=3)
    assert lists_by_user(result) == {1: [10, 11, 12]}
    assert {row[C.SOURCE] for row in result.collect()} == {"primary"}


def test_fill_with_fallback_global_list(spark):
    primary = make_list(spark, {1: [10, 20]}, source="als")
    global_rows = [(room, float(50 - index), index + 1) for index, room in enumerate([20, 21, 22])]
    fallback = spark.createDataFrame(global_rows, "room_idx int, score double, position int")
    users = spark.createDataFrame([(1,), (2,)], "user_idx int")
    result = fill_with_fallback(primary, fallback, users, k=3, fallback_source="popularity")
    assert lists_by_user(result) == {1: [10, 20, 21], 2: [20, 21, 22]}
    assert_contiguous_positions(result)
    user_2_sources = {row[C.SOURCE] for row in result.filter("user_idx = 2").collect()}
    assert user_2_sources == {"popularity"}
    plan = physical_plan(result)
    assert "CartesianProduct" not in plan
    assert "BroadcastNestedLoopJoin" not in plan


def test_from_array_recommendations_positions(spark):
    raw = spark.createDataFrame(
        [(1, [(7, 0.9), (3, 0.5)]), (2, [])],
        "user_idx int, recommendations array<struct<room_idx:int, rating:float>>",
    )
    result = from_array_recommendations(raw)
    rows = result.orderBy(C.USER_IDX, C.POSITION).collect()
    assert [(row[C.USER_IDX], row[C.ROOM_IDX], row[C.POSITION]) for row in rows] == [
        (1, 7, 1),
        (1, 3, 2),
    ]
    assert rows[0][C.SCORE] == pytest.approx(0.9, abs=1e-6)
    assert dict(result.dtypes) == {
        C.USER_IDX: "int",
        C.ROOM_IDX: "int",
        C.SCORE: "double",
        C.POSITION: "int",
    }


def test_from_array_recommendations_real_als(spark):
    ratings = spark.createDataFrame(
        [
            (user, room, 1.0 + (user * room) % 3)
            for user in range(4)
            for room in range(5)
            if (user + room) % 2 == 0
        ],
        "user_idx int, room_idx int, confidence float",
    )
    als = ALS(
        userCol=C.USER_IDX,
        itemCol=C.ROOM_IDX,
        ratingCol=C.CONFIDENCE,
        implicitPrefs=True,
        rank=2,
        maxIter=2,
        seed=1,
    )
    model = als.fit(ratings)
    users = spark.createDataFrame([(0,), (1,)], "user_idx int")
    result = from_array_recommendations(model.recommendForUserSubset(users, 3))
    rows = result.orderBy(C.USER_IDX, C.POSITION).collect()
    assert len(rows) == 6
    assert_contiguous_positions(result)
    for user in (0, 1):
        scores = [row[C.SCORE] for row in rows if row[C.USER_IDX] == user]
        assert scores == sorted(scores, reverse=True)
