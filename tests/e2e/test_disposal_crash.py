"""Disposal survives a crash, black-box: the daemon is SIGKILLed while it
carries out an approved batch of many AIPs — first the moment a disposal's
new version folder (store/aips/<uuid>/v2) appears, which is placed inside
the transaction that catalogues it (step 2 of dispose.c), then the moment
an older version's copy of a destroyed file is gone while its item is
still `deleting` (step 3, after that commit), then once part of the batch
is destroyed — and after each restart the batch goes on.  In the end every
item is destroyed exactly once: one new version per AIP, one
disposal.destroy event per AIP, every bag valid, no copy of a destroyed
file left, and the certificate lists each item once.

The records are made due by back-dating their retention in the database
(as the owner), which the issue allows beside life-cycle events."""
import hashlib
import os
import time
from pathlib import Path

import pytest

import pkggen
from test_disposal import verify_certificate
from test_ingest import verify_bag, wait_done
from test_ingest_crash import Daemons, sql, submit_file  # noqa: F401
from test_ingest_crash import daemons  # noqa: F401  (the fixture)

CASE_FILES = 600  # more than two disposal groups (dispose.c)
POLL_S = 0.002


@pytest.fixture
def batch_package(tmp_path):
    path = tmp_path / "kotelo.tar"
    pkggen.generate_scale(str(path), "tar", records=1, kb=1,
                          casefiles=CASE_FILES, seed=31)
    return path


def v2_dirs(store):
    aips = store / "aips"
    return [e.name for e in os.scandir(aips)
            if not e.name.startswith(".") and os.path.isdir(
                os.path.join(aips, e.name, "v2"))]


def batch_state(database, bid):
    rows = sql(database, "SELECT state, count(*) FROM disposal_items WHERE "
               "batch_id = %s GROUP BY state", bid)
    return dict(rows)


def wait_status(s, token, bid, timeout=180):
    deadline = time.time() + timeout
    while True:
        b = s.get(f"/v1/disposals/{bid}", token=token).json()
        if b["status"] in ("done", "partially_executed"):
            return b
        assert time.time() < deadline, (b, s.log()[-2000:])
        time.sleep(0.2)


def old_copy_gone(store, watch):
    """An AIP whose disposal version (v2) is in place and whose version 1
    no longer holds its content file: step 3 under way.  watch remembers,
    per AIP, the file its v1 manifest listed when v2 was first seen."""
    for aip in v2_dirs(store):
        v1 = store / "aips" / aip / "v1"
        if aip not in watch:
            listed = [line.split(None, 1)[1] for line in
                      (v1 / "manifest-sha256.txt").read_text().splitlines()
                      if " data/content/" in line]
            if not listed:
                return aip      # already rewritten without it
            watch[aip] = v1 / listed[0]
        if not watch[aip].exists():
            return aip
    return None


