"""Shared infrastructure of the benchmarks (``bench/run.py``) and the soak script.

Runs inside the virtualenv that ``./dev bench`` prepares, with these environment variables
(set by ``./dev bench``; a script of its own sets them the same way):

- ``VPBX_ODOO_SRC``  Odoo 18.0 source tree (default ``~/.cache/odoo-src/18.0``)
- ``VPBX_ADDONS``    addons folder holding the ``sentech_vpbx`` link
- ``VPBX_DB_ARGS``   JSON list of odoo-bin ``--db_*`` arguments of the throwaway PostgreSQL

Nothing here imports Odoo: databases are reached with psycopg2, Odoo runs as ``odoo-bin``
subprocesses (``sys.executable`` is the venv's Python).

API (stable; other scripts rely on it)
--------------------------------------
Paths and commands
    ``ROOT``, ``ODOO_SRC``, ``ADDONS``, ``DB_ARGS``, ``MODULE``; ``addons_path()``;
    ``odoo_cmd(*args, sub=None)`` -> argv list for odoo-bin (``sub="shell"`` for the shell).
Databases
    ``connect(db, autocommit=True)`` -> psycopg2 connection;
    ``sql(db, query, params=None)`` -> list of rows (``[]`` for statements without a result);
    ``db_exists(name)``, ``drop_db(name)``;
    ``create_db(name, modules=("sentech_vpbx",), demo=False, drop=True, log=None)`` installs
    the modules with ``odoo-bin -i`` (``--without-demo=all`` unless ``demo``); returns seconds;
    ``clone_db(src, dst)`` copies a database (``CREATE DATABASE ... TEMPLATE``), fast.
    ``shell(db, code, timeout=None)`` runs ``code`` in ``odoo-bin shell`` (``env`` is defined;
    nothing is committed unless the code calls ``env.cr.commit()``); returns stdout, raises
    ``ShellError`` (with the output) on a non-zero exit.
Data
    ``generate_contacts(db, n, seed=1, key_table=True)`` inserts ``n`` contacts with COPY
    (Vietnamese names; phone/mobile in mixed formats: ``0912 345 678``, ``+84 912 345 678``,
    ``84912345678``, ``091.234.5678``, old 11-digit mobiles ``0168 ...``, new and pre-2017 area
    codes ``(028) ...``/``(08) ...``; about 8 % without number, 35 % with both), then (when
    ``key_table`` and the addon is installed) fills ``vpbx_partner_phone`` exactly as the addon's
    ``_vpbx_rebuild`` does (same ``services.phone.phone_keys``, same rows) by COPY, and ANALYZEs.
    Returns ``{"contacts", "keys", "copy_s", "keys_s", "analyze_s", "first_id", "last_id"}``;
    call it again to grow the database (new ids follow; only their keys are computed).
    ``contact_numbers(db, limit, seed=1)`` -> sample of ``(partner_id, phone, mobile)``.
    ``fill_phone_keys(db)`` recomputes the key table for every contact (COPY); returns rows.
    ``phone_keys(number, region="VN")`` the addon's own function (``services/phone.py``).
    ``caller_number(written)`` the number as the PBX sends it (``84912345678``) or None.
Odoo server
    ``OdooServer(db, workers=2, extra_args=(), port=None, log_path=None, max_cron_threads=0)``
    serves `db` alone (``-d`` without ``--db-filter``, unless ``VPBX_BENCH_DBFILTER`` is set);
    several may serve the same database at once (each has ports of its own, from
    ``free_port()``, which never hands out a port twice, and a log named after its port;
    Odoo writes no pid file unless told to); context manager; ``.start(timeout=120)`` waits
    for ``/web/health``; ``.stop()`` (SIGTERM, then SIGKILL after 30 s); ``.restart()``;
    ``.url``; ``.port``; ``.pid``;
    ``.gevent_port`` (the websocket's under --workers; ``.wait_gevent()`` until it listens);
    ``.worker_pids()`` (HTTP/cron workers, not the gevent process); ``.kill_worker(sig=SIGKILL)``
    kills one worker and returns its pid (the prefork master spawns a new one);
    ``.alive()``; ``.log_path``; ``.cpu_seconds()`` CPU seconds so far by kind (workers,
    websocket, postgres, client): the difference over a phase, per request, says who paid.
PBX account
    ``PBX_CODE`` odoo-bin shell code defining ``pbx``: the main company's first PBX account,
    created (named "Bench") when there is none, since benchmark databases have no demo data;
    not committed. ``pbx_id(db)`` the id of that account, created and committed when missing.
    ``webhook_url(server, db)`` ensures that account has a webhook token and ``web.base.url``
    points at the server; returns ``<server.url>/vpbx/webhook/<token>``.
HTTP load
    ``load(target, bodies=None, concurrency=1, n=None, method=None, headers=None,
    timeout=30)``: ``target`` is a URL (keep-alive ``http.client`` connection per thread) or a
    callable ``f(body) -> status``; ``bodies`` a list of dict/str/bytes (dicts are sent as
    JSON); without bodies, ``n`` GET requests. Returns ``{"requests", "concurrency",
    "seconds", "rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "statuses": {code: count},
    "errors": count, "error_samples": [...]}`` (status 0 = connection error or exception).
    ``percentile(sorted_values, p)``.
Simulator and machine
    ``simulator_module()`` imports ``tools/vpbx_simulator.py``;
    ``simulator(**kw)`` a started ``VpbxSimulator`` (stop it, or use it as a context manager).
    ``machine_info(db=None)`` CPU model, cores, RAM, PostgreSQL/Python/Odoo versions, date, load.
"""
# pylint: disable=print-used,sql-injection

