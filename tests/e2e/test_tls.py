"""HTTPS and client certificates: the daemon serves TLS only when given a
certificate and key, refuses old protocols and plain HTTP cleanly, and
takes a client certificate from its CA as the principal server.client_map
names.  The certificates are made here with the `openssl` command."""
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import time
import uuid

import psycopg2
import pytest
import requests

from conftest import ROOT, SAILO, conninfo, free_port, sailo_env

OPENSSL = "openssl"


def run(*args, **kw):
    out = subprocess.run(args, capture_output=True, text=True, **kw)
    assert out.returncode == 0, out.stderr
    return out.stdout


class Pki:
    """A CA, a server certificate for 127.0.0.1 and localhost, client
    certificates from the CA, and one from another CA."""

    def __init__(self, d):
        self.d = d
        self.ca, self.ca_key = self.make_ca("ca", "Sailo test CA")
        self.other_ca, self.other_ca_key = self.make_ca("other-ca", "Some other CA")
        self.server = self.issue("server", "127.0.0.1", self.ca, self.ca_key,
                                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                 "extendedKeyUsage=serverAuth\n")
        client_ext = "extendedKeyUsage=clientAuth\n"
        self.auditor = self.issue("auditor", "tarkastus-cert", self.ca,
                                  self.ca_key, client_ext)
        self.integration = self.issue("integration", "dynasty-cert", self.ca,
                                      self.ca_key, client_ext)
        self.unmapped = self.issue("unmapped", "nobody", self.ca, self.ca_key,
                                   client_ext)
        self.stranger = self.issue("stranger", "stranger", self.other_ca,
                                   self.other_ca_key, client_ext)

    def path(self, name):
        return str(self.d / name)

    def make_ca(self, name, cn):
        key, crt = self.path(name + ".key"), self.path(name + ".pem")
        run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return crt, key

    def issue(self, name, cn, ca, ca_key, ext):
        key, csr, crt = (self.path(name + ".key"), self.path(name + ".csr"),
                         self.path(name + ".pem"))
        extfile = self.path(name + ".ext")
        with open(extfile, "w") as f:
            f.write("basicConstraints=CA:FALSE\n" + ext)
        run(OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=" + cn)
        run(OPENSSL, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", extfile)
        return crt, key

    @staticmethod
    def fingerprint(cert):
        """`openssl x509 -fingerprint` style: AB:CD:…, upper case."""
        out = run(OPENSSL, "x509", "-in", cert[0], "-noout", "-fingerprint",
                  "-sha256")
        return out.strip().split("=", 1)[1]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def client_map(pki, tmp_path_factory):
    """auditor and integration mapped; the fingerprints written the two
    ways the map takes them (colons and upper case, bare lower case)."""
    path = tmp_path_factory.mktemp("map") / "clients.map"
    bare = Pki.fingerprint(pki.integration).replace(":", "").lower()
    path.write_text(
        "# client certificates of the archive\n"
        "\n"
        f"{Pki.fingerprint(pki.auditor)}  tarkastus-cert  auditor\n"
        f"   {bare}\tdynasty-cert integration   # the case system\n")
    return str(path)


def tls_settings(pki, **more):
    return dict(server_tls_cert=pki.server[0], server_tls_key=pki.server[1],
                ca=pki.ca, **more)


@pytest.fixture
def https(start_sailo, pki):
    return start_sailo(**tls_settings(pki))


@pytest.fixture
def mtls(start_sailo, pki, client_map):
    return start_sailo(**tls_settings(pki, server_client_ca=pki.ca,
                                      server_client_map=client_map))


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args],
                          capture_output=True, text=True)


# ---- HTTPS ---------------------------------------------------------------

