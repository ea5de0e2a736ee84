"""Find the input files of a log and decide their format.

Paths go through Hadoop's FileSystem API, so local paths, globs, ``file://``, ``hdfs://``
and ``s3://`` (on EMR) are handled the same way. Event logs are partitioned by day in
``date=YYYY-MM-DD`` folders, and a date range selects those folders before any file is
opened.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

INPUT_FORMATS = ("json", "csv", "parquet")

# Compression suffixes stripped before the format is read off a file name. Reading such a
# file needs the Hadoop codec for the suffix, which gzip and bzip2 always have.
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".deflate", ".zst", ".lz4", ".snappy")
_FORMAT_BY_SUFFIX = {
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "csv",
    ".parquet": "parquet",
}
_DATE_FOLDER = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/|$)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class InputFiles:
    """Data files selected for one read.

    Attributes
    ----------
    paths : list of str
        Fully qualified file paths, sorted.
    input_format : str
        One of ``json``, ``csv`` or ``parquet``.
    """

    paths: list[str]
    input_format: str


def _is_hidden(name: str) -> bool:
    # Spark and Hadoop skip these too: _SUCCESS markers, .crc checksums, temporary files.
    return name.startswith("_") or name.startswith(".")


def _list_files(spark: SparkSession, path: str) -> list[str]:
    """List the data files under ``path`` (a file, a folder or a glob), recursively."""
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    pattern = jvm.org.apache.hadoop.fs.Path(path)
    filesystem = pattern.getFileSystem(hadoop_conf)
    statuses = filesystem.globStatus(pattern)
    if statuses is None:
        return []
    files = []
    for status in statuses:
        if status.isFile():
            if not _is_hidden(status.getPath().getName()):
                files.append(status.getPath().toString())
            continue
        iterator = filesystem.listFiles(status.getPath(), True)
        while iterator.hasNext():
            file_path = iterator.next().getPath()
            relative = file_path.toString()[len(status.getPath().toString()) :]
            if not any(_is_hidden(part) for part in relative.split("/") if part):
                files.append(file_path.toString())
    return sorted(set(files))


def format_of(path: str) -> str:
    """Return the input format implied by a file name, or ``""`` if the suffix is unknown."""
    name = path.rsplit("/", 1)[-1].lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name.startswith("part-") and "." not in name:
        return ""
    for suffix, input_format in _FORMAT_BY_SUFFIX.items():
        if name.endswith(suffix):
            return input_format
    return ""


def partition_date(path: str) -> str:
    """Return the ``YYYY-MM-DD`` of the innermost ``date=`` folder in ``path``, or ``""``."""
    matches = _DATE_FOLDER.findall(path)
    return matches[-1] if matches else ""


def _check_date(value: str, name: str) -> None:
    if value and not _ISO_DATE.match(value):
        raise ValueError(f"invalid {name} {value!r}: expected a date as YYYY-MM-DD, or ''")


def select_by_date(paths: list[str], start_date: str = "", end_date: str = "") -> list[str]:
    """Keep the files whose ``date=`` folder lies in ``[start_date, end_date]`` (inclusive).

    Raises
    ------
    ValueError
        If a date is not ``YYYY-MM-DD``, or a range is given but some file has no ``date=``
        folder to select by.
    """
    _check_date(start_date, "start_date")
    _check_date(end_date, "end_date")
    if not start_date and not end_date:
        return paths
    undated = [path for path in paths if not partition_date(path)]
    if undated:
        raise ValueError(
            f"start_date/end_date select date=YYYY-MM-DD folders, but {len(undated)} input "
            f"files have none (first: {undated[0]}); pass the partitioned events folder "
            "or leave start_date and end_date empty"
        )
    selected = []
    for path in paths:
        day = partition_date(path)
        if start_date and day < start_date:
            continue
        if end_date and day > end_date:
            continue
        selected.append(path)
    return selected


def resolve_input(
    spark: SparkSession,
    path: str,
    input_format: str = "auto",
    start_date: str = "",
    end_date: str = "",
) -> InputFiles:
    """List the files to read and settle their format.

    Parameters
    ----------
    spark : SparkSession
        Session whose Hadoop configuration reaches the file system.
    path : str
        A file, a folder (read recursively) or a glob; local, ``file://``, ``hdfs://`` or
        ``s3://``.
    input_format : str
        ``auto`` (from the file suffixes), ``json``, ``csv`` or ``parquet``.
    start_date, end_date : str
        Inclusive ``YYYY-MM-DD`` bounds on the ``date=`` folders; empty means unbounded.

    Raises
    ------
    ValueError
        If the format is unknown, no file matches, or ``auto`` meets mixed or unknown
        suffixes.
    """
    if input_format != "auto" and input_format not in INPUT_FORMATS:
        raise ValueError(
            f"unknown input_format {input_format!r}; choose one of 'auto', "
            + ", ".join(repr(name) for name in INPUT_FORMATS)
        )
    all_files = _list_files(spark, path)
    if not all_files:
        raise ValueError(f"no input files found at {path!r}; check the path and glob")
    files = select_by_date(all_files, start_date, end_date)
    if not files:
        raise ValueError(
            f"no date= folder under {path!r} lies in [{start_date or '-inf'}, "
            f"{end_date or '+inf'}]; widen start_date/end_date"
        )
    if input_format != "auto":
        return InputFiles(files, input_format)

    formats = {format_of(file) for file in files}
    if "" in formats:
        unknown = next(file for file in files if not format_of(file))
        raise ValueError(
            f"cannot tell the format of {unknown!r} from its suffix; "
            "pass input_format='json', 'csv' or 'parquet'"
        )
    if len(formats) > 1:
        raise ValueError(
            f"input files under {path!r} mix formats {sorted(formats)}; "
            "point path at one format or pass input_format"
        )
    logger.debug("resolved %s to %d %s files", path, len(files), next(iter(formats)))
    return InputFiles(files, formats.pop())
