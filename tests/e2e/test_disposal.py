"""Holds and four-eyes disposal: a hold keeps what it covers out of the due
list and out of proposals, also records that arrive after it; one records
manager proposes a batch of what is due, and only another principal may
approve or reject it.  Every due date is worked out by hand: the plan keeps
accounting records (02 05 01, 02 06 01) 6 years from the end of their
fiscal year, so a record of 2015 is due from 1.1.2022, one of 2024 on
31.12.2030; planning decisions (05 01 02) are kept permanently."""
import csv
import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
import zoneinfo

import psycopg2
import pytest
import requests

import pkggen
from conftest import ROOT, SAILO
from cryptography.hazmat.primitives.asymmetric.ed25519 import \
    Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, \
    PublicFormat
from test_ingest import FULL_CLEARANCE, submit, verify_bag, wait_done
from test_retention import (KUNTAL, dp, ingest, ingest_package,  # noqa: F401
                            plan_xml, put_plan, record)

PERSON = pkggen.hetu(datetime.date(1968, 2, 29), 211)
FISCAL = dp.Retention(6, "Kirjanpitolaki 2:10 §", "Tilikauden päättyminen")
PLAN = [
    ("02 05 01", "Kirjanpito", FISCAL, {"tosite": None}),
    ("02 06 01", "Laskutus", FISCAL, {"lasku": None}),
    ("05 01 02", "Asemakaava", dp.Retention(-1, "Arkistolaitoksen päätös"),
     {"päätös": None}),
]


def package(tag="A", title="Kirjanpidon siirto"):
    """R1, R2, R3 and R6 are due today; R4 is permanent, R5 and R7 (in R3's
    case file) not yet due."""
    def cf(nid, title, code, created, records):
        c = pkggen.CaseFile(f"HEL {nid}-{tag}", title, code, created=created)
        c.records = records
        return c
    return pkggen.Sahke2Package(version="2019", transfer_id=f"SIIRTO-D-{tag}",
                                title=title, casefiles=[
        cf("2015-1", "Tositteet 2015", "02 05 01", "2015-03-01", [
            record(f"R1{tag}", "02 05 01", "tosite", 6, "2015-03-01", 1),
            record(f"R2{tag}", "02 05 01", "tosite", 6, "2015-03-02", 2)]),
        cf("2016-2", "Tositteet 2016", "02 05 01", "2016-05-05", [
            record(f"R3{tag}", "02 05 01", "tosite", 6, "2016-05-05", 3,
                   ssns=[PERSON]),
            record(f"R7{tag}", "02 05 01", "tosite", 6, "2024-02-02", 7)]),
        cf("2018-3", "Asemakaava 1234", "05 01 02", "2018-01-10", [
            record(f"R4{tag}", "05 01 02", "päätös", -1, "2018-01-10", 4)]),
        cf("2024-4", "Tositteet 2024", "02 05 01", "2024-01-02", [
            record(f"R5{tag}", "02 05 01", "tosite", 6, "2024-01-02", 5)]),
        cf("2014-5", "Laskut 2014", "02 06 01", "2014-09-09", [
            record(f"R6{tag}", "02 06 01", "lasku", 6, "2014-09-09", 6)]),
    ])


@pytest.fixture
def archive(ingest, tmp_path):
    """sailo with the plan and package A in, records managers s.rm (the
    fixture's) and s.rm2 (another person), an auditor; s.ids: native id ->
    record id; s.tmp: where its store, work and spool are."""
    s = ingest()
    s.tmp = tmp_path
    put_plan(s, plan_xml(PLAN))
    s.tid = ingest_package(s, package("A"))
    s.rm2 = s.token("records_manager", name="toinen-hoitaja",
                    clearance=FULL_CLEARANCE)
    s.auditor = s.token("auditor")
    r = s.get(f"/v1/records?transfer_id={s.tid}&limit=100", token=s.rm)
    assert r.status_code == 200, r.text
    s.ids = {x["native_id"]: x["id"] for x in r.json()["items"]}
    assert len(s.ids) == 7
    return s


def due(s, **params):
    r = s.get("/v1/retention/due", token=s.rm, params=params)
    assert r.status_code == 200, r.text
    return sorted(x["native_id"] for x in r.json()["items"])


def place(s, scope, reason="Oikeudenkäynti 2026/17", token=None):
    return s.post("/v1/holds", {"reason": reason, "scope": scope},
                  token=token or s.rm)


def audit_actions(s, object_type):
    r = s.get("/v1/audit", token=s.auditor,
              params={"object_type": object_type, "limit": 1000})
    assert r.status_code == 200, r.text
    return [(e["action"], e["outcome"]) for e in r.json()["items"]]


