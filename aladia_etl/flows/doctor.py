"""`aladia doctor`: everything `aladia up` and the engines need, checked before anything starts — one result per
check, with the fix when it fails. Nothing is started, installed or written."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from aladia_etl.core.errors import AladiaError, ExitCode
from aladia_etl.core.settings import Settings

MIN_PYTHON = (3, 11)
MIN_FREE_BYTES = 2 * 1024**3  # the stack's data, the artifact cache and the engines' checkpoints
MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    code: int = int(ExitCode.OK)  # the exit code a failure means: 6 (missing), 5 (conflict)

    def as_dict(self) -> dict:
        return asdict(self)


def _passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def _failed(name: str, error: AladiaError) -> Check:
    return Check(name, False, error.reason, error.fix or "", int(error.exit_code))


def python() -> Check:
    found = ".".join(str(part) for part in sys.version_info[:3])
    if sys.version_info[:2] >= MIN_PYTHON:
        return _passed("python", f"Python {found} at {sys.executable}")
    return Check(
        "python",
        False,
        f"Python {found} at {sys.executable}, but aladia needs {'.'.join(map(str, MIN_PYTHON))}+",
        "install Python 3.11 or newer and reinstall aladia with it",
        int(ExitCode.MISSING_DEPENDENCY),
    )


def java() -> Check:
    from aladia_etl.stack.binaries import find_java, java_major_version

    try:
        found = find_java()
    except AladiaError as exc:
        return _failed("java", exc)
    return _passed("java", f"Java {java_major_version(found)} at {found}")


def postgres(settings: Settings) -> Check:
    from aladia_etl.stack.binaries import find_pg_bin_dir

    try:
        return _passed("postgres", f"PostgreSQL server binaries in {find_pg_bin_dir(settings.postgres.bin_dir)}")
    except AladiaError as exc:
        return _failed("postgres", exc)


def maven(settings: Settings, reach: Callable[[str], str | None]) -> Check:
    """Maven is needed once, to fetch the JVM components into the artifact cache; `reach(url)`: None when the
    repository answers, else why not."""
    from aladia_etl.stack.artifacts import (
        ArtifactStore,
        debezium_jdbc_bundle,
        debezium_postgres_bundle,
        kafka_bundle,
        spark_kafka_bundle,
    )

    cache = ArtifactStore(settings.artifacts_dir)
    bundles = (
        kafka_bundle(settings.versions.kafka),
        debezium_postgres_bundle(settings.versions.debezium),
        debezium_jdbc_bundle(),
        spark_kafka_bundle(settings.versions.spark),
    )
    if all(cache.is_resolved(bundle) for bundle in bundles):
        return _passed("maven", f"not needed: every JVM component is in {settings.artifacts_dir}")
    mvn = shutil.which("mvn")
    if mvn is None:
        return Check(
            "maven",
            False,
            "Maven (mvn) is not on PATH; it is needed once to fetch Kafka, Connect, Debezium and Spark's Kafka source",
            "install Maven (e.g. 'apt-get install maven')",
            int(ExitCode.MISSING_DEPENDENCY),
        )
    url = maven_repository()
    problem = reach(url)
    if problem is not None:
        return Check(
            "maven",
            False,
            f"Maven is at {mvn}, but its repository {url} does not answer ({problem})",
            "check the network or proxy, or set a reachable <mirror> in ~/.m2/settings.xml",
            int(ExitCode.MISSING_DEPENDENCY),
        )
    return _passed("maven", f"{mvn}, repository {url} answers (the JVM components are fetched on first 'up')")


def maven_repository(settings_xml: Path | None = None) -> str:
    """The repository Maven fetches from: the first mirror of ~/.m2/settings.xml, else Maven Central."""
    import xml.etree.ElementTree as ET

    path = settings_xml or Path.home() / ".m2" / "settings.xml"
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return MAVEN_CENTRAL
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "mirror":
            for child in element:
                if child.tag.rsplit("}", 1)[-1] == "url" and (url := (child.text or "").strip()):
                    return url
    return MAVEN_CENTRAL


def http_reach(url: str, timeout: float = 5) -> str | None:
    import requests

    try:
        answer = requests.head(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException as exc:
        return type(exc).__name__
    # a repository root may answer 404 or 405 to HEAD; a proxy refusing (403, 407) or a server error is no answer
    if answer.status_code >= 400 and answer.status_code not in (404, 405):
        return f"HTTP {answer.status_code}"
    return None


def ports(settings: Settings) -> list[Check]:
    """Each port the local stack listens on is free, or held by this data directory's own running stack."""
    from aladia_etl.core.errors import PortInUse
    from aladia_etl.stack.local import LocalStack
    from aladia_etl.stack.process import ensure_port_free

    stack = LocalStack(settings)
    out = []
    for component in stack.components:
        running = component.process.is_running()
        for host, port, setting in stack.ports(component):
            name = f"port {port}"
            if running:
                out.append(_passed(name, f"held by this data directory's running {component.name}"))
                continue
            try:
                ensure_port_free(component.name, host, port, setting)
            except PortInUse as exc:
                out.append(_failed(name, exc))
            else:
                out.append(_passed(name, f"free on {host} ({component.name})"))
    return out


