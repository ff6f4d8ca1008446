"""Re-measure the premises of kcplan/apply/health.py (docs/health.md) on real Apache Kafka Connect.

Per cluster (standalone and 2-worker distributed on Kafka 4.3.1, 2-worker distributed on 3.9.2; kcplan.sandbox in
a temp dir) `GET /connectors?expand=status` is polled every 100 ms, and every worker's herder probed with
`GET /connectors/NAME/config` every 0.5 s, for the whole run, while these changes are made, each on its own
FileStreamSink connectors (a sink whose `file` is in a directory that does not exist FAILS when its task starts):
  lone update     a RUNNING sink goes from tasks.max 1 to 2 (old and new pictures differ: 1 task, 2 tasks); --reps times
  failing update  a RUNNING sink gets a `file` in a missing directory: old RUNNING, new FAILED
  fix             that FAILED sink gets its good file back: old FAILED, new RUNNING
  20 updates      20 RUNNING sinks go to tasks.max 2, 8 PUTs at a time
  20 fixes        20 FAILED sinks get a good file, 8 PUTs at a time
One more poll is sent the moment a lone PUT returns. Per change: whether and how long after its PUT returned a
poll still showed the OLD picture (the last one before the write), when the final picture first showed, what it
passed through (does a FAILED task become UNASSIGNED?). Per kind: the longest cluster-wide quiet stretch (100 ms
polls) that still ended in a change, and a replay of kcplan's own Judge/Quiet/probe rule at 1 s polls with settle
2, 5 and 10 s: verdicts taken on a poll older than the connector's first turnover (stale), wrong verdicts, and
when the verdicts came. Writes bench/health/results.md (rewritten after each cluster).

    python bench/health/premises.py [--clusters standalone-4.3.1,distributed-4.3.1,distributed-3.9.2] [--reps 3]

About 15 min on 2 cores: run it in the background, `nohup python bench/health/premises.py > /tmp/premises.log 2>&1 &`.
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import machine_lines  # noqa: E402
from kcplan import sandbox  # noqa: E402
from kcplan.apply.health import PROBE_SLOW, Expectation, Judge, Quiet, assess, between_generations, signature  # noqa: E402
from kcplan.connect.models import ConnectorStatus  # noqa: E402

SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
BAD_DIR = "/nonexistent-kcplan-premises"
BATCH, PARALLEL, TAIL, SETTLES = 20, 8, 13.0, (2.0, 5.0, 10.0)
T0 = time.monotonic()
Obs = tuple[float, float, dict[str, ConnectorStatus]]  # poll sent, answered (s since T0), statuses
Probe = tuple[float, float, bool]  # sent, seconds, every worker answered 200


def now() -> float:
    return time.monotonic() - T0


def log(message: str) -> None:
    print(f"[{now():7.1f}s] {message}", flush=True)


@dataclass
class Change:
    kind: str
    name: str
    expected: str  # RUNNING or FAILED
    start: float  # the accepted PUT was sent
    end: float  # ... and returned
    retries: int  # PUTs answered 409 / "rebalance" before


@dataclass
class Cluster:
    urls: list[str]
    work: Path
    obs: list[Obs] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def sink(self, name: str, good: bool = True, tasks: int = 1) -> dict[str, str]:
        return {"connector.class": SINK, "file": f"{self.work if good else BAD_DIR}/{name}.out",
                "topics": f"{name}-in", "tasks.max": str(tasks)}

    def poll(self) -> None:
        t0 = now()
        try:
            reply = requests.get(f"{self.urls[0]}/connectors?expand=status", timeout=30)
            body = reply.json() if reply.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return
        statuses = {n: ConnectorStatus.from_json(n, e["status"]) if isinstance(e, dict) and isinstance(
            e.get("status"), dict) else ConnectorStatus(name=n, state=None) for n, e in (body or {}).items()}
        if isinstance(body, dict):
            with self.lock:
                self.obs.append((t0, now(), statuses))

    def probe(self) -> None:
        t0, ok = now(), True
        for url in self.urls:
            try:
                ok = requests.get(f"{url}/connectors/c-00/config", timeout=30).status_code == 200 and ok
            except requests.RequestException:
                ok = False
        self.probes.append((t0, now() - t0, ok))

    def every(self, seconds: float, action: str) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            getattr(self, action)()
            self.stop.wait(max(0.0, seconds - (time.monotonic() - began)))

    def put(self, name: str, config: dict[str, str]) -> tuple[float, float, int]:
        retries = 0
        while True:
            t0 = now()
            reply = requests.put(f"{self.urls[0]}/connectors/{name}/config", json=config, timeout=120)
            if reply.status_code < 300:
                return t0, now(), retries
            if reply.status_code != 409 and "rebalanc" not in reply.text.lower():
                raise SystemExit(f"PUT {name} -> {reply.status_code} {reply.text[:300]}")
            retries += 1
            time.sleep(1)

    def sorted_obs(self) -> list[Obs]:
        with self.lock:
            return sorted(self.obs, key=lambda o: o[0])


def changes(cl: Cluster, kind: str, items: list[tuple[str, dict[str, str], str]], parallel: int) -> list[Change]:
    """PUT every item (`parallel` at a time), then wait until each shows its outcome and the cluster is quiet."""
    def one(item: tuple[str, dict[str, str], str]) -> Change:
        t0, t1, retries = cl.put(item[0], item[1])
        if parallel == 1:
            cl.poll()
        return Change(kind, item[0], item[2], t0, t1, retries)
    with ThreadPoolExecutor(parallel) as pool:
        done = list(pool.map(one, items))
    began = changed = now()
    while now() - began < 240:
        time.sleep(0.5)
        recent = cl.sorted_obs()[-60:]
        pictures = [{n: signature(s) for n, s in o[2].items()} for o in recent]
        changed = max([changed] + [recent[i][1] for i in range(1, len(recent)) if pictures[i] != pictures[i - 1]])
        outcomes = [assess("RUNNING", recent[-1][2].get(c.name)) for c in done]
        if now() - changed >= TAIL and outcomes == [{"RUNNING": "reached"}.get(c.expected, "failed") for c in done]:
            break
    else:
        log(f"{kind}: not settled after 240 s")
    log(f"{kind}: {len(done)} change(s) settled")
    return done


def label(seen: ConnectorStatus | None, workers: bool = False) -> str:
    def one(state: str | None, worker: str) -> str:
        return f"{state}@{worker.rsplit(':', 1)[-1]}" if workers and worker else str(state)
    if seen is None:
        return "not listed"
    return f"{one(seen.state, seen.worker_id)}/{','.join(one(t.state, t.worker_id) for t in seen.tasks) or '-'}"


@dataclass
class Seen:
    old_after: float | None  # latest poll sent after the PUT returned that still showed the old picture
    stale_after_turnover: bool  # after turnover and the PUT: a decidable picture (healthy, FAILED) not the final
    new_at: float | None  # first answer showing the final picture, relative to the PUT's return
    first_is_final: bool  # the first poll sent after the PUT returned already showed the final picture
    via: list[str]  # the pictures between the old and the final one
    failed_unassigned: bool  # a task FAILED before the write was UNASSIGNED later
    final: str
    timeline: str


def analyse(c: Change, obs: list[Obs]) -> Seen:
    mine = [(t0, t1, st.get(c.name)) for t0, t1, st in obs]
    before = [o[2] for o in mine if o[1] <= c.start]
    old = signature(before[-1]) if before else None
    runs: list[list] = []  # signature, first sent, first answered, last sent, status
    for t0, t1, s in (o for o in mine if o[0] >= c.start):
        if runs and runs[-1][0] == signature(s):
            runs[-1][3] = t0
        else:
            runs.append([signature(s), t0, t1, t0, s])
    if not runs or not before or runs[-1][0] == old:
        return Seen(None, False, None, False, [], False, "never polled or unchanged", "")
    middle = runs[1:-1] if runs[0][0] == old else runs[:-1]
    turn = next(i for i, r in enumerate(runs) if r[0] != old or between_generations(r[4]))
    final = label(runs[-1][4])
    failed = {t.id for t in before[-1].tasks if t.state == "FAILED"} if before[-1] else set()
    first_after = next((o for o in mine if o[0] >= c.end), None)
    last_old = max([r[3] for r in runs if r[0] == old] or [-1.0])
    return Seen(last_old - c.end if last_old >= c.end else None,
                any(assess("RUNNING", r[4]) != "pending" and label(r[4]) != final and r[3] >= c.end
                    for r in runs[turn:-1]),
                runs[-1][2] - c.end, first_after is not None and signature(first_after[2]) == runs[-1][0],
                list(dict.fromkeys(label(r[4]) for r in middle)),
                any(r[4] and t.id in failed and t.state == "UNASSIGNED" for r in middle for t in r[4].tasks),
                final, f"{label(before[-1], True)} before; " + ", ".join(
                    f"{label(r[4], True)} {r[1] - c.end:+.2f}..{r[3] - c.end:+.2f}" for r in runs))


def busy(probes: list[Probe], t: float) -> bool:
    i = min(bisect.bisect_left([p[0] for p in probes], t), len(probes) - 1)
    return bool(probes) and (probes[i][1] > PROBE_SLOW or not probes[i][2])


def replay(batch: list[Change], seen: dict[str, Seen], obs: list[Obs], probes: list[Probe],
           settle: float, end: float) -> tuple[dict[str, int], list[float], list[str]]:
    """kcplan's verify() loop at 1 s polls on the recorded polls: counts, verdict times, the stale verdicts."""
    judges = {c.name: Judge(Expectation(c.name, "RUNNING", "update", c.end), settle=settle) for c in batch}
    quiet, done, nxt = Quiet(), {}, min(c.start for c in batch)
    for t0, t1, st in (o for o in obs if o[0] < end):
        if t0 < nxt:
            continue
        nxt, since, decided = t0 + 1.0, quiet.observe(t0, st), []
        for name, judge in judges.items():
            if name not in done:
                judge.observe(t0, st.get(name))
                verdict = judge.decide(t1, since, quiet.settle(settle))
                decided += [(judge, verdict.verdict)] if verdict is not None else []
        if any(not j.evidence for j, _ in decided) and busy(probes, t1):
            quiet.touch(t1)
            decided = [(j, v) for j, v in decided if j.evidence]
        done.update({j.name: (v, t0, st.get(j.name)) for j, v in decided})
    counts = dict.fromkeys(("healthy", "failed", "stale", "wrong"), 0)
    counts["unverified"], stale = len(batch) - len(done), []
    for c in (c for c in batch if c.name in done):
        verdict, t0, picture = done[c.name]
        counts[verdict] += 1
        counts["wrong"] += verdict != {"RUNNING": "healthy"}.get(c.expected, "failed")
        if label(picture) != seen[c.name].final:
            counts["stale"] += 1
            stale.append(f"{c.name} judged {verdict} at {t0 - c.end:+.2f} s on {label(picture, True)}")
    return counts, [done[c.name][1] - c.end for c in batch if c.name in done], stale


