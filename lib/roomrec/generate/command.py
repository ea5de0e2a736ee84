"""Command line entry point of ``roomrec generate``."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from roomrec.generate.cache import DATA_DIR_ENV, dataset_dir, ensure_generated
from roomrec.generate.core import DEFAULT_START_DATE, generate
from roomrec.generate.sizes import SIZES

logger = logging.getLogger(__name__)


def _size_help() -> str:
    parts = [
        f"{name}: {s.n_users:,} users, {s.n_rooms_initial:,} rooms + {s.new_rooms_per_day}/day, "
        f"{s.n_days} days"
        for name, s in SIZES.items()
    ]
    return "data set size (default: tiny). " + "; ".join(parts) + "."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomrec generate",
        description=(
            "Generate synthetic raw logs of a virtual world with chat rooms. Writes "
            "events/date=YYYY-MM-DD/part-NNNNN.json.gz (gzipped JSON lines, one event per "
            "line, about 1-2% dirty records), rooms/part-00000.json.gz, "
            "users/part-00000.json.gz, truth/affinities.csv.gz (each user's top 100 rooms by "
            "planted affinity) and manifest.json (parameters and exact counts). The same "
            "size, seed and start date always give byte-identical files."
        ),
    )
    parser.add_argument("--size", choices=list(SIZES), default="tiny", help=_size_help())
    parser.add_argument(
        "--seed", type=int, default=42, help="seed of all random draws (default: 42)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=(
            "output directory; an earlier generator output there is replaced. Default: "
            f"the cache folder <root>/<size>-seed<seed>, where root is ${DATA_DIR_ENV}, "
            "<repo>/data/generated or ~/.cache/roomrec/generated; an up-to-date cached data "
            "set is kept unless --force is given"
        ),
    )
    parser.add_argument(
        "--start-date",
        default=DEFAULT_START_DATE,
        help=f"first day of the window, YYYY-MM-DD in UTC (default: {DEFAULT_START_DATE})",
    )
    parser.add_argument(
        "--force", action="store_true", help="regenerate the cached data set even if current"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``roomrec generate`` with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    started = time.perf_counter()
    try:
        if args.out is None:
            path = dataset_dir(args.size, args.seed, None, args.start_date)
            existed = (path / "manifest.json").is_file()
            path = ensure_generated(
                args.size, args.seed, start_date=args.start_date, force=args.force
            )
            if existed and not args.force:
                logger.info("data set %s is up to date; use --force to regenerate", path)
        else:
            path = args.out
            generate(path, size=args.size, seed=args.seed, start_date=args.start_date)
    except (ValueError, FileExistsError) as error:
        parser.error(str(error))
    logger.info("data set ready in %s (%.1f s)", path, time.perf_counter() - started)
    return 0
