"""Golden tests of the human diff and the JSON plan (exact strings)."""

from __future__ import annotations

import io
import json

import jsonpatch

from kcplan.config.sensitive import SensitiveKeys
from kcplan.plan.diff import masked
from kcplan.state.model import State
from kcplan.views.plan_view import plan_json, render_json, render_plan
from kcplan.views.style import Palette
from tests.unit.test_planner import SINK, SRC, live, plan, prior, rec, spec


def golden_plan():  # type: ignore[no-untyped-def]
    """One plan with every action, every drift kind, unmanaged connectors, a conflict, a warning."""
    return plan(
        [spec("new-src", {"topic": "orders", "db.password": "s3cret", "file": "${file:/etc/kc.properties:file}"},
              state="PAUSED"),
         spec("upd", {"topic": "t", "tasks.max": "2", "db.password": "new-pw"}, state="PAUSED"),
         spec("repl", {"topics": "t"}, cls=SINK),
         spec("pausable", {"topic": "t"}, state="PAUSED"),
         spec("same", {"topic": "t"}),
         spec("adoptme", {"topic": "t"}),
         spec("theirs", {"topic": "ours"}),
         spec("recreate", {"topic": "t"})],
        prior(rec("upd", {"topic": "t", "tasks.max": "1", "db.password": "old-pw", "old.setting": "x"}),
              rec("repl", {"topic": "t"}), rec("pausable", {"topic": "t"}), rec("same", {"topic": "t"}),
              rec("dropped", {"topic": "t"}), rec("gone", {"topic": "t"}), rec("recreate", {"topic": "t"})),
        [live("upd", {"topic": "t", "tasks.max": "3", "db.password": "old-pw", "old.setting": "x"}),
         live("repl", {"topic": "t"}), live("pausable", {"topic": "t"}), live("same", {"topic": "t"}, state="PAUSED"),
         live("dropped", {"topic": "t"}), live("adoptme", {"topic": "t"}), live("theirs", {"topic": "mine"}),
         live("manual-1"), live("manual-2")],
        targets=["*", "nope"])


GOLDEN = f"""\
Plan for environment "dev" (Kafka cluster cluster-A at http://connect:8083).

Changes made outside kcplan (the cluster differs from what kcplan last applied):

  - gone has been deleted
  - recreate has been deleted
  ~ same has changed
      ~ run state: RUNNING -> PAUSED
  ~ upd has changed
      ~ tasks.max: "1" -> "3"

Connectors on the cluster not managed by kcplan (left untouched):
    manual-1
    manual-2

Conflicts: declared in the code and present on the cluster, but not managed by kcplan.
Left untouched: take them over with --adopt, or record them as they are with 'kcplan import NAME'.

  ! theirs (declared in environments/dev/connectors/theirs.jsonnet): --adopt would update it
      ~ topic: "mine" -> "ours"

kcplan will perform the following actions:

  = adopt adoptme (already matches the code: recorded in state, no change to the cluster)

  - delete dropped (no longer declared in the code)

  - forget gone (already gone from the cluster: removed from state only)

  + create new-src (initial state PAUSED)
      + connector.class: "{SRC}"
      + db.password: (sensitive value)
      + file: "${{file:/etc/kc.properties:file}}"
      + name: "new-src"
      + topic: "orders"

  ~ pause pausable (RUNNING -> PAUSED)

  + create recreate
      + connector.class: "{SRC}"
      + name: "recreate"
      + topic: "t"

  -/+ replace repl (connector.class changed: delete, then create)
      ~ connector.class: "{SRC}" -> "{SINK}"  (forces replacement)
      - topic: "t"
      + topics: "t"

  ~ resume same (PAUSED -> RUNNING)

  ~ update upd
      ~ db.password: (sensitive value)
      - old.setting: "x"
      ~ tasks.max: "3" -> "2"
      ~ run state: RUNNING -> PAUSED

Plan: 3 to add, 3 to change, 2 to destroy.
State only (no change to the cluster): 1 to adopt, 1 to forget.
Warning: --target 'nope' matches no connector
"""


