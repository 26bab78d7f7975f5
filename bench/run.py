"""Benchmarks of sentech_vpbx (issue #8): ``./dev bench [--sizes ...] [--only ...] [--quick]``.

1. lookup    the addon's contact lookup vs a suffix ILIKE (OCA base_phone) and Odoo's
             ``phone_mobile_search`` at each size, in one Odoo process on the same data;
2. ingest    webhooks over HTTP into Odoo --workers=2 at the largest size, next to /web/health,
             in both modes (immediate, queued); the mode a new account gets is read from the
             model (``default_get`` of the queue setting) and its rows say "(default)". At each
             level: answers per second, and calls stored per second from the first POST until
             the queue is empty, both as a share of /web/health (issue #18: stored/s at 4
             senders in the default mode); every call sent stored once, every delivery processed
             once (``attempt_count``). Odoo serves one database with ``-d`` and no
             ``--db-filter`` (set VPBX_BENCH_DBFILTER=1 to add it: every request without a
             session then opens a connection to list the databases, the health route's too);
   twonode   (issue #18) two Odoo servers on the same database (--workers=2 and one cron worker
             each, the account queued), TWONODE_SENDERS keep-alive senders dealt to them in
             turn, against one such server under the same load: req/s, p95, errors, drained
             seconds, stored/s, the ratio two / one; calls stored = unique ids sent and no
             delivery processed twice;
3. backfill  BACKFILL_RECORDS (20k; ``--backfill-records N``) history records from the simulator
             imported by the import task's cron method vs merely fetching the pages (median of
             FETCH_ROUNDS passes); the simulator's own time per page and the token requests
             of each phase (to see where a page's time goes);
   backlog   5,000 queued deliveries stored while no scheduled action ran, then drained by the
             queue's two runs on Odoo's default two cron workers with its default time limits:
             rate per second, stalls, time-outs in the log;
4. overhead  ORM ``create`` of 100k contacts with the addon vs with its dependencies only;
5. live      live call events (issue #15): from the POST of a ``ringing`` event to the pop-up
             notification on a websocket logged in as the agent (Odoo --workers=2, the
             websocket on its gevent port), p50/p95 at 1 and 4
             senders, at the largest size; and ringing events per second as a share of
             /web/health at the same concurrency.
6. purge     retention (issue #17): the daily purge of 1M old raw webhook events (set up by
             COPY, each linked to a call) in an odoo-bin shell, run after run as the scheduled
             action would; webhook p50/p95 at 4 senders while it runs, side by side with the
             same load without it (Odoo --workers=2, its own database).
7. route     ring-time routing (issue #16): GET /vpbx/route/<token>?phoneNumber=&sipNumber= at
             the largest size plus ROUTE_LEADS open leads and opportunities (Odoo --workers=2),
             p50/p95 at 1 and 8 callers, each level next to /web/health with as many senders;
             callers are contacts' and leads' numbers written as the PBX does, and unknown ones.

Prints a table, writes bench/results.json and rewrites bench/RESULTS.md. Nothing here asserts.
"""
# pylint: disable=print-used,sql-injection

import argparse
import contextlib
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

HERE = Path(__file__).resolve().parent
DB_MAIN = "vpbx_bench_main"
DB_OVH_ADDON = "vpbx_bench_ovh_addon"
DB_OVH_BASE = "vpbx_bench_ovh_base"
DB_PURGE = "vpbx_bench_purge"
DB_DASHBOARD = "vpbx_bench_dashboard"
#: Odoo's phone_mobile_search exists on res.partner only with `sms` (mail.thread.phone)
MAIN_MODULES = (common.MODULE, "sms")
BASE_MODULES = ("hr", "contacts", "mail", "phone_validation")
SIM_KEY = "bench-api-key"
NOTES_MARK = "## Notes"
SECTIONS = (
    "lookup",
    "ingest",
    "twonode",
    "backfill",
    "backlog",
    "overhead",
    "live",
    "purge",
    "dashboard",
    "route",
)
#: leads and opportunities added for the route section, and the salespeople owning them
ROUTE_LEADS = 200000
ROUTE_OWNERS = 40


def say(msg):
    print(f"[bench] {msg}", flush=True)


# --------------------------------------------------------------------------- 1. lookup

LOOKUP_SCRIPT = r"""
import json, re, time
from odoo.addons.sentech_vpbx.services.phone import phone_keys
data = json.load(open(%(path)r))
Phone = env['vpbx.partner.phone'].sudo()
Partner = env['res.partner'].sudo().with_context(active_test=True)
%(pbx_code)s
settings = pbx._vpbx_call_settings()
company_id = settings.company_id
region = settings.region

def addon(caller):
    # what vpbx.call does: keys of the PBX's number (normalised + alt), then the indexed lookup
    keys = phone_keys(caller, region)[:2]
    return [row[0] for row in Phone._vpbx_find_partners(company_id, keys)]

def suffix(caller):
    # OCA base_phone style: last 8 digits against phone and mobile with separators stripped
    term = '%%' + re.sub(r'\D', '', caller)[-8:]
    env.cr.execute(
        "SELECT id FROM res_partner WHERE active AND ("
        " regexp_replace(phone, '[^0-9]', '', 'g') ILIKE %%s"
        " OR regexp_replace(mobile, '[^0-9]', '', 'g') ILIKE %%s)", [term, term])
    return [r[0] for r in env.cr.fetchall()]

def odoo(caller):
    return Partner.search([('phone_mobile_search', '=', '+' + caller)]).ids

out = {}
for name, func, budget in (('addon', addon, 15), ('odoo', odoo, 20), ('suffix', suffix, 40)):
    samples = data['samples'][: data['limits'][name]]
    for expected, caller in samples[:5]:
        func(caller)  # warm-up: plans, caches
    times, hits, known, found_any = [], 0, 0, 0
    started = time.perf_counter()
    for expected, caller in samples:
        t0 = time.perf_counter()
        ids = func(caller)
        times.append(time.perf_counter() - t0)
        if expected:
            known += 1
            hits += expected in ids
        found_any += bool(ids)
        if len(times) >= 10 and time.perf_counter() - started > budget:
            break
    out[name] = {'times': times, 'hit_rate': hits / known if known else None, 'known': known}
print('RESULT=' + json.dumps(out))
"""


def _ms_stats(times):
    ordered = sorted(times)
    return {
        "n": len(ordered),
        "p50_ms": round(common.percentile(ordered, 50) * 1000, 3),
        "p95_ms": round(common.percentile(ordered, 95) * 1000, 3),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3),
    }


def lookup_samples(db, count, seed):
    """(expected partner id, caller number as the PBX sends it); about 10 % unknown numbers."""
    rng = random.Random(seed)
    samples = []
    for pid, phone, mobile in common.contact_numbers(db, count, seed=seed):
        written = rng.choice([n for n in (phone, mobile) if n])
        caller = common.caller_number(written)
        if caller:
            samples.append((pid, caller))
    unknown = max(1, len(samples) // 9)
    for _ in range(unknown):
        samples.append((None, "849" + "".join(rng.choice("0123456789") for _ in range(8))))
    rng.shuffle(samples)
    return samples


def bench_lookup(db, size, quick):
    samples = lookup_samples(db, 1200 if not quick else 300, seed=size)
    limits = {"addon": len(samples), "odoo": 400, "suffix": 200}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"samples": samples, "limits": limits}, fh)
    out = common.shell(db, LOOKUP_SCRIPT % {"path": fh.name, "pbx_code": common.PBX_CODE})
    Path(fh.name).unlink()
    raw = json.loads(out.split("RESULT=", 1)[1].splitlines()[0])
    result = {"contacts": size}
    for name, data in raw.items():
        result[name] = {**_ms_stats(data["times"]), "hit_rate": data["hit_rate"]}
    return result


# --------------------------------------------------------------------------- 2. ingest


def webhook_bodies(db, sim, n, seed):
    """`n` simulator call records; 70 % from numbers of existing contacts."""
    rng = random.Random(seed)
    callers = [c for _pid, c in lookup_samples(db, int(n * 0.8) + 10, seed=seed) if _pid]
    records = sim.generate_calls(n, seed=seed)
    for record in records:
        if record["direction"] == "local" or not callers or rng.random() > 0.7:
            continue
        number = rng.choice(callers)
        record["phone_number"] = number
        record["customer"] = {**(record.get("customer") or {}), "phone_number": number}
        key = "source_number" if record["direction"] == "inbound" else "destination_number"
        record[key] = number
        record["from_number" if key == "source_number" else "to_number"] = number
    return records


def _wait_drained(db, timeout=600):
    """Seconds until no delivery is left queued (state new)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if not common.sql(db, "SELECT 1 FROM vpbx_webhook_event WHERE state = 'new' LIMIT 1"):
            return round(time.perf_counter() - start, 2)
        time.sleep(0.05)
    return None


#: names the account's setting "Queue webhook deliveries" has had (answered once stored, the
#: calls stored by the queue's scheduled action)
QUEUE_FIELDS = ("webhook_queued", "webhook_queue")
DEFAULT_MODE_CODE = """
Pbx = env['vpbx.pbx']
name = next((n for n in %(names)r if n in Pbx._fields), None)
print('DEFAULT_MODE=' + ('none' if name is None else
      'queued' if Pbx.default_get([name]).get(name) else 'immediate') + ' FIELD=' + str(name))
"""


def default_mode(db):
    """``(mode, field)``: the mode a new PBX account gets ("queued" when the queue setting
    defaults to on, as ``default_get`` says, ir.default included), and the setting's name."""
    out = common.shell(db, DEFAULT_MODE_CODE % {"names": QUEUE_FIELDS})
    line = next((x for x in out.splitlines() if x.startswith("DEFAULT_MODE=")), None)
    if line is None:
        raise common.ShellError("the default webhook mode could not be read", out)
    mode, field = (part.split("=", 1)[1] for part in line.split())
    if mode == "none":
        raise common.ShellError("vpbx.pbx has no setting to queue webhook deliveries", out)
    return mode, field


def set_mode(db, account, mode):
    """Set the PBX account's webhook mode ("queued" or "immediate") in the database (before a
    server starts: its workers read the account once)."""
    columns = {
        row[0]
        for row in common.sql(
            db,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'vpbx_pbx'"
            " AND column_name = ANY(%s)",
            [list(QUEUE_FIELDS)],
        )
    }
    column = next((name for name in QUEUE_FIELDS if name in columns), None)
    if column is None:
        raise RuntimeError(f"vpbx_pbx has none of the columns {QUEUE_FIELDS}")
    common.sql(db, f"UPDATE vpbx_pbx SET {column} = %s WHERE id = %s", [mode == "queued", account])


def _spread(urls):
    """A ``common.load`` target sending to several servers: each sender (thread) keeps one
    keep-alive connection to one of `urls`, senders dealt to them in turn; a body is POSTed as
    JSON, None is a GET. ``.sent`` counts the requests by URL; ``.close()`` closes the
    connections (once ``load`` returned)."""
    import collections
    import http.client
    import itertools
    import threading
    import urllib.parse

    parsed = [(url, urllib.parse.urlsplit(url)) for url in urls]
    local, turn, lock = threading.local(), itertools.count(), threading.Lock()
    sent, conns = collections.Counter(), []

    def send(body):
        if getattr(local, "target", None) is None:
            with lock:
                local.target = parsed[next(turn) % len(parsed)]
            local.conn = None
        url, target = local.target
        with lock:
            sent[url] += 1
        try:
            if local.conn is None:
                local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                with lock:
                    conns.append(local.conn)
            if body is None:
                local.conn.request("GET", target.path)
            else:
                local.conn.request(
                    "POST", target.path, json.dumps(body), {"Content-Type": "application/json"}
                )
            resp = local.conn.getresponse()
            resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                local.conn.close()
                local.conn = None
            return resp.status
        except Exception:  # counted as status 0 by load()
            if local.conn is not None:
                local.conn.close()
            local.conn = None
            return 0

    def close():
        for conn in conns:
            conn.close()

    send.sent, send.close = sent, close
    return send


