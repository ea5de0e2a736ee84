"""Tests of the synthetic data generator on the tiny size (no Spark needed)."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roomrec.columns import EVENT_TYPES, ROOM_EVENT_TYPES
from roomrec.generate import (
    DIRTY_KIND_NAMES,
    GENERATOR_VERSION,
    SIZES,
    ensure_generated,
    generate,
    main,
)
from roomrec.generate.sizes import get_size

REQUIRED_KEYS = ("event_id", "ts", "user_id", "event_type", "room_id", "screen")
TS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TS_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")
SCREENS = {"home", "room_browser", "search", "profile", "catalogue", "room_card"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict, float]:
    out = tmp_path_factory.mktemp("gen") / "tiny"
    started = time.perf_counter()
    manifest = generate(out, size="tiny", seed=42)
    return out, manifest, time.perf_counter() - started


def _invalid_kind(record: object, earliest: dt.datetime, latest: dt.datetime) -> str | None:
    """Return the dirty kind that makes a parsed line invalid, or None if it is valid."""
    if not isinstance(record, dict) or not all(key in record for key in REQUIRED_KEYS):
        return "missing_field"
    ids_are_strings = all(isinstance(record[k], str) for k in REQUIRED_KEYS[:4])
    optional_are_strings = all(
        record[k] is None or isinstance(record[k], str) for k in REQUIRED_KEYS[4:]
    )
    if not ids_are_strings or not optional_are_strings:
        return "wrong_type"
    try:
        ts = dt.datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
    except ValueError:
        return "unparseable_ts"
    if record["event_type"] not in EVENT_TYPES:
        return "unknown_event_type"
    if record["user_id"] == "":
        return "empty_user_id"
    if record["room_id"] is not None and len(record["room_id"]) > 256:
        return "long_room_id"
    if ts < earliest:
        return "epoch_ts"
    if ts > latest:
        return "future_ts"
    record["instant"] = ts
    return None


@pytest.fixture(scope="module")
def parsed(tiny) -> dict:
    """Classify every event line the way a careful cleaning step would."""
    out, manifest, _ = tiny
    start = dt.datetime.fromisoformat(manifest["start_date"]).replace(tzinfo=dt.timezone.utc)
    end = dt.datetime.fromisoformat(manifest["end_date"]).replace(tzinfo=dt.timezone.utc)
    earliest = start - dt.timedelta(days=365)
    latest = end + dt.timedelta(days=366)
    kinds: collections.Counter = collections.Counter()
    lines_by_type: collections.Counter = collections.Counter()
    partition_mismatch: collections.Counter = collections.Counter()
    valid: list[dict] = []
    seen_lines: dict[str, str] = {}
    duplicate_copies_identical = True
    n_lines = 0

    for path in sorted(out.glob("events/date=*/part-*.json.gz")):
        partition = path.parent.name.split("=", 1)[1]
        running_max = None
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            lines = stream.read().splitlines()
        n_lines += len(lines)
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                kinds["malformed_json"] += 1
                continue
            if isinstance(record, dict) and record.get("event_type") in EVENT_TYPES:
                lines_by_type[record["event_type"]] += 1
            kind = _invalid_kind(record, earliest, latest)
            if kind is not None:
                kinds[kind] += 1
                continue

            # Valid records: count duplicates, offsets, disorder and partition mismatches.
            ts = record["instant"]
            if record["event_id"] in seen_lines:
                kinds["duplicate"] += 1
                duplicate_copies_identical &= seen_lines[record["event_id"]] == line
            else:
                seen_lines[record["event_id"]] = line
                valid.append(record)
            if not record["ts"].endswith("Z"):
                kinds["non_utc_offset"] += 1
            if running_max is not None and ts < running_max:
                kinds["out_of_order"] += 1
            else:
                running_max = ts
            if ts.astimezone(dt.timezone.utc).date().isoformat() != partition:
                partition_mismatch[record["event_type"]] += 1

    return {
        "kinds": kinds,
        "lines_by_type": lines_by_type,
        "valid": valid,
        "n_lines": n_lines,
        "duplicate_copies_identical": duplicate_copies_identical,
        "partition_mismatch": partition_mismatch,
    }


@pytest.fixture(scope="module")
def visits(parsed, tiny) -> list[dict]:
    """Pair valid room_enter and room_leave records of each user into visits."""
    by_user: dict[str, list[dict]] = collections.defaultdict(list)
    for record in parsed["valid"]:
        by_user[record["user_id"]].append(record)
    order = {"room_leave": 0, "room_enter": 1}
    result = []
    for user, records in by_user.items():
        records.sort(key=lambda r: (r["instant"], order.get(r["event_type"], 2)))
        open_enter = None
        for record in records:
            kind = record["event_type"]
            if kind == "room_leave":
                if open_enter is not None and open_enter["room_id"] == record["room_id"]:
                    dwell = (record["instant"] - open_enter["instant"]).total_seconds()
                    result.append(
                        {
                            "user_id": user,
                            "room_id": record["room_id"],
                            "start": open_enter["instant"],
                            "dwell_s": dwell,
                        }
                    )
                    open_enter = None
            elif kind == "room_enter" or kind in ("screen_view", "click"):
                open_enter = record if kind == "room_enter" else None
    return result


@pytest.fixture(scope="module")
def rooms(tiny) -> dict[str, dict]:
    out, _, _ = tiny
    with gzip.open(out / "rooms" / "part-00000.json.gz", "rt", encoding="utf-8") as stream:
        return {r["room_id"]: r for r in map(json.loads, stream)}


def _read_truth(out: Path) -> list[dict]:
    with gzip.open(out / "truth" / "affinities.csv.gz", "rt", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _human_enters(parsed, manifest) -> list[dict]:
    bots = set(manifest["bot_user_ids"])
    return [
        r for r in parsed["valid"] if r["event_type"] == "room_enter" and r["user_id"] not in bots
    ]


def test_tiny_size_targets(tiny):
    _, manifest, _ = tiny
    counts = manifest["counts"]
    assert counts["users"] == 300
    assert 20_000 <= counts["lines"] <= 40_000
    assert manifest["parameters"]["n_days"] == 21
    assert manifest["end_date"] == "2026-01-25"


def test_generate_is_deterministic(tiny, tmp_path):
    out, manifest, _ = tiny
    again = tmp_path / "again"
    generate(again, size="tiny", seed=42)
    files = [
        "manifest.json",
        "events/date=2026-01-05/part-00000.json.gz",
        "events/date=2026-01-25/part-00000.json.gz",
        "rooms/part-00000.json.gz",
        "users/part-00000.json.gz",
        "truth/affinities.csv.gz",
    ]
    for name in files:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    event_files = sorted(p.relative_to(out) for p in out.glob("events/*/*"))
    assert event_files == sorted(p.relative_to(again) for p in again.glob("events/*/*"))


def test_other_seed_gives_other_data(tiny, tmp_path):
    out, _, _ = tiny
    other = tmp_path / "other"
    generate(other, size="tiny", seed=7)
    name = "events/date=2026-01-05/part-00000.json.gz"
    assert (out / name).read_bytes() != (other / name).read_bytes()


def test_gzip_header_has_zero_mtime(tiny):
    out, _, _ = tiny
    header = (out / "rooms" / "part-00000.json.gz").read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b"
    assert header[4:8] == b"\x00\x00\x00\x00"


def test_file_layout(tiny):
    out, manifest, _ = tiny
    dates = sorted(p.name for p in (out / "events").iterdir())
    assert len(dates) == 21
    assert dates[0] == "date=2026-01-05"
    assert dates[-1] == "date=2026-01-25"
    assert manifest["counts"]["event_files"] == len(list(out.glob("events/*/part-*.json.gz")))
    for name in (
        "rooms/part-00000.json.gz",
        "users/part-00000.json.gz",
        "truth/affinities.csv.gz",
        "manifest.json",
    ):
        assert (out / name).is_file(), name


def test_manifest_line_counts_match_files(tiny, parsed):
    _, manifest, _ = tiny
    counts = manifest["counts"]
    assert counts["lines"] == parsed["n_lines"]
    assert counts["events_by_type"] == {t: parsed["lines_by_type"][t] for t in EVENT_TYPES}
    valid_by_type = collections.Counter(r["event_type"] for r in parsed["valid"])
    assert counts["valid_events_by_type"] == {t: valid_by_type[t] for t in EVENT_TYPES}


def test_manifest_table_counts_match_files(tiny, rooms):
    out, manifest, _ = tiny
    counts = manifest["counts"]
    with gzip.open(out / "users" / "part-00000.json.gz", "rt", encoding="utf-8") as stream:
        users = [json.loads(line) for line in stream]
    assert counts["users"] == len(users)
    assert counts["rooms"] == len(rooms)
    assert counts["private_rooms"] == sum(not r["is_public"] for r in rooms.values())
    assert counts["affinity_rows"] == len(_read_truth(out))
    assert manifest["generator_version"] == GENERATOR_VERSION


def test_dirty_counts_match_parsing(tiny, parsed):
    _, manifest, _ = tiny
    line_kinds = [
        k for k in DIRTY_KIND_NAMES if k not in ("missing_room_leave", "clock_skew_leave")
    ]
    for kind in line_kinds:
        assert manifest["dirty"][kind] == parsed["kinds"][kind], kind
        assert manifest["dirty"][kind] > 0, kind
    assert parsed["duplicate_copies_identical"]


def test_dirty_share_is_small(tiny):
    _, manifest, _ = tiny
    share = manifest["dirty_records"] / manifest["counts"]["lines"]
    assert 0.005 < share < 0.03


def test_clean_visits_match_pairing(tiny, visits):
    _, manifest, _ = tiny
    assert manifest["counts"]["clean_visits"] == len(visits)


def test_unpaired_records_match_manifest(tiny, parsed, visits):
    _, manifest, _ = tiny
    counts = manifest["counts"]
    valid = parsed["valid"]
    valid_enters = sum(r["event_type"] == "room_enter" for r in valid)
    valid_leaves = sum(r["event_type"] == "room_leave" for r in valid)
    assert valid_enters - len(visits) == counts["visits_without_leave"]
    skewed = manifest["dirty"]["clock_skew_leave"]
    assert valid_leaves - len(visits) == counts["visits_without_enter"] + skewed
    assert counts["visits_without_leave"] >= manifest["dirty"]["missing_room_leave"]
    assert manifest["dirty"]["missing_room_leave"] > 0
    assert skewed > 0


def test_clock_skew_leaves_precede_their_enter(parsed, tiny):
    _, manifest, _ = tiny
    # A skewed leave lies before the enter of the same user and room that follows it.
    by_user: dict[str, list[dict]] = collections.defaultdict(list)
    for record in parsed["valid"]:
        if record["event_type"] in ("room_enter", "room_leave"):
            by_user[record["user_id"]].append(record)
    skewed = 0
    for records in by_user.values():
        records.sort(key=lambda r: r["instant"])
        for before, after in zip(records, records[1:]):
            if (
                before["event_type"] == "room_leave"
                and after["event_type"] == "room_enter"
                and before["room_id"] == after["room_id"]
                and (after["instant"] - before["instant"]).total_seconds() <= 60
            ):
                skewed += 1
    assert skewed >= manifest["dirty"]["clock_skew_leave"] * 0.8


def test_valid_records_follow_schema(parsed):
    for record in parsed["valid"]:
        assert re.fullmatch(r"e[0-9a-f]{16}", record["event_id"])
        assert re.fullmatch(r"u\d{6}", record["user_id"])
        assert TS_UTC.match(record["ts"]) or TS_OFFSET.match(record["ts"])
        kind = record["event_type"]
        if kind in ROOM_EVENT_TYPES:
            assert re.fullmatch(r"r\d{5}", record["room_id"])
            assert record["screen"] is None
        elif kind == "screen_view":
            assert record["room_id"] is None
            assert record["screen"] in SCREENS
        else:
            assert record["screen"] in SCREENS
            assert (record["room_id"] is not None) == (record["screen"] == "room_card")


def test_partition_is_utc_date_of_ts(parsed, tiny):
    _, manifest, _ = tiny
    mismatch = parsed["partition_mismatch"]
    assert set(mismatch) <= {"room_leave"}
    assert mismatch["room_leave"] <= manifest["dirty"]["clock_skew_leave"]


def test_event_ids_unique_across_files(parsed):
    ids = [r["event_id"] for r in parsed["valid"]]
    assert len(ids) == len(set(ids))


def test_popularity_is_heavy_tailed(tiny, parsed, rooms):
    _, manifest, _ = tiny
    counts = collections.Counter(r["room_id"] for r in _human_enters(parsed, manifest))
    top = sorted(counts.values(), reverse=True)[: len(rooms) // 10]
    assert sum(top) / sum(counts.values()) > 0.3


def test_own_rooms_take_large_share(tiny, visits, rooms):
    _, manifest, _ = tiny
    bots = set(manifest["bot_user_ids"])
    human = [v for v in visits if v["user_id"] not in bots]
    own = [v for v in human if rooms[v["room_id"]]["owner_id"] == v["user_id"]]
    assert len(own) / len(human) > 0.15
    own_time = sum(v["dwell_s"] for v in own)
    assert own_time / sum(v["dwell_s"] for v in human) > 0.3


def test_bots_enter_many_rooms_briefly(tiny, visits):
    _, manifest, _ = tiny
    bots = set(manifest["bot_user_ids"])
    assert len(bots) >= 2
    per_user_day = collections.Counter((v["user_id"], v["start"].date()) for v in visits)
    for bot in bots:
        assert max(n for (u, _), n in per_user_day.items() if u == bot) >= 100
        dwell = sorted(v["dwell_s"] for v in visits if v["user_id"] == bot)
        assert dwell[len(dwell) // 2] < 3.0
    human_max = max(n for (u, _), n in per_user_day.items() if u not in bots)
    assert human_max < 100


def test_dwell_grows_with_affinity(tiny, visits, rooms):
    out, manifest, _ = tiny
    bots = set(manifest["bot_user_ids"])
    affinity = {(r["user_id"], r["room_id"]): float(r["affinity"]) for r in _read_truth(out)}
    high, low = [], []
    for v in visits:
        if v["user_id"] in bots or rooms[v["room_id"]]["owner_id"] == v["user_id"]:
            continue
        # Rooms outside a user's top 100 have a lower affinity than any listed one.
        value = affinity.get((v["user_id"], v["room_id"]), 0.0)
        if value >= 0.85:
            high.append(v["dwell_s"])
        elif value < 0.5:
            low.append(v["dwell_s"])
    high.sort()
    low.sort()
    assert len(low) > 50
    assert len(high) > 50
    assert high[len(high) // 2] > 2.0 * low[len(low) // 2]


def test_dwell_spans_seconds_to_hours(tiny, visits):
    _, manifest, _ = tiny
    bots = set(manifest["bot_user_ids"])
    dwell = [v["dwell_s"] for v in visits if v["user_id"] not in bots]
    assert min(dwell) < 30
    assert max(dwell) > 3600
    assert max(dwell) <= 4 * 3600


def test_new_rooms_appear_and_get_visits(tiny, parsed, rooms):
    _, manifest, _ = tiny
    start = manifest["start_date"]
    new = {rid for rid, r in rooms.items() if r["created_at"] >= start}
    assert manifest["counts"]["rooms_created_in_window"] == len(new)
    created_days = {rooms[rid]["created_at"][:10] for rid in new}
    assert len(created_days) == 21
    enters = _human_enters(parsed, manifest)
    assert sum(r["room_id"] in new for r in enters) > 0.03 * len(enters)
    for record in parsed["valid"]:
        if record["event_type"] == "room_enter":
            created = dt.datetime.fromisoformat(
                rooms[record["room_id"]]["created_at"].replace("Z", "+00:00")
            )
            assert record["instant"] >= created


def test_rooms_table_fields(rooms):
    categories = {r["category"] for r in rooms.values()}
    assert len(categories) >= 8
    for room in rooms.values():
        assert room["language"] in {"en", "es", "pt", "de", "fr", "fi"}
        assert isinstance(room["tags"], list)
        assert len(room["tags"]) >= 2
        assert room["category"] in room["description"] or any(
            t in room["description"] for t in room["tags"]
        )
        assert re.fullmatch(r"u\d{6}", room["owner_id"])
        assert TS_UTC.match(room["created_at"])


def test_affinities_have_100_rows_per_user(tiny):
    out, manifest, _ = tiny
    rows = _read_truth(out)
    per_user: dict[str, list[float]] = collections.defaultdict(list)
    for row in rows:
        per_user[row["user_id"]].append(float(row["affinity"]))
    assert len(per_user) == manifest["counts"]["users"]
    for values in per_user.values():
        assert len(values) == 100
        assert values == sorted(values, reverse=True)


def test_discoveries_follow_affinity_more_than_popularity(tiny, parsed):
    """In the last 7 days, rooms new to a user are found better by affinity than popularity."""
    out, manifest, _ = tiny
    enters = _human_enters(parsed, manifest)
    end = dt.datetime.fromisoformat(manifest["end_date"]).replace(tzinfo=dt.timezone.utc)
    cut = end - dt.timedelta(days=6)
    train = [r for r in enters if r["instant"] < cut]
    test = [r for r in enters if r["instant"] >= cut]
    seen = {(r["user_id"], r["room_id"]) for r in train}
    new = collections.defaultdict(set)
    for r in test:
        if (r["user_id"], r["room_id"]) not in seen:
            new[r["user_id"]].add(r["room_id"])
    n_new_visits = sum((r["user_id"], r["room_id"]) not in seen for r in test)
    assert n_new_visits > 0.15 * len(test)

    popularity = collections.Counter(r["room_id"] for r in train)
    by_affinity: dict[str, list[str]] = collections.defaultdict(list)
    for row in _read_truth(out):
        by_affinity[row["user_id"]].append(row["room_id"])
    hits = {"affinity": 0, "popularity": 0}
    for user, rooms_found in new.items():
        unseen_popular = [r for r, _ in popularity.most_common() if (user, r) not in seen]
        unseen_affine = [r for r in by_affinity[user] if (user, r) not in seen]
        hits["popularity"] += len(rooms_found & set(unseen_popular[:10]))
        hits["affinity"] += len(rooms_found & set(unseen_affine[:10]))
    assert hits["affinity"] > 2 * hits["popularity"]


def test_ensure_generated_caches(tmp_path):
    path = ensure_generated("tiny", seed=3, root=tmp_path)
    assert path == tmp_path / "tiny-seed3"
    manifest = path / "manifest.json"
    events = path / "events" / "date=2026-01-05" / "part-00000.json.gz"
    before = (manifest.stat().st_mtime_ns, events.stat().st_mtime_ns)
    assert ensure_generated("tiny", seed=3, root=tmp_path) == path
    assert (manifest.stat().st_mtime_ns, events.stat().st_mtime_ns) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_ensure_generated_regenerates_other_version(tmp_path):
    path = ensure_generated("tiny", seed=3, root=tmp_path)
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["generator_version"] = "0-old"
    manifest_path.write_text(json.dumps(manifest))
    (path / "stale-marker").write_text("from the old version")
    assert ensure_generated("tiny", seed=3, root=tmp_path) == path
    assert json.loads(manifest_path.read_text())["generator_version"] == GENERATOR_VERSION
    assert not (path / "stale-marker").exists()


def test_ensure_generated_uses_env_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOMREC_DATA_DIR", str(tmp_path / "env-root"))
    path = ensure_generated("tiny", seed=5)
    assert path == tmp_path / "env-root" / "tiny-seed5"
    assert (path / "manifest.json").is_file()


def test_unknown_size_raises(tmp_path):
    with pytest.raises(ValueError, match=r"'huge'.*tiny, default, large"):
        generate(tmp_path / "x", size="huge")
    with pytest.raises(ValueError, match="'huge'"):
        ensure_generated("huge", root=tmp_path)
    with pytest.raises(ValueError, match="'huge'"):
        get_size("huge")
    assert not (tmp_path / "x").exists()


def test_invalid_start_date_raises(tmp_path):
    with pytest.raises(ValueError, match="'2026-02-30'"):
        generate(tmp_path / "x", start_date="2026-02-30")


def test_generate_keeps_foreign_directory(tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(foreign, size="tiny")
    assert (foreign / "todo.txt").read_text() == "keep me"


def test_start_date_moves_window(tmp_path):
    manifest = generate(tmp_path / "feb", size="tiny", seed=1, start_date="2026-02-02")
    assert manifest["start_date"] == "2026-02-02"
    assert manifest["end_date"] == "2026-02-22"
    assert (tmp_path / "feb" / "events" / "date=2026-02-22").is_dir()


def test_main_writes_out_dir(tmp_path):
    out = tmp_path / "cli"
    assert main(["--size", "tiny", "--seed", "9", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 9
    assert manifest["size"] == "tiny"


def test_main_rejects_unknown_size(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--size", "huge"])
    assert exc.value.code == 2
    assert "huge" in capsys.readouterr().err


def test_main_help_names_outputs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "manifest.json" in text
    assert "days" in text


def test_sizes_are_ordered():
    assert list(SIZES) == ["tiny", "default", "large"]
    assert SIZES["tiny"].n_users < SIZES["default"].n_users < SIZES["large"].n_users
    with pytest.raises(AttributeError):
        SIZES["tiny"].n_users = 1


def test_concurrent_ensure_generated(tmp_path):
    """Two processes asking for the same data set at once both get a complete one."""
    code = (
        "import sys; from roomrec.generate import ensure_generated; "
        "print(ensure_generated('tiny', seed=11, root=sys.argv[1]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1] == str(tmp_path / "tiny-seed11")
    manifest = json.loads((tmp_path / "tiny-seed11" / "manifest.json").read_text())
    assert manifest["seed"] == 11
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "tiny-seed11"
    ]


def test_module_entry_point_runs(tmp_path):
    out = tmp_path / "module"
    result = subprocess.run(
        [sys.executable, "-m", "roomrec.generate", "--size", "tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "manifest.json").is_file()
