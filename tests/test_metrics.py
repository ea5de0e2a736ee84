"""Ranking and list metrics against hand-computed values and Spark's RankingMetrics."""

from __future__ import annotations

import math
import random

import pytest
from pyspark.ml.evaluation import RankingEvaluator
from pyspark.mllib.evaluation import RankingMetrics

from roomrec import columns as C
from roomrec.metrics import (
    list_metrics,
    per_user_metrics,
    per_user_metrics_multi_k,
    ranking_metrics,
    ranking_metrics_multi_k,
)

EXACT = 1e-9
LOG2_3 = math.log2(3)

# Lists and relevant sets at K = 3. Positions are 1-based, as the list producer writes them.
# user 1: list 10, 11, 12, 13; relevant {11, 13, 20}. Room 13 is at position 4 > K.
# user 2: list 20, 21, 22; relevant {22}: fewer relevant rooms than K.
# user 3: no recommendations; relevant {30, 31}.
# user 4: list 40, 40, 41 with a duplicate; relevant {40, 41}.
# user 5: list 50, 51; no relevant rooms, so not an evaluation user by default.
# user 6: list 61, 62, 63, 60; relevant {60} only at position 4 > K.
# user 8: list 80, 90, 81; relevant {80, 81, 82, 83}: more relevant rooms than K.
LISTS = {
    1: [10, 11, 12, 13],
    2: [20, 21, 22],
    4: [40, 40, 41],
    5: [50, 51],
    6: [61, 62, 63, 60],
    8: [80, 90, 81],
}
RELEVANT = {1: [11, 13, 20], 2: [22], 3: [30, 31], 4: [40, 41], 6: [60], 8: [80, 81, 82, 83]}

# Expected values at K = 3, computed by hand.
# user 1: one hit (11) at position 2.
#   precision 1/3, recall 1/3.
#   DCG = 1/log2(3); IDCG over min(3, 3) = 3 positions = 1 + 1/log2(3) + 1/log2(4).
#   AP = precision@2 / min(3, 3) = (1/2) / 3 = 1/6. RR = 1/2.
# user 2: one hit (22) at position 3.
#   precision 1/3, recall 1/1. DCG = 1/log2(4) = 0.5; IDCG over 1 position = 1.
#   AP = precision@3 / min(1, 3) = 1/3. RR = 1/3.
# user 3: nothing recommended, so 0 everywhere.
# user 4: 40 counts once at position 1; the copy at position 2 is not a hit; 41 at position 3.
#   precision 2/3, recall 2/2. DCG = 1 + 1/log2(4) = 1.5; IDCG over 2 positions = 1 + 1/log2(3).
#   AP = (1/1 + 2/3) / min(2, 3) = 5/6. RR = 1.
# user 6: the only relevant room is at position 4 > K, so 0 everywhere.
# user 8: hits 80 at position 1 and 81 at position 3.
#   precision 2/3, recall 2/4. DCG = 1 + 1/log2(4) = 1.5; IDCG over min(4, 3) = 3 positions.
#   AP = (1/1 + 2/3) / min(4, 3) = 5/9. RR = 1.
EXPECTED_AT_3 = {
    1: {
        "n_relevant": 3,
        "n_hits": 1,
        C.PRECISION: 1 / 3,
        C.RECALL: 1 / 3,
        C.NDCG: (1 / LOG2_3) / (1 + 1 / LOG2_3 + 0.5),
        C.AP: 1 / 6,
        C.HIT: 1.0,
        C.RR: 1 / 2,
    },
    2: {
        "n_relevant": 1,
        "n_hits": 1,
        C.PRECISION: 1 / 3,
        C.RECALL: 1.0,
        C.NDCG: 0.5,
        C.AP: 1 / 3,
        C.HIT: 1.0,
        C.RR: 1 / 3,
    },
    3: {
        "n_relevant": 2,
        "n_hits": 0,
        C.PRECISION: 0.0,
        C.RECALL: 0.0,
        C.NDCG: 0.0,
        C.AP: 0.0,
        C.HIT: 0.0,
        C.RR: 0.0,
    },
    4: {
        "n_relevant": 2,
        "n_hits": 2,
        C.PRECISION: 2 / 3,
        C.RECALL: 1.0,
        C.NDCG: 1.5 / (1 + 1 / LOG2_3),
        C.AP: 5 / 6,
        C.HIT: 1.0,
        C.RR: 1.0,
    },
    6: {
        "n_relevant": 1,
        "n_hits": 0,
        C.PRECISION: 0.0,
        C.RECALL: 0.0,
        C.NDCG: 0.0,
        C.AP: 0.0,
        C.HIT: 0.0,
        C.RR: 0.0,
    },
    8: {
        "n_relevant": 4,
        "n_hits": 2,
        C.PRECISION: 2 / 3,
        C.RECALL: 1 / 2,
        C.NDCG: 1.5 / (1 + 1 / LOG2_3 + 0.5),
        C.AP: 5 / 9,
        C.HIT: 1.0,
        C.RR: 1.0,
    },
}


