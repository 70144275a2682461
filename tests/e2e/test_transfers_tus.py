"""Resumable uploads with tus 1.0.0 and Debian's python3-tuspy, unchanged:
an upload cut off halfway resumes where its bytes are safe, also after the
daemon restarts, and the completing PATCH names the transfer."""
import hashlib
import os
import socket
import time

import requests
from tusclient import client as tus

from conftest import Sailo, auth


def tus_client(sailo, token):
    return tus.TusClient(sailo.url + "/v1/uploads",
                         headers={"Authorization": f"Bearer {token}"})


def package(tmp_path, size=3 * 1024 * 1024 + 123):
    path = tmp_path / "paketti.zip"
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def upload_id(url):
    return url.rstrip("/").rsplit("/", 1)[1]


def test_interrupted_upload_resumes_and_becomes_a_transfer(start_sailo, tmp_path):
    s = start_sailo(ingest_paused="true", storage_spool=tmp_path / "spool")
    bus = s.token("integration")
    path, sha = package(tmp_path)
    c = tus_client(s, bus)
    first = c.uploader(str(path), chunk_size=1 << 20, metadata={"filename": "paketti.zip"})
    first.upload(stop_at=1 << 20)                  # cut off after 1 MiB
    head = requests.head(first.url, headers=dict(auth(bus), **{"Tus-Resumable": "1.0.0"}), timeout=10)
    assert head.headers["Upload-Offset"] == str(1 << 20)
    assert head.headers["Upload-Length"] == str(path.stat().st_size)
    again = c.uploader(str(path), chunk_size=1 << 20, url=first.url)
    assert again.offset == 1 << 20                 # resumes, does not restart
    again.upload()
    location = again.request.response_headers["sailo-transfer"]
    t = requests.get(s.url + location, headers=auth(bus), timeout=10).json()
    assert t["package_sha256"] == sha and t["status"] == "received"
    found = requests.get(s.url + "/v1/transfers", params={"upload_id": upload_id(first.url)},
                         headers=auth(bus), timeout=10).json()["items"]
    assert [x["id"] for x in found] == [t["id"]]
    spool = sorted(os.listdir(tmp_path / "spool"))
    assert spool == [f"{t['id']}.pkg"]
    assert hashlib.sha256((tmp_path / "spool" / spool[0]).read_bytes()).hexdigest() == sha


def test_upload_resumes_after_a_daemon_restart(database, tmp_path):
    spool = tmp_path / "spool"
    s = Sailo(database, tmp_path, storage_spool=spool)
    bus = s.token("integration")
    path, sha = package(tmp_path)
    up = tus_client(s, bus).uploader(str(path), chunk_size=1 << 20)
    up.upload(stop_at=2 << 20)
    url = up.url
    assert s.stop() == 0
    s = Sailo(database, tmp_path, port=s.port, storage_spool=spool)
    try:
        again = tus_client(s, bus).uploader(str(path), chunk_size=1 << 20, url=url)
        assert again.offset == 2 << 20
        again.upload()
        t = requests.get(s.url + again.request.response_headers["sailo-transfer"],
                         headers=auth(bus), timeout=10).json()
        assert t["package_sha256"] == sha
    finally:
        s.stop()


def test_a_patch_cut_off_midway_keeps_what_arrived(start_sailo, tmp_path):
    s = start_sailo(ingest_paused="true", storage_spool=tmp_path / "spool")
    bus = s.token("integration")
    path, sha = package(tmp_path, size=2 * 1024 * 1024)
    c = tus_client(s, bus)
    up = c.uploader(str(path), chunk_size=1 << 20)
    up.set_url(up.create_url())
    data = path.read_bytes()
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"PATCH /v1/uploads/" + upload_id(up.url).encode() + b" HTTP/1.1\r\n"
                 b"Host: x\r\nAuthorization: Bearer " + bus.encode() + b"\r\n"
                 b"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                 b"Content-Type: application/offset+octet-stream\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(data))
    sock.sendall(data[:700000])
    time.sleep(0.5)
    sock.close()                                   # the client is gone
    hdr = dict(auth(bus), **{"Tus-Resumable": "1.0.0"})
    deadline = time.time() + 5
    while True:
        offset = int(requests.head(up.url, headers=hdr, timeout=10).headers["Upload-Offset"])
        if offset > 0 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert 0 < offset <= 700000
    again = c.uploader(str(path), chunk_size=1 << 20, url=up.url)
    assert again.offset == offset
    again.upload()
    t = requests.get(s.url + again.request.response_headers["sailo-transfer"],
                     headers=auth(bus), timeout=10).json()
    assert t["package_sha256"] == sha


def test_protocol_errors_are_answered_as_tus_says(start_sailo, tmp_path):
    s = start_sailo(ingest_paused="true", storage_spool=tmp_path / "spool")
    bus = s.token("integration")
    opts = requests.options(s.url + "/v1/uploads", timeout=10)
    assert opts.status_code == 204
    assert opts.headers["Tus-Version"] == "1.0.0"
    assert "creation" in opts.headers["Tus-Extension"]
    assert "termination" in opts.headers["Tus-Extension"]
    r = requests.post(s.url + "/v1/uploads", headers=dict(auth(bus), **{"Upload-Length": "10"}), timeout=10)
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    h = dict(auth(bus), **{"Tus-Resumable": "1.0.0"})
    r = requests.post(s.url + "/v1/uploads", headers=dict(h, **{"Upload-Length": "ten"}), timeout=10)
    assert r.status_code == 400
    r = requests.post(s.url + "/v1/uploads", headers=dict(h, **{"Upload-Length": "10"}), timeout=10)
    assert r.status_code == 201
    url = s.url + r.headers["Location"]
    r = requests.patch(url, data=b"12345", timeout=10,
                       headers=dict(h, **{"Upload-Offset": "3",
                                          "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 409 and r.headers["Upload-Offset"] == "0"
    r = requests.patch(url, data=b"12345", timeout=10,
                       headers=dict(h, **{"Upload-Offset": "0", "Content-Type": "text/plain"}))
    assert r.status_code == 415
    r = requests.patch(url, data=b"0123456789ABC", timeout=10,
                       headers=dict(h, **{"Upload-Offset": "0",
                                          "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 413
    other = s.token("integration")
    assert requests.head(url, headers=dict(auth(other), **{"Tus-Resumable": "1.0.0"}),
                         timeout=10).status_code == 404
    r = requests.delete(url, headers=h, timeout=10)
    assert r.status_code == 204 and r.headers["Tus-Resumable"] == "1.0.0"
    assert requests.head(url, headers=h, timeout=10).status_code == 404
    assert not any(f.endswith(".part") for f in os.listdir(tmp_path / "spool"))
    assert s.post("/v1/uploads", {}, token=s.token("records_manager")).status_code == 403
