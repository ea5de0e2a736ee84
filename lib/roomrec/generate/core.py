"""Generate a whole data set: world, day-by-day events, tables, truth and manifest."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np

from roomrec import columns as col
from roomrec.columns import EVENT_TYPES
from roomrec.generate import behaviour, dirty
from roomrec.generate.events import Events, concat_events, empty_events
from roomrec.generate.simulate import DayStats, SimulationState, simulate_day
from roomrec.generate.sizes import get_size
from roomrec.generate.world import (
    AFFINITY_BLOCK_USERS,
    MS_PER_DAY,
    World,
    affinity_block,
    build_world,
)
from roomrec.generate.writer import write_gzip_lines, write_rooms, write_users

logger = logging.getLogger(__name__)

# Bump whenever the output for a given size and seed changes, so that cached data sets
# written by an older generator are regenerated.
GENERATOR_VERSION = "2"
DEFAULT_START_DATE = "2026-01-05"
MANIFEST_NAME = "manifest.json"
TRUTH_TOP_ROOMS = 100


def parse_start_date(start_date: str) -> dt.date:
    """Parse a YYYY-MM-DD start date.

    Raises
    ------
    ValueError
        If ``start_date`` is not a valid date in that format.
    """
    try:
        return dt.date.fromisoformat(start_date)
    except (TypeError, ValueError):
        raise ValueError(
            f"invalid start date {start_date!r}; expected a date as YYYY-MM-DD, "
            f"for example {DEFAULT_START_DATE}"
        ) from None


def _is_generator_output(path: Path) -> bool:
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "generator_version" in manifest


def check_output_dir(out_dir: Path) -> None:
    """Raise FileExistsError unless ``out_dir`` is absent, empty or an earlier output."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"output path {out_dir} exists and is not a directory")
    if any(out_dir.iterdir()) and not _is_generator_output(out_dir):
        raise FileExistsError(
            f"output directory {out_dir} is not empty and contains no {MANIFEST_NAME} of an "
            "earlier generator run; choose an empty or new directory"
        )


