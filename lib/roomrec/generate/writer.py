"""Write gzip files whose bytes depend only on their content and file name."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from roomrec import columns as col
from roomrec.generate import vocab
from roomrec.generate.world import World

COMPRESS_LEVEL = 3
LINES_PER_WRITE = 50_000


def write_gzip_lines(path: Path, lines: Iterable[str]) -> int:
    """Write lines, each followed by a newline, to a gzip file and return the line count.

    The gzip header stores mtime 0 and the file's own name without ``.gz``, so the same
    lines always give the same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    buffer: list[str] = []
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(
            filename=path.name, mode="wb", fileobj=raw, mtime=0, compresslevel=COMPRESS_LEVEL
        ) as stream,
    ):
        for line in lines:
            buffer.append(line)
            if len(buffer) >= LINES_PER_WRITE:
                stream.write(("\n".join(buffer) + "\n").encode("utf-8"))
                count += len(buffer)
                buffer = []
        if buffer:
            stream.write(("\n".join(buffer) + "\n").encode("utf-8"))
            count += len(buffer)
    return count


def format_iso_ms(ms: np.ndarray) -> list[str]:
    """Format epoch milliseconds as ISO-8601 UTC strings such as 2026-01-05T13:04:55.120Z."""
    text = np.datetime_as_string(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def _json_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def write_rooms(path: Path, world: World) -> int:
    """Write one JSON line per room, rooms created during the window included."""
    user_ids = world.user_ids()
    created = format_iso_ms(world.room_created_ms)
    lines = (
        _json_line(
            {
                col.ROOM_ID: room_id,
                col.OWNER_ID: user_ids[world.room_owner[j]],
                col.NAME: world.room_name[j],
                col.DESCRIPTION: world.room_description[j],
                col.TAGS: list(world.room_tags[j]),
                col.CATEGORY: vocab.CATEGORIES[world.room_category[j]],
                col.LANGUAGE: vocab.LANGUAGES[world.room_language[j]],
                col.CREATED_AT: created[j],
                col.IS_PUBLIC: bool(world.room_is_public[j]),
            }
        )
        for j, room_id in enumerate(world.room_ids())
    )
    return write_gzip_lines(path, lines)


def write_users(path: Path, world: World) -> int:
    """Write one JSON line per user, bots and users registering during the window included."""
    registered = format_iso_ms(world.user_registered_ms)
    lines = (
        _json_line(
            {
                col.USER_ID: user_id,
                col.REGISTERED_AT: registered[i],
                col.LANGUAGE: vocab.LANGUAGES[world.user_language[i]],
            }
        )
        for i, user_id in enumerate(world.user_ids())
    )
    return write_gzip_lines(path, lines)
