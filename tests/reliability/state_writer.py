"""Child process for the SIGKILL test: save states through StateStore as fast as it can, forever.

    python state_writer.py STATE_PATH [atomic|inplace]

It takes the state lock, prints ``ready``, then repeatedly loads the state and saves the content that
belongs to the next serial (:func:`content_for`, so a reader can check the whole file, not only that it
parses), printing each serial once ``save`` has returned. The parent SIGKILLs it at a random moment.

``inplace`` is the control: it rewrites the file in place (truncate + write, as Terraform's local
backend does) so the harness can show that it does catch broken files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kcplan.config.sensitive import SensitiveKeys
from kcplan.state.model import ManagedConnector, State
from kcplan.state.store import StateStore

JDBC = "io.confluent.connect.jdbc.JdbcSinkConnector"
MAX_CONNECTORS = 300
_SENSITIVE = SensitiveKeys()


def connector_count(serial: int) -> int:
    """The state grows with every write, up to MAX_CONNECTORS."""
    return min(10 + serial // 2, MAX_CONNECTORS)


def content_for(serial: int, salt: str) -> dict[str, ManagedConnector]:
    """The connectors of the state with this serial: realistic JDBC sinks, some paused, some removed,
    a digested password, a unicode description; every serial differs from the one before."""
    out: dict[str, ManagedConnector] = {}
    for i in range(connector_count(serial)):
        if (i * 7 + serial) % 13 == 0:
            continue  # removed at this serial
        name = f"orders-{i:04d}-sink"
        config = {
            "connector.class": JDBC,
            "tasks.max": str(1 + i % 4),
            "topics": f"orders.{i % 17}.v1,orders.{i % 17}.v2",
            "connection.url": f"jdbc:postgresql://db-{i % 5}.internal:5432/orders",
            "connection.user": "kc_writer",
            "connection.password": f"s3cret-{i}-{serial % 3}",
            "batch.size": str((serial * 31 + i) % 5000),
            "insert.mode": "upsert",
            "pk.mode": "record_key",
            "transforms": "route",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": "orders\\.(.*)",
            "transforms.route.replacement": "orders_$1",
            "errors.tolerance": "all",
            "description": f"Bestellungen \u2013 Zürich ✓ #{serial}",
        }
        state = "PAUSED" if (serial + i) % 11 == 0 else "RUNNING"
        out[name] = ManagedConnector.record(name, config, sensitive=_SENSITIVE, salt=salt, state=state,
                                            prevent_destroy=i % 9 == 0, applied_at="2025-01-01T00:00:00Z")
    return out


def next_state(current: State) -> State:
    assert current.digest_salt is not None
    return current.model_copy(update={"connectors": content_for(current.serial + 1, current.digest_salt)})


def main(path: Path, mode: str) -> None:
    store = StateStore(path)
    with store.locked("kill-test"):
        print("ready", flush=True)
        while True:
            current = store.load()
            if mode == "inplace":
                new = next_state(current).model_copy(update={"serial": current.serial + 1})
                with open(path, "w") as out:  # truncates first: the window a kill can hit
                    out.write(new.to_json())
                store._cache = None  # the test's control writer bypasses the store's own bookkeeping
                print(new.serial, flush=True)
            else:
                saved = store.save(next_state(current))
                print(saved.serial, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "atomic")
