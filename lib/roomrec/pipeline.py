"""Stage functions the notebooks call: each reads its inputs, runs one step, writes artifacts.

A notebook cell contains parameters, one call into this module, and a table or a plot.
Everything that decides a result lives here, where unit tests reach it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.interactions import (
    add_confidence,
    aggregate_visits,
    apply_index,
    build_index,
    filter_support,
)
from roomrec.notebook import artifacts_path, read_json, write_json
from roomrec.spark import materialize

logger = logging.getLogger(__name__)

ROOMS_SCHEMA = (
    f"{C.ROOM_ID} string, {C.OWNER_ID} string, {C.NAME} string, {C.DESCRIPTION} string, "
    f"{C.TAGS} array<string>, {C.CATEGORY} string, {C.LANGUAGE} string, "
    f"{C.CREATED_AT} timestamp, {C.IS_PUBLIC} boolean"
)
USERS_SCHEMA = f"{C.USER_ID} string, {C.REGISTERED_AT} timestamp, {C.LANGUAGE} string"


@dataclass
class Inputs:
    """Locations of one data set's tables; empty strings mean the table is absent."""

    events: str
    rooms: str = ""
    users: str = ""
    affinities: str = ""  # planted truth; only generated data has it


@dataclass(frozen=True)
class Workspace:
    """Output locations of a run: small files for people, Parquet for Spark.

    ``artifacts_dir`` is a local folder for JSON, CSV and plots. ``data_dir`` contains the
    Parquet tables, which every executor must reach: on a cluster an ``hdfs://`` or
    ``s3://`` folder, locally a folder below ``artifacts_dir``.
    """

    artifacts_dir: str
    data_dir: str

    def table(self, name: str) -> str:
        """Return the location of the Parquet table ``name``."""
        if "://" in self.data_dir:
            return self.data_dir.rstrip("/") + "/" + name
        return artifacts_path(self.data_dir, name)


def workspace(artifacts_dir: str, data_dir: str = "") -> Workspace:
    """Return the run's workspace; an empty ``data_dir`` means ``<artifacts_dir>/data``."""
    if "://" in artifacts_dir:
        raise ValueError(
            f"artifacts_dir must be a local folder, got {artifacts_dir!r}; put the "
            "cluster location in data_dir (Parquet tables) and keep artifacts_dir local"
        )
    return Workspace(artifacts_dir, data_dir or str(Path(artifacts_dir, "data")))


def resolve_inputs(
    input_path: str, rooms_path: str, users_path: str, dataset_size: str, seed: int
) -> Inputs:
    """Return the input locations, generating the built-in data when ``input_path`` is empty."""
    if input_path:
        return Inputs(events=input_path, rooms=rooms_path, users=users_path)
    from roomrec.generate import ensure_generated

    root = Path(ensure_generated(size=dataset_size, seed=seed))
    truth = root / "truth" / "affinities.csv.gz"
    return Inputs(
        events=str(root / "events"),
        rooms=rooms_path or str(root / "rooms"),
        users=users_path or str(root / "users"),
        affinities=str(truth) if truth.is_file() else "",
    )


def read_rooms(spark: SparkSession, path: str) -> DataFrame | None:
    """Read the rooms table (JSON lines or Parquet), or return None when ``path`` is empty.

    Timestamps are read with the session time zone, UTC.
    """
    if not path:
        return None
    if path.endswith(".parquet") or Path(path, "_SUCCESS").exists():
        return spark.read.parquet(path)
    return spark.read.schema(ROOMS_SCHEMA).option("mode", "FAILFAST").json(path)


def read_users(spark: SparkSession, path: str) -> DataFrame | None:
    """Read the users table, or return None when ``path`` is empty."""
    if not path:
        return None
    return spark.read.schema(USERS_SCHEMA).option("mode", "FAILFAST").json(path)