def _ingest_mode(
    db,
    mode,
    bodies,
    per_level,
    health_n,
    levels,
    servers=1,
    cron_threads=2,
    label=None,
    floor=False,
):
    """`servers` Odoo servers (--workers=2, `cron_threads` scheduled-action workers each) on
    `db`, the PBX account set to `mode`; at each level /web/health, then the webhooks, the
    senders spread over the servers. Checks that every call sent is stored once and that no
    delivery was processed twice (``attempt_count``).

    `floor`: at each level, after /web/health, as many deliveries holding no record (``{}``),
    each stored raw and answered 400 *rejected*, nothing processed: what the cheapest delivery
    costs, the bound of what any stored delivery can reach against /web/health."""
    set_mode(db, common.pbx_id(db), mode)
    result = {
        "mode": mode,
        "servers": servers,
        "cron_threads": cron_threads,
        "levels": [],
        **({"label": label} if label else {}),
    }
    sent_ids = set()
    before = common.sql(db, "SELECT count(*) FROM vpbx_call")[0][0]
    event_before = common.sql(db, "SELECT COALESCE(MAX(id), 0) FROM vpbx_webhook_event")[0][0]
    with contextlib.ExitStack() as stack:
        # one after the other: each warms its workers up as it starts
        nodes = [
            stack.enter_context(common.OdooServer(db, workers=2, max_cron_threads=cron_threads))
            for _ in range(servers)
        ]
        url = common.webhook_url(nodes[0], db)
        path = url[len(nodes[0].url) :]
        hook_urls = [node.url + path for node in nodes]
        health_urls = [f"{node.url}/web/health" for node in nodes]

        def send(urls, bodies=None, **kw):
            """common.load() to one server (the driver of every other section) or to several
            (the same keep-alive senders, dealt to the servers in turn)."""
            if len(urls) == 1:
                return common.load(urls[0], bodies, **kw), None
            spread = _spread(urls)
            try:
                return common.load(spread, bodies, **kw), sorted(spread.sent.values())
            finally:
                spread.close()

        warm, rest = bodies[:30], bodies[30:]
        warm_up, _split = send(hook_urls, warm, concurrency=2 * servers)
        send(health_urls, n=60 * servers, concurrency=2 * servers)
        sent_ids.update(b["transaction_id"] for b in warm)
        _wait_drained(db)
        offset = 0
        for level in levels:
            health, _split = send(health_urls, n=health_n[level], concurrency=level)
            floor_run = None
            if floor:
                floor_run, _split = send(hook_urls, ["{}"] * health_n[level], concurrency=level)
            chunk = rest[offset : offset + per_level[level]]
            offset += per_level[level]
            # about 5 % re-deliveries of ids already sent (a PBX retries)
            dupes = random.Random(level).sample(chunk, max(1, len(chunk) // 20))
            hook, split = send(hook_urls, chunk + dupes, concurrency=level)
            # queued: the calls are stored when the queue is empty again
            drain = _wait_drained(db)
            # /web/health again right after: the machine's pace drifts within a run, the mean
            # of before and after is what the level is compared with
            after, _split = send(health_urls, n=health_n[level], concurrency=level)
            health = _health_mean(health, after)
            ids = {b["transaction_id"] for b in chunk}
            sent_ids |= ids
            ratio = hook["rps"] / health["rps"] if health["rps"] else None
            # calls stored (unique ids) per second, from the first POST until the queue is empty
            stored_rate = (
                round(len(ids) / (hook["seconds"] + drain), 1) if drain is not None else None
            )
            row = {
                "senders": level,
                "health": health,
                "webhook": hook,
                "drain_s": drain,
                "stored_per_s": stored_rate,
                "throughput_ratio": round(ratio, 3) if ratio else None,
                "stored_ratio": round(stored_rate / health["rps"], 3)
                if stored_rate and health["rps"]
                else None,
            }
            if floor_run:
                row["floor_rps"] = floor_run["rps"]
                row["floor_statuses"] = floor_run["statuses"]
                row["floor_ratio"] = (
                    round(floor_run["rps"] / health["rps"], 3)
                    if floor_run["rps"] and health["rps"]
                    else None
                )
            if split:
                row["requests_by_server"] = split
            result["levels"].append(row)
            say(
                f"ingest {label or mode} c={level}: webhook {hook['rps']} req/s p95"
                f" {hook['p95_ms']} ms, drained {drain} s after, stored {stored_rate} calls/s"
                f" ({row['stored_ratio']} of health), health {health['rps']} req/s,"
                f" errors {hook['errors']}"
                + (f", floor {row['floor_rps']}/s = {row['floor_ratio']}" if floor_run else "")
            )
    stored = common.sql(
        db,
        "SELECT count(*), count(partner_id) FROM vpbx_call WHERE vpbx_call_id = ANY(%s)",
        [list(sent_ids)],
    )[0]
    events = dict(
        common.sql(
            db,
            "SELECT state, count(*) FROM vpbx_webhook_event WHERE vpbx_call_id = ANY(%s)"
            " GROUP BY state",
            [list(sent_ids)],
        )
    )
    # every delivery of the run, re-deliveries included: each processed once (the floor's
    # deliveries, rejected with no call id, are not part of it)
    level_events = common.sql(
        db,
        "SELECT state, attempt_count, count(*) FROM vpbx_webhook_event WHERE id > %s"
        " AND NOT (state = 'rejected' AND vpbx_call_id IS NULL) GROUP BY 1, 2 ORDER BY 1, 2",
        [event_before],
    )
    after = common.sql(db, "SELECT count(*) FROM vpbx_call")[0][0]
    result.update(
        unique_ids_sent=len(sent_ids),
        stored_calls=stored[0],
        new_calls=after - before,
        linked_calls=stored[1],
        webhook_events=events,
        deliveries_sent=warm_up["requests"]
        + sum(level["webhook"]["requests"] for level in result["levels"]),
        errors=warm_up["errors"] + sum(level["webhook"]["errors"] for level in result["levels"]),
        # [state, attempt_count, deliveries]
        delivery_attempts=[list(row) for row in level_events],
        processed_twice=sum(n for _state, attempts, n in level_events if (attempts or 0) > 1),
    )
    return result


def _health_mean(before, after):
    """/web/health measured before and after a level: the mean rate, the worse p95."""
    return {
        **before,
        "rps": round((before["rps"] + after["rps"]) / 2, 1),
        "rps_before": before["rps"],
        "rps_after": after["rps"],
        "p95_ms": max(before["p95_ms"], after["p95_ms"]),
    }


def _ingest_ok(run):
    """Calls stored = unique ids sent = new rows, one stored delivery per request, each
    processed exactly once (none left queued or failed), no HTTP error."""
    attempts = run.get("delivery_attempts") or []
    return (
        run["stored_calls"] == run["unique_ids_sent"] == run["new_calls"]
        and sum(n for _state, _attempts, n in attempts) == run.get("deliveries_sent")
        and all(state in ("processed", "ignored") and tries == 1 for state, tries, _n in attempts)
        and run.get("errors") == 0
    )


def bench_ingest(db, size, quick):
    """Both ways of answering a delivery, each with its own calls: "immediate" (processed
    before the answer) and "queued" (answered once stored; the queue's scheduled action stores
    the calls); which one a new account gets is read from the model (``default``)."""
    levels = (1, 4, 16)
    # long enough at each level that the queue's last run (its wake-up and grace, under a second)
    # does not weigh on stored/s: a steady rate, not a burst
    per_level = {1: 300, 4: 1600, 16: 2400} if not quick else {1: 40, 4: 80, 16: 120}
    health_n = {1: 300, 4: 800, 16: 1200} if not quick else {1: 60, 4: 120, 16: 200}
    default, field = default_mode(db)
    sim = common.simulator(api_key=SIM_KEY, seed=8)
    result = {"contacts": size, "workers": 2, "default": default, "setting": field, "modes": []}
    try:
        total = 30 + sum(per_level.values())
        bodies = webhook_bodies(db, sim, 2 * total, seed=8)
        for index, mode in enumerate(("immediate", "queued")):
            own = bodies[index * total : (index + 1) * total]
            result["modes"].append(
                _ingest_mode(db, mode, own, per_level, health_n, levels, floor=True)
            )
    finally:
        sim.stop()
    return result


# --------------------------------------------------------------------------- two servers

#: senders of the two-server comparison (the issue's level)
TWONODE_SENDERS = 4


def bench_twonode(db, size, quick):
    """Two Odoo servers on one database (each --workers=2 and one cron worker, the account in
    queued mode), the webhooks of TWONODE_SENDERS senders dealt to them in turn, against one
    such server under the same load; each configuration with calls of its own."""
    level = TWONODE_SENDERS
    per_level = {level: 400 if not quick else 80}
    health_n = {level: 800 if not quick else 120}
    sim = common.simulator(api_key=SIM_KEY, seed=18)
    result = {"contacts": size, "workers": 2, "cron_threads": 1, "senders": level, "runs": []}
    try:
        total = 30 + per_level[level]
        bodies = webhook_bodies(db, sim, 2 * total, seed=18)
    finally:
        sim.stop()
    for index, servers in enumerate((1, 2)):
        own = bodies[index * total : (index + 1) * total]
        result["runs"].append(
            _ingest_mode(
                db,
                "queued",
                own,
                per_level,
                health_n,
                (level,),
                servers=servers,
                cron_threads=1,
                label=f"{servers} server{'s' if servers > 1 else ''}",
            )
        )
    one, two = (run["levels"][0] for run in result["runs"])
    result["two_vs_one"] = {
        key: round(two_value / one_value, 2) if one_value and two_value else None
        for key, one_value, two_value in (
            ("webhook_rps", one["webhook"]["rps"], two["webhook"]["rps"]),
            ("stored_per_s", one["stored_per_s"], two["stored_per_s"]),
            ("health_rps", one["health"]["rps"], two["health"]["rps"]),
        )
    }
    say(
        f"twonode: two servers / one: webhook {result['two_vs_one']['webhook_rps']}x,"
        f" stored {result['two_vs_one']['stored_per_s']}x,"
        f" health {result['two_vs_one']['health_rps']}x; processed twice:"
        f" {[run['processed_twice'] for run in result['runs']]}"
    )
    return result


# --------------------------------------------------------------------------- backlog


def bench_backlog(db, size, quick):
    """A backlog of queued deliveries (a night with the scheduled actions down), drained by the
    queue's scheduled actions on Odoo's default two cron workers (``--max-cron-threads``) with
    its default limits (120 s real time, 60 s CPU): the first run wakes the second when it
    claims a full batch; each run of the queue ends inside a quarter of the lower limit and
    triggers the next.

    (A cron real-time limit under a minute cannot be measured: an idle cron worker sleeps up to
    60 s between polls, and Odoo 18 kills it for that.)"""
    n = 5000 if not quick else 1000
    sim = common.simulator(api_key=SIM_KEY, seed=9)
    try:
        bodies = webhook_bodies(db, sim, n, seed=9)
    finally:
        sim.stop()
    account = common.pbx_id(db)
    set_mode(db, account, "queued")
    with common.OdooServer(db, workers=2, max_cron_threads=0) as server:
        sent = common.load(common.webhook_url(server, db), bodies, concurrency=4)
    waiting = common.sql(db, "SELECT count(*) FROM vpbx_webhook_event WHERE state = 'new'")[0][0]
    # the queue's scheduled action is due now, as after a trigger (which the deliveries made)
    common.sql(
        db,
        "UPDATE ir_cron SET nextcall = now() AT TIME ZONE 'UTC' WHERE id = (SELECT res_id"
        " FROM ir_model_data WHERE module = 'sentech_vpbx'"
        " AND name = 'ir_cron_vpbx_process_webhook_queue')",
    )
    limits = {"limit_time_real": 120, "limit_time_cpu": 60}
    cron_workers = 2  # Odoo's default --max-cron-threads
    log_path = HERE.parent / ".dev" / "logs" / f"bench-backlog-{time.strftime('%Y%m%d-%H%M%S')}.log"
    samples = []
    with common.OdooServer(
        db,
        workers=2,
        max_cron_threads=cron_workers,
        extra_args=[f"--{name.replace('_', '-')}={value}" for name, value in limits.items()],
        log_path=log_path,
    ):
        start = time.perf_counter()
        left = waiting
        while left and time.perf_counter() - start < 900:
            if left == waiting:
                # wake the cron worker as a trigger does, until it has started listening (an
                # idle one polls only every minute)
                common.sql("postgres", "NOTIFY cron_trigger, %s", [db])
            time.sleep(1)
            left = common.sql(db, "SELECT count(*) FROM vpbx_webhook_event WHERE state = 'new'")[0][
                0
            ]
            samples.append((round(time.perf_counter() - start, 2), left))
    drain_s = samples[-1][0] if samples and not samples[-1][1] else None
    rates = [a[1] - b[1] for a, b in zip([(0, waiting), *samples[:-1]], samples, strict=True)]
    # from the first second with progress (the cron worker's start before it) to the one
    # before the last (partly idle)
    first = next((index for index, rate in enumerate(rates) if rate), len(rates))
    started_s = samples[first - 1][0] if first else 0
    rates = rates[first:]
    busy = rates[:-1] if len(rates) > 1 else rates
    stall = longest = 0
    for rate in rates:
        stall = stall + 1 if rate == 0 else 0
        longest = max(longest, stall)
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    timeouts = [
        line
        for line in log.splitlines()
        if "timeout after" in line or "time limit" in line.lower() or "CPU time limit" in line
    ]
    states = dict(common.sql(db, "SELECT state, count(*) FROM vpbx_webhook_event GROUP BY state"))
    result = {
        "contacts": size,
        "deliveries": n,
        "send": sent,
        "waiting": waiting,
        "limits": limits,
        "cron_workers": cron_workers,
        "drain_s": drain_s,
        "first_progress_after_s": started_s,
        "per_s": round(waiting / (drain_s - started_s), 1) if drain_s else None,
        "per_s_median": sorted(busy)[len(busy) // 2] if busy else None,
        "per_s_min": min(busy) if busy else None,
        "longest_stall_s": longest,
        "timeouts": len(timeouts),
        "timeout_lines": timeouts[:5],
        "errors": sum(1 for line in log.splitlines() if " ERROR " in line),
        "events": states,
        "log": str(log_path),
        # (seconds since the cron worker started, deliveries still queued)
        "samples": samples,
    }
    say(
        f"backlog: {waiting} queued, drained in {drain_s} s ({result['per_s']}/s, median"
        f" {result['per_s_median']}/s, lowest {result['per_s_min']}/s), longest stall"
        f" {longest} s, time-outs {len(timeouts)}"
    )
    return result


# --------------------------------------------------------------------------- live calls

LIVE_EXTENSION = "7700"
LIVE_LOGIN = "bench_live_agent"
LIVE_PASSWORD = "bench-Live-Pw!1"
LIVE_AGENT_CODE = """
%(pbx_code)s
Users, Employees = env['res.users'].sudo(), env['hr.employee'].sudo()
groups = [env.ref('base.group_user').id, env.ref('sentech_vpbx.group_vpbx_user').id]
user = Users.search([('login', '=', %(login)r)]) or Users.create({
    'name': 'Bench Live Agent', 'login': %(login)r, 'password': %(password)r,
    'groups_id': [(6, 0, groups)],
})
employee = Employees.search([('user_id', '=', user.id)]) or Employees.create(
    {'name': 'Bench Live Agent', 'user_id': user.id})
employee.write({'vpbx_pbx_id': pbx.id, 'vpbx_extension': %(extension)r})
env.cr.commit()
print('LIVE_OK')
"""


class LiveClient:
    """A websocket logged in as the agent: the time each live notification arrived, by call."""

    def __init__(self, server, port):
        import threading

        import requests
        import websocket

        session = requests.post(
            f"{server.url}/web/session/authenticate",
            json={
                "jsonrpc": "2.0",
                "params": {"db": server.db, "login": LIVE_LOGIN, "password": LIVE_PASSWORD},
            },
            timeout=30,
        )
        session.raise_for_status()
        sid = session.cookies["session_id"]
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/websocket?version=18.0-5",
            cookie=f"session_id={sid}",
            origin=server.url,
            timeout=60,
        )
        self.ws.send(json.dumps({"event_name": "subscribe", "data": {"channels": [], "last": 0}}))
        self.arrived = {}
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop:
            try:
                data = self.ws.recv()
            except Exception:  # closed, or a time-out while nothing rings
                if self._stop:
                    return
                continue
            now = time.perf_counter()
            for notification in json.loads(data or "[]"):
                message = notification.get("message", {})
                if message.get("type") == "sentech_vpbx/live_call":
                    payload = message["payload"]
                    if payload["stage"] == "ringing":
                        self.arrived.setdefault(payload["call_id"], now)

    def close(self):
        self._stop = True
        self.ws.close()


def _ringing(call_id, number):
    return {
        "transaction_id": call_id,
        "direction": "inbound",
        "state": "ringing",
        "phone_number": number,
        "sip_user": LIVE_EXTENSION,
        "time_start_call": int(time.time()),
    }


def bench_live(db, size, quick):
    """Pop-up latency and live-event ingest next to /web/health (see the module doc)."""
    import concurrent.futures
    import urllib.request

    out = common.shell(
        db,
        LIVE_AGENT_CODE
        % {
            "pbx_code": common.PBX_CODE,
            "login": LIVE_LOGIN,
            "password": LIVE_PASSWORD,
            "extension": LIVE_EXTENSION,
        },
    )
    if "LIVE_OK" not in out:
        raise common.ShellError("the live-call agent could not be set up", out)
    numbers = [phone or mobile for _pid, phone, mobile in common.contact_numbers(db, 200, seed=15)]
    per_level = {1: 100, 4: 200} if not quick else {1: 30, 4: 60}
    # the throughput's own sample: a second or two of sending
    load_n = {1: 300, 4: 1000} if not quick else {1: 30, 4: 60}
    health_n = {1: 300, 4: 800} if not quick else {1: 60, 4: 120}
    # as deployed: 2 HTTP workers, the websocket served by the gevent process on its own port
    result = {"contacts": size, "workers": 2, "levels": []}
    run = time.strftime("%H%M%S")
    with common.OdooServer(db, workers=2) as server:
        url = common.webhook_url(server, db)
        client = LiveClient(server.wait_gevent(), server.gevent_port)
        try:
            time.sleep(1)  # subscribed

            def post(call_id, number):
                request = urllib.request.Request(
                    url,
                    data=json.dumps(_ringing(call_id, number)).encode(),
                    headers={"Content-Type": "application/json"},
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                return call_id, started

            post(f"LIVE-WARM-{run}", numbers[0])

            def settled(timeout=15):
                """Until the websocket has had every notification: the gevent process may still
                be sending them after the last POST was answered, on the same CPUs."""
                seen, deadline = -1, time.time() + timeout
                while len(client.arrived) != seen and time.time() < deadline:
                    seen = len(client.arrived)
                    time.sleep(0.5)

            def measured(send):
                """``(result, {kind: core-ms per request})`` of one phase."""
                before = server.cpu_seconds()
                result = send()
                after = server.cpu_seconds()
                requests = result["requests"] or 1
                return result, {
                    kind: round((after[kind] - before[kind]) * 1000 / requests, 2)
                    for kind in before
                }

            for level in (1, 4):
                health, health_cpu = measured(
                    lambda level=level: common.load(
                        f"{server.url}/web/health", n=health_n[level], concurrency=level
                    )
                )
                ids = [f"LIVE-{run}-{level}-{i}" for i in range(per_level[level])]
                with concurrent.futures.ThreadPoolExecutor(level) as pool:
                    sent = list(
                        pool.map(post, ids, [numbers[i % len(numbers)] for i in range(len(ids))])
                    )
                time.sleep(2)  # the last notifications
                rows = common.sql(
                    db,
                    "SELECT vpbx_call_id, id FROM vpbx_call WHERE vpbx_call_id = ANY(%s)",
                    [ids],
                )
                odoo_ids = dict(rows)
                latencies = sorted(
                    (client.arrived[odoo_ids[call_id]] - t0) * 1000
                    for call_id, t0 in sent
                    if odoo_ids.get(call_id) in client.arrived
                )
                # throughput with the keep-alive driver of /web/health (other new calls)
                load_ids = [f"LIVE-{run}-{level}-load-{i}" for i in range(load_n[level])]
                load_bodies = [
                    _ringing(call_id, numbers[i % len(numbers)])
                    for i, call_id in enumerate(load_ids)
                ]
                before = server.cpu_seconds()
                hook = common.load(url, load_bodies, concurrency=level)
                # the CPU of the load counts the websocket's sending of its notifications
                settled()
                after = server.cpu_seconds()
                live_cpu = {
                    kind: round((after[kind] - before[kind]) * 1000 / (hook["requests"] or 1), 2)
                    for kind in before
                }
                rps = hook["rps"]
                # the floor: deliveries stored raw and rejected (no record in them), nothing
                # looked up or pushed: the cheapest answer a webhook POST gets; as many as
                # /web/health's, once the websocket is done with the load's notifications
                floor, floor_cpu = measured(
                    lambda level=level: common.load(
                        url, ["{}"] * health_n[level], concurrency=level
                    )
                )
                row = {
                    "senders": level,
                    "events": len(ids),
                    "notified": len(latencies),
                    "popup_p50_ms": round(common.percentile(latencies, 50), 1)
                    if latencies
                    else None,
                    "popup_p95_ms": round(common.percentile(latencies, 95), 1)
                    if latencies
                    else None,
                    "live_rps": round(rps, 1) if rps else None,
                    "live_p95_ms": hook["p95_ms"],
                    "errors": hook["errors"],
                    "health_rps": health["rps"],
                    "throughput_ratio": round(rps / health["rps"], 3)
                    if rps and health["rps"]
                    else None,
                    "floor_rps": floor["rps"],
                    "floor_statuses": floor["statuses"],
                    "floor_ratio": round(floor["rps"] / health["rps"], 3)
                    if floor["rps"] and health["rps"]
                    else None,
                    # core-ms of CPU per request, by process kind
                    "cpu_ms": {"health": health_cpu, "floor": floor_cpu, "ringing": live_cpu},
                }
                result["levels"].append(row)
                say(
                    f"live c={level}: pop-up p50 {row['popup_p50_ms']} ms p95"
                    f" {row['popup_p95_ms']} ms ({row['notified']}/{row['events']} notified),"
                    f" {row['live_rps']} events/s = {row['throughput_ratio']} of /web/health;"
                    f" floor (stored, rejected) {row['floor_rps']}/s = {row['floor_ratio']}"
                )
        finally:
            client.close()
    return result


# --------------------------------------------------------------------------- 6. route

ROUTE_SETUP_CODE = r"""
import json
%(pbx_code)s
pbx.write({'route_enabled': True, 'route_team_members': False})
users = env['res.users'].sudo().search([('login', '=like', 'vpbx_route_bench_%%')], order='id')
for index in range(len(users), %(owners)d):
    user = env['res.users'].sudo().create(
        {'name': 'Route owner %%d' %% index, 'login': 'vpbx_route_bench_%%d' %% index})
    env['hr.employee'].sudo().create({'name': user.name, 'user_id': user.id,
        'vpbx_pbx_id': pbx.id, 'vpbx_extension': str(7800 + index)})
    users |= user
env.cr.commit()
print('OWNERS=' + json.dumps(users.ids))
"""


def _route_callers(db, count, seed):
    """Caller numbers as the PBX writes them (84..., no +): a third from contacts, a third
    from leads, a third unknown."""
    rng = random.Random(seed)
    contacts = [p or m for _pid, p, m in common.contact_numbers(db, count // 3, seed=seed)]
    leads = [
        row[0]
        for row in common.sql(
            db,
            "SELECT phone FROM crm_lead WHERE type = 'lead' AND phone IS NOT NULL"
            " ORDER BY random() LIMIT %s",
            [count // 3],
        )
    ]
    unknown = [f"0{rng.choice((91, 98, 33))}{rng.randrange(10**7):07d}" for _ in range(count // 3)]
    callers = [common.caller_number(n) or n for n in contacts + leads] + unknown
    rng.shuffle(callers)
    return callers


def bench_route(db, size, quick):
    """Routing answers next to /web/health (see the module doc)."""
    import urllib.parse

    out = common.shell(db, ROUTE_SETUP_CODE % {"pbx_code": common.PBX_CODE, "owners": ROUTE_OWNERS})
    line = next((x for x in out.splitlines() if x.startswith("OWNERS=")), None)
    if line is None:
        raise common.ShellError("the routing salespeople could not be set up", out)
    owners = json.loads(line.split("=", 1)[1])
    leads = ROUTE_LEADS if not quick else 5000
    setup = common.generate_leads(db, leads, owners, seed=16)
    # a third of the contacts have one of the salespeople
    common.sql(
        db,
        "UPDATE res_partner SET user_id = (%s::int[])[1 + id %% %s] WHERE id %% 3 = 0",
        [owners, len(owners)],
    )
    setup["settle_s"] = common.settle(db)
    say(
        f"route: {leads:,} leads by COPY in {setup['copy_s']} s, {setup['keys']:,} key rows"
        f" in {setup['keys_s']} s, VACUUM (ANALYZE) {setup['settle_s']} s"
    )
    per_level = {1: 600, 8: 2400} if not quick else {1: 100, 8: 300}
    callers = _route_callers(db, 3000, seed=16)
    result = {"contacts": size, "leads": leads, "workers": 2, "levels": [], "setup": setup}
    before = common.sql(db, "SELECT COALESCE(MAX(id), 0) FROM vpbx_route_log")[0][0]
    with common.OdooServer(db, workers=2) as server:
        url = common.webhook_url(server, db).replace("/vpbx/webhook/", "/vpbx/route/", 1)
        path = urllib.parse.urlsplit(url).path
        floor_url = url.rsplit("/", 1)[0] + "/" + "0" * 43
        floor_path = urllib.parse.urlsplit(floor_url).path

        def paths(count, offset, path=path):
            return [
                f"{path}?phoneNumber={urllib.parse.quote(callers[(offset + i) % len(callers)])}"
                "&sipNumber=842888806669"
                for i in range(count)
            ]

        common.load(url, paths=paths(100, 0), concurrency=2)  # warm-up: plans, caches
        common.load(f"{server.url}/web/health", n=100, concurrency=2)
        for level in (1, 8):
            health = common.load(f"{server.url}/web/health", n=per_level[level], concurrency=level)
            route = common.load(url, paths=paths(per_level[level], level * 7), concurrency=level)
            if route["error_samples"]:
                say(f"route c={level}: errors {route['error_samples']}")
            # the floor: a token no account has, answered (empty) and logged, nothing looked up
            floor = common.load(
                floor_url, paths=paths(per_level[level], level * 11, floor_path), concurrency=level
            )
            row = {
                "callers": level,
                "requests": route["requests"],
                "route_p50_ms": route["p50_ms"],
                "route_p95_ms": route["p95_ms"],
                "route_p99_ms": route["p99_ms"],
                "route_rps": route["rps"],
                "errors": route["errors"],
                "health_p50_ms": health["p50_ms"],
                "health_p95_ms": health["p95_ms"],
                "health_rps": health["rps"],
                "floor_p50_ms": floor["p50_ms"],
                "floor_p95_ms": floor["p95_ms"],
                "floor_rps": floor["rps"],
                "floor_errors": floor["errors"],
            }
            result["levels"].append(row)
            say(
                f"route c={level}: p50 {row['route_p50_ms']} ms p95 {row['route_p95_ms']} ms,"
                f" {row['route_rps']} req/s, errors {row['errors']}; /web/health p95"
                f" {row['health_p95_ms']} ms, {row['health_rps']} req/s; floor (unknown token)"
                f" p95 {row['floor_p95_ms']} ms, {row['floor_rps']} req/s"
            )
    result["answers"] = dict(
        common.sql(
            db,
            "SELECT reason, count(*) FROM vpbx_route_log WHERE id > %s GROUP BY reason",
            [before],
        )
    )
    result["lookup_ms"] = common.sql(
        db,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)"
        " FROM vpbx_route_log WHERE id > %s AND reason != 'bad_token'",
        [before],
    )[0]
    say(f"route answers by reason: {result['answers']}; in Odoo p50/p95 {result['lookup_ms']} ms")
    return result


# --------------------------------------------------------------------------- 3. backfill

BACKFILL_SCRIPT = r"""
import json, time
from datetime import datetime, timezone
%(pbx_code)s
pbx.write({'api_url': %(sim_url)r, 'api_key': %(key)r})
env.cr.commit()
date_from = datetime.fromtimestamp(%(start)d, timezone.utc).replace(tzinfo=None)
date_to = datetime.fromtimestamp(%(end)d, timezone.utc).replace(tzinfo=None)
from odoo.addons.sentech_vpbx.services import history_sync
client = pbx._vpbx_client()
fetch_window = [time.time()]
rounds = []
for _round in range(%(fetch_rounds)d):  # short: the median of a few rounds
    t0 = time.perf_counter()
    page, fetched = 1, 0
    while True:
        payload = pbx._vpbx_history_page(client, date_from, date_to, page)
        items = history_sync.page_items(payload)
        fetched += len(items)
        if not items or not history_sync.has_next(payload, page):
            break
        page += 1
    rounds.append(time.perf_counter() - t0)
fetch_s = sorted(rounds)[len(rounds) // 2]
fetch_window.append(time.time())
before = env['vpbx.call'].search_count([])
# the seconds spent storing pages (each page's transaction), to set beside fetching
from odoo.addons.sentech_vpbx.models import vpbx_pbx as pager_module
in_new_transaction, store_times = pager_module.in_new_transaction, []
def timed_store(env_, func, *args, **kwargs):
    t = time.perf_counter()
    try:
        return in_new_transaction(env_, func, *args, **kwargs)
    finally:
        store_times.append(time.perf_counter() - t)
pager_module.in_new_transaction = timed_store
def import_window_of(task):
    # run the import task to its end as its scheduled action would: (seconds, window)
    task.action_start()
    env.cr.commit()
    store_times.clear()
    window = [time.time()]
    t0 = time.perf_counter()
    while True:
        env['vpbx.history.import']._cron_vpbx_history_import(max_pages=100000)
        env.cr.commit()
        task.invalidate_recordset()
        if task.state != 'running':
            window.append(time.time())
            return time.perf_counter() - t0, window
task = env['vpbx.history.import'].create(
    {'pbx_id': pbx.id, 'date_from': date_from, 'date_to': date_to})
import_s, import_window = import_window_of(task)
store_s = sum(store_times)
# the same window again: every call is stored already, nothing new to write
again = env['vpbx.history.import'].create(
    {'pbx_id': pbx.id, 'date_from': date_from, 'date_to': date_to})
reimport_s, _window = import_window_of(again)
env.invalidate_all()
print('RESULT=' + json.dumps({
    'reimport_s': reimport_s, 'reimport_new': again.new_count, 'reimport_state': again.state,
    'fetched': fetched, 'pages': page, 'fetch_s': fetch_s, 'import_s': import_s,
    'store_s': store_s,
    'fetch_rounds_s': [round(r, 3) for r in rounds],
    'import_pages': task.pages_done, 'windows': {'fetch': fetch_window, 'import': import_window},
    'state': task.state, 'records': task.record_count, 'new': task.new_count,
    'stored': env['vpbx.call'].search_count([]) - before, 'error': task.last_error or None,
    'linked': env['vpbx.call'].search_count([('partner_id', '!=', False)]),
}))
"""


#: history records in the simulator for the backfill section (--backfill-records)
BACKFILL_RECORDS = 20000
#: fetch-only passes over the same pages (the median counts): one takes a second or two
FETCH_ROUNDS = 3
#: The backfill again against a PBX that answers each history page this late (seconds), as one
#: across the internet does, with fewer records: an import fetches the next page while it
#: stores one, which a simulator answering in a few ms does not show
REMOTE_LATENCY = 0.1
REMOTE_RECORDS = 2000


def _timed_handler(sim):
    """Wrap the simulator's request handler: returns the list it appends ``(time.time() at
    the start, seconds inside the handler, path)`` of every request to."""
    handled, handle = [], sim.handle

    def timed(method, raw_path, headers, body):
        started, clock = time.time(), time.perf_counter()
        try:
            return handle(method, raw_path, headers, body)
        finally:
            handled.append((started, time.perf_counter() - clock, raw_path.split("?", 1)[0]))

    sim.handle = timed
    return handled


def _pbx_share(handled, window, pages):
    """What the simulator did inside one phase's (time.time()) window: requests, token
    requests, seconds inside its handler, per page."""
    begin, end = window
    inside = [(seconds, path) for started, seconds, path in handled if begin <= started <= end]
    pbx_s = sum(seconds for seconds, _path in inside)
    return {
        "requests": len(inside),
        "token_requests": sum(1 for _s, path in inside if path.rstrip("/").endswith("/auth")),
        "pbx_s": round(pbx_s, 3),
        "pbx_ms_per_page": round(pbx_s / pages * 1000, 2) if pages else None,
        "ms_per_page": round((end - begin) / pages * 1000, 2) if pages else None,
    }


def bench_backfill(db, size, quick, records=None, latency=0.0, seed=9):
    """`records` history records (BACKFILL_RECORDS; 1,000 when quick) imported by the import
    task's cron method vs the same pages merely fetched; where a page's time goes (the
    simulator's own time per page, token requests). `latency`: seconds the simulator waits
    before answering each history page; `seed`: another seed, other calls."""
    n = records or (BACKFILL_RECORDS if not quick else 1000)
    end = int(time.time()) - 3600
    start = end - 30 * 86400
    sim = common.simulator(api_key=SIM_KEY, seed=seed)
    handled = _timed_handler(sim)
    try:
        records = webhook_bodies(db, sim, n, seed=seed)
        sim.reset()
        if latency:
            sim.inject_fault("history_v2", "slow", count=10**9, delay=latency)
        for record in records:  # same records, spread over 30 days in the past
            record["time_start_call"] = random.Random(record["transaction_id"]).randint(
                start, end - 3600
            )
            sim.add_call(**record)
        out = common.shell(
            db,
            BACKFILL_SCRIPT
            % {
                "pbx_code": common.PBX_CODE,
                "sim_url": sim.url,
                "key": SIM_KEY,
                "start": start,
                "end": end,
                "fetch_rounds": FETCH_ROUNDS,
            },
        )
    finally:
        sim.stop()
    raw = json.loads(out.split("RESULT=", 1)[1].splitlines()[0])
    windows = raw.pop("windows")
    raw.update(
        fetch_pbx=_pbx_share(handled, windows["fetch"], raw["pages"] * FETCH_ROUNDS),
        import_pbx=_pbx_share(handled, windows["import"], raw["import_pages"]),
    )
    raw.update(
        contacts=size,
        latency_ms=round(latency * 1000),
        records_per_s=round(raw["records"] / raw["import_s"], 1) if raw["import_s"] else None,
        fetch_records_per_s=round(raw["fetched"] / raw["fetch_s"], 1) if raw["fetch_s"] else None,
        slowdown_vs_fetch=round(raw["import_s"] / raw["fetch_s"], 2) if raw["fetch_s"] else None,
        reimport_vs_fetch=round(raw["reimport_s"] / raw["fetch_s"], 2) if raw["fetch_s"] else None,
    )
    raw["fetch_s"], raw["import_s"] = round(raw["fetch_s"], 2), round(raw["import_s"], 2)
    raw["store_s"] = round(raw["store_s"], 2)
    raw["reimport_s"] = round(raw["reimport_s"], 2)
    return raw


# --------------------------------------------------------------------------- 4. overhead

OVERHEAD_SCRIPT = r"""
import json, random, time
sys_path_bench = %(bench)r
import sys; sys.path.insert(0, sys_path_bench)
from bench import common
rng = random.Random(%(seed)d)
vn = env.ref('base.vn').id
Partner = env['res.partner'].with_context(
    tracking_disable=True, mail_create_nolog=True, mail_create_nosubscribe=True, import_file=True)
batches = []
for b in range(%(batches)d):
    vals = []
    for i in range(%(batch)d):
        vals.append({
            'name': 'Import %%d-%%d' %% (b, i),
            'phone': common._number(rng) if rng.random() < 0.6 else False,
            'mobile': common._mobile(rng) if rng.random() < 0.7 else False,
            'country_id': vn if rng.random() < 0.6 else False,
        })
    batches.append(vals)
t0 = time.perf_counter()
for vals in batches:
    Partner.create(vals)
    env.cr.commit()
print('RESULT=' + json.dumps({'seconds': time.perf_counter() - t0}))
"""


def bench_overhead(quick):
    total = 100000 if not quick else 4000
    rounds = 4
    batch = 1000 if not quick else 500
    per_round = total // rounds
    result = {"contacts": total, "batch": batch, "rounds": rounds}
    common.create_db(DB_OVH_BASE, BASE_MODULES)
    common.create_db(DB_OVH_ADDON, (common.MODULE,))
    times = {"base": [], "addon": []}
    for index in range(rounds):  # interleaved, so that machine noise hits both alike
        for name, db in (("base", DB_OVH_BASE), ("addon", DB_OVH_ADDON)):
            out = common.shell(
                db,
                OVERHEAD_SCRIPT
                % {
                    "bench": str(common.ROOT),
                    "seed": index,
                    "batches": per_round // batch,
                    "batch": batch,
                },
            )
            seconds = json.loads(out.split("RESULT=", 1)[1].splitlines()[0])["seconds"]
            times[name].append(seconds)
            say(f"overhead round {index + 1}/{rounds} {name}: {per_round} contacts {seconds:.1f}s")
    keys = common.sql(DB_OVH_ADDON, "SELECT count(*) FROM vpbx_partner_phone")[0][0]
    for name, rounds_s in times.items():
        seconds = sum(rounds_s)
        result[name] = {
            "seconds": round(seconds, 2),
            "contacts_per_s": round(total / seconds, 1),
            "rounds_s": [round(t, 2) for t in rounds_s],
        }
    result["key_rows"] = keys
    result["ratio"] = round(result["addon"]["seconds"] / result["base"]["seconds"], 3)
    common.drop_db(DB_OVH_BASE)
    common.drop_db(DB_OVH_ADDON)
    return result


# --------------------------------------------------------------------------- 6. purge

PURGE_CODE = """
import json, time
Pbx = env['vpbx.pbx'].sudo().with_context(active_test=False)
wall = time.time()
start, runs, events, calls = time.perf_counter(), 0, 0, 0
while True:
    removed = env['vpbx.retention']._cron_vpbx_purge()
    runs += 1
    events += sum(count[0] for count in removed.values())
    calls += sum(count[1] for count in removed.values())
    env.invalidate_all()
    if all(Pbx.search([]).mapped('retention_last_complete')):
        break
print('PURGE=' + json.dumps({'seconds': round(time.perf_counter() - start, 2), 'runs': runs,
      'events': events, 'calls': calls, 'window': [wall, time.time()]}))
"""


def _purge_data(db, n, seed=17):
    """`n` raw webhook events 35-95 days old, each linked to one of n/5 calls, by COPY:
    98.5 % processed (purged), 1 % failed and 0.5 % new (kept however old)."""
    rng = random.Random(seed)
    account = common.pbx_id(db)
    company = common.sql(db, "SELECT company_id FROM vpbx_pbx WHERE id = %s", [account])[0][0]
    numbers = [caller for _pid, caller in lookup_samples(db, 2000, seed=seed)]
    now = time.time()
    n_calls = max(1, n // 5)
    start = time.perf_counter()
    conn = common.connect(db, autocommit=False)
    try:
        with conn.cursor() as cur:
            calls = []
            for index in range(n_calls):
                at = time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime(now - rng.uniform(35, 95) * 86400)
                )
                number = rng.choice(numbers)
                calls.append(
                    (f"purge-{index}", account, company, "inbound", "answered", True, number,
                     "+" + number, at, 65, 1, at, 1, at)
                )  # fmt: skip
            common._copy(
                cur,
                "vpbx_call",
                ["vpbx_call_id", "pbx_id", "company_id", "direction", "status", "is_final",
                 "customer_number", "customer_number_normalized", "start_time", "duration",
                 "create_uid", "create_date", "write_uid", "write_date"],
                calls,
            )  # fmt: skip

            def events():
                for index in range(n):
                    call = calls[index % n_calls]
                    at = time.strftime(
                        "%Y-%m-%d %H:%M:%S", time.gmtime(now - rng.uniform(35, 95) * 86400)
                    )
                    roll = rng.random()
                    state = "failed" if roll < 0.01 else "new" if roll < 0.015 else "processed"
                    body = json.dumps(
                        {
                            "transaction_id": call[0],
                            "direction": "inbound",
                            "phone_number": call[6],
                            "sip_user": "9101",
                            "sip_number": "842888806669",
                            "disposition": "answered",
                            "time_start_call": int(now) - 86400 * 40,
                            "duration": 65,
                            "bill_sec": 60,
                            "recording_file_url": f"https://rec.example.com/{call[0]}.mp3",
                        }
                    )
                    yield (account, company, at, "application/json", body, state, call[0],
                           1, at, 1, at, 1, at)  # fmt: skip

            common._copy(
                cur,
                "vpbx_webhook_event",
                ["pbx_id", "company_id", "received_at", "content_type", "body", "state",
                 "vpbx_call_id", "attempt_count", "processed_at", "create_uid", "create_date",
                 "write_uid", "write_date"],
                events(),
            )  # fmt: skip
            cur.execute(
                "INSERT INTO vpbx_webhook_event_call_rel (event_id, call_id)"
                " SELECT e.id, c.id FROM vpbx_webhook_event e JOIN vpbx_call c"
                " ON c.pbx_id = e.pbx_id AND c.vpbx_call_id = e.vpbx_call_id"
                " WHERE e.vpbx_call_id LIKE 'purge-%%'"
            )
        conn.commit()
    finally:
        conn.close()
    common.sql(db, "ANALYZE vpbx_webhook_event")
    common.sql(db, "ANALYZE vpbx_webhook_event_call_rel")
    common.sql(db, "ANALYZE vpbx_call")
    return round(time.perf_counter() - start, 1)


def _timed_poster(url, log):
    """A load() target posting to `url` on a keep-alive connection per thread; appends
    ``(start, end, status)`` (time.time(), comparable with another process's) of each request
    to `log`."""
    import http.client
    import threading
    import urllib.parse

    parsed = urllib.parse.urlsplit(url)
    local = threading.local()

    def post(body):
        start = time.time()
        status = 0
        try:
            if getattr(local, "conn", None) is None:
                local.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            local.conn.request(
                "POST", parsed.path, json.dumps(body), {"Content-Type": "application/json"}
            )
            resp = local.conn.getresponse()
            resp.read()
            status = resp.status
        except Exception:  # counted as status 0
            local.conn = None
        log.append((start, time.time(), status))
        return status

    return post


def _latency_stats(entries):
    times = sorted(end - start for start, end, _status in entries)
    errors = sum(1 for *_times, status in entries if status == 0 or status >= 400)
    stats = _ms_stats(times) if times else {}
    return {**stats, "requests": len(entries), "errors": errors}


# --------------------------------------------------------------------------- dashboard

DASHBOARD_AGENTS_CODE = """
%(pbx_code)s
employees = env['hr.employee'].create([
    {'name': f'Agent {i}', 'vpbx_pbx_id': pbx.id, 'vpbx_extension': str(7000 + i)}
    for i in range(%(agents)d)
])
env.cr.commit()
print('EMPLOYEES=' + ','.join(str(e.id) for e in employees))
"""

DASHBOARD_CODE = r"""
import json, time
admin = env.ref('base.user_admin')
assert admin.has_group('sentech_vpbx.group_vpbx_manager')
Call = env['vpbx.call'].with_user(admin)
timings = {'kpis': [], 'by_agent': [], 'by_day': []}
domain = [('is_final', '=', True), ('start_time', '>=', '%(since)s'), ('direction', '=', 'inbound')]
figures = None
for _round in range(%(rounds)d):
    env.invalidate_all()
    t0 = time.perf_counter()
    figures = Call.vpbx_call_center(days=30)
    timings['kpis'].append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    Call.read_group(domain, ['answered_percent:avg', 'ring_duration:avg', 'callback_minutes:avg'],
                    ['employee_id'], lazy=False)
    timings['by_agent'].append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    Call.read_group(domain, ['__count'], ['start_time:day'], lazy=False)
    timings['by_day'].append((time.perf_counter() - t0) * 1000)
print('DASHBOARD=' + json.dumps({'timings': timings, 'figures': figures}))
"""


def _dashboard_data(db, n, employees, seed=23):
    """`n` finished calls over the last 365 days by COPY, with the stored measures the addon
    computes (answer rate, ring time, time to call back): 70 % inbound, of which ~22 % missed;
    of the missed, 60 % called back after 1-600 minutes."""
    rng = random.Random(seed)
    account = common.pbx_id(db)
    company = common.sql(db, "SELECT company_id FROM vpbx_pbx WHERE id = %s", [account])[0][0]
    numbers = [caller for _pid, caller in lookup_samples(db, 5000, seed=seed)]
    hotlines = ["842888806669", "842873001234", "842439998888", "19006868", "18001234"]
    now = time.time()
    start = time.perf_counter()
    conn = common.connect(db, autocommit=False)

    def rows():
        for index in range(n):
            started = now - rng.uniform(0, 365) * 86400
            at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started))
            inbound = rng.random() < 0.7
            answered = rng.random() < (0.78 if inbound else 0.6)
            ring = rng.randint(2, 25) if answered else rng.randint(5, 40)
            talk = rng.randint(10, 600) if answered else 0
            missed = inbound and not answered
            state = None
            if missed:
                state = "done" if rng.random() < 0.6 else "pending"
            minutes = round(rng.uniform(1, 600), 1) if state == "done" else None
            number = rng.choice(numbers)
            yield (
                f"dash-{index}", account, company, "inbound" if inbound else "outbound",
                "answered" if answered else "missed", True, number, "+" + number,
                rng.choice(employees), rng.choice(hotlines), at, ring + talk, talk,
                100 if answered else 0, ring, state, minutes, 1, at, 1, at,
            )  # fmt: skip

    try:
        with conn.cursor() as cur:
            common._copy(
                cur,
                "vpbx_call",
                ["vpbx_call_id", "pbx_id", "company_id", "direction", "status", "is_final",
                 "customer_number", "customer_number_normalized", "employee_id", "hotline",
                 "start_time", "duration", "talk_duration", "answered_percent", "ring_duration",
                 "callback_state", "callback_minutes", "create_uid", "create_date", "write_uid",
                 "write_date"],
                rows(),
            )  # fmt: skip
        conn.commit()
    finally:
        conn.close()
    common.sql(db, "ANALYZE vpbx_call")
    return round(time.perf_counter() - start, 1)


def bench_dashboard(quick):
    """The Call center at a million calls: its figures (``vpbx.call.vpbx_call_center``, the
    main view), and the analysis it opens (answer rate by agent, calls per day), as a manager,
    in one ``odoo-bin shell``: no HTTP, what the server spends."""
    n = 1_000_000 if not quick else 50_000
    common.create_db(DB_DASHBOARD, (common.MODULE,))
    common.generate_contacts(DB_DASHBOARD, 20000, seed=23)
    out = common.shell(
        DB_DASHBOARD, DASHBOARD_AGENTS_CODE % {"pbx_code": common.PBX_CODE, "agents": 50}
    )
    employees = [int(x) for x in out.split("EMPLOYEES=", 1)[1].split()[0].split(",")]
    setup_s = _dashboard_data(DB_DASHBOARD, n, employees)
    say(f"dashboard: {n:,} calls by COPY in {setup_s} s")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 30 * 86400))
    out = common.shell(DB_DASHBOARD, DASHBOARD_CODE % {"since": since, "rounds": 7}, timeout=900)
    data = json.loads(out.split("DASHBOARD=", 1)[1].splitlines()[0])
    result = {"calls": n, "setup_s": setup_s, "figures": data["figures"]}
    for name, measured in data["timings"].items():
        values = sorted(measured)
        result[name] = {
            "first_ms": round(measured[0], 1),
            "p50_ms": round(common.percentile(values, 50), 1),
            "max_ms": round(values[-1], 1),
        }
    say(
        f"dashboard: figures {result['kpis']['p50_ms']} ms (first {result['kpis']['first_ms']}),"
        f" by agent {result['by_agent']['p50_ms']} ms, by day {result['by_day']['p50_ms']} ms"
    )
    common.drop_db(DB_DASHBOARD)
    return result


def bench_purge(quick):
    n = 1_000_000 if not quick else 100_000
    rounds_n, senders = 300, 4
    common.create_db(DB_PURGE, (common.MODULE,))
    common.generate_contacts(DB_PURGE, 20000, seed=17)
    setup_s = _purge_data(DB_PURGE, n)
    kept_before = common.sql(
        DB_PURGE, "SELECT count(*) FROM vpbx_webhook_event WHERE state IN ('new', 'failed')"
    )[0][0]
    say(f"purge: {n:,} events set up by COPY in {setup_s} s ({kept_before} new/failed)")
    sim = common.simulator(api_key=SIM_KEY, seed=17)
    try:
        bodies = webhook_bodies(DB_PURGE, sim, 40 * rounds_n, seed=17)
    finally:
        sim.stop()
    result = {"events": n, "senders": senders, "setup_s": setup_s}
    with common.OdooServer(DB_PURGE, workers=2, max_cron_threads=0) as server:
        url = common.webhook_url(server, DB_PURGE)
        common.load(url, bodies[:30], concurrency=2)  # warm-up
        bodies = bodies[30:]
        baseline = []
        for _round in range(3):
            common.load(_timed_poster(url, baseline), bodies[:rounds_n], concurrency=senders)
            bodies = bodies[rounds_n:]
        import threading

        out = {}

        def purge():
            out["text"] = common.shell(DB_PURGE, PURGE_CODE, timeout=3600)

        thread = threading.Thread(target=purge)
        during = []
        thread.start()
        while thread.is_alive() and len(bodies) >= rounds_n:
            common.load(_timed_poster(url, during), bodies[:rounds_n], concurrency=senders)
            bodies = bodies[rounds_n:]
        thread.join()
    line = next(x for x in out["text"].splitlines() if x.startswith("PURGE="))
    purge = json.loads(line.split("=", 1)[1])
    begin, end = purge["window"]
    # only the requests sent and answered while the purge ran (not while odoo-bin shell loaded)
    inside = [entry for entry in during if entry[0] >= begin and entry[1] <= end]
    left = dict(common.sql(DB_PURGE, "SELECT state, count(*) FROM vpbx_webhook_event GROUP BY 1"))
    old_left = common.sql(
        DB_PURGE,
        "SELECT count(*) FROM vpbx_webhook_event WHERE vpbx_call_id LIKE 'purge-%%'"
        " AND state NOT IN ('new', 'failed')",
    )[0][0]
    result.update(
        purge_s=purge["seconds"],
        runs=purge["runs"],
        removed=purge["events"],
        per_s=round(purge["events"] / purge["seconds"]) if purge["seconds"] else None,
        kept_new_failed=kept_before,
        events_left=left,
        old_done_left=old_left,
        baseline=_latency_stats(baseline),
        during=_latency_stats(inside),
    )
    base95, during95 = result["baseline"].get("p95_ms"), result["during"].get("p95_ms")
    result["p95_ratio"] = round(during95 / base95, 2) if base95 and during95 else None
    say(
        f"purge: {purge['events']:,} events in {purge['seconds']} s ({purge['runs']} runs);"
        f" webhook p95 {base95} ms without, {during95} ms during ({result['p95_ratio']}x)"
    )
    common.drop_db(DB_PURGE)
    return result


# --------------------------------------------------------------------------- report


def targets(results):
    out = []
    lookups = results.get("lookup") or []
    if lookups:
        big, small = lookups[-1], lookups[0]
        out.append(
            (
                f"lookup p95 < 2 ms at {big['contacts']:,}",
                big["addon"]["p95_ms"] < 2,
                f"{big['addon']['p95_ms']} ms",
            )
        )
        growth50 = big["addon"]["p50_ms"] / small["addon"]["p50_ms"]
        growth95 = big["addon"]["p95_ms"] / small["addon"]["p95_ms"]
        out.append(
            (
                f"lookup growth {small['contacts']:,} -> {big['contacts']:,} <= 2x",
                max(growth50, growth95) <= 2,
                f"p50 {growth50:.2f}x, p95 {growth95:.2f}x",
            )
        )
        speed = big["suffix"]["p50_ms"] / big["addon"]["p50_ms"]
        out.append(
            (
                f">= 100x faster than suffix ILIKE at {big['contacts']:,} (p50)",
                speed >= 100,
                f"{speed:,.0f}x",
            )
        )
    ingest = results.get("ingest")
    for run in (ingest or {}).get("modes", []):
        name = _mode_name(ingest, run["mode"])
        worst = min(level["throughput_ratio"] or 0 for level in run["levels"])
        out.append(
            (f"{name}: answers >= 50% of /web/health req/s", worst >= 0.5, f"lowest {worst:.0%}")
        )
        four = next((lv for lv in run["levels"] if lv["senders"] == 4), None)
        if four and run["mode"] == _default_mode(ingest):
            share = _stored_ratio(four)
            out.append(
                (
                    f"{name}: stored calls/s >= 50% of /web/health req/s at 4 senders",
                    share is not None and share >= 0.5,
                    f"{four['stored_per_s']}/s = {share:.2%} of {four['health']['rps']}"
                    + (
                        f" (floor: {four['floor_rps']}/s = {_share(four.get('floor_ratio'))})"
                        if "floor_rps" in four
                        else ""
                    )
                    if share is not None
                    else "not drained",
                )
            )
        if four:
            out.append(
                (
                    f"{name}: webhook p95 <= 50 ms at 4 senders",
                    four["webhook"]["p95_ms"] <= 50,
                    f"{four['webhook']['p95_ms']} ms",
                )
            )
        errors = sum(level["webhook"]["errors"] for level in run["levels"])
        out.append((f"{name}: no webhook errors", errors == 0, str(errors)))
        out.append(
            (
                f"{name}: stored calls = unique ids sent"
                + (", each delivery processed once" if "delivery_attempts" in run else ""),
                _ingest_ok(run)
                if "delivery_attempts" in run
                else run["stored_calls"] == run["unique_ids_sent"] == run["new_calls"],
                _stored_figure(run),
            )
        )
    twonode = results.get("twonode")
    for run in (twonode or {}).get("runs", []):
        out.append(
            (
                f"{run['label']} on one database: calls stored = unique ids sent, 0 errors,"
                " each delivery processed once",
                _ingest_ok(run),
                f"{_stored_figure(run)}, {run['errors']} errors",
            )
        )
    if twonode and twonode.get("runs"):
        one, two = (run["levels"][0] for run in twonode["runs"])
        ratio = twonode["two_vs_one"]
        out.append(
            (
                f"two servers against one: stored calls/s at {twonode['senders']} senders",
                None,
                f"{ratio['stored_per_s']}x ({two['stored_per_s']} vs {one['stored_per_s']}/s;"
                f" webhook req/s {ratio['webhook_rps']}x, /web/health {ratio['health_rps']}x)",
            )
        )
    backfill = results.get("backfill")
    if backfill:
        out.append(
            (
                f"history import of {backfill['records']:,} records >= 1,000 records/s",
                (backfill["records_per_s"] or 0) >= 1000,
                f"{backfill['records_per_s']}/s",
            )
        )
        out.append(
            (
                "history import time <= 1.5x fetch-only",
                backfill["slowdown_vs_fetch"] is not None and backfill["slowdown_vs_fetch"] <= 1.5,
                f"{backfill['import_s']} s vs {backfill['fetch_s']} s"
                f" ({backfill['slowdown_vs_fetch']}x; fetch-only"
                f" {backfill['fetch_records_per_s']} records/s)",
            )
        )
    remote = (backfill or {}).get("remote")
    if remote:
        out.append(
            (
                f"history import time <= 1.5x fetch-only, each page {remote['latency_ms']} ms"
                " late (a PBX across the internet)",
                remote["slowdown_vs_fetch"] is not None and remote["slowdown_vs_fetch"] <= 1.5,
                f"{remote['import_s']} s vs {remote['fetch_s']} s"
                f" ({remote['slowdown_vs_fetch']}x)",
            )
        )
    backlog = results.get("backlog")
    if backlog:
        out.append(
            (
                f"backlog of {backlog['waiting']:,} drains with no time-out",
                bool(backlog["drain_s"]) and backlog["timeouts"] == 0,
                f"{backlog['drain_s']} s, {backlog['timeouts']} time-outs",
            )
        )
        out.append(
            (
                "backlog drains at a steady rate (no second without progress)",
                bool(backlog["drain_s"]) and backlog["longest_stall_s"] == 0,
                f"median {backlog['per_s_median']}/s, lowest {backlog['per_s_min']}/s,"
                f" longest stall {backlog['longest_stall_s']} s",
            )
        )
    live = results.get("live")
    for level in (live or {}).get("levels", []):
        if level["senders"] == 4 and level["popup_p95_ms"] is not None:
            out.append(
                (
                    "live: pop-up p95 <= 100 ms at 4 senders",
                    level["popup_p95_ms"] <= 100,
                    f"{level['popup_p95_ms']} ms",
                )
            )
    if live and live.get("levels"):
        worst = min(level["throughput_ratio"] or 0 for level in live["levels"])
        out.append(("live: >= 50% of /web/health throughput", worst >= 0.5, f"lowest {worst:.0%}"))
        missed = sum(level["events"] - level["notified"] for level in live["levels"])
        out.append(("live: every ringing event notified once", missed == 0, f"{missed} missed"))
    purge = results.get("purge")
    if purge:
        out.append(
            (
                f"purge of {purge['events']:,} events: webhook p95 within 1.5x",
                bool(purge["p95_ratio"]) and purge["p95_ratio"] <= 1.5,
                f"{purge['during']['p95_ms']} ms vs {purge['baseline']['p95_ms']} ms"
                f" ({purge['p95_ratio']}x)",
            )
        )
        out.append(
            (
                "purge keeps new and failed events, leaves no old done one",
                purge["old_done_left"] == 0
                and purge["events_left"].get("failed", 0) + purge["events_left"].get("new", 0)
                >= purge["kept_new_failed"],
                f"{purge['old_done_left']} old done left, {purge['kept_new_failed']} new/failed"
                " kept",
            )
        )
    dashboard = results.get("dashboard")
    if dashboard:
        out.append(
            (
                f"dashboard main view <= 1 s at {dashboard['calls']:,} calls",
                dashboard["kpis"]["max_ms"] <= 1000,
                f"{dashboard['kpis']['p50_ms']} ms p50, {dashboard['kpis']['max_ms']} ms max",
            )
        )
    route = results.get("route")
    for level in (route or {}).get("levels", []):
        if level["callers"] == 8:
            out.append(
                (
                    "route: p95 <= 15 ms at 8 callers, 0 errors",
                    level["route_p95_ms"] <= 15 and level["errors"] == 0,
                    f"{level['route_p95_ms']} ms, {level['errors']} errors",
                )
            )
    overhead = results.get("overhead")
    if overhead:
        out.append(
            (
                "create overhead ratio <= 1.15",
                overhead["ratio"] <= 1.15,
                f"{overhead['ratio']:.3f}",
            )
        )
    return out


def _default_mode(ingest):
    """The mode a new account gets, as the run read it; results of before the bench read it
    were measured when "immediate" was the default."""
    return (ingest or {}).get("default", "immediate")


def _mode_name(ingest, mode):
    return f"{mode} (default)" if mode == _default_mode(ingest) else mode


def _stored_ratio(level):
    """Calls stored per second (sending plus draining) over /web/health req/s, unrounded where
    both rates are known: at the line, 49.96 % is not 50 %."""
    if level.get("stored_per_s") and level["health"]["rps"]:
        return level["stored_per_s"] / level["health"]["rps"]
    return level.get("stored_ratio")


def _share(ratio):
    return "" if ratio is None else f"{ratio:.0%}"


def _stored_figure(run):
    text = (
        f"{run['stored_calls']} stored / {run['unique_ids_sent']} sent"
        f" / {run['new_calls']} new rows"
    )
    if "delivery_attempts" in run:
        text += (
            f"; {run['deliveries_sent']} deliveries, {run['processed_twice']} processed twice,"
            f" by [state, attempts, count] {run['delivery_attempts']}"
        )
    return text


def table(results):
    lines = []
    add = lines.append
    machine = results["machine"]

    def measured(section):
        info = (results.get("measured") or {}).get(section)
        if info:
            add(f"_Measured {info['date']}, load average then {info['load_avg']}._")
            add("")

    add(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM,"
        f" PostgreSQL {machine['postgresql']}, Python {machine['python']},"
        f" Odoo {machine['odoo']}, {machine['date']}. Load average (1/5/15 min) at the start"
        f" {machine['load_avg']}, at the end {results.get('load_avg_after')}"
        + (
            ": other work ran on the machine during the bench."
            if max(machine["load_avg"][0], (results.get("load_avg_after") or [0])[0])
            > (machine["cores"] or 1) * 0.75
            else "."
        )
    )
    add("")
    if results.get("lookup"):
        add("### Contact lookup (one caller number; ms per lookup)")
        add("")
        measured("lookup")
        add(
            "| contacts | addon p50 | addon p95 | suffix ILIKE p50 | suffix p95 |"
            " phone_mobile_search p50 | p95 | suffix/addon (p50) | odoo/addon (p50) |"
            " found: addon / suffix / odoo | lookups: addon / suffix / odoo |"
        )
        add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for row in results["lookup"]:
            a, s, o = row["addon"], row["suffix"], row["odoo"]
            add(
                f"| {row['contacts']:,} | {a['p50_ms']} | {a['p95_ms']} | {s['p50_ms']} |"
                f" {s['p95_ms']} | {o['p50_ms']} | {o['p95_ms']} |"
                f" {s['p50_ms'] / a['p50_ms']:,.0f}x | {o['p50_ms'] / a['p50_ms']:,.1f}x |"
                f" {a['hit_rate']:.0%} / {s['hit_rate']:.0%} / {o['hit_rate']:.0%} |"
                f" {a['n']} / {s['n']} / {o['n']} |"
            )
        add("")
    live = results.get("live")
    if live and live.get("levels"):
        add(
            f"### Live calls (pop-up latency, Odoo --workers={live['workers']},"
            f" {live['contacts']:,} contacts)"
        )
        add("")
        measured("live")
        add(
            "From the POST of a `ringing` event to its notification on a websocket logged in as"
            " the agent (the websocket on Odoo's gevent port); ringing events per second"
            " (keep-alive senders, as for /web/health) next to /web/health at the"
            " same concurrency. *Floor*: as many deliveries holding no record (`{}`) as"
            " /web/health's requests, sent once the websocket has had the ringing events'"
            " notifications, each stored raw and answered 400 *rejected*, nothing looked up or"
            " pushed: the cheapest delivery."
        )
        add("")
        add(
            "| senders | events | notified | pop-up p50 ms | pop-up p95 ms | events/s |"
            " /web/health req/s | events / health | floor/s | floor / health |"
        )
        add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for level in live["levels"]:
            add(
                f"| {level['senders']} | {level['events']} | {level['notified']} |"
                f" {level['popup_p50_ms']} | {level['popup_p95_ms']} | {level['live_rps']} |"
                f" {level['health_rps']} | {level['throughput_ratio']} |"
                f" {level.get('floor_rps')} | {level.get('floor_ratio')} |"
            )
        add("")
        with_cpu = [level for level in live["levels"] if level.get("cpu_ms")]
        if with_cpu:
            add(
                "CPU per request (core-ms, user + system) in the same run, by who spent it:"
                " Odoo's HTTP and cron workers, its websocket (gevent) process, PostgreSQL, and"
                " the bench (senders, the agent's websocket client). A ringing event's share"
                " counts the websocket sending its notification (measured until the last one"
                " arrived), which /web/health and the floor do not have."
            )
            add("")
            add(
                "| senders | request | workers | websocket | PostgreSQL | bench | total |"
                " total / health's |"
            )
            add("|---:|---|---:|---:|---:|---:|---:|---:|")
            for level in with_cpu:
                health_total = sum(level["cpu_ms"]["health"].values())
                for name in ("health", "floor", "ringing"):
                    cpu = level["cpu_ms"][name]
                    total = sum(cpu.values())
                    add(
                        f"| {level['senders']} | {name} | {cpu['workers']} |"
                        f" {cpu['websocket']} | {cpu['postgres']} | {cpu['client']} |"
                        f" {round(total, 2)} |"
                        f" {round(total / health_total, 2) if health_total else ''} |"
                    )
            add("")
    route = results.get("route")
    if route and route.get("levels"):
        add(
            f"### Ring-time routing (GET /vpbx/route, Odoo --workers={route['workers']},"
            f" {route['contacts']:,} contacts, {route['leads']:,} leads)"
        )
        add("")
        measured("route")
        add(
            "The PBX's routing request at ring time, callers from contacts', leads' and unknown"
            " numbers, keep-alive callers; /web/health with as many senders in the same run."
            " *Floor*: the same requests with a token no account has, answered (empty) and"
            " logged without looking anything up, the cheapest answer the route can give."
            f" Answers by reason: {route.get('answers')}; time inside Odoo (routing log,"
            f" floor excluded) p50/p95 {route.get('lookup_ms')} ms."
        )
        add("")
        add(
            "| callers | requests | route p50 ms | route p95 ms | route req/s | errors |"
            " floor p50 ms | floor p95 ms | floor req/s |"
            " /web/health p50 ms | /web/health p95 ms | /web/health req/s |"
        )
        add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for level in route["levels"]:
            add(
                f"| {level['callers']} | {level['requests']} | {level['route_p50_ms']} |"
                f" {level['route_p95_ms']} | {level['route_rps']} | {level['errors']} |"
                f" {level.get('floor_p50_ms')} | {level.get('floor_p95_ms')} |"
                f" {level.get('floor_rps')} |"
                f" {level['health_p50_ms']} | {level['health_p95_ms']} | {level['health_rps']} |"
            )
        add("")
    ingest = results.get("ingest")
    if ingest and ingest.get("modes"):
        has_floor = any("floor_rps" in lv for run in ingest["modes"] for lv in run["levels"])
        add(
            f"### Webhook ingestion (HTTP, Odoo --workers=2 --max-cron-threads=2,"
            f" {ingest['contacts']:,} contacts)"
        )
        add("")
        measured("ingest")
        add(
            "*immediate*: each delivery is processed before the answer;"
            " *queued*: answered once stored, the calls are stored by the queue's scheduled"
            " action (VPBX > Configuration > PBX accounts > Queue Webhook Deliveries);"
            f" *(default)*: the mode of a new account ({_default_mode(ingest)}"
            + (
                f", the default of `vpbx.pbx.{ingest['setting']}`)."
                if ingest.get("setting")
                else ")."
            )
            + " *drained*: seconds after the last answer until every delivery of the level was"
            " processed;"
            " *stored/s*: "
            + (
                "calls stored (unique ids) / (sending time + drained)"
                if any("stored_ratio" in lv for run in ingest["modes"] for lv in run["levels"])
                else "deliveries / (sending time + drained)"
            )
            + "; *webhook / health*: the answer rate over /web/health's at as many senders,"
            " *stored / health*: stored/s over /web/health's (the issue #18 figure at 4"
            " senders in the default mode). /web/health is measured just before and just after"
            " each level (a level is sent, then drained), the mean of the two rates."
            + (
                " *floor / health*: deliveries holding no record (`{}`) sent at the same level"
                " right after /web/health, each stored raw and answered 400 *rejected*,"
                " nothing processed: the cheapest delivery Odoo can take, the bound of any"
                " stored delivery's rate against /web/health."
                if has_floor
                else ""
            )
        )
        add("")
        add(
            "| mode | senders | webhook req/s | p50 ms | p95 ms | p99 ms | errors | drained s |"
            " stored/s | /web/health req/s | health p95 ms | webhook / health |"
            " stored / health |" + (" floor/s | floor / health |" if has_floor else "")
        )
        add(
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            + ("---:|---:|" if has_floor else "")
        )
        for run in ingest["modes"]:
            for level in run["levels"]:
                w, h = level["webhook"], level["health"]
                share = _stored_ratio(level)
                add(
                    f"| {_mode_name(ingest, run['mode'])} | {level['senders']} | {w['rps']} |"
                    f" {w['p50_ms']} | {w['p95_ms']} | {w['p99_ms']} | {w['errors']} |"
                    f" {level['drain_s']} | {level['stored_per_s']} | {h['rps']} |"
                    f" {h['p95_ms']} | {level['throughput_ratio']:.0%} |"
                    f" {'' if share is None else f'{share:.0%}'} |"
                    + (
                        f" {level.get('floor_rps', '')} | {_share(level.get('floor_ratio'))} |"
                        if has_floor
                        else ""
                    )
                )
        add("")
        for run in ingest["modes"]:
            add(
                f"- {_mode_name(ingest, run['mode'])}: unique call ids sent"
                f" {run['unique_ids_sent']} (plus ~5 % re-deliveries), calls stored"
                f" {run['stored_calls']}, new rows {run['new_calls']}, linked to a contact"
                f" {run['linked_calls']}; webhook events by state: {run['webhook_events']}"
                + (
                    f"; deliveries {run['deliveries_sent']}, processed more than once"
                    f" {run['processed_twice']}."
                    if "delivery_attempts" in run
                    else "."
                )
            )
        add("")
    twonode = results.get("twonode")
    if twonode and twonode.get("runs"):
        add(
            f"### Two servers on one database (queued, {twonode['senders']} senders,"
            f" {twonode['contacts']:,} contacts)"
        )
        add("")
        measured("twonode")
        add(
            f"Two `odoo-bin --workers={twonode['workers']}"
            f" --max-cron-threads={twonode['cron_threads']}` on the same database, the account"
            f" in queued mode, the {twonode['senders']} keep-alive senders dealt to them in turn"
            " (webhooks and /web/health alike), against one such server under the same load,"
            " each with calls of its own (~5 % re-delivered). *processed twice*: deliveries"
            " whose `attempt_count` is above 1."
        )
        add("")
        add(
            "| servers | webhook req/s | p50 ms | p95 ms | p99 ms | errors | drained s |"
            " stored/s | /web/health req/s | health p95 ms | stored / health |"
            " requests by server | calls stored / ids sent | processed twice |"
        )
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
        for run in twonode["runs"]:
            level = run["levels"][0]
            w, h = level["webhook"], level["health"]
            share = _stored_ratio(level)
            add(
                f"| {run['label']} | {w['rps']} | {w['p50_ms']} | {w['p95_ms']} |"
                f" {w['p99_ms']} | {w['errors']} | {level['drain_s']} |"
                f" {level['stored_per_s']} | {h['rps']} | {h['p95_ms']} |"
                f" {'' if share is None else f'{share:.0%}'} |"
                f" {level.get('requests_by_server') or w['requests']} |"
                f" {run['stored_calls']} / {run['unique_ids_sent']} | {run['processed_twice']} |"
            )
        add("")
        ratio = twonode["two_vs_one"]
        add(
            f"Two servers against one: webhook req/s {ratio['webhook_rps']}x, stored calls/s"
            f" {ratio['stored_per_s']}x, /web/health req/s {ratio['health_rps']}x."
        )
        add("")
    backfill = results.get("backfill")
    if backfill:
        add(f"### History backfill ({backfill['contacts']:,} contacts)")
        add("")
        measured("backfill")
        add(
            "| PBX answers a page | records | pages | import s | of which storing s | records/s"
            " | fetch-only s | fetch records/s | ratio |"
        )
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in (backfill, backfill.get("remote")):
            if not row:
                continue
            latency = (
                f"{row['latency_ms']} ms late" if row.get("latency_ms") else "at once (loopback)"
            )
            add(
                f"| {latency} | {row['records']} | {row['pages']} | {row['import_s']} |"
                f" {row.get('store_s', '')} | {row['records_per_s']} | {row['fetch_s']} |"
                f" {row['fetch_records_per_s']} | {row['slowdown_vs_fetch']}x |"
            )
        add("")
        if backfill.get("remote"):
            add(
                "While a page is stored the next one is fetched (`vpbx.pbx._vpbx_page_history`):"
                " an import takes about the longer of the two per page, not their sum. *of which"
                " storing*: seconds inside the pages' transactions; the rest of the import is"
                " waiting for a page still on its way. Against the simulator on loopback (a page"
                " in a few ms) storing is the longer; against a PBX whose pages take 100 ms to"
                " come, as across the internet, the two are close (second row, its own calls)."
            )
            add("")
        add(f"State {backfill['state']}, new calls {backfill['new']}, stored {backfill['stored']}.")
        if backfill.get("reimport_s") is not None:
            add(
                f"The same window imported again (every call stored already, new calls"
                f" {backfill['reimport_new']}): {backfill['reimport_s']} s,"
                f" {backfill['reimport_vs_fetch']}x the fetch-only time; the floor of the"
                " import, which fetches the same pages and writes nothing new."
            )
        if backfill.get("fetch_pbx"):
            fetch, done = backfill["fetch_pbx"], backfill["import_pbx"]
            add(
                f"A page of 50: fetch-only {fetch['ms_per_page']} ms, import"
                f" {done['ms_per_page']} ms; of which inside the simulator's handler"
                f" {fetch['pbx_ms_per_page']} / {done['pbx_ms_per_page']} ms. Token requests:"
                f" {fetch['token_requests']} while fetching, {done['token_requests']} while"
                " importing."
                + (
                    f" Fetch-only: the median of {len(backfill['fetch_rounds_s'])} passes"
                    f" ({', '.join(str(r) for r in backfill['fetch_rounds_s'])} s)."
                    if backfill.get("fetch_rounds_s")
                    else ""
                )
            )
        add("")
    backlog = results.get("backlog")
    if backlog:
        add(
            f"### Queue backlog ({backlog['contacts']:,} contacts,"
            f" {backlog.get('cron_workers', 1)} cron worker(s), limits {backlog['limits']})"
        )
        add("")
        measured("backlog")
        add(
            f"{backlog['deliveries']:,} deliveries sent in queued mode with no scheduled action"
            f" running ({backlog['send']['rps']} req/s, {backlog['send']['errors']} errors),"
            f" then drained by the queue's scheduled actions on {backlog.get('cron_workers', 1)}"
            " cron worker(s) beside 2 HTTP workers (the queue's first run wakes its second when"
            " it claims a full batch); *stall*: consecutive seconds without one delivery"
            " processed."
        )
        add("")
        add(
            "| queued | first progress after s | drained s | per s | median per s |"
            " lowest per s | longest stall s | time-outs | ERROR lines |"
        )
        add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        add(
            f"| {backlog['waiting']} | {backlog['first_progress_after_s']} |"
            f" {backlog['drain_s']} | {backlog['per_s']} |"
            f" {backlog['per_s_median']} | {backlog['per_s_min']} |"
            f" {backlog['longest_stall_s']} | {backlog['timeouts']} | {backlog['errors']} |"
        )
        add("")
        add(f"Events by state after the run: {backlog['events']}.")
        add("")
    overhead = results.get("overhead")
    if overhead:
        add(
            f"### Write overhead: ORM create of {overhead['contacts']:,} contacts"
            f" (batches of {overhead['batch']})"
        )
        add("")
        measured("overhead")
        add("| database | seconds | contacts/s | rounds (s) |")
        add("|---|---:|---:|---|")
        for name, label in (
            ("base", "hr contacts mail phone_validation"),
            ("addon", "+ sentech_vpbx"),
        ):
            row = overhead[name]
            add(
                f"| {label} | {row['seconds']} | {row['contacts_per_s']} |"
                f" {', '.join(str(t) for t in row['rounds_s'])} |"
            )
        add("")
        add(f"Ratio addon / base: **{overhead['ratio']:.3f}** ({overhead['key_rows']} key rows).")
        add("")
    purge = results.get("purge")
    if purge:
        add(f"### Retention purge ({purge['events']:,} raw webhook events, Odoo --workers=2)")
        add("")
        measured("purge")
        add(
            f"{purge['events']:,} events 35-95 days old (each linked to a call; 1 % failed and"
            " 0.5 % new, which stay) purged by `vpbx.retention._cron_vpbx_purge` in an"
            " odoo-bin shell, run after run as the scheduled action would be (5,000 rows per"
            " DELETE, a rest as long as the batch took after each, each run stops after its"
            " time budget); meanwhile webhook deliveries of new calls by"
            f" {purge['senders']} keep-alive senders, compared with the same load just before"
            " (only requests sent and answered while the purge ran count)."
        )
        add("")
        add(
            "| events removed | purge s | runs | events/s | webhook p50 / p95 ms without |"
            " with purge | p95 ratio | requests without / with | errors |"
        )
        add("|---:|---:|---:|---:|---|---|---:|---|---:|")
        b, d = purge["baseline"], purge["during"]
        add(
            f"| {purge['removed']:,} | {purge['purge_s']} | {purge['runs']} | {purge['per_s']} |"
            f" {b.get('p50_ms')} / {b.get('p95_ms')} | {d.get('p50_ms')} / {d.get('p95_ms')} |"
            f" {purge['p95_ratio']} | {b['requests']} / {d['requests']} |"
            f" {b['errors'] + d['errors']} |"
        )
        add("")
        add(f"Events by state after the purge: {purge['events_left']}.")
        add("")
    dashboard = results.get("dashboard")
    if dashboard:
        add(f"### Call center dashboard ({dashboard['calls']:,} calls)")
        add("")
        measured("dashboard")
        add(
            f"{dashboard['calls']:,} finished calls over the last 365 days (50 agents, 5"
            " hotlines, the stored measures as the addon computes them) by COPY; in one"
            " `odoo-bin shell` as a VPBX manager, 7 rounds with the ORM cache emptied: the"
            " dashboard's figures of the last 30 days (`vpbx.call.vpbx_call_center`, its main"
            " view: answer rate, missed not called back, median time to call back, calls per"
            " day), and the analysis it opens (inbound calls of 30 days by agent, by day)."
        )
        add("")
        add("| query | first ms | p50 ms | max ms |")
        add("|---|---:|---:|---:|")
        for key, label in (
            ("kpis", "figures (main view)"),
            ("by_agent", "answer rate, ring time, time to call back by agent"),
            ("by_day", "calls per day"),
        ):
            row = dashboard[key]
            add(f"| {label} | {row['first_ms']} | {row['p50_ms']} | {row['max_ms']} |")
        add("")
        add(f"Figures of the last 30 days: {dashboard['figures']}.")
        add("")
    if results.get("setup"):
        add("### Data set-up")
        add("")
        for line in results["setup"]:
            add(f"- {line}")
        add("")
    add("### Targets")
    add("")
    add("| target | met | figure |")
    add("|---|---|---|")
    for name, met, figure in targets(results):
        add(f"| {name} | {'—' if met is None else 'yes' if met else '**NO**'} | {figure} |")
    return "\n".join(lines)


SETUP_LABEL = re.compile(r"^(?P<sections>[a-z/]+) section \(([0-9-]+)\), its own database: ")


def merged_setup(old_lines, measured_now, lines):
    """The data set-up lines of the sections a merged run keeps, then this run's.

    A line of an earlier merged run says which sections its database served; a run's lines are
    kept while one of those sections still shows that run's figures, so each run replaces the
    lines of the sections it measured again instead of adding to them.
    """
    runs = []  # [(sections, lines)], oldest first
    for line in old_lines:
        match = SETUP_LABEL.match(line)
        # an unlabelled line: the full run the first results came from
        sections = set(match["sections"].split("/")) if match else set(SECTIONS)
        text = line[match.end() :] if match else line
        if not runs or runs[-1][0] != sections or text.startswith("database with"):
            runs.append((sections, []))
        runs[-1][1].append(line)
    covered = set(measured_now)
    kept = []
    for sections, run_lines in reversed(runs):
        if sections - covered:
            kept = run_lines + kept
        covered |= sections
    label = f"{'/'.join(measured_now)} section ({time.strftime('%Y-%m-%d')}), its own database"
    return kept + [f"{label}: {line}" for line in lines]


def main():
    parser = argparse.ArgumentParser(prog="./dev bench", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--only", default="lookup,ingest,twonode,backfill,overhead,live,purge,dashboard,route"
    )
    parser.add_argument(
        "--backfill-records",
        type=int,
        default=None,
        help=f"history records of the backfill section (default {BACKFILL_RECORDS:,};"
        " 1,000 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the main database")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the sections of the previous results.json this run does not measure",
    )
    parser.add_argument(
        "--no-results", action="store_true", help="do not rewrite results.json / RESULTS.md"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.quick:
        sizes = [1000, 5000, 20000]
    only = set(args.only.split(","))
    started = time.time()
    results = {
        "machine": common.machine_info(),
        "args": sys.argv[1:],
        "setup": [],
        "measured": {},
    }

    def stamp(section):
        results["measured"][section] = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "load_avg": [round(v, 2) for v in os.getloadavg()],
        }

    if only & {"lookup", "ingest", "twonode", "backfill", "backlog", "live", "route"}:
        seconds = common.create_db(DB_MAIN, MAIN_MODULES)
        results["setup"].append(
            f"database with {', '.join(MAIN_MODULES)} created in {seconds:.0f} s"
        )
        results["machine"] = common.machine_info(DB_MAIN)
        have = 0
        results["lookup"] = [] if "lookup" in only else None
        for size in sorted(sizes):
            info = common.generate_contacts(DB_MAIN, size - have, seed=size)
            have = size
            line = (
                f"{size:,} contacts: COPY {info['copy_s']} s, key table"
                f" ({info.get('keys', 0):,} rows, computed with services/phone.py, COPY)"
                f" {info.get('keys_s')} s, ANALYZE {info['analyze_s']} s"
            )
            results["setup"].append(line)
            say(line)
            if "lookup" in only:
                row = bench_lookup(DB_MAIN, size, args.quick)
                results["lookup"].append(row)
                stamp("lookup")
                say(
                    f"lookup {size:,}: addon p95 {row['addon']['p95_ms']} ms,"
                    f" suffix p95 {row['suffix']['p95_ms']} ms,"
                    f" odoo p95 {row['odoo']['p95_ms']} ms"
                )
        if only & {"ingest", "twonode", "backfill", "backlog", "live", "route"}:
            line = f"VACUUM (ANALYZE) after the load: {common.settle(DB_MAIN)} s"
            results["setup"].append(line)
            say(line)
        if "ingest" in only:
            results["ingest"] = bench_ingest(DB_MAIN, have, args.quick)
            stamp("ingest")
        if "twonode" in only:
            results["twonode"] = bench_twonode(DB_MAIN, have, args.quick)
            stamp("twonode")
        if "backfill" in only:
            results["backfill"] = bench_backfill(
                DB_MAIN, have, args.quick, records=args.backfill_records
            )
            results["backfill"]["remote"] = bench_backfill(
                DB_MAIN,
                have,
                args.quick,
                records=REMOTE_RECORDS if not args.quick else 500,
                latency=REMOTE_LATENCY,
                seed=10,
            )
            stamp("backfill")
            remote = results["backfill"]["remote"]
            say(
                f"backfill, each page {remote['latency_ms']} ms late: import"
                f" {remote['records_per_s']} records/s, fetch-only"
                f" {remote['fetch_records_per_s']} records/s, import/fetch"
                f" {remote['slowdown_vs_fetch']}x"
            )
            backfill = results["backfill"]
            say(
                f"backfill: {backfill['records']} records, import {backfill['records_per_s']}"
                f" records/s; fetch-only {backfill['fetch_records_per_s']} records/s"
                f" ({backfill['fetch_pbx']['ms_per_page']} ms a page, of which the simulator"
                f" {backfill['fetch_pbx']['pbx_ms_per_page']} ms); import/fetch"
                f" {backfill['slowdown_vs_fetch']}x (again, nothing new:"
                f" {backfill.get('reimport_vs_fetch')}x); token requests: fetch"
                f" {backfill['fetch_pbx']['token_requests']}, import"
                f" {backfill['import_pbx']['token_requests']}"
            )
        if "backlog" in only:
            results["backlog"] = bench_backlog(DB_MAIN, have, args.quick)
            stamp("backlog")
        if "live" in only:
            results["live"] = bench_live(DB_MAIN, have, args.quick)
            stamp("live")
        if "route" in only:
            results["route"] = bench_route(DB_MAIN, have, args.quick)
            stamp("route")
        if not args.keep:
            common.drop_db(DB_MAIN)
    if "purge" in only:
        results["purge"] = bench_purge(args.quick)
        stamp("purge")
        results["setup"].append(
            f"20,000 contacts, {results['purge']['events']:,} events"
            f" and their calls by COPY in {results['purge']['setup_s']} s"
        )
    if "dashboard" in only:
        results["dashboard"] = bench_dashboard(args.quick)
        stamp("dashboard")
        results["setup"].append(
            f"20,000 contacts, {results['dashboard']['calls']:,} calls by COPY in"
            f" {results['dashboard']['setup_s']} s"
        )
    if "overhead" in only:
        results["overhead"] = bench_overhead(args.quick)
        stamp("overhead")
        say(f"overhead ratio {results['overhead']['ratio']}")
    results = {k: v for k, v in results.items() if v is not None}
    old_path = HERE / "results.json"
    if args.merge and old_path.exists():
        # keep the sections this run did not measure (each keeps its own date and load)
        old = json.loads(old_path.read_text(encoding="utf-8"))
        measured_now = [section for section in SECTIONS if section in results]
        for section in SECTIONS:
            if section not in results and section in old:
                results[section] = old[section]
                results["measured"][section] = old.get("measured", {}).get(section)
        results["setup"] = merged_setup(old.get("setup", []), measured_now, results["setup"])
    results["total_s"] = round(time.time() - started, 1)
    results["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    text = table(results)
    print()
    print(text)
    if args.no_results:
        return 0
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    # the hand-written analysis below "## Notes" survives a new run
    previous = HERE / "RESULTS.md"
    notes = ""
    if previous.exists() and NOTES_MARK in previous.read_text(encoding="utf-8"):
        notes = NOTES_MARK + previous.read_text(encoding="utf-8").split(NOTES_MARK, 1)[1]
    previous.write_text(
        "# Benchmark results\n\n"
        f"Latest `./dev bench {' '.join(sys.argv[1:])}` (total {results['total_s']:.0f} s);"
        " raw figures in `results.json`. Everything above *Notes* is rewritten by every run.\n\n"
        + text
        + "\n\n"
        + notes,
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