def replace_dir(new: Path, target: Path) -> None:
    """Move the finished directory ``new`` to ``target``, replacing an earlier output."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def generate(
    out_dir: str | Path,
    size: str = "tiny",
    seed: int = 42,
    start_date: str = DEFAULT_START_DATE,
) -> dict:
    """Generate a synthetic data set of room-visit logs and write it to ``out_dir``.

    The data set is written to a temporary sibling directory first and moved into place
    when complete, so ``out_dir`` never contains a partial data set. An existing ``out_dir``
    is replaced only if it is empty or contains an earlier generator output.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write; its parent is created if needed.
    size : str
        One of the keys of :data:`roomrec.generate.SIZES`.
    seed : int
        Seed of all random draws. The same size, seed and start date give byte-identical
        files.
    start_date : str
        First day of the window, YYYY-MM-DD, interpreted as 00:00 UTC.

    Returns
    -------
    dict
        The manifest, also written to ``<out_dir>/manifest.json``.

    Raises
    ------
    ValueError
        If ``size`` or ``start_date`` is invalid.
    FileExistsError
        If ``out_dir`` contains files that are not an earlier generator output.

    Notes
    -----
    Files written, all gzip files with one record per line:

    ``events/date=YYYY-MM-DD/part-NNNNN.json.gz``
        JSON events with keys event_id, ts (ISO-8601 UTC with milliseconds and ``Z``),
        user_id, event_type (room_enter, room_leave, screen_view, click, chat_message),
        room_id (room events and room-card clicks, else null) and screen (screen_view and
        click, else null). The partition is the UTC date of the true event time. About
        1-2% of the records are dirty (see :mod:`roomrec.generate.dirty`).
    ``rooms/part-00000.json.gz``
        JSON rooms: room_id, owner_id, name, description, tags, category, language,
        created_at, is_public.
    ``users/part-00000.json.gz``
        JSON users: user_id, registered_at, language.
    ``truth/affinities.csv.gz``
        CSV with header user_id,room_id,affinity: each user's top 100 rooms by planted
        affinity at the end of the window, highest first.
    ``manifest.json``
        generator_version, size, parameters, seed, start_date, end_date (inclusive),
        counts (users, rooms, lines, events_by_type as a JSON reader sees them,
        valid_events_by_type, visits, clean_visits and more), dirty (the exact number of
        each dirty kind), dirty_records (their sum, crash-lost room_leave records included) and
        bot_user_ids.
    """
    get_size(size)
    start = parse_start_date(start_date)
    out = Path(out_dir)
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    logger.info("generating %s data set (seed %d) into %s", size, seed, out)
    try:
        manifest = _generate_into(tmp, size, seed, start)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _generate_into(out: Path, size_name: str, seed: int, start: dt.date) -> dict:
    params = get_size(size_name)
    progress_level = logging.INFO if size_name == "large" else logging.DEBUG
    start_ms = int(
        dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp() * 1000
    )
    # Independent streams: the world, the warm-up history, then two per day (simulation,
    # dirty records), so a change in one day's draws does not shift the other streams.
    seeds = np.random.SeedSequence(seed).spawn(2 + 2 * params.n_days)
    world_rng = np.random.Generator(np.random.PCG64(seeds[0]))
    history_rng = np.random.Generator(np.random.PCG64(seeds[1]))

    world = build_world(params, world_rng, start_ms)
    candidates = behaviour.build_candidates(world)
    behaviour.warm_up_history(history_rng, world, candidates)
    state = SimulationState(
        candidates=candidates,
        busy_until_ms=np.zeros(world.n_users, dtype=np.int64),
    )
    logger.debug("world built: %d users, %d rooms", world.n_users, world.n_rooms)

    user_json = np.asarray([json.dumps(u) for u in world.user_ids()], dtype=object)
    room_json = np.asarray([json.dumps(r) for r in world.room_ids()] + ["null"], dtype=object)

    totals = _Totals()
    carry: Events = empty_events()
    for day in range(params.n_days):
        sim_rng = np.random.Generator(np.random.PCG64(seeds[2 + 2 * day]))
        dirty_rng = np.random.Generator(np.random.PCG64(seeds[3 + 2 * day]))
        if day > 0:
            totals.drifted_users += behaviour.apply_drift(sim_rng, world, candidates)
        events, stats = simulate_day(sim_rng, world, state, day)
        events = concat_events([carry, events]).sorted()
        day_end = start_ms + (day + 1) * MS_PER_DAY
        split = int(np.searchsorted(events.ts, day_end, side="left"))
        carry = events.take(np.arange(split, len(events)))
        events = events.take(np.arange(split))
        output = dirty.render_day(
            dirty_rng, events, user_json, room_json, totals.events, params.lines_per_part
        )
        date = (start + dt.timedelta(days=day)).isoformat()
        for p, lines in enumerate(output.parts):
            path = out / "events" / f"date={date}" / f"part-{p:05d}.json.gz"
            totals.lines += write_gzip_lines(path, lines)
            totals.event_files += 1
        totals.add_day(stats, output)
        logger.log(
            progress_level,
            "day %s: %d events, %d visits",
            date,
            output.n_events,
            stats.visits + stats.bot_visits,
        )
    if len(carry):
        raise RuntimeError(f"internal error: {len(carry)} events lie after the window end")

    n_rooms = write_rooms(out / "rooms" / "part-00000.json.gz", world)
    n_users = write_users(out / "users" / "part-00000.json.gz", world)
    affinity_rows = write_truth(out / "truth" / "affinities.csv.gz", world)

    end = start + dt.timedelta(days=params.n_days - 1)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "size": size_name,
        "parameters": asdict(params),
        "seed": seed,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "counts": {
            "users": n_users,
            "bots": int(world.user_is_bot.sum()),
            "users_registered_in_window": int((world.user_registered_ms >= start_ms).sum()),
            "rooms": n_rooms,
            "rooms_created_in_window": int((world.room_created_ms >= start_ms).sum()),
            "private_rooms": int((~world.room_is_public).sum()),
            "drifted_users": totals.drifted_users,
            "event_files": totals.event_files,
            "lines": totals.lines,
            "events_by_type": totals.lines_by_type,
            "valid_events_by_type": totals.valid_by_type,
            "sessions": totals.sessions,
            "visits": totals.visits,
            "bot_visits": totals.bot_visits,
            "own_room_visits": totals.own_room_visits,
            "visits_by_source": totals.visits_by_source,
            **totals.visit_counts(),
            "affinity_rows": affinity_rows,
        },
        "dirty": totals.dirty,
        "dirty_records": sum(totals.dirty.values()),
        "bot_user_ids": [f"u{i:06d}" for i in np.flatnonzero(world.user_is_bot).tolist()],
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "generated %s data set: %d users, %d rooms, %d event lines, %d visits",
        size_name,
        n_users,
        n_rooms,
        totals.lines,
        totals.visits,
    )
    return manifest


class _Totals:
    """Counters summed over all days."""

    def __init__(self) -> None:
        self.events = 0
        self.lines = 0
        self.event_files = 0
        self.sessions = 0
        self.visits = 0
        self.bot_visits = 0
        self.own_room_visits = 0
        self.drifted_users = 0
        self.visits_by_source: dict[str, int] = {}
        self.lines_by_type = {name: 0 for name in EVENT_TYPES}
        self.valid_by_type = {name: 0 for name in EVENT_TYPES}
        self.dirty = {name: 0 for name in dirty.DIRTY_KIND_NAMES}
        self._invalid_enters: list[np.ndarray] = []
        self._broken_leaves: list[np.ndarray] = []

    def add_day(self, stats: DayStats, output: dirty.DayOutput) -> None:
        self.events += output.n_events
        self.sessions += stats.sessions
        self.visits += stats.visits + stats.bot_visits
        self.bot_visits += stats.bot_visits
        self.own_room_visits += stats.own_room_visits
        for name, count in stats.visits_by_source.items():
            self.visits_by_source[name] = self.visits_by_source.get(name, 0) + count
        for name in EVENT_TYPES:
            self.lines_by_type[name] += output.lines_by_type[name]
            self.valid_by_type[name] += output.valid_by_type[name]
        for name, count in output.dirty.items():
            self.dirty[name] += count
        self._invalid_enters.append(output.invalid_enter_visits)
        self._broken_leaves.append(output.broken_leave_visits)

    def visit_counts(self) -> dict[str, int]:
        """Count visits by which of their enter and leave records a cleaning step can use.

        ``clean_visits`` have a valid enter and a valid leave at or after it.
        ``visits_without_leave`` have a valid enter but a leave that is missing, invalid or
        clock-skewed. ``visits_without_enter`` have an invalid enter and a valid, unskewed
        leave.
        """
        invalid_enter = np.unique(np.concatenate([np.zeros(0, np.int64), *self._invalid_enters]))
        broken_leave = np.unique(np.concatenate([np.zeros(0, np.int64), *self._broken_leaves]))
        broken = np.union1d(invalid_enter, broken_leave)
        return {
            "clean_visits": self.visits - len(broken),
            "visits_without_leave": len(np.setdiff1d(broken_leave, invalid_enter)),
            "visits_without_enter": len(np.setdiff1d(invalid_enter, broken_leave)),
        }


def write_truth(path: Path, world: World) -> int:
    """Write each user's top rooms by planted affinity, highest first, and return the row count.

    Affinities are those at the end of the window, after interest drift.
    """
    room_ids = world.room_ids()
    user_ids = world.user_ids()
    top_k = min(TRUTH_TOP_ROOMS, world.n_rooms)

    def rows():
        yield f"{col.USER_ID},{col.ROOM_ID},{col.AFFINITY}"
        for lo in range(0, world.n_users, AFFINITY_BLOCK_USERS):
            users = np.arange(lo, min(lo + AFFINITY_BLOCK_USERS, world.n_users))
            affinity = affinity_block(world, users)
            if top_k < world.n_rooms:
                top = np.argpartition(-affinity, top_k - 1, axis=1)[:, :top_k]
            else:
                top = np.broadcast_to(np.arange(world.n_rooms), affinity.shape).copy()
            values = np.take_along_axis(affinity, top, axis=1)
            order = np.lexsort((top, -values), axis=1)
            top = np.take_along_axis(top, order, axis=1)
            values = np.take_along_axis(values, order, axis=1)
            for i, user in enumerate(users.tolist()):
                uid = user_ids[user]
                for room, value in zip(top[i].tolist(), values[i].tolist()):
                    yield f"{uid},{room_ids[room]},{value:.4f}"

    return write_gzip_lines(path, rows()) - 1