def test_holds_keep_records_out_of_the_due_list(archive):
    s = archive
    assert due(s) == ["R1A", "R2A", "R3A", "R6A"]

    # planned ahead: by 1.1.2031 R5A and R7A (31.12.2030) are due too
    assert due(s, on="2031-01-01") == ["R1A", "R2A", "R3A", "R5A", "R6A",
                                       "R7A"]
    r = place(s, {"case_native_id": "HEL 2015-1-A"})
    assert r.status_code == 201, r.text
    case_hold = r.json()
    assert r.headers["Location"] == f"/v1/holds/{case_hold['id']}"
    assert (case_hold["covered"], case_hold["active"],
            case_hold["already_destroyed"]) == (2, True, [])
    assert case_hold["scope"] == {"case_native_id": "HEL 2015-1-A"}
    assert due(s) == ["R3A", "R6A"]
    # held is held on any day, also on a planned one
    assert due(s, on="2031-01-01") == ["R3A", "R5A", "R6A", "R7A"]

    # a function code covers the codes under it, by whole groups
    r = place(s, {"function_code": "02.06"})
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == {"function_code": "02 06"}
    assert r.json()["covered"] == 1
    assert due(s) == ["R3A"]
    fn_hold = r.json()["id"]

    # a person, by the HMAC of the code: never the code itself
    r = place(s, {"person_ssn": PERSON})
    assert r.status_code == 201, r.text
    person_hold = r.json()
    assert PERSON not in r.text and person_hold["covered"] == 1
    assert set(person_hold["scope"]) == {"person_hmac"}
    assert due(s) == []

    # releasing brings them back; a second release is refused
    for hid in (case_hold["id"], fn_hold, person_hold["id"]):
        r = s.post(f"/v1/holds/{hid}/release", {"reason": "Asia ratkaistu"},
                   token=s.rm2)
        assert r.status_code == 200, r.text
        assert r.json()["active"] is False
        assert r.json()["released_by"] == "toinen-hoitaja"
    assert due(s) == ["R1A", "R2A", "R3A", "R6A"]
    r = s.post(f"/v1/holds/{fn_hold}/release", {"reason": "uudestaan"},
               token=s.rm)
    assert r.status_code == 409, r.text

    # by record ids, and by transfer
    r = place(s, {"record_ids": [s.ids["R2A"], s.ids["R6A"]]})
    assert r.status_code == 201 and r.json()["covered"] == 2, r.text
    assert due(s) == ["R1A", "R3A"]
    r = place(s, {"transfer_id": s.tid})
    assert r.status_code == 201 and r.json()["covered"] == 7, r.text
    assert due(s) == []
    assert due(s, on="2031-01-01") == []

    # lists: newest first, active ones, one by one
    r = s.get("/v1/holds", token=s.auditor, params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page["items"]) == 2 and page["next"]
    assert page["items"][0]["scope"] == {"transfer_id": s.tid}
    r2 = s.get("/v1/holds", token=s.rm,
               params={"limit": 2, "after": page["next"]})
    assert len(r2.json()["items"]) == 2, r2.text
    assert not {h["id"] for h in page["items"]} & \
        {h["id"] for h in r2.json()["items"]}
    r = s.get("/v1/holds", token=s.rm, params={"active": "true"})
    assert [h["active"] for h in r.json()["items"]] == [True, True]
    r = s.get(f"/v1/holds/{fn_hold}", token=s.rm)
    assert r.status_code == 200 and r.json()["release_reason"] == \
        "Asia ratkaistu"

    assert audit_actions(s, "hold").count(("hold.place", "success")) == 5
    assert audit_actions(s, "hold").count(("hold.release", "success")) == 3


def test_a_hold_covers_records_that_arrive_after_it(archive):
    s = archive
    r = place(s, {"function_code": "02 05"})
    assert r.status_code == 201 and r.json()["covered"] == 5, r.text
    ingest_package(s, package("B"))
    # R1B, R2B, R3B are under 02 05 and held; R6B (02 06 01) is not
    assert due(s) == ["R6A", "R6B"]


def test_hold_requests_that_are_refused(archive):
    s = archive
    cases = [
        ({"reason": "x", "scope": {"function_code": "02", "case_native_id":
                                   "a"}}, 400, "BAD_FIELD"),
        ({"reason": " ", "scope": {"function_code": "02"}}, 400, "BAD_FIELD"),
        ({"reason": "x", "scope": {"function_code": "kaksi"}}, 400,
         "BAD_FIELD"),
        ({"reason": "x", "scope": {"person_ssn": "010101-123X"}}, 400,
         "BAD_FIELD"),
        ({"reason": "x", "scope": {"record_ids": ["not-a-uuid"]}}, 400,
         "BAD_FIELD"),
        ({"reason": "x", "scope": {"record_ids": [
            s.ids["R1A"], "00000000-0000-4000-8000-000000000001"]}}, 422,
         "UNKNOWN_RECORDS"),
        ({"reason": "x", "scope": {
            "transfer_id": "00000000-0000-4000-8000-000000000002"}}, 422,
         "UNKNOWN_TRANSFER"),
    ]
    for body, status, code in cases:
        r = s.post("/v1/holds", body, token=s.rm)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), \
            (body, r.text)
        assert "010101-123X" not in r.text
    r = s.post("/v1/holds", {"reason": "x", "scope": {"function_code": "02"}},
               token=s.bus)
    assert r.status_code == 403, r.text
    r = s.get("/v1/holds", token=s.rm)
    assert r.json()["items"] == []          # nothing was half-stored
    for path, params in (("/v1/holds", {"active": "maybe"}),
                         ("/v1/holds", {"after": "not-a-cursor"}),
                         ("/v1/disposals", {"status": "gone"}),
                         ("/v1/disposals", {"limit": "0"}),
                         ("/v1/disposal-schedules", {"after": "x"})):
        r = s.get(path, token=s.rm, params=params)
        assert r.status_code == 400, (path, params, r.text)
    assert due(s) == ["R1A", "R2A", "R3A", "R6A"]


