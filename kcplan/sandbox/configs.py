"""The files and command lines of the sandbox's JVMs: pure text, written by the modules that start them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

# 2 GB max like Kafka's own connect-*.sh: at 512 MB a worker with 1,000 connectors spends seconds in GC
# answering one expand=status&expand=info listing (bench/plan/results.md). The heap only grows when used.
WORKER_JVM = ("-Xms64m", "-Xmx2g", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
# kafka-server-start.sh gives 1 GB; one broker with a few hundred partitions needs far less.
BROKER_JVM = ("-Xms64m", "-Xmx1g", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
WORKER_MAINS = {"standalone": "org.apache.kafka.connect.cli.ConnectStandalone",
                "distributed": "org.apache.kafka.connect.cli.ConnectDistributed"}

LOG4J2 = """\
# kcplan sandbox: logs go to stdout, which is the process's log file.
status = error
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""

# For Kafka up to 3.x, which logs through reload4j (log4j 1).
LOG4J1 = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.reflections=ERROR
"""


def java_command(java: Path, jvm_options: Sequence[str], directory: Path, classpath: str,
                 main: str, *args: str) -> list[str]:
    """A JVM logging through the sandbox's log4j files (both: 4.x reads one, 3.x the other)."""
    return [str(java), *jvm_options,
            f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}",
            f"-Dlog4j.configuration=file:{directory / 'log4j.properties'}",
            "-cp", classpath, main, *args]


def broker_properties(port: int, controller_port: int, data_dir: Path) -> str:
    """One KRaft node in combined mode (broker and controller), a static one-voter quorum.

    Replication factor 1 for every internal topic, and no initial rebalance delay, as Kafka's own
    config/server.properties for a single development node sets them.
    """
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def worker_properties(mode: str, bootstrap: str, port: int, offsets_file: Path | None,
                      group: str = "kcplan-sandbox", extra_listeners: Sequence[str] = (),
                      extra_props: Mapping[str, str] | None = None) -> str:
    """The worker's properties file: Connect's defaults apart from what a local cluster needs.

    ``extra_listeners`` (e.g. ``https://127.0.0.1:PORT``) are served next to the plain HTTP listener that
    the sandbox itself uses to see that the worker is ready; ``extra_props`` are added last (e.g.
    ``listeners.https.ssl.keystore.location``).
    """
    lines = {
        "bootstrap.servers": bootstrap,
        "listeners": ",".join([f"http://127.0.0.1:{port}", *extra_listeners]),
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": str(port),
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        # Every plugin on the classpath has a ServiceLoader manifest (the worker itself suggests this);
        # the stand-in's 'reflections' jar is too old for the default scan.
        "plugin.discovery": "service_load",
        "offset.flush.interval.ms": "10000",
    }
    if mode == "standalone":
        lines["offset.storage.file.filename"] = str(offsets_file)
    else:
        lines.update({
            "group.id": group,
            "config.storage.topic": f"{group}-configs",
            "offset.storage.topic": f"{group}-offsets",
            "status.storage.topic": f"{group}-status",
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
        })
    lines.update(extra_props or {})
    return "".join(f"{k}={v}\n" for k, v in lines.items())
