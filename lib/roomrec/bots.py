"""Flag users whose activity no person produces, and remove them before modelling.

A crawler or a load-test account can send thousands of events a day or walk through
hundreds of rooms. Left in, such a user dominates room popularity and the ALS factors.
Days are UTC calendar days whatever the session time zone is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from roomrec import columns as C

logger = logging.getLogger(__name__)

TOO_MANY_EVENTS = "too_many_events_per_day"
TOO_MANY_ROOMS = "too_many_rooms_per_day"

_SECONDS_PER_DAY = 86_400


@dataclass
class BotResult:
    """Users flagged as bots.

    Attributes
    ----------
    bots : DataFrame
        One row per flagged user: user_id, reason (``too_many_events_per_day``,
        ``too_many_rooms_per_day`` or both joined by a comma), peak_events_per_day,
        peak_rooms_per_day and total_events.
    counts : dict
        ``users`` flagged, ``events_removed`` (their events), ``by_reason``, and the
        limits applied: ``events_per_day_limit`` and ``rooms_per_day_limit``.
    """

    bots: DataFrame
    counts: dict[str, Any] = field(default_factory=dict)


def _daily_activity(events: DataFrame) -> DataFrame:
    utc_day = F.floor(F.unix_seconds(F.col(C.TS)) / F.lit(_SECONDS_PER_DAY))
    return events.groupBy(C.USER_ID, utc_day.alias("_day")).agg(
        F.count(F.lit(1)).alias("_events"),
        F.countDistinct(C.ROOM_ID).alias("_rooms"),
    )


def _percentile_limits(daily: DataFrame, percentile: float) -> tuple[float, float]:
    row = daily.agg(
        F.percentile_approx("_events", percentile).alias("events"),
        F.percentile_approx("_rooms", percentile).alias("rooms"),
    ).collect()[0]
    return float(row["events"] or 0), float(row["rooms"] or 0)


def flag_bots(
    events: DataFrame,
    *,
    max_events_per_day: int = 2000,
    max_rooms_per_day: int = 150,
    percentile: float = 0.0,
) -> BotResult:
    """Flag users whose busiest UTC day exceeds an events or a distinct-rooms limit.

    Parameters
    ----------
    events : DataFrame
        Accepted events with user_id, ts and room_id.
    max_events_per_day : int
        A user with more events than this on some day is flagged.
    max_rooms_per_day : int
        A user in more distinct rooms than this on some day is flagged.
    percentile : float
        When above 0, the limits are instead this percentile (for example 0.999) of the
        per-user-day event counts and distinct-room counts, computed approximately.

    Returns
    -------
    BotResult
        The flagged users and counts; the counts cost one or two small Spark jobs.
    """
    if not 0.0 <= percentile < 1.0:
        raise ValueError(
            f"percentile must be in [0, 1), got {percentile!r}; 0 uses the absolute limits"
        )
    daily = _daily_activity(events)
    if percentile > 0:
        events_limit, rooms_limit = _percentile_limits(daily, percentile)
    else:
        events_limit, rooms_limit = float(max_events_per_day), float(max_rooms_per_day)

    per_user = daily.groupBy(C.USER_ID).agg(
        F.max("_events").alias(C.PEAK_EVENTS_PER_DAY),
        F.max("_rooms").alias(C.PEAK_ROOMS_PER_DAY),
        F.sum("_events").alias(C.TOTAL_EVENTS),
    )
    over_events = F.col(C.PEAK_EVENTS_PER_DAY) > F.lit(events_limit)
    over_rooms = F.col(C.PEAK_ROOMS_PER_DAY) > F.lit(rooms_limit)
    bots = per_user.filter(over_events | over_rooms).select(
        C.USER_ID,
        F.concat_ws(
            ",",
            F.when(over_events, F.lit(TOO_MANY_EVENTS)),
            F.when(over_rooms, F.lit(TOO_MANY_ROOMS)),
        ).alias(C.REASON),
        C.PEAK_EVENTS_PER_DAY,
        C.PEAK_ROOMS_PER_DAY,
        C.TOTAL_EVENTS,
    )
    summary = (
        bots.groupBy(C.REASON)
        .agg(
            F.count(F.lit(1)).alias("users"),
            F.sum(C.TOTAL_EVENTS).alias("events"),
        )
        .collect()
    )
    by_reason = {row[C.REASON]: int(row["users"]) for row in summary}
    counts = {
        "users": sum(by_reason.values()),
        "events_removed": sum(int(row["events"]) for row in summary),
        "by_reason": dict(sorted(by_reason.items())),
        "events_per_day_limit": events_limit,
        "rooms_per_day_limit": rooms_limit,
    }
    logger.info(
        "flagged %d bot users with %d events (limits: %.0f events/day, %.0f rooms/day)",
        counts["users"],
        counts["events_removed"],
        events_limit,
        rooms_limit,
    )
    return BotResult(bots=bots, counts=counts)


def exclude_bots(frame: DataFrame, bots: DataFrame) -> DataFrame:
    """Drop the rows of flagged users from any frame with a user_id column."""
    return frame.join(bots.select(C.USER_ID), on=C.USER_ID, how="left_anti")