def test_proposal_and_four_eyes(archive):
    s = archive
    r = s.post("/v1/disposals", {"note": "Kirjanpidon hävitys 2026"},
               token=s.rm)
    assert r.status_code == 201, r.text
    batch = r.json()
    bid = batch["id"]
    assert r.headers["Location"] == f"/v1/disposals/{bid}"
    assert (batch["status"], batch["records"], batch["counts"]["pending"]) \
        == ("proposed", 4, 4)
    assert batch["due_on"] == due_today(s)

    # the items: what the destruction list shows, and never a title
    r = s.get(f"/v1/disposals/{bid}", token=s.auditor,
              params={"limit": 3})
    assert r.status_code == 200, r.text
    first = r.json()
    assert len(first["items"]) == 3 and first["next"]
    r = s.get(f"/v1/disposals/{bid}", token=s.rm,
              params={"after": first["next"]})
    items = first["items"] + r.json()["items"]
    assert r.json()["next"] is None
    by_nid = {i["native_id"]: i for i in items}
    assert sorted(by_nid) == ["R1A", "R2A", "R3A", "R6A"]
    r1 = by_nid["R1A"]
    assert (r1["class_code"], r1["class_title"], r1["record_type"],
            r1["end"], r1["trigger_date"], r1["years"], r1["case_native_id"],
            r1["state"]) == ("02 05 01", "Kirjanpito", "tosite",
                             "2021-12-31", "2015-12-31", 6, "HEL 2015-1-A",
                             "pending")
    assert "Asiakirja" not in r.text and "title" not in r1

    # the destruction list as CSV, streamed: the same items, no title
    r = s.get(f"/v1/disposals/{bid}", token=s.auditor,
              params={"format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(x["native_id"] for x in rows) == sorted(by_nid)
    row = next(x for x in rows if x["native_id"] == "R1A")
    assert (row["class_title"], row["retention_end"], row["retention_basis"],
            row["case_native_id"]) == ("Kirjanpito", "2021-12-31",
                                       "Kirjanpitolaki 2:10 §", "HEL 2015-1-A")
    assert "Asiakirja" not in r.text and "title" not in rows[0]
    r2 = requests.get(f"{s.url}/v1/disposals/{bid}", timeout=10, headers={
        "Accept": "text/csv", "Authorization": f"Bearer {s.rm}"})
    assert r2.text == r.text
    r = s.get("/v1/disposals/00000000-0000-4000-8000-000000000009",
              token=s.rm, params={"format": "csv"})
    assert r.status_code == 404, r.text
    # an id with more after it is no batch's, as in JSON (it was cut to
    # the batch's id and streamed that batch)
    for fmt in ({"format": "csv"}, {}):
        r = s.get(f"/v1/disposals/{bid}XYZ", token=s.rm, params=fmt)
        assert r.status_code == 404, (fmt, r.text[:200])

    # nothing more is due: every due record is in an open batch
    r = s.post("/v1/disposals", {}, token=s.rm2)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "NOTHING_DUE")
    r = s.post("/v1/disposals", {"record_ids": [
        s.ids["R4A"], s.ids["R5A"], s.ids["R1A"]]}, token=s.rm2)
    assert r.status_code == 422, r.text
    why = {x["record_id"]: x["why"] for x in r.json()["error"]["left_out"]}
    assert why == {s.ids["R4A"]: "permanent", s.ids["R5A"]: "not_yet_due",
                   s.ids["R1A"]: "in_batch_or_destroyed"}

    # four eyes: not the proposer, not another token of the same person
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=s.rm)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FOUR_EYES")
    same_person = s.token("records_manager", name=batch["proposed_by"])
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=same_person)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FOUR_EYES")
    r = s.post(f"/v1/disposals/{bid}/reject", {"reason": "x"}, token=s.rm)
    assert r.status_code == 403, r.text
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=s.auditor)
    assert r.status_code == 403, r.text
    r = s.post(f"/v1/disposals/{bid}/reject", {}, token=s.rm2)
    assert r.status_code == 400, r.text          # a rejection says why

    r = s.get("/v1/disposals", token=s.rm, params={"status": "proposed"})
    assert [b["id"] for b in r.json()["items"]] == [bid]
    r = s.get(f"/v1/disposals/{bid}/certificate", token=s.rm)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "NOT_FINISHED")

    r = s.post(f"/v1/disposals/{bid}/approve", {"reason": "Tarkastettu"},
               token=s.rm2)
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["decided_by"]) == \
        ("approved", "toinen-hoitaja")
    r = s.post(f"/v1/disposals/{bid}/reject", {"reason": "myöhään"},
               token=s.rm2)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "NOT_PROPOSED")
    assert ("disposal.approve", "denied") in audit_actions(s, "disposal")
    assert ("disposal.approve", "success") in audit_actions(s, "disposal")
    assert ("disposal.propose", "success") in audit_actions(s, "disposal")


def due_today(s):
    with psycopg2.connect(s.owner) as c:
        cur = c.cursor()
        cur.execute("SELECT (now() AT TIME ZONE 'Europe/Helsinki')::date")
        return cur.fetchone()[0].isoformat()


def test_proposals_leave_out_held_and_permanent_records(archive):
    s = archive
    r = place(s, {"record_ids": [s.ids["R3A"]]})
    assert r.status_code == 201, r.text
    r = s.post("/v1/disposals", {"function_code": "02 05", "record_ids": [
        s.ids["R1A"], s.ids["R3A"], s.ids["R6A"], s.ids["R4A"]]},
        token=s.rm)
    assert r.status_code == 201, r.text
    assert r.json()["records"] == 1
    why = {x["record_id"]: x["why"] for x in r.json()["left_out"]}
    assert why == {s.ids["R3A"]: "held", s.ids["R6A"]: "other_function",
                   s.ids["R4A"]: "permanent"}
    # a rejection closes the batch: its records may be proposed again
    bid = r.json()["id"]
    r = s.post(f"/v1/disposals/{bid}/reject", {"reason": "Väärä rajaus"},
               token=s.rm2)
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    r = s.post("/v1/disposals", {"due_on": "2022-06-30"}, token=s.rm2)
    assert r.status_code == 201, r.text
    # due by 30.6.2022: R1A and R2A (31.12.2021), R6A (31.12.2020); R3A
    # (31.12.2022) is held anyway
    assert r.json()["records"] == 3
    r = s.post(f"/v1/disposals/{r.json()['id']}/reject",
               {"reason": "Vain suunnitelma"}, token=s.rm)
    assert r.status_code == 200, r.text
    # planned as far ahead as one likes, a permanent record never comes
    r = s.post("/v1/disposals", {"due_on": "2099-12-31"}, token=s.rm)
    assert r.status_code == 201, r.text
    assert r.json()["records"] == 5      # all but R3A (held) and R4A
    listed = s.get(f"/v1/disposals/{r.json()['id']}", token=s.rm,
                   params={"limit": 100}).json()["items"]
    assert sorted(i["native_id"] for i in listed) == \
        ["R1A", "R2A", "R5A", "R6A", "R7A"]