def disk(settings: Settings) -> Check:
    where = settings.data_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    detail = f"{free / 1024**3:.1f} GiB free under {where}"
    if free >= MIN_FREE_BYTES:
        return _passed("disk", detail)
    return Check(
        "disk",
        False,
        f"{detail}; the stack, the artifact cache and checkpoints need about {MIN_FREE_BYTES // 1024**3} GiB",
        "free some space, or set ALADIA_DATA_DIR to a larger disk",
        int(ExitCode.MISSING_DEPENDENCY),
    )


def beam(settings: Settings) -> Check:
    """Beam streams run on Prism: installed, downloadable at first use, or built with Go."""
    from aladia_etl.stack import prism

    try:
        version = prism.beam_version()
    except AladiaError as exc:
        return _failed("beam", exc)
    if settings.beam.prism_path is not None:
        return _passed("beam", f"Prism configured at {settings.beam.prism_path}")
    cached = prism.cached_binary(settings, version)
    if cached.is_file():
        return _passed("beam", f"apache-beam {version}, Prism installed at {cached}")
    go = prism.find_go()
    if go is not None:
        return _passed("beam", f"apache-beam {version}; Prism is fetched or built with {go} on first use")
    return _passed("beam", f"apache-beam {version}; Prism is downloaded on first use (no Go to build it if that fails)")


def browser() -> Check:
    """Chromium and its driver, for the dashboard's browser test."""
    for names in (("chromium", "chromium-browser", "google-chrome"), ("chromedriver",)):
        if not any(shutil.which(name) for name in names):
            return Check(
                "browser",
                False,
                f"{names[0]} is not on PATH (the dashboard's browser test needs Chromium and chromedriver)",
                "install them (e.g. 'apt-get install chromium chromium-driver')",
                int(ExitCode.MISSING_DEPENDENCY),
            )
    return _passed("browser", "Chromium and chromedriver on PATH")


def run(
    settings: Settings, *, with_browser: bool = False, reach: Callable[[str], str | None] = http_reach
) -> list[Check]:
    checks = [python(), java(), postgres(settings), maven(settings, reach), *ports(settings), disk(settings)]
    checks.append(beam(settings))
    if with_browser:
        checks.append(browser())
    return checks


def exit_code(checks: list[Check]) -> int:
    """0 when every check passed; else the most telling failure's code: a missing program (6) over a conflict (5)."""
    codes = {check.code for check in checks if not check.ok}
    for code in (ExitCode.MISSING_DEPENDENCY, ExitCode.CONFLICT):
        if int(code) in codes:
            return int(code)
    return max(codes) if codes else int(ExitCode.OK)
