"""JVM artifacts (Kafka, Connect, Debezium, Spark's Kafka connector) resolved with Maven into a cache.

Maven does the resolution, so the user's ``~/.m2/settings.xml`` (mirrors, proxies) applies. Each bundle is
copied into ``<cache>/jars/<bundle>-<fingerprint>/`` once; a marker file makes later calls free.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aladia_etl.core import versions
from aladia_etl.core.errors import MissingDependency
from aladia_etl.core.progress import SILENT, Reporter

MARKER = ".resolved"
_DOWNLOADED = re.compile(r"Downloaded from \S+: (\S+)")
_DOWNLOADING = re.compile(r"Downloading from \S+: (\S+)")
_COPYING = re.compile(r"Copying (\S+\.jar)")


@dataclass(frozen=True)
class Bundle:
    """A set of Maven coordinates resolved together (with their runtime dependencies) into one directory."""

    name: str
    coordinates: tuple[str, ...]
    exclude_groups: tuple[str, ...] = ()
    exclude_artifacts: tuple[str, ...] = ()
    description: str = field(default="", compare=False)

    @property
    def fingerprint(self) -> str:
        text = "|".join((*self.coordinates, "-", *self.exclude_groups, "-", *self.exclude_artifacts))
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def kafka_bundle(kafka_version: str = versions.KAFKA_VERSION) -> Bundle:
    """Broker, storage tool and Connect runtime share one classpath, as in the Kafka distribution."""
    scala = versions.KAFKA_SCALA_BINARY
    return Bundle(
        name=f"kafka-{kafka_version}",
        coordinates=(
            f"org.apache.kafka:kafka_{scala}:{kafka_version}",
            f"org.apache.kafka:kafka-tools:{kafka_version}",
            f"org.apache.kafka:connect-runtime:{kafka_version}",
            f"org.apache.kafka:connect-json:{kafka_version}",
            f"org.apache.kafka:connect-transforms:{kafka_version}",
            # basic auth of the REST API (the secured local stack)
            f"org.apache.kafka:connect-basic-auth-extension:{kafka_version}",
            f"org.apache.logging.log4j:log4j-core:{versions.LOG4J_VERSION}",
            f"org.apache.logging.log4j:log4j-slf4j2-impl:{versions.LOG4J_VERSION}",
            f"org.slf4j:slf4j-api:{versions.SLF4J_VERSION}",
        ),
        description=f"Apache Kafka {kafka_version} and Kafka Connect",
    )


# Classes the Connect worker already provides; a plugin must not carry its own copy.
_WORKER_PROVIDED_GROUPS = ("org.apache.kafka", "org.slf4j")


def debezium_postgres_bundle(debezium_version: str = versions.DEBEZIUM_VERSION) -> Bundle:
    return Bundle(
        name=f"debezium-connector-postgres-{debezium_version}",
        coordinates=(f"io.debezium:debezium-connector-postgres:{debezium_version}",),
        exclude_groups=_WORKER_PROVIDED_GROUPS,
        description=f"Debezium PostgreSQL connector {debezium_version}",
    )


def debezium_jdbc_bundle(debezium_version: str = versions.DEBEZIUM_JDBC_SINK_VERSION) -> Bundle:
    return Bundle(
        name=f"debezium-connector-jdbc-{debezium_version}",
        coordinates=(
            f"io.debezium:debezium-connector-jdbc:{debezium_version}",
            f"org.postgresql:postgresql:{versions.POSTGRES_JDBC_VERSION}",
        ),
        # Jackson comes from the worker: a second jackson-databind in the plugin makes ServiceLoader pair the
        # worker's Jdk8Module with the plugin's Module class ("not a subtype") when Hibernate starts.
        exclude_groups=(*_WORKER_PROVIDED_GROUPS, "com.fasterxml.jackson.core"),
        # Only PostgreSQL is a target here; the other dialects' drivers are left out.
        exclude_artifacts=("ojdbc11", "mssql-jdbc", "mysql-connector-j", "mariadb-java-client"),
        description=f"Debezium JDBC sink connector {debezium_version}",
    )


def spark_kafka_bundle(spark_version: str = versions.SPARK_VERSION) -> Bundle:
    """The Kafka source for Structured Streaming, without what pyspark's own jars already hold."""
    return Bundle(
        name=f"spark-sql-kafka-{spark_version}",
        coordinates=(versions.spark_connector_coordinate(spark_version),),
        exclude_groups=(
            "org.apache.hadoop",
            "org.scala-lang",
            "org.slf4j",
            "org.lz4",
            "org.xerial.snappy",
            "com.google.code.findbugs",
            "org.scala-lang.modules",
        ),
        exclude_artifacts=(f"spark-tags_{versions.SPARK_SCALA_BINARY}",),
        description=f"Spark Kafka connector {spark_version}",
    )