def test_human_diff_golden() -> None:
    text = render_plan(golden_plan())
    assert text == GOLDEN
    assert "s3cret" not in text and "new-pw" not in text and "old-pw" not in text


def test_no_changes() -> None:
    p = plan([spec("a", {"topic": "t"})], prior(rec("a", {"topic": "t"})), [live("a", {"topic": "t"})])
    assert render_plan(p) == (
        'Plan for environment "dev" (Kafka cluster cluster-A at http://connect:8083).\n'
        "\n"
        "No changes. The cluster matches the configuration.\n")


def test_no_changes_without_refresh() -> None:
    p = plan([spec("a", {"topic": "t"})], prior(rec("a", {"topic": "t"})), refresh=False)
    assert render_plan(p) == (
        'Plan for environment "dev" against the state alone (--refresh=false: the cluster was not contacted).\n'
        "\n"
        "No changes. The state matches the configuration (the cluster was not contacted).\n")


def test_only_a_conflict_and_unmanaged() -> None:
    p = plan([spec("a", {"topic": "ours"}, state="PAUSED")], prior(), [live("a", {"topic": "ours"}), live("m")])
    assert render_plan(p) == (
        'Plan for environment "dev" (Kafka cluster cluster-A at http://connect:8083).\n'
        "\n"
        "Connectors on the cluster not managed by kcplan (left untouched):\n"
        "    m\n"
        "\n"
        "Conflicts: declared in the code and present on the cluster, but not managed by kcplan.\n"
        "Left untouched: take them over with --adopt, or record them as they are with 'kcplan import NAME'.\n"
        "\n"
        "  ! a (declared in environments/dev/connectors/a.jsonnet): --adopt would pause it\n"
        "      ~ run state: RUNNING -> PAUSED\n"
        "\n"
        "No changes to apply. 1 conflict needs --adopt or 'kcplan import' (see above).\n")


def test_adopting_update_is_marked() -> None:
    p = plan([spec("a", {"topic": "ours"})], prior(), [live("a", {"topic": "theirs"})], adopt=True)
    assert render_plan(p).splitlines()[2:6] == [
        "kcplan will perform the following actions:",
        "",
        "  ~ update a (taking over an unmanaged connector)",
        '      ~ topic: "theirs" -> "ours"',
    ]


def test_colours_only_when_enabled() -> None:
    p = plan([spec("a")], State(), [], salt="ab" * 16)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    coloured = render_plan(p, Palette.for_stream(False, Tty()))
    assert "  \033[32m+\033[0m create \033[1ma\033[0m\n" in coloured
    assert "\033[" not in render_plan(p)  # the default: no colours
    assert "\033[" not in render_plan(p, Palette.for_stream(True, Tty()))  # --no-color
    assert "\033[" not in render_plan(p, Palette.for_stream(False, io.StringIO()))  # not a terminal