import contextlib
import datetime
import hashlib
import http.client
import importlib
import importlib.util
import io
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
MODULE = "sentech_vpbx"
ODOO_SRC = Path(
    os.environ.get("VPBX_ODOO_SRC", Path.home() / ".cache" / "odoo-src" / "18.0")
).expanduser()
# default: the link folder ./dev makes (same rule as dev's addons_dir())
ADDONS = Path(
    os.environ.get("VPBX_ADDONS")
    or Path.home()
    / ".cache"
    / "sentech_vpbx"
    / f"addons-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
)
DB_ARGS = json.loads(os.environ.get("VPBX_DB_ARGS", "[]"))


class ShellError(RuntimeError):
    """odoo-bin (shell or install) exited with an error; ``output`` holds what it printed."""

    def __init__(self, message, output=""):
        super().__init__(f"{message}\n{output[-4000:]}")
        self.output = output


# --------------------------------------------------------------------------- paths / commands


def addons_path():
    return f"{ODOO_SRC / 'addons'},{ADDONS}"


def odoo_cmd(*args, sub=None):
    return [
        sys.executable,
        str(ODOO_SRC / "odoo-bin"),
        *([sub] if sub else []),
        f"--addons-path={addons_path()}",
        *DB_ARGS,
        *args,
    ]


def _db_params():
    params = {}
    for arg in DB_ARGS:
        key, _, value = arg.lstrip("-").partition("=")
        key = key.replace("-", "_")
        mapping = {
            "db_host": "host",
            "db_port": "port",
            "db_user": "user",
            "db_password": "password",
        }
        if key in mapping:
            params[mapping[key]] = value
    return params


# --------------------------------------------------------------------------- databases


def connect(db, autocommit=True):
    conn = psycopg2.connect(dbname=db, **_db_params())
    conn.autocommit = autocommit
    return conn