def list_frame(spark, lists: dict[int, list[int]]):
    rows = [
        (user, room, float(len(rooms) - index), index + 1)
        for user, rooms in lists.items()
        for index, room in enumerate(rooms)
    ]
    return spark.createDataFrame(rows, "user_idx int, room_idx int, score double, position int")


def relevant_frame(spark, relevant: dict[int, list[int]]):
    rows = [(user, room) for user, rooms in relevant.items() for room in rooms]
    return spark.createDataFrame(rows, "user_idx int, room_idx int")


def users_frame(spark, users: list[int]):
    return spark.createDataFrame([(user,) for user in users], "user_idx int")


@pytest.fixture(scope="module")
def hand_case(spark):
    return list_frame(spark, LISTS), relevant_frame(spark, RELEVANT)


def test_per_user_metrics_hand_table(hand_case):
    recs, relevant = hand_case
    per_user = per_user_metrics(recs, relevant, k=3).collect()
    rows = {row[C.USER_IDX]: row.asDict() for row in per_user}
    assert sorted(rows) == [1, 2, 3, 4, 6, 8]
    for user, expected in EXPECTED_AT_3.items():
        for name, value in expected.items():
            assert rows[user][name] == pytest.approx(value, abs=EXACT), (user, name)


def test_ranking_metrics_hand_means(hand_case):
    recs, relevant = hand_case
    means = ranking_metrics(recs, relevant, k=3)
    # Means over users 1, 2, 3, 4, 6 and 8 (user 5 has no relevant room).
    assert means["n_users"] == 6
    assert means["precision"] == pytest.approx((1 / 3 + 1 / 3 + 2 / 3 + 2 / 3) / 6, abs=EXACT)
    assert means["recall"] == pytest.approx((1 / 3 + 1 + 1 + 1 / 2) / 6, abs=EXACT)
    expected_ndcg = sum(user[C.NDCG] for user in EXPECTED_AT_3.values()) / 6
    assert means["ndcg"] == pytest.approx(expected_ndcg, abs=EXACT)
    assert means["map"] == pytest.approx((1 / 6 + 1 / 3 + 5 / 6 + 5 / 9) / 6, abs=EXACT)
    assert means["hit_rate"] == pytest.approx(4 / 6, abs=EXACT)
    assert means["mrr"] == pytest.approx((1 / 2 + 1 / 3 + 1 + 1) / 6, abs=EXACT)


def test_user_without_recommendations_stays_in_denominator(hand_case):
    recs, relevant = hand_case
    per_user = per_user_metrics(recs, relevant, k=3)
    user_3 = per_user.filter(f"{C.USER_IDX} = 3").collect()
    assert len(user_3) == 1
    assert user_3[0][C.PRECISION] == 0.0
    assert user_3[0][C.RECALL] == 0.0
    # Dropping user 3 would give 2 / 5 instead of 2 / 6.
    assert ranking_metrics(recs, relevant, k=3)["precision"] == pytest.approx(2 / 6, abs=EXACT)


def test_users_argument_sets_denominator(spark, hand_case):
    recs, relevant = hand_case
    # User 5 has a list but no relevant rooms, and user 7 has neither. Users 6 and 8 are left
    # out.
    users = users_frame(spark, [1, 2, 3, 4, 5, 7])
    per_user = per_user_metrics(recs, relevant, k=3, users=users).collect()
    rows = {row[C.USER_IDX]: row for row in per_user}
    assert sorted(rows) == [1, 2, 3, 4, 5, 7]
    assert rows[5][C.N_RELEVANT] == 0
    assert rows[5][C.RECALL] == 0.0
    assert rows[5][C.NDCG] == 0.0
    assert rows[7][C.PRECISION] == 0.0
    means = ranking_metrics(recs, relevant, k=3, users=users)
    assert means["n_users"] == 6
    assert means["precision"] == pytest.approx((4 / 3) / 6, abs=EXACT)


