"""Starting JVM components (Kafka broker, Kafka Connect) from jars resolved by the artifact store."""

from __future__ import annotations

from pathlib import Path

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.scanner.name = org.apache.kafka.connect.runtime.isolation
logger.scanner.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.common.name = org.apache.kafka.common
logger.common.level = WARN
"""


def write_properties(path: Path, values: dict[str, object]) -> None:
    """A Java properties file, private to its owner (a secured stack's holds passwords)."""
    from aladia_etl.stack.ownership import write_private

    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={_escaped(value)}\n" for key, value in values.items())
    write_private(path, text)


def java_command(
    java: Path, heap: str, classpath: str, log_config: Path, main: str, *args: str, system: dict[str, str] | None = None
) -> list[str]:
    """The command line of a JVM component; `system`: extra -D system properties."""
    return [
        str(java),
        f"-Xmx{heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log_config}",
        *(f"-D{key}={value}" for key, value in (system or {}).items()),
        "-cp",
        classpath,
        main,
        *args,
    ]


def _escaped(value: object) -> str:
    """A value as java.util.Properties reads it back (ISO-8859-1, as Kafka loads its files): backslashes, line breaks
    and tabs escaped (a PEM value spans lines), a leading space kept, every non-ASCII character as \\uXXXX."""
    out = []
    for index, char in enumerate(str(value)):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == " " and index == 0:
            out.append("\\ ")
        elif ord(char) > 0x7E or ord(char) < 0x20:
            data = char.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(data[i : i + 2]):04x}" for i in range(0, len(data), 2))
        else:
            out.append(char)
    return "".join(out)


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}
