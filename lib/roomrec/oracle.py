"""Lists from the affinities the generator planted: a reference point for any model.

Ranking rooms by true affinity shows how much of the planted taste a model recovers.
It is not a strict upper bound: the generator's choices also weigh popularity, room age
and access, and the affinities are those at the end of the window, so ALS can score
above it (it does on repeat visits of the default data). It exists only for generated
data.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C


def affinities_path(data_dir: str) -> str | None:
    """Return the planted affinities file of a generated data set, or None if there is none."""
    path = Path(data_dir, "truth", "affinities.csv.gz")
    return str(path) if path.is_file() else None


def read_affinities(spark, path: str) -> DataFrame:
    """Read ``user_id, room_id, affinity`` rows written by the generator."""
    return (
        spark.read
        .option("header", True)
        .schema(f"{C.USER_ID} string, {C.ROOM_ID} string, {C.AFFINITY} double")
        .csv(path)
    )


def oracle_lists(
    affinities: DataFrame,
    user_index: DataFrame,
    room_index: DataFrame,
    users: DataFrame,
    *,
    k: int,
    exclude: DataFrame | None = None,
) -> DataFrame:
    """Return each user's top-K rooms by planted affinity as a recommendation list.

    ``exclude`` contains (``user_idx``, ``room_idx``) pairs to leave out, for example the
    rooms seen in training when the list serves the discovery slice.
    """
    candidates = (
        affinities
        .join(user_index, on=C.USER_ID, how="inner")
        .join(room_index, on=C.ROOM_ID, how="inner")
        .join(users.select(C.USER_IDX), on=C.USER_IDX, how="left_semi")
    )
    if exclude is not None:
        candidates = candidates.join(
            exclude.select(C.USER_IDX, C.ROOM_IDX), on=[C.USER_IDX, C.ROOM_IDX], how="left_anti"
        )
    by_user = Window.partitionBy(C.USER_IDX).orderBy(F.desc(C.AFFINITY), C.ROOM_IDX)
    return (
        candidates
        .withColumn(C.POSITION, F.row_number().over(by_user))
        .filter(F.col(C.POSITION) <= k)
        .select(
            C.USER_IDX,
            C.ROOM_IDX,
            F.col(C.AFFINITY).alias(C.SCORE),
            C.POSITION,
            F.lit("oracle").alias(C.SOURCE),
        )
    )
