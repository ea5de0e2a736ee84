"""Property tests: random event streams through read_events and build_visits.

Each example writes a small JSON-lines file with valid events in random order, exact
duplicate lines and broken lines. The checks: every record is accounted for, each
accepted room_enter becomes exactly one visit, and dwell stays within its bounds. A rerun
gives the same rows, and the visits equal those of a plain-Python reference sessionizer
written from the rules in roomrec.visits.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomrec.ingest import read_events, reconcile
from roomrec.visits import build_visits

BASE = dt.datetime(2026, 3, 29, 0, 0, 0)
USERS = ("u1", "u2", "u3")
ROOMS = ("r1", "r2", "r3")
KINDS = ("room_enter", "room_leave", "chat_message", "click")
BROKEN_LINES = (
    '{"event_id": "x", "ts": "2026-03-29T00:00:00Z", "user_',
    "not json at all",
    json.dumps({"event_id": "y", "ts": "2026-03-29T00:00:00Z", "user_id": "u1"}),
    json.dumps(
        {"event_id": "z", "ts": "1970-01-01T00:00:00Z", "user_id": "u1", "event_type": "click"}
    ),
)

raw_event = st.tuples(
    st.sampled_from(USERS),
    st.sampled_from(KINDS),
    st.sampled_from(ROOMS),
    # Coarse steps make equal timestamps common, so tie-breaking by event_id is exercised.
    st.integers(min_value=0, max_value=120).map(lambda step: step * 15),
)


@st.composite
def event_streams(draw):
    raw = draw(st.lists(raw_event, min_size=0, max_size=30))
    events = [
        {
            "event_id": f"e{index:03d}",
            "ts": (BASE + dt.timedelta(seconds=seconds)).isoformat() + "Z",
            "user_id": user,
            "event_type": kind,
            "room_id": None if kind == "click" else room,
            "screen": "home" if kind == "click" else None,
        }
        for index, (user, kind, room, seconds) in enumerate(raw)
    ]
    lines = [json.dumps(event) for event in events]
    duplicated = draw(st.lists(st.sampled_from(lines), max_size=4)) if lines else []
    broken = draw(st.lists(st.sampled_from(BROKEN_LINES), max_size=3))
    shuffled = draw(st.permutations(lines + duplicated + broken))
    caps = draw(
        st.fixed_dictionaries(
            {
                "session_cap_s": st.sampled_from([120.0, 600.0, 3600.0]),
                "max_dwell_s": st.sampled_from([90.0, 400.0, 14400.0]),
                "max_skew_s": st.sampled_from([0.0, 30.0, 60.0]),
            }
        )
    )
    return events, shuffled, len(duplicated), len(broken), caps


def parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text[:-1])


def reference_visits(events, session_cap_s, max_dwell_s, max_skew_s):
    """Sessionize with plain loops, using the rules documented in roomrec.visits."""
    visits = []
    for user in USERS:
        sequence = sorted(
            (
                (parse_ts(e["ts"]), e["event_id"], e["event_type"], e["room_id"])
                for e in events
                if e["user_id"] == user and e["event_type"] != "click"
            ),
        )
        closes = {}
        for index, (_, _, kind, room) in enumerate(sequence):
            if kind != "room_enter":
                continue
            closes[index] = None
            for later in range(index + 1, len(sequence)):
                _, _, later_kind, later_room = sequence[later]
                if later_kind == "room_enter":
                    closes[index] = ("next", later)
                    break
                if later_kind == "room_leave" and later_room == room:
                    closes[index] = ("measured", later)
                    break
                if later_kind == "chat_message" and later_room != room:
                    closes[index] = ("next", later)
                    break
        used_leaves = {close[1] for close in closes.values() if close and close[0] == "measured"}

        for index, close in closes.items():
            start, _, _, room = sequence[index]
            measured = close is not None and close[0] == "measured"
            previous_in_room = [
                position
                for position in range(index)
                if sequence[position][2] in ("room_enter", "room_leave")
                and sequence[position][3] == room
            ]
            skewed = False
            if previous_in_room and not measured:
                before = previous_in_room[-1]
                before_ts, _, before_kind, _ = sequence[before]
                skewed = (
                    before_kind == "room_leave"
                    and before not in used_leaves
                    and (start - before_ts).total_seconds() <= max_skew_s
                )
            cap_end = start + dt.timedelta(seconds=session_cap_s)
            if measured:
                end = sequence[close[1]][0]
            elif close is not None:
                end = min(sequence[close[1]][0], cap_end)
            else:
                end = cap_end
            dwell = (end - start).total_seconds()
            if dwell > max_dwell_s:
                dwell = max_dwell_s
                end = start + dt.timedelta(seconds=max_dwell_s)
            visits.append((user, room, start, end, float(dwell), 1, not measured, skewed))
    return visits


def sorted_rows(frame):
    return sorted(tuple(row) for row in frame.collect())


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=event_streams())
def test_random_streams_account_for_every_record(spark, stream):
    events, lines, n_duplicates, n_broken, caps = stream
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events" / "part-0.json"
        path.parent.mkdir()
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

        ingested = read_events(spark, str(path.parent), max_ts="2027-01-01")
        result = build_visits(ingested.accepted, **caps)
        visits = sorted_rows(result.visits)
        rerun = build_visits(
            read_events(spark, str(path.parent), max_ts="2027-01-01").accepted, **caps
        )
        rerun_visits = sorted_rows(rerun.visits)

    counts = ingested.counts
    assert counts["read"] == len(lines)
    assert counts["accepted"] == len(events)
    assert counts["duplicates_removed"] == n_duplicates
    assert sum(counts["rejected"].values()) == n_broken
    reconcile({**counts, "visits": result.counts})

    enters = sorted(
        (e["user_id"], e["room_id"], parse_ts(e["ts"]))
        for e in events
        if e["event_type"] == "room_enter"
    )
    assert sorted((row[0], row[1], row[2]) for row in visits) == enters
    assert result.counts["visits"] == len(enters)
    visit_counts = result.counts
    closed = (
        visit_counts["measured"]
        + visit_counts["imputed_at_next_event"]
        + visit_counts["imputed_at_session_cap"]
        + visit_counts["skewed_pairs"]
    )
    assert closed == len(enters)
    leaves = sum(1 for e in events if e["event_type"] == "room_leave")
    assert visit_counts["orphan_leaves"] >= 0
    assert (
        visit_counts["orphan_leaves"] + visit_counts["measured"] + visit_counts["skewed_pairs"]
        == leaves
    )

    for row in visits:
        dwell = row[4]
        assert 0.0 <= dwell <= caps["max_dwell_s"]
        assert (row[3] - row[2]).total_seconds() == dwell

    assert rerun_visits == visits

    expected = reference_visits(events, **caps)
    assert visits == sorted(visit[:7] for visit in expected)
    assert visit_counts["skewed_pairs"] == sum(1 for visit in expected if visit[7])