def test_the_database_keeps_four_eyes_and_history(archive):
    s = archive
    r = s.post("/v1/disposals", {}, token=s.rm)
    bid = r.json()["id"]
    app = s.env["SAILO_DATABASE_CONNINFO"]
    for sql in ("DELETE FROM disposal_items", "DELETE FROM holds",
                "UPDATE disposal_batches SET proposed_by = decided_by",
                "UPDATE disposal_items SET end_date = '2000-01-01'"):
        with psycopg2.connect(app) as c, pytest.raises(
                psycopg2.errors.InsufficientPrivilege):
            c.cursor().execute(sql)
    with psycopg2.connect(app) as c, pytest.raises(
            psycopg2.errors.CheckViolation):
        c.cursor().execute(
            "UPDATE disposal_batches SET status = 'approved', decided_by = "
            "proposed_by, decided_at = now() WHERE id = %s", (bid,))


def doc_sha256(nid, n):
    return hashlib.sha256(pkggen.pdf_bytes(nid, 2048, n)).hexdigest()


def files_under(root):
    return [p for p in root.rglob("*") if p.is_file()]


def wait_batch(s, bid, timeout=60):
    deadline = time.time() + timeout
    while True:
        b = s.get(f"/v1/disposals/{bid}", token=s.rm).json()
        if b["status"] in ("done", "partially_executed"):
            return b
        assert time.time() < deadline, b
        time.sleep(0.2)


def test_disposal_destroys_every_copy_and_keeps_valid_bags(archive):
    s = archive
    # a second transfer of the same case files: every AIP has version 2,
    # its unchanged files hard links to version 1's
    tid2 = ingest_package(s, package("A", title="Uudelleen siirto"))
    r = s.get(f"/v1/records?transfer_id={tid2}&limit=100", token=s.rm)
    ids = {x["native_id"]: x["id"] for x in r.json()["items"]}
    aips = {x["native_id"]: x["aip_id"] for x in r.json()["items"]}

    r = s.post("/v1/disposals", {"note": "Hävitys"}, token=s.rm)
    assert r.status_code == 201 and r.json()["records"] == 4, r.text
    bid = r.json()["id"]
    # a hold placed after the proposal, before approval, keeps its record
    r = place(s, {"record_ids": [ids["R2A"]]})
    assert r.status_code == 201, r.text
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=s.rm2)
    assert r.status_code == 202, r.text
    batch = wait_batch(s, bid)
    assert batch["status"] == "done", batch
    assert (batch["counts"]["destroyed"], batch["counts"]["skipped"]) == \
        (3, 1), batch
    items = {i["native_id"]: i for i in batch["items"]}
    assert items["R2A"]["skip_reason"] == "held"
    assert items["R1A"]["state"] == "destroyed" and items["R1A"]["done_at"]

    destroyed = {"R1A": 1, "R3A": 3, "R6A": 6}
    kept = {"R2A": 2, "R4A": 4, "R5A": 5, "R7A": 7}
    # the catalogue: titles gone, the tombstone left; kept records whole
    for nid in destroyed:
        rec = s.get(f"/v1/records/{ids[nid]}", token=s.auditor).json()
        assert rec["title"] is None and rec["documents"] == [], rec
        assert rec["destroyed"]["disposal_batch"] == bid
        assert rec["native_id"] == nid and rec["retention"]["end"]
        old = s.get(f"/v1/records/{s.ids[nid]}", token=s.rm).json()
        assert old["title"] is None, old           # version 1's row too
    for nid in kept:
        rec = s.get(f"/v1/records/{ids[nid]}", token=s.rm).json()
        assert rec["title"] == f"Asiakirja {nid}" and rec["destroyed"] is None
        assert len(rec["documents"]) == 1, rec
    with psycopg2.connect(s.owner) as c:
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM record_persons p JOIN records r ON "
                    "r.id = p.record_id WHERE r.native_id = 'R3A'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT r.native_id, encode(f.sha256, 'hex') FROM "
                    "disposal_files f JOIN disposal_items i ON i.batch_id = "
                    "f.batch_id AND i.record_id = f.record_id JOIN records r "
                    "ON r.id = i.record_id WHERE f.batch_id = %s", (bid,))
        digests = cur.fetchall()
    # both versions' copies of each destroyed file, by its digest
    assert sorted(digests) == sorted(
        (nid, doc_sha256(nid, n)) for nid, n in destroyed.items()
        for _ in (1, 2))

    # the disk: no copy of a destroyed file anywhere, nor its title or the
    # person's identity code; kept files are still there
    all_files = files_under(s.tmp)
    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest() for p in all_files}
    for nid, n in destroyed.items():
        assert doc_sha256(nid, n) not in on_disk, nid
    for nid, n in kept.items():
        assert doc_sha256(nid, n) in on_disk, nid
    store = [p for p in all_files if "store" in p.parts]
    for p in store:
        data = p.read_bytes()
        for nid in destroyed:
            assert f"Asiakirja {nid}".encode() not in data, (p, nid)
        assert PERSON.encode() not in data, p
    assert any(b"Asiakirja R2A" in p.read_bytes() for p in store)

    # every version of every AIP is still a valid bag; the new version
    # (3) is the disposal's, with the tombstones and a deletion event
    for nid in ("R1A", "R3A", "R6A"):
        aip = s.get(f"/v1/aips/{aips[nid]}", token=s.rm).json()
        assert aip["current_version"] == 3
        assert aip["versions"][2]["disposal_batch"] == bid
        assert aip["versions"][2]["transfer_id"] is None
        for v in (1, 2, 3):
            info, manifest = verify_bag(s.tmp / "store" / "aips" /
                                        aips[nid] / f"v{v}")
            assert not any(nid in p for p in manifest), (nid, v, manifest)
        bag = s.tmp / "store" / "aips" / aips[nid] / "v3"
        assert "Sailo-Disposal-Batch: " + bid in \
            (bag / "bag-info.txt").read_text()
        tombs = {t["native_id"]: t for t in json_load(
            bag / "data/metadata/tombstones.json")}
        t = tombs[nid]
        assert t["disposal_batch"] == bid
        assert t["class_code"] == ("02 06 01" if nid == "R6A" else
                                   "02 05 01")
        assert {f["sha256"] for f in t["files"]} == \
            {doc_sha256(nid, destroyed[nid])}
        assert "title" not in t
        premis = (bag / "data/metadata/premis.xml").read_text()
        assert "deletion" in premis and bid in premis
    # R3A's case file keeps R7A: its metadata without R3A's record
    meta = (s.tmp / "store" / "aips" / aips["R3A"] / "v3" /
            "data/metadata/sahke2.xml").read_text()
    assert "R7A" in meta and f"Record R3A destroyed by disposal batch " \
        f"{bid}" in meta
    ET.fromstring(meta)                              # well-formed
    # R6A's AIP lost its every record: a stub, no title
    stub = ET.parse(s.tmp / "store" / "aips" / aips["R6A"] / "v3" /
                    "data/metadata/sahke2.xml").getroot()
    assert stub.tag.endswith("DisposedMetadata"), stub.tag
    aip = s.get(f"/v1/aips/{aips['R6A']}", token=s.rm).json()
    assert aip["title"] is None and aip["records"] == []
    assert [f["path"] for f in aip["files"]] == [
        "data/metadata/premis.xml", "data/metadata/sahke2.xml",
        "data/metadata/tombstones.json"]

    check_certificate(s, bid, {nid: doc_sha256(nid, n)
                               for nid, n in destroyed.items()})

    # never due again; the held record after its hold is released
    assert due(s) == []
    hold = s.get("/v1/holds", token=s.rm).json()["items"][0]["id"]
    s.post(f"/v1/holds/{hold}/release", {"reason": "Purettu"}, token=s.rm)
    assert due(s) == ["R2A"]
    actions = audit_actions(s, "aip") + audit_actions(s, "disposal")
    assert actions.count(("disposal.destroy", "success")) == 3
    assert ("disposal.finish", "success") in actions


