"""`kcplan import --json`: the document, with variable names and never a secret value."""

from __future__ import annotations

import json

from kcplan.generate.build import Generated, SecretRef
from kcplan.views.import_json import import_json


def test_generated_files_libraries_and_variables_without_values() -> None:
    generated = Generated(
        files={"environments/p/file-stream-sink.libsonnet": "{}", "environments/p/connectors/a.jsonnet": "x",
               "environments/p/connectors/ops_heartbeat.jsonnet": "y"},
        file_of={"ops: heartbeat": "environments/p/connectors/ops_heartbeat.jsonnet",
                 "a": "environments/p/connectors/a.jsonnet"},
        libraries=["environments/p/file-stream-sink.libsonnet"],
        secrets=[SecretRef("KCPLAN_SECRET_A__DB_PASSWORD", "a", "db.password")],
        secret_values={"KCPLAN_SECRET_A__DB_PASSWORD": "hunter2-value"})
    text = import_json(env="p", dry_run=True, imported=["a", "ops: heartbeat"], already_managed=["b"],
                       not_declared=[], state_serial=None, generated=generated,
                       secrets_file="environments/p/SECRETS.md", plan=None)
    assert "hunter2-value" not in text
    assert json.loads(text) == {
        "format_version": 1, "env": "p", "dry_run": True, "imported": ["a", "ops: heartbeat"],
        "already_managed": ["b"], "not_declared": [], "state_serial": None,
        "generated": {
            "files": [
                {"path": "environments/p/file-stream-sink.libsonnet", "kind": "library", "connector": None},
                {"path": "environments/p/connectors/a.jsonnet", "kind": "connector", "connector": "a"},
                {"path": "environments/p/connectors/ops_heartbeat.jsonnet", "kind": "connector",
                 "connector": "ops: heartbeat"}],
            "variables": [{"name": "KCPLAN_SECRET_A__DB_PASSWORD", "connector": "a", "key": "db.password"}],
            "secrets_file": "environments/p/SECRETS.md"},
        "plan": None}


def test_no_secrets_means_no_secrets_file_and_no_generation_is_null() -> None:
    bare = json.loads(import_json(env="p", dry_run=False, imported=[], already_managed=[], not_declared=[],
                                  state_serial=3, generated=Generated(), secrets_file="environments/p/SECRETS.md",
                                  plan=None))
    assert bare["generated"] == {"files": [], "variables": [], "secrets_file": None}
    plain = json.loads(import_json(env="p", dry_run=False, imported=["x"], already_managed=[], not_declared=["x"],
                                   state_serial=4, generated=None, secrets_file=None, plan=None))
    assert (plain["generated"], plain["not_declared"], plain["state_serial"]) == (None, ["x"], 4)
