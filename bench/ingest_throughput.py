#!/usr/bin/env python3
"""Measure ingestion throughput: raw events to visits, in events per second per core.

Reads a generated data set (generated first if missing), runs the same ingestion the
notebooks run (parse, validate, deduplicate, flag bots, build visits) and forces it to
completion by writing the visits to Parquet.

    .venv/bin/python bench/ingest_throughput.py --size large --cores 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="large", help="generated size (default: large)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cores", type=int, default=2, help="local Spark cores (default: 2)")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args()

    from roomrec.adapters import load_visits
    from roomrec.generate import ensure_generated
    from roomrec.spark import get_spark

    root = ensure_generated(size=args.size, seed=args.seed)
    spark = get_spark(app_name="bench-ingest", master=f"local[{args.cores}]",
                      shuffle_partitions=4 * args.cores,
                      conf={"spark.driver.memory": args.driver_memory})
    start = time.perf_counter()
    loaded = load_visits(spark, input_format="events", path=str(root / "events"))
    with tempfile.TemporaryDirectory() as folder:
        loaded.visits.write.parquet(folder + "/visits")
    seconds = time.perf_counter() - start
    read = loaded.counts["read"]
    print(json.dumps({
        "size": args.size,
        "cores": args.cores,
        "events_read": read,
        "visits": loaded.counts["visits"]["visits"],
        "seconds": round(seconds, 1),
        "events_per_second": round(read / seconds),
        "events_per_second_per_core": round(read / seconds / args.cores),
    }, indent=2))


if __name__ == "__main__":
    main()
