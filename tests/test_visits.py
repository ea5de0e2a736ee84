"""Tests for roomrec.visits (sessionization) and roomrec.bots."""

from __future__ import annotations

import datetime as dt

import pytest

from roomrec import columns as C
from roomrec.bots import exclude_bots, flag_bots
from roomrec.visits import VISIT_COLUMNS, build_visits

EVENT_SCHEMA = "event_id string, ts timestamp, user_id string, event_type string, room_id string"
BASE = dt.datetime(2026, 1, 5, 10, 0, 0)


def at(seconds: float) -> dt.datetime:
    return BASE + dt.timedelta(seconds=seconds)


def events_frame(spark, rows):
    """Build accepted events from (event_id, seconds after BASE, user, type, room)."""
    return spark.createDataFrame(
        [(event_id, at(seconds), user, kind, room) for event_id, seconds, user, kind, room in rows],
        EVENT_SCHEMA,
    )


def sorted_visits(result):
    return sorted(
        (row.asDict() for row in result.visits.collect()),
        key=lambda row: (row[C.USER_ID], row[C.START_TS], row[C.ROOM_ID]),
    )


def test_build_visits_pairs_enter_and_leave(spark):
    events = events_frame(
        spark,
        [
            ("e1", 0, "u1", "room_enter", "r1"),
            ("e2", 30, "u1", "chat_message", "r1"),
            ("e3", 600, "u1", "room_leave", "r1"),
        ],
    )

    result = build_visits(events)
    visits = sorted_visits(result)

    assert len(visits) == 1
    assert visits[0][C.DWELL_S] == 600.0
    assert visits[0][C.END_TS] == at(600)
    assert visits[0][C.IS_IMPUTED] is False
    assert visits[0][C.VISIT_COUNT] == 1
    assert tuple(result.visits.columns) == VISIT_COLUMNS
    assert result.counts["measured"] == 1
    assert result.counts["orphan_leaves"] == 0


def test_build_visits_closes_at_next_enter(spark):
    events = events_frame(
        spark,
        [
            ("e1", 0, "u1", "room_enter", "r1"),
            ("e2", 120, "u1", "room_enter", "r2"),
            ("e3", 300, "u1", "room_leave", "r2"),
        ],
    )

    result = build_visits(events)
    visits = sorted_visits(result)

    assert [visit[C.ROOM_ID] for visit in visits] == ["r1", "r2"]
    assert visits[0][C.DWELL_S] == 120.0
    assert visits[0][C.IS_IMPUTED] is True
    assert visits[1][C.DWELL_S] == 180.0
    assert visits[1][C.IS_IMPUTED] is False
    assert result.counts["imputed_at_next_event"] == 1


def test_build_visits_closes_at_chat_in_other_room(spark):
    events = events_frame(
        spark,
        [
            ("e1", 0, "u1", "room_enter", "r1"),
            ("e2", 50, "u1", "chat_message", "r1"),
            ("e3", 90, "u1", "chat_message", "r2"),
        ],
    )

    visits = sorted_visits(build_visits(events))

    assert visits[0][C.END_TS] == at(90)
    assert visits[0][C.IS_IMPUTED] is True


def test_build_visits_late_leave_of_previous_room(spark):
    events = events_frame(
        spark,
        [
            ("e1", 0, "u1", "room_enter", "r1"),
            ("e2", 60, "u1", "room_enter", "r2"),
            ("e3", 120, "u1", "room_leave", "r1"),
            ("e4", 180, "u1", "room_leave", "r2"),
        ],
    )

    result = build_visits(events)
    visits = sorted_visits(result)

    assert [visit[C.DWELL_S] for visit in visits] == [60.0, 120.0]
    assert [visit[C.IS_IMPUTED] for visit in visits] == [True, False]
    assert result.counts["orphan_leaves"] == 1


def test_build_visits_open_enter_ends_at_session_cap(spark):
    events = events_frame(spark, [("e1", 0, "u1", "room_enter", "r1")])

    result = build_visits(events, session_cap_s=1800, max_dwell_s=7200)
    visits = sorted_visits(result)

    assert visits[0][C.END_TS] == at(1800)
    assert visits[0][C.DWELL_S] == 1800.0
    assert result.counts["imputed_at_session_cap"] == 1


