"""Black-box fixtures: a fresh database in the private cluster, the real
`sailo` binary serving on a free port, tokens made by `sailo token create`.

`make e2e` starts the private cluster (conf/pgcluster.sh) and builds the
binaries first.  Each test session gets its own database, so tests never
touch the data of a `make run` instance.
"""
import json
import os
import signal
import socket
import subprocess
import time
import uuid

import psycopg2
import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# SAILO_BIN: another build of the daemon (make e2e-asan: the sanitized one).
SAILO = os.path.join(ROOT, os.environ.get("SAILO_BIN", "sailo"))
SOCKET_DIR = os.path.join(ROOT, "var", "run")


def conninfo(user, dbname):
    return f"host={SOCKET_DIR} dbname={dbname} user={user} connect_timeout=2"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sailo_env(name):
    """The environment that points `sailo` at database name."""
    return dict(os.environ,
                SAILO_DATABASE_OWNER_CONNINFO=conninfo("sailo_owner", name),
                SAILO_DATABASE_CONNINFO=conninfo("sailo_app", name))


def create_database(prefix="sailo_test_"):
    """A new database owned by sailo_owner, migrated by `sailo db migrate`."""
    name = prefix + uuid.uuid4().hex[:8]
    admin = psycopg2.connect(conninfo("sailo_owner", "sailo"))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    out = subprocess.run([SAILO, "db", "migrate"], cwd=ROOT,
                         env=sailo_env(name), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return name


def drop_database(name):
    for _ in range(30):   # the outage test may have restarted the cluster
        try:
            admin = psycopg2.connect(conninfo("sailo_owner", "sailo"))
            break
        except psycopg2.OperationalError:
            time.sleep(0.5)
    admin.autocommit = True
    for attempt in range(20):     # a stopped daemon's sessions may linger
        try:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            break
        except psycopg2.errors.ObjectInUse:
            time.sleep(0.25)
    admin.close()


@pytest.fixture(scope="session")
def database():
    """The session's database: shared by tests that only add to it."""
    name = create_database()
    yield name
    drop_database(name)


@pytest.fixture
def fresh_database():
    """A database of the test's own (tests that tamper with it)."""
    name = create_database("sailo_fresh_")
    yield name
    drop_database(name)


class Sailo:
    """One running `sailo serve`, its log, and helpers to talk to it."""

    def __init__(self, database, tmp_path, port=None, ca=None, **settings):
        """ca: with server_tls_cert set, the CA file that requests verifies
        the daemon's certificate with (the URL is then https)."""
        self.port = port or free_port()
        self.tls = "server_tls_cert" in settings
        self.verify = ca if ca else True
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"sailo-{self.port}.log"
        self.env = dict(os.environ,
                        SAILO_SERVER_LISTEN=f"127.0.0.1:{self.port}",
                        SAILO_DATABASE_CONNINFO=conninfo("sailo_app", database),
                        SAILO_DATABASE_OWNER_CONNINFO=conninfo("sailo_owner",
                                                               database),
                        SAILO_LOG_FILE=str(self.log_path))
        for key, value in settings.items():
            self.env["SAILO_" + key.upper()] = str(value)
        self.proc = subprocess.Popen([SAILO, "serve"], cwd=ROOT, env=self.env,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.time() + 15
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            try:
                if requests.get(self.url + "/healthz", timeout=1,
                                verify=self.verify).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "sailo did not become healthy"
            time.sleep(0.05)

    def token(self, role, name=None, clearance=()):
        args = [SAILO, "token", "create", "--role", role,
                "--name", name or f"{role}-{uuid.uuid4().hex[:6]}"]
        for c in clearance:
            args += ["--clearance", c]
        out = subprocess.run(args, cwd=ROOT, env=self.env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def get(self, path, token=None, **kw):
        kw.setdefault("verify", self.verify)
        return requests.get(self.url + path, headers=auth(token), timeout=10,
                            **kw)

    def post(self, path, body, token=None, **kw):
        kw.setdefault("verify", self.verify)
        return requests.post(self.url + path, headers=auth(token),
                             data=json.dumps(body), timeout=10, **kw)

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def peak_rss_kib(pid):
    """A process's peak resident memory (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def auth(token):
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def start_sailo(database, tmp_path):
    """Starts sailo with SAILO_* settings (start_sailo(server_header_timeout_ms=…))."""
    started = []

    def start(**settings):
        s = Sailo(database, tmp_path, **settings)
        started.append(s)
        return s

    yield start
    # Every daemon must stop cleanly: exit 0 on SIGTERM (under make
    # e2e-asan, a leak or a memory error makes that fail).
    for s in started:
        if s.proc.poll() is None:
            rc = s.stop()
        else:
            rc = s.proc.returncode
        assert rc == 0, s.proc.stderr.read().decode()[-3000:]


@pytest.fixture
def sailo(start_sailo):
    return start_sailo()


@pytest.fixture
def admin(sailo):
    return sailo.token("admin")


def start_sink(max_body=None, body_timeout_ms=None):
    args = [os.path.join(ROOT, "build", "tests", "httpsink"), "0",
            str(max_body if max_body is not None else 2 ** 62)]
    if body_timeout_ms is not None:
        args.append(str(body_timeout_ms))
    proc = subprocess.Popen(args, stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    assert line.startswith("port "), line
    return proc, ("127.0.0.1", int(line.split()[1]))


@pytest.fixture
def sink():
    """tests/httpsink: the HTTP layer behind a handler that discards bodies
    (largest body 1 MiB, header timeout 2 s)."""
    proc, addr = start_sink(1 << 20)
    yield addr
    proc.terminate()
    assert proc.wait(timeout=10) == 0


@pytest.fixture
def sink_quick_timeout():
    """The sink with a body timeout of 500 ms."""
    proc, addr = start_sink(1 << 20, 500)
    yield addr
    proc.terminate()
    assert proc.wait(timeout=10) == 0


@pytest.fixture
def sink_unlimited():
    """The sink without a body limit: ((host, port), pid)."""
    proc, addr = start_sink()
    yield addr, proc.pid
    proc.terminate()
    assert proc.wait(timeout=10) == 0
