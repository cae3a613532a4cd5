"""Shared fixtures of the API suite: fresh databases, a running `patron serve`, CLI helpers.

Every test module is parametrised over both engines through the module-scoped
`server` fixture (or the function-scoped `engine` fixture for tests that manage
their own servers). PostgreSQL tests need PATRON_TEST_PG_HOST (the unix socket
directory of scripts/pg-harness.sh, which scripts/run-tests.sh exports); without
it they are skipped, so the SQLite half runs anywhere.

The binary under test is $PATRON_BIN (default: ./patron at the repository root);
it may be an AddressSanitizer build, so every clean stop asserts exit code 0
(a leak makes it non-zero) and prints the server's stderr when it is not.
"""

import glob
import http.cookiejar as cookiejar
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATRON_BIN = os.environ.get("PATRON_BIN") or os.path.join(REPO, "patron")
PG_HOST = os.environ.get("PATRON_TEST_PG_HOST") or None
PG_SKIP_REASON = ("PATRON_TEST_PG_HOST is not set: PostgreSQL tests need the throwaway server of "
                  "scripts/pg-harness.sh (scripts/run-tests.sh starts it and exports the variable)")

ENGINES = ["sqlite", "postgres"]
ROLES = ["admin", "manager", "supervisor", "agent", "analyst", "integration"]
# Tables whose counts tell whether a request changed anything.
COUNTED_TABLES = ["members", "audit_log", "idempotency_keys", "api_keys", "staff", "staff_sessions"]

# psql output separators: characters no test value contains.
FIELD_SEP, RECORD_SEP, NULL_MARK = "\x1f", "\x1e", "\x1dNULL\x1d"

HTTP_TIMEOUT_S = 60
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
CLI_TIMEOUT_S = 120


def _pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
    return found[-1] if found else name