def test_build_visits_caps_measured_dwell(spark):
    events = events_frame(
        spark,
        [("e1", 0, "u1", "room_enter", "r1"), ("e2", 20_000, "u1", "room_leave", "r1")],
    )

    result = build_visits(events, max_dwell_s=3600)
    visits = sorted_visits(result)

    assert visits[0][C.DWELL_S] == 3600.0
    assert visits[0][C.END_TS] == at(3600)
    assert result.counts["dwell_capped"] == 1


def test_build_visits_counts_orphan_leave(spark):
    events = events_frame(
        spark,
        [
            ("e1", 0, "u1", "room_leave", "r9"),
            ("e2", 3600, "u1", "room_enter", "r1"),
            ("e3", 3700, "u1", "room_leave", "r1"),
            ("e4", 3800, "u1", "room_leave", "r1"),
        ],
    )

    result = build_visits(events)

    assert result.counts["orphan_leaves"] == 2
    assert result.counts["visits"] == 1


def test_build_visits_pairs_skewed_leave(spark):
    events = events_frame(
        spark,
        [
            ("e1", 10, "u1", "room_enter", "r1"),
            ("e2", 5, "u1", "room_leave", "r1"),
            ("e3", 300, "u1", "room_enter", "r2"),
        ],
    )

    result = build_visits(events, max_skew_s=60)
    visits = sorted_visits(result)

    assert visits[0][C.DWELL_S] == 290.0
    assert visits[0][C.IS_IMPUTED] is True
    assert result.counts["skewed_pairs"] == 1
    assert result.counts["orphan_leaves"] == 0
    assert result.counts["imputed_at_next_event"] == 0


def test_build_visits_skew_beyond_tolerance_is_orphan(spark):
    events = events_frame(
        spark,
        [("e1", 100, "u1", "room_enter", "r1"), ("e2", 5, "u1", "room_leave", "r1")],
    )

    result = build_visits(events, max_skew_s=60)

    assert result.counts["skewed_pairs"] == 0
    assert result.counts["orphan_leaves"] == 1
    assert result.counts["imputed_at_session_cap"] == 1


def test_build_visits_keeps_visit_across_midnight(spark):
    late = dt.datetime(2026, 1, 5, 23, 50, 0)
    events = spark.createDataFrame(
        [
            ("e1", late, "u1", "room_enter", "r1"),
            ("e2", late + dt.timedelta(minutes=20), "u1", "room_leave", "r1"),
        ],
        EVENT_SCHEMA,
    )

    visits = sorted_visits(build_visits(events))

    assert len(visits) == 1
    assert visits[0][C.DWELL_S] == 1200.0


def test_build_visits_separates_users(spark):
    events = events_frame(
        spark,
        [
            ("e1", 0, "u1", "room_enter", "r1"),
            ("e2", 10, "u2", "room_leave", "r1"),
            ("e3", 100, "u1", "room_leave", "r1"),
        ],
    )

    result = build_visits(events)

    assert result.counts["measured"] == 1
    assert result.counts["orphan_leaves"] == 1


def test_build_visits_drops_unknown_rooms(spark):
    events = events_frame(
        spark,
        [("e1", 0, "u1", "room_enter", "r1"), ("e2", 60, "u1", "room_enter", "gone")],
    )
    rooms = spark.createDataFrame([("r1",)], "room_id string")

    result = build_visits(events, rooms=rooms)

    assert [visit[C.ROOM_ID] for visit in sorted_visits(result)] == ["r1"]
    assert result.counts["unknown_room_removed"] == 1
    assert result.counts["visits"] == 1


def test_build_visits_rejects_bad_cap(spark):
    events = events_frame(spark, [("e1", 0, "u1", "room_enter", "r1")])

    with pytest.raises(ValueError, match="session_cap_s must be a positive"):
        build_visits(events, session_cap_s=0)


