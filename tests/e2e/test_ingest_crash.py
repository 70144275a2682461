"""Ingest survives a crash, black-box: the daemon is killed (SIGKILL) while
it unpacks a transfer, while it writes the AIPs, and while it catalogues
them; after a restart on the same database and folders the transfer ends
`accepted` exactly once, with nothing left over and nothing stored twice.
Also: a tus upload cut off halfway (and a restart between the halves)
still becomes an accepted transfer, and the start-up store reconciliation
reports a version folder that has no catalogue row.

There are no hooks in the daemon: the test watches the file system every
millisecond and kills the daemon the moment a phase's marker appears —

  unpack      storage_work/<transfer>/ has files, store/aips/.tmp/<transfer>
              not yet (unpacking from the spool: the daemon runs with
              ingest.unpack_while_receiving off);
  receiving   storage_work/.early-<daemon>/<x>/ has files while the
              package is still being sent (unpacking while it arrives);
  write       store/aips/.tmp/<transfer>/ has a bag, no store/aips/<uuid>/v1;
  catalogue   the first store/aips/<uuid>/v1 (bags are renamed into place
              inside the catalogue transaction, before its COMMIT).

Each kill is checked to have landed where it was aimed (what was on disk
and in the database right after it); a missed window fails the test.

Every test has a database of its own, so "every version folder has its
catalogue row and every row its folder" is a statement about the whole
catalogue.  Phase timings are printed (pytest -s).
"""
import hashlib
import os
import re
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import requests
from tusclient import client as tus

from conftest import Sailo, auth, conninfo
from test_ingest import (FULL_CLEARANCE, audit_actions, check_sahke2_aips,
                         verify_bag, wait_done)
import pkggen  # noqa: E402  (on the path through test_ingest)

# The AIP-writing and cataloguing windows come from a package of many case
# files (one ~1 KB record each): 1000 case files make 3000 `files` rows,
# more than one catalogue batch (PROCESS_BATCH_ROWS).  Measured on 2 cores
# (with the catalogue batched): write 1.5–3 s + sync 0.1–0.3 s (the
# writing window), catalogue 0.3–0.6 s until the COMMIT; a kill lands
# 1–10 ms after its marker appears.
MANY_CASE_FILES = 1000
# The unpacking window: 4 case files × 4 records, 20 documents of 24 MiB
# (480 MiB, plain tar): unpack 0.5–1.4 s here.
BIG_DOC_BYTES = 64 << 20
POLL_S = 0.001
PHASE_TIMEOUT_S = 30


def sql(database, query, *args):
    conn = psycopg2.connect(conninfo("sailo_owner", database))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        conn.close()


class Daemons:
    """Daemons on one database and one set of folders under tmp_path; the
    tokens are made once and shared by every daemon (they live in the
    database).  Killed daemons are reaped; the others must exit 0."""

    def __init__(self, database, tmp_path):
        self.database = database
        self.tmp_path = tmp_path
        self.dirs = dict(storage_root=tmp_path / "store",
                         storage_work=tmp_path / "work",
                         storage_spool=tmp_path / "spool",
                         ingest_inbox_dir=tmp_path / "inbox",
                         ingest_outbox_dir=tmp_path / "outbox")
        self.started = []
        self.tokens = None

    def start(self, **settings):
        s = Sailo(self.database, self.tmp_path, **dict(self.dirs, **settings))
        s.killed = False
        self.started.append(s)
        s.store = Path(self.dirs["storage_root"])
        s.work = Path(self.dirs["storage_work"])
        s.spool = Path(self.dirs["storage_spool"])
        if self.tokens is None:
            name = f"kaupunki-bus-{uuid.uuid4().hex[:6]}"
            self.tokens = (name, s.token("integration", name=name),
                           s.token("records_manager",
                                   clearance=FULL_CLEARANCE),
                           s.token("auditor", clearance=FULL_CLEARANCE))
        s.bus_name, s.bus, s.rm, s.auditor = self.tokens
        return s

    def kill(self, s):
        os.kill(s.proc.pid, signal.SIGKILL)
        s.killed = True
        assert s.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self, s):
        rc = s.stop()
        assert rc == 0, s.proc.stderr.read().decode()[-3000:]