def test_identical_bytes_of_a_kept_record_stay(ingest, tmp_path):
    """Destroying a record removes its files, not the same bytes kept by a
    record that is not destroyed: in the same case file (one AIP) and in
    another one.  Unique bytes of a destroyed record leave no copy."""
    s = ingest()
    put_plan(s, plan_xml(PLAN))
    rm2 = s.token("records_manager", name="toinen-hoitaja")
    same = pkggen.pdf_bytes("yhteinen liite", 2048, 41)
    digest = hashlib.sha256(same).hexdigest()

    def rec(nid, code, created, data):
        return pkggen.Record(nid, f"Asiakirja {nid}", code, created=created,
                             retention=6, rtype="tosite", docs=[pkggen.Doc(
                                 f"{nid}.pdf", data, f"{nid}-d0")])

    def cf(nid, code, created, records):
        c = pkggen.CaseFile(f"HEL {nid}-S", f"Tositteet {nid}", code,
                            created=created)
        c.records = records
        return c
    pkg = pkggen.Sahke2Package(version="2019", transfer_id="SIIRTO-S",
                               title="Samat tavut", casefiles=[
        cf("2015-1", "02 05 01", "2015-03-01", [
            rec("R1S", "02 05 01", "2015-03-01", same),       # due
            rec("R2S", "02 05 01", "2024-02-02", same)]),     # kept
        cf("2024-4", "02 05 01", "2024-01-02", [
            rec("R5S", "02 05 01", "2024-01-02", same)]),     # kept
        cf("2014-5", "02 06 01", "2014-09-09", [
            rec("R6S", "02 06 01", "2014-09-09",
                pkggen.pdf_bytes("R6S", 2048, 6))]),          # due
    ])
    tid = ingest_package(s, pkg)
    r = s.get(f"/v1/records?transfer_id={tid}&limit=100", token=s.rm)
    recs = {x["native_id"]: x for x in r.json()["items"]}
    assert sorted(recs) == ["R1S", "R2S", "R5S", "R6S"]
    assert due(s) == ["R1S", "R6S"]

    r = s.post("/v1/disposals", {"note": "Samat tavut"}, token=s.rm)
    assert r.status_code == 201 and r.json()["records"] == 2, r.text
    bid = r.json()["id"]
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=rm2)
    assert r.status_code == 202, r.text
    b = wait_batch(s, bid)
    assert (b["status"], b["counts"]["destroyed"]) == ("done", 2), b

    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest()
               for p in files_under(tmp_path)}
    assert hashlib.sha256(pkggen.pdf_bytes("R6S", 2048, 6)).hexdigest() \
        not in on_disk
    assert digest in on_disk
    store = tmp_path / "store" / "aips"
    # R1S's AIP: its new version lists R2S's copy of the bytes, not R1S's
    aip = recs["R1S"]["aip_id"]
    assert recs["R2S"]["aip_id"] == aip
    a = s.get(f"/v1/aips/{aip}", token=s.rm).json()
    assert a["current_version"] == 2
    for v in (1, 2):
        info, manifest = verify_bag(store / aip / f"v{v}")
        assert not any("R1S" in p for p in manifest), (v, manifest)
    # manifest is v2's
    assert [d for p, d in manifest.items() if p.endswith("/R2S.pdf")] == \
        [digest], manifest
    # R5S's AIP is not touched
    aip5 = recs["R5S"]["aip_id"]
    assert s.get(f"/v1/aips/{aip5}", token=s.rm).json()[
        "current_version"] == 1
    info, manifest = verify_bag(store / aip5 / "v1")
    assert list(manifest.values()).count(digest) == 1
    for nid in ("R2S", "R5S"):
        rec = s.get(f"/v1/records/{recs[nid]['id']}", token=s.rm).json()
        assert rec["destroyed"] is None and len(rec["documents"]) == 1, rec
    rec = s.get(f"/v1/records/{recs['R1S']['id']}", token=s.rm).json()
    assert rec["title"] is None and rec["documents"] == [], rec