def test_flag_bots_by_events_and_rooms(spark):
    rows = [(f"b{i}", i, "bot", "click", None) for i in range(30)]
    rows += [(f"w{i}", i, "walker", "room_enter", f"r{i}") for i in range(8)]
    rows += [("h1", 0, "human", "room_enter", "r1"), ("h2", 5, "human", "click", None)]
    events = events_frame(spark, rows)

    result = flag_bots(events, max_events_per_day=20, max_rooms_per_day=5)

    bots = {row[C.USER_ID]: row for row in result.bots.collect()}
    assert set(bots) == {"bot", "walker"}
    assert bots["bot"][C.REASON] == "too_many_events_per_day"
    assert bots["bot"][C.PEAK_EVENTS_PER_DAY] == 30
    assert bots["walker"][C.REASON] == "too_many_rooms_per_day"
    assert result.counts["events_removed"] == 38
    remaining = exclude_bots(events, result.bots)
    assert {row[C.USER_ID] for row in remaining.collect()} == {"human"}


def test_flag_bots_percentile_limit(spark):
    rows = [(f"b{i}", i, "busy", "click", None) for i in range(50)]
    for user in range(9):
        rows += [(f"q{user}-{i}", i, f"quiet{user}", "click", None) for i in range(3)]
    events = events_frame(spark, rows)

    result = flag_bots(events, percentile=0.8)

    assert [row[C.USER_ID] for row in result.bots.collect()] == ["busy"]
    assert result.counts["events_per_day_limit"] == 3.0


def test_flag_bots_rejects_bad_percentile(spark):
    events = events_frame(spark, [("e1", 0, "u1", "click", None)])

    with pytest.raises(ValueError, match="percentile must be in"):
        flag_bots(events, percentile=1.5)


def test_flag_bots_counts_days_in_utc(spark):
    # 20 events on each side of midnight UTC: two days of 20, not one day of 40.
    late = dt.datetime(2026, 1, 5, 23, 59, 0)
    rows = [(f"a{i}", late, "u1", "click", None) for i in range(20)]
    rows += [(f"b{i}", late + dt.timedelta(minutes=2), "u1", "click", None) for i in range(20)]
    events = spark.createDataFrame(rows, EVENT_SCHEMA)

    result = flag_bots(events, max_events_per_day=30)

    assert result.counts["users"] == 0


# Dirty kinds of the generator whose records a correct reader rejects.
REJECTED_KINDS = (
    "malformed_json",
    "missing_field",
    "wrong_type",
    "unparseable_ts",
    "unknown_event_type",
    "empty_user_id",
    "epoch_ts",
    "future_ts",
    "long_room_id",
)


@pytest.mark.slow
def test_load_visits_matches_generator_truth(spark, tmp_path):
    from roomrec.adapters import load_visits
    from roomrec.generate import generate

    # A fresh data set, not the shared cache, so the manifest matches the current generator.
    data_dir = tmp_path / "tiny"
    manifest = generate(data_dir, size="tiny", seed=42)
    dirty = manifest["dirty"]
    truth = manifest["counts"]

    # Bot limits are lifted so that every planted visit reaches sessionization. The window
    # is January 2026 and future timestamps are planted 20 to 80 years ahead.
    result = load_visits(
        spark,
        input_format="events",
        path=str(data_dir / "events"),
        max_ts="2027-01-01",
        max_events_per_day=10**9,
        max_rooms_per_day=10**9,
    )
    counts = result.counts
    visits = counts["visits"]

    assert counts["read"] == truth["lines"]
    assert sum(counts["rejected"].values()) == sum(dirty[kind] for kind in REJECTED_KINDS)
    assert counts["duplicates_removed"] == dirty["duplicate"]
    assert counts["rejected"]["malformed_json"] == dirty["malformed_json"]
    assert counts["rejected"]["invalid_ts"] == dirty["unparseable_ts"]
    assert counts["rejected"]["ts_out_of_range"] == dirty["epoch_ts"] + dirty["future_ts"]
    assert counts["rejected"]["id_too_long:room_id"] == dirty["long_room_id"]
    assert counts["rejected"]["empty_id:user_id"] == dirty["empty_user_id"]
    assert visits["measured"] == truth["clean_visits"]
    assert visits["skewed_pairs"] == dirty["clock_skew_leave"]
    assert visits["orphan_leaves"] == truth["visits_without_enter"]
    imputed = (
        visits["imputed_at_next_event"] + visits["imputed_at_session_cap"] + visits["skewed_pairs"]
    )
    assert imputed == truth["visits_without_leave"]