def kill_when(daemons, s, seen, what, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        obs = seen()
        if obs:
            daemons.kill(s)
            return obs
        assert s.proc.poll() is None, f"sailo exited before {what}"
        assert time.monotonic() < deadline, \
            f"no {what} after {timeout} s\n{s.log()[-2000:]}"
        time.sleep(POLL_S)


def test_kill_during_disposal_then_restart_destroys_each_once(
        daemons, batch_package):
    db = daemons.database
    store = Path(daemons.dirs["storage_root"])
    s = daemons.start()
    t = submit_file(s, batch_package)
    assert wait_done(s, t["id"], timeout=120)["status"] == "accepted"
    # every record due: retention back-dated to 2020
    sql(db, "UPDATE retention SET state = 'dated', years = 1, end_date = "
        "'2020-01-01', trigger_date = '2019-01-01' WHERE record_id IN "
        "(SELECT id FROM records WHERE transfer_id = %s) RETURNING 1", t["id"])
    digests = {row[0]: row[1] for row in sql(
        db, "SELECT r.native_id, encode(f.sha256, 'hex') FROM files f JOIN "
        "records r ON r.id = f.record_id WHERE r.transfer_id = %s", t["id"])}
    assert len(digests) == CASE_FILES
    second = s.token("records_manager", name="hyvaksyja")

    r = s.post("/v1/disposals", {"note": "kaatumistesti"}, token=s.rm)
    assert r.status_code == 201 and r.json()["records"] == CASE_FILES, r.text
    bid = r.json()["id"]
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=second)
    assert r.status_code == 202, r.text

    # 1. the first disposal version folder placed: its transaction open
    first = kill_when(daemons, s, lambda: v2_dirs(store),
                      "a disposal version folder")
    at_kill = batch_state(db, bid)
    assert at_kill.get("destroyed", 0) < CASE_FILES, at_kill
    print(f"killed with {first[:1]} placed; items {at_kill}")

    # 2. restarted; killed when an older version's copy is gone while the
    # item is still deleting: after step 2's commit, inside step 3
    s = daemons.start()
    watch = {}
    aip = kill_when(daemons, s, lambda: old_copy_gone(store, watch),
                    "an older version's copy unlinked")
    states = sql(db, "SELECT state FROM disposal_items WHERE batch_id = %s "
                 "AND aip_id = %s", bid, aip)
    assert states == [("deleting",)], (aip, states)
    print(f"killed in step 3 with {aip}'s v1 copy gone; items "
          f"{batch_state(db, bid)}")

    # 3. restarted; killed again once part of the batch is destroyed
    s = daemons.start()
    kill_when(daemons, s, lambda: batch_state(db, bid).get("destroyed", 0)
              >= CASE_FILES // 4, "a quarter destroyed")
    at_kill = batch_state(db, bid)
    assert at_kill.get("destroyed", 0) < CASE_FILES, \
        f"the batch was over before the kill: {at_kill}"
    print(f"killed again with items {at_kill}")

    # 4. restarted: the batch finishes
    s = daemons.start()
    b = wait_status(s, s.rm, bid)
    assert b["status"] == "done", b
    assert b["counts"] == {"pending": 0, "deleting": 0, "destroyed":
                           CASE_FILES, "skipped": 0, "failed": 0}, b

    # exactly once: one disposal version per AIP, one event per AIP
    versions = sql(db, "SELECT aip_id, count(*) FILTER (WHERE disposal_batch "
                   "IS NOT NULL), max(version) FROM aip_versions GROUP BY "
                   "aip_id")
    assert len(versions) == CASE_FILES
    assert all(n == 1 and top == 2 for _, n, top in versions), versions
    events = sql(db, "SELECT object_id, count(*) FROM audit_events WHERE "
                 "action = 'disposal.destroy' GROUP BY object_id")
    assert len(events) == CASE_FILES and all(n == 1 for _, n in events)
    assert sql(db, "SELECT count(*) FROM disposal_files WHERE batch_id = %s",
               bid) == [(CASE_FILES,)]

    # the disk: only v1 and v2 of each AIP, each a valid bag, and not one
    # copy of a destroyed file anywhere under the daemon's folders
    for aip_id, _, _ in versions:
        assert sorted(os.listdir(store / "aips" / aip_id)) == ["v1", "v2"]
    for aip_id, _, _ in versions[:: CASE_FILES // 20] + [
            (first[0], 0, 0), (aip, 0, 0)]:
        for v in ("v1", "v2"):
            verify_bag(store / "aips" / aip_id / v)
    on_disk = set()
    for root, _, names in os.walk(daemons.tmp_path):
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                on_disk.add(hashlib.sha256(f.read()).hexdigest())
    left = [nid for nid, d in digests.items() if d in on_disk]
    # the package itself (kotelo.tar) is the test's, not the daemon's
    assert left == [], left[:5]

    r = s.get(f"/v1/disposals/{bid}/certificate", token=s.auditor)
    assert r.status_code == 200, r.text
    cert = r.json()
    ids = [i["record_id"] for i in cert["certificate"]["items"]]
    assert len(ids) == len(set(ids)) == CASE_FILES
    s.tmp = daemons.tmp_path
    rc, out = verify_certificate(s, cert, daemons.tmp_path)
    assert rc == 0, out
