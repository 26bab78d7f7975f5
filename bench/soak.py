"""Soak and crash-safety run of the webhook receiver (issue #9): ``./dev soak [--quick]``.

Phase 1 ``steady``: 10k deliveries (10 % of them duplicates of another delivery, shuffled) from
16 concurrent senders into Odoo ``--workers=2`` (database with the addon and some contacts).
Expected: every delivery answered 200, no 5xx, one event per delivery, one call per distinct
call id (zero lost, zero duplicated).

Phase 2 ``crash``: the same kind of load while an Odoo worker is SIGKILLed every ~1.5 s and the
PostgreSQL cluster is stopped and started again in the middle. Like a PBX, a sender retries a
delivery that got a connection error or a 5xx (counted as retries). Afterwards the retry cron
(``vpbx.webhook.event._cron_vpbx_retry_events``, its 2-minute delay set to 0) runs once and the
script checks: every delivery answered 200 is an event, every such event is processed, and the
distinct call ids of the 200-answered deliveries are exactly the calls in the database.

Writes ``bench/RELIABILITY.md`` (and ``bench/reliability.json``); exits 1 when a delivery answered
200 is lost, a call is duplicated, a steady-phase answer is not 200, or a delivery never got a
200 despite the retries.
"""
# pylint: disable=print-used,sql-injection

import argparse
import contextlib
import http.client
import json
import os
import random
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

HERE = Path(__file__).resolve().parent
DB = "vpbx_soak"
MAX_ATTEMPTS = 40
PG_SYSTEM_USER = os.environ.get("VPBX_PG_SYSTEM_USER", "postgres")


def say(msg):
    print(f"[soak] {msg}", flush=True)


# --------------------------------------------------------------------------- deliveries


def make_deliveries(n, dup_ratio, seed, numbers):
    """`n` bodies: n / (1 + dup_ratio) distinct calls, the rest duplicates, shuffled."""
    rng = random.Random(seed)
    sim = common.simulator_module().VpbxSimulator(seed=seed)  # not started: generates only
    unique = round(n / (1 + dup_ratio))
    now = int(time.time())
    records = sim.generate_calls(unique, now - 86400, now - 120, seed=seed)
    for record in records:
        # half of the callers are known contacts (linking is part of the work)
        if numbers and record.get("phone_number") and rng.random() < 0.5:
            record["phone_number"] = rng.choice(numbers)
            if record["direction"] == "inbound":
                record["source_number"] = record["phone_number"]
            else:
                record["destination_number"] = record["phone_number"]
    bodies = records + [rng.choice(records) for _ in range(n - unique)]
    rng.shuffle(bodies)
    return [json.dumps(body) for body in bodies]


