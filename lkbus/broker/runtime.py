"""What the local broker needs from the machine: Java 17+ and the Kafka jars (via Maven)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from lkbus.errors import JarsUnavailableError, JavaMissingError, MavenMissingError

POM = Path(__file__).with_name("pom.xml")
MIN_JAVA = 17
_MARKER = ".resolved"


def find_java() -> str:
    """Path of a `java` of version 17 or newer (JAVA_HOME first, then PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise JavaMissingError(
            f"Java {MIN_JAVA}+ not found: install it (e.g. apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME"
        )
    try:
        result = subprocess.run(
            [candidate, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise JavaMissingError(
            f"cannot run {candidate}: {exc}; install Java {MIN_JAVA}+ or fix JAVA_HOME"
        ) from None
    major = parse_java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        found = f"version {major}" if major else "an unknown version"
        raise JavaMissingError(
            f"{candidate} is {found}; the Kafka broker needs Java {MIN_JAVA}+: install it or set JAVA_HOME"
        )
    return candidate


def parse_java_major(version_output: str) -> int | None:
    """The major version in `java -version` output ('1.8.0_x' is 8, '17.0.15' is 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def ensure_jars(jars_dir: Path, pom: Path = POM) -> Path:
    """Resolve the broker's jars into `jars_dir` once (keyed by the pom's hash) and return it."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    target = jars_dir / digest
    if (target / _MARKER).exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenMissingError(
            "Maven (mvn) not found; it resolves the Kafka jars from Maven Central: "
            "install it (e.g. apt-get install maven)"
        )
    staging = jars_dir / f"{digest}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        raise JarsUnavailableError(
            "Maven took over 15 minutes to resolve the Kafka jars; check access to Maven Central and retry"
        ) from None
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
        raise JarsUnavailableError(
            f"Maven could not resolve the Kafka jars ({tail or 'no output'}); "
            "check access to Maven Central (or ~/.m2/settings.xml mirrors) and retry"
        )
    (staging / _MARKER).write_text(digest)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