def sql(db, query, params=None):
    conn = connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def db_exists(name):
    return bool(sql("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [name]))


def settle(db, timeout=300):
    """VACUUM (ANALYZE) `db`, then wait until no autovacuum worker runs on it; returns the
    seconds taken. After a bulk load (COPY of a million contacts, an UPDATE of a third of
    them) autovacuum would otherwise start during the measurement and take one of the
    machine's two cores from the server measured: figures of a settled database, as a
    production one is."""
    start = time.monotonic()
    sql(db, "VACUUM (ANALYZE)")
    while time.monotonic() - start < timeout:
        busy = sql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = %s AND backend_type = 'autovacuum worker'",
            [db],
        )[0][0]
        if not busy:
            break
        time.sleep(1)
    return round(time.monotonic() - start, 1)


def drop_db(name):
    if db_exists(name):
        sql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid != pg_backend_pid()",
            [name],
        )
        sql("postgres", f'DROP DATABASE "{name}"')


def clone_db(src, dst):
    drop_db(dst)
    sql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid != pg_backend_pid()",
        [src],
    )
    sql("postgres", f'CREATE DATABASE "{dst}" TEMPLATE "{src}"')


def create_db(name, modules=(MODULE,), demo=False, drop=True, log=None):
    """Create `name` with `modules` installed by odoo-bin; returns the seconds it took."""
    if drop:
        drop_db(name)
    modules = [modules] if isinstance(modules, str) else list(modules)
    cmd = odoo_cmd(
        "-d",
        name,
        "-i",
        ",".join(modules),
        "--stop-after-init",
        "--no-http",
        "--max-cron-threads=0",
        "--log-level=warn",
        *([] if demo else ["--without-demo=all"]),
    )
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if log:
        Path(log).write_text(res.stdout + res.stderr, encoding="utf-8")
    if res.returncode != 0:
        raise ShellError(f"odoo-bin -i {modules} on {name} failed", res.stdout + res.stderr)
    return time.perf_counter() - start


def shell(db, code, timeout=None):
    """Run `code` in `odoo-bin shell` on `db`; returns its stdout."""
    res = subprocess.run(
        odoo_cmd("-d", db, "--no-http", "--log-level=warn", "--max-cron-threads=0", sub="shell"),
        input=code,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if res.returncode != 0 or "Traceback (most recent call last)" in res.stderr:
        raise ShellError(f"odoo-bin shell on {db} failed", res.stdout + res.stderr)
    return res.stdout


# --------------------------------------------------------------------------- addon code


def _load_services(submodule="phone"):
    name = "_vpbx_bench_services"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name,
            ROOT / "services" / "__init__.py",
            submodule_search_locations=[str(ROOT / "services")],
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.{submodule}")


def phone_keys(number, region="VN"):
    return _load_services().phone_keys(number, region)


def caller_number(written):
    """The number a contact written `written` calls from, as the PBX sends it (``84...``).

    The last key is today's number of an old form (``0168 ...``, ``(08) 3823 ...``); None when
    the written number is not Vietnamese.
    """
    keys = phone_keys(written)
    return keys[-1][1:] if keys and keys[-1].startswith("+84") else None


def simulator_module():
    name = "_vpbx_bench_simulator"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "vpbx_simulator.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def simulator(**kw):
    return simulator_module().VpbxSimulator(**kw).start()


# --------------------------------------------------------------------------- contacts

_LAST = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ")
_MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quốc", "Thu", "Đức", "Kim")
_FIRST = ("An", "Bình", "Châu", "Dũng", "Hà", "Hùng", "Lan", "Long", "Mai", "Nam", "Trang", "Tú")
_MOBILE = (
    "090", "091", "093", "094", "096", "097", "098", "032", "033", "034", "035", "036", "037",
    "038", "039", "070", "076", "077", "078", "079", "081", "082", "083", "084", "085", "056",
    "058", "086", "088", "089", "099",
)  # fmt: skip
_OLD_MOBILE = ("0168", "0169", "0123", "0126", "0162", "0163", "0188", "0121", "0128", "0199")
_LANDLINE = (("028", 8), ("024", 8), ("0236", 7), ("0251", 7), ("0225", 7), ("0292", 7))
_OLD_LANDLINE = (("08", 8), ("04", 8), ("0511", 7), ("061", 7), ("031", 7), ("071", 7))


def _mobile(rng):
    national = rng.choice(_MOBILE) + f"{rng.randrange(10**7):07d}"
    style = rng.randrange(7)
    if style == 0:
        return national
    if style == 1:
        return f"{national[:4]} {national[4:7]} {national[7:]}"
    if style == 2:
        return f"+84 {national[1:4]} {national[4:7]} {national[7:]}"
    if style == 3:
        return "84" + national[1:]
    if style == 4:
        return f"{national[:4]}.{national[4:7]}.{national[7:]}"
    if style == 5:
        return f"(+84) {national[1:]}"
    return f"{national[:4]}-{national[4:7]}-{national[7:]}"


def _number(rng):
    kind = rng.random()
    if kind < 0.70:
        return _mobile(rng)
    if kind < 0.80:
        sub = f"{rng.randrange(10**7):07d}"
        return f"{rng.choice(_OLD_MOBILE)} {sub[:3]} {sub[3:]}"
    code, size = rng.choice(_LANDLINE if kind < 0.92 else _OLD_LANDLINE)
    sub = str(rng.randint(2, 9)) + f"{rng.randrange(10 ** (size - 1)):0{size - 1}d}"
    if rng.random() < 0.5:
        return f"({code}) {sub[:-4]} {sub[-4:]}"
    return f"{code} {sub[:-4]} {sub[-4:]}"


def _copy_escape(value):
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _copy(cur, table, columns, rows, chunk=200000):
    """COPY `rows` (tuples) into `table` in chunks; returns the row count."""
    count = 0
    buf = io.StringIO()
    pending = 0

    def flush():
        buf.seek(0)
        cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)
        buf.seek(0)
        buf.truncate()

    for row in rows:
        buf.write("\t".join(_copy_escape(v) for v in row))
        buf.write("\n")
        pending += 1
        count += 1
        if pending >= chunk:
            flush()
            pending = 0
    if pending:
        flush()
    return count