def json_load(path):
    return json.loads(path.read_text())


def verify_certificate(s, doc, tmp_path):
    path = tmp_path / f"cert-{time.time_ns()}.json"
    path.write_text(json.dumps(doc))
    out = subprocess.run([SAILO, "disposal", "verify-certificate", str(path)],
                         cwd=ROOT, env=s.env, capture_output=True, text=True)
    return out.returncode, json.loads(out.stdout)


def check_certificate(s, bid, digests):
    r = s.get(f"/v1/disposals/{bid}/certificate", token=s.auditor)
    assert r.status_code == 200, r.text
    doc = r.json()
    cert, sig = doc["certificate"], doc["signature"]
    assert (cert["batch_id"], cert["status"], cert["approved_by"]) == \
        (bid, "done", "toinen-hoitaja")
    assert cert["counts"] == {"destroyed": 3, "skipped": 1}
    items = {i["native_id"]: i for i in cert["items"]}
    for nid, digest in digests.items():
        assert items[nid]["state"] == "destroyed"
        assert {f["sha256"] for f in items[nid]["files"]} == {digest}
    assert items["R2A"]["skip_reason"] == "held"
    assert "Asiakirja" not in r.text and PERSON not in r.text
    # checkable without Sailo: the SHA-256 of the canonical certificate
    # (these values need no escaping beyond json.dumps with sorted keys)
    canon = json.dumps(cert, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False).encode()
    assert hashlib.sha256(canon).hexdigest() == sig["certificate_sha256"]
    rc, out = verify_certificate(s, doc, s.tmp)
    assert (rc, out["ok"], out["items"]) == (0, True, 4), out

    tampered = json.loads(json.dumps(doc))
    tampered["certificate"]["items"][0]["native_id"] = "X"
    rc, out = verify_certificate(s, tampered, s.tmp)
    assert rc == 1 and "changed" in out["reason"], out
    # changed, and its digest made to match: the signature gives it away
    tampered = json.loads(json.dumps(doc))
    tampered["certificate"]["items"][0]["native_id"] = "X"
    tampered["signature"]["certificate_sha256"] = hashlib.sha256(json.dumps(
        tampered["certificate"], sort_keys=True, separators=(",", ":"),
        ensure_ascii=False).encode()).hexdigest()
    rc, out = verify_certificate(s, tampered, s.tmp)
    assert rc == 1 and "signature" in out["reason"], out
    tampered = json.loads(json.dumps(doc))
    tampered["signature"]["value"] = "00" * 64
    rc, out = verify_certificate(s, tampered, s.tmp)
    assert rc == 1 and "signature" in out["reason"], out
    # signed again with another key: a valid signature, not the archive's
    other = Ed25519PrivateKey.generate()
    forged = json.loads(json.dumps(doc))
    forged["signature"]["public_key"] = other.public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw).hex()
    msg = json.dumps({"batch_id": bid, "certificate_sha256":
                      sig["certificate_sha256"], "key_id": sig["key_id"]},
                     sort_keys=True, separators=(",", ":")).encode()
    forged["signature"]["value"] = other.sign(msg).hex()
    rc, out = verify_certificate(s, forged, s.tmp)
    assert rc == 1 and "not this archive's key" in out["reason"], out


def helsinki(ts):
    return ts.astimezone(zoneinfo.ZoneInfo("Europe/Helsinki"))


@pytest.mark.parametrize("every,day,after,expected", [
    # the month's last day for 31; 06:00 in Helsinki (UTC+2 in winter)
    ("month", 31, "2027-02-10T12:00:00Z", "2027-02-28T04:00:00Z"),
    # right at the moment: the next one (UTC+3 from 28.3.2027)
    ("month", 31, "2027-02-28T04:00:00Z", "2027-03-31T03:00:00Z"),
    ("month", 29, "2028-02-01T00:00:00Z", "2028-02-29T04:00:00Z"),
    # quarters start in January, April, July and October
    ("quarter", 15, "2027-05-20T00:00:00Z", "2027-07-15T03:00:00Z"),
    ("quarter", 1, "2027-01-01T03:59:59Z", "2027-01-01T04:00:00Z"),
    # a year's is in January: 07:00 on 1.1. is past 06:00
    ("year", 1, "2027-01-01T05:00:00Z", "2028-01-01T04:00:00Z"),
])
def test_schedule_moments(archive, every, day, after, expected):
    with psycopg2.connect(archive.owner) as c:
        cur = c.cursor()
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute("SELECT disposal_schedule_next(%s, %s, %s)",
                    (every, day, after))
        got = cur.fetchone()[0]
    assert got.isoformat().replace("+00:00", "Z") == expected