def test_empty_relevant_set_is_excluded(spark):
    recs = list_frame(spark, {1: [1, 2], 2: [3, 4]})
    relevant = relevant_frame(spark, {1: [2]})
    means = ranking_metrics(recs, relevant, k=2)
    # Only user 1 is evaluated: a hit at position 2.
    assert means["n_users"] == 1
    assert means["precision"] == pytest.approx(1 / 2, abs=EXACT)
    assert means["mrr"] == pytest.approx(1 / 2, abs=EXACT)


def test_duplicate_relevant_pairs_count_once(spark):
    recs = list_frame(spark, {1: [1, 2]})
    relevant = relevant_frame(spark, {1: [1, 1, 5]})
    row = per_user_metrics(recs, relevant, k=2).first()
    assert row[C.N_RELEVANT] == 2
    assert row[C.RECALL] == pytest.approx(1 / 2, abs=EXACT)


def test_multi_k_matches_single_k(hand_case):
    recs, relevant = hand_case
    combined = ranking_metrics_multi_k(recs, relevant, k_values=[1, 3, 4, 3])
    assert sorted(combined) == [1, 3, 4]
    for k in (1, 3, 4):
        single = ranking_metrics(recs, relevant, k=k)
        for name, value in single.items():
            assert combined[k][name] == pytest.approx(value, abs=EXACT), (k, name)
    # At K = 4 user 1 also hits 13 at position 4 and user 6 hits 60 at position 4.
    wide = per_user_metrics_multi_k(recs, relevant, k_values=[4])
    user_6 = wide.filter(f"{C.USER_IDX} = 6").first()
    assert user_6[f"{C.RR}_4"] == pytest.approx(1 / 4, abs=EXACT)


def test_invalid_k_rejected(hand_case):
    recs, relevant = hand_case
    with pytest.raises(ValueError, match="k=0"):
        per_user_metrics(recs, relevant, k=0)


def test_missing_position_column_rejected(hand_case):
    recs, relevant = hand_case
    with pytest.raises(ValueError, match="position"):
        per_user_metrics(recs.drop(C.POSITION), relevant, k=3)


def random_case(seed: int, n_users: int = 40, n_rooms: int = 30):
    rng = random.Random(seed)
    lists, relevant = {}, {}
    for user in range(n_users):
        # Some users get empty lists; lists have no duplicate rooms.
        lists[user] = rng.sample(range(n_rooms), rng.randint(0, 8))
        relevant[user] = rng.sample(range(n_rooms), rng.randint(1, 6))
    return lists, relevant


@pytest.fixture(scope="module")
def random_lists(spark):
    lists, relevant = random_case(seed=7)
    recs = list_frame(spark, {user: rooms for user, rooms in lists.items() if rooms})
    return lists, relevant, recs, relevant_frame(spark, relevant)


def test_parity_with_mllib_ranking_metrics(spark, random_lists):
    lists, relevant, recs, relevant_df = random_lists
    pairs = [(lists[user], relevant[user]) for user in sorted(relevant)]
    spark_metrics = RankingMetrics(spark.sparkContext.parallelize(pairs, 2))
    ours = ranking_metrics_multi_k(recs, relevant_df, k_values=[1, 3, 5, 10])
    for k, means in ours.items():
        assert means["n_users"] == len(pairs)
        assert means["precision"] == pytest.approx(spark_metrics.precisionAt(k), abs=EXACT)
        assert means["recall"] == pytest.approx(spark_metrics.recallAt(k), abs=EXACT)
        assert means["ndcg"] == pytest.approx(spark_metrics.ndcgAt(k), abs=EXACT)
        assert means["map"] == pytest.approx(spark_metrics.meanAveragePrecisionAt(k), abs=EXACT)


def test_parity_with_ranking_evaluator(spark, random_lists):
    lists, relevant, recs, relevant_df = random_lists
    rows = [
        ([float(room) for room in lists[user]], [float(room) for room in relevant[user]])
        for user in sorted(relevant)
    ]
    dataset = spark.createDataFrame(rows, "prediction array<double>, label array<double>")
    ours = ranking_metrics(recs, relevant_df, k=5)
    names = {
        "precisionAtK": "precision",
        "recallAtK": "recall",
        "ndcgAtK": "ndcg",
        "meanAveragePrecisionAtK": "map",
    }
    for spark_name, our_name in names.items():
        evaluator = RankingEvaluator(metricName=spark_name, k=5)
        assert ours[our_name] == pytest.approx(evaluator.evaluate(dataset), abs=EXACT), spark_name