def _has_table(cur, table):
    cur.execute("SELECT to_regclass(%s)", [table])
    return cur.fetchone()[0] is not None


def generate_contacts(db, n, seed=1, key_table=True):
    """Insert `n` contacts by COPY (see the module docstring); returns timings and counts."""
    rng = random.Random(seed)
    conn = connect(db, autocommit=False)
    info = {"contacts": n}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM res_country WHERE code = 'VN'")
            vn_id = cur.fetchone()[0]
            cur.execute("SELECT id FROM res_users WHERE login = '__system__'")
            uid = cur.fetchone()[0]
            cur.execute("SELECT nextval('res_partner_id_seq')")
            first = cur.fetchone()[0] + 1
            last = first + n - 1
            cur.execute("SELECT setval('res_partner_id_seq', %s)", [last])
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name ="
                " 'res_partner' AND is_nullable = 'NO' AND column_default IS NULL"
            )
            required = {r[0] for r in cur.fetchall()}
            columns = [
                "id", "name", "complete_name", "active", "type", "is_company",
                "commercial_partner_id", "lang", "country_id", "phone", "mobile",
                "create_uid", "write_uid", "create_date", "write_date",
            ]  # fmt: skip
            missing = required - set(columns)
            if missing:
                raise RuntimeError(f"res_partner has NOT NULL columns not filled: {missing}")
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()

            def rows():
                for pid in range(first, last + 1):
                    name = f"{rng.choice(_LAST)} {rng.choice(_MIDDLE)} {rng.choice(_FIRST)}"
                    is_company = rng.random() < 0.1
                    if is_company:
                        name = f"Công ty TNHH {name} {pid}"
                    roll = rng.random()
                    phone = mobile = None
                    if roll < 0.92:
                        if roll < 0.35:
                            phone, mobile = _number(rng), _mobile(rng)
                        elif roll < 0.70:
                            mobile = _number(rng)
                        else:
                            phone = _number(rng)
                    country = vn_id if rng.random() < 0.6 else None
                    yield (
                        pid, name, name, "t", "contact", "t" if is_company else "f", pid,
                        "vi_VN", country, phone, mobile, uid, uid, now, now,
                    )  # fmt: skip

            start = time.perf_counter()
            _copy(cur, "res_partner", columns, rows())
            conn.commit()
            info["copy_s"] = round(time.perf_counter() - start, 2)
            info["first_id"], info["last_id"] = first, last
            has_keys = _has_table(cur, "vpbx_partner_phone")
        if key_table and has_keys:
            start = time.perf_counter()
            info["keys"] = _fill_keys(conn, first, last)
            info["keys_s"] = round(time.perf_counter() - start, 2)
        with conn.cursor() as cur:
            conn.commit()
            conn.autocommit = True
            start = time.perf_counter()
            cur.execute("ANALYZE res_partner")
            if has_keys:
                cur.execute("ANALYZE vpbx_partner_phone")
            info["analyze_s"] = round(time.perf_counter() - start, 2)
    finally:
        conn.close()
    return info


