"""Ingest options a records manager sets: SHA-512 manifests beside SHA-256,
keeping submitted packages for a while, and the inbox's final report."""
import json
import os
import subprocess
import time

import psycopg2
import requests

import pkggen
from conftest import auth, conninfo
from test_ingest import ingest, run, stored_aips, submit, wait_done  # noqa: F401


def sahke2_tar(casefiles=2, seed=1):
    pkg = pkggen.sahke2_package("2019", casefiles=casefiles, records=2,
                                seed=seed)
    return pkg.archive("tar")


def test_sha512_manifests_are_written_and_hold(ingest):
    s = ingest(storage_sha512="true")
    t, rep = run(s, sahke2_tar(), "application/x-tar")
    assert t["status"] == "accepted", rep
    aips = stored_aips(s)
    assert len(aips) == 2, aips         # sahke2_tar(): two case files
    for aip in aips:
        bag = s.store / "aips" / aip / "v1"
        for name in ("manifest-sha512.txt", "tagmanifest-sha512.txt"):
            assert (bag / name).exists(), name
            out = subprocess.run(["sha512sum", "--strict", "-c", name],
                                 cwd=bag, capture_output=True, text=True)
            assert out.returncode == 0, out.stdout + out.stderr
        tags = (bag / "tagmanifest-sha512.txt").read_text()
        assert "manifest-sha512.txt" in tags and "bag-info.txt" in tags
        lines = (bag / "manifest-sha512.txt").read_text().splitlines()
        assert len(lines) == len((bag / "manifest-sha256.txt").read_text()
                                 .splitlines())


def test_a_kept_package_stays_in_the_spool(ingest, database):
    s = ingest(ingest_keep_packages_days=3)
    t, rep = run(s, sahke2_tar(), "application/x-tar")
    assert t["status"] == "accepted", rep
    assert (s.spool / f"{t['id']}.pkg").exists()
    db = psycopg2.connect(conninfo("sailo_owner", database))
    cur = db.cursor()
    cur.execute("SELECT package_kept_until - finished_at FROM transfers "
                "WHERE id = %s", (t["id"],))
    kept = cur.fetchone()[0]
    db.close()
    assert kept is not None and 2.9 < kept.total_seconds() / 86400 < 3.1
    assert not (s.work / t["id"]).exists()


def test_without_keeping_the_aip_is_the_one_copy(ingest):
    s = ingest()
    t, rep = run(s, sahke2_tar(), "application/x-tar")
    assert t["status"] == "accepted", rep
    assert not (s.spool / f"{t['id']}.pkg").exists()
    assert not (s.work / t["id"]).exists()
    assert not (s.work / f"{t['id']}.meta").exists()


def wait_final_report(path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            rep = json.loads(path.read_text())
            status = rep.get("transfer", {}).get("status")
            if status in ("accepted", "rejected", "failed"):
                return rep
        time.sleep(0.05)
    raise AssertionError(f"no final report at {path}")


def test_inbox_package_gets_its_final_report(ingest, tmp_path):
    s = ingest(ingest_inbox_interval_ms=200)
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    good = sahke2_tar()
    bad = pkggen.HOSTILE["checksum_mismatch"]().data
    for name, data in (("hyvä paketti.tar", good), ("huono.tar", bad)):
        tmp = tmp_path / (name + ".writing")
        tmp.write_bytes(data)
        os.rename(tmp, inbox / name)
    rep = wait_final_report(outbox / "hyvä paketti.tar.report.json")
    assert rep["file"] == "hyvä paketti.tar"
    assert rep["transfer"]["status"] == "accepted"
    assert rep["transfer"]["submitted_by"] == "inbox"
    assert len(rep["transfer"]["aips"]) == 2 and rep["errors"] == 0
    rep = wait_final_report(outbox / "huono.tar.report.json")
    assert rep["transfer"]["status"] == "rejected" and rep["errors"] >= 1
    assert "CHECKSUM_MISMATCH" in {f["code"] for f in rep["findings"]}


def test_the_backlog_is_bounded(ingest):
    s = ingest(ingest_paused="true", ingest_max_waiting=2)
    for seed in (1, 2):
        submit(s, sahke2_tar(seed=seed), "application/x-tar")
    r = requests.post(s.url + "/v1/transfers", data=sahke2_tar(seed=3),
                      headers=dict(auth(s.bus),
                                   **{"Content-Type": "application/x-tar"}),
                      timeout=60)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "BUSY"
    assert r.headers["Retry-After"] == "60"
    assert len(os.listdir(s.spool)) == 2        # nothing kept of the third