@dataclass
class IngestStage:
    """Output of :func:`ingest`: cleaned visits and the accounting of every record."""

    visits: DataFrame
    quality: Any  # pandas.DataFrame
    counts: dict
    bots: DataFrame | None = None
    events: DataFrame | None = None  # accepted events, for input_format="events"


def ingest(
    spark: SparkSession,
    inputs: Inputs,
    *,
    input_format: str,
    input_options: dict,
    start_date: str,
    end_date: str,
    max_rejected_share: float,
    ws: Workspace,
    event_options: dict | None = None,
) -> IngestStage:
    """Read logs of any supported kind into visits, write rejects, check the rejected share.

    Raises
    ------
    roomrec.ingest.RejectedShareError
        When more than ``max_rejected_share`` of the records were rejected.
    """
    from roomrec.adapters import load_visits
    from roomrec.ingest import check_rejected_share, write_rejected

    options = dict(input_options)
    if input_format == "events":
        for key, value in (event_options or {}).items():
            options.setdefault(key, value)
        options.setdefault("start_date", start_date)
        options.setdefault("end_date", end_date)
        rooms = read_rooms(spark, inputs.rooms)
        if rooms is not None:
            options.setdefault("rooms", rooms)
    loaded = load_visits(spark, input_format=input_format, path=inputs.events, **options)
    write_rejected(loaded, ws.table("rejected"))
    check_rejected_share(loaded.counts, max_rejected_share=max_rejected_share,
                         source=inputs.events)
    # Every later step reads the visits several times; without the cache each action
    # would parse and sessionize the raw logs again.
    return IngestStage(loaded.visits.cache(), loaded.quality, loaded.counts, loaded.bots,
                       loaded.events)


@dataclass
class InteractionsStage:
    """Output of :func:`build_interactions`."""

    pairs: DataFrame  # every (user, room) pair with counts and indexes
    matrix: DataFrame  # what ALS trains on: support-filtered, with confidence
    user_index: DataFrame
    room_index: DataFrame
    counts: dict


def build_interactions(
    visits: DataFrame,
    rooms: DataFrame | None,
    *,
    confidence_scheme: str,
    own_room_weight: float,
    confidence_normalization: str,
    dwell_unit_s: float,
    min_user_rooms: int,
    min_room_users: int,
) -> InteractionsStage:
    """Aggregate visits per (user, room), index ids densely and compute confidence."""
    pairs = materialize(aggregate_visits(visits, rooms))
    user_index = build_index(pairs, C.USER_ID, C.USER_IDX).cache()
    room_index = build_index(pairs, C.ROOM_ID, C.ROOM_IDX).cache()
    indexed = apply_index(pairs, user_index, room_index)
    matrix = training_matrix(
        indexed,
        confidence_scheme=confidence_scheme,
        own_room_weight=own_room_weight,
        confidence_normalization=confidence_normalization,
        dwell_unit_s=dwell_unit_s,
        min_user_rooms=min_user_rooms,
        min_room_users=min_room_users,
    )
    counts = {
        "pairs": indexed.count(),
        "users": user_index.count(),
        "rooms": room_index.count(),
        "matrix_pairs": matrix.count(),
    }
    return InteractionsStage(indexed, matrix, user_index, room_index, counts)


def training_matrix(
    pairs: DataFrame,
    *,
    confidence_scheme: str,
    own_room_weight: float,
    confidence_normalization: str,
    dwell_unit_s: float,
    min_user_rooms: int,
    min_room_users: int,
) -> DataFrame:
    """Filter pairs by minimum support, then add the confidence ALS trains on."""
    supported = filter_support(
        pairs, min_user_rooms=min_user_rooms, min_room_users=min_room_users
    ).interactions
    return add_confidence(
        supported,
        confidence_scheme,
        own_room_weight=own_room_weight,
        normalization=confidence_normalization,
        dwell_unit_s=dwell_unit_s,
    )


