"""Plant dirty records into one day of events and render the day as JSON lines.

Each event gets at most one dirty kind, so every kind can be counted exactly. A record is
*valid* when a correct cleaning step keeps it. A valid record parses and has every
required field with the right type. Its ts parses and lies within a year of the window,
its event_type is known, its user_id is not empty and its room_id has at most 256
characters. Kinds whose records stay valid:
``duplicate`` (one copy is kept), ``non_utc_offset`` (same instant), ``out_of_order`` and
``clock_skew_leave`` (the record is valid, its visit is not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from roomrec import columns as col
from roomrec.columns import EVENT_TYPES
from roomrec.generate import vocab
from roomrec.generate.events import NO_ROOM, ROOM_ENTER, ROOM_LEAVE, Events
from roomrec.generate.writer import format_iso_ms

MS_PER_YEAR = 365 * 86_400_000
MAX_ROOM_ID_LENGTH = 256

# Dirty kinds in the order they are assigned, with the share of eligible events they get.
# Eligibility: "leave" = room_leave events, "room" = events with a room_id, "any" = all.
DIRTY_KINDS: tuple[tuple[str, float, str], ...] = (
    ("missing_room_leave", 0.015, "leave"),
    ("clock_skew_leave", 0.006, "leave"),
    ("long_room_id", 0.0008, "room"),
    ("malformed_json", 0.0015, "any"),
    ("missing_field", 0.001, "any"),
    ("wrong_type", 0.001, "any"),
    ("unparseable_ts", 0.0005, "any"),
    ("unknown_event_type", 0.001, "any"),
    ("empty_user_id", 0.0005, "any"),
    ("epoch_ts", 0.0002, "any"),
    ("future_ts", 0.0002, "any"),
    ("duplicate", 0.003, "any"),
    ("non_utc_offset", 0.0015, "any"),
    ("out_of_order", 0.0015, "any"),
)
DIRTY_KIND_NAMES: tuple[str, ...] = tuple(kind for kind, _, _ in DIRTY_KINDS)
KIND_CODE = {name: code for code, name in enumerate(DIRTY_KIND_NAMES)}
CLEAN = -1
# Kinds whose record a correct cleaning step keeps.
VALID_KINDS = frozenset(
    KIND_CODE[k] for k in ("duplicate", "non_utc_offset", "out_of_order", "clock_skew_leave")
)

# Delay before a displaced (out-of-order) record is written, in milliseconds.
OUT_OF_ORDER_DELAY_MS = (5_000, 900_000)
# How far a clock-skewed room_leave is written before its room_enter, in milliseconds.
CLOCK_SKEW_MS = (1_000, 60_000)
# Years added to the ts of records planted with a far-future ts.
FUTURE_YEARS = (20, 80)


@dataclass
class DayOutput:
    """Rendered lines of one day, split into files, and what was planted in them."""

    parts: list[list[str]]
    dirty: dict[str, int]
    lines_by_type: dict[str, int]
    valid_by_type: dict[str, int]
    invalid_enter_visits: np.ndarray
    broken_leave_visits: np.ndarray
    n_events: int


def _format_offset_ts(ms: int, offset_min: int) -> str:
    local = np.datetime64(int(ms + offset_min * 60_000), "ms")
    sign = "+" if offset_min >= 0 else "-"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{np.datetime_as_string(local, unit='ms')}{sign}{hours:02d}:{minutes:02d}"


def event_id_strings(first: int, n: int) -> list[str]:
    """Return ``n`` unique event ids for the events numbered ``first`` onwards.

    The number is multiplied by an odd constant modulo 2**64, a bijection, so ids are
    unique and look random while staying deterministic.
    """
    numbers = np.arange(first, first + n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return [f"e{x:016x}" for x in numbers.tolist()]


def _assign_kinds(rng: np.random.Generator, events: Events) -> np.ndarray:
    kind = np.full(len(events), CLEAN, dtype=np.int8)
    eligible_by_name = {
        "leave": events.event_type == ROOM_LEAVE,
        "room": events.room != NO_ROOM,
        "any": np.ones(len(events), dtype=bool),
    }
    for code, (_, rate, eligibility) in enumerate(DIRTY_KINDS):
        candidates = np.flatnonzero(eligible_by_name[eligibility] & (kind == CLEAN))
        count = int(rng.binomial(len(candidates), rate))
        chosen = rng.choice(candidates, size=count, replace=False)
        kind[chosen] = code
    return kind


def _realised_out_of_order(instants: list[int | None]) -> int:
    """Count valid lines whose ts is earlier than the ts of an earlier valid line."""
    count = 0
    running_max = None
    for instant in instants:
        if instant is None:
            continue
        if running_max is not None and instant < running_max:
            count += 1
        else:
            running_max = instant
    return count


def render_day(
    rng: np.random.Generator,
    events: Events,
    user_json: np.ndarray,
    room_json: np.ndarray,
    first_event_number: int,
    lines_per_part: int,
) -> DayOutput:
    """Plant dirty records into a day's events (sorted by ts) and render them as lines.

    ``user_json`` and ``room_json`` map user and room indexes to their JSON string
    literals; ``room_json[-1]`` must be ``"null"``.
    """
    n = len(events)
    kind = _assign_kinds(rng, events)
    ids = event_id_strings(first_event_number, n)
    code = KIND_CODE

    written_ts = events.ts.copy()
    order_key = events.ts.copy()
    skew = np.flatnonzero(kind == code["clock_skew_leave"])
    written_ts[skew] = events.enter_ts[skew] - rng.integers(*CLOCK_SKEW_MS, size=len(skew))
    order_key[skew] = written_ts[skew]
    epoch = np.flatnonzero(kind == code["epoch_ts"])
    written_ts[epoch] = rng.integers(0, 86_400_000, size=len(epoch))
    future = np.flatnonzero(kind == code["future_ts"])
    written_ts[future] += rng.integers(*FUTURE_YEARS, size=len(future)) * MS_PER_YEAR
    displaced = np.flatnonzero(kind == code["out_of_order"])
    order_key[displaced] += rng.integers(*OUT_OF_ORDER_DELAY_MS, size=len(displaced))

    ts_text = format_iso_ms(written_ts)
    types = [EVENT_TYPES[t] for t in events.event_type.tolist()]
    users = user_json[events.user].tolist()
    rooms = room_json[events.room].tolist()
    screen_json = np.asarray([json.dumps(s) for s in vocab.SCREENS] + ["null"], dtype=object)
    screens = screen_json[events.screen].tolist()
    lines = [
        f'{{"{col.EVENT_ID}":"{e}","{col.TS}":"{t}","{col.USER_ID}":{u},'
        f'"{col.EVENT_TYPE}":"{et}","{col.ROOM_ID}":{r},"{col.SCREEN}":{s}}}'
        for e, t, u, et, r, s in zip(ids, ts_text, users, types, rooms, screens)
    ]

    lines_by_type = {name: 0 for name in EVENT_TYPES}
    hidden_type = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(kind >= 0).tolist():
        k = DIRTY_KIND_NAMES[kind[i]]
        if k in ("duplicate", "out_of_order", "clock_skew_leave", "missing_room_leave"):
            continue
        if k == "malformed_json":
            cut = int(rng.integers(10, len(lines[i]) - 1))
            lines[i] = lines[i][:cut]
            hidden_type[i] = True
            continue
        record = json.loads(lines[i])
        if k == "missing_field":
            required = [col.EVENT_ID, col.TS, col.USER_ID, col.EVENT_TYPE]
            if events.room[i] != NO_ROOM:
                required.append(col.ROOM_ID)
            dropped = required[int(rng.integers(0, len(required)))]
            del record[dropped]
            hidden_type[i] = dropped == col.EVENT_TYPE
        elif k == "wrong_type":
            fields = [col.USER_ID, col.TS] + ([col.ROOM_ID] if events.room[i] != NO_ROOM else [])
            target = fields[int(rng.integers(0, len(fields)))]
            if target == col.USER_ID:
                record[target] = int(events.user[i])
            elif target == col.TS:
                record[target] = int(events.ts[i])
            else:
                record[target] = int(events.room[i])
        elif k == "unparseable_ts":
            record[col.TS] = vocab.GARBAGE_TIMESTAMPS[
                int(rng.integers(0, len(vocab.GARBAGE_TIMESTAMPS)))
            ]
        elif k == "unknown_event_type":
            record[col.EVENT_TYPE] = vocab.UNKNOWN_EVENT_TYPES[
                int(rng.integers(0, len(vocab.UNKNOWN_EVENT_TYPES)))
            ]
            hidden_type[i] = True
        elif k == "empty_user_id":
            record[col.USER_ID] = ""
        elif k == "long_room_id":
            length = int(rng.integers(MAX_ROOM_ID_LENGTH + 1, 1200))
            digits = rng.integers(0, 16, size=length).tolist()
            record[col.ROOM_ID] = record[col.ROOM_ID] + "-" + "".join(f"{d:x}" for d in digits)
        elif k == "non_utc_offset":
            offset = vocab.NON_UTC_OFFSETS_MIN[int(rng.integers(0, len(vocab.NON_UTC_OFFSETS_MIN)))]
            record[col.TS] = _format_offset_ts(int(events.ts[i]), offset)
        lines[i] = json.dumps(record, separators=(",", ":"))

    # Line order: by the key (true time, written time for clock-skewed leaves, true time
    # plus a delay for displaced records); duplicates follow their original.
    order = np.lexsort((np.arange(n), order_key))
    valid = (kind == CLEAN) | np.isin(kind, sorted(VALID_KINDS))
    missing = kind == code["missing_room_leave"]
    duplicate = kind == code["duplicate"]
    n_copies = np.where(duplicate, 1 + (rng.random(n) < 0.2), 0)

    out_lines: list[str] = []
    instants: list[int | None] = []
    for i in order.tolist():
        if missing[i]:
            continue
        instant = int(written_ts[i]) if valid[i] else None
        for _ in range(1 + int(n_copies[i])):
            out_lines.append(lines[i])
            instants.append(instant)

    dirty = {name: int((kind == c).sum()) for c, name in enumerate(DIRTY_KIND_NAMES)}
    dirty["duplicate"] = int(n_copies.sum())
    parts = []
    out_of_order = 0
    for lo in range(0, max(len(out_lines), 1), lines_per_part):
        parts.append(out_lines[lo : lo + lines_per_part])
        out_of_order += _realised_out_of_order(instants[lo : lo + lines_per_part])
    dirty["out_of_order"] = out_of_order

    written = ~missing
    type_visible = written & ~hidden_type
    for t, name in enumerate(EVENT_TYPES):
        is_type = events.event_type == t
        visible = is_type & type_visible
        lines_by_type[name] = int(visible.sum() + (n_copies * visible).sum())
    valid_by_type = {
        name: int(((events.event_type == t) & valid).sum()) for t, name in enumerate(EVENT_TYPES)
    }

    is_enter = events.event_type == ROOM_ENTER
    is_leave = events.event_type == ROOM_LEAVE
    invalid_enter = events.visit[is_enter & ~valid]
    broken_leave = events.visit[is_leave & (~valid | (kind == code["clock_skew_leave"]))]
    return DayOutput(
        parts=parts,
        dirty=dirty,
        lines_by_type=lines_by_type,
        valid_by_type=valid_by_type,
        invalid_enter_visits=invalid_enter,
        broken_leave_visits=broken_leave,
        n_events=n,
    )
