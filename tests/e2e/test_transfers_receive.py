"""An integration platform submits a package: it streams to the spool with
its SHA-256, is recorded as a transfer and audited; retries are safe, a
wrong digest or an oversized package keeps nothing."""
import base64
import hashlib
import io
import os
import socket
import tarfile
import time

import pytest
import requests

from conftest import auth, peak_rss_kib


def make_tar(files):
    """A real tar archive of {name: bytes}, as an integration would send."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def spool_sailo(start_sailo, tmp_path):
    spool = tmp_path / "spool"
    s = start_sailo(ingest_paused="true", storage_spool=spool)
    s.spool = spool
    return s


def submit(sailo, token, body, **headers):
    h = dict(auth(token), **{"Content-Type": "application/x-tar"})
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    return requests.post(sailo.url + "/v1/transfers", data=body, headers=h,
                         timeout=60)


def spool_files(sailo):
    return sorted(os.listdir(sailo.spool)) if sailo.spool.exists() else []


def test_package_streams_to_the_spool_with_its_digest(spool_sailo):
    s = spool_sailo
    bus = s.token("integration", name="kaupunki-bus")
    pkg = make_tar({"metadata.xml": b"<Metadata/>", "Päätös 1.pdf": os.urandom(300000)})
    sha = hashlib.sha256(pkg).hexdigest()
    r = submit(s, bus, pkg, X_Content_SHA256=sha.upper())
    assert r.status_code == 202, r.text
    t = r.json()
    assert r.headers["Location"] == f"/v1/transfers/{t['id']}"
    assert t["status"] == "received" and t["package_sha256"] == sha
    assert t["size"] == len(pkg) and t["submitted_by"] == "kaupunki-bus"
    assert t["aips"] == []
    assert spool_files(s) == [f"{t['id']}.pkg"]
    with open(s.spool / f"{t['id']}.pkg", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == sha
    assert s.get(f"/v1/transfers/{t['id']}", token=bus).json() == t
    listed = s.get("/v1/transfers?status=received", token=bus).json()["items"]
    assert [x["id"] for x in listed] == [t["id"]]
    auditor = s.token("auditor")
    events = s.get(f"/v1/audit?object_type=transfer&object_id={t['id']}",
                   token=auditor).json()["items"]
    assert [e["action"] for e in events] == ["transfer.submit"]
    assert events[0]["details"]["package_sha256"] == sha
    assert events[0]["actor"] == "kaupunki-bus"


def test_content_digest_header_is_checked_too(spool_sailo):
    s = spool_sailo
    bus = s.token("integration")
    pkg = make_tar({"a.txt": b"hello"})
    good = base64.b64encode(hashlib.sha256(pkg).digest()).decode()
    r = submit(s, bus, pkg, Content_Digest=f"sha-256=:{good}:")
    assert r.status_code == 202
    bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    r = submit(s, bus, pkg + b"\0" * 512, Content_Digest=f"sha-256=:{bad}:")
    assert r.status_code == 400 and r.json()["error"]["code"] == "CHECKSUM_MISMATCH"


def test_wrong_declared_digest_keeps_nothing(spool_sailo):
    s = spool_sailo
    bus = s.token("integration")
    pkg = make_tar({"a.txt": os.urandom(100000)})
    r = submit(s, bus, pkg, X_Content_SHA256="0" * 64)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "CHECKSUM_MISMATCH"
    assert hashlib.sha256(pkg).hexdigest() in r.json()["error"]["message"]
    assert spool_files(s) == []
    assert s.get("/v1/transfers", token=bus).json()["items"] == []
    r = submit(s, bus, pkg, X_Content_SHA256="not-hex")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_DIGEST"


def test_retries_are_safe_per_principal(spool_sailo):
    s = spool_sailo
    bus = s.token("integration", name="bus-a")
    pkg = make_tar({"a.txt": os.urandom(5000)})
    first = submit(s, bus, pkg, Idempotency_Key="batch-42")
    assert first.status_code == 202
    again = submit(s, bus, pkg, Idempotency_Key="batch-42")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = submit(s, bus, make_tar({"b.txt": b"x"}), Idempotency_Key="batch-42")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    same_bytes = submit(s, bus, pkg)
    assert same_bytes.status_code == 200
    assert same_bytes.json()["id"] == first.json()["id"]
    # keys and bytes are per principal
    bus_b = s.token("integration", name="bus-b")
    theirs = submit(s, bus_b, pkg, Idempotency_Key="batch-42")
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
    assert len(spool_files(s)) == 2
    # an integration sees its own transfers only; a records manager all
    assert s.get(f"/v1/transfers/{first.json()['id']}", token=bus_b).status_code == 404
    rm = s.token("records_manager")
    assert s.get(f"/v1/transfers/{first.json()['id']}", token=rm).status_code == 200
    seen = {t["id"] for t in s.get("/v1/transfers?limit=1000", token=rm).json()["items"]}
    assert {first.json()["id"], theirs.json()["id"]} <= seen


def test_only_integrations_submit_and_types_are_checked(spool_sailo):
    s = spool_sailo
    rm = s.token("records_manager")
    assert submit(s, rm, b"x" * 10).status_code == 403
    bus = s.token("integration")
    r = requests.post(s.url + "/v1/transfers", data=b"x" * 10, timeout=10,
                      headers=dict(auth(bus), **{"Content-Type": "text/html"}))
    assert r.status_code == 415
    r = requests.post(s.url + "/v1/transfers", data=b"", timeout=10,
                      headers=auth(bus))
    assert r.status_code == 400 and r.json()["error"]["code"] == "EMPTY_PACKAGE"


def test_package_over_the_limit_gets_413_and_keeps_nothing(start_sailo, tmp_path):
    s = start_sailo(ingest_paused="true", storage_spool=tmp_path / "spool", ingest_max_package_bytes=65536)
    s.spool = tmp_path / "spool"
    bus = s.token("integration")
    r = submit(s, bus, os.urandom(100000))
    assert r.status_code == 413

    def chunks():
        for _ in range(40):
            yield os.urandom(8192)
    try:
        r = requests.post(s.url + "/v1/transfers", data=chunks(), timeout=10,
                          headers=dict(auth(bus), **{"Content-Type": "application/zip"}))
        assert r.status_code == 413
    except requests.ConnectionError:
        pass            # the server may close while the client still sends
    deadline = time.time() + 5
    while spool_files(s) and time.time() < deadline:
        time.sleep(0.1)
    assert spool_files(s) == []


def test_client_gone_midway_leaves_no_part_file(spool_sailo):
    s = spool_sailo
    bus = s.token("integration")
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"POST /v1/transfers HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer " + bus.encode() + b"\r\n"
                 b"Content-Type: application/zip\r\nContent-Length: 10000000\r\n\r\n")
    sock.sendall(os.urandom(3000000))
    time.sleep(0.5)
    assert any(f.endswith(".part") for f in spool_files(s))
    sock.close()
    deadline = time.time() + 5
    while spool_files(s) and time.time() < deadline:
        time.sleep(0.1)
    assert spool_files(s) == []
    assert s.get("/v1/transfers", token=bus).json()["items"] == []


def test_a_large_package_streams_with_flat_memory(spool_sailo):
    s = spool_sailo
    bus = s.token("integration")
    size = 256 * 1024 * 1024
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()

    def body():
        for _ in range(size // len(block)):
            digest.update(block)
            yield block

    before = peak_rss_kib(s.proc.pid)
    r = requests.post(s.url + "/v1/transfers", data=body(), timeout=120,
                      headers=dict(auth(bus), **{"Content-Type": "application/zip"}))
    assert r.status_code == 202, r.text
    assert r.json()["package_sha256"] == digest.hexdigest()
    assert r.json()["size"] == size
    # 256 MiB went through; sailo grew by its buffers, not by the body
    assert peak_rss_kib(s.proc.pid) - before < 32 * 1024


def test_start_up_reconciles_the_spool(start_sailo, tmp_path):
    import uuid
    spool = tmp_path / "spool"
    spool.mkdir()
    old_part = spool / "0123456789abcdef01234567.part"    # a POST cut by a crash
    old_part.write_bytes(b"half a package")
    os.utime(old_part, (time.time() - 3600, time.time() - 3600))
    young_part = spool / "fedcba9876543210fedcba98.part"  # maybe another daemon's
    young_part.write_bytes(b"in progress")
    orphan = spool / f"{uuid.uuid4()}.pkg"                 # renamed, never committed
    orphan.write_bytes(b"package")
    s = start_sailo(ingest_paused="true", storage_spool=spool)
    assert not old_part.exists()
    assert young_part.exists() and orphan.exists()
    s.stop()
    assert f"{orphan.name} has no transfer in the catalogue" in s.log()
    assert "1 abandoned part file(s) removed" in s.log()