class Sender:
    """Posts a body until it is answered with something other than a connection error, a 5xx
    or a 404 (as a PBX retries), one keep-alive connection per thread. Records each outcome."""

    def __init__(self, url, timeout=30):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.timeout = timeout
        self.local = threading.local()
        self.lock = threading.Lock()
        self.outcomes = []  # (call id, final status, event id, attempts)
        self.first_statuses = {}
        self.retry_statuses = {}
        self.samples = []

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def _drop(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
        self.local.conn = None

    def _post(self, body):
        conn = self._conn()
        try:
            conn.request(
                "POST", self.path, body=body.encode(), headers={"Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            return 0, None, repr(exc)
        if resp.getheader("Connection", "").lower() == "close":
            self._drop()
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        return resp.status, data, payload[:200]

    def __call__(self, body):
        call_id = json.loads(body)["transaction_id"]
        attempts, status, data = 0, 0, None
        while attempts < MAX_ATTEMPTS:
            attempts += 1
            status, data, detail = self._post(body)
            with self.lock:
                bucket = self.first_statuses if attempts == 1 else self.retry_statuses
                bucket[status] = bucket.get(status, 0) + 1
                if status != 200 and len(self.samples) < 8:
                    self.samples.append(f"{status} {detail!r}")
            # 404: while PostgreSQL is down Odoo cannot list its databases and answers with its
            # "no database" routing, before the addon's controller, which never answers 404
            if status and status < 500 and status != 404:
                break
            time.sleep(min(2.0, 0.1 * 2 ** min(attempts, 5)) * (0.5 + random.random()))
        event_id = data.get("event_id") if status == 200 and isinstance(data, dict) else None
        with self.lock:
            self.outcomes.append((call_id, status, event_id, attempts))
        return status


# --------------------------------------------------------------------------- faults


def pg_cluster():
    """(pg_ctl, data dir, run-as prefix) of the throwaway cluster that ./dev started."""
    args = dict(a.lstrip("-").partition("=")[::2] for a in common.DB_ARGS)
    host = args.get("db_host")
    if not host or not host.startswith("/"):
        return None
    data = Path(host) / "data"
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    pg_ctl = os.environ.get("PG_BINDIR") and Path(os.environ["PG_BINDIR"]) / "pg_ctl"
    pg_ctl = pg_ctl or (bins[0] if bins else "pg_ctl")
    as_user = ["runuser", "-u", PG_SYSTEM_USER, "--"] if os.geteuid() == 0 else []
    return str(pg_ctl), data, as_user


def pg_outage(seconds):
    """Stop the cluster (fast: sessions are killed), wait, start it with the same options."""
    pg_ctl, data, as_user = pg_cluster()
    # postmaster.opts: `<postgres> "-D" "<data>" "-k" ... ` -- the options of the running server
    opts = shlex.split((data / "postmaster.opts").read_text())[1:]
    if "-D" in opts:
        index = opts.index("-D")
        del opts[index : index + 2]
    started = time.perf_counter()
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], check=True)
    time.sleep(seconds)
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-l", str(data.parent / "postgres.log"), "-o",
         shlex.join(opts), "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return round(time.perf_counter() - started, 2)


class Chaos(threading.Thread):
    """Kills an Odoo worker every `every` seconds; one PostgreSQL outage after `pg_at` s."""

    def __init__(self, server, every=1.5, pg_at=None, pg_seconds=3.0):
        super().__init__(daemon=True)
        self.server, self.every, self.pg_at, self.pg_seconds = server, every, pg_at, pg_seconds
        self.stop_event = threading.Event()
        self.kills = []
        self.pg_outages = []
        self.errors = []

    def run(self):
        start = time.perf_counter()
        pg_done = self.pg_at is None
        while not self.stop_event.wait(self.every * (0.6 + 0.8 * random.random())):
            try:
                if not pg_done and time.perf_counter() - start >= self.pg_at:
                    pg_done = True
                    self.pg_outages.append(pg_outage(self.pg_seconds))
                    continue
                self.kills.append(self.server.kill_worker())
            except Exception as exc:  # a worker being respawned, etc.: note it, go on
                self.errors.append(repr(exc))

    def stop(self):
        self.stop_event.set()
        self.join(60)


# --------------------------------------------------------------------------- checks


def cron_retry(db):
    """Run the retry cron once, its 2-minute delay removed, until nothing is left to retry."""
    code = (
        "import odoo.addons.sentech_vpbx.models.vpbx_webhook_event as m\n"
        "m.CRON_DELAY_MINUTES = 0\n"
        "total = 0\n"
        "while True:\n"
        "    done = env['vpbx.webhook.event']._cron_vpbx_retry_events()\n"
        "    env.cr.commit()\n"
        "    total += done\n"
        "    if done < m.CRON_BATCH:\n"
        "        break\n"
        "print('RETRIED', total)\n"
    )
    out = common.shell(db, code, timeout=1800)
    line = next((x for x in out.splitlines() if x.startswith("RETRIED")), "RETRIED 0")
    return int(line.split()[1])


def check(db, sender, sent_ids):
    """Compare what the senders were told with what the database holds."""
    ok = [o for o in sender.outcomes if o[1] == 200]
    acked_ids = {o[0] for o in ok}
    event_ids = sorted({o[2] for o in ok if o[2]})
    found_events = dict(
        common.sql(db, "SELECT id, state FROM vpbx_webhook_event WHERE id = ANY(%s)", [event_ids])
    )
    missing_events = [e for e in event_ids if e not in found_events]
    states = {}
    for state in found_events.values():
        states[state] = states.get(state, 0) + 1
    ids = sorted(sent_ids)
    rows = common.sql(
        db,
        "SELECT vpbx_call_id, count(*) FROM vpbx_call WHERE vpbx_call_id = ANY(%s)"
        " GROUP BY vpbx_call_id",
        [ids],
    )
    calls = dict(rows)
    dup_all = common.sql(
        db,
        "SELECT count(*) FROM (SELECT 1 FROM vpbx_call GROUP BY pbx_id, vpbx_call_id"
        " HAVING count(*) > 1) d",
    )[0][0]
    lost = sorted(acked_ids - calls.keys())
    never_acked = sorted(set(sent_ids) - acked_ids)
    return {
        "deliveries": len(sender.outcomes),
        "answered_200": len(ok),
        "not_200_final": len(sender.outcomes) - len(ok),
        "distinct_call_ids_sent": len(set(sent_ids)),
        "distinct_call_ids_200": len(acked_ids),
        "events_of_200_answers": len(event_ids),
        "events_missing": len(missing_events),
        "events_by_state": states,
        "calls_in_db_for_200_ids": sum(1 for i in acked_ids if i in calls),
        "lost": len(lost),
        "lost_sample": lost[:5],
        "duplicated_calls": sum(1 for c in calls.values() if c > 1),
        "duplicated_calls_whole_db": dup_all,
        "never_200": len(never_acked),
        "retried_deliveries": sum(1 for o in sender.outcomes if o[3] > 1),
        "retries": sum(o[3] - 1 for o in sender.outcomes),
        "first_statuses": {str(k): v for k, v in sorted(sender.first_statuses.items())},
        "retry_statuses": {str(k): v for k, v in sorted(sender.retry_statuses.items())},
        "samples": sender.samples,
    }


def run_phase(server, url, bodies, concurrency, chaos=None):
    sender = Sender(url)
    if chaos:
        chaos.start()
    try:
        stats = common.load(sender, bodies, concurrency=concurrency)
    finally:
        if chaos:
            chaos.stop()
    return sender, stats


def count_5xx(statuses):
    return sum(v for k, v in statuses.items() if int(k) >= 500)


# --------------------------------------------------------------------------- report


def write_report(result, path):
    m = result["machine"]
    steady, crash = result["steady"], result.get("crash")
    s_load, s_check = steady["load"], steady["check"]
    verdict = "; ".join(result["failures"]) or (
        "nothing lost, nothing duplicated, no 5xx in the steady phase"
    )
    command = "./dev soak --quick" if result["quick"] else "./dev soak"
    lines = [
        "# Reliability: soak and crash safety",
        "",
        f"Produced by `{command}` (`bench/soak.py`) on {m['date']}."
        f" Outcome: **{'PASS' if result['ok'] else 'FAIL'}** ({verdict}).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; PostgreSQL"
        f" {m['postgresql']}, Python {m['python']}, Odoo {m['odoo']}; load average at start"
        f" {m['load_avg']} (the machine is shared with other jobs).",
        "",
        f"Set-up: database `{DB}` with the addon and {result['contacts']} contacts (phone keys"
        " filled); Odoo `--workers=2`, no cron thread; each delivery is one call record of the"
        " simulator's generator (half of them from a known contact's number), posted as JSON to"
        f" `/vpbx/webhook/<token>` by {result['concurrency']} concurrent senders with keep-alive"
        " connections. A sender retries a connection error, a 5xx or a 404 (up to"
        f" {MAX_ATTEMPTS} attempts, backoff 0.1-2 s), as the PBX does.",
        "",
        "## 1. Steady load",
        "",
        "| deliveries | distinct calls | duplicates sent | seconds | deliveries/s | p50 ms |"
        " p95 ms | p99 ms | statuses (1st attempt) | 5xx | events | calls | lost |"
        " duplicated |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {s_check['deliveries']} | {s_check['distinct_call_ids_sent']} |"
        f" {s_check['deliveries'] - s_check['distinct_call_ids_sent']} | {s_load['seconds']} |"
        f" {s_load['rps']} | {s_load['p50_ms']} | {s_load['p95_ms']} | {s_load['p99_ms']} |"
        f" {s_check['first_statuses']} | {count_5xx(s_check['first_statuses'])} |"
        f" {s_check['events_of_200_answers']} | {s_check['calls_in_db_for_200_ids']} |"
        f" {s_check['lost']} | {s_check['duplicated_calls']} |",
        "",
        f"Events by state: {s_check['events_by_state']}.",
        "",
    ]
    if crash:
        c_load, c_check = crash["load"], crash["check"]
        lines += [
            "## 2. Crash safety",
            "",
            "Injected during the load: SIGKILL of an Odoo HTTP worker every ~1.5 s"
            f" ({len(crash['kills'])} workers killed; the prefork master respawns them) and"
            f" {len(crash['pg_outages'])} PostgreSQL outage(s) (`pg_ctl stop -m fast`, 3 s"
            f" down, start again; {crash['pg_outages']} s each, measured from stop to ready)."
            " Then the retry cron ran once"
            f" ({crash['cron_retried']} event(s) replayed).",
            "",
            "| deliveries | distinct calls | seconds | deliveries/s | statuses (1st attempt) |"
            " statuses (retries) | deliveries retried | retries | answered 200 | events of"
            " 200 answers | events missing | calls of 200-answered ids | lost | duplicated |"
            " never 200 |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {c_check['deliveries']} | {c_check['distinct_call_ids_sent']} |"
            f" {c_load['seconds']} | {c_load['rps']} | {c_check['first_statuses']} |"
            f" {c_check['retry_statuses']} | {c_check['retried_deliveries']} |"
            f" {c_check['retries']} | {c_check['answered_200']} |"
            f" {c_check['events_of_200_answers']} | {c_check['events_missing']} |"
            f" {c_check['calls_in_db_for_200_ids']} / {c_check['distinct_call_ids_200']} |"
            f" {c_check['lost']} | {c_check['duplicated_calls']} | {c_check['never_200']} |",
            "",
            f"Events of the 200 answers by state, after the retry cron:"
            f" {c_check['events_by_state']}. Status 0 is a connection error (the worker died"
            " with the request, or the connection was refused while it was respawned); 503 is"
            " the controller's `unavailable` (the event could not be stored or processing could"
            " not record its outcome); **404 is Odoo's own answer while PostgreSQL is down**:"
            " it cannot list its databases, so it routes the request without a database and"
            " the addon's controller is never reached (HTML `404 Not Found`). None of these"
            " had been acknowledged; all are the sender's to retry. A PBX that treats a 404 as"
            " final would drop the deliveries of an outage: see the note below.",
            "",
            f"Error samples: {c_check['samples'][:4]}.",
            "",
        ]
    lines += [
        # written by hand (measured apart from the soak): bench/reliability_note.md
        (HERE / "reliability_note.md").read_text(encoding="utf-8").rstrip("\n"),
        "",
        "## What is checked",
        "",
        "- every delivery answered 200 names an event (`event_id`) that is in the database;",
        "- after the retry cron every such event is `processed` (or `ignored`: a live event of"
        " a call already final), none left `new` or `failed`;",
        "- the distinct call ids of the 200-answered deliveries are all in `vpbx_call`, once"
        " each (lost = acknowledged id without a call; duplicated = a call id with more than"
        " one row);",
        "- steady phase: every first attempt answered 200 (no 5xx, no connection error).",
        "",
        "Raw figures: `bench/reliability.json`.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--deliveries", type=int, help="steady-phase deliveries (10000)")
    parser.add_argument("--crash-deliveries", type=int, help="crash-phase deliveries (4000)")
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--contacts", type=int, help="contacts in the database (20000)")
    parser.add_argument("--no-crash", action="store_true", help="steady phase only")
    parser.add_argument("--reuse-db", action="store_true", help="keep an existing vpbx_soak")
    parser.add_argument("--out", default=str(HERE / "RELIABILITY.md"))
    args = parser.parse_args()
    n = args.deliveries or (1000 if args.quick else 10000)
    n_crash = args.crash_deliveries or (600 if args.quick else 4000)
    contacts = args.contacts or (2000 if args.quick else 20000)
    machine = common.machine_info()

    if not (args.reuse_db and common.db_exists(DB)):
        say(f"creating {DB} with the addon")
        common.create_db(DB)
        info = common.generate_contacts(DB, contacts, seed=9)
        say(f"{info['contacts']} contacts, {info.get('keys')} phone keys")
    # the PBX account the deliveries go to, before the server starts (no demo data here)
    common.pbx_id(DB)
    rows = common.contact_numbers(DB, 2000, seed=9)
    numbers = [c for _pid, phone, mobile in rows for c in [common.caller_number(phone or mobile)]]
    numbers = [c for c in numbers if c]

    result = {
        "machine": machine,
        "quick": args.quick,
        "contacts": contacts,
        "concurrency": args.concurrency,
    }
    failures = []
    log_path = common.ROOT / ".dev" / "logs" / "soak-odoo.log"
    with contextlib.suppress(FileNotFoundError):
        log_path.unlink()
    server = common.OdooServer(DB, workers=2, log_path=log_path)
    server.start()
    try:
        url = common.webhook_url(server, DB)
        say(f"steady phase: {n} deliveries, {args.concurrency} senders")
        bodies = make_deliveries(n, args.duplicates, 1, numbers)
        sender, stats = run_phase(server, url, bodies, args.concurrency)
        ids = [json.loads(b)["transaction_id"] for b in bodies]
        checked = check(DB, sender, ids)
        result["steady"] = {"load": stats, "check": checked}
        say(f"steady: {stats['rps']} deliveries/s, {json.dumps(checked)}")
        if checked["first_statuses"] != {"200": n}:
            failures.append(f"steady phase answered {checked['first_statuses']}")
        if checked["lost"] or checked["duplicated_calls"] or checked["never_200"]:
            failures.append(
                f"steady phase: {checked['lost']} lost, {checked['duplicated_calls']}"
                f" duplicated, {checked['never_200']} never answered 200"
            )

        if not args.no_crash:
            if pg_cluster() is None:
                raise SystemExit("the crash phase needs the throwaway cluster of ./dev (--db_host)")
            say(f"crash phase: {n_crash} deliveries, workers killed, one PostgreSQL outage")
            bodies = make_deliveries(n_crash, args.duplicates, 2, numbers)
            # time the outage at about a third of the expected run
            expected = n_crash / max(1.0, stats["rps"] or 1.0)
            chaos = Chaos(server, every=1.5, pg_at=max(2.0, expected / 3), pg_seconds=3.0)
            sender, stats2 = run_phase(server, url, bodies, args.concurrency, chaos)
            say(f"crash load done in {stats2['seconds']} s; running the retry cron")
            retried = cron_retry(DB)
            ids = [json.loads(b)["transaction_id"] for b in bodies]
            checked = check(DB, sender, ids)
            result["crash"] = {
                "load": stats2,
                "check": checked,
                "kills": chaos.kills,
                "pg_outages": chaos.pg_outages,
                "chaos_errors": chaos.errors[:10],
                "cron_retried": retried,
            }
            say(f"crash: {json.dumps(result['crash'], default=str)[:2000]}")
            unfinished = {
                k: v for k, v in checked["events_by_state"].items() if k in ("new", "failed")
            }
            if not chaos.pg_outages:
                failures.append("the PostgreSQL outage did not happen")
            if checked["lost"] or checked["duplicated_calls"] or checked["events_missing"]:
                failures.append(
                    f"crash phase: {checked['lost']} lost, {checked['duplicated_calls']}"
                    f" duplicated, {checked['events_missing']} acknowledged events missing"
                )
            if unfinished:
                failures.append(f"crash phase: events left {unfinished} after the retry cron")
            if checked["never_200"]:
                failures.append(f"crash phase: {checked['never_200']} deliveries never got a 200")
    finally:
        server.stop()
    result["failures"] = failures
    result["ok"] = not failures
    (HERE / "reliability.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_report(result, Path(args.out))
    say(("PASS" if result["ok"] else "FAIL: " + "; ".join(failures)) + f" -> {args.out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
