"""Tests for roomrec.als, roomrec.tuning and roomrec.recommend on a known block structure."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.als import fit_als, recommend_top_k
from roomrec.recommend import recommend_for_all
from roomrec.tuning import best_settings, build_trials

# Two communities: users 0-9 visit rooms 0-5, users 10-19 visit rooms 6-11. Each user
# misses two rooms of their own block, which ALS should rank above the other block.
N_USERS, BLOCK = 20, 6


def _held_out(user: int) -> set[int]:
    base = 0 if user < 10 else BLOCK
    return {base + user % BLOCK, base + (user + 1) % BLOCK}


@pytest.fixture(scope="module")
def matrix(spark):
    rows = []
    for user in range(N_USERS):
        base = 0 if user < 10 else BLOCK
        for room in range(base, base + BLOCK):
            if room not in _held_out(user):
                rows.append((user, room, 1.0 + (user + room) % 3))
    return spark.createDataFrame(rows, "user_idx int, room_idx int, confidence double").cache()


@pytest.fixture(scope="module")
def model(matrix):
    return fit_als(matrix, rank=4, reg_param=0.01, alpha=10.0, max_iter=10, num_blocks=2)


def test_recommend_top_k_finds_held_out_block_rooms(spark, model, matrix):
    users = spark.range(N_USERS).select(F.col("id").cast("int").alias(C.USER_IDX))
    recs = recommend_top_k(model, users, k=2, seen=matrix).collect()
    by_user: dict[int, set[int]] = {}
    for row in recs:
        by_user.setdefault(row[C.USER_IDX], set()).add(row[C.ROOM_IDX])
    assert len(by_user) == N_USERS
    hits = sum(by_user[user] == _held_out(user) for user in range(N_USERS))
    # A random pick of 2 of the 8 unseen rooms matches 1 time in 28, so chance gives
    # about 1 of 20 users. This seed gives 16.
    assert hits >= 14


def test_recommend_top_k_positions_and_source(spark, model, matrix):
    users = spark.createDataFrame([(0,)], "user_idx int")
    rows = recommend_top_k(model, users, k=3, seen=matrix).orderBy(C.POSITION).collect()
    assert [row[C.POSITION] for row in rows] == [1, 2, 3]
    assert {row[C.SOURCE] for row in rows} == {"als"}
    scores = [row[C.SCORE] for row in rows]
    assert scores == sorted(scores, reverse=True)
    seen = {r[C.ROOM_IDX] for r in matrix.filter(F.col(C.USER_IDX) == 0).collect()}
    assert not seen & {row[C.ROOM_IDX] for row in rows}


def test_recommend_top_k_unknown_user_gets_no_rows(spark, model):
    users = spark.createDataFrame([(999,)], "user_idx int")
    assert recommend_top_k(model, users, k=3).count() == 0


def test_fit_als_same_seed_same_factors(matrix):
    first = fit_als(matrix, rank=4, max_iter=5, num_blocks=2, seed=7)
    second = fit_als(matrix, rank=4, max_iter=5, num_blocks=2, seed=7)
    a = {r.id: r.features for r in first.userFactors.collect()}
    b = {r.id: r.features for r in second.userFactors.collect()}
    assert a == b


def test_recommend_for_all_filters_and_falls_back(spark, model, matrix):
    user_index = spark.createDataFrame(
        [(f"u{n}", n) for n in range(N_USERS)] + [("newcomer", 50)],
        "user_id string, user_idx int",
    )
    room_index = spark.createDataFrame([(f"r{n}", n) for n in range(12)],
                                       "room_id string, room_idx int")
    # u0 owns r0 (held out for u0), r1 is private (held out for u0 too).
    rooms = spark.createDataFrame(
        [(f"r{n}", "u0" if n == 0 else "u19", n != 1) for n in range(12)],
        "room_id string, owner_id string, is_public boolean",
    )
    lists = recommend_for_all(model, matrix, rooms, user_index, room_index, top_n=3)
    rows = lists.collect()
    u0 = [r for r in rows if r[C.USER_ID] == "u0"]
    assert len(u0) == 3
    assert not {"r0", "r1"} & {r[C.ROOM_ID] for r in u0}
    newcomer = sorted((r for r in rows if r[C.USER_ID] == "newcomer"),
                      key=lambda r: r[C.POSITION])
    assert [r[C.POSITION] for r in newcomer] == [1, 2, 3]
    assert {r[C.SOURCE] for r in newcomer} == {"global_popularity"}
    assert "r1" not in {r[C.ROOM_ID] for r in newcomer}  # private rooms never listed
    assert all(r[C.ROOM_ID] != "r1" for r in rows)


def test_build_trials_grid_and_random():
    space = {"confidence_scheme": ["log_visits", "bm25"], "rank": [8, 16],
             "reg_param": [0.1], "alpha": [1.0, 10.0], "max_iter": [5]}
    grid = build_trials(space)
    assert len(grid) == 8
    assert grid[0] == {"confidence_scheme": "log_visits", "rank": 8, "reg_param": 0.1,
                       "alpha": 1.0, "max_iter": 5}
    drawn = build_trials(space, search="random", n_trials=3, seed=1)
    assert len(drawn) == 3
    assert drawn == build_trials(space, search="random", n_trials=3, seed=1)
    assert all(trial in grid for trial in drawn)


def test_build_trials_rejects_bad_space():
    with pytest.raises(ValueError, match="missing: \\['max_iter'\\]"):
        build_trials({"confidence_scheme": ["visits"], "rank": [8], "reg_param": [0.1],
                      "alpha": [1.0]})
    with pytest.raises(ValueError, match="unknown confidence_scheme 'clicks'"):
        build_trials({"confidence_scheme": ["clicks"], "rank": [8], "reg_param": [0.1],
                      "alpha": [1.0], "max_iter": [5]})


def test_best_settings_breaks_ties_by_keys():
    import pandas as pd

    table = pd.DataFrame([
        {"confidence_scheme": "visits", "rank": 16, "reg_param": 0.1, "alpha": 1.0,
         "max_iter": 5, "ndcg": 0.3},
        {"confidence_scheme": "visits", "rank": 8, "reg_param": 0.1, "alpha": 1.0,
         "max_iter": 5, "ndcg": 0.3},
        {"confidence_scheme": "bm25", "rank": 8, "reg_param": 0.1, "alpha": 1.0,
         "max_iter": 5, "ndcg": 0.2},
    ])
    assert best_settings(table) == {"confidence_scheme": "visits", "rank": 8,
                                    "reg_param": 0.1, "alpha": 1.0, "max_iter": 5}


def test_cold_start_lists_skip_own_and_private_rooms(spark):
    from roomrec.recommend import cold_start_lists

    pairs = spark.createDataFrame(
        [(u, r) for u in range(5) for r in range(4) if r <= u], "user_idx int, room_idx int"
    )  # room 0 has 5 users, room 1 has 4, room 2 has 3, room 3 has 2
    room_index = spark.createDataFrame([(f"r{n}", n) for n in range(4)],
                                       "room_id string, room_idx int")
    rooms = spark.createDataFrame(
        [("r0", "new1", True), ("r1", "x", False), ("r2", "x", True), ("r3", "x", True)],
        "room_id string, owner_id string, is_public boolean",
    )
    new_users = spark.createDataFrame([("new1",), ("new2",)], "user_id string")
    rows = cold_start_lists(new_users, pairs, rooms, room_index, top_n=2).collect()
    lists = {}
    for row in sorted(rows, key=lambda r: (r[C.USER_ID], r[C.POSITION])):
        lists.setdefault(row[C.USER_ID], []).append(row[C.ROOM_ID])
    assert lists == {"new1": ["r2", "r3"], "new2": ["r0", "r2"]}
    assert {row[C.SOURCE] for row in rows} == {"global_popularity"}
