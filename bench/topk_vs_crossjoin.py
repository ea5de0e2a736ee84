#!/usr/bin/env python3
"""Compare two ways of scoring every user's top-K with the same ALS model.

A: ``recommendForUserSubset`` (blocked matrix products inside Spark ML) plus a seen-room
anti join, which is what roomrec uses. B: a cross join of every user with every room,
a dot product per pair with Spark SQL higher-order functions, the seen-room anti join and
a per-user window: the approach found in much public evaluation code. The script times
each, forcing it with a count, then counts the (user, room) rows that only one of the two
lists holds.

    .venv/bin/python bench/topk_vs_crossjoin.py --size default --k 10
    .venv/bin/python bench/topk_vs_crossjoin.py --size large --k 10 --user-fraction 0.02
"""

from __future__ import annotations

import argparse
import json
import time


def cross_join_top_k(model, users, seen, k):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    user_factors = model.userFactors.join(
        users.withColumnRenamed("user_idx", "id"), on="id", how="left_semi"
    ).select(F.col("id").alias("user_idx"), F.col("features").alias("u"))
    room_factors = model.itemFactors.select(F.col("id").alias("room_idx"),
                                            F.col("features").alias("v"))
    dot = F.aggregate(F.zip_with("u", "v", lambda a, b: a * b), F.lit(0.0), lambda s, x: s + x)
    by_user = Window.partitionBy("user_idx").orderBy(F.desc("score"), "room_idx")
    return (
        user_factors
        .crossJoin(room_factors)
        .select("user_idx", "room_idx", dot.alias("score"))
        .join(seen, on=["user_idx", "room_idx"], how="left_anti")
        .withColumn("position", F.row_number().over(by_user))
        .filter(F.col("position") <= k)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--user-fraction", type=float, default=1.0,
                        help="share of the users that both approaches score (default: 1, all "
                             "users). Below 1, recommendForUserSubset is also timed on "
                             "all users")
    args = parser.parse_args()
    if not 0 < args.user_fraction <= 1:
        parser.error(f"--user-fraction must be in (0, 1], got {args.user_fraction}")

    import tempfile

    from pyspark.sql import functions as F

    from roomrec import columns as C
    from roomrec.als import fit_als, recommend_top_k
    from roomrec.pipeline import build_interactions, ingest, resolve_inputs, workspace
    from roomrec.spark import get_spark

    spark = get_spark(app_name="bench-topk", master=f"local[{args.cores}]",
                      shuffle_partitions=4 * args.cores, conf={"spark.driver.memory": "8g"})
    inputs = resolve_inputs("", "", "", args.size, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        ws = workspace(folder)
        logs = ingest(spark, inputs, input_format="events", input_options={}, start_date="",
                      end_date="", max_rejected_share=0.05, ws=ws)
        stage = build_interactions(
            logs.visits, None, confidence_scheme="log_visits", own_room_weight=0.0,
            confidence_normalization="none", dwell_unit_s=60.0, min_user_rooms=1,
            min_room_users=2,
        )
        matrix = stage.matrix.cache()
        model = fit_als(matrix, rank=args.rank, max_iter=5, seed=args.seed)
        all_users = matrix.select(C.USER_IDX).distinct().cache()
        seen = matrix.select(C.USER_IDX, C.ROOM_IDX).cache()
        n_users, n_rooms = all_users.count(), model.itemFactors.count()
        seen.count()

        timings = {}
        results = {}
        users = all_users
        if args.user_fraction < 1:
            start = time.perf_counter()
            recommend_top_k(model, all_users, k=args.k, seen=seen).count()
            timings["recommend_for_user_subset_all_users"] = round(
                time.perf_counter() - start, 2)
            print(f"recommend_for_user_subset, all {n_users} users: "
                  f"{timings['recommend_for_user_subset_all_users']} s", flush=True)
            users = all_users.sample(fraction=args.user_fraction, seed=args.seed).cache()
        n_scored = users.count()
        for name, build in (
            ("recommend_for_user_subset", lambda: recommend_top_k(model, users, k=args.k,
                                                                  seen=seen)),
            ("cross_join", lambda: cross_join_top_k(model, users, seen, args.k)),
        ):
            start = time.perf_counter()
            frame = build().select(C.USER_IDX, C.ROOM_IDX).cache()
            frame.count()
            timings[name] = round(time.perf_counter() - start, 2)
            results[name] = frame
            print(f"{name}: {timings[name]} s", flush=True)
        # A full outer join on (user, room) finds the rows only one side has. Scores that
        # tie in float precision may order differently at the K-th place, and roomrec's
        # list is shorter for a user who has seen more rooms than the headroom. So the
        # script reports differing rows instead of failing on them.
        subset, cross = (frame.withColumn(name, F.lit(True)) for name, frame in results.items())
        differing = (
            subset.join(cross, on=[C.USER_IDX, C.ROOM_IDX], how="full_outer")
            .filter(F.col("recommend_for_user_subset").isNull() | F.col("cross_join").isNull())
            .count()
        )
        rows = {name: frame.count() for name, frame in results.items()}
    print(json.dumps({
        "size": args.size, "users": n_users, "users_scored": n_scored, "rooms": n_rooms,
        "k": args.k,
        "rank": args.rank, "cores": args.cores, "seconds": timings,
        "ratio_cross_join_to_subset": round(timings["cross_join"]
                                            / timings["recommend_for_user_subset"], 2),
        "rows": rows,
        "rows_differing": differing,
    }, indent=2))


if __name__ == "__main__":
    main()
