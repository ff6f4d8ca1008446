"""Golden tests of the pull-request Markdown (``kcplan plan --format markdown``): exact strings."""

from __future__ import annotations

from kcplan.config.models import OffsetsOp
from kcplan.plan.model import Action, Change, Drift, KeyChange, Plan
from kcplan.views.plan_markdown import EnvPlan, cell, code, fenced, render_markdown, text
from tests.unit.test_plan_view import golden_plan

M = "(sensitive value)"
PROD = Plan(
    env="prod", kafka_cluster_id="kc-1", connect_urls=("http://connect:8083",), state_lineage="lin-1",
    state_serial=7, digest_salt="salt",
    changes=(
        Change(name="orders-sink", action=Action.CREATE, state_to="PAUSED",
               keys=(KeyChange(key="topics", new="orders"),
                     KeyChange(key="connection.password", new=M, new_hidden=True))),
        Change(name="pay|ments`src", action=Action.UPDATE, state_from="RUNNING", state_to="PAUSED",
               keys=(KeyChange(key="tasks.max", old="1", new="2"),
                     KeyChange(key="db.password", old=M, new=M, old_hidden=True, new_hidden=True))),
        Change(name="legacy", action=Action.DELETE),
        Change(name="swap", action=Action.REPLACE, keys=(KeyChange(key="connector.class", old="A", new="B"),)),
        Change(name="same", action=Action.NOOP),
        Change(name="rewind", action=Action.OFFSETS, offsets=OffsetsOp(token="r1", kind="reset")),
    ),
    drift=(Drift(name="hand-edited", keys=(KeyChange(key="tasks.max", old="1", new="3"),),
                 applied_state="RUNNING", live_state="PAUSED"),
           Drift(name="gone", deleted=True)),
    unmanaged=("manual-1",),
    conflicts=(Change(name="clash", action=Action.UPDATE, source="environments/prod/connectors/clash.jsonnet",
                      keys=(KeyChange(key="topic", old="theirs", new="ours"),)),),
    warnings=("schema for *class* <missing>",),
)
DEV = Plan(env="dev", digest_salt="s", refreshed=False, state_lineage="lin-d", state_serial=2)
NEW = Plan(env="new", kafka_cluster_id="kc-2", connect_urls=("http://a:8083", "http://b:8083"), digest_salt="s")

PROD_SECTION = """\
### `prod`: 1 to add, 2 to change, 1 to replace, 1 to destroy; 1 conflict; 2 changed outside kcplan

Kafka cluster `kc-1` at `http://connect:8083`; state serial 7 (lineage `lin-1`).

> [!WARNING]
> 2 connectors changed outside kcplan (the cluster differs from what kcplan last applied); the changes \
below put the code's version back.

<details><summary>~ <code>hand-edited</code> has changed outside kcplan</summary>

```diff
- tasks.max: "1"
+ tasks.max: "3"
- run state: RUNNING
+ run state: PAUSED
```

</details>

<p>- <code>gone</code> has been deleted outside kcplan</p>

> [!NOTE]
> Declared in the code and present on the cluster, but not managed by kcplan: left untouched. Take them \
over with `--adopt`, or record them as they are with `kcplan import NAME`.

<details><summary>! <code>clash</code> (declared in <code>environments/prod/connectors/clash.jsonnet</code>): \
<code>--adopt</code> would update it</summary>

```diff
- topic: "theirs"
+ topic: "ours"
```

</details>

<details><summary>+ create <code>orders-sink</code> (initial state PAUSED)</summary>

```diff
+ topics: "orders"
+ connection.password: (sensitive value)
```

</details>

<details><summary>~ update <code>pay|ments`src</code></summary>

```diff
- tasks.max: "1"
+ tasks.max: "2"
- db.password: (sensitive value)
+ db.password: (sensitive value)
- run state: RUNNING
+ run state: PAUSED
```

</details>

<p>- delete <code>legacy</code> (no longer declared in the code)</p>

<details><summary>-/+ replace <code>swap</code> (connector.class changed: delete, then create)</summary>

```diff
- connector.class: "A"
+ connector.class: "B"  (forces replacement)
```

</details>

<details><summary>~ offsets <code>rewind</code></summary>

```diff
~ offsets: reset (delete every offset: start over), token 'r1'
    apply: stop, delete the offsets, then RUNNING
```

</details>

<details><summary>1 connector on the cluster not managed by kcplan (left untouched)</summary>

- <code>manual-1</code>

</details>

> **Warning:** schema for \\*class\\* \\<missing\\>

"""