@pytest.fixture
def daemons(fresh_database, tmp_path):
    d = Daemons(fresh_database, tmp_path)
    yield d
    bad = []
    for s in d.started:
        if s.killed:
            s.proc.wait(timeout=10)
        else:
            rc = s.stop() if s.proc.poll() is None else s.proc.returncode
            if rc != 0:
                bad.append((s.port, rc, s.proc.stderr.read().decode()[-2000:]))
        s.proc.stderr.close()
    assert not bad, bad


# ---------------------------------------------------------------------------
# Packages

def big_package(path):
    """A SÄHKE2 package whose unpacking takes a while: 4 case files, 20
    documents of BIG_DOC_BYTES (one PDF body shared by all), plain tar."""
    pkg = pkggen.sahke2_package(version="2019", casefiles=4, records=4, kb=1,
                                seed=23)
    body = pkggen.pdf_bytes("Suuri asiakirja", BIG_DOC_BYTES, seed=23)
    hashes = {}
    for d in pkg.docs():
        d.data = body
        if d.algorithm not in hashes:
            hashes[d.algorithm] = pkggen.digest(d.algorithm, body)
        d.hash_value = hashes[d.algorithm]     # hashed once, not per doc

    def chunked(e):
        # memoryview chunks: pkggen's tar reader slices them without copying
        if e.kind != "file" or e.data is None or len(e.data) <= 1 << 20:
            return e
        view = memoryview(e.data)
        return pkggen.Entry(e.name, size=len(view), chunks=lambda: (
            view[i:i + (1 << 20)] for i in range(0, len(view), 1 << 20)))

    pkggen.write_archive([chunked(e) for e in pkg.entries()], "tar", str(path))
    content = sum(len(data) for data in pkg.files().values())
    return pkg, content


@pytest.fixture(scope="module")
def many_case_files(tmp_path_factory):
    """MANY_CASE_FILES case files × 1 record × 1 KB, plain tar (pkggen's
    scale generator); (path, summary, case file NativeIds)."""
    path = tmp_path_factory.mktemp("pkg") / "monta.tar"
    summary = pkggen.generate_scale(str(path), "tar", records=1, kb=1,
                                    casefiles=MANY_CASE_FILES, seed=5)
    natives = [f"HEL 2020-{c:07d}" for c in range(MANY_CASE_FILES)]
    return path, summary, natives


def submit_file(s, path):
    """POST /v1/transfers of a package file; the 202 reply's transfer."""
    data = Path(path).read_bytes()
    r = requests.post(s.url + "/v1/transfers", data=data, timeout=120,
                      headers=dict(auth(s.bus),
                                   **{"Content-Type": "application/x-tar"}))
    assert r.status_code == 202, r.text
    t = r.json()
    assert t["package_sha256"] == hashlib.sha256(data).hexdigest()
    return t


# ---------------------------------------------------------------------------
# Killing in a phase

class Missed(Exception):
    pass


def kill_when(daemons, s, tid, seen, what):
    """Polls seen() every POLL_S; the moment it returns an observation
    (not None), SIGKILLs s.  seen() raises Missed when the phase is over
    before it was seen, and so does the transfer's package leaving the
    spool (the transfer is over).  Returns (observation, seconds
    watched)."""
    pkg = s.spool / f"{tid}.pkg"
    t0 = time.monotonic()
    deadline = t0 + PHASE_TIMEOUT_S
    while True:
        try:
            obs = seen()
            if obs is None and not pkg.exists():
                raise Missed(f"{pkg} is gone: the transfer is over")
        except Missed as e:
            pytest.fail(f"missed the {what} window: {e}\n{s.log()[-2000:]}")
        if obs is not None:
            daemons.kill(s)
            return obs, time.monotonic() - t0
        assert s.proc.poll() is None, f"sailo exited during {what}"
        assert time.monotonic() < deadline, \
            f"no {what} after {PHASE_TIMEOUT_S} s\n{s.log()[-2000:]}"
        time.sleep(POLL_S)


def aip_dirs(store):
    """{(uuid, version)} of the version folders store/aips/<uuid>/v<N>."""
    out = set()
    aips = store / "aips"
    if not aips.exists():
        return out
    for a in os.scandir(aips):
        if a.name.startswith(".") or not a.is_dir():
            continue
        for v in os.scandir(a.path):
            m = re.fullmatch(r"v(\d+)", v.name)
            if m:
                out.add((a.name, int(m.group(1))))
    return out


