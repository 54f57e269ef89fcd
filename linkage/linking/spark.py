"""Splink's Spark backend for the identity step of linkage (``--backend spark``).

Only the Splink part of :func:`linkage.linking.run.link` runs on Spark: training (lambda, u by
random sampling, m by EM), blocking and scoring of the candidate pairs. The model is the
same Python settings as on DuckDB (:func:`linkage.linking.model.settings`; custom SQL levels
are written in DuckDB SQL and marked ``base_dialect_str="duckdb"``, so Splink translates
them), retrained on Spark: a DuckDB-trained model JSON does not run on Spark. Everything
around it stays in the study's DuckDB: staging SQL before, and after it the scored pairs
(collected back as Arrow), the temporal step, ``links``, evaluation and the estimators,
which are numpy/DuckDB work on the linked pairs, a few million rows at national scale.

Where it runs (see the README, "Spark"):

* With a ``SparkSession`` already active in the process (a cluster session, Databricks, a
  notebook), that session is used as it is and left running.
* Otherwise a session is started and stopped afterwards: master ``LINKAGE_SPARK_MASTER``
  (default ``local[N]``, N = ``LINKAGE_THREADS`` or all cores), Splink's similarity-function
  jar on ``spark.jars``, ``spark.sql.shuffle.partitions`` from
  ``LINKAGE_SPARK_SHUFFLE_PARTITIONS`` (default 8), driver memory from
  ``LINKAGE_SPARK_DRIVER_MEMORY`` (default 4g). Anything else comes from Spark's own
  ``$SPARK_CONF_DIR/spark-defaults.conf``.
* Splink breaks lineage by writing parquet to the checkpoint directory:
  ``LINKAGE_SPARK_CHECKPOINT_DIR`` (on a cluster: storage every executor reaches, e.g.
  ``hdfs://`` or ``s3a://``), else the session's own, else a temporary local folder.

pyspark is an optional extra (``pip install 'linkage[spark]'``) and needs Java 17 or later;
either missing is a :class:`~linkage.errors.BackendError` (one line, exit code 9).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from linkage.errors import BackendError

__all__ = ["BACKENDS", "SparkBackend", "check_available"]

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("duckdb", "spark")
"""Where Splink runs: DuckDB in-process (default) or Spark."""
MIN_JAVA = 17  # Spark 4 runs on Java 17 or 21
DEFAULT_SHUFFLE_PARTITIONS = 8  # Spark's 200 cost more in task overhead than they gain locally
DEFAULT_DRIVER_MEMORY = "4g"
INSTALL_HINT = "pip install 'linkage[spark]'"


def _java_major(java: str) -> int | None:
    """Major version of a ``java`` binary (``java -version`` prints it on stderr)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def _java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def check_available() -> None:
    """Raise ``BackendError`` unless pyspark and a Java 17+ runtime are installed.

    Raises:
        BackendError: pyspark is not importable, or no suitable ``java`` is found.

    Example:
        >>> check_available()  # doctest: +SKIP
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise BackendError(
            f"the Spark backend needs pyspark, which is not installed: {INSTALL_HINT}"
        ) from None
    java = _java_binary()
    if java is None:
        raise BackendError(
            "the Spark backend needs a Java runtime (17 or later) on PATH or in JAVA_HOME, "
            "e.g. apt-get install openjdk-17-jre-headless"
        )
    major = _java_major(java)
    if major is not None and major < MIN_JAVA:
        raise BackendError(f"the Spark backend needs Java {MIN_JAVA} or later; {java} is "
                           f"Java {major}")


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def _new_session(threads: int) -> Any:
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    master = os.environ.get("LINKAGE_SPARK_MASTER", f"local[{threads}]")
    partitions = _env_int("LINKAGE_SPARK_SHUFFLE_PARTITIONS") or DEFAULT_SHUFFLE_PARTITIONS
    builder = (
        SparkSession.builder.appName("linkage")
        .master(master)
        # jaro_winkler, damerau_levenshtein, ... as Scala UDFs; Splink registers them
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.driver.memory",
                os.environ.get("LINKAGE_SPARK_DRIVER_MEMORY", DEFAULT_DRIVER_MEMORY))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")  # our progress bar, not Spark's
    )
    if master.startswith("local"):
        # no web UI port and no host-name lookup on a laptop or a CI box
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (builder.config("spark.ui.enabled", "false")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


@dataclass
class LocalPredictions:
    """Splink predictions collected from Spark into the DuckDB work connection, shaped
    like a Splink DuckDB result as far as :mod:`linkage.linking.run` reads it."""

    physical_name: str
    n_rows: int


class SparkBackend:
    """A Spark session and Splink ``SparkAPI`` for one linkage run.

    Args:
        scratch: a local folder for the checkpoint directory when none is configured
            (removed by the caller after the run).
        threads: cores of a local session (None: ``LINKAGE_THREADS`` or all cores).

    Raises:
        BackendError: pyspark or Java missing, or the session cannot start.

    Example:
        >>> backend = SparkBackend("/tmp/linkage_spark")  # doctest: +SKIP
        >>> linker = Linker(inputs, settings)  # doctest: +SKIP
        >>> backend.close()  # doctest: +SKIP
    """

    def __init__(self, scratch: str | Path, threads: int | None = None) -> None:
        check_available()
        # pyspark 4 warns that it "does not yet fully support pandas >= 3" whenever it
        # checks the pandas version, Arrow conversions included; we hand it Arrow, never
        # pandas frames, so the warning says nothing about this run
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        from pyspark.sql import SparkSession
        from splink.backends.spark import SparkAPI

        active = SparkSession.getActiveSession()
        self._owned = active is None
        try:
            self.session = active or _new_session(
                threads or _env_int("LINKAGE_THREADS") or os.cpu_count() or 1)
        except Exception as exc:  # py4j / JVM start-up errors have many types
            raise BackendError(f"cannot start a Spark session: {str(exc).splitlines()[0]}"
                               ) from exc
        context = self.session.sparkContext
        configured = os.environ.get("LINKAGE_SPARK_CHECKPOINT_DIR")
        if configured or context.getCheckpointDir() is None:
            context.setCheckpointDir(configured or str(Path(scratch) / "spark_checkpoints"))
        self.api = SparkAPI(spark_session=self.session, break_lineage_method="parquet")
        log.info("Spark %s, master %s, checkpoints in %s", self.session.version,
                 context.master, context.getCheckpointDir())

    def mirror_inputs(self, con: duckdb.DuckDBPyConnection,
                      work: duckdb.DuckDBPyConnection, names: dict[str, str]) -> None:
        """Expose the staged tables in ``work`` under Splink's dataset names too, for the
        DuckDB queries that read them there (the audit labels of the charts).

        Args:
            con: the study connection holding the staged tables.
            work: the DuckDB work connection.
            names: dataset name -> staged table (e.g. ``{"referrals": "stg_referrals"}``).
        """
        for name, table in names.items():
            work.register(name, con.table(table).to_arrow_table())

    def to_duckdb(self, predictions: Any, work: duckdb.DuckDBPyConnection,
                  name: str = "linkage_spark_predictions") -> LocalPredictions:
        """Collect Splink's Spark predictions into ``work`` as the view ``name`` (Arrow,
        no pandas: pyspark's pandas conversion warns under pandas 3)."""
        table = predictions.as_spark_dataframe().toArrow()
        work.register(name, table)
        return LocalPredictions(name, table.num_rows)

    def close(self) -> None:
        """Stop the session if this backend started it (a caller's session keeps running)."""
        if self._owned:
            self.session.stop()
