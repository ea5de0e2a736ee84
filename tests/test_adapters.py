"""Tests for roomrec.adapters: the readers of each input kind and load_visits."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from roomrec import columns as C
from roomrec.adapters import load_visits, read_aggregated, read_checkins, read_visits_log
from roomrec.visits import VISIT_COLUMNS


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def json_event(event_id, ts, user, kind, room):
    return json.dumps(
        {
            "event_id": event_id,
            "ts": ts,
            "user_id": user,
            "event_type": kind,
            "room_id": room,
            "screen": None,
        }
    )


def test_load_visits_events_end_to_end(spark, tmp_path):
    lines = [
        json_event("e1", "2026-01-05T10:00:00Z", "u1", "room_enter", "r1"),
        json_event("e2", "2026-01-05T10:05:00Z", "u1", "room_leave", "r1"),
        json_event("e3", "2026-01-05T10:06:00Z", "u1", "room_enter", "r2"),
        json_event("e3", "2026-01-05T10:06:00Z", "u1", "room_enter", "r2"),
        "garbage",
    ]
    lines += [
        json_event(f"b{i}", "2026-01-05T11:00:00Z", "bot", "room_enter", f"r{i}") for i in range(6)
    ]
    write_text(tmp_path / "events/date=2026-01-05/part-0.json", "\n".join(lines) + "\n")

    result = load_visits(
        spark,
        input_format="events",
        path=str(tmp_path / "events"),
        max_rooms_per_day=5,
    )

    visits = sorted(result.visits.collect(), key=lambda row: row[C.START_TS])
    assert tuple(result.visits.columns) == VISIT_COLUMNS
    assert [row[C.ROOM_ID] for row in visits] == ["r1", "r2"]
    assert visits[0][C.DWELL_S] == 300.0
    assert result.counts["read"] == 11
    assert result.counts["duplicates_removed"] == 1
    assert result.counts["rejected"] == {"malformed_json": 1}
    assert result.counts["bots"]["users"] == 1
    assert result.counts["bots"]["events_removed"] == 6
    assert result.counts["visits"]["room_enters"] == 2
    assert [row[C.USER_ID] for row in result.bots.collect()] == ["bot"]
    stages = set(result.quality["stage"])
    assert {"read", "accepted", "rejected", "repaired", "bots", "visits"} <= stages


def test_load_visits_rejects_unknown_input_format(spark, tmp_path):
    with pytest.raises(ValueError) as error:
        load_visits(spark, input_format="clicks", path=str(tmp_path))

    message = str(error.value)
    assert "'clicks'" in message
    assert "'events'" in message
    assert "'aggregated'" in message


def test_load_visits_rejects_unknown_option(spark, tmp_path):
    write_text(
        tmp_path / "events/part-0.json",
        json_event("e1", "2026-01-05T10:00:00Z", "u1", "room_enter", "r1") + "\n",
    )

    with pytest.raises(ValueError, match="session_cap"):
        load_visits(spark, input_format="events", path=str(tmp_path / "events"), sesion_cap=1)


def test_read_visits_log_csv(spark, tmp_path):
    write_text(
        tmp_path / "visits.csv",
        "user_id,room_id,start_ts,end_ts\n"
        "u1,r1,2026-01-05T10:00:00Z,2026-01-05T10:30:00Z\n"
        "u1,r2,2026-01-05T12:00:00+01:00,2026-01-05T11:10:00Z\n"
        "u2,r1,2026-01-05T10:00:00Z,2026-01-05T09:00:00Z\n"
        "u2,r1,2026-01-05T10:00:00Z,2026-01-06T10:00:00Z\n"
        "u3,,2026-01-05T10:00:00Z,2026-01-05T10:01:00Z\n"
        "u3,r1,yesterday,2026-01-05T10:01:00Z\n"
        "u3,r1,2026-01-05T10:00:00Z\n",
    )

    result = read_visits_log(spark, str(tmp_path / "visits.csv"), max_dwell_s=7200)

    visits = sorted(result.visits.collect(), key=lambda row: (row[C.USER_ID], row[C.ROOM_ID]))
    assert [row[C.DWELL_S] for row in visits] == [1800.0, 600.0, 7200.0]
    assert visits[2][C.END_TS] == dt.datetime(2026, 1, 5, 12, 0, 0)
    assert all(row[C.IS_IMPUTED] is False for row in visits)
    assert result.counts["read"] == 7
    assert result.counts["rejected"] == {
        "end_before_start": 1,
        "invalid_ts": 1,
        "malformed_csv": 1,
        "missing_field:room_id": 1,
    }
    assert result.counts["repaired"] == {"dwell_capped": 1}
    assert tuple(result.visits.columns) == VISIT_COLUMNS


def test_read_visits_log_renamed_columns_json(spark, tmp_path):
    write_text(
        tmp_path / "visits.jsonl",
        json.dumps({"member": "u1", "place": "r1", "from": 1767607200, "to": 1767607260}) + "\n",
    )

    result = read_visits_log(
        spark,
        str(tmp_path / "visits.jsonl"),
        user_col="member",
        room_col="place",
        start_col="from",
        end_col="to",
        time_format="unix_s",
    )

    row = result.visits.collect()[0]
    assert row[C.USER_ID] == "u1"
    assert row[C.DWELL_S] == 60.0
    assert row[C.START_TS] == dt.datetime(2026, 1, 5, 10, 0, 0)


def test_read_visits_log_missing_column_raises(spark, tmp_path):
    write_text(tmp_path / "visits.csv", "user,room,start,end\nu1,r1,a,b\n")

    with pytest.raises(ValueError, match="not found"):
        read_visits_log(spark, str(tmp_path / "visits.csv"))


def test_read_checkins_tab_separated_unix(spark, tmp_path):
    write_text(
        tmp_path / "checkins.txt",
        "0\t2049\t1287503727.0\n0\t0\t1287411463\n1\t7\tnot-a-time\n1\t7\t12.0\n2\t5\n",
    )

    result = read_checkins(spark, str(tmp_path / "checkins.txt"))

    visits = sorted(result.visits.collect(), key=lambda row: row[C.START_TS])
    assert len(visits) == 2
    assert visits[1][C.START_TS] == dt.datetime(2010, 10, 19, 15, 55, 27)
    assert visits[1][C.END_TS] == visits[1][C.START_TS]
    assert visits[1][C.DWELL_S] is None
    assert visits[1][C.VISIT_COUNT] == 1
    assert result.counts["rejected"] == {
        "invalid_ts": 1,
        "malformed_csv": 1,
        "ts_out_of_range": 1,
    }


def test_read_aggregated_hours(spark, tmp_path):
    write_text(
        tmp_path / "play.dat",
        "User_ID\tGame_ID\tHours\n1\t1\t273.0\n1\t2\t0.5\n2\t1\t-1\n2\t2\tlots\n3\t\t2\n",
    )

    result = read_aggregated(
        spark,
        str(tmp_path / "play.dat"),
        user_col="User_ID",
        room_col="Game_ID",
        value_col="Hours",
        value_kind="duration",
        value_unit="hours",
    )

    visits = sorted(result.visits.collect(), key=lambda row: row[C.ROOM_ID])
    assert [row[C.DWELL_S] for row in visits] == [273.0 * 3600, 1800.0]
    assert [row[C.VISIT_COUNT] for row in visits] == [1, 1]
    assert visits[0][C.START_TS] is None
    assert result.counts["rejected"] == {
        "invalid_value": 1,
        "missing_field:room_id": 1,
        "negative_value": 1,
    }


def test_read_aggregated_counts(spark, tmp_path):
    write_text(
        tmp_path / "counts.tsv",
        "user_id\troom_id\tvalue\nu1\tr1\t3\nu1\tr2\t2.5\nu2\tr1\t0\n",
    )

    result = read_aggregated(spark, str(tmp_path / "counts.tsv"), value_kind="count")

    visits = result.visits.collect()
    assert [(row[C.ROOM_ID], row[C.VISIT_COUNT]) for row in visits] == [("r1", 3)]
    assert visits[0][C.DWELL_S] is None
    assert result.counts["rejected"] == {"invalid_value": 1, "zero_count": 1}


def test_read_aggregated_rejects_unknown_unit(spark, tmp_path):
    with pytest.raises(ValueError, match="unknown value_unit 'weeks'"):
        read_aggregated(spark, str(tmp_path), value_kind="duration", value_unit="weeks")


@pytest.mark.parametrize(
    ("input_format", "text", "options", "expected_visits"),
    [
        (
            "visits",
            "user_id,room_id,start_ts,end_ts\nu1,r1,2026-01-05T10:00:00Z,2026-01-05T10:01:00Z\n",
            {"file_format": "csv"},
            1,
        ),
        ("checkins", "u1\tr1\t1767607200\nu1\tr2\t1767607300\n", {}, 2),
        ("aggregated", "user_id\troom_id\tvalue\nu1\tr1\t4\n", {"value_kind": "count"}, 1),
    ],
)
def test_load_visits_dispatches_adapters(
    spark, tmp_path, input_format, text, options, expected_visits
):
    path = write_text(tmp_path / "input.txt", text)

    result = load_visits(spark, input_format=input_format, path=str(path), **options)

    assert result.visits.count() == expected_visits
    assert tuple(result.visits.columns) == VISIT_COLUMNS
    assert result.bots is None
    assert result.counts["accepted"] == expected_visits
    assert set(result.quality["stage"]) >= {"read", "accepted"}


@pytest.mark.realdata
def test_read_checkins_public_gowalla(spark, shared_data):
    path = shared_data / "gowalla-1k" / "Gowalla_checkins.txt"

    result = read_checkins(spark, str(path))

    # The readme of this sample lists 157,251 check-ins from February 2009 to October 2010.
    assert result.counts["read"] == 157_251
    assert result.counts["accepted"] == 157_251
    assert result.counts["rejected"] == {}


@pytest.mark.realdata
def test_read_aggregated_public_steam_hours(spark, shared_data):
    path = shared_data / "steam-200k" / "game_play.dat"

    result = read_aggregated(
        spark,
        str(path),
        user_col="User_ID",
        room_col="Game_ID",
        value_col="Hours",
        value_kind="duration",
        value_unit="hours",
    )

    # The file has 70,490 lines: the header and 70,489 records (its README counts 70,490).
    assert result.counts["read"] == 70_489
    assert result.counts["accepted"] + sum(result.counts["rejected"].values()) == 70_489
    assert result.counts["accepted"] > 70_000