def test_a_schedule_proposes_once_as_its_owner(archive):
    s = archive
    for body in ({"every": "week", "day": 1}, {"every": "month", "day": 0},
                 {"every": "month", "day": 32},
                 {"every": "month", "day": 1, "function_code": "x"}):
        r = s.post("/v1/disposal-schedules", body, token=s.rm)
        assert r.status_code == 400, (body, r.text)
    r = s.post("/v1/disposal-schedules", {"every": "month", "day": 31,
                                          "function_code": "02.05",
                                          "note": "Kuukausittain"},
               token=s.rm)
    assert r.status_code == 201, r.text
    sched = r.json()
    assert r.headers["Location"] == f"/v1/disposal-schedules/{sched['id']}"
    nxt = helsinki(datetime.datetime.fromisoformat(
        sched["next_run_at"].replace("Z", "+00:00")))
    assert (nxt.hour, nxt.minute) == (6, 0) and nxt > helsinki(
        datetime.datetime.now(datetime.timezone.utc))
    assert s.get("/v1/disposals", token=s.rm).json()["items"] == []

    # its moment passed while no daemon looked: it runs once
    with psycopg2.connect(s.owner) as c:
        c.cursor().execute("UPDATE disposal_schedules SET next_run_at = "
                           "now() - interval '40 days' WHERE id = %s",
                           (sched["id"],))
    deadline = time.time() + 30
    while True:
        batches = s.get("/v1/disposals", token=s.rm).json()["items"]
        if batches:
            break
        assert time.time() < deadline, s.log()[-2000:]
        time.sleep(0.2)
    time.sleep(1.5)                      # a few more looks of the daemon
    batches = s.get("/v1/disposals", token=s.rm).json()["items"]
    assert len(batches) == 1, batches
    b = batches[0]
    assert (b["status"], b["schedule_id"], b["function_code"]) == \
        ("proposed", sched["id"], "02 05")
    r = s.get(f"/v1/disposals/{b['id']}", token=s.rm)
    assert sorted(i["native_id"] for i in r.json()["items"]) == \
        ["R1A", "R2A", "R3A"]
    after = s.get("/v1/disposal-schedules", token=s.rm).json()["items"][0]
    assert after["last_run_at"] and after["next_run_at"] > after["last_run_at"]
    # the owner proposed it: another records manager approves
    owner = b["proposed_by"]
    r = s.post(f"/v1/disposals/{b['id']}/approve", {}, token=s.rm)
    assert r.status_code == 403, r.text
    assert owner == s.get("/v1/disposals", token=s.rm).json()[
        "items"][0]["proposed_by"]
    r = s.post(f"/v1/disposals/{b['id']}/reject", {"reason": "ei nyt"},
               token=s.rm2)
    assert r.status_code == 200, r.text

    r = requests.delete(f"{s.url}/v1/disposal-schedules/{sched['id']}",
                        headers={"Authorization": f"Bearer {s.rm2}"},
                        timeout=10)
    assert r.status_code == 200 and r.json()["deleted_by"] == \
        "toinen-hoitaja", r.text
    r = requests.delete(f"{s.url}/v1/disposal-schedules/{sched['id']}",
                        headers={"Authorization": f"Bearer {s.rm}"},
                        timeout=10)
    assert r.status_code == 404, r.text
    actions = audit_actions(s, "disposal_schedule")
    assert ("disposal_schedule.create", "success") in actions
    assert ("disposal_schedule.delete", "success") in actions


def test_planned_day_kept_package_and_inbox_report(ingest, tmp_path):
    """A transfer through the inbox with its package kept in the spool
    (ingest.keep_packages_days): disposal removes the kept package and the
    inbox report too.  A batch due on a later day (planning) skips what
    is not yet due when it runs."""
    s = ingest(ingest_inbox_dir=tmp_path / "inbox",
               ingest_outbox_dir=tmp_path / "outbox",
               ingest_inbox_interval_ms=200, ingest_keep_packages_days=30)
    put_plan(s, plan_xml(PLAN))
    rm2 = s.token("records_manager", name="toinen-hoitaja")
    (tmp_path / "inbox").mkdir(exist_ok=True)
    staged = tmp_path / "kirjanpito.tar.writing"
    staged.write_bytes(package("K").archive("tar"))
    os.rename(staged, tmp_path / "inbox" / "kirjanpito.tar")
    report = tmp_path / "outbox" / "kirjanpito.tar.report.json"
    deadline = time.time() + 30
    while not report.exists():
        assert time.time() < deadline, s.log()[-2000:]
        time.sleep(0.1)
    tid = json.loads(report.read_text())["transfer"]["id"]
    assert wait_done(s, tid)["status"] == "accepted"
    kept = tmp_path / "spool" / f"{tid}.pkg"
    assert kept.exists()

    # due by 1.1.2031: R5K and R7K (31.12.2030) as well, when planned
    r = s.post("/v1/disposals", {"due_on": "2031-01-01",
                                 "function_code": "02 05"}, token=s.rm)
    assert r.status_code == 201 and r.json()["records"] == 5, r.text
    bid = r.json()["id"]
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=rm2)
    assert r.status_code == 202, r.text
    b = wait_batch(s, bid)
    assert b["status"] == "done", b
    states = {i["native_id"]: (i["state"], i["skip_reason"])
              for i in b["items"]}
    assert states == {"R1K": ("destroyed", None), "R2K": ("destroyed", None),
                      "R3K": ("destroyed", None),
                      "R5K": ("skipped", "not_yet_due"),
                      "R7K": ("skipped", "not_yet_due")}, states
    assert not kept.exists() and not report.exists()
    with psycopg2.connect(s.owner) as c:
        cur = c.cursor()
        cur.execute("SELECT package_kept_until FROM transfers WHERE id = %s",
                    (tid,))
        assert cur.fetchone() == (None,)
    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest()
               for p in files_under(tmp_path)}
    assert doc_sha256("R1K", 1) not in on_disk
    assert doc_sha256("R5K", 5) in on_disk