def test_https_works_with_curl_and_requests(https, pki):
    out = curl("--cacert", pki.ca, f"https://127.0.0.1:{https.port}/healthz")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "ok"
    # the name in the certificate's subjectAltName is checked too
    out = curl("--cacert", pki.ca, f"https://localhost:{https.port}/healthz")
    assert out.returncode == 0, out.stderr
    r = requests.get(https.url + "/healthz", verify=pki.ca, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    admin = https.token("admin")
    assert https.get("/v1/tokens", token=admin).status_code == 200
    # a client that does not trust the CA refuses the daemon
    out = curl(f"https://127.0.0.1:{https.port}/healthz")
    assert out.returncode != 0


def test_plain_http_to_the_tls_port_fails_cleanly(https, pki):
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", https.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            try:
                while piece := s.recv(4096):
                    got += piece
            except ConnectionResetError:
                pass        # closed with the request unread: a reset
        assert b"HTTP/1.1" not in got and b"status" not in got
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{https.port}/healthz", timeout=5)
    # the daemon still answers, and said why it closed
    assert https.get("/healthz").status_code == 200
    assert "TLS handshake failed: http request" in https.log()


def test_tls_1_1_is_refused(https, pki, tmp_path):
    def tls11_context():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        return ctx

    # The client can speak TLS 1.1: a server that allows it gets 1.1.
    port = free_port()
    server = subprocess.Popen(
        [OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}",
         "-cert", pki.server[0], "-key", pki.server[1], "-tls1_1",
         "-cipher", "DEFAULT@SECLEVEL=0", "-www", "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                    with tls11_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                        assert s.version() == "TLSv1.1"
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        else:
            pytest.fail("openssl s_server did not start")
    finally:
        server.terminate()
        server.wait(timeout=10)
    # Sailo refuses it in the handshake.
    with socket.create_connection(("127.0.0.1", https.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            tls11_context().wrap_socket(raw, server_hostname="127.0.0.1")
    out = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{https.port}",
         "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", pki.ca],
        input="", capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "Cipher is (NONE)" in out.stdout
    assert "unsupported protocol" in https.log()
    # TLS 1.2 with ECDHE works; TLS 1.2 without forward secrecy does not
    ok = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{https.port}",
         "-tls1_2", "-CAfile", pki.ca], input="", capture_output=True,
        text=True, timeout=20)
    assert ok.returncode == 0 and "ECDHE" in ok.stdout, ok.stderr
    old = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{https.port}",
         "-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-SHA",
         "-CAfile", pki.ca], input="", capture_output=True, text=True,
        timeout=20)
    assert old.returncode != 0
    assert https.get("/healthz").status_code == 200


def test_a_silent_or_half_handshake_is_closed_at_the_header_timeout(start_sailo, pki):
    sailo = start_sailo(**tls_settings(pki, server_header_timeout_ms=500))
    hello = bytes.fromhex("16030100a5010000a10303") + os.urandom(20)  # cut short
    for first in (b"", hello):
        with socket.create_connection(("127.0.0.1", sailo.port), timeout=10) as s:
            t0 = time.monotonic()
            if first:
                s.sendall(first)
            assert s.recv(4096) == b""          # closed by the daemon
            assert 0.4 <= time.monotonic() - t0 < 5
    assert "TLS handshake timeout" in sailo.log()
    # connections cut in the middle of a handshake free what they held
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", sailo.port), timeout=5) as s:
            s.sendall(hello)
    assert sailo.get("/healthz").status_code == 200