def test_map_without_cutoff_relation(spark, random_lists):
    # Spark's meanAveragePrecision divides by |R| and reads the whole list. On lists cut to
    # K it equals the mean of AP@K * min(|R|, K) / |R|.
    lists, relevant, recs, relevant_df = random_lists
    k = 3
    pairs = [(lists[user][:k], relevant[user]) for user in sorted(relevant)]
    spark_map = RankingMetrics(spark.sparkContext.parallelize(pairs, 2)).meanAveragePrecision
    per_user = per_user_metrics(recs, relevant_df, k=k).collect()
    rescaled = [row[C.AP] * min(row[C.N_RELEVANT], k) / row[C.N_RELEVANT] for row in per_user]
    assert sum(rescaled) / len(rescaled) == pytest.approx(spark_map, abs=EXACT)
    ours = ranking_metrics(recs, relevant_df, k=k)["map"]
    # The two differ on this case because some users have more than K relevant rooms.
    assert abs(ours - spark_map) > 1e-3


def test_duplicates_differ_from_mllib(spark):
    # Spark counts every copy of a listed room; roomrec counts the first copy only.
    lists = {1: [40, 40, 41]}
    relevant = {1: [40, 41]}
    spark_metrics = RankingMetrics(spark.sparkContext.parallelize([(lists[1], relevant[1])], 1))
    assert spark_metrics.precisionAt(3) == pytest.approx(1.0, abs=EXACT)
    assert spark_metrics.recallAt(3) == pytest.approx(1.5, abs=EXACT)
    ours = ranking_metrics(list_frame(spark, lists), relevant_frame(spark, relevant), k=3)
    assert ours["precision"] == pytest.approx(2 / 3, abs=EXACT)
    assert ours["recall"] == pytest.approx(1.0, abs=EXACT)


@pytest.fixture(scope="module")
def list_case(spark):
    # K = 2. Room 3 at position 3 for user 1 is beyond K and must not count.
    recs = list_frame(spark, {1: [1, 2, 3], 2: [1, 3], 3: [1, 4]})
    # Room 4 has no training users. Rooms 2 and 3 tie, so room 2 ranks first.
    popularity = spark.createDataFrame([(1, 4), (2, 2), (3, 2)], "room_idx int, n_users long")
    return recs, popularity


def test_list_metrics_hand_values(list_case):
    recs, popularity = list_case
    result = list_metrics(recs, k=2, n_rooms=5, room_popularity=popularity, n_train_users=16)
    # Pairs in the top 2: (1,1) (1,2) (2,1) (2,3) (3,1) (3,4).
    assert result["n_recommendations"] == 6
    assert result["n_users"] == 3
    assert result["coverage"] == pytest.approx(4 / 5, abs=EXACT)
    # Popularity ranks: room 1 -> 1, room 2 -> 2, room 3 -> 3, room 4 unranked -> 4.
    assert result["mean_popularity_rank"] == pytest.approx((1 + 2 + 1 + 3 + 1 + 4) / 6, abs=EXACT)
    # Counts over 5 rooms, ascending: 0, 1, 1, 1, 3; sum 6, n 5.
    # sum((2i - 6) * x_i) = -4*0 - 2*1 + 0*1 + 2*1 + 4*3 = 12; Gini = 12 / (5 * 6) = 0.4.
    assert result["gini"] == pytest.approx(0.4, abs=EXACT)
    # -log2(share): room 1 4/16 -> 2, rooms 2 and 3 2/16 -> 3, room 4 counts 1/16 -> 4.
    assert result["novelty"] == pytest.approx((2 + 3 + 2 + 3 + 2 + 4) / 6, abs=EXACT)


def test_list_metrics_novelty_default_denominator(list_case):
    recs, popularity = list_case
    result = list_metrics(recs, k=2, n_rooms=5, room_popularity=popularity)
    # Shares over the popularity sum 4 + 2 + 2 = 8: room 1 -> 1, rooms 2, 3 -> 2, room 4 -> 3.
    assert result["novelty"] == pytest.approx((1 + 2 + 1 + 2 + 1 + 3) / 6, abs=EXACT)


def test_list_metrics_even_counts_have_zero_gini(spark):
    recs = list_frame(spark, {1: [1, 2], 2: [3, 4]})
    popularity = spark.createDataFrame([(1, 1)], "room_idx int, n_users long")
    result = list_metrics(recs, k=2, n_rooms=4, room_popularity=popularity, n_train_users=4)
    assert result["gini"] == pytest.approx(0.0, abs=EXACT)
    assert result["coverage"] == pytest.approx(1.0, abs=EXACT)


def test_list_metrics_rejects_small_catalog(list_case):
    recs, popularity = list_case
    with pytest.raises(ValueError, match="n_rooms=3"):
        list_metrics(recs, k=2, n_rooms=3, room_popularity=popularity)
