"""Tests for roomrec.ingest: reading raw events, reason codes and the accounting."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from roomrec import columns as C
from roomrec.adapters import load_visits
from roomrec.ingest import (
    ReconciliationError,
    RejectedShareError,
    check_rejected_share,
    parse_iso_ts,
    read_events,
    reconcile,
    write_rejected,
)

UTC = dt.timezone.utc


def event(event_id, ts, user="u1", kind="room_enter", room="r1", screen=None):
    return {
        "event_id": event_id,
        "ts": ts,
        "user_id": user,
        "event_type": kind,
        "room_id": room,
        "screen": screen,
    }


def write_lines(path: Path, lines: list[str], compress: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_events(path: Path, events: list[dict], compress: bool = False) -> Path:
    return write_lines(path, [json.dumps(item) for item in events], compress)


def collect_reasons(result) -> dict[str, str]:
    return {row[C.RAW_RECORD]: row[C.REASON] for row in result.rejected.collect()}


def test_read_events_accepts_valid_gzip_partition(spark, tmp_path):
    events = [
        event("e1", "2026-01-05T13:04:55.120Z"),
        event("e2", "2026-01-05T13:05:00Z", kind="room_leave"),
        event("e3", "2026-01-05T13:06:00Z", kind="screen_view", room=None, screen="lobby"),
    ]
    write_events(tmp_path / "events/date=2026-01-05/part-00000.json.gz", events, compress=True)

    result = read_events(spark, str(tmp_path / "events"))

    assert result.counts["read"] == 3
    assert result.counts["accepted"] == 3
    assert result.counts["rejected"] == {}
    assert result.counts["duplicates_removed"] == 0
    rows = {row[C.EVENT_ID]: row for row in result.accepted.collect()}
    assert rows["e1"][C.TS] == dt.datetime(2026, 1, 5, 13, 4, 55, 120000)
    assert rows["e3"][C.ROOM_ID] is None
    assert rows["e3"][C.SCREEN] == "lobby"
    assert result.accepted.schema[C.TS].dataType.typeName() == "timestamp"


def test_read_events_converts_offset_to_utc(spark, tmp_path):
    write_events(
        tmp_path / "events/part-0.json",
        [event("e1", "2026-01-05T15:00:00+02:00"), event("e2", "2026-01-05T08:00:00-0530")],
    )

    result = read_events(spark, str(tmp_path / "events"))

    rows = {row[C.EVENT_ID]: row[C.TS] for row in result.accepted.collect()}
    assert rows["e1"] == dt.datetime(2026, 1, 5, 13, 0, 0)
    assert rows["e2"] == dt.datetime(2026, 1, 5, 13, 30, 0)


def test_read_events_reason_codes(spark, tmp_path):
    long_id = "x" * 300
    lines = [
        json.dumps(event("ok", "2026-01-05T10:00:00Z")),
        '{"event_id": "t1", "ts": "2026-01-05T10:00:00Z", "user_id": "u1", "event_ty',
        "this is not json",
        json.dumps({k: v for k, v in event("m1", "2026-01-05T10:00:00Z").items() if k != "ts"}),
        json.dumps(event("w1", 1767607200)),
        json.dumps(event(12345, "2026-01-05T10:00:00Z")),
        json.dumps(event("k1", "2026-01-05T10:00:00Z", kind="room_teleport")),
        json.dumps(event("   ", "2026-01-05T10:00:00Z")),
        json.dumps(event("l1", "2026-01-05T10:00:00Z", user=long_id)),
        json.dumps(event("f1", "2036-01-05T10:00:00Z")),
        json.dumps(event("o1", "1970-01-01T00:00:00Z")),
        json.dumps(event("r1", "2026-01-05T10:00:00Z", kind="chat_message", room=None)),
        json.dumps(event("i1", "05/01/2026 10:00")),
        "",
    ]
    write_lines(tmp_path / "events/part-0.jsonl", lines)

    result = read_events(spark, str(tmp_path / "events"))
    reasons = collect_reasons(result)

    assert result.counts["read"] == len(lines)
    assert result.counts["accepted"] == 1
    assert reasons[lines[1]] == "malformed_json"
    assert reasons[lines[2]] == "malformed_json"
    assert reasons[lines[3]] == "missing_field:ts"
    assert reasons[lines[4]] == "wrong_type:ts"
    assert reasons[lines[5]] == "wrong_type:event_id"
    assert reasons[lines[6]] == "unknown_event_type"
    assert reasons[lines[7]] == "empty_id:event_id"
    assert reasons[lines[8]] == "id_too_long:user_id"
    assert reasons[lines[9]] == "ts_out_of_range"
    assert reasons[lines[10]] == "ts_out_of_range"
    assert reasons[lines[11]] == "missing_room_id"
    assert reasons[lines[12]] == "invalid_ts"
    assert reasons[""] == "blank_line"
    assert sum(result.counts["rejected"].values()) == len(lines) - 1


def test_read_events_persists_parsed_records(spark, tmp_path):
    write_events(tmp_path / "events/part-0.json", [event("e1", "2026-01-05T10:00:00Z")])

    result = read_events(spark, str(tmp_path / "events"))

    assert result.stored.is_cached
    assert result.accepted.count() == 1
    result.unpersist()
    assert not result.stored.is_cached


def test_read_events_keeps_source_file(spark, tmp_path):
    path = write_lines(tmp_path / "events/part-0.json", ["broken"])

    result = read_events(spark, str(tmp_path / "events"))

    row = result.rejected.collect()[0]
    assert row[C.SOURCE_FILE].endswith(str(path))


def test_read_events_removes_duplicates_deterministically(spark, tmp_path):
    first = event("dup", "2026-01-05T10:00:00Z", room="r1")
    second = event("dup", "2026-01-05T10:00:01Z", room="r2")
    write_events(tmp_path / "a/part-0.json", [second, first])
    write_events(tmp_path / "b/part-0.json", [first, second])

    from_a = read_events(spark, str(tmp_path / "a"))
    from_b = read_events(spark, str(tmp_path / "b"))

    rows_a = from_a.accepted.collect()
    rows_b = from_b.accepted.collect()
    assert from_a.counts["duplicates_removed"] == 1
    assert len(rows_a) == 1
    assert rows_a == rows_b
    assert rows_a[0][C.ROOM_ID] == "r1"


def test_read_events_selects_date_range(spark, tmp_path):
    for day in ("2026-01-04", "2026-01-05", "2026-01-06"):
        write_events(
            tmp_path / f"events/date={day}/part-0.json", [event(f"e-{day}", f"{day}T10:00:00Z")]
        )

    result = read_events(
        spark, str(tmp_path / "events"), start_date="2026-01-05", end_date="2026-01-06"
    )

    ids = sorted(row[C.EVENT_ID] for row in result.accepted.collect())
    assert ids == ["e-2026-01-05", "e-2026-01-06"]
    assert result.counts["files"] == 2


def test_read_events_accepts_glob(spark, tmp_path):
    write_events(
        tmp_path / "events/date=2026-01-05/part-0.json", [event("a", "2026-01-05T10:00:00Z")]
    )
    write_events(
        tmp_path / "events/date=2026-01-06/part-0.json", [event("b", "2026-01-06T10:00:00Z")]
    )

    result = read_events(spark, str(tmp_path / "events/date=2026-01-0[6-9]"))

    assert [row[C.EVENT_ID] for row in result.accepted.collect()] == ["b"]


def test_read_events_csv_with_header(spark, tmp_path):
    write_lines(
        tmp_path / "events/part-0.csv",
        [
            "event_id,ts,user_id,event_type,room_id,screen",
            "e1,2026-01-05T10:00:00+01:00,u1,room_enter,r1,",
            "e2,2026-01-05T10:00:00Z,u1,click,,home",
            "e3,2026-01-05T10:00:00Z,u1",
        ],
    )

    result = read_events(spark, str(tmp_path / "events"))

    rows = {row[C.EVENT_ID]: row for row in result.accepted.collect()}
    assert result.counts["input_format"] == "csv"
    assert result.counts["read"] == 3
    assert rows["e1"][C.TS] == dt.datetime(2026, 1, 5, 9, 0, 0)
    assert rows["e1"][C.SCREEN] is None
    assert rows["e2"][C.ROOM_ID] is None
    assert result.counts["rejected"] == {"malformed_csv": 1}


def test_read_events_parquet(spark, tmp_path):
    frame = spark.createDataFrame(
        [
            ("e1", dt.datetime(2026, 1, 5, 10, 0, 0), "u1", "room_enter", "r1", None),
            ("e2", dt.datetime(1970, 1, 1, 0, 0, 0), "u1", "click", None, "home"),
            ("e3", dt.datetime(2026, 1, 5, 10, 0, 0), "u1", "room_enter", None, None),
        ],
        "event_id string, ts timestamp, user_id string, event_type string, "
        "room_id string, screen string",
    )
    frame.write.parquet(str(tmp_path / "events"))

    result = read_events(spark, str(tmp_path / "events"))

    rows = result.accepted.collect()
    assert result.counts["input_format"] == "parquet"
    assert [row[C.EVENT_ID] for row in rows] == ["e1"]
    assert rows[0][C.TS] == dt.datetime(2026, 1, 5, 10, 0, 0)
    assert result.counts["rejected"] == {"missing_room_id": 1, "ts_out_of_range": 1}
    raw = {row[C.REASON]: row[C.RAW_RECORD] for row in result.rejected.collect()}
    assert json.loads(raw["missing_room_id"])["event_id"] == "e3"


def test_read_events_rejects_mixed_formats(spark, tmp_path):
    write_events(tmp_path / "events/part-0.json", [event("a", "2026-01-05T10:00:00Z")])
    write_lines(tmp_path / "events/part-1.csv", ["event_id,ts"])

    with pytest.raises(ValueError, match="mix formats"):
        read_events(spark, str(tmp_path / "events"))


def test_read_events_date_range_needs_partitions(spark, tmp_path):
    write_events(tmp_path / "events/part-0.json", [event("a", "2026-01-05T10:00:00Z")])

    with pytest.raises(ValueError, match="date=YYYY-MM-DD"):
        read_events(spark, str(tmp_path / "events"), start_date="2026-01-01")


def test_read_events_respects_explicit_max_ts(spark, tmp_path):
    write_events(tmp_path / "events/part-0.json", [event("e1", "2026-01-05T10:00:00Z")])

    result = read_events(spark, str(tmp_path / "events"), max_ts="2026-01-01")

    assert result.counts["rejected"] == {"ts_out_of_range": 1}


def test_read_events_rejects_unknown_format(spark, tmp_path):
    write_events(tmp_path / "events/part-0.json", [event("e1", "2026-01-05T10:00:00Z")])

    with pytest.raises(ValueError, match="unknown input_format 'xml'"):
        read_events(spark, str(tmp_path / "events"), input_format="xml")


def test_read_events_missing_path_raises(spark, tmp_path):
    with pytest.raises(ValueError, match="no input files found"):
        read_events(spark, str(tmp_path / "nothing-here"))


def test_check_rejected_share_raises_above_limit():
    counts = {"read": 100, "accepted": 90, "rejected": {"malformed_json": 10}}

    with pytest.raises(RejectedShareError) as error:
        check_rejected_share(counts, max_rejected_share=0.05, source="events/")

    message = str(error.value)
    assert "10.0%" in message
    assert "max_rejected_share=5.0%" in message
    assert "upstream format changed" in message
    assert "events/" in message
    assert isinstance(error.value, ValueError)


def test_check_rejected_share_passes_at_limit():
    counts = {"read": 100, "accepted": 95, "rejected": {"malformed_json": 5}}

    assert check_rejected_share(counts, max_rejected_share=0.05) == pytest.approx(0.05)


def test_reconcile_builds_table():
    counts = {
        "read": 10,
        "accepted": 7,
        "rejected": {"malformed_json": 2},
        "duplicates_removed": 1,
    }

    table = reconcile(counts)

    assert list(table.columns) == ["stage", "reason", "count", "share"]
    repaired = table[table["stage"] == "repaired"].iloc[0]
    assert repaired["reason"] == "duplicate_removed"
    assert repaired["count"] == 1
    assert repaired["share"] == pytest.approx(0.1)


def test_reconcile_raises_when_counts_do_not_add_up():
    counts = {"read": 10, "accepted": 7, "rejected": {"malformed_json": 2}}

    with pytest.raises(ReconciliationError, match="read=10"):
        reconcile(counts)


def test_write_rejected_partitions_by_reason(spark, tmp_path):
    write_lines(
        tmp_path / "events/part-0.json",
        ["broken", json.dumps({"event_id": "e1"}), json.dumps(event("ok", "2026-01-05T10:00Z"))],
    )
    result = read_events(spark, str(tmp_path / "events"))

    write_rejected(result, str(tmp_path / "rejected"))

    written = spark.read.json(str(tmp_path / "rejected"))
    reasons = sorted(row[C.REASON] for row in written.collect())
    assert reasons == ["invalid_ts", "malformed_json", "missing_field:ts"]
    assert (tmp_path / "rejected" / "reason=malformed_json").is_dir()


BAD_INPUTS = Path(__file__).resolve().parent / "bad_inputs"
BAD_INPUT_CASES = yaml.safe_load((BAD_INPUTS / "expected.yaml").read_text(encoding="utf-8"))
# Fixed so that the event cases do not depend on today's date.
EVENT_DEFAULTS = {"max_ts": "2027-06-01"}


def test_bad_input_corpus_is_complete():
    listed = {case["path"] for case in BAD_INPUT_CASES.values()}
    on_disk = {path.name for path in BAD_INPUTS.iterdir() if path.name != "expected.yaml"}
    assert listed == on_disk
    assert len(BAD_INPUT_CASES) >= 15


@pytest.mark.parametrize("name", sorted(BAD_INPUT_CASES))
def test_bad_input_case(spark, name):
    case = BAD_INPUT_CASES[name]
    options = dict(EVENT_DEFAULTS) if case["kind"] == "events" else {}
    options.update(case.get("options", {}))

    result = load_visits(
        spark, input_format=case["kind"], path=str(BAD_INPUTS / case["path"]), **options
    )
    counts = result.counts

    assert counts["read"] == case["read"]
    assert counts["accepted"] == case["accepted"]
    assert counts["rejected"] == case["rejected"]
    assert counts["duplicates_removed"] == case.get("duplicates_removed", 0)
    assert {k: v for k, v in counts["repaired"].items() if v} == case.get("repaired", {})
    if "files" in case:
        assert counts["files"] == case["files"]
    for key, value in case.get("visits", {}).items():
        assert counts["visits"][key] == value, key
    for key, value in case.get("bots", {}).items():
        assert counts["bots"][key] == value, key
    dwells = sorted(
        (row[C.DWELL_S] for row in result.visits.collect()),
        key=lambda dwell: (dwell is None, dwell),
    )
    assert dwells == case["dwell_s"]
    reasons = {row[C.REASON] for row in result.rejected.collect()}
    assert reasons == set(case["rejected"])
    assert set(result.quality["stage"]) >= {"read", "accepted", "repaired"}


def test_parse_iso_ts_impossible_date_under_ansi(spark):
    # Spark 4 turns ANSI mode on by default, where a plain cast of an impossible date
    # raises instead of returning null.
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", "true")
    try:
        rows = (
            spark.createDataFrame(
                [("2026-13-45T25:61:00.000Z",), ("2026-01-05T13:04:55+02:00",)], "text string"
            )
            .select(F.unix_micros(parse_iso_ts(F.col("text"))).alias("micros"))
            .collect()
        )
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
    expected = dt.datetime(2026, 1, 5, 11, 4, 55, tzinfo=UTC).timestamp() * 1_000_000
    assert rows[0]["micros"] is None
    assert rows[1]["micros"] == expected