SMALL_JSON = {
    "format_version": 1,
    "kcplan_version": "0.1.0",
    "env": "dev",
    "kafka_cluster_id": "cluster-A",
    "connect_urls": ["http://connect:8083"],
    "state": {"lineage": "lin-1", "serial": 7},
    "refreshed": True,
    "targets": [],
    "adopt": False,
    "has_changes": True,
    "summary": {"add": 1, "change": 1, "destroy": 1, "adopt": 0, "forget": 0, "conflicts": 1, "drift": 1,
                "unmanaged": 1},
    "changes": [
        {
            "name": "a",
            "action": "create",
            "run_state": {"from": None, "to": "RUNNING"},
            "adopting": False,
            "prevent_destroy": False,
            "source": "environments/dev/connectors/a.jsonnet",
            "keys": [
                {"key": "connector.class", "action": "add", "old": None, "new": SRC, "sensitive": False},
                {"key": "db.password", "action": "add", "old": None, "new": "(sensitive value)", "sensitive": True},
                {"key": "name", "action": "add", "old": None, "new": "a", "sensitive": False},
                {"key": "topic", "action": "add", "old": None, "new": "t", "sensitive": False},
            ],
            "patch": [
                {"op": "add", "path": "/connector.class", "value": SRC},
                {"op": "add", "path": "/db.password", "value": "(sensitive value)"},
                {"op": "add", "path": "/name", "value": "a"},
                {"op": "add", "path": "/topic", "value": "t"},
            ],
            "offsets": None,
        },
        {
            "name": "b",
            "action": "update",
            "run_state": {"from": "RUNNING", "to": "RUNNING"},
            "adopting": False,
            "prevent_destroy": False,
            "source": "environments/dev/connectors/b.jsonnet",
            "keys": [{"key": "topic", "action": "change", "old": "hand", "new": "new", "sensitive": False}],
            "patch": [{"op": "replace", "path": "/topic", "value": "new"}],
            "offsets": None,
        },
        {
            "name": "d",
            "action": "delete",
            "run_state": {"from": "RUNNING", "to": None},
            "adopting": False,
            "prevent_destroy": False,
            "source": None,
            "keys": [],
            "patch": [],
            "offsets": None,
        },
    ],
    "unchanged": [],
    "drift": [
        {
            "name": "b",
            "kinds": ["config"],
            "keys": [{"key": "topic", "action": "change", "old": "old", "new": "hand", "sensitive": False}],
            "run_state": {"applied": "RUNNING", "live": "RUNNING"},
        },
    ],
    "unmanaged": ["m"],
    "conflicts": [
        {
            "name": "c",
            "action": "update",
            "run_state": {"from": "RUNNING", "to": "RUNNING"},
            "adopting": True,
            "prevent_destroy": False,
            "source": "environments/dev/connectors/c.jsonnet",
            "keys": [{"key": "topic", "action": "change", "old": "theirs", "new": "ours", "sensitive": False}],
            "patch": [{"op": "replace", "path": "/topic", "value": "ours"}],
            "offsets": None,
        },
    ],
    "warnings": [],
}


def small_plan():  # type: ignore[no-untyped-def]
    return plan([spec("a", {"topic": "t", "db.password": "pw"}), spec("b", {"topic": "new"}),
                 spec("c", {"topic": "ours"})],
                prior(rec("b", {"topic": "old"}), rec("d")),
                [live("b", {"topic": "hand"}), live("d"), live("c", {"topic": "theirs"}), live("m")])


def test_json_golden() -> None:
    p = small_plan()
    assert plan_json(p) == SMALL_JSON
    assert render_json(p) == json.dumps(SMALL_JSON, indent=2) + "\n"


def test_json_lists_unchanged_connectors_and_no_secret_or_digest() -> None:
    p = plan([spec("a", {"db.password": "pw-A"}), spec("b", {"db.password": "pw-B"})],
             prior(rec("a", {"db.password": "pw-A"}), rec("b", {"db.password": "old"})),
             [live("a", {"db.password": "pw-A"}), live("b", {"db.password": "old"})])
    doc = plan_json(p)
    assert doc["unchanged"] == ["a"] and [c["name"] for c in doc["changes"]] == ["b"]
    text = render_json(p)
    assert "pw-A" not in text and "pw-B" not in text and "hmac-sha256" not in text


def test_json_patch_is_valid_rfc6902_from_live_to_desired_masked() -> None:
    sk = SensitiveKeys()
    old = {"connector.class": SRC, "name": "a", "topic": "t", "file": "/x", "a/b~c": "1", "db.password": "p1"}
    new = {"topic": "u", "batch.size": "5", "a/b~c": "2", "db.password": "p2"}
    p = plan([spec("a", new)], prior(rec("a", old)), [live("a", old)])
    ops = p.changes[0].patch
    assert {"op": "replace", "path": "/a~1b~0c", "value": "2"} in ops
    desired_masked = masked({"connector.class": SRC, "name": "a", **new}, sk)
    assert jsonpatch.apply_patch(masked({**old}, sk), list(ops)) == desired_masked
