"""Rendering an environment: discovery, imports, ext vars / TLAs, Jsonnet errors (kcplan.config.render)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcplan.config import jsonnet
from kcplan.config.layout import discover, settings_sensitive_keys
from kcplan.config.render import load_desired, render_environment
from kcplan.errors import ConfigError, RenderError
from tests.helpers import SINK, write_settings


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def env(root: Path, files: dict[str, str], name: str = "dev") -> Path:
    """A project with environments/<name>/kcplan.jsonnet and the given files (relative to the env)."""
    write_settings(root, '{connect_url: "http://127.0.0.1:8083"}', name)
    return write(root, {f"environments/{name}/{k}": v for k, v in files.items()})


def sink(name: str, **extra: str) -> str:
    fields = "".join(f", {k}: {v}" for k, v in extra.items())
    return f"{{name: '{name}', 'connector.class': '{SINK}'{fields}}}"


def configs(root: Path, env_name: str = "dev", **kwargs: object) -> dict[str, dict[str, str]]:
    desired = load_desired(root, env_name, **kwargs)  # type: ignore[arg-type]
    return {name: dict(spec.config) for name, spec in desired.connectors.items()}


# --- discovery ---------------------------------------------------------------------------------

def test_discovery_finds_jsonnet_recursively_and_skips_libsonnet(tmp_path: Path) -> None:
    env(tmp_path, {
        "connectors/b.jsonnet": sink("b"),
        "connectors/team/a.jsonnet": sink("a"),
        "connectors/team/helpers.libsonnet": "{}",
        "connectors/notes.txt": "not a connector",
        "other/c.jsonnet": sink("c"),
    })
    assert discover(tmp_path, "dev") == [
        "environments/dev/connectors/b.jsonnet",
        "environments/dev/connectors/team/a.jsonnet",
    ]
    desired = load_desired(tmp_path, "dev")
    assert sorted(desired.connectors) == ["a", "b"]
    assert desired.connectors["a"].source == "environments/dev/connectors/team/a.jsonnet"


def test_unknown_environment_lists_known_ones(tmp_path: Path) -> None:
    env(tmp_path, {}, name="prod")
    with pytest.raises(ConfigError) as info:
        load_desired(tmp_path, "prdo")
    assert info.value.message == f"environment 'prdo' not found (no folder {tmp_path}/environments/prdo)"
    assert info.value.hint == "Pick one of the environments found: prod (with -e NAME or KCPLAN_ENV)."


def test_environment_without_connectors_warns(tmp_path: Path) -> None:
    env(tmp_path, {})
    desired = load_desired(tmp_path, "dev")
    assert desired.connectors == {}
    assert desired.warnings == [
        "no connector files under environments/dev/connectors/ (this environment wants no connectors)"]


# --- imports -------------------------------------------------------------------------------------

def test_imports_resolve_relative_then_env_then_environments_then_root(tmp_path: Path) -> None:
    write(tmp_path, {
        "environments/dev/defaults.libsonnet": "{ 'from.env.dir': 'env' }",
        "environments/lib/s3.libsonnet": "{ 'from.lib': 'environments' }",
        "environments/dev/connectors/here.libsonnet": "{ 'from.here': 'relative' }",
        "shared/root.libsonnet": "{ 'from.root': 'root' }",
        # the same name next to the importer wins over environments/dev/
        "environments/dev/connectors/defaults.libsonnet": "{ 'from.env.dir': 'relative wins' }",
    })
    env(tmp_path, {"connectors/x.jsonnet": f"""
        (import '../defaults.libsonnet') + (import 'defaults.libsonnet') + (import 'lib/s3.libsonnet')
        + (import 'here.libsonnet') + (import 'shared/root.libsonnet') + {sink('x')}
    """})
    assert configs(tmp_path)["x"] == {
        "connector.class": SINK,
        "from.env.dir": "relative wins",
        "from.here": "relative",
        "from.lib": "environments",
        "from.root": "root",
        "name": "x",
    }


def test_seed_style_defaults_plus_overrides(tmp_path: Path) -> None:
    write(tmp_path, {"environments/lib/s3.libsonnet": """{
        'connector.class': 'io.confluent.connect.s3.S3SinkConnector', 'flush.size': 1000,
        's3.region': 'eu-west-1', 'tasks.max': 2 }"""})
    env(tmp_path, {
        "defaults.libsonnet": "(import 'lib/s3.libsonnet') + { 's3.bucket.name': 'b-' + std.extVar('env') }",
        "connectors/orders.jsonnet": "(import '../defaults.libsonnet') + { name: 'orders', 'flush.size': 5 }",
    })
    assert configs(tmp_path)["orders"] == {
        "connector.class": "io.confluent.connect.s3.S3SinkConnector",
        "flush.size": "5",
        "name": "orders",
        "s3.bucket.name": "b-dev",
        "s3.region": "eu-west-1",
        "tasks.max": "2",
    }


def test_missing_import_names_file_and_search_path(tmp_path: Path) -> None:
    env(tmp_path, {"connectors/x.jsonnet": "(import 'lib/nope.libsonnet') + {}"})
    with pytest.raises(RenderError) as info:
        load_desired(tmp_path, "dev")
    assert info.value.message == (
        "Jsonnet error in environments/dev/connectors/x.jsonnet:\n"
        "  couldn't find import 'lib/nope.libsonnet' (searched environments/dev/connectors/, "
        "environments/dev/, environments/, ./)"
    )


# --- Jsonnet errors ------------------------------------------------------------------------------

def test_error_inside_imported_libsonnet_points_at_that_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"environments/lib/s3.libsonnet": (
        "{\n"
        "  sink(topic):: {\n"
        "    'connector.class': 'io.confluent.connect.s3.S3SinkConnector',\n"
        "    topics: if topic == '' then error 'topic must not be empty' else topic,\n"
        "  },\n"
        "}\n"
    )})
    env(tmp_path, {
        "connectors/good.jsonnet": sink("good"),
        "connectors/orders.jsonnet": "local s3 = import 'lib/s3.libsonnet';\ns3.sink('') + { name: 'orders' }\n",
    })
    with pytest.raises(RenderError) as info:
        load_desired(tmp_path, "dev")
    assert info.value.message == (
        "Jsonnet error in environments/dev/connectors/orders.jsonnet:\n"
        "  environments/lib/s3.libsonnet:4:33-64: topic must not be empty\n"
        "      environments/lib/s3.libsonnet:4:33-64  object <anonymous>\n"
        "      Field \"topics\"\n"
        "      During manifestation"
    )
    assert info.value.hint == "Fix the Jsonnet at the file and line shown, then run again."


def test_every_failing_file_is_named_with_its_own_error(tmp_path: Path) -> None:
    env(tmp_path, {
        "connectors/a.jsonnet": "{ name: 'a', x: }",
        "connectors/b.jsonnet": sink("b"),
        "connectors/c.jsonnet": "{ name: 'c', 'connector.class': std.extVar('KCPLAN_TEST_NOT_SET_C') }",
    })
    with pytest.raises(RenderError) as info:
        load_desired(tmp_path, "dev")
    assert info.value.message == (
        "Jsonnet errors in 2 files:\n"
        "  environments/dev/connectors/a.jsonnet:\n"
        "    environments/dev/connectors/a.jsonnet:1:17-18: Unexpected: \"}\" while parsing terminal\n"
        "        { name: 'a', x: }\n"
        "  environments/dev/connectors/c.jsonnet:\n"
        "    environments/dev/connectors/c.jsonnet:1:33-68: Undefined external variable: KCPLAN_TEST_NOT_SET_C\n"
        "        environments/dev/connectors/c.jsonnet:1:33-68  object <anonymous>\n"
        "        Field \"connector.class\"\n"
        "        During manifestation"
    )
    assert info.value.hint == ("Set the environment variable(s) KCPLAN_TEST_NOT_SET_C or pass "
                               "--ext-str NAME=VALUE (or --ext-str-file NAME=PATH).")


def test_format_error_static_and_runtime() -> None:
    assert jsonnet.format_error("f.jsonnet:2:3-4 Unknown variable: x\n\n  x + 1\n\n") == (
        "f.jsonnet:2:3-4: Unknown variable: x\n    x + 1")
    assert jsonnet.format_error("RUNTIME ERROR: boom\n\tlib.libsonnet:7:8-25\tobject <anonymous>\n"
                                "\tDuring manifestation\t\n") == (
        "lib.libsonnet:7:8-25: boom\n    lib.libsonnet:7:8-25  object <anonymous>\n    During manifestation")
    assert jsonnet.format_error("RUNTIME ERROR: no frames") == "no frames"


# --- ext vars and top-level arguments -------------------------------------------------------------

def test_ext_vars_env_name_environment_variables_and_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCPLAN_TEST_REGION", "eu-west-1")
    env(tmp_path, {"connectors/x.jsonnet": sink(
        "x", env="std.extVar('env')", region="std.extVar('KCPLAN_TEST_REGION')", given="std.extVar('given')")})
    assert configs(tmp_path, ext_vars={"given": "from --ext-str"})["x"] == {
        "connector.class": SINK, "env": "dev", "given": "from --ext-str", "name": "x", "region": "eu-west-1"}
    # a command-line value wins over the environment variable of the same name
    assert configs(tmp_path, ext_vars={"given": "g", "KCPLAN_TEST_REGION": "us-east-1"})["x"]["region"] == "us-east-1"


@pytest.mark.parametrize("tla_name", ["suffix", "not-an-identifier"])
def test_top_level_arguments_call_function_files(tmp_path: Path, tla_name: str) -> None:
    """Files that are functions get the TLAs (combined evaluation, or file by file for odd names)."""
    env(tmp_path, {
        "connectors/fn.jsonnet": f"function({'suffix' if tla_name == 'suffix' else 'x=1'}, region='eu') "
                                 + sink("fn", region="region"),
        "connectors/plain.jsonnet": sink("plain"),
    })
    if tla_name == "suffix":
        result = configs(tmp_path, tla_vars={"suffix": "-1", "region": "us"})
        assert result["fn"]["region"] == "us"
        assert sorted(result) == ["fn", "plain"]
    else:
        with pytest.raises(RenderError) as info:
            load_desired(tmp_path, "dev", tla_vars={tla_name: "v"})
        assert info.value.message.startswith("Jsonnet error in environments/dev/connectors/fn.jsonnet:\n  ")
        assert "not-an-identifier" in info.value.message


def test_function_file_without_tlas_uses_its_defaults(tmp_path: Path) -> None:
    env(tmp_path, {"connectors/fn.jsonnet": "function(topic='t1') " + sink("fn", topics="topic")})
    assert configs(tmp_path)["fn"]["topics"] == "t1"


def test_combined_and_per_file_evaluation_agree(tmp_path: Path) -> None:
    files = {f"connectors/c{i}.jsonnet": "(import '../d.libsonnet') + " + sink(f"c{i}", n=str(i)) for i in range(5)}
    env(tmp_path, {"d.libsonnet": "{ shared: std.thisFile }", **files})
    names = discover(tmp_path, "dev")
    dirs = ["environments/dev", "environments", ""]
    combined = jsonnet.evaluate_files(names, tmp_path, search_dirs=dirs)
    evaluator = jsonnet._Evaluator(jsonnet.Importer(dirs, tmp_path), {}, {})
    per_file = {n: jsonnet.json.loads(str(evaluator.file(n))) for n in names}
    assert combined == per_file
    assert combined["environments/dev/connectors/c3.jsonnet"]["shared"] == "environments/dev/d.libsonnet"


# --- settings read offline -------------------------------------------------------------------------

def test_offline_sensitive_keys_need_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCPLAN_TEST_UNSET_PASSWORD", raising=False)
    write(tmp_path, {"environments/dev/kcplan.jsonnet": """{
        connect_url: 'http://x:8083',
        auth: { basic: { username: 'u', password: std.extVar('KCPLAN_TEST_UNSET_PASSWORD') } },
        sensitive_keys: ['my.plugin.secretish', '*.pin'],
    }"""})
    assert settings_sensitive_keys(tmp_path, "dev") == ["my.plugin.secretish", "*.pin"]


def test_offline_sensitive_keys_must_be_strings(tmp_path: Path) -> None:
    write(tmp_path, {"environments/dev/kcplan.jsonnet": "{connect_url: 'http://x:1', sensitive_keys: 'a'}"})
    with pytest.raises(ConfigError) as info:
        settings_sensitive_keys(tmp_path, "dev")
    assert info.value.message == (f"invalid settings in {tmp_path}/environments/dev/kcplan.jsonnet: "
                                  "sensitive_keys must be a list of strings")


def test_render_environment_reports_classes_even_of_invalid_connectors(tmp_path: Path) -> None:
    env(tmp_path, {"connectors/x.jsonnet": "[" + sink("ok") + ", " + sink("bad", x="null") + "]"})
    rendered = render_environment(tmp_path, "dev")
    assert sorted(rendered.connectors) == ["ok"]
    assert rendered.classes == {SINK}
    assert [str(p) for p in rendered.problems] == [
        "environments/dev/connectors/x.jsonnet: connector 'bad': key 'x': "
        "null value: give a value or leave the key out"]


def test_imports_outside_the_project_are_shown_with_absolute_paths(tmp_path: Path) -> None:
    outside = tmp_path / "outside.libsonnet"
    outside.write_text("{ 'from.outside': std.thisFile }")
    project = tmp_path / "project"
    env(project, {"connectors/x.jsonnet": "(import '../../../../outside.libsonnet') + " + sink("x")})
    assert configs(project)["x"]["from.outside"] == str(outside)