def test_one_environment_with_a_saved_plan() -> None:
    assert render_markdown([EnvPlan("prod", PROD)], saved="plan.out") == (
        "## kcplan plan\n\n" + PROD_SECTION
        + "To apply exactly this plan: `kcplan apply plan.out`.\n"
        "A saved plan is refused when the state, the cluster or the code changed after it was made: plan again then.\n")


def test_several_environments_with_one_that_failed() -> None:
    results = [EnvPlan("prod", PROD), EnvPlan("dev", DEV),
               EnvPlan("st|age", error="no Connect worker answered (http://stage:8083): connection refused")]
    assert render_markdown(results) == (
        "## kcplan plan\n\n"
        "| environment | plan |\n"
        "|---|---|\n"
        "| `prod` | 1 to add, 2 to change, 1 to replace, 1 to destroy; 1 conflict; 2 changed outside kcplan |\n"
        "| `dev` | no changes |\n"
        "| `st\\|age` | **error** (below) |\n\n"
        + PROD_SECTION
        + "### `dev`: no changes\n\n"
        "Planned against the state alone (`--refresh=false`): the cluster was not contacted; state serial 2 "
        "(lineage `lin-d`).\n\n"
        "No changes. The state matches the configuration.\n\n"
        "### `st|age`: not planned\n\n"
        "```text\n"
        "no Connect worker answered (http://stage:8083): connection refused\n"
        "```\n\n"
        "Not planned: `st|age`. Fix the errors above and plan again.\n"
        "To apply: `kcplan plan -e prod --out plan.out`, then `kcplan apply plan.out`.\n"
        "A saved plan is refused when the state, the cluster or the code changed after it was made: plan again then.\n")


def test_nothing_to_apply_and_several_to_apply() -> None:
    assert render_markdown([EnvPlan("new", NEW)]) == (
        "## kcplan plan\n\n"
        "### `new`: no changes\n\n"
        "Kafka cluster `kc-2` at `http://a:8083`, `http://b:8083`; no state yet (kcplan has applied nothing here).\n\n"
        "No changes. The cluster matches the configuration.\n\n"
        "Nothing to apply.\n")
    other = PROD.model_copy(update={"env": "qa"})
    tail = render_markdown([EnvPlan("prod", PROD), EnvPlan("qa", other)]).splitlines()[-2:]
    assert tail == ["To apply, in each of `prod`, `qa`: `kcplan plan -e ENV --out plan.out`, then "
                    "`kcplan apply plan.out`.",
                    "A saved plan is refused when the state, the cluster or the code changed after it was made: "
                    "plan again then."]


def test_escaping_for_code_spans_cells_text_and_fences() -> None:
    assert code("plain") == "`plain`"
    assert code("a`b") == "`` a`b ``"
    assert code("``x") == "``` ``x ```"
    assert cell(code("a|b")) == "`a\\|b`"
    assert text("a *b* _c_ <d> [e](f) | `g` #h\nnext") == "a \\*b\\* \\_c\\_ \\<d\\> \\[e\\](f) \\| \\`g\\` \\#h next"
    assert fenced(['+ k: "```"']) == ["````diff", '+ k: "```"', "````"]


def test_a_planned_plan_shows_no_secret_value() -> None:
    """The planner's golden plan (plain passwords in the code and the state) rendered: masked, never shown."""
    out = render_markdown([EnvPlan("dev", golden_plan())])
    assert "db.password: (sensitive value)" in out
    for secret in ("s3cret", "new-pw", "old-pw"):
        assert secret not in out