def write_interactions(
    stage: InteractionsStage,
    visits: DataFrame,
    rooms: DataFrame | None,
    inputs: Inputs,
    ws: Workspace,
) -> None:
    """Write visits, pairs, matrix, id maps and rooms as Parquet for the later notebooks.

    ``inputs.json`` records where the data came from, so that the evaluation can find the
    planted affinities of generated data.
    """
    write_json(ws.artifacts_dir, "inputs", asdict(inputs))
    if rooms is not None:
        rooms.write.mode("overwrite").parquet(ws.table("rooms"))
    users = read_users(visits.sparkSession, inputs.users)
    if users is not None:
        users.write.mode("overwrite").parquet(ws.table("users"))
    outputs = {
        "visits": visits,
        "interactions": stage.pairs,
        "matrix": stage.matrix,
        "user_index": stage.user_index,
        "room_index": stage.room_index,
    }
    for name, frame in outputs.items():
        frame.write.mode("overwrite").parquet(ws.table(name))


def read_artifact(spark: SparkSession, ws: Workspace, name: str) -> DataFrame:
    """Read a Parquet table written by ``02_build_interactions``."""
    path = ws.table(name)
    if "://" not in path and not Path(path).exists():
        raise FileNotFoundError(
            f"{path} not found; run 02_build_interactions first with the same "
            "artifacts_dir and data_dir"
        )
    return spark.read.parquet(path)


def dataset_window(visits: DataFrame) -> dict:
    """Return the first and last visit start, and whether the data has timestamps at all."""
    row = visits.agg(
        F.min(C.START_TS).alias("first"), F.max(C.START_TS).alias("last")
    ).first()
    return {"first": row["first"], "last": row["last"], "has_time": row["last"] is not None}


def read_rooms_artifact(spark: SparkSession, ws: Workspace) -> DataFrame | None:
    """Read the rooms table copied by ``02_build_interactions``, or None if the data had none."""
    inputs = read_json(ws.artifacts_dir, "inputs", written_by="02_build_interactions")
    if not inputs.get("rooms"):
        return None
    return spark.read.parquet(ws.table("rooms"))


def read_users_artifact(spark: SparkSession, ws: Workspace) -> DataFrame | None:
    """Read the users table copied by ``02_build_interactions``, or None if the data had none."""
    inputs = read_json(ws.artifacts_dir, "inputs", written_by="02_build_interactions")
    if not inputs.get("users"):
        return None
    return spark.read.parquet(ws.table("users"))


@dataclass
class ConfidenceSummary:
    """Quantiles and a histogram of the confidence values."""

    quantiles: Any  # pandas.DataFrame
    histogram: Any  # pandas.DataFrame


