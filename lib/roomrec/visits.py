"""Turn room events into visits: one row per stay of a user in a room.

Each user's room events (``room_enter``, ``room_leave``, ``chat_message``) are ordered by
``(ts, event_id)``, so ties between equal timestamps break the same way on every run. Each
``room_enter`` gives exactly one visit, closed by the first of these events after it:

- a ``room_leave`` of the same room: a measured visit;
- a ``chat_message`` in another room: the user was elsewhere, so the visit ends there and
  is imputed;
- the user's next ``room_enter``: the visit ends there and is imputed.

A ``room_leave`` of another room closes nothing, because the late leave of the previous
room can arrive after the enter of the next one.

An imputed end never lies more than ``session_cap_s`` after the enter, and a visit with no
closing event at all ends at ``start + session_cap_s``. A ``room_leave`` that closes no
visit is an orphan leave. Take the user's latest enter or leave of a room before an enter
of that room. When it is an orphan leave at most ``max_skew_s`` earlier and the enter has
no leave of its own, the two are one visit whose leave was written with a skewed clock.
The leave's time says nothing about the true end, so the visit ends as an imputed one
would, and the pair is counted as skewed. Dwell is capped at ``max_dwell_s``.

Everything is computed with window functions over one partitioning by user, without
Python UDFs and without collecting a user's history into a list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from roomrec import columns as C

logger = logging.getLogger(__name__)

ROOM_ENTER = "room_enter"
ROOM_LEAVE = "room_leave"
CHAT_MESSAGE = "chat_message"

VISIT_COLUMNS = (C.USER_ID, C.ROOM_ID, C.START_TS, C.END_TS, C.DWELL_S, C.VISIT_COUNT, C.IS_IMPUTED)

_MICROS = 1_000_000
_COUNT_ORDER = (
    "room_enters",
    "visits",
    "measured",
    "imputed_at_next_event",
    "imputed_at_session_cap",
    "skewed_pairs",
    "dwell_capped",
    "room_leaves",
    "orphan_leaves",
    "unknown_room_removed",
)


@dataclass
class VisitsResult:
    """Visits and the counts of how they were built.

    Attributes
    ----------
    visits : DataFrame
        user_id, room_id, start_ts, end_ts, dwell_s (double, seconds), visit_count (long,
        1 per visit) and is_imputed (bool).
    counts : dict
        ``room_enters``, ``visits``, ``measured``, ``imputed_at_next_event``,
        ``imputed_at_session_cap``, ``skewed_pairs``, ``room_leaves``, ``orphan_leaves``,
        ``dwell_capped`` and ``unknown_room_removed``.
    """

    visits: DataFrame
    counts: dict[str, Any] = field(default_factory=dict)


def _plus_seconds(ts: Column, seconds: float) -> Column:
    return F.timestamp_micros(F.unix_micros(ts) + F.lit(int(round(seconds * _MICROS))))


def _seconds_between(start: Column, end: Column) -> Column:
    return (F.unix_micros(end) - F.unix_micros(start)).cast("double") / F.lit(float(_MICROS))


def _mark_boundaries(room_events: DataFrame) -> DataFrame:
    """Add the position, the open room and the boundary flags of each room event."""
    ascending = Window.partitionBy(C.USER_ID).orderBy(F.col(C.TS).asc(), F.col(C.EVENT_ID).asc())
    up_to_here = ascending.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    before_here = ascending.rowsBetween(Window.unboundedPreceding, -1)
    is_enter = F.col(C.EVENT_TYPE) == F.lit(ROOM_ENTER)
    is_leave = F.col(C.EVENT_TYPE) == F.lit(ROOM_LEAVE)

    # The room of the latest enter at or before this event: the visit this event falls in.
    open_room = F.last(F.when(is_enter, F.col(C.ROOM_ID)), ignorenulls=True).over(up_to_here)
    # A boundary ends the open visit: a leave of its room, or a chat message in another room.
    is_boundary = (is_leave & (F.col(C.ROOM_ID) == F.col("_open_room"))) | (
        (F.col(C.EVENT_TYPE) == F.lit(CHAT_MESSAGE))
        & F.col("_open_room").isNotNull()
        & (F.col(C.ROOM_ID) != F.col("_open_room"))
    )

    # A leave closes a visit when the latest enter-or-boundary before it is an enter of
    # the same room, that is, when it is the first boundary after that enter.
    previous_enter_or_boundary = F.last(
        F.when(is_enter | F.col("_is_boundary"), F.struct(is_enter.alias("enter"), C.ROOM_ID)),
        ignorenulls=True,
    ).over(before_here)
    closes_visit = (
        is_leave & F.col("_previous_eb.enter") & (F.col("_previous_eb.room_id") == F.col(C.ROOM_ID))
    )

    # The same user's previous enter or leave of this room. Partitioning by (user, room)
    # needs no new shuffle, because rows are already hash-partitioned by user.
    same_room_before = (
        Window.partitionBy(C.USER_ID, C.ROOM_ID)
        .orderBy(F.col(C.TS).asc(), F.col(C.EVENT_ID).asc())
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    previous_in_room = F.last(
        F.when(
            is_enter | is_leave,
            F.struct(
                C.TS,
                C.EVENT_TYPE,
                C.ROOM_ID,
                F.coalesce(F.col("_closes_visit"), F.lit(False)).alias("closes_visit"),
            ),
        ),
        ignorenulls=True,
    ).over(same_room_before)

    return (
        room_events.withColumn("_position", F.row_number().over(ascending))
        .withColumn("_open_room", open_room)
        .withColumn("_is_boundary", is_boundary)
        .withColumn("_previous_eb", previous_enter_or_boundary)
        .withColumn("_closes_visit", closes_visit)
        .withColumn("_previous_in_room", previous_in_room)
    )


def _attach_closing_events(marked: DataFrame) -> DataFrame:
    """Add, to every row, the next boundary and the next enter after it."""
    # Reversed order keeps the frame growing from unbounded preceding, which Spark evaluates
    # incrementally. Spark 3.5 recomputes a frame ending at unbounded following for each row,
    # which is quadratic in the events of a user.
    descending = Window.partitionBy(C.USER_ID).orderBy(F.col(C.TS).desc(), F.col(C.EVENT_ID).desc())
    after_here = descending.rowsBetween(Window.unboundedPreceding, -1)
    next_boundary = F.last(
        F.when(
            F.col("_is_boundary"),
            F.struct(F.col("_position").alias("position"), C.TS, C.EVENT_TYPE, C.ROOM_ID),
        ),
        ignorenulls=True,
    ).over(after_here)
    next_enter = F.last(
        F.when(
            F.col(C.EVENT_TYPE) == F.lit(ROOM_ENTER),
            F.struct(F.col("_position").alias("position"), C.TS),
        ),
        ignorenulls=True,
    ).over(after_here)
    return marked.withColumn("_next_boundary", next_boundary).withColumn("_next_enter", next_enter)


def _visit_columns(
    enters: DataFrame, session_cap_s: float, max_dwell_s: float, max_skew_s: float
) -> DataFrame:
    """Compute start, end, dwell and the flags of the visit each enter opens."""
    boundary_first = F.col("_next_boundary").isNotNull() & (
        F.col("_next_enter").isNull()
        | (F.col("_next_boundary.position") < F.col("_next_enter.position"))
    )
    measured = (
        boundary_first
        & (F.col("_next_boundary.event_type") == F.lit(ROOM_LEAVE))
        & (F.col("_next_boundary.room_id") == F.col(C.ROOM_ID))
    )

    previous = F.col("_previous_in_room")
    skewed = (
        ~measured
        & previous.isNotNull()
        & (previous.event_type == F.lit(ROOM_LEAVE))
        & ~previous.closes_visit
        & (_seconds_between(previous.ts, F.col(C.TS)) <= F.lit(float(max_skew_s)))
    )

    next_event_ts = F.when(boundary_first, F.col("_next_boundary.ts")).otherwise(
        F.col("_next_enter.ts")
    )
    cap_end = _plus_seconds(F.col(C.TS), session_cap_s)
    imputed_end = F.when(next_event_ts.isNull(), cap_end).otherwise(F.least(next_event_ts, cap_end))
    end_uncapped = F.when(F.col("_measured"), F.col("_next_boundary.ts")).otherwise(imputed_end)
    at_session_cap = (
        ~F.col("_measured")
        & ~F.col("_skewed")
        & (next_event_ts.isNull() | (next_event_ts > cap_end))
    )

    dwell_uncapped = _seconds_between(F.col(C.TS), F.col("_end_uncapped"))
    dwell_capped = F.col("_dwell_uncapped") > F.lit(float(max_dwell_s))
    return (
        enters.withColumn("_measured", measured)
        .withColumn("_skewed", skewed)
        .withColumn("_at_session_cap", at_session_cap)
        .withColumn("_end_uncapped", end_uncapped)
        .withColumn("_dwell_uncapped", dwell_uncapped)
        .withColumn("_dwell_capped", dwell_capped)
        .select(
            C.USER_ID,
            C.ROOM_ID,
            F.col(C.TS).alias(C.START_TS),
            F.when(F.col("_dwell_capped"), _plus_seconds(F.col(C.TS), max_dwell_s))
            .otherwise(F.col("_end_uncapped"))
            .alias(C.END_TS),
            F.least(F.col("_dwell_uncapped"), F.lit(float(max_dwell_s))).alias(C.DWELL_S),
            F.lit(1).cast("long").alias(C.VISIT_COUNT),
            (~F.col("_measured")).alias(C.IS_IMPUTED),
            "_measured",
            "_skewed",
            "_at_session_cap",
            "_dwell_capped",
        )
    )


def _check_seconds(value: float, name: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _count_visits(enriched: DataFrame) -> dict[str, int]:
    """Count visits by how they were closed, in one Spark job."""

    def count_if(condition: Column, name: str) -> Column:
        return F.sum(F.when(condition, 1).otherwise(0)).alias(name)

    is_enter = F.col(C.EVENT_TYPE) == F.lit(ROOM_ENTER)
    row = enriched.agg(
        count_if(is_enter, "room_enters"),
        count_if(F.col(C.EVENT_TYPE) == F.lit(ROOM_LEAVE), "room_leaves"),
        count_if(is_enter & F.col("_measured"), "measured"),
        count_if(is_enter & F.col("_skewed"), "skewed_pairs"),
        count_if(is_enter & F.col("_at_session_cap"), "imputed_at_session_cap"),
        count_if(is_enter & F.col("_dwell_capped"), "dwell_capped"),
    ).collect()[0]
    counts = {name: int(row[name] or 0) for name in row.asDict()}
    counts["imputed_at_next_event"] = (
        counts["room_enters"]
        - counts["measured"]
        - counts["skewed_pairs"]
        - counts["imputed_at_session_cap"]
    )
    counts["orphan_leaves"] = counts["room_leaves"] - counts["measured"] - counts["skewed_pairs"]
    return counts


def build_visits(
    events: DataFrame,
    *,
    session_cap_s: float = 4 * 3600,
    max_dwell_s: float = 4 * 3600,
    rooms: DataFrame | None = None,
    max_skew_s: float = 60.0,
) -> VisitsResult:
    """Pair room enters with leaves per user and return one visit per ``room_enter``.

    Parameters
    ----------
    events : DataFrame
        Accepted events from :func:`roomrec.ingest.read_events`: event_id, ts (UTC),
        user_id, event_type, room_id. Other event types than room_enter, room_leave and
        chat_message are ignored.
    session_cap_s : float
        Longest imputed visit, in seconds: an enter with no closing event, or whose closing
        event comes later, ends this long after it.
    max_dwell_s : float
        Dwell cap in seconds, applied to every visit (measured ones included) and counted
        as ``dwell_capped``; ``end_ts`` moves with it, so dwell_s = end_ts - start_ts.
    rooms : DataFrame, optional
        Rooms table; when given, visits to a room_id not in it are removed and counted as
        ``unknown_room_removed``.
    max_skew_s : float
        Largest gap, in seconds, by which an orphan leave may precede an enter of the same
        room and still be paired with it as clock skew. Leaves of other rooms between the
        two do not matter.

    Returns
    -------
    VisitsResult
        Visits and counts; the counts cost one Spark job here.
    """
    _check_seconds(session_cap_s, "session_cap_s")
    _check_seconds(max_dwell_s, "max_dwell_s")
    if max_skew_s < 0:
        raise ValueError(f"max_skew_s must be zero or positive, got {max_skew_s!r}")

    room_events = events.filter(
        F.col(C.EVENT_TYPE).isin(ROOM_ENTER, ROOM_LEAVE, CHAT_MESSAGE)
        & F.col(C.ROOM_ID).isNotNull()
    ).select(C.EVENT_ID, C.TS, C.USER_ID, C.EVENT_TYPE, C.ROOM_ID)
    enriched = _attach_closing_events(_mark_boundaries(room_events))
    visit_rows = _visit_columns(
        enriched.filter(F.col(C.EVENT_TYPE) == F.lit(ROOM_ENTER)),
        session_cap_s,
        max_dwell_s,
        max_skew_s,
    )
    # Leaves carry no visit flags: they are counted beside the visits in the same job.
    counts = _count_visits(
        visit_rows.select(
            F.lit(ROOM_ENTER).alias(C.EVENT_TYPE),
            "_measured",
            "_skewed",
            "_at_session_cap",
            "_dwell_capped",
        ).unionByName(
            room_events.filter(F.col(C.EVENT_TYPE) == F.lit(ROOM_LEAVE)).select(
                C.EVENT_TYPE,
                F.lit(False).alias("_measured"),
                F.lit(False).alias("_skewed"),
                F.lit(False).alias("_at_session_cap"),
                F.lit(False).alias("_dwell_capped"),
            )
        )
    )
    visits = visit_rows.select(*VISIT_COLUMNS)
    counts["unknown_room_removed"] = 0
    if rooms is not None:
        known = rooms.select(C.ROOM_ID).distinct()
        unknown = visits.join(known, on=C.ROOM_ID, how="left_anti").count()
        counts["unknown_room_removed"] = int(unknown)
        visits = visits.join(known, on=C.ROOM_ID, how="left_semi").select(*VISIT_COLUMNS)
    counts["visits"] = counts["room_enters"] - counts["unknown_room_removed"]
    counts = {name: counts[name] for name in _COUNT_ORDER}
    logger.info(
        "built %d visits from %d room_enter events: %d measured, %d imputed at the next event, "
        "%d at the session cap, %d skewed pairs; %d orphan leaves, %d dwell capped",
        counts["visits"],
        counts["room_enters"],
        counts["measured"],
        counts["imputed_at_next_event"],
        counts["imputed_at_session_cap"],
        counts["skewed_pairs"],
        counts["orphan_leaves"],
        counts["dwell_capped"],
    )
    return VisitsResult(visits=visits, counts=counts)
