"""Aggregates for exploring raw logs; each returns a small pandas table.

Distributions are computed in Spark and only their histograms reach the driver, so
these work at production size: the number of distinct count values, not the number
of users or rooms, bounds what is collected.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C


def overview(events: DataFrame | None, visits: DataFrame) -> pd.DataFrame:
    """Return one row of totals: events, users, rooms, visits, days.

    Check-ins, visits logs and aggregated data have no events. For them ``events`` is None,
    the row has no events column, and users, rooms and days are counted on the visits.
    """
    if events is None:
        return (
            visits
            .agg(
                F.countDistinct(C.USER_ID).alias("users"),
                F.countDistinct(C.ROOM_ID).alias("rooms_entered"),
                F.countDistinct(F.to_date(C.START_TS)).alias("days"),
                F.count(F.lit(1)).alias("visits"),
            )
            .toPandas()
        )
    event_totals = events.agg(
        F.count(F.lit(1)).alias("events"),
        F.countDistinct(C.USER_ID).alias("users"),
        F.countDistinct(C.ROOM_ID).alias("rooms_entered"),
        F.countDistinct(F.to_date(C.TS)).alias("days"),
    )
    visit_totals = visits.agg(
        F.count(F.lit(1)).alias("visits"),
        F.countDistinct(C.USER_ID).alias("visiting_users"),
    )
    return event_totals.crossJoin(visit_totals).toPandas()


def events_by_day(events: DataFrame | None) -> pd.DataFrame:
    """Return events per UTC day (rows) and event type (columns), or an empty table for None."""
    if events is None:
        return pd.DataFrame(index=pd.Index([], name="day"))
    counts = (
        events
        .groupBy(F.to_date(C.TS).alias("day"))
        .pivot(C.EVENT_TYPE, list(C.EVENT_TYPES))
        .agg(F.count(F.lit(1)))
        .orderBy("day")
        .toPandas()
    )
    return counts.set_index("day").fillna(0).astype("int64")


def count_distribution(frame: DataFrame, key: str, value: str) -> pd.DataFrame:
    """Return how many ``key`` values have each count of ``value`` rows.

    Columns ``count`` (rows per key) and ``keys`` (how many keys have that count), sorted
    by count descending, plus ``rank``: the rank of the first key with that count when
    keys are sorted by count, which gives an exact rank-frequency (Zipf) curve.
    """
    per_key = frame.groupBy(key).agg(F.countDistinct(value).alias("count"))
    table = (
        per_key
        .groupBy("count")
        .agg(F.count(F.lit(1)).alias("keys"))
        .orderBy(F.desc("count"))
        .toPandas()
    )
    table["rank"] = table["keys"].cumsum() - table["keys"] + 1
    return table


def concentration(distribution: pd.DataFrame, top_shares=(0.01, 0.1)) -> pd.DataFrame:
    """Return the share of all rows held by the top fraction of keys, from a distribution."""
    ordered = distribution.sort_values("count", ascending=False)
    counts = ordered["count"].repeat(ordered["keys"]).to_numpy()
    total = counts.sum()
    rows = []
    for share in top_shares:
        top = max(1, int(round(share * len(counts))))
        rows.append({"top_share_of_keys": share, "share_of_rows": counts[:top].sum() / total})
    return pd.DataFrame(rows)


def dwell_histogram(visits: DataFrame, *, bins_per_decade: int = 5) -> pd.DataFrame:
    """Return a log-binned histogram of dwell seconds, split into observed and imputed visits."""
    scaled = F.floor(F.log10(F.greatest(F.col(C.DWELL_S), F.lit(1.0))) * bins_per_decade)
    return (
        visits
        .filter(F.col(C.DWELL_S).isNotNull())
        .groupBy(scaled.alias("bin"), F.col(C.IS_IMPUTED))
        .agg(F.count(F.lit(1)).alias("visits"))
        .withColumn("dwell_from_s", F.pow(F.lit(10.0), F.col("bin") / bins_per_decade))
        .orderBy("bin", C.IS_IMPUTED)
        .toPandas()
    )


def own_room_share(interactions: DataFrame) -> pd.DataFrame:
    """Return the share of visits and of dwell time that users spend in their own rooms."""
    return (
        interactions
        .agg(
            (F.sum(F.when(F.col(C.IS_OWN_ROOM), F.col(C.VISIT_COUNT)).otherwise(0))
             / F.sum(C.VISIT_COUNT)).alias("own_share_of_visits"),
            (F.sum(F.when(F.col(C.IS_OWN_ROOM), F.col(C.DWELL_TOTAL_S)).otherwise(0.0))
             / F.sum(C.DWELL_TOTAL_S)).alias("own_share_of_dwell"),
            F.sum(F.col(C.IS_OWN_ROOM).cast("int")).alias("own_room_pairs"),
        )
        .toPandas()
    )


def click_funnel(events: DataFrame | None, *, within_s: int = 600) -> pd.DataFrame:
    """Return the screen-to-room funnel: screen views, room-card clicks, clicks followed by entry.

    A click on a room card counts as converted when the user's next room event is a
    ``room_enter`` of the same room within ``within_s`` seconds. The table is empty when
    events is None.
    """
    if events is None:
        return pd.DataFrame({"stage": pd.Series([], dtype="object"),
                             "events": pd.Series([], dtype="int64")})
    room_events = events.filter(
        (F.col(C.EVENT_TYPE) == "room_enter")
        | ((F.col(C.EVENT_TYPE) == "click") & F.col(C.ROOM_ID).isNotNull())
    )
    by_user = Window.partitionBy(C.USER_ID).orderBy(C.TS, C.EVENT_ID)
    with_next = (
        room_events
        .withColumn("_next_type", F.lead(C.EVENT_TYPE).over(by_user))
        .withColumn("_next_room", F.lead(C.ROOM_ID).over(by_user))
        .withColumn("_next_ts", F.lead(C.TS).over(by_user))
    )
    converted = (
        (F.col("_next_type") == "room_enter")
        & (F.col("_next_room") == F.col(C.ROOM_ID))
        & (F.col("_next_ts").cast("long") - F.col(C.TS).cast("long") <= within_s)
    )
    clicks = (
        with_next
        .filter(F.col(C.EVENT_TYPE) == "click")
        .agg(
            F.count(F.lit(1)).alias("room_card_clicks"),
            F.sum(converted.cast("int")).alias("clicks_then_enter"),
        )
    )
    views = events.agg(
        F.sum((F.col(C.EVENT_TYPE) == "screen_view").cast("int")).alias("screen_views"),
        F.sum((F.col(C.EVENT_TYPE) == "room_enter").cast("int")).alias("room_enters"),
    )
    row = views.crossJoin(clicks).toPandas().iloc[0]
    stages = ["screen_views", "room_card_clicks", "clicks_then_enter", "room_enters"]
    return pd.DataFrame({"stage": stages, "events": [int(row[s] or 0) for s in stages]})


def screens(events: DataFrame | None) -> pd.DataFrame:
    """Return views and clicks per screen, or an empty table when events is None."""
    if events is None:
        return pd.DataFrame(columns=[C.SCREEN, "screen_view", "click"])
    return (
        events
        .filter(F.col(C.SCREEN).isNotNull())
        .groupBy(C.SCREEN)
        .pivot(C.EVENT_TYPE, ["screen_view", "click"])
        .agg(F.count(F.lit(1)))
        .fillna(0)
        .orderBy(F.desc("screen_view"), C.SCREEN)
        .toPandas()
    )