def unique(prefix="t"):
    """A value no other test uses (external ids, emails, name tokens)."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def require_engine(engine):
    if engine == "postgres" and PG_HOST is None:
        pytest.skip(PG_SKIP_REASON)


# ---- the patron CLI ----------------------------------------------------------

def run_patron(*args, input=None, check=True, timeout=CLI_TIMEOUT_S):
    """Runs `patron ARGS`; returns the CompletedProcess. check: exit code must be 0."""
    proc = subprocess.run([PATRON_BIN, *args], input=input, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, (
            f"patron {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


# ---- databases -----------------------------------------------------------------

class Database:
    """A fresh, empty database of one engine (not migrated until migrate())."""

    def __init__(self, engine):
        require_engine(engine)
        self.engine = engine
        # Holds the SQLite file and the logs of servers run on this database.
        self._tmpdir = tempfile.TemporaryDirectory(prefix="patron-api-")
        self.dir = self._tmpdir.name
        if engine == "sqlite":
            self.path = os.path.join(self.dir, "patron.db")
            self.url = self.path
        else:
            self.name = "patron_api_" + uuid.uuid4().hex[:12]
            subprocess.run([_pg_bin("createdb"), "-h", PG_HOST, "-U", "postgres", self.name],
                           check=True, capture_output=True, timeout=60)
            self.url = f"postgresql:///{self.name}?host={PG_HOST}&user=postgres"

    def migrate(self):
        return run_patron("migrate", "--db", self.url)

    def create_key(self, role, name=None):
        """Creates an API key with the CLI; returns the key (the last line of stdout)."""
        proc = run_patron("apikey", "create", "--db", self.url, "--role", role,
                          "--name", name or f"test-{role}")
        return proc.stdout.strip().splitlines()[-1]

    def rows(self, sql):
        """Rows of a query, each a tuple of str (None for NULL), whatever the engine."""
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                return [tuple(None if v is None else str(v) for v in r)
                        for r in conn.execute(sql).fetchall()]
            finally:
                conn.close()
        proc = subprocess.run(
            ["psql", "-h", PG_HOST, "-U", "postgres", "-d", self.name, "-X", "-q", "-A", "-t",
             "-F", FIELD_SEP, "-R", RECORD_SEP, "-P", f"null={NULL_MARK}", "-v", "ON_ERROR_STOP=1",
             "-c", sql],
            capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"psql failed on {sql!r}: {proc.stderr}"
        out = proc.stdout
        if out.endswith("\n"):
            out = out[:-1]
        if out == "":
            return []
        return [tuple(None if v == NULL_MARK else v for v in row.split(FIELD_SEP))
                for row in out.split(RECORD_SEP)]

    def scalar(self, sql):
        rows = self.rows(sql)
        assert len(rows) == 1, f"{sql!r} gave {rows!r}"
        value = rows[0][0]
        return int(value) if value is not None and re.fullmatch(r"-?\d+", value) else value

    def count(self, table, where=None):
        return int(self.scalar(f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")))

    def counts(self, tables=COUNTED_TABLES):
        """{table: row count}, read in one query (one snapshot, one psql run)."""
        sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables)
        (row,) = self.rows(sql)
        return {t: int(v) for t, v in zip(tables, row)}

    def tables(self):
        if self.engine == "sqlite":
            return [r[0] for r in self.rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " ORDER BY name")]
        return [r[0] for r in self.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_type = 'BASE TABLE' ORDER BY table_name")]

    def text_columns(self):
        """{table: [columns that can hold text]} (SQLite: every column, values are dynamically
        typed; PostgreSQL: text, character, JSON, bytea, array and enum columns)."""
        tables = self.tables()
        if self.engine == "sqlite":
            return {t: [r[1] for r in self.rows(f'PRAGMA table_info("{t}")')] for t in tables}
        out = {t: [] for t in tables}
        for table, column in self.rows(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND data_type IN ('text', 'character varying',"
                " 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')"
                " ORDER BY table_name, ordinal_position"):
            if table in out:
                out[table].append(column)
        return out

    def all_text(self):
        """{(table, column): [values]} of every text-capable column of every table, non-NULL
        values only, read in a few queries."""
        parts = []
        for table, columns in self.text_columns().items():
            for column in columns:
                cast = (f'CAST("{column}" AS TEXT)' if self.engine == "sqlite"
                        else f'"{column}"::text')
                parts.append(f"SELECT '{table}', '{column}', {cast} FROM \"{table}\""
                             f' WHERE "{column}" IS NOT NULL')
        out = {(t, c): [] for t, cols in self.text_columns().items() for c in cols}
        # In chunks: SQLite allows at most 500 terms in one compound SELECT.
        for start in range(0, len(parts), 200):
            for table, column, value in self.rows(" UNION ALL ".join(parts[start:start + 200])):
                out[(table, column)].append(value)
        return out

    def drop(self):
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        if self.engine == "postgres":
            subprocess.run(["psql", "-h", PG_HOST, "-U", "postgres", "-d", "postgres", "-X", "-q",
                            "-c", f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'],
                           capture_output=True, timeout=60)


# ---- the server ------------------------------------------------------------------

class Server:
    """`patron serve` on a database, with one API key per role.

    request(method, path, key=ROLE or raw key or None, json=..., data=..., headers=...)
    sends a request; key names a role of self.keys (default "admin").
    """

    def __init__(self, db, threads=4, create_keys=True, quiet=True, env=None):
        self.db = db
        self.env = env  # the server's environment (None: the test's own), e.g. its SMTP settings
        self.engine = db.engine
        self.threads = threads
        self.quiet = quiet
        self.proc = None
        self.port = None
        self.keys = {}
        self._stderr_path = None
        self._stderr_file = None
        if create_keys:
            for role in ROLES:
                self.keys[role] = db.create_key(role, name=f"test-{role}")

    # life cycle
    def start(self):
        assert self.proc is None
        fd, self._stderr_path = tempfile.mkstemp(prefix="serve-", suffix=".log", dir=self.db.dir)
        os.close(fd)
        self._stderr_file = open(self._stderr_path, "wb")
        self.proc = subprocess.Popen(
            [PATRON_BIN, "serve", "--db", self.db.url, "--port", "0", "--bind", "127.0.0.1",
             "--threads", str(self.threads)] + (["--quiet"] if self.quiet else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr_file, env=self.env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.port is None:
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.stderr())
            if match:
                self.port = int(match.group(1))
                break
            if self.proc.poll() is not None:
                raise AssertionError(f"patron serve exited {self.proc.returncode} at start:\n"
                                     f"{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"patron serve did not start:\n{self.stderr()}")
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{self.port}"
        # The shared client keeps no cookies: a session cookie picked up by one test must
        # never authenticate another test's request (tests that sign in use their own Session).
        self.http = requests.Session()
        self.http.cookies.set_policy(cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        while True:
            try:
                r = requests.get(self.base + "/healthz", timeout=5)
                if r.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"patron serve never answered /healthz:\n{self.stderr()}")
            time.sleep(0.02)
        return self

    def stderr(self):
        if self._stderr_path is None:
            return ""
        with open(self._stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _close_log(self):
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def stop(self):
        """SIGTERM; returns the exit code (0 for a clean stop, non-zero on an ASan finding)."""
        assert self.proc is not None
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "timeout (SIGKILLed)"
        self.proc = None
        self.port = None
        self._close_log()
        return rc

    def stop_ok(self):
        rc = self.stop()
        assert rc == 0, f"patron serve exited {rc} on SIGTERM; its stderr:\n{self.stderr()}"

    def kill(self):
        """SIGKILL: a crash. Returns once the process is gone."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None
        self.port = None
        self.http.close()
        self._close_log()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # requests
    def auth_headers(self, key):
        if key is None:
            return {}
        value = self.keys.get(key, key)
        return {"Authorization": f"Bearer {value}"}

    def request(self, method, path, key="admin", json=None, data=None, headers=None,
                session=None, **kwargs):
        h = self.auth_headers(key)
        if headers:
            h.update(headers)
        client = session or self.http
        kwargs.setdefault("timeout", HTTP_TIMEOUT_S)
        return client.request(method, self.base + path, json=json, data=data, headers=h, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # conveniences
    def create_member(self, key="admin", **fields):
        body = {"external_id": unique("ext-")}
        body.update(fields)
        r = self.post("/v1/members", json=body, key=key)
        assert r.status_code == 201, r.text
        return r.json()


def error_code(response):
    """The error.code of an error answer (asserting its shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body["error"]["code"]


def assert_error(response, status, code):
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.text}")
    assert response.headers.get("Content-Type", "").startswith("application/json")
    assert error_code(response) == code, response.text


# ---- fixtures ----------------------------------------------------------------------

def start_server(engine, threads=4):
    db = Database(engine)
    db.migrate()
    server = Server(db, threads=threads)
    server.start()
    return server


@pytest.fixture(scope="module", params=ENGINES)
def server(request):
    """A running server on a fresh database of each engine, shared by a module's tests."""
    s = start_server(request.param)
    yield s
    try:
        if s.proc is not None:
            s.stop_ok()
    finally:
        s.db.drop()


@pytest.fixture(params=ENGINES)
def engine(request):
    """The engine name, for tests that build their own databases and servers."""
    require_engine(request.param)
    return request.param


@pytest.fixture
def fresh_db(engine):
    db = Database(engine)
    yield db
    db.drop()
