"""Golden tests of the health table printed after an apply (kcplan.views.health_view)."""

from __future__ import annotations

from kcplan.apply.health import Failure, HealthResult
from kcplan.views.health_view import render_health
from kcplan.views.style import Palette

TRACE = ("org.apache.kafka.connect.errors.DataException: Converting byte[] to Kafka Connect data failed\n"
         "\tat org.apache.kafka.connect.json.JsonConverter.toConnectData(JsonConverter.java:333)\n"
         "Caused by: org.apache.kafka.common.errors.SerializationException: Unrecognized token 'hello'\n")

HEALTHY = HealthResult("orders-src", "healthy", "RUNNING", 2, 2, (), "", worker="w1:8083")
FAILED = HealthResult("orders-sink", "failed", "RUNNING", 0, 1, (Failure("0", "w2:8083", TRACE),),
                      "task 0 FAILED", worker="w1:8083")
UNVERIFIED = HealthResult("slow", "unverified", "RUNNING", 0, 1, (),
                          "RUNNING, tasks: 1 UNASSIGNED; 180 s after the write", worker="w1:8083")
DELETED = HealthResult("old", "healthy", "ABSENT", 0, 0, (), "")
NEVER_SEEN = HealthResult("new", "unverified", None, 0, 0, (),
                          "not listed (no status reported yet); 180 s after the write")



def test_table_golden() -> None:
    assert render_health([HEALTHY, FAILED, UNVERIFIED, DELETED, NEVER_SEEN], verbose=False) == (
        "NAME         RESULT      STATE    TASKS    WORKER    ERROR\n"
        "orders-src   healthy     RUNNING  2/2      w1:8083\n"
        "orders-sink  FAILED      RUNNING  0/1      w2:8083   org.apache.kafka.connect.errors.DataException: "
        "Converting byte[] to Kafka Connect data failed\n"
        "slow         unverified  RUNNING  0/1      w1:8083   RUNNING, tasks: 1 UNASSIGNED; 180 s after the write\n"
        "old          healthy     ABSENT   -        -\n"
        "new          unverified  -        -        -         not listed (no status reported yet); 180 s after "
        "the write\n"
        "\n"
        "Verified: 2 healthy, 1 failed, 2 unverified.\n"
        "\n"
        "  orders-sink: task 0 FAILED\n"
        "\n"
        "(--verbose shows the full traces)\n"
    )


def test_verbose_adds_full_traces() -> None:
    out = render_health([HEALTHY, FAILED], verbose=True)
    assert out.endswith(
        "Verified: 1 healthy, 1 failed, 0 unverified.\n"
        "\n"
        "  orders-sink: task 0 FAILED\n"
        "\n"
        "--- orders-sink task 0 on w2:8083 ---\n"
        + TRACE.rstrip() + "\n"
    )


def test_restarted_and_healthy_is_mentioned() -> None:
    healed = HealthResult("flaky", "healthy", "RUNNING", 1, 1, (),
                          "healthy after kcplan restarted task 0 once", restarted=True)
    assert render_health([healed], verbose=False) == (
        "NAME    RESULT    STATE    TASKS    WORKER    ERROR\n"
        "flaky   healthy   RUNNING  1/1      -\n"
        "\n"
        "Verified: 1 healthy, 0 failed, 0 unverified.\n"
        "\n"
        "  flaky: healthy after kcplan restarted task 0 once\n"
    )


def test_long_errors_are_cut_and_nothing_to_verify() -> None:
    long = HealthResult("x", "failed", "FAILED", 0, 0, (Failure("connector", "w1:8083", "E" * 300),),
                        "connector FAILED")
    row = render_health([long], verbose=False).splitlines()[1]
    assert row.endswith("E" * 117 + "...")
    assert render_health([], verbose=False) == "Nothing to verify.\n"


def test_colours_only_when_enabled() -> None:
    out = render_health([HEALTHY, FAILED], verbose=False, palette=Palette(enabled=True))
    assert "\033[32mhealthy\033[0m" in out
    assert "\033[31mFAILED\033[0m" in out
    assert "\033[32mRUNNING\033[0m" in out
