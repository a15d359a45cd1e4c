"""Properties files aladia writes for Kafka and Connect are read back by Java's own java.util.Properties (loaded
from a byte stream, as Kafka loads them) exactly as written: passwords with any character, PEM values over lines."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from aladia_etl.stack import jvm

READER = """
import java.io.FileInputStream;
import java.util.Properties;
public class ReadProps {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) { p.load(in); }
        StringBuilder out = new StringBuilder();
        for (String key : new java.util.TreeSet<>(p.stringPropertyNames())) {
            out.append(key).append('\\t');
            for (char c : p.getProperty(key).toCharArray()) out.append(String.format("%04x", (int) c));
            out.append('\\n');
        }
        System.out.print(out);
    }
}
"""

VALUES = {
    "plain": "secret",
    "backslash": "a\\\\b\\nc\\",
    "pem": "-----BEGIN CERTIFICATE-----\nMIIB\r\nxyz\n-----END CERTIFICATE-----\n",
    "leading.space": "  two spaces first",
    "tab.and.feed": "\ta\fb",
    "separators": "k=v:w #not a comment !nor this",
    "quotes": 'org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p\\"q";',
    "unicode": "pässwörd-密码-🔑",
    "empty": "",
}


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    found = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not found:
        pytest.fail("java is not installed: aladia needs Java 17+ (install a JDK and put java on PATH)")
    return found


def test_java_reads_back_every_value_exactly(tmp_path):
    path = tmp_path / "worker.properties"
    jvm.write_properties(path, VALUES)
    (tmp_path / "ReadProps.java").write_text(READER)
    done = subprocess.run(
        [java(), str(tmp_path / "ReadProps.java"), str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    read = {}
    for line in done.stdout.splitlines():
        key, _, hexed = line.partition("\t")
        read[key] = (
            "".join(chr(int(hexed[i : i + 4], 16)) for i in range(0, len(hexed), 4))
            .encode("utf-16", "surrogatepass")
            .decode("utf-16")
        )
    assert json.dumps(read, sort_keys=True) == json.dumps(VALUES, sort_keys=True)


def test_the_file_is_private_to_its_owner(tmp_path):
    path = tmp_path / "connect.properties"
    jvm.write_properties(path, {"sasl.jaas.config": 'password="x";'})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
