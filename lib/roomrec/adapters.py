"""Load visits from any supported kind of log through one entry point.

:func:`load_visits` turns raw events (sessionized into visits), logs that already hold
visits, check-ins and aggregated interactions into the same visits schema, with the same
accounting: records read, accepted, rejected per reason, and the data-quality table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from roomrec.bots import exclude_bots, flag_bots
from roomrec.ingest import read_events, reconcile
from roomrec.visits import build_visits

logger = logging.getLogger(__name__)

LOAD_FORMATS = ("events", "visits", "checkins", "aggregated")


@dataclass
class LoadResult:
    """Visits of one input with everything needed to judge its quality.

    Attributes
    ----------
    visits : DataFrame
        Visits schema: user_id, room_id, start_ts, end_ts, dwell_s, visit_count,
        is_imputed.
    rejected : DataFrame
        Rejected records: raw, reason, source_file.
    bots : DataFrame or None
        Flagged bot users (events only; None for the other formats).
    counts : dict
        Read-stage counts plus ``bots`` and ``visits`` sub-dicts where they apply.
    quality : pandas.DataFrame
        :func:`roomrec.ingest.reconcile` of ``counts``.
    """

    visits: DataFrame
    rejected: DataFrame
    bots: DataFrame | None
    counts: dict[str, Any] = field(default_factory=dict)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)


def _split_options(options: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: options.pop(name) for name in names if name in options}


def _load_events(spark: SparkSession, path: str, options: dict[str, Any]) -> LoadResult:
    read_options = _split_options(
        options,
        ("input_format", "start_date", "end_date", "min_ts", "max_ts", "max_id_length"),
    )
    bot_options = _split_options(options, ("max_events_per_day", "max_rooms_per_day", "percentile"))
    visit_options = _split_options(options, ("session_cap_s", "max_dwell_s", "rooms", "max_skew_s"))
    if options:
        raise ValueError(
            f"unknown options for input_format='events': {sorted(options)}; known: "
            + ", ".join(sorted(_EVENT_OPTIONS))
        )
    ingested = read_events(spark, path, **read_options)
    bot_result = flag_bots(ingested.accepted, **bot_options)
    human_events = exclude_bots(ingested.accepted, bot_result.bots)
    visits_result = build_visits(human_events, **visit_options)
    counts = dict(ingested.counts)
    counts["bots"] = bot_result.counts
    counts["visits"] = visits_result.counts
    return LoadResult(
        visits=visits_result.visits,
        rejected=ingested.rejected,
        bots=bot_result.bots,
        counts=counts,
        quality=reconcile(counts),
    )


_EVENT_OPTIONS = (
    "input_format",
    "start_date",
    "end_date",
    "min_ts",
    "max_ts",
    "max_id_length",
    "max_events_per_day",
    "max_rooms_per_day",
    "percentile",
    "session_cap_s",
    "max_dwell_s",
    "rooms",
    "max_skew_s",
)


def load_visits(spark: SparkSession, *, input_format: str, path: str, **options: Any) -> LoadResult:
    """Read a log of the given kind and return its visits, bots, counts and quality table.

    Parameters
    ----------
    spark : SparkSession
        Active session.
    input_format : str
        ``events`` (raw events: read_events, flag_bots, exclude_bots, build_visits),
        ``visits``, ``checkins`` or ``aggregated``.
    path : str
        Input path; see the reader of each kind.
    **options
        Keyword arguments of the readers for that kind; for ``events`` the file format is
        passed as ``file_format``.

    Raises
    ------
    ValueError
        If ``input_format`` is not one of the kinds above, or an option is unknown.
    """
    options = dict(options)
    if input_format == "events":
        if "file_format" in options:
            options["input_format"] = options.pop("file_format")
        return _load_events(spark, path, options)
    raise ValueError(
        f"unknown input_format {input_format!r}; choose one of "
        + ", ".join(repr(name) for name in LOAD_FORMATS)
    )
