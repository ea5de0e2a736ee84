"""Tests for roomrec.adapters: the readers of each input kind and load_visits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from roomrec import columns as C
from roomrec.adapters import load_visits
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
