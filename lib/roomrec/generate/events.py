"""Column-wise container of generated events before they are written as JSON lines."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from roomrec.columns import EVENT_TYPES
from roomrec.generate import vocab

ROOM_ENTER = EVENT_TYPES.index("room_enter")
ROOM_LEAVE = EVENT_TYPES.index("room_leave")
SCREEN_VIEW = EVENT_TYPES.index("screen_view")
CLICK = EVENT_TYPES.index("click")
CHAT_MESSAGE = EVENT_TYPES.index("chat_message")

SCREEN_CODE = {name: code for code, name in enumerate(vocab.SCREENS)}
NO_ROOM = -1
NO_SCREEN = -1
NO_VISIT = -1


@dataclass
class Events:
    """Events as parallel arrays, one element per event.

    ``room`` is -1 where the event has no room and ``screen`` is -1 where it has no
    screen. ``visit`` is the global visit number of room_enter and room_leave events and
    -1 for the others. ``enter_ts`` is, for a room_leave event, the enter time of its visit,
    which is needed to plant clock skew, and 0 for the others. All times are epoch
    milliseconds UTC.
    """

    ts: np.ndarray
    user: np.ndarray
    event_type: np.ndarray
    room: np.ndarray
    screen: np.ndarray
    visit: np.ndarray
    enter_ts: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: np.ndarray) -> Events:
        """Return the events at ``index`` (an integer or boolean index array)."""
        return Events(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def sorted(self) -> Events:
        """Return the events ordered by time, then user, then event type."""
        return self.take(np.lexsort((self.event_type, self.user, self.ts)))


def make_events(
    ts: np.ndarray,
    user: np.ndarray,
    event_type: int | np.ndarray,
    room: int | np.ndarray = NO_ROOM,
    screen: int | np.ndarray = NO_SCREEN,
    visit: int | np.ndarray = NO_VISIT,
    enter_ts: int | np.ndarray = 0,
) -> Events:
    """Build events of equal length, broadcasting scalar arguments."""
    n = len(ts)
    return Events(
        ts=np.asarray(ts, dtype=np.int64),
        user=np.asarray(user, dtype=np.int32),
        event_type=np.broadcast_to(np.asarray(event_type, dtype=np.int8), (n,)).copy(),
        room=np.broadcast_to(np.asarray(room, dtype=np.int32), (n,)).copy(),
        screen=np.broadcast_to(np.asarray(screen, dtype=np.int8), (n,)).copy(),
        visit=np.broadcast_to(np.asarray(visit, dtype=np.int64), (n,)).copy(),
        enter_ts=np.broadcast_to(np.asarray(enter_ts, dtype=np.int64), (n,)).copy(),
    )


def concat_events(parts: list[Events]) -> Events:
    """Concatenate events in the given order."""
    return Events(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Events)}
    )


def empty_events() -> Events:
    return make_events(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), 0)
