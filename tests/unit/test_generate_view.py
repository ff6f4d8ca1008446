"""The report of `import --generate` (kcplan.views.generate_view.render_generated)."""

from __future__ import annotations

from kcplan.generate.build import Generated, SecretRef
from kcplan.views.generate_view import render_generated

SECRETS_FILE = "environments/dev/SECRETS.md"


def with_secret_and_awkward_name() -> Generated:
    return Generated(
        files={
            "environments/dev/file-stream-sink.libsonnet": "{}\n",
            "environments/dev/connectors/my-sink-51e71782.jsonnet": "{}\n",
            "environments/dev/connectors/orders.jsonnet": "{}\n",
        },
        file_of={
            "orders": "environments/dev/connectors/orders.jsonnet",
            "my sink": "environments/dev/connectors/my-sink-51e71782.jsonnet",
        },
        libraries=["environments/dev/file-stream-sink.libsonnet"],
        secrets=[
            SecretRef("KCPLAN_SECRET_ORDERS__DB_PASSWORD", "orders", "db.password"),
            SecretRef("KCPLAN_SECRET_MY_SINK__TOKEN", "my sink", "token"),
        ],
        secret_values={"KCPLAN_SECRET_ORDERS__DB_PASSWORD": "hunter2", "KCPLAN_SECRET_MY_SINK__TOKEN": "t0k"},
    )


def without_secrets() -> Generated:
    return Generated(files={"c/a.jsonnet": "{}\n"}, file_of={"a": "c/a.jsonnet"})


def test_dry_run_with_secrets_library_and_an_awkward_name() -> None:
    assert render_generated(with_secret_and_awkward_name(), env="dev", secrets_file=SECRETS_FILE, dry_run=True) == (
        "Would write 3 files for environment 'dev':\n"
        "  environments/dev/file-stream-sink.libsonnet           (keys shared by the connectors of one class)\n"
        "  environments/dev/connectors/my-sink-51e71782.jsonnet  my sink  "
        "(the name cannot be the file name as it is)\n"
        "  environments/dev/connectors/orders.jsonnet            orders\n"
        "\n"
        "Secret values are not written: the files read them with std.extVar. Set these environment variables "
        "before plan and apply (would be listed in environments/dev/SECRETS.md):\n"
        "  KCPLAN_SECRET_ORDERS__DB_PASSWORD  orders: db.password\n"
        "  KCPLAN_SECRET_MY_SINK__TOKEN       my sink: token\n"
        "\n"
        "Nothing was written or imported (--dry-run).\n"
    )


def test_real_run_with_secrets() -> None:
    assert render_generated(with_secret_and_awkward_name(), env="dev", secrets_file=SECRETS_FILE, dry_run=False) == (
        "Wrote 3 files for environment 'dev':\n"
        "  environments/dev/file-stream-sink.libsonnet           (keys shared by the connectors of one class)\n"
        "  environments/dev/connectors/my-sink-51e71782.jsonnet  my sink  "
        "(the name cannot be the file name as it is)\n"
        "  environments/dev/connectors/orders.jsonnet            orders\n"
        "\n"
        "Secret values are not written: the files read them with std.extVar. Set these environment variables "
        "before plan and apply (listed in environments/dev/SECRETS.md):\n"
        "  KCPLAN_SECRET_ORDERS__DB_PASSWORD  orders: db.password\n"
        "  KCPLAN_SECRET_MY_SINK__TOKEN       my sink: token\n"
    )


def test_secret_values_are_never_shown() -> None:
    for dry_run in (True, False):
        text = render_generated(with_secret_and_awkward_name(), env="dev", secrets_file=SECRETS_FILE,
                                dry_run=dry_run)
        assert "hunter2" not in text
        assert "t0k" not in text


def test_real_run_without_secrets_has_one_file() -> None:
    assert render_generated(without_secrets(), env="prod", secrets_file="x", dry_run=False) == (
        "Wrote 1 file for environment 'prod':\n"
        "  c/a.jsonnet  a\n"
    )


def test_dry_run_without_secrets() -> None:
    assert render_generated(without_secrets(), env="prod", secrets_file="x", dry_run=True) == (
        "Would write 1 file for environment 'prod':\n"
        "  c/a.jsonnet  a\n"
        "\n"
        "Nothing was written or imported (--dry-run).\n"
    )


def test_nothing_generated() -> None:
    assert render_generated(Generated(), env="dev", secrets_file="x", dry_run=False) == (
        "Wrote 0 files for environment 'dev':\n")


def test_connectors_are_listed_by_name_and_dotted_names_are_their_own_file() -> None:
    generated = Generated(
        files={"c/z.jsonnet": "", "c/a.b.jsonnet": "", "c/Orders-b7e8acdd.jsonnet": ""},
        file_of={"z": "c/z.jsonnet", "a.b": "c/a.b.jsonnet", "Orders": "c/Orders-b7e8acdd.jsonnet"},
    )
    assert render_generated(generated, env="dev", secrets_file="x", dry_run=False) == (
        "Wrote 3 files for environment 'dev':\n"
        "  c/Orders-b7e8acdd.jsonnet  Orders  (the name cannot be the file name as it is)\n"
        "  c/a.b.jsonnet              a.b\n"
        "  c/z.jsonnet                z\n"
    )