def test_a_large_csv_export_streams_whole_over_tls(https, pki):
    name = "csv-tls-" + uuid.uuid4().hex[:6]    # the actor of 150 acts
    admin = https.token("admin", name=name)
    auditor = https.token("auditor")
    for i in range(150):
        r = https.post("/v1/tokens", {"name": f"made-{i}", "role": "integration"},
                       token=admin)
        assert r.status_code == 201
    r = requests.get(https.url + "/v1/audit?action=token.create", verify=pki.ca,
                     headers={"Accept": "text/csv",
                              "Authorization": f"Bearer {auditor}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    mine = [line for line in r.text.splitlines() if name in line]
    assert len(mine) == 150
    out = curl("--cacert", pki.ca, "-H", f"Authorization: Bearer {auditor}",
               "-H", "Accept: text/csv",
               f"https://127.0.0.1:{https.port}/v1/audit?action=token.create")
    assert out.returncode == 0, out.stderr
    assert len([line for line in out.stdout.splitlines() if name in line]) == 150


def start_tls_sink(pki):
    proc = subprocess.Popen(
        [os.path.join(ROOT, "build", "tests", "httpsink"), "0", str(1 << 20),
         "10000", pki.server[0], pki.server[1]], stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    assert line.startswith("port "), line
    return proc, int(line.split()[1])


def test_file_replies_are_byte_exact_over_tls(pki, tmp_path):
    """http_reply_fd reads pieces on a worker: through TLS too, a large
    file arrives whole and unchanged (the sink serves files; no daemon
    route does yet)."""
    data = os.urandom(24 * 1024 * 1024 + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    proc, port = start_tls_sink(pki)
    try:
        url = f"https://127.0.0.1:{port}"
        r = requests.get(f"{url}/file?path={path}", verify=pki.ca, timeout=60)
        assert r.status_code == 200
        assert len(r.content) == len(data)
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
        out = tmp_path / "by-curl.bin"
        done = curl("--cacert", pki.ca, "-o", str(out), f"{url}/file?path={path}")
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == data
        # a streamed (chunked) reply, and a body sent in
        r = requests.get(f"{url}/stream?bytes={5 * 1024 * 1024}", verify=pki.ca,
                         timeout=60)
        assert r.content == b"x" * (5 * 1024 * 1024)
        r = requests.post(f"{url}/upload", data=data[:1000000], verify=pki.ca,
                          timeout=60)
        assert r.json() == {"bytes": 1000000}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_one_of_cert_and_key_is_a_start_up_error(database, pki):
    for one in ({"SAILO_SERVER_TLS_CERT": pki.server[0]},
                {"SAILO_SERVER_TLS_KEY": pki.server[1]}):
        env = dict(sailo_env(database), SAILO_SERVER_LISTEN=f"127.0.0.1:{free_port()}",
                   **one)
        out = subprocess.run([SAILO, "serve"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 2
        assert "server.tls_cert" in out.stderr and "server.tls_key" in out.stderr
    env = dict(sailo_env(database), SAILO_SERVER_LISTEN=f"127.0.0.1:{free_port()}",
               SAILO_SERVER_TLS_CERT=pki.server[0],
               SAILO_SERVER_TLS_KEY=pki.auditor[1])
    out = subprocess.run([SAILO, "serve"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and "server.tls_key" in out.stderr


# ---- client certificates -----------------------------------------------------

def test_mapped_auditor_certificate_is_its_principal(mtls, pki, database):
    r = requests.get(mtls.url + "/v1/audit?limit=1", cert=pki.auditor,
                     verify=pki.ca, timeout=10)
    assert r.status_code == 200, r.text
    # the read it made is recorded under the map's principal and role
    r = requests.get(mtls.url + "/v1/audit?action=audit.query&actor=tarkastus-cert",
                     cert=pki.auditor, verify=pki.ca, timeout=10)
    assert r.status_code == 200
    mine = r.json()["items"]
    assert mine and all(e["actor"] == "tarkastus-cert" and e["role"] == "auditor"
                        for e in mine)
    assert "tarkastus-cert" in mtls.log()          # the request log names it
    with psycopg2.connect(conninfo("sailo_owner", database)) as c:
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM principals WHERE name = %s",
                    ("tarkastus-cert",))
        assert cur.fetchone()[0] == 1
    # with curl too
    out = curl("--cacert", pki.ca, "--cert", pki.auditor[0], "--key",
               pki.auditor[1], f"https://127.0.0.1:{mtls.port}/v1/audit/verify")
    assert out.returncode == 0 and json.loads(out.stdout)["ok"] is True, out


def test_mapped_role_applies(mtls, pki):
    r = requests.get(mtls.url + "/v1/audit", cert=pki.integration, verify=pki.ca,
                     timeout=10)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "FORBIDDEN"
    assert "integration" in r.json()["error"]["message"]
    # an integration's own list needs its principal's id: it has one
    r = requests.get(mtls.url + "/v1/transfers", cert=pki.integration,
                     verify=pki.ca, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


def test_certificate_from_another_ca_is_refused_in_the_handshake(mtls, pki):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(mtls.url + "/healthz", cert=pki.stranger, verify=pki.ca,
                     timeout=10)
    out = curl("--cacert", pki.ca, "--cert", pki.stranger[0], "--key",
               pki.stranger[1], f"https://127.0.0.1:{mtls.port}/healthz")
    assert out.returncode != 0 and '"status"' not in out.stdout
    assert "TLS handshake failed" in mtls.log()
    # no certificate at all is fine: a bearer token still works
    auditor = mtls.token("auditor")
    assert mtls.get("/v1/audit?limit=1", token=auditor).status_code == 200
    assert mtls.get("/healthz").status_code == 200


def test_unmapped_certificate_is_401_and_recorded(mtls, pki):
    r = requests.get(mtls.url + "/v1/audit", cert=pki.unmapped, verify=pki.ca,
                     timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    assert "not mapped" in r.json()["error"]["message"]
    auditor = mtls.token("auditor")
    for _ in range(50):
        events = mtls.get("/v1/audit?action=auth.denied", token=auditor).json()["items"]
        if events:
            break
        time.sleep(0.1)
    assert any(e["details"]["status"] == 401 and e["object_id"] == "audit.query"
               for e in events), events


def test_a_bearer_token_decides_over_a_certificate(mtls, pki):
    integration = mtls.token("integration")
    auditor = mtls.token("auditor", name="token-auditor-" + uuid.uuid4().hex[:6])
    r = requests.get(mtls.url + "/v1/audit", cert=pki.auditor, verify=pki.ca,
                     headers={"Authorization": f"Bearer {integration}"}, timeout=10)
    assert r.status_code == 403
    r = requests.get(mtls.url + "/v1/audit", cert=pki.integration, verify=pki.ca,
                     headers={"Authorization": f"Bearer {auditor}"}, timeout=10)
    assert r.status_code == 200
    r = requests.get(mtls.url + "/v1/audit", cert=pki.auditor, verify=pki.ca,
                     headers={"Authorization": "Bearer sailo_not-a-token"},
                     timeout=10)
    assert r.status_code == 401


def test_a_certificate_is_read_once_per_connection(mtls, pki):
    """Several requests on one kept-alive connection all count as the
    certificate's principal."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.load_cert_chain(*pki.auditor)
    conn = http.client.HTTPSConnection("127.0.0.1", mtls.port, context=ctx,
                                       timeout=10)
    try:
        for _ in range(5):
            conn.request("GET", "/v1/audit/verify")
            r = conn.getresponse()
            assert r.status == 200
            assert json.loads(r.read())["ok"] is True
    finally:
        conn.close()


def test_a_bad_client_map_line_stops_start_up(database, pki, tmp_path):
    bad = tmp_path / "bad.map"
    bad.write_text("# ok\n"
                   f"{Pki.fingerprint(pki.auditor)} tarkastus-cert auditor\n"
                   "00:11:zz not-hex auditor\n")
    env = dict(sailo_env(database), SAILO_SERVER_LISTEN=f"127.0.0.1:{free_port()}",
               SAILO_SERVER_TLS_CERT=pki.server[0], SAILO_SERVER_TLS_KEY=pki.server[1],
               SAILO_SERVER_CLIENT_CA=pki.ca, SAILO_SERVER_CLIENT_MAP=str(bad))
    out = subprocess.run([SAILO, "serve"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2
    assert f"{bad}:3" in out.stderr
    bad.write_text(f"{Pki.fingerprint(pki.auditor)} tarkastus-cert superuser\n")
    out = subprocess.run([SAILO, "serve"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and f"{bad}:1" in out.stderr
    assert "superuser" in out.stderr
    # a map without a CA to verify its certificates is refused too
    env.pop("SAILO_SERVER_CLIENT_CA")
    out = subprocess.run([SAILO, "serve"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and "server.client_ca" in out.stderr