def test_a_storage_failure_is_reported_not_hidden(archive):
    s = archive
    r = s.post("/v1/disposals", {}, token=s.rm)
    bid = r.json()["id"]
    work = s.tmp / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.write_text("not a folder")          # no bag can be written
    try:
        r = s.post(f"/v1/disposals/{bid}/approve", {}, token=s.rm2)
        assert r.status_code == 202, r.text
        b = wait_batch(s, bid)
    finally:
        work.unlink()
        work.mkdir()
    assert b["status"] == "partially_executed", b
    assert b["counts"]["failed"] == 4 and b["counts"]["destroyed"] == 0
    # the reason without paths (a path may name a person): those are in
    # the daemon's log
    assert all(i["error"].startswith("storage failed: nothing of it was "
                                     "destroyed") for i in b["items"]), b
    assert "mkdir" in s.log() and str(work) not in json.dumps(b)
    # nothing was destroyed: the files, the titles, no new version
    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest()
               for p in files_under(s.tmp / "store")}
    assert doc_sha256("R1A", 1) in on_disk
    rec = s.get(f"/v1/records/{s.ids['R1A']}", token=s.rm).json()
    assert rec["title"] == "Asiakirja R1A" and rec["destroyed"] is None
    assert s.get(f"/v1/aips/{rec['aip_id']}", token=s.rm).json()[
        "current_version"] == 1
    cert = s.get(f"/v1/disposals/{bid}/certificate", token=s.auditor).json()
    assert cert["certificate"]["status"] == "partially_executed"
    assert cert["certificate"]["counts"] == {"failed": 4}


def test_a_function_hold_covers_records_coded_by_their_case_file(archive):
    # a SÄHKE2 record may have no function code of its own: retention
    # takes its case file's, and so must a hold
    s = archive
    with psycopg2.connect(s.owner) as c:
        c.cursor().execute("UPDATE records SET function_code = NULL WHERE "
                           "id = %s", (s.ids["R6A"],))
    assert "R6A" in due(s)
    r = place(s, {"function_code": "02 06"})
    assert r.status_code == 201 and r.json()["covered"] == 1, r.text
    assert "R6A" not in due(s)
    r = s.post("/v1/disposals", {"record_ids": [s.ids["R6A"]]}, token=s.rm)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["left_out"] == [{"record_id": s.ids["R6A"],
                                              "why": "held"}]


@pytest.mark.parametrize("style", ["comma", "excel"])
def test_disposal_from_a_bag_redacts_its_metadata_csv(ingest, tmp_path,
                                                       style):
    """A payroll migration bag (one AIP) whose metadata.csv describes each
    file: two of its four records destroyed, their rows gone from the CSV
    of every version, the other rows byte for byte as they were."""
    s = ingest()
    rm2 = s.token("records_manager", name="toinen-hoitaja")
    bag = pkggen.bagit_package(records=4, kb=4, seed=77, with_csv=True,
                               csv_style=style)
    t = submit(s, bag.archive("tar"), "application/x-tar")
    assert wait_done(s, t["id"])["status"] == "accepted"
    r = s.get(f"/v1/records?transfer_id={t['id']}", token=s.rm)
    ids = {x["native_id"]: x["id"] for x in r.json()["items"]}
    aip = r.json()["items"][0]["aip_id"]
    rows = bag.rows
    gone = [rows[0], rows[2]]          # 50 and 10 years; rows[1] permanent
    with psycopg2.connect(s.owner) as c:
        c.cursor().execute(
            "UPDATE retention SET state = 'dated', years = 1, end_date = "
            "'2020-01-01', trigger_date = '2019-01-01' WHERE record_id = "
            "ANY (%s::uuid[])", ([ids[g["native_id"]] for g in gone],))
    r = s.post("/v1/disposals", {"record_ids": [ids[g["native_id"]]
                                                for g in gone]}, token=s.rm)
    assert r.status_code == 201 and r.json()["records"] == 2, r.text
    bid = r.json()["id"]
    assert s.post(f"/v1/disposals/{bid}/approve", {},
                  token=rm2).status_code == 202
    assert wait_batch(s, bid)["status"] == "done"

    original = bag.metadata_csv()
    sep = b"\r\n" if style == "excel" else b"\n"
    kept = [line for line in original.split(sep)
            if not any(g["native_id"].encode() in line for g in gone)]
    for v in ("v1", "v2"):
        d = tmp_path / "store" / "aips" / aip / v
        verify_bag(d)
        assert (d / "data/metadata/submitted/metadata.csv").read_bytes() == \
            sep.join(kept), v
    store = files_under(tmp_path / "store")
    for g in gone:
        digest = hashlib.sha256(bag.payload[g["path"]]).hexdigest()
        for p in store:
            data = p.read_bytes()
            assert hashlib.sha256(data).hexdigest() != digest, p
            assert g["person_ssn"].encode() not in data, p
            assert g["title"].encode() not in data, p
    assert any(rows[1]["title"].encode() in p.read_bytes() for p in store)