def confidence_summary(matrix: DataFrame, *, bins: int = 30) -> ConfidenceSummary:
    """Return quantiles and an equal-width histogram of ``confidence``, computed in Spark."""
    import pandas as pd

    probabilities = [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
    values = matrix.approxQuantile(C.CONFIDENCE, probabilities, 0.001)
    quantiles = pd.DataFrame({"quantile": probabilities, C.CONFIDENCE: values})
    low, high = (values[0], values[-1]) if values else (0.0, 0.0)
    width = (high - low) / bins or 1.0
    histogram = (
        matrix
        .groupBy(
            F.least(F.floor((F.col(C.CONFIDENCE) - low) / width), F.lit(bins - 1)).alias("bin")
        )
        .agg(F.count(F.lit(1)).alias("pairs"))
        .withColumn("confidence_from", F.col("bin") * width + low)
        .orderBy("bin")
        .toPandas()
    )
    return ConfidenceSummary(quantiles, histogram)


@dataclass
class SplitData:
    """Training and evaluation data of one phase (tuning or final test) of a split."""

    train_pairs: DataFrame  # indexed (user, room) pairs of the training part, with counts
    eval_pairs: DataFrame  # indexed pairs of the evaluation part, with counts
    train_visits: DataFrame | None  # indexed visits of the training part (temporal only)
    window: dict  # how the split was made

    @property
    def relevant(self) -> DataFrame:
        """Evaluation pairs a list may contain: a user's own rooms are never recommended."""
        return self.eval_pairs.filter(~F.col(C.IS_OWN_ROOM)).select(C.USER_IDX, C.ROOM_IDX)

    @property
    def discovery(self) -> DataFrame:
        """Relevant pairs the user had not visited in training: what recommendations are for."""
        return self.relevant.join(
            self.train_pairs.select(C.USER_IDX, C.ROOM_IDX),
            on=[C.USER_IDX, C.ROOM_IDX],
            how="left_anti",
        )


def split_data(
    spark: SparkSession,
    ws: Workspace,
    *,
    phase: str,
    split: str,
    validation_days: int,
    test_days: int,
    random_fractions: list,
    seed: int,
) -> SplitData:
    """Split the artifacts of ``02_build_interactions`` for ``phase`` ``tune`` or ``test``.

    ``tune`` trains on data before the validation window and evaluates on it; ``test``
    trains on everything before the test window and evaluates on the test window. The
    id maps cover all data, so users and rooms first seen in an evaluation window keep
    their rows and count in every denominator.
    """
    from roomrec.split import random_split, temporal_split

    if phase not in ("tune", "test"):
        raise ValueError(f"unknown phase {phase!r}; choose tune or test")
    user_index = read_artifact(spark, ws, "user_index")
    room_index = read_artifact(spark, ws, "room_index")
    if split == "temporal":
        visits = read_artifact(spark, ws, "visits")
        if not dataset_window(visits)["has_time"]:
            raise ValueError(
                "split='temporal' needs visit timestamps, but this data has none; "
                "set split: random in the params file"
            )
        rooms = read_rooms_artifact(spark, ws)
        parts = temporal_split(visits, validation_days=validation_days, test_days=test_days)
        train_visits = parts.train if phase == "tune" else parts.train_plus_validation
        eval_visits = parts.validation if phase == "tune" else parts.test
        train_pairs = apply_index(aggregate_visits(train_visits, rooms), user_index, room_index)
        eval_pairs = apply_index(aggregate_visits(eval_visits, rooms), user_index, room_index)
        window = {
            "split": split,
            "train_before": parts.validation_start if phase == "tune" else parts.test_start,
            "evaluate_from": parts.validation_start if phase == "tune" else parts.test_start,
            "evaluate_before": parts.test_start if phase == "tune" else parts.end,
        }
        train_visits = apply_index(train_visits, user_index, room_index)
    elif split == "random":
        pairs = read_artifact(spark, ws, "interactions")
        parts = random_split(
            pairs,
            fractions=tuple(random_fractions),
            seed=seed,
            path=ws.table("random_split"),
        )
        train_pairs = parts.train if phase == "tune" else parts.train_plus_validation
        eval_pairs = parts.validation if phase == "tune" else parts.test
        train_pairs, eval_pairs = train_pairs.drop("split"), eval_pairs.drop("split")
        train_visits = None
        window = {"split": split, "fractions": list(random_fractions), "seed": seed}
    else:
        raise ValueError(f"unknown split {split!r}; choose temporal or random")
    return SplitData(materialize(train_pairs), materialize(eval_pairs), train_visits, window)


def prepare_tuning(
    spark: SparkSession,
    ws: Workspace,
    *,
    split: str,
    validation_days: int,
    test_days: int,
    random_fractions: list,
    seed: int,
    k: int,
    min_user_rooms: int,
    min_room_users: int,
):
    """Build the cached data every tuning trial shares; ``summary`` describes it."""
    import pandas as pd

    from roomrec.baselines import global_popularity
    from roomrec.tuning import TuningData

    parts = split_data(
        spark, ws, phase="tune", split=split, validation_days=validation_days,
        test_days=test_days, random_fractions=random_fractions, seed=seed,
    )
    train = materialize(filter_support(
        parts.train_pairs, min_user_rooms=min_user_rooms, min_room_users=min_room_users
    ).interactions)
    relevant = parts.discovery.cache()
    users = relevant.select(C.USER_IDX).distinct().cache()
    fallback = global_popularity(parts.train_pairs, users, k=k, exclude_seen=True).cache()
    data = TuningData(train=train, relevant=relevant, users=users, fallback=fallback, k=k,
                      seen=parts.train_pairs)
    data.summary = pd.DataFrame([{
        **parts.window,
        "train_pairs": train.count(),
        "validation_users": users.count(),
        "validation_discovery_pairs": relevant.count(),
    }])
    return data


@dataclass
class TuningResult:
    """Trial table and the best setting, also written to artifacts."""

    table: Any  # pandas.DataFrame, best first
    best: dict


def tune(
    data,
    search_space: dict,
    *,
    search: str,
    n_trials: int,
    seed: int,
    parallelism: int,
    confidence_options: dict,
    ws: Workspace,
    metric: str = "ndcg",
) -> TuningResult:
    """Run the search and write ``tuning_results.parquet``/``.csv`` and ``best_params.json``."""
    from roomrec.tuning import best_settings, build_trials, run_trials

    trials = build_trials(search_space, search=search, n_trials=n_trials, seed=seed)
    table = run_trials(data, trials, seed=seed, parallelism=parallelism,
                       confidence_options=confidence_options)
    table.to_csv(artifacts_path(ws.artifacts_dir, "tuning_results.csv"), index=False)
    table.to_parquet(artifacts_path(ws.artifacts_dir, "tuning_results.parquet"), index=False)
    best = best_settings(table, metric=metric)
    best_row = table.iloc[0]
    write_json(ws.artifacts_dir, "best_params", {
        **best,
        "metric": f"{metric}@{data.k}",
        "slice": "discovery",
        "value": float(best_row[metric]),
        "seed": seed,
    })
    shown = table.drop(columns=["fit_s", "score_s"])
    return TuningResult(shown, best)


def tuned_settings(ws: Workspace, overrides: dict) -> dict:
    """Return the best settings from ``03_tune_als`` with ``overrides`` applied."""
    from roomrec.tuning import SEARCH_KEYS

    best = read_json(ws.artifacts_dir, "best_params", written_by="03_tune_als")
    unknown = [key for key in overrides if key not in SEARCH_KEYS]
    if unknown:
        raise ValueError(
            f"unknown keys {unknown} in als_params; known: {', '.join(SEARCH_KEYS)}"
        )
    return {**{key: best[key] for key in SEARCH_KEYS}, **overrides}


@dataclass
class ExploredLogs:
    """Events, visits, pairs and quality table explored by ``01_explore_logs``."""

    events: DataFrame | None  # accepted raw events; None for inputs that are not events
    visits: DataFrame
    pairs: DataFrame  # per (user, room) aggregates with the own-room flag
    quality: Any  # pandas.DataFrame


def explore_inputs(
    spark: SparkSession,
    inputs: Inputs,
    *,
    input_format: str,
    input_options: dict,
    start_date: str,
    end_date: str,
    max_rejected_share: float,
    ws: Workspace,
    event_options: dict | None = None,
) -> ExploredLogs:
    """Ingest the logs as ``02_build_interactions`` does and keep the events for exploring."""
    stage = ingest(
        spark, inputs, input_format=input_format, input_options=input_options,
        start_date=start_date, end_date=end_date, max_rejected_share=max_rejected_share,
        ws=ws, event_options=event_options,
    )
    visits = stage.visits.cache()
    pairs = aggregate_visits(visits, read_rooms(spark, inputs.rooms)).cache()
    return ExploredLogs(stage.events, visits, pairs, stage.quality)
