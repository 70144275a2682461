"""An auditor proves the audit trail untouched: concurrent acts form one
valid chain that anyone can verify without Sailo, tampering is pinpointed,
and reading the trail is itself recorded."""
import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import threading
import uuid

import psycopg2
import pytest
import requests

from conftest import ROOT, SAILO, Sailo, conninfo, sailo_env

FIELDS = ("action", "actor", "at", "details", "object_id", "object_type",
          "outcome", "role", "seq")


def canonical(event):
    """RFC 8785 for what audit events hold (ASCII keys, no floats)."""
    return json.dumps({k: event[k] for k in FIELDS}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()


def canonical_details(details):
    return json.dumps(details, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def verify_without_sailo(events):
    """The README's recipe: events in seq order from GET /v1/audit."""
    prev = bytes(32)
    for n, e in enumerate(events, start=1):
        assert e["seq"] == n
        assert bytes.fromhex(e["prev_hash"]) == prev
        h = hashlib.sha256(prev + canonical(e)).digest()
        assert h.hex() == e["hash"], f"event {n}"
        prev = h
    return prev.hex()


def all_events(sailo, token, **filters):
    events, after = [], None
    while True:
        params = dict(filters, order="asc", limit=1000)
        if after:
            params["after"] = after
        r = requests.get(sailo.url + "/v1/audit", params=params,
                         headers={"Authorization": f"Bearer {token}"},
                         timeout=30)
        assert r.status_code == 200, r.text
        events += r.json()["items"]
        after = r.json()["next"]
        if after is None:
            return events


def cli(database, *args):
    return subprocess.run([SAILO, *args], cwd=ROOT, env=sailo_env(database),
                          capture_output=True, text=True)


def test_concurrent_acts_form_one_valid_chain(fresh_database, tmp_path):
    # two daemons on one database of the test's own, as Sailo grows past
    # one machine
    sailo = Sailo(fresh_database, tmp_path)
    other = Sailo(fresh_database, tmp_path)
    try:
        concurrent_acts(sailo, other)
    finally:
        sailo.stop()
        other.stop()


def concurrent_acts(sailo, other):
    admin = sailo.token("admin")
    auditor = sailo.token("auditor")
    errors = []

    def act(i):
        try:
            via = (sailo, other)[i % 2]
            r = via.post("/v1/tokens", {"name": f"c-{i % 5}", "role": "auditor",
                                          "clearance": ["Salassa pidettävä"]},
                           token=admin)
            assert r.status_code == 201
            rid = r.json()["id"]
            r = requests.delete(f"{via.url}/v1/tokens/{rid}", timeout=10,
                                headers={"Authorization": f"Bearer {admin}"})
            assert r.status_code == 200
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=act, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    r = sailo.get("/v1/audit/verify", token=auditor)
    assert r.status_code == 200
    verdict = r.json()
    assert verdict["ok"] is True, verdict
    events = all_events(sailo, auditor)
    # 40 creates, 40 clearances, 40 revokes: all there, once each
    actions = [e["action"] for e in events]
    assert actions.count("token.create") >= 40 + 2
    assert actions.count("principal.clearance") == 40
    assert actions.count("token.revoke") == 40
    # anyone can check the chain from the export, without Sailo
    head = verify_without_sailo([e for e in events if e["seq"] <= verdict["events"]])
    assert head == verdict["head"]
    times = [e["at"] for e in events]
    assert times == sorted(times)          # the clock never runs backwards
    assert all(admin not in json.dumps(e) for e in events)


def populate(database, n=4):
    for i in range(n):
        out = cli(database, "token", "create", "--role", "auditor",
                  "--name", f"p{i}", "--clearance", "Salassa pidettävä")
        assert out.returncode == 0, out.stderr
    out = cli(database, "audit", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def as_owner(database, *statements):
    with psycopg2.connect(conninfo("sailo_owner", database)) as c:
        cur = c.cursor()
        for st in statements:
            cur.execute(st)


def tamper(database, *statements):
    as_owner(database,
             "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
             *statements,
             "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")


def verdict_of(database):
    out = cli(database, "audit", "verify")
    verdict = json.loads(out.stdout)
    assert out.returncode == (0 if verdict["ok"] else 1)
    return verdict


def test_owner_update_of_one_row_is_found(fresh_database):
    assert populate(fresh_database)["events"] == 8
    tamper(fresh_database, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    v = verdict_of(fresh_database)
    assert v["ok"] is False and v["first_bad_seq"] == 3
    assert "altered" in v["reason"]


def test_deleted_row_is_found(fresh_database):
    populate(fresh_database)
    tamper(fresh_database, "DELETE FROM audit_events WHERE seq = 5")
    v = verdict_of(fresh_database)
    assert v["ok"] is False and v["first_bad_seq"] == 5
    assert "missing" in v["reason"]


def wait_for_checkpoint(sailo, auditor, at_least):
    import time
    deadline = time.time() + 15
    while True:
        items = sailo.get("/v1/audit/checkpoints", token=auditor).json()["items"]
        if items and items[0]["seq"] >= at_least:
            return items[0]
        assert time.time() < deadline, "no checkpoint came"
        time.sleep(0.2)


def test_deleted_last_row_is_found_up_to_the_last_checkpoint(fresh_database, tmp_path):
    populate(fresh_database)
    sailo = Sailo(fresh_database, tmp_path, audit_checkpoint_events=1)
    auditor = sailo.token("auditor")               # event 9
    cp = wait_for_checkpoint(sailo, auditor, 9)
    assert sailo.stop() == 0
    tamper(fresh_database, f"DELETE FROM audit_events WHERE seq = {cp['seq']}")
    v = verdict_of(fresh_database)
    assert v["ok"] is False and v["first_bad_seq"] == cp["seq"]
    assert "checkpoint" in v["reason"]


def test_events_after_the_last_checkpoint_are_reported_unanchored(fresh_database):
    v = populate(fresh_database)
    assert v["checkpoints"] == 0 and v["unanchored"] == v["events"] == 8


def test_two_swapped_rows_are_found(fresh_database):
    populate(fresh_database)
    cols = "at, actor, role, action, object_type, object_id, outcome, details, prev_hash, hash"
    tamper(fresh_database,
           "CREATE TEMP TABLE a AS SELECT * FROM audit_events WHERE seq IN (2, 3)",
           f"UPDATE audit_events e SET ({cols}) = (SELECT {cols} FROM a "
           "WHERE a.seq = 5 - e.seq) WHERE e.seq IN (2, 3)")
    v = verdict_of(fresh_database)
    assert v["ok"] is False and v["first_bad_seq"] == 2


def test_forged_checkpoint_fails_verification(fresh_database):
    populate(fresh_database)
    with psycopg2.connect(conninfo("sailo_owner", fresh_database)) as c:
        cur = c.cursor()
        cur.execute("SELECT hash FROM audit_events WHERE seq = 6")
        real_hash = bytes(cur.fetchone()[0])
        cur.execute("SELECT key_id FROM audit_checkpoints LIMIT 1")
    key_id = open_key_id()
    as_owner(fresh_database,
             "INSERT INTO audit_checkpoints VALUES (6, '\\x%s', now(), '%s', "
             "'\\x%s', '\\x%s')" % (real_hash.hex(), key_id, public_key_hex(),
                                   os.urandom(64).hex()))
    v = verdict_of(fresh_database)
    assert v["ok"] is False and v["first_bad_seq"] == 6
    assert "signature" in v["reason"]


def public_key_hex():
    out = subprocess.run(["openssl", "pkey", "-in",
                          os.path.join(ROOT, "var/keys/audit-ed25519.pem"),
                          "-pubout", "-outform", "DER"], capture_output=True)
    return out.stdout[-32:].hex()


def open_key_id():
    return hashlib.sha256(bytes.fromhex(public_key_hex())).hexdigest()[:16]


def test_checkpoints_are_signed_and_verify_reports_unanchored(fresh_database, tmp_path):
    sailo = Sailo(fresh_database, tmp_path, audit_checkpoint_events=3)
    try:
        auditor = sailo.token("auditor")
        for i in range(4):
            sailo.token("integration", name=f"bus-{i}")
        deadline = __import__("time").time() + 10
        while True:
            cps = sailo.get("/v1/audit/checkpoints", token=auditor).json()
            if cps["items"]:
                break
            assert __import__("time").time() < deadline
            __import__("time").sleep(0.2)
        cp = cps["items"][0]
        assert cps["public_key"] == public_key_hex()
        assert cp["key_id"] == cps["key_id"] == open_key_id()
        # the signature verifies with the published key, outside Sailo
        (tmp_path / "msg").write_bytes(cp["signed_message"].encode())
        (tmp_path / "sig").write_bytes(bytes.fromhex(cp["signature"]))
        der = bytes.fromhex("302a300506032b6570032100") + bytes.fromhex(cps["public_key"])
        (tmp_path / "pub.der").write_bytes(der)
        out = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                              str(tmp_path / "pub.der"), "-keyform", "DER",
                              "-rawin", "-in", str(tmp_path / "msg"),
                              "-sigfile", str(tmp_path / "sig")],
                             capture_output=True, text=True)
        assert "Signature Verified Successfully" in out.stdout, out.stderr
        sailo.token("integration", name="after-checkpoint")
        v = sailo.get("/v1/audit/verify", token=auditor).json()
        assert v["ok"] and v["checkpoints"] >= 1
        assert v["unanchored"] == v["events"] - v["last_checkpoint_seq"] > 0
    finally:
        sailo.stop()


def test_nobody_can_change_the_trail(fresh_database):
    populate(fresh_database, 1)
    with psycopg2.connect(conninfo("sailo_app", fresh_database)) as c:
        cur = c.cursor()
        for st in ("UPDATE audit_events SET actor = 'x'",
                   "DELETE FROM audit_events", "TRUNCATE audit_events",
                   # committed events waiting for the chainer cannot be
                   # taken out except by chaining them
                   "UPDATE audit_queue SET actor = 'x'",
                   "DELETE FROM audit_queue", "TRUNCATE audit_queue"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(st)
            c.rollback()
    with psycopg2.connect(conninfo("sailo_owner", fresh_database)) as c:
        cur = c.cursor()
        for st in ("UPDATE audit_events SET actor = 'x'",
                   "DELETE FROM audit_events WHERE seq = 1",
                   "TRUNCATE audit_events CASCADE"):
            with pytest.raises(psycopg2.errors.RaiseException,
                               match="append-only"):
                cur.execute(st)
            c.rollback()


def queue_event_as_app(cur, action, actor):
    """What an act's commit leaves for the chainer: the canonical event
    split around the "at" and "seq" values the chainer adds."""
    a = '{"action":%s,"actor":%s,"at":' % (json.dumps(action), json.dumps(actor))
    b = (',"details":{"n":1},"object_id":null,"object_type":null,'
         '"outcome":"success","role":null,"seq":')
    cur.execute("INSERT INTO audit_queue (a, b, actor, action, outcome, details) "
                "VALUES (%s, %s, %s, %s, 'success', '{\"n\": 1}')",
                (a, b, actor, action))


def events_of(database, action):
    with psycopg2.connect(conninfo("sailo_owner", database)) as c:
        cur = c.cursor()
        cur.execute("SELECT seq, actor FROM audit_events WHERE action = %s "
                    "ORDER BY seq", (action,))
        return cur.fetchall()


def test_events_left_queued_are_chained_by_the_next_daemon(fresh_database, tmp_path):
    # a process that committed acts and died before chaining them
    populate(fresh_database, 1)
    with psycopg2.connect(conninfo("sailo_app", fresh_database)) as c:
        cur = c.cursor()
        for i in range(3):
            queue_event_as_app(cur, "test.orphan", f"ghost-{i}")
    assert events_of(fresh_database, "test.orphan") == []
    sailo = Sailo(fresh_database, tmp_path)
    try:
        import time
        deadline = time.time() + 10
        while len(events_of(fresh_database, "test.orphan")) < 3:
            assert time.time() < deadline, "the daemon did not chain them"
            time.sleep(0.1)
        rows = events_of(fresh_database, "test.orphan")
        assert [r[1] for r in rows] == ["ghost-0", "ghost-1", "ghost-2"]
        assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + 3))
    finally:
        sailo.stop()
    v = verdict_of(fresh_database)
    assert v["ok"] is True and v["queued"] == 0, v


def test_a_long_transaction_with_an_act_does_not_stall_the_chain(fresh_database, tmp_path):
    sailo = Sailo(fresh_database, tmp_path)
    try:
        admin = sailo.token("admin")
        auditor = sailo.token("auditor")
        held = psycopg2.connect(conninfo("sailo_app", fresh_database))
        cur = held.cursor()
        queue_event_as_app(cur, "test.held", "slow-writer")   # not committed
        made = set()
        for i in range(5):
            r = sailo.post("/v1/tokens", {"name": f"meanwhile-{i}", "role": "auditor"},
                           token=admin)
            assert r.status_code == 201
            made.add(r.json()["id"])
        seen = {e["object_id"] for e in
                sailo.get("/v1/audit?action=token.create&limit=100",
                          token=auditor).json()["items"]}
        assert made <= seen, (made, seen)
        assert events_of(fresh_database, "test.held") == []
        held.commit()
        held.close()
        # the chainer reads on from the highest queue id it took, which
        # is above the held event's; its pass from the start, once a
        # second, finds it (no request here chains it for the chainer)
        import time
        deadline = time.time() + 5
        while events_of(fresh_database, "test.held") == []:
            assert time.time() < deadline, "the held event was not chained"
            time.sleep(0.1)
        v = sailo.get("/v1/audit/verify", token=auditor).json()
        assert v["ok"] is True, v
        assert [r[1] for r in events_of(fresh_database, "test.held")] == ["slow-writer"]
    finally:
        sailo.stop()


def test_denial_flood_is_one_event_a_minute_with_a_count(fresh_database, tmp_path):
    sailo = Sailo(fresh_database, tmp_path)
    for _ in range(50):
        assert sailo.get("/v1/tokens").status_code == 401
    rm = sailo.token("records_manager")
    assert sailo.get("/v1/tokens", token=rm).status_code == 403
    assert sailo.stop() == 0                 # flushes the counts it held
    with psycopg2.connect(conninfo("sailo_owner", fresh_database)) as c:
        cur = c.cursor()
        cur.execute("SELECT details, actor, outcome FROM audit_events "
                    "WHERE action = 'auth.denied' ORDER BY seq")
        rows = cur.fetchall()
    assert len(rows) == 2                    # the first at once, the rest counted
    assert sum(r[0]["count"] for r in rows) == 51
    assert all(r[2] == "denied" and r[0]["peer"] == "127.0.0.1" for r in rows)
    assert rm not in json.dumps(rows)
    assert "Bearer" not in json.dumps(rows)


def test_query_filters_pages_and_is_itself_recorded(sailo):
    admin = sailo.token("admin")
    auditor_name = "tarkastaja-" + uuid.uuid4().hex[:6]
    auditor = sailo.token("auditor", name=auditor_name)
    made = sailo.post("/v1/tokens", {"name": "filter-me", "role": "integration"},
                      token=admin).json()
    r = sailo.get(f"/v1/audit?object_type=token&object_id={made['id']}", token=auditor)
    assert [e["action"] for e in r.json()["items"]] == ["token.create"]
    creates = sailo.get("/v1/audit?action=token.create&limit=1000", token=auditor).json()["items"]
    assert all(e["action"] == "token.create" for e in creates) and len(creates) >= 3
    seqs = [e["seq"] for e in creates]
    assert seqs == sorted(seqs, reverse=True)       # newest first by default
    page = sailo.get("/v1/audit?action=token.create&limit=1&order=asc", token=auditor).json()
    second = sailo.get(f"/v1/audit?action=token.create&limit=1&order=asc&after={page['next']}",
                       token=auditor).json()
    assert second["items"][0]["seq"] > page["items"][0]["seq"]
    r = sailo.get("/v1/audit?actor=" + admin[:0] + "nobody-at-all", token=auditor)
    assert r.json()["items"] == []
    r = sailo.get("/v1/audit?from=2999-01-01T00:00:00Z", token=auditor)
    assert r.status_code == 200 and r.json()["items"] == []
    assert sailo.get("/v1/audit?from=yesterday", token=auditor).status_code == 400
    assert sailo.get("/v1/audit?order=sideways", token=auditor).status_code == 400
    assert sailo.get("/v1/audit", token=admin).status_code == 403
    reads = sailo.get(f"/v1/audit?action=audit.query&actor={auditor_name}&limit=1000",
                      token=auditor).json()["items"]
    # the six answered queries above and this one; refused ones (400) are
    # not reads
    assert len(reads) == 7
    assert all(e["actor"] == auditor_name and e["role"] == "auditor" for e in reads)
    assert all(e["details"]["query_sha256"] for e in reads)
    # the query text is kept beside the event, chained by its digest
    with psycopg2.connect(conninfo("sailo_owner", sailo_database(sailo))) as c:
        cur = c.cursor()
        cur.execute("SELECT text FROM audit_texts WHERE seq = %s AND name = 'query'",
                    (reads[1]["seq"],))
        text = cur.fetchone()[0]
    assert hashlib.sha256(text.encode()).hexdigest() == reads[1]["details"]["query_sha256"]


def sailo_database(sailo):
    return sailo.env["SAILO_DATABASE_CONNINFO"].split("dbname=")[1].split()[0]


def test_csv_export_streams_the_filtered_trail(sailo):
    auditor = sailo.token("auditor")
    for i in range(5):
        sailo.token("integration", name=f"csv-{i}")
    r = requests.get(sailo.url + "/v1/audit", headers={
        "Authorization": f"Bearer {auditor}", "Accept": "text/csv"},
        stream=True, timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Transfer-Encoding"] == "chunked"
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0] == ["seq", "at", "actor", "role", "action", "object_type",
                       "object_id", "outcome", "details", "prev_hash", "hash"]
    body = rows[1:]
    assert [int(x[0]) for x in body] == list(range(1, len(body) + 1))
    assert all(len(x) == 11 for x in body)
    # the CSV alone proves the chain: the recipe works on its rows
    names = rows[0]
    events = []
    for x in body:
        e = dict(zip(names, x))
        e["seq"] = int(e["seq"])
        e["details"] = json.loads(e["details"])
        for k in ("role", "object_type", "object_id"):
            e[k] = e[k] or None
        events.append(e)
    verify_without_sailo(events)
    assert body[0][8] == canonical_details(events[0]["details"])
    r = requests.get(sailo.url + "/v1/audit?format=csv&action=token.create",
                     headers={"Authorization": f"Bearer {auditor}"}, timeout=30)
    body = list(csv.reader(io.StringIO(r.content.decode())))[1:]
    assert body and all(x[4] == "token.create" for x in body)
    # a time the database refuses (30 February) is a 400 before any row,
    # as for the JSON pages, never a CSV that ends cleanly after its header
    for fmt in ({"format": "csv"}, {}):
        r = requests.get(sailo.url + "/v1/audit", params=dict(
            fmt, **{"from": "2026-02-30T00:00:00Z"}), timeout=30,
            headers={"Authorization": f"Bearer {auditor}"})
        assert r.status_code == 400, (fmt, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "BAD_PARAMETER"
