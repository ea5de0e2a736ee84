"""Tests of the Spark session helpers on the shared local session."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F

from roomrec.spark import materialize


def optimized_plan(frame) -> str:
    return frame._jdf.queryExecution().optimizedPlan().toString()


def nested_frame(spark):
    """Return a frame whose plan joins two cached aggregates of the same input."""
    visits = spark.createDataFrame(
        [("u1", "r1", 3), ("u1", "r2", 1), ("u2", "r1", 2), ("u3", "r3", 5)],
        "user_id string, room_id string, visit_count int",
    ).cache()
    per_user = visits.groupBy("user_id").agg(F.sum("visit_count").alias("user_visits")).cache()
    per_room = visits.groupBy("room_id").agg(F.count(F.lit(1)).alias("room_users")).cache()
    return visits.join(per_user, "user_id").join(per_room, "room_id")


def test_materialize_keeps_rows(spark):
    frame = nested_frame(spark)
    expected = sorted(map(tuple, frame.collect()))

    result = materialize(frame)

    assert sorted(map(tuple, result.collect())) == expected
    assert result.columns == frame.columns


def test_materialize_cuts_plan(spark):
    frame = nested_frame(spark)
    assert "Join" in optimized_plan(frame)

    plan = optimized_plan(materialize(frame))

    assert "Join" not in plan
    assert "InMemoryRelation" in plan
    assert len(plan) < len(optimized_plan(frame)) / 2


def test_materialize_writes_checkpoint(spark):
    checkpoint_dir = Path(spark.sparkContext.getCheckpointDir().replace("file:", "", 1))
    before = set(checkpoint_dir.rglob("rdd-*"))

    materialize(nested_frame(spark))

    assert set(checkpoint_dir.rglob("rdd-*")) - before