def placed_v1(store):
    """The first AIP folder with a v1, or None (cheap: stops at one)."""
    aips = store / "aips"
    try:
        it = os.scandir(aips)
    except FileNotFoundError:
        return None
    with it:
        for a in it:
            if not a.name.startswith(".") and os.path.isdir(
                    os.path.join(a.path, "v1")):
                return a.name
    return None


def tree_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def transfer_row(database, tid):
    rows = sql(database, "SELECT status, attempts FROM transfers "
               "WHERE id = %s", tid)
    assert len(rows) == 1
    return rows[0]


def phase_times(log, tid):
    m = re.search(rf"transfer {tid} accepted \(.*?; (.*)\)", log)
    assert m, log[-2000:]
    return m.group(1)


def reconcile_line(s):
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(r"store reconciliation: (\d+) AIP version\(s\) on disk, "
                      r"(\d+) without a catalogue row, (\d+) catalogued but "
                      r"missing, (\d+) being stored", s.log())
        if m:
            return tuple(int(x) for x in m.groups())
        time.sleep(0.05)
    pytest.fail(f"no store reconciliation line\n{s.log()[-2000:]}")


def check_store_agrees(s, database):
    """The store and the catalogue agree: every version folder has its
    catalogue row (no orphan) and every row its folder."""
    catalogued = {(a, v) for a, v in sql(
        database, "SELECT aip_id::text, version FROM aip_versions")}
    on_disk = aip_dirs(s.store)
    assert on_disk - catalogued == set(), (
        f"{len(on_disk - catalogued)} version folder(s) without a catalogue "
        f"row, e.g. {sorted(on_disk - catalogued)[:3]}")
    assert catalogued - on_disk == set()


def check_accepted_once(s, database, tid, natives, store_agrees=True):
    """The transfer is accepted, each case file is one AIP of one version
    (v1) stored by this transfer, on disk and in the catalogue, and nothing
    of the transfer is left in the work folders or the spool; then (unless
    told not to) the store and the catalogue agree folder for row."""
    t = wait_done(s, tid)
    assert t["status"] == "accepted", (t, s.log()[-3000:])
    status, attempts = transfer_row(database, tid)
    assert status == "accepted"
    # one killed try, one that finished: the kill landed mid-try
    assert attempts == 2, attempts

    # the catalogue (a database of this test's own: every row is ours)
    rows = sql(database, "SELECT a.id::text, a.native_id, a.current_version, "
               "v.version, v.transfer_id::text FROM aips a JOIN aip_versions "
               "v ON v.aip_id = a.id")
    assert sorted(r[1] for r in rows) == sorted(natives)
    assert all(r[2] == 1 and r[3] == 1 and r[4] == tid for r in rows), \
        [r for r in rows if (r[2], r[3], r[4]) != (1, 1, tid)][:5]
    assert sql(database, "SELECT count(*) FROM aips")[0][0] == len(natives)
    assert sorted(t["aips"]) == sorted(r[0] for r in rows)
    native_of = {r[0]: r[1] for r in rows}
    http = requests.Session()
    http.headers.update(auth(s.rm))
    for aip_id in t["aips"]:
        r = http.get(f"{s.url}/v1/aips/{aip_id}", timeout=10)
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["native_id"] == native_of[aip_id]
        assert a["current_version"] == 1
        assert [(v["version"], v["transfer_id"]) for v in a["versions"]] == \
            [(1, tid)], a["versions"]

    # the audit trail: accepted once; each AIP stored once
    actions = audit_actions(s, tid)
    assert actions.count("transfer.accept") == 1, actions
    assert "transfer.fail" not in actions and "transfer.reject" not in actions
    stores = sql(database, "SELECT object_id, details->>'transfer' FROM "
                 "audit_events WHERE action = 'aip.store'")
    assert sorted(o for o, _ in stores) == sorted(t["aips"])
    assert {x for _, x in stores} == {tid}

    # nothing of the transfer left behind (removed just after the commit)
    leftovers = [s.store / "aips" / ".tmp" / tid, s.work / tid,
                 s.work / f"{tid}.meta", s.spool / f"{tid}.pkg"]
    deadline = time.time() + 10
    while time.time() < deadline and any(p.exists() for p in leftovers):
        time.sleep(0.05)
    assert [p for p in leftovers if p.exists()] == []

    # every AIP a valid bag, as any BagIt tool checks it
    for aip_id in t["aips"]:
        info, _ = verify_bag(s.store / "aips" / aip_id / "v1")
        assert info["Sailo-Transfer-Id"] == tid
        assert info["External-Identifier"] == native_of[aip_id]

    if store_agrees:
        check_store_agrees(s, database)
    return t


