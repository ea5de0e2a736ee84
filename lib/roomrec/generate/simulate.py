"""Simulate one day of sessions, visits, chats and bot traffic as clean events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from roomrec.generate import behaviour, vocab
from roomrec.generate.events import (
    CHAT_MESSAGE,
    CLICK,
    ROOM_ENTER,
    ROOM_LEAVE,
    SCREEN_CODE,
    SCREEN_VIEW,
    Events,
    concat_events,
    make_events,
)
from roomrec.generate.world import MS_PER_DAY, World, affinity_pairs

SOURCE_OWN = 0
SOURCE_REVISIT = 1
SOURCE_DISCOVERY = 2
SOURCE_GLOBAL = 3

# Share of sessions in which the user only browses and enters no room.
BROWSE_ONLY_SHARE = 0.12
# Number of rooms entered in a session with at least one: 1 + Geometric, at most this many.
MAX_VISITS_PER_SESSION = 4
NEXT_VISIT_P = 0.4
# Probability that a visit goes to an own room, for the first and for later visits.
OWN_ROOM_FIRST_P = 0.75
OWN_ROOM_LATER_P = 0.15

# Dwell time: lognormal with median DWELL_MEDIAN_S * exp(DWELL_AFFINITY_SLOPE * affinity),
# times OWN_ROOM_DWELL_FACTOR in own rooms, clipped to [MIN_DWELL_S, MAX_DWELL_S].
DWELL_MEDIAN_S = 40.0
DWELL_AFFINITY_SLOPE = 3.2
DWELL_SIGMA = 1.0
OWN_ROOM_DWELL_FACTOR = 2.5
MIN_DWELL_S = 3.0
MAX_DWELL_S = 4 * 3600.0
# Chat messages per visit: Poisson(chattiness * min(dwell, CHAT_DWELL_CAP_S) / CHAT_EVERY_S).
CHAT_EVERY_S = 600.0
CHAT_DWELL_CAP_S = 3600.0
MAX_CHATS_PER_VISIT = 40
OWN_ROOM_CHAT_FACTOR = 1.5
MAX_SESSIONS_PER_USER_DAY = 12
# Minimum pause between two sessions of one user.
MIN_SESSION_GAP_MS = 60_000

BOT_ACTIVE_P = 0.45
BOT_MIN_ENTERS = 100
BOT_MAX_ENTERS = 250
BOT_DWELL_MEDIAN_MS = 1000.0


@dataclass
class DayStats:
    """Counters of one simulated day."""

    sessions: int = 0
    visits: int = 0
    bot_visits: int = 0
    own_room_visits: int = 0
    visits_by_source: dict[str, int] = field(default_factory=dict)


@dataclass
class SimulationState:
    """State carried from one day to the next: candidates, busy times, visit numbering."""

    candidates: behaviour.Candidates
    busy_until_ms: np.ndarray
    next_visit: int = 0


def _gap_ms(rng: np.random.Generator, median_s: float, n: int, sigma: float = 0.6) -> np.ndarray:
    """Draw lognormal pauses of at least 300 ms, in milliseconds."""
    return np.maximum(median_s * 1000.0 * rng.lognormal(0.0, sigma, size=n), 300.0).astype(np.int64)


def _exclusive_cumsum_by_group(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Return the sum of the previous values of the same group, for sorted groups.

    ``group_start[i]`` is the index of the first element of element i's group.
    """
    cumulative = np.cumsum(values)
    exclusive = cumulative - values
    return exclusive - exclusive[group_start]


def _choose_session_starts(
    rng: np.random.Generator, world: World, users: np.ndarray, day_start: int
) -> np.ndarray:
    """Draw session start times in the users' local evening-heavy hour pattern."""
    hour_p = np.asarray(vocab.HOURLY_SESSION_WEIGHTS) / sum(vocab.HOURLY_SESSION_WEIGHTS)
    local_s = rng.choice(24, size=len(users), p=hour_p) * 3600 + rng.integers(0, 3600, len(users))
    utc_s = (local_s - world.user_tz_offset_s[users]) % 86_400
    start = day_start + utc_s.astype(np.int64) * 1000 + rng.integers(0, 1000, len(users))
    # A user registering today starts after registering.
    registered = world.user_registered_ms[users]
    late = registered > day_start
    start[late] = registered[late] + (
        rng.random(int(late.sum())) * (day_start + MS_PER_DAY - registered[late])
    ).astype(np.int64)
    return start