def rng(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "-"
    return f"{min(values):.2f}-{max(values):.2f} (median {statistics.median(values):.2f})"


def run_cluster(name: str, reps: int) -> list[str]:
    mode, version = name.split("-", 1)
    with tempfile.TemporaryDirectory(prefix="kcplan-premises-") as tmp:
        log(f"{name}: starting the sandbox")
        info = sandbox.start_sandbox(Path(tmp), mode=mode, workers=2 if mode == "distributed" else None,
                                     stop_with_parent=True, timeout=300, kafka_version=version)
        cl = Cluster(list(info.urls), Path(tmp))
        try:
            for action, seconds in (("poll", 0.1), ("probe", 0.5)):
                threading.Thread(target=cl.every, args=(seconds, action), daemon=True).start()
            u, g = [f"u-{i}" for i in range(reps)], [f"g-{i}" for i in range(reps)]
            c, x = [f"c-{i:02d}" for i in range(BATCH)], [f"x-{i:02d}" for i in range(BATCH)]
            changes(cl, "setup", [(n, cl.sink(n), "RUNNING") for n in u + g + c]
                    + [(n, cl.sink(n, good=False), "FAILED") for n in x], PARALLEL)
            kinds: list[tuple[str, list[Change], float]] = []
            for kind, batches, parallel in (
                    ("lone update", [[(n, cl.sink(n, tasks=2), "RUNNING")] for n in u], 1),
                    ("failing update", [[(n, cl.sink(n, good=False), "FAILED")] for n in g], 1),
                    ("fix", [[(n, cl.sink(n), "RUNNING")] for n in g], 1),
                    (f"{BATCH} updates, {PARALLEL} at a time", [[(n, cl.sink(n, tasks=2), "RUNNING") for n in c]],
                     PARALLEL),
                    (f"{BATCH} fixes, {PARALLEL} at a time", [[(n, cl.sink(n), "RUNNING") for n in x]], PARALLEL)):
                kinds += [(kind, changes(cl, kind, batch, parallel), now()) for batch in batches]
        finally:
            cl.stop.set()
            sandbox.stop_sandbox(Path(tmp))
        return report(name, kinds, cl.sorted_obs(), sorted(cl.probes))


def report(name: str, kinds: list[tuple[str, list[Change], float]], obs: list[Obs], probes: list[Probe]) -> list[str]:
    rows = [f"## {name}", "", "Seconds after each connector's own PUT returned. \"old seen after\": changes whose "
            "old picture was still shown by a poll sent after the PUT returned, and the latest such poll. \"stale "
            "after turnover\": after the first turnover (a picture other than the old one, or between generations) "
            "a poll sent after the PUT returned still showed a picture kcplan could decide on (healthy or FAILED) "
            "that is not the final one. "
            "\"1st poll final\": the first poll sent after the PUT returned already showed the final picture.", "",
            "| change | n | PUT s | old seen after | stale after turnover | final picture at | 1st poll final "
            "| passed through | FAILED task -> UNASSIGNED | final | longest quiet ending in a change |",
            "|---|---:|---|---|---:|---|---:|---|---:|---|---:|"]
    replays = ["", "Replay of kcplan's rule (Judge, Quiet, herder probe; 1 s polls, hold 2 s) on these polls, per "
               "settle: stale = decided on a picture other than the final one (task states and count); wrong = "
               "healthy for a FAILED outcome or the reverse; verdict at = s after the PUT returned.", "",
               "| change | settle s | healthy / failed / unverified | stale | wrong | verdict at |",
               "|---|---:|---|---:|---:|---|"]
    details = ["", "Timelines (state@worker port, s after the PUT returned) of the lone changes and of every "
               "connector with a stale verdict:", ""]
    for kind in dict.fromkeys(k for k, _, _ in kinds):
        group = [(b, end) for k, b, end in kinds if k == kind]
        batch = [ch for b, _ in group for ch in b]
        seen = {ch.name: analyse(ch, [o for o in obs if ch.start - 5 <= o[0] < end]) for b, end in group for ch in b}
        s, longest = list(seen.values()), 0.0
        olds = [v.old_after for v in s if v.old_after is not None]
        for b, end in group:
            quiet = Quiet()
            for o in (o for o in obs if min(ch.start for ch in b) <= o[0] < end):
                quiet.observe(o[0], o[2])
            longest = max(longest, quiet.longest)
        retries = sum(ch.retries for ch in batch)
        rows.append(
            f"| {kind} | {len(batch)} | {rng([ch.end - ch.start for ch in batch])}"
            f"{f' ({retries} rebalance retries)' if retries else ''} | {len(olds)}, {rng(olds)} "
            f"| {sum(v.stale_after_turnover for v in s)} | {rng([v.new_at for v in s if v.new_at is not None])} "
            f"| {sum(v.first_is_final for v in s)} | {', '.join(sorted({p for v in s for p in v.via})) or '-'} "
            f"| {sum(v.failed_unassigned for v in s)} | {', '.join(sorted({v.final for v in s}))} | {longest:.1f} |")
        stale: dict[str, str] = {}
        for settle in SETTLES:
            tally, times = dict.fromkeys(("healthy", "failed", "unverified", "stale", "wrong"), 0), []
            for b, end in group:
                counts, ts, found = replay(b, seen, obs, probes, settle, end)
                tally, times = {k: tally[k] + counts[k] for k in tally}, times + ts
                stale.update({w.split()[0]: f"{w} (settle {settle:g})" for w in found})
            replays.append(f"| {kind} | {settle:g} | {tally['healthy']} / {tally['failed']} / {tally['unverified']} "
                           f"| {tally['stale']} | {tally['wrong']} | {rng(times)} |")
        details += [f"- {kind} {ch.name}: PUT {ch.end - ch.start:.2f} s; {seen[ch.name].timeline}"
                    + (f"; {stale[ch.name]}" if ch.name in stale else "")
                    for ch in batch if len(group[0][0]) == 1 or ch.name in stale]
    return rows + replays + details + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", default="standalone-4.3.1,distributed-4.3.1,distributed-3.9.2")
    parser.add_argument("--reps", type=int, default=3)
    opts = parser.parse_args()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections: list[str] = []
    for name in opts.clusters.split(","):
        began = now()
        sections += run_cluster(name, opts.reps)
        log(f"{name}: done in {now() - began:.0f} s")
        head = ["# Health verification premises, re-measured on Apache Kafka (bench/health/premises.py)", "",
                f"Run: {started}, `python bench/health/premises.py {' '.join(sys.argv[1:])}`. What it measures: "
                "the script's docstring; what follows from it: docs/health.md.", "", "## Machine", "",
                *machine_lines("Apache Kafka broker (KRaft) and Connect workers from kcplan.sandbox, all on this "
                               "machine", "another benchmark and a CI run shared these 2 cores during the run: read "
                               "ratios and ranges, not absolute times"), ""]
        (ROOT / "bench/health/results.md").write_text("\n".join(head + sections))
    log("wrote bench/health/results.md")


if __name__ == "__main__":
    main()