def _fill_keys(conn, first_id, last_id, batch=50000):
    """Key rows for contacts first_id..last_id: the same rows as VpbxPartnerPhone._vpbx_rebuild.

    The addon's own query and row builder (``services/partner_keys.py``); written by COPY
    instead of batched INSERTs.
    """
    partner_keys = _load_services("partner_keys")
    total = 0
    last = first_id - 1
    with conn.cursor() as read, conn.cursor() as write:
        while True:
            read.execute(partner_keys.CONTACT_NUMBERS_QUERY, [last, last_id, batch])
            found = read.fetchall()
            if not found:
                break
            total += _copy(
                write,
                "vpbx_partner_phone",
                ("partner_id", "company_id", "key", "field", "rank"),
                partner_keys.rows_of_contacts(found),
            )
            last = found[-1][0]
    conn.commit()
    return total


def generate_leads(db, n, owners, seed=1):
    """Insert `n` open leads and opportunities by COPY, with their key rows (the addon's own
    ``services/lead_keys.py``, as ``vpbx.lead.phone._vpbx_rebuild``): half are opportunities of
    random contacts carrying the contact's number, half leads with numbers of their own; each
    has one of the users `owners` as salesperson. Returns timings and counts."""
    rng = random.Random(seed)
    lead_keys = _load_services("lead_keys")
    conn = connect(db, autocommit=False)
    info = {"leads": n}
    try:
        with conn.cursor() as cur:
            # without demo data there may be no stage: a lead without a stage is open too
            cur.execute("SELECT id FROM crm_stage WHERE NOT is_won ORDER BY sequence, id LIMIT 1")
            stage = (cur.fetchone() or [None])[0]
            cur.execute("SELECT id FROM res_users WHERE login = '__system__'")
            uid = cur.fetchone()[0]
            cur.execute("SELECT id FROM res_company ORDER BY id LIMIT 1")
            company = cur.fetchone()[0]
            cur.execute(
                "SELECT id, COALESCE(mobile, phone) FROM res_partner TABLESAMPLE SYSTEM (20)"
                " WHERE COALESCE(mobile, phone) IS NOT NULL LIMIT %s",
                [n // 2],
            )
            partners = cur.fetchall()
            cur.execute("SELECT nextval('crm_lead_id_seq')")
            first = cur.fetchone()[0] + 1
            last = first + n - 1
            cur.execute("SELECT setval('crm_lead_id_seq', %s)", [last])
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name ="
                " 'crm_lead' AND is_nullable = 'NO' AND column_default IS NULL"
            )
            required = {r[0] for r in cur.fetchall()}
            columns = [
                "id", "name", "type", "active", "company_id", "stage_id", "user_id",
                "partner_id", "phone", "probability", "expected_revenue", "priority",
                "create_uid", "write_uid", "create_date", "write_date",
            ]  # fmt: skip
            missing = required - set(columns)
            if missing:
                raise RuntimeError(f"crm_lead has NOT NULL columns not filled: {missing}")
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

            def rows():
                for index, lead_id in enumerate(range(first, last + 1)):
                    partner_id, phone = (None, _mobile(rng))
                    kind = "lead"
                    if index < len(partners):
                        (partner_id, phone), kind = partners[index], "opportunity"
                    moment = (now - datetime.timedelta(minutes=rng.randrange(10**6))).isoformat()
                    yield (
                        lead_id, f"Cơ hội {lead_id}", kind, "t", company, stage,
                        rng.choice(owners), partner_id, phone, 10, rng.randrange(10**8), "0",
                        uid, uid, moment, moment,
                    )  # fmt: skip

            start = time.perf_counter()
            _copy(cur, "crm_lead", columns, rows())
            conn.commit()
            info["copy_s"] = round(time.perf_counter() - start, 2)
            start = time.perf_counter()
            total, cursor_id = 0, first - 1
            while True:
                cur.execute(lead_keys.LEAD_NUMBERS_QUERY, [cursor_id, last, 50000])
                found = cur.fetchall()
                if not found:
                    break
                with conn.cursor() as write:
                    total += _copy(
                        write,
                        "vpbx_lead_phone",
                        ("lead_id", "key", "field", "rank"),
                        lead_keys.rows_of_leads(found),
                    )
                cursor_id = found[-1][0]
            conn.commit()
            info["keys"], info["keys_s"] = total, round(time.perf_counter() - start, 2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE crm_lead")
            cur.execute("ANALYZE vpbx_lead_phone")
    finally:
        conn.close()
    return info


def fill_phone_keys(db):
    """Recompute the whole key table (like ``_vpbx_rebuild``) with COPY; returns the rows."""
    conn = connect(db, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM vpbx_partner_phone")
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM res_partner")
            top = cur.fetchone()[0]
        rows = _fill_keys(conn, 1, top)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE vpbx_partner_phone")
        return rows
    finally:
        conn.close()


def contact_numbers(db, limit, seed=1):
    """A random sample of (partner_id, phone, mobile) of contacts that have a number."""
    return sql(
        db,
        "SELECT id, phone, mobile FROM res_partner TABLESAMPLE BERNOULLI (%s) REPEATABLE (%s)"
        " WHERE COALESCE(phone, '') != '' OR COALESCE(mobile, '') != '' LIMIT %s",
        [min(100.0, max(0.01, 100.0 * limit * 3 / max(1, _count(db)))), seed, limit],
    )


def _count(db):
    return (
        sql(db, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'res_partner'")[0][0]
        or (sql(db, "SELECT count(*) FROM res_partner")[0][0])
    )


# --------------------------------------------------------------------------- Odoo server


_PORTS_GIVEN = set()


def free_port():
    """A loopback port nothing listens on, never one this process was given before (two
    servers started one after the other must not get the same port before either binds)."""
    for _attempt in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port
    return port


def _http_ok(url, timeout=2):
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status == 200
    return False


class OdooServer:
    """odoo-bin serving one database on 127.0.0.1 (prefork when workers > 0)."""

    def __init__(self, db, workers=2, extra_args=(), port=None, log_path=None, max_cron_threads=0):
        self.db = db
        self.workers = workers
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.gevent_port = free_port()  # the websocket under --workers
        self.max_cron_threads = max_cron_threads
        self.log_path = Path(log_path or ROOT / ".dev" / "logs" / f"bench-odoo-{self.port}.log")
        self.proc = None
        self._log = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=120):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
        cmd = odoo_cmd(
            "-d",
            self.db,
            *([f"--db-filter=^{self.db}$"] if os.environ.get("VPBX_BENCH_DBFILTER") else []),
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            f"--gevent-port={self.gevent_port}",
            f"--workers={self.workers}",
            f"--max-cron-threads={self.max_cron_threads}",
            "--log-level=warn",
            *self.extra_args,
        )
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ShellError(f"Odoo exited with {self.proc.returncode}; see {self.log_path}")
            if _http_ok(f"{self.url}/web/health"):
                # every worker answers: warm each one up (registry loaded per process)
                for _ in range(max(1, self.workers) * 3):
                    _http_ok(f"{self.url}/web/health")
                return self
            time.sleep(0.3)
        self.stop()
        raise ShellError(f"Odoo did not answer /web/health within {timeout}s; see {self.log_path}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_gevent(self, timeout=60):
        """Wait until the gevent process (the websocket under --workers) accepts connections."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.gevent_port), timeout=1),
            ):
                return self
            time.sleep(0.3)
        raise ShellError(f"Odoo's gevent port did not open within {timeout}s; see {self.log_path}")

    def _children(self):
        import psutil

        if not self.alive():
            return []
        return psutil.Process(self.proc.pid).children(recursive=False)

    def worker_pids(self):
        pids = []
        for child in self._children():
            with contextlib.suppress(Exception):
                if "gevent" not in child.cmdline():  # the websocket process: `odoo-bin gevent`
                    pids.append(child.pid)
        return pids

    def cpu_seconds(self):
        """CPU seconds (user + system) used so far by this server's processes, by kind:
        ``workers`` (master, HTTP and cron workers), ``websocket`` (the gevent process), and by
        ``postgres`` (every PostgreSQL process of the machine) and ``client`` (this process: the
        senders and listeners of the bench)."""
        import resource

        import psutil

        used = {"workers": 0.0, "websocket": 0.0, "postgres": 0.0}
        if self.alive():
            master = psutil.Process(self.proc.pid)
            for process in [master, *master.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    kind = "websocket" if "gevent" in process.cmdline() else "workers"
                    used[kind] += times.user + times.system
        for process in psutil.process_iter(["name"]):
            if process.info["name"] == "postgres":
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    used["postgres"] += times.user + times.system
        own = resource.getrusage(resource.RUSAGE_SELF)
        used["client"] = own.ru_utime + own.ru_stime
        return used

    def kill_worker(self, sig=signal.SIGKILL):
        pids = self.worker_pids()
        if not pids:
            raise RuntimeError("no worker process to kill")
        os.kill(pids[0], sig)
        return pids[0]

    def stop(self, timeout=30):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc is not None:
            # leftovers of the group (workers, gevent) after the master went
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None

    def restart(self, timeout=120):
        self.stop()
        return self.start(timeout=timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


PBX_CODE = """
main_company = env.ref('base.main_company')
pbx = env['vpbx.pbx'].sudo().search([('company_id', '=', main_company.id)], limit=1)
if not pbx:
    pbx = env['vpbx.pbx'].sudo().create({'name': 'Bench', 'company_id': main_company.id})
"""

# the account PBX_CODE finds: same company, same order (vpbx.pbx's _order), active only
_PBX_QUERY = """
SELECT p.id FROM vpbx_pbx p
  JOIN ir_model_data d ON d.model = 'res.company' AND d.res_id = p.company_id
 WHERE d.module = 'base' AND d.name = 'main_company' AND p.active
 ORDER BY p.sequence, p.id LIMIT 1
"""


def pbx_id(db):
    """Id of the main company's first PBX account; created (and committed) when missing."""
    rows = sql(db, _PBX_QUERY)
    if rows:
        return rows[0][0]
    out = shell(db, PBX_CODE + "env.cr.commit()\nprint('PBX_ID=%d' % pbx.id)\n")
    line = next((x for x in out.splitlines() if x.startswith("PBX_ID=")), None)
    if line is None:
        raise ShellError(f"no PBX account could be created in {db}", out)
    return int(line.split("=", 1)[1])


def webhook_url(server, db):
    """The webhook URL of the PBX account of ``pbx_id`` on `server` (token created when
    missing)."""
    base = server.url if server is not None else None
    account = pbx_id(db)
    conn = connect(db)
    try:
        with conn.cursor() as cur:
            if base:
                cur.execute(
                    "UPDATE ir_config_parameter SET value = %s WHERE key = 'web.base.url'", [base]
                )
            else:
                cur.execute("SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'")
                base = cur.fetchone()[0]
            cur.execute("SELECT webhook_token FROM vpbx_pbx WHERE id = %s", [account])
            (token,) = cur.fetchone()
            if not token:
                # vpbx.pbx's create() gives every account a token: only an emptied one gets here
                import secrets

                token = secrets.token_urlsafe(32)
                cur.execute(
                    "UPDATE vpbx_pbx SET webhook_token = %s WHERE id = %s", [token, account]
                )
    finally:
        conn.close()
    return f"{base.rstrip('/')}/vpbx/webhook/{token}"


# --------------------------------------------------------------------------- HTTP load


def percentile(values, p):
    """`p` in [0, 100] of already sorted `values` (nearest rank); None when empty."""
    if not values:
        return None
    index = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[index]


def _encode(body):
    if body is None:
        return None, {}
    if isinstance(body, bytes):
        return body, {"Content-Type": "application/json"}
    if isinstance(body, str):
        return body.encode(), {"Content-Type": "application/json"}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def load(
    target, bodies=None, concurrency=1, n=None, method=None, headers=None, timeout=30, paths=None
):
    """Send every body (or `n` GETs, or a GET of each of `paths` on `target`'s host) to
    `target` from `concurrency` threads; see module doc."""
    items = list(bodies) if bodies is not None else [None] * int(n or 0)
    if paths is not None:
        items = list(paths)
    total = len(items)
    cursor = iter(range(total))
    lock = threading.Lock()
    latencies = [0.0] * total
    statuses = [0] * total
    samples = []
    if callable(target):
        parsed = None
    else:
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")

    def worker():
        conn = None
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            body = items[index]
            start = time.perf_counter()
            status = 0
            try:
                if parsed is None:
                    status = int(target(body) or 0)
                else:
                    if conn is None:
                        conn = http.client.HTTPConnection(
                            parsed.hostname, parsed.port, timeout=timeout
                        )
                    data, head = _encode(body) if paths is None else (None, {})
                    conn.request(
                        method or ("POST" if data is not None else "GET"),
                        body if paths is not None else path,
                        body=data,
                        headers={**head, **(headers or {})},
                    )
                    resp = conn.getresponse()
                    payload = resp.read()
                    status = resp.status
                    if status >= 400 and len(samples) < 5:
                        samples.append(f"{status} {payload[:200]!r}")
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
            except Exception as exc:  # counted as status 0
                if len(samples) < 5:
                    samples.append(repr(exc))
                if conn is not None:
                    conn.close()
                    conn = None
            latencies[index] = time.perf_counter() - start
            statuses[index] = status
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, concurrency))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    ordered = sorted(latencies)
    counts = Counter(statuses)

    def ms(value):
        return round(value * 1000, 2) if value is not None else None

    return {
        "requests": total,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "rps": round(total / seconds, 1) if seconds else None,
        "p50_ms": ms(percentile(ordered, 50)),
        "p95_ms": ms(percentile(ordered, 95)),
        "p99_ms": ms(percentile(ordered, 99)),
        "mean_ms": ms(sum(ordered) / total) if total else None,
        "max_ms": ms(ordered[-1]) if ordered else None,
        "statuses": {str(k): v for k, v in sorted(counts.items())},
        "errors": sum(v for k, v in counts.items() if k == 0 or k >= 400),
        "error_samples": samples,
    }


# --------------------------------------------------------------------------- machine


def machine_info(db=None):
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    pg = None
    with contextlib.suppress(Exception):
        pg = sql(db or "postgres", "SHOW server_version")[0][0]
    odoo_version = None
    with contextlib.suppress(Exception):
        release = {}
        exec((ODOO_SRC / "odoo" / "release.py").read_text(), release)
        odoo_version = release.get("version")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "postgresql": pg,
        "python": platform.python_version(),
        "odoo": odoo_version,
        "os": platform.platform(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_avg": [round(v, 2) for v in os.getloadavg()],
    }
