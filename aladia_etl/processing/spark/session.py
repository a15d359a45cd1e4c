"""A SparkSession with the Kafka source on its classpath (resolved by the same artifact code as the stack)."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from aladia_etl.core import versions
from aladia_etl.core.errors import MissingDependency
from aladia_etl.core.settings import Settings
from aladia_etl.core.signals import keeping_the_sigint_handler
from aladia_etl.processing.spark import cds
from aladia_etl.processing.spark.cds import DriverArchive
from aladia_etl.stack.artifacts import ArtifactStore, spark_kafka_bundle

DRIVER_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{ISO8601}} %p %c: %m%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
"""


def check_pyspark() -> str:
    installed = versions.installed_version("pyspark")
    if installed is None:
        raise MissingDependency("pyspark is not installed", "pip install -e . (it pins the supported version)")
    if installed != versions.SPARK_VERSION:
        raise MissingDependency(
            f"pyspark {installed} is installed but aladia pins Spark {versions.SPARK_VERSION} (the Kafka connector "
            "must match pyspark exactly)",
            f"pip install pyspark=={versions.SPARK_VERSION}",
        )
    return installed


# The driver JVM compiles with C1 only. On 2 cores its C2 compiler threads took a third of the CPU of a stream's start
# (15 CPU-seconds to the first batch, 10 with C1 only) while the hot work of a stream runs in its Python workers:
# measured, a start reached its first batch 1.4 s sooner and a 53k-record drain was no slower (docs/ENGINES.md).
# A user's own `-XX:TieredStopAtLevel` in spark.driver.extraJavaOptions comes later and wins.
DRIVER_JIT = "-XX:TieredStopAtLevel=1"
REDACTED_OPTIONS = r"(?i)url|password|secret|token|jaas|keystore\.key|key\.password"


def package_zip(settings: Settings) -> Path:
    """aladia_etl as a zip, shipped to executors of a real cluster (spark.submit.pyFiles): its modules and the data
    files they read (built-in models, migrations), which executors load through importlib.resources."""
    import aladia_etl

    root = Path(aladia_etl.__file__).parent
    target = settings.data_dir / "spark" / f"aladia_etl-{aladia_etl.__version__}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                zf.write(path, Path("aladia_etl") / path.relative_to(root))
    return target


def driver_java_options(log_config: Path, archive: DriverArchive | None, users: str = "") -> str:
    """The driver JVM's options: aladia's first, the user's `spark.driver.extraJavaOptions` last (the JVM takes the
    last value of an option given twice)."""
    return " ".join(
        option
        for option in (
            f'"-Dlog4j2.configurationFile={log_config}"',  # quoted: Spark splits these options on spaces
            archive.java_options if archive else "",
            DRIVER_JIT,
            users,
        )
        if option
    )


def build_session(
    settings: Settings, master: str = "local[*]", conf: dict[str, str] | None = None, reporter=None
) -> tuple[Any, DriverArchive | None]:
    """The session, and the driver JVM's class-data archive (`cds.finish` it after the session stopped)."""
    spark_version = check_pyspark()
    store = ArtifactStore(settings.artifacts_dir, reporter) if reporter else ArtifactStore(settings.artifacts_dir)
    jars = store.jars(spark_kafka_bundle(spark_version))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    logs = settings.logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    log_config = settings.data_dir / "spark" / "log4j2-driver.properties"
    log_config.parent.mkdir(parents=True, exist_ok=True)
    log_config.write_text(DRIVER_LOG4J2.format(log=logs / "spark-driver.log"))
    conf = dict(conf or {})
    archive = cds.prepare(settings, jars, spark_version, conf, os.environ)
    java_options = driver_java_options(log_config, archive, conf.pop("spark.driver.extraJavaOptions", ""))

    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("aladia-stream")
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.sql.streaming.stopTimeout", "60s")
        .config("spark.python.worker.reuse", "true")
        # the Kafka source's options carry SASL's JAAS line and maybe a client key: hidden wherever Spark shows them
        .config("spark.sql.redaction.options.regex", REDACTED_OPTIONS)
    )
    if not master.startswith("local"):
        builder = builder.config("spark.submit.pyFiles", str(package_zip(settings)))
    for key, value in conf.items():
        builder = builder.config(key, value)
    # PySpark's context replaces the main thread's SIGINT handler with one that cancels every job and raises
    # KeyboardInterrupt: Ctrl-C ended a stream mid-batch (exit 130, no summary) where SIGTERM stopped it gracefully
    with keeping_the_sigint_handler():
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session, archive