# ---------------------------------------------------------------------------
# 1. SIGKILL in each phase, then a restart

def test_kill_during_unpack_then_restart_accepts_once(daemons, tmp_path):
    # the job's own unpacking, from the spool (what every restart does;
    # unpacking while receiving is killed in the test after this one)
    path = tmp_path / "suuri.tar"
    pkg, content = big_package(path)
    s = daemons.start(ingest_unpack_while_receiving="false")
    tid = submit_file(s, path)["id"]
    work, tmp = s.work / tid, s.store / "aips" / ".tmp" / tid

    def unpacking():
        if tmp.exists():
            raise Missed(f"{tmp} exists: unpacking is over")
        try:
            names = os.listdir(work)
        except FileNotFoundError:
            return None
        return names or None

    _, watched = kill_when(daemons, s, tid, unpacking, "unpack")
    # where the kill landed: unpacking begun, not finished, nothing written
    unpacked = tree_bytes(work)
    assert 0 < unpacked < content, (unpacked, content)
    assert not tmp.exists() and aip_dirs(s.store) == set()
    assert transfer_row(daemons.database, tid) == ("validating", 1)
    assert (s.spool / f"{tid}.pkg").exists()
    print(f"\n[unpack] killed {watched:.3f} s after the 202 reply, "
          f"{unpacked / content:.0%} of {content >> 20} MiB unpacked")

    s = daemons.start()
    assert reconcile_line(s) == (0, 0, 0, 0)
    check_accepted_once(s, daemons.database, tid,
                        [cf.native_id for cf in pkg.casefiles])
    t = wait_done(s, tid)
    check_sahke2_aips(s, t, pkg)
    print(f"[unpack] the try after the restart: "
          f"{phase_times(s.log(), tid)}")
    daemons.stop(s)
    for p in (path, s.store):                   # 1 GiB: not kept by pytest
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def test_kill_while_unpacking_as_it_arrives_then_restart(daemons, tmp_path):
    # ingest.unpack_while_receiving (the default): the package unpacks into
    # storage_work/.early-<daemon>/ while it is still being sent.  Killed
    # then, no transfer exists (the client's connection is cut); the next
    # start removes the dead daemon's folder, and the package sent again
    # is accepted once.
    path = tmp_path / "suuri.tar"
    pkg, content = big_package(path)
    data = path.read_bytes()
    s = daemons.start()
    half = threading.Event()
    sent = {}

    def body():
        # the first half, then nothing more until the kill
        for i in range(0, len(data) // 2, 1 << 20):
            yield data[i:i + (1 << 20)]
        half.set()
        time.sleep(PHASE_TIMEOUT_S)
        yield data[len(data) // 2:]

    def send():
        try:
            sent["reply"] = requests.post(
                s.url + "/v1/transfers", data=body(), timeout=120,
                headers=dict(auth(s.bus),
                             **{"Content-Type": "application/x-tar"}))
        except requests.RequestException as e:
            sent["error"] = e

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    assert half.wait(PHASE_TIMEOUT_S)

    def early_files():
        found = [p for p in s.work.glob(".early-*/*/**/*") if p.is_file()]
        return found or None

    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while (found := early_files()) is None:
        assert time.monotonic() < deadline, s.log()[-2000:]
        time.sleep(POLL_S)
    daemons.kill(s)
    sender.join(timeout=30)
    assert "reply" not in sent, sent["reply"].text   # cut off: no 202
    early = {p.relative_to(s.work).parts[0] for p in found}
    assert len(early) == 1
    assert 0 < tree_bytes(s.work / early.pop()) < content
    assert sql(daemons.database, "SELECT count(*) FROM transfers") == [(0,)]

    s = daemons.start()
    assert reconcile_line(s) == (0, 0, 0, 0)
    deadline = time.monotonic() + 10
    while "left by a daemon that stopped while receiving" not in s.log():
        assert time.monotonic() < deadline, s.log()[-2000:]
        time.sleep(0.05)
    # only the new daemon's own folder, empty
    left = [p for p in s.work.glob(".early-*/**/*")]
    assert left == [], left[:5]
    assert len(list(s.work.glob(".early-*"))) == 1
    tid = submit_file(s, path)["id"]
    t = wait_done(s, tid)
    assert t["status"] == "accepted", (t, s.log()[-3000:])
    assert transfer_row(daemons.database, tid) == ("accepted", 1)
    check_sahke2_aips(s, t, pkg)
    assert "unpack (early)" in phase_times(s.log(), tid)
    check_store_agrees(s, daemons.database)
    assert [p for p in s.work.glob(".early-*/*")] == []
    daemons.stop(s)
    assert list(s.work.glob(".early-*")) == []   # a clean stop removes it
    for p in (path, s.store):                   # 1 GiB: not kept by pytest
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def test_kill_during_aip_writing_then_restart_accepts_once(daemons,
                                                           many_case_files):
    path, _, natives = many_case_files
    s = daemons.start()
    tid = submit_file(s, path)["id"]
    tmp = s.store / "aips" / ".tmp" / tid

    def writing():
        placed = placed_v1(s.store)
        if placed:
            raise Missed(f"{placed}/v1 is in place: writing is over")
        try:
            bags = os.listdir(tmp)
        except FileNotFoundError:
            return None
        return len(bags) or None

    _, watched = kill_when(daemons, s, tid, writing, "AIP writing")
    # where the kill landed: some bags written, not all, none placed
    after = os.listdir(tmp)
    assert 0 < len(after) < MANY_CASE_FILES, len(after)
    assert aip_dirs(s.store) == set()
    assert transfer_row(daemons.database, tid) == ("validating", 1)
    print(f"\n[write] killed {watched:.3f} s after the 202 reply, "
          f"{len(after)} of {MANY_CASE_FILES} bags under .tmp")

    s = daemons.start()
    assert reconcile_line(s) == (0, 0, 0, 0)
    check_accepted_once(s, daemons.database, tid, natives)
    print(f"[write] the try after the restart: {phase_times(s.log(), tid)}")
    daemons.stop(s)


def test_kill_during_cataloguing_then_restart_accepts_once(daemons,
                                                           many_case_files):
    path, _, natives = many_case_files
    s = daemons.start()
    tid = submit_file(s, path)["id"]

    _, watched = kill_when(daemons, s, tid, lambda: placed_v1(s.store),
                           "catalogue")
    # where the kill landed: bags being placed, the COMMIT not reached
    left = aip_dirs(s.store)
    assert 0 < len(left) < MANY_CASE_FILES, len(left)
    assert {v for _, v in left} == {1}
    assert transfer_row(daemons.database, tid) == ("validating", 1)
    assert sql(daemons.database,
               "SELECT count(*) FROM aip_versions")[0][0] == 0
    for events in ("audit_events", "audit_queue"):     # chained or not
        assert sql(daemons.database, f"SELECT count(*) FROM {events} WHERE "
                   "action IN ('aip.store', 'transfer.accept')")[0][0] == 0
    print(f"\n[catalogue] killed {watched:.3f} s after the 202 reply, "
          f"{len(left)} of {MANY_CASE_FILES} v1 folders placed")

    s = daemons.start()
    # the start-up reconciliation sees the killed try's folders as the
    # work of a transfer still being processed, not as orphans …
    assert reconcile_line(s) == (len(left), 0, 0, len(left))
    for a, v in left:
        assert f"store: folder without a catalogue row: AIP {a} version {v}" \
            not in s.log()
    # … the transfer is then stored once …
    t = check_accepted_once(s, daemons.database, tid, natives,
                            store_agrees=False)
    print(f"[catalogue] the try after the restart: "
          f"{phase_times(s.log(), tid)}")
    # … and each folder the killed try placed was replaced by the
    # next try (process.c logs "replaced …") or is a stored AIP now
    log, stored = s.log(), set(t["aips"])
    unresolved = [(a, v) for a, v in sorted(left)
                  if (s.store / "aips" / a / f"v{v}").exists() and
                  a not in stored and
                  f"replaced {s.store}/aips/{a}/v{v}," not in log]
    print(f"[catalogue] of the killed try's {len(left)} v1 folders, "
          f"{len(unresolved)} are still on disk, neither replaced nor "
          f"catalogued")
    assert unresolved == [], (
        f"the killed try's folders {unresolved} are still in the store "
        f"without a catalogue row: the next try stored the case files "
        f"under new AIP ids")
    check_store_agrees(s, daemons.database)
    daemons.stop(s)


# ---------------------------------------------------------------------------
# 2. A tus upload cut off halfway, resumed (also across a restart)

@pytest.mark.parametrize("restart", [False, True],
                         ids=["same-daemon", "restart-between"])
def test_interrupted_tus_upload_of_a_package_ends_accepted(daemons, tmp_path,
                                                           restart):
    pkg = pkggen.sahke2_package(version="2019", casefiles=3, records=4,
                                kb=256, seed=31)
    path = tmp_path / "siirto.zip"
    path.write_bytes(pkg.archive("zip"))
    size = path.stat().st_size
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert size > 3 << 20
    chunk = 256 << 10
    half = size // 2 // chunk * chunk

    s = daemons.start()

    def client(s):
        return tus.TusClient(s.url + "/v1/uploads",
                             headers={"Authorization": f"Bearer {s.bus}"})

    first = client(s).uploader(str(path), chunk_size=chunk,
                               metadata={"filename": "siirto.zip"})
    first.upload(stop_at=half)
    upload = first.url.rstrip("/").rsplit("/", 1)[1]
    head = requests.head(first.url, timeout=10, headers=dict(
        auth(s.bus), **{"Tus-Resumable": "1.0.0"}))
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(half)
    assert head.headers["Upload-Length"] == str(size)
    r = s.get("/v1/transfers", token=s.bus, params={"upload_id": upload})
    assert r.status_code == 200 and r.json()["items"] == []   # not yet
    if restart:
        daemons.stop(s)
        s = daemons.start(port=s.port)                    # the same URL
    again = client(s).uploader(str(path), chunk_size=chunk, url=first.url)
    assert again.offset == half                            # resumes
    again.upload()
    location = again.request.response_headers["sailo-transfer"]
    tid = location.rstrip("/").rsplit("/", 1)[1]
    t = wait_done(s, tid)
    assert t["status"] == "accepted", (t, s.log()[-3000:])
    assert t["package_sha256"] == sha and t["size"] == size
    check_sahke2_aips(s, t, pkg)          # verify_bag on every AIP, and more
    actions = audit_actions(s, tid)
    assert actions.count("transfer.accept") == 1, actions
    deadline = time.time() + 10
    while time.time() < deadline and os.listdir(s.spool):
        time.sleep(0.05)
    assert os.listdir(s.spool) == []      # no package, no part file left
    daemons.stop(s)


# ---------------------------------------------------------------------------
# 3. The start-up store reconciliation reports a folder without its row

def test_startup_reconciliation_reports_an_orphan_version_folder(daemons):
    s = daemons.start()
    assert reconcile_line(s) == (0, 0, 0, 0)     # an empty store: nothing to say
    daemons.stop(s)
    orphan_id = str(uuid.uuid4())
    orphan = daemons.dirs["storage_root"] / "aips" / orphan_id / "v1"
    (orphan / "data").mkdir(parents=True)
    (orphan / "bagit.txt").write_bytes(
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (orphan / "data" / "asiakirja.pdf").write_bytes(pkggen.pdf_bytes("orpo"))

    s = daemons.start()
    assert reconcile_line(s) == (1, 1, 0, 0)
    assert (f"store: folder without a catalogue row: AIP {orphan_id} "
            f"version 1") in s.log()
    r = s.get("/v1/audit", token=s.auditor,
              params={"action": "store.reconcile", "limit": 100})
    assert r.status_code == 200, r.text
    events = r.json()["items"]
    assert len(events) == 1, events           # none for the clean start
    ev = events[0]
    assert (ev["actor"], ev["object_type"], ev["outcome"]) == \
        ("system", "store", "failure"), ev
    assert ev["details"] == {
        "on_disk": 1, "orphans": 1, "missing": 0,
        "mismatches": [{"kind": "folder without a catalogue row",
                        "aip": orphan_id, "version": 1}]}, ev["details"]
    # reported, never removed: a person decides
    assert (orphan / "data" / "asiakirja.pdf").exists()
    daemons.stop(s)