def _pom(bundle: Bundle) -> str:
    deps = []
    for coordinate in bundle.coordinates:
        group, artifact, version = coordinate.split(":")
        deps.append(
            f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>aladia.local</groupId><artifactId>bundle</artifactId><version>1</version>"
        "<packaging>pom</packaging><dependencies>" + "".join(deps) + "</dependencies></project>"
    )


class ArtifactStore:
    """Resolves bundles with ``mvn`` into ``<root>/jars``."""

    def __init__(self, root: Path, reporter: Reporter = SILENT, mvn: str | None = None) -> None:
        self.root = root
        self.reporter = reporter
        self._mvn = mvn

    def path(self, bundle: Bundle) -> Path:
        return self.root / "jars" / f"{bundle.name}-{bundle.fingerprint}"

    def is_resolved(self, bundle: Bundle) -> bool:
        return (self.path(bundle) / MARKER).is_file()

    def jars(self, bundle: Bundle) -> list[Path]:
        return sorted(self.resolve(bundle).glob("*.jar"))

    def resolve(self, bundle: Bundle) -> Path:
        target = self.path(bundle)
        if self.is_resolved(bundle):
            return target
        mvn = self._mvn or shutil.which("mvn")
        if not mvn:
            raise MissingDependency(
                "Maven (mvn) is not on PATH; it is needed once to fetch the Kafka, Connect and Debezium jars",
                "install Maven 3.8+ (e.g. 'apt-get install maven') and run the command again",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{bundle.name}-") as tmp:
            work = Path(tmp)
            (work / "pom.xml").write_text(_pom(bundle))
            out = work / "lib"
            cmd = [
                mvn,
                "-B",
                "-f",
                str(work / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={out}",
                "-DincludeScope=runtime",
            ]
            if bundle.exclude_groups:
                cmd.append("-DexcludeGroupIds=" + ",".join(bundle.exclude_groups))
            if bundle.exclude_artifacts:
                cmd.append("-DexcludeArtifactIds=" + ",".join(bundle.exclude_artifacts))
            self._run_maven(cmd, bundle)
            (out / MARKER).write_text("\n".join(bundle.coordinates) + "\n")
            out.rename(target)
        return target

    def _run_maven(self, cmd: list[str], bundle: Bundle) -> None:
        label = bundle.description or bundle.name
        lines: list[str] = []
        with self.reporter.task(f"Resolving {label} with Maven") as task:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            downloads = copies = 0
            for line in proc.stdout:
                line = line.rstrip()
                lines.append(line)
                if match := _DOWNLOADED.search(line):
                    downloads += 1
                    task.advance(0, f"{label}: downloaded {downloads} files, last {match.group(1).rsplit('/', 1)[-1]}")
                elif match := _DOWNLOADING.search(line):
                    task.advance(0, f"{label}: downloading {match.group(1).rsplit('/', 1)[-1]}")
                elif match := _COPYING.search(line):
                    copies += 1
                    task.advance(0, f"{label}: {copies} jars")
            code = proc.wait()
        if code != 0:
            errors = [ln.removeprefix("[ERROR] ") for ln in lines if ln.startswith("[ERROR] ") and ln[8:].strip()]
            reason = errors[0] if errors else f"mvn exited with code {code}"
            raise MissingDependency(
                f"could not resolve {label} with Maven: {reason}",
                "check network access to Maven Central (or your mirror in ~/.m2/settings.xml) and retry",
                detail="\n".join(lines[-15:]),
            )


def classpath(jars: list[Path]) -> str:
    return ":".join(str(j) for j in jars)