def _own_room_availability(
    world: World, users: np.ndarray, at_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the first index into ``world.owned_rooms`` and the count available at ``at_ms``."""
    lo = world.owned_offsets[users]
    hi = world.owned_offsets[users + 1]
    created = world.room_created_ms[world.owned_rooms]
    # Own rooms are sorted by owner, then creation time, so a searchsorted on a combined
    # key counts the rooms of each owner created before the visit.
    base = int(created.min()) if len(created) else 0
    owner = world.room_owner[world.owned_rooms].astype(np.int64)
    key = owner * (1 << 42) + (created - base)
    query = users.astype(np.int64) * (1 << 42) + np.maximum(at_ms - base, 0)
    available = np.searchsorted(key, query, side="left") - lo
    return lo, np.clip(available, 0, hi - lo)


def _choose_rooms(
    rng: np.random.Generator,
    world: World,
    state: SimulationState,
    users: np.ndarray,
    position: np.ndarray,
    at_ms: np.ndarray,
    global_cdf: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Choose the room of each visit.

    Returns room index, candidate slot (-1 when the room is not a candidate of the user),
    source code and affinity, one per visit.
    """
    cand = state.candidates
    n = len(users)
    room = np.full(n, -1, dtype=np.int64)
    slot = np.full(n, -1, dtype=np.int64)
    source = np.full(n, SOURCE_DISCOVERY, dtype=np.int8)

    own_lo, own_available = _own_room_availability(world, users, at_ms)
    own_p = np.where(position == 0, OWN_ROOM_FIRST_P, OWN_ROOM_LATER_P) * (own_available > 0)
    history = cand.visits[users].sum(axis=1)
    revisit_p = history / (history + behaviour.REVISIT_HALF)
    draw = rng.random(n)
    is_own = draw < own_p
    is_revisit = ~is_own & (rng.random(n) < revisit_p)

    # Own rooms: the older rooms of an owner are the busier ones.
    own = np.flatnonzero(is_own)
    pick = (own_available[own] * rng.random(len(own)) ** 2).astype(np.int64)
    room[own] = world.owned_rooms[own_lo[own] + pick]
    source[own] = SOURCE_OWN

    revisit = np.flatnonzero(is_revisit)
    revisit_slot = behaviour.sample_revisit(rng, world, cand, users[revisit], at_ms[revisit])
    found = revisit_slot >= 0
    slot[revisit[found]] = revisit_slot[found]
    source[revisit[found]] = SOURCE_REVISIT

    discover = np.flatnonzero(~is_own & ~(is_revisit & (slot >= 0)))
    use_global = rng.random(len(discover)) < behaviour.GLOBAL_PICK_SHARE
    personal = discover[~use_global]
    personal_slot = behaviour.sample_discovery(rng, world, cand, users[personal], at_ms[personal])
    slot[personal] = personal_slot
    fallback = personal[personal_slot < 0]
    global_visits = np.concatenate([discover[use_global], fallback])
    global_visits.sort()
    room[global_visits] = np.searchsorted(global_cdf, rng.random(len(global_visits)))
    source[global_visits] = SOURCE_GLOBAL
    room = np.minimum(room, world.n_rooms - 1)

    in_slot = slot >= 0
    room[in_slot] = cand.rooms[users[in_slot], slot[in_slot]]
    # A global pick that is also a candidate of the user updates that candidate's history.
    global_rooms = room[global_visits]
    matches = cand.rooms[users[global_visits]] == global_rooms[:, None]
    has_match = matches.any(axis=1)
    slot[global_visits[has_match]] = matches[has_match].argmax(axis=1)

    affinity = np.zeros(n, dtype=np.float32)
    in_slot = slot >= 0
    affinity[in_slot] = cand.affinity[users[in_slot], slot[in_slot]]
    rest = ~in_slot
    affinity[rest] = affinity_pairs(world, users[rest], room[rest])
    return room, slot, source, affinity


@dataclass
class _Blocks:
    """One block per entered room, or one browse-only block for a session without visits.

    Times ``t_*`` are milliseconds from the start of the block, except ``t_start``, the
    start of the block from the start of its session. ``length`` includes the pause after
    the block. ``session_blocks_end`` is, per session, the time from its start to the end
    of its last block.
    """

    session: np.ndarray
    user: np.ndarray
    has_enter: np.ndarray
    room: np.ndarray
    slot: np.ndarray
    source: np.ndarray
    dwell_s: np.ndarray
    has_view: np.ndarray
    view_screen: np.ndarray
    has_extra_click: np.ndarray
    has_click: np.ndarray
    t_view: np.ndarray
    t_extra: np.ndarray
    t_click: np.ndarray
    t_enter: np.ndarray
    t_leave: np.ndarray
    length: np.ndarray
    t_start: np.ndarray
    session_blocks_end: np.ndarray


@dataclass
class _SessionTails:
    """Optional profile, catalogue or search screen and click after the last block.

    Times are milliseconds from the start of the session; ``length`` is the session length.
    """

    has_view: np.ndarray
    has_click: np.ndarray
    view_screen: np.ndarray
    click_screen: np.ndarray
    t_view: np.ndarray
    t_click: np.ndarray
    length: np.ndarray


def simulate_day(
    rng: np.random.Generator,
    world: World,
    state: SimulationState,
    day: int,
) -> tuple[Events, DayStats]:
    """Simulate one day and return its events (unsorted) and counters.

    Sessions that start late may run past midnight, so their later events carry ts of the
    next day. On the last day of the window, sessions that would end after the window are
    dropped.
    """
    day_start = world.start_ms + day * MS_PER_DAY
    window_end = world.start_ms + world.size.n_days * MS_PER_DAY
    session_user, session_start = _draw_sessions(rng, world, day, day_start)
    blocks = _plan_blocks(rng, world, state, session_user, session_start, day_start)
    tails = _plan_tails(rng, blocks, len(session_user))

    # Sessions of one user never overlap, also with sessions carried over from yesterday.
    session_start = _serialise_sessions(
        rng, session_user, session_start, tails.length, state.busy_until_ms
    )
    keep = np.ones(len(session_user), dtype=bool)
    if day == world.size.n_days - 1:
        keep = session_start + tails.length < window_end
    session_end = session_start + tails.length
    np.maximum.at(state.busy_until_ms, session_user[keep], session_end[keep])

    parts, visit_blocks = _emit_human_events(
        rng, world, state, blocks, tails, session_user, session_start, keep
    )
    stats = DayStats(sessions=int(keep.sum()), visits=len(visit_blocks))
    source = blocks.source[visit_blocks]
    stats.own_room_visits = int((source == SOURCE_OWN).sum())
    for name, code in (
        ("own", SOURCE_OWN),
        ("revisit", SOURCE_REVISIT),
        ("discovery", SOURCE_DISCOVERY),
        ("global", SOURCE_GLOBAL),
    ):
        stats.visits_by_source[name] = int((source == code).sum())

    # History: decay, then count today's visits to candidate rooms.
    cand = state.candidates
    cand.visits *= behaviour.HISTORY_DECAY
    counted = visit_blocks[blocks.slot[visit_blocks] >= 0]
    np.add.at(cand.visits, (blocks.user[counted], blocks.slot[counted]), np.float32(1.0))

    bot_events, stats.bot_visits = _simulate_bots(rng, world, state, day_start)
    parts.append(bot_events)
    return concat_events(parts), stats


def _draw_sessions(
    rng: np.random.Generator, world: World, day: int, day_start: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the user and start time of each human session of the day, sorted by both."""
    weekday = dt.datetime.fromtimestamp(day_start / 1000, tz=dt.timezone.utc).weekday()
    active = np.flatnonzero(
        ~world.user_is_bot
        & (world.user_registered_ms < day_start + MS_PER_DAY)
        & (world.user_last_day >= day)
    )
    # Poisson around the user's rate, times a day-level burst factor with mean 1.
    rate = world.user_activity[active] * vocab.WEEKDAY_FACTORS[weekday]
    rate = rate * rng.gamma(2.0, 0.5, size=len(active))
    n_sessions = np.minimum(rng.poisson(rate), MAX_SESSIONS_PER_USER_DAY)
    session_user = np.repeat(active, n_sessions)
    session_start = _choose_session_starts(rng, world, session_user, day_start)
    order = np.lexsort((session_start, session_user))
    return session_user[order], session_start[order]


def _plan_blocks(
    rng: np.random.Generator,
    world: World,
    state: SimulationState,
    session_user: np.ndarray,
    session_start: np.ndarray,
    day_start: int,
) -> _Blocks:
    """Choose the rooms of every session and lay out the screens, clicks and dwell times."""
    n_sess = len(session_user)
    browse_only = rng.random(n_sess) < BROWSE_ONLY_SHARE
    n_visits = np.minimum(rng.geometric(1.0 - NEXT_VISIT_P, size=n_sess), MAX_VISITS_PER_SESSION)
    n_blocks = np.where(browse_only, 1, n_visits)
    block_session = np.repeat(np.arange(n_sess), n_blocks)
    session_first_block = np.cumsum(n_blocks) - n_blocks
    block_position = np.arange(len(block_session)) - session_first_block[block_session]
    block_user = session_user[block_session]
    has_enter = ~browse_only[block_session]
    n = len(block_session)

    global_cdf = behaviour.global_room_cdf(world, day_start)
    enter_blocks = np.flatnonzero(has_enter)
    room = np.full(n, -1, dtype=np.int64)
    slot = np.full(n, -1, dtype=np.int64)
    source = np.full(n, -1, dtype=np.int8)
    affinity = np.zeros(n, dtype=np.float32)
    (
        room[enter_blocks],
        slot[enter_blocks],
        source[enter_blocks],
        affinity[enter_blocks],
    ) = _choose_rooms(
        rng,
        world,
        state,
        block_user[enter_blocks],
        block_position[enter_blocks],
        session_start[block_session[enter_blocks]],
        global_cdf,
    )
    is_own = source == SOURCE_OWN
    is_found = (source == SOURCE_DISCOVERY) | (source == SOURCE_GLOBAL) | ~has_enter

    # Screens and clicks before each room: browsing for found rooms, shortcuts otherwise.
    u = rng.random((4, n))
    has_view = np.where(is_found, True, np.where(is_own, u[0] < 0.6, u[0] < 0.5))
    view_screen = np.where(
        is_own,
        SCREEN_CODE[vocab.SCREEN_PROFILE],
        np.where(
            u[1] < 0.3, SCREEN_CODE[vocab.SCREEN_SEARCH], SCREEN_CODE[vocab.SCREEN_ROOM_BROWSER]
        ),
    )
    has_extra_click = np.where(has_enter, is_found & (u[2] < 0.25), u[2] < 0.6)
    has_click = has_enter & ~is_own & has_view & (u[3] < 0.9)

    view_gap = _gap_ms(rng, 3.0, n)
    extra_gap = _gap_ms(rng, 5.0, n)
    click_gap = _gap_ms(rng, 4.0, n)
    enter_gap = _gap_ms(rng, 1.5, n)
    post_gap = _gap_ms(rng, 2.0, n)
    dwell_median = DWELL_MEDIAN_S * np.exp(DWELL_AFFINITY_SLOPE * affinity)
    dwell_median = np.where(is_own, dwell_median * OWN_ROOM_DWELL_FACTOR, dwell_median)
    dwell_s = np.clip(dwell_median * rng.lognormal(0.0, DWELL_SIGMA, n), MIN_DWELL_S, MAX_DWELL_S)
    dwell = np.where(has_enter, (dwell_s * 1000).astype(np.int64), 0)

    t_view = view_gap * has_view
    t_extra = t_view + extra_gap * has_extra_click
    t_click = t_extra + click_gap * has_click
    t_enter = t_click + enter_gap
    t_leave = t_enter + dwell
    length = np.where(has_enter, t_leave, t_extra) + post_gap

    # Blocks follow the home screen and each other within the session.
    first_gap = _gap_ms(rng, 4.0, n_sess)
    t_start = first_gap[block_session] + _exclusive_cumsum_by_group(
        length, session_first_block[block_session]
    )
    blocks_end = first_gap + np.bincount(block_session, weights=length, minlength=n_sess)
    return _Blocks(
        session=block_session,
        user=block_user,
        has_enter=has_enter,
        room=room,
        slot=slot,
        source=source,
        dwell_s=dwell_s,
        has_view=has_view,
        view_screen=view_screen,
        has_extra_click=has_extra_click,
        has_click=has_click,
        t_view=t_view,
        t_extra=t_extra,
        t_click=t_click,
        t_enter=t_enter,
        t_leave=t_leave,
        length=length,
        t_start=t_start,
        session_blocks_end=blocks_end.astype(np.int64),
    )


def _plan_tails(rng: np.random.Generator, blocks: _Blocks, n_sess: int) -> _SessionTails:
    """Draw the optional screens after the last block of each session."""
    blocks_end = blocks.session_blocks_end
    has_view = rng.random(n_sess) < 0.35
    has_click = has_view & (rng.random(n_sess) < 0.5)
    view_gap = _gap_ms(rng, 5.0, n_sess)
    click_gap = _gap_ms(rng, 4.0, n_sess)
    screens = np.asarray(
        [
            SCREEN_CODE[vocab.SCREEN_PROFILE],
            SCREEN_CODE[vocab.SCREEN_CATALOGUE],
            SCREEN_CODE[vocab.SCREEN_SEARCH],
        ]
    )
    view_screen = screens[rng.integers(0, 3, n_sess)]
    click_screen = screens[rng.integers(0, 3, n_sess)]
    t_view = blocks_end + view_gap
    t_click = t_view + click_gap
    length = np.where(has_click, t_click, np.where(has_view, t_view, blocks_end))
    return _SessionTails(
        has_view=has_view,
        has_click=has_click,
        view_screen=view_screen,
        click_screen=click_screen,
        t_view=t_view,
        t_click=t_click,
        length=length,
    )


def _emit_human_events(
    rng: np.random.Generator,
    world: World,
    state: SimulationState,
    blocks: _Blocks,
    tails: _SessionTails,
    session_user: np.ndarray,
    session_start: np.ndarray,
    keep: np.ndarray,
) -> tuple[list[Events], np.ndarray]:
    """Return the events of the kept sessions and the indexes of their visit blocks."""
    block_keep = keep[blocks.session]
    base = session_start[blocks.session] + blocks.t_start
    user = blocks.user

    # Extra room-card clicks go to rooms the user might like but does not enter.
    extra = np.flatnonzero(blocks.has_extra_click & block_keep)
    extra_slot = behaviour.sample_discovery(
        rng, world, state.candidates, user[extra], base[extra], penalise_visited=False
    )
    extra = extra[extra_slot >= 0]
    extra_room = state.candidates.rooms[user[extra], extra_slot[extra_slot >= 0]]

    visit_blocks = np.flatnonzero(blocks.has_enter & block_keep)
    visit_ids = state.next_visit + np.arange(len(visit_blocks), dtype=np.int64)
    state.next_visit += len(visit_blocks)
    v_user = user[visit_blocks]
    v_room = blocks.room[visit_blocks]
    v_enter = base[visit_blocks] + blocks.t_enter[visit_blocks]
    v_leave = base[visit_blocks] + blocks.t_leave[visit_blocks]

    chat_rate = (
        world.user_chattiness[v_user]
        * np.minimum(blocks.dwell_s[visit_blocks], CHAT_DWELL_CAP_S)
        / CHAT_EVERY_S
    )
    own_visit = blocks.source[visit_blocks] == SOURCE_OWN
    chat_rate = np.where(own_visit, chat_rate * OWN_ROOM_CHAT_FACTOR, chat_rate)
    n_chats = np.minimum(rng.poisson(chat_rate), MAX_CHATS_PER_VISIT)
    chat_visit = np.repeat(np.arange(len(visit_blocks)), n_chats)
    chat_span = (v_leave - v_enter)[chat_visit]
    chat_offset = (rng.random(len(chat_visit)) * (chat_span - 2)).astype(np.int64)
    chat_ts = v_enter[chat_visit] + 1 + chat_offset

    view_blocks = np.flatnonzero(blocks.has_view & block_keep)
    click_blocks = np.flatnonzero(blocks.has_click & block_keep)
    kept_sessions = np.flatnonzero(keep)
    tail_views = kept_sessions[tails.has_view[kept_sessions]]
    tail_clicks = kept_sessions[tails.has_click[kept_sessions]]
    room_card = SCREEN_CODE[vocab.SCREEN_ROOM_CARD]
    parts = [
        make_events(
            session_start[kept_sessions],
            session_user[kept_sessions],
            SCREEN_VIEW,
            screen=SCREEN_CODE[vocab.SCREEN_HOME],
        ),
        make_events(
            base[view_blocks] + blocks.t_view[view_blocks],
            user[view_blocks],
            SCREEN_VIEW,
            screen=blocks.view_screen[view_blocks],
        ),
        make_events(base[extra] + blocks.t_extra[extra], user[extra], CLICK, extra_room, room_card),
        make_events(
            base[click_blocks] + blocks.t_click[click_blocks],
            user[click_blocks],
            CLICK,
            blocks.room[click_blocks],
            room_card,
        ),
        make_events(v_enter, v_user, ROOM_ENTER, room=v_room, visit=visit_ids),
        make_events(chat_ts, v_user[chat_visit], CHAT_MESSAGE, room=v_room[chat_visit]),
        make_events(v_leave, v_user, ROOM_LEAVE, room=v_room, visit=visit_ids, enter_ts=v_enter),
        make_events(
            session_start[tail_views] + tails.t_view[tail_views],
            session_user[tail_views],
            SCREEN_VIEW,
            screen=tails.view_screen[tail_views],
        ),
        make_events(
            session_start[tail_clicks] + tails.t_click[tail_clicks],
            session_user[tail_clicks],
            CLICK,
            screen=tails.click_screen[tail_clicks],
        ),
    ]
    return parts, visit_blocks


def _serialise_sessions(
    rng: np.random.Generator,
    users: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    busy_until_ms: np.ndarray,
) -> np.ndarray:
    """Push session starts so that a user's sessions do not overlap.

    Sessions must be sorted by user, then start. Works one rank of session per user at a
    time, so the loop runs at most max-sessions-per-user times.
    """
    start = start.copy()
    n = len(users)
    if n == 0:
        return start
    first = np.r_[True, users[1:] != users[:-1]]
    group_first = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.arange(n) - group_first
    gap = MIN_SESSION_GAP_MS + _gap_ms(rng, 60.0, n, sigma=1.0)
    previous_end = np.zeros(n, dtype=np.int64)
    for r in range(int(rank.max()) + 1):
        at = np.flatnonzero(rank == r)
        if r == 0:
            limit = busy_until_ms[users[at]]
        else:
            limit = previous_end[at - 1]
        start[at] = np.maximum(start[at], limit + gap[at])
        previous_end[at] = start[at] + length[at]
    return start


def _simulate_bots(
    rng: np.random.Generator, world: World, state: SimulationState, day_start: int
) -> tuple[Events, int]:
    """Simulate bots that enter hundreds of public rooms a day for about a second each."""
    bots = np.flatnonzero(world.user_is_bot)
    bots = bots[rng.random(len(bots)) < BOT_ACTIVE_P]
    public = np.flatnonzero(world.room_is_public & (world.room_created_ms < day_start))
    n_enters = rng.integers(BOT_MIN_ENTERS, BOT_MAX_ENTERS + 1, size=len(bots))
    start = day_start + rng.integers(0, 20 * 3_600_000, size=len(bots))
    start = np.maximum(start, state.busy_until_ms[bots] + MIN_SESSION_GAP_MS)

    visit_bot = np.repeat(np.arange(len(bots)), n_enters)
    n = len(visit_bot)
    gap = rng.integers(1000, 6000, size=n)
    dwell = np.clip(BOT_DWELL_MEDIAN_MS * rng.lognormal(0.0, 0.35, size=n), 200, 4000).astype(
        np.int64
    )
    group_first = np.cumsum(n_enters) - n_enters
    offset = _exclusive_cumsum_by_group(gap + dwell, group_first[visit_bot])
    enter = start[visit_bot] + 2000 + offset + gap
    leave = enter + dwell
    users = bots[visit_bot]

    rooms = public[rng.integers(0, len(public), size=n)]

    visit_ids = state.next_visit + np.arange(n, dtype=np.int64)
    state.next_visit += n
    if n:
        np.maximum.at(state.busy_until_ms, users, leave)
    events = concat_events(
        [
            make_events(start, bots, SCREEN_VIEW, screen=SCREEN_CODE[vocab.SCREEN_HOME]),
            make_events(enter, users, ROOM_ENTER, room=rooms, visit=visit_ids),
            make_events(leave, users, ROOM_LEAVE, room=rooms, visit=visit_ids, enter_ts=enter),
        ]
    )
    return events, n
