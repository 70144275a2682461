"""Ingest, black-box regression tests for the review's findings: versions
made by transfers racing on the same AIPs, person identity codes quoted in
findings, a bag's own metadata beside Sailo's, blank case-file NativeIds,
findings about very long non-ASCII names and non-UTF-8 bag-info.txt values
never lost, and the record list's filters (those that exist, and those that
are refused until they do).

Packages come from tests/e2e/pkggen.py; the helpers and the `ingest`
fixture are test_ingest.py's.
"""
import copy
import hashlib
import json
import os
import random
import re
import threading
import xml.etree.ElementTree as ET

import psycopg2
import pytest

import pkggen
from conftest import conninfo
from test_ingest import (  # noqa: F401  (ingest is a fixture)
    PREMIS_NS, TIMEOUT, assert_nothing_stored, check_sahke2_aips, codes,
    get_aip, get_report, html_report_lists, ingest, nfc, parse_manifest,
    records_of, run, stored_aips, submit, verify_bag, wait_done)

# Racing transfers retry; give them more time than a single one.
RACE_TIMEOUT = max(TIMEOUT * 3, 180)


def errors_of(rep, code=None):
    return [f for f in rep["findings"] if f["severity"] == "error" and
            (code is None or f["code"] == code)]


def db_connect(database):
    return psycopg2.connect(conninfo("sailo_owner", database))


# ===========================================================================
# a. Two transfers racing to make the next version of the same AIPs

def _changed_copy(pkg, tag, seed):
    """The same case files and records (same NativeIds), other bytes: every
    document's content differs, and so the package."""
    other = copy.deepcopy(pkg)
    other.transfer_id = f"{pkg.transfer_id}-{tag}"
    for k, d in enumerate(other.docs()):
        d.data = pkggen.pdf_bytes(f"{tag} {d.native_id}", len(d.data),
                                  seed * 100000 + k)
    return other


def _submit_together(s, packages):
    """Submits each (bytes, content type) from its own thread, all released
    at once; returns the transfers in the same order."""
    barrier = threading.Barrier(len(packages))
    out, errors = [None] * len(packages), []

    def go(i, data, ctype):
        try:
            barrier.wait(timeout=30)
            out[i] = submit(s, data, ctype)
        except BaseException as e:         # re-raised below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i, d, c))
               for i, (d, c) in enumerate(packages)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    assert all(out), out
    return out


def test_racing_transfers_both_make_versions_of_the_same_aips(ingest):
    s = ingest(workers_jobs=4)          # up to 3 ingest runs at once
    pkg1 = pkggen.sahke2_package("2019", casefiles=30, records=2, kb=2,
                                 seed=907)
    assert len({cf.native_id for cf in pkg1.casefiles}) == 30
    t1, rep1 = run(s, pkg1.archive("tar.gz"), "application/gzip")
    assert t1["status"] == "accepted", rep1
    assert len(t1["aips"]) == 30
    pkg2 = _changed_copy(pkg1, "B", 908)
    pkg3 = _changed_copy(pkg1, "C", 909)
    data2, data3 = pkg2.archive("tar"), pkg3.archive("zip")
    assert len({hashlib.sha256(x).digest() for x in
                (pkg1.archive("tar.gz"), data2, data3)}) == 3
    t2, t3 = _submit_together(s, [(data2, "application/x-tar"),
                                  (data3, "application/zip")])
    assert t2["id"] != t3["id"]
    done2 = wait_done(s, t2["id"], timeout=RACE_TIMEOUT)
    done3 = wait_done(s, t3["id"], timeout=RACE_TIMEOUT)
    rep2, rep3 = get_report(s, t2["id"]), get_report(s, t3["id"])
    assert done2["status"] == "accepted", (done2, rep2, s.log()[-3000:])
    assert done3["status"] == "accepted", (done3, rep3, s.log()[-3000:])
    assert rep2["errors"] == rep3["errors"] == 0
    # both went into the very AIPs of the first
    assert sorted(done2["aips"]) == sorted(done3["aips"]) == \
        sorted(t1["aips"])
    by_transfer = {t1["id"]: pkg1, t2["id"]: pkg2, t3["id"]: pkg3}
    for aip_id in t1["aips"]:
        a = get_aip(s, aip_id)
        assert a["current_version"] == 3, a
        versions = sorted(a["versions"], key=lambda v: v["version"])
        assert [v["version"] for v in versions] == [1, 2, 3], versions
        tids = [v["transfer_id"] for v in versions]
        assert len(set(tids)) == 3, versions
        assert tids[0] == t1["id"] and set(tids[1:]) == {t2["id"], t3["id"]}
        cf_native = a["native_id"]
        for v in versions:
            pkg = by_transfer[v["transfer_id"]]
            cf = next(c for c in pkg.casefiles if c.native_id == cf_native)
            bag = s.store / "aips" / aip_id / f"v{v['version']}"
            info, manifest = verify_bag(bag)
            assert info["Sailo-Version"] == str(v["version"])
            assert info["Sailo-AIP-Id"] == aip_id
            assert info["External-Identifier"] == cf_native
            # each version holds the bytes of the transfer it names
            want = {nfc("data/content/" + d.path): d.sha256
                    for d in cf.docs()}
            got = {nfc(p): h for p, h in manifest.items()
                   if p.startswith("data/content/")}
            assert got == want, (aip_id, v)
            listed = get_aip(s, aip_id, version=v["version"])
            assert {nfc(f["path"]): f["sha256"] for f in listed["files"]
                    if f["path"].startswith("data/content/")} == want
    # every folder on disk has its catalogue row, and nothing else is there
    on_disk = stored_aips(s)
    assert sorted(on_disk) == sorted(t1["aips"])
    for aip_id in on_disk:
        folders = sorted(os.listdir(s.store / "aips" / aip_id))
        a = get_aip(s, aip_id)
        assert folders == [f"v{v['version']}" for v in
                           sorted(a["versions"], key=lambda v: v["version"])]
    # each transfer's records are catalogued, once
    for t in (t1, done2, done3):
        items = records_of(s, transfer_id=t["id"])
        assert len(items) == 60
        assert len({i["native_id"] for i in items}) == 60
    current = {i["native_id"] for i in records_of(s) if i["aip_id"] in
               set(t1["aips"])}
    assert current == {r.native_id for r in pkg1.records()}


# ===========================================================================
# b. A person identity code where free text is expected

def _put_in_retention(pkg, code):
    pkg.casefiles[1].records[0].retention = code


def _put_in_title(pkg, code):
    cf = pkg.casefiles[1]
    cf.title = f"Toimeentulotuki, hakija {code}"
    cf.records[0].title = f"Päätös {code} — toimeentulotuki"


@pytest.mark.parametrize("where,change,quoted", [
    ("retention", _put_in_retention, True),
    ("title", _put_in_title, False)])
def test_identity_code_in_free_text_is_withheld_everywhere(ingest, database,
                                                           where, change,
                                                           quoted):
    s = ingest()
    rng = random.Random(f"review-{where}")
    code = pkggen.random_hetu(rng)
    assert pkggen.hetu_valid(code)
    pkg = pkggen.sahke2_package("2019", casefiles=2, records=2, kb=2,
                                seed=4711 + len(where))
    change(pkg, code)
    assert code.encode() in pkg.metadata()
    t, rep = run(s, pkg.archive("tar.gz"), "application/gzip")
    assert t["status"] in ("accepted", "rejected"), rep
    text = json.dumps(rep, ensure_ascii=False)
    html = html_report_lists(s, t["id"], codes(rep, "error"))
    forms = [code, code.lower(), code[:6] + code[7:]]
    for x in forms:
        assert x not in text, (x, rep)
        assert x not in html, x
    if quoted:
        # not an integer: an error, which names RetentionPeriod and says
        # "(withheld)" where the value was
        assert t["status"] == "rejected", rep
        errs = errors_of(rep)
        assert errs, rep
        mine = [f for f in errs if "RetentionPeriod" in f["message"]]
        assert mine, errs
        assert any("(withheld)" in f["message"] for f in mine), mine
        assert "(withheld)" in html
        assert_nothing_stored(s, t["id"])
    patterns = [f"%{x}%" for x in forms] + \
        [f"%{hashlib.sha256(code.encode()).hexdigest()}%"]
    conn = db_connect(database)
    try:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM transfer_findings "
                    "WHERE transfer_id = %s", (t["id"],))
        stored = cur.fetchone()[0]
        assert stored == len(rep["findings"]) and (stored > 0 or
                                                   not quoted)
        cur.execute("SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' "
                    "AND table_type = 'BASE TABLE'")
        tables = {r[0] for r in cur.fetchall()}
        assert {"transfer_findings", "records", "case_files",
                "audit_events"} <= tables, tables
        leaks = []
        for table in sorted(tables):
            cur.execute(f'SELECT count(*) FROM "{table}" x '
                        f"WHERE x::text ILIKE ANY (%s)", (patterns,))
            n = cur.fetchone()[0]
            if n:
                leaks.append(f"{table} ({n} rows)")
        assert leaks == [], f"the identity code in {', '.join(leaks)}"
    finally:
        conn.close()
    assert code not in s.log()


# ===========================================================================
# c. A bag that carries its own PREMIS and bag-info-like files

SUBMITTED_PREMIS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<premis xmlns="http://www.loc.gov/premis/v3" version="3.0">\n'
    '  <!-- the submitting system\'s own: LÄHETTÄJÄN-PREMIS -->\n'
    '  <event><eventType>creation</eventType></event>\n'
    '</premis>\n').encode()
SUBMITTED_INFO = ("Source-Organization: Palkanlaskenta Oy\n"
                  "External-Identifier: ALKUPERÄINEN-42\n"
                  "Bagging-Date: 2019-01-01\n").encode()


def test_bag_with_its_own_premis_and_bag_info_keeps_both(ingest):
    s = ingest()
    bag = pkggen.bagit_package(records=4, kb=3, seed=5150, top="bag")
    bag.payload["metadata/premis.xml"] = SUBMITTED_PREMIS
    bag.payload["metadata/submitted-bag-info.txt"] = SUBMITTED_INFO
    bag.payload["metadata/submitted/sisäkkäinen.txt"] = b"nested\n"
    files = bag.files()
    assert pkggen.bag_check(files) == []
    t, rep = run(s, bag.archive("tar.gz"), "application/gzip")
    assert t["status"] == "accepted", rep
    assert rep["errors"] == 0 and len(t["aips"]) == 1
    aip_id = t["aips"][0]
    bagdir = s.store / "aips" / aip_id / "v1"
    info, manifest = verify_bag(bagdir)
    assert info["External-Identifier"] == bag.external_id
    # Sailo's own PREMIS, about this AIP
    premis_bytes = (bagdir / "data/metadata/premis.xml").read_bytes()
    assert premis_bytes != SUBMITTED_PREMIS
    assert "LÄHETTÄJÄN-PREMIS".encode() not in premis_bytes
    root = ET.fromstring(premis_bytes)
    assert root.tag.startswith(f"{{{PREMIS_NS}}}"), root.tag
    events = [e.text for e in root.iter(f"{{{PREMIS_NS}}}eventType")]
    assert "ingestion" in events, events
    assert aip_id.encode() in premis_bytes
    # the submitted metadata, under submitted/, byte for byte
    sub = bagdir / "data/metadata/submitted"
    assert (sub / "premis.xml").read_bytes() == SUBMITTED_PREMIS
    assert (sub / "submitted-bag-info.txt").read_bytes() == SUBMITTED_INFO
    assert (sub / "submitted" / "sisäkkäinen.txt").read_bytes() == b"nested\n"
    assert (bagdir / "data/metadata/submitted-bag-info.txt").read_bytes() \
        == files["bag-info.txt"]
    assert (sub / "metadata.csv").read_bytes() == bag.metadata_csv()
    for p in ("data/metadata/premis.xml",
              "data/metadata/submitted/premis.xml",
              "data/metadata/submitted/submitted-bag-info.txt",
              "data/metadata/submitted-bag-info.txt",
              "data/metadata/submitted/metadata.csv"):
        assert p in manifest, p
    assert manifest["data/metadata/submitted/premis.xml"] == \
        hashlib.sha256(SUBMITTED_PREMIS).hexdigest()
    # the payload proper is the content, and nothing of metadata/ is
    content = {nfc(p) for p in manifest if p.startswith("data/content/")}
    assert content == {nfc("data/content/" + p) for p in bag.payload
                       if not p.startswith("metadata/")}
    # the records come from metadata.csv, as without the extra files
    assert len(records_of(s, transfer_id=t["id"])) == 4


def test_bag_with_a_metadata_bag_info_txt_loses_neither(ingest):
    """data/metadata/bag-info.txt would land where the bag's own bag-info.txt
    is kept: whatever Sailo does, it does not fail, and does not silently
    keep one of the two."""
    s = ingest()
    bag = pkggen.bagit_package(records=2, kb=2, seed=5151, top=None)
    bag.payload["metadata/bag-info.txt"] = SUBMITTED_INFO
    files = bag.files()
    t, rep = run(s, bag.archive("zip"), "application/zip")
    assert t["status"] in ("accepted", "rejected"), (t, rep)
    if t["status"] == "rejected":
        assert errors_of(rep), rep
        assert_nothing_stored(s, t["id"])
        return
    bagdir = s.store / "aips" / t["aips"][0] / "v1"
    verify_bag(bagdir)
    kept = {p.read_bytes() for p in (bagdir / "data").rglob("*")
            if p.is_file()}
    assert SUBMITTED_INFO in kept
    assert files["bag-info.txt"] in kept


# ===========================================================================
# d. Case files whose NativeId is blank

def test_blank_case_file_native_ids_are_rejected(ingest):
    s = ingest()
    pkg = pkggen.sahke2_package("2011", casefiles=3, records=2, kb=2,
                                seed=6060)
    pkg.casefiles[0].native_id = "   "
    pkg.casefiles[2].native_id = " \t\n  "
    t, rep = run(s, pkg.archive("tar"), "application/x-tar")
    assert t["status"] == "rejected", rep
    assert t["aips"] == []
    mine = errors_of(rep, "CASEFILE_NATIVE_ID")
    assert mine, [f["code"] for f in rep["findings"]]
    assert rep["errors"] >= 1
    html_report_lists(s, t["id"], ["CASEFILE_NATIVE_ID"])
    assert_nothing_stored(s, t["id"])


# ===========================================================================
# e. A very long non-ASCII entry name: its finding is not lost

LONG_NAME = "ä" * 600 + "/../evil.txt"


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_long_non_ascii_unsafe_name_keeps_its_finding(ingest, kind):
    s = ingest()
    pkg = pkggen.sahke2_package("2019", casefiles=1, records=2, kb=2,
                                seed=7070)
    entries = pkg.entries() + [pkggen.Entry(LONG_NAME, b"evil\n")]
    data = pkggen.write_archive(entries, kind)
    assert LONG_NAME in pkggen.read_archive(data, kind)
    t, rep = run(s, data, pkggen.CONTENT_TYPES[kind])
    assert t["status"] == "rejected", (t, rep)
    assert t["aips"] == []
    errs = errors_of(rep)
    assert rep["errors"] == len(errs) >= 1, rep
    assert errors_of(rep, "UNSAFE_PATH"), [f["code"] for f in errs]
    for f in rep["findings"]:
        assert "\ufffd" not in f["message"], f
    html_report_lists(s, t["id"], ["UNSAFE_PATH"])
    assert_nothing_stored(s, t["id"])
    assert not list(s.store.rglob("evil.txt"))


# ===========================================================================
# f. bag-info.txt in Latin-1

def test_latin1_bag_info_is_a_finding_not_a_failure(ingest):
    s = ingest()
    bag = pkggen.bagit_package(records=2, kb=2, seed=8080, top="bag")
    files = bag.files()
    info = files["bag-info.txt"].decode()
    info = re.sub(r"^External-Identifier: .*$",
                  "External-Identifier: PALKKA-Äänekoski", info, flags=re.M)
    files["bag-info.txt"] = info.encode("latin-1")
    assert b"\xc4\xe4nekoski" in files["bag-info.txt"]
    tags = {p: d for p, d in files.items() if "/" not in p and
            p != "tagmanifest-sha256.txt"}
    files["tagmanifest-sha256.txt"] = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {p}\n"
        for p, d in sorted(tags.items())).encode()
    # otherwise a valid bag (pkggen.bag_check reads bag-info.txt as UTF-8)
    bytes_ok = dict(files, **{"bag-info.txt": info.encode()})
    bytes_ok["tagmanifest-sha256.txt"] = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in
        sorted(dict(tags, **{"bag-info.txt": info.encode()}).items())).encode()
    assert pkggen.bag_check(bytes_ok) == []
    data = pkggen.write_archive(pkggen.file_entries(files, bag.top), "tar.gz")
    t, rep = run(s, data, "application/gzip")
    assert t["status"] == "rejected", (t, rep, s.log()[-2000:])
    mine = errors_of(rep, "BAGIT_INFO")
    assert mine, [f["code"] for f in rep["findings"]]
    assert any((f["path"] or "").endswith("bag-info.txt") or
               "bag-info.txt" in f["message"] for f in mine), mine
    html_report_lists(s, t["id"], ["BAGIT_INFO"])
    assert_nothing_stored(s, t["id"])


# ===========================================================================
# g. The record list's filters

@pytest.mark.parametrize("query", ["q=", "q=%20,.;", "q=" + "+palkka" * 33,
                                   "due_before=2030-02-30",
                                   "due_before=soon"])
def test_records_bad_filters_are_refused(ingest, query):
    s = ingest()
    r = s.get(f"/v1/records?{query}", token=s.rm)
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["error"]["code"] == "BAD_PARAMETER", r.text


DATED = [  # (created, publicity) of each record, two per case file
    ("2011-12-31", "Julkinen"), ("2012-01-01", "Salassa pidettävä"),
    ("2012-06-15", "Julkinen"), ("2012-12-31", "Salassa pidettävä"),
    ("2013-01-01", "Salassa pidettävä"), ("2012-03-03", "Julkinen"),
    ("2010-05-05", "Osittain salassapidettävä"), ("2012-12-30", "Julkinen"),
]


def test_records_filter_by_created_date_and_publicity(ingest):
    s = ingest()
    pkg = pkggen.sahke2_package("2019", casefiles=4, records=2, kb=2,
                                seed=9090)
    recs = pkg.records()
    assert len(recs) == len(DATED)
    for r, (created, publicity) in zip(recs, DATED):
        r.created, r.publicity = created, publicity
        r.security_reason = None if publicity == "Julkinen" else \
            "JulkL 24 § 1 mom 32 k"
        if publicity == "Julkinen":
            r.ssns = []
    for cf in pkg.casefiles:
        cf.created = min(r.created for r in cf.records)
    t, rep = run(s, pkg.archive("tar.gz"), "application/gzip")
    assert t["status"] == "accepted", rep
    mine = {i["native_id"]: i for i in records_of(s, transfer_id=t["id"])}
    assert {n: (i["created"], i["publicity"]) for n, i in mine.items()} == \
        {r.native_id: d for r, d in zip(recs, DATED)}

    def native_ids(**params):
        return {i["native_id"] for i in records_of(s, transfer_id=t["id"],
                                                   **params)}

    def want(pred):
        return {r.native_id for r, d in zip(recs, DATED) if pred(*d)}

    in_2012 = want(lambda c, p: "2012-01-01" <= c <= "2012-12-31")
    assert len(in_2012) == 5
    assert native_ids(**{"from": "2012-01-01", "to": "2012-12-31"}) == in_2012
    assert native_ids(**{"from": "2012-12-31"}) == \
        want(lambda c, p: c >= "2012-12-31")
    assert native_ids(to="2011-12-31") == want(lambda c, p: c <= "2011-12-31")
    assert native_ids(**{"from": "2012-06-15", "to": "2012-06-15"}) == \
        want(lambda c, p: c == "2012-06-15")
    assert native_ids(**{"from": "2014-01-01"}) == set()
    secret = want(lambda c, p: p == "Salassa pidettävä")
    assert len(secret) == 3
    assert native_ids(publicity="Salassa pidettävä") == secret
    assert native_ids(publicity="Julkinen") == \
        want(lambda c, p: p == "Julkinen")
    assert native_ids(publicity="Salassa pidettävä",
                      **{"from": "2012-01-01", "to": "2012-12-31"}) == \
        want(lambda c, p: p == "Salassa pidettävä" and
             "2012-01-01" <= c <= "2012-12-31")
    # without transfer_id: the whole catalogue, filtered the same way
    every = records_of(s, publicity="Salassa pidettävä",
                       **{"from": "2012-01-01", "to": "2012-12-31"})
    assert all(i["publicity"] == "Salassa pidettävä" and
               "2012-01-01" <= i["created"] <= "2012-12-31" for i in every)
    assert {i["native_id"] for i in every} >= \
        want(lambda c, p: p == "Salassa pidettävä" and
             "2012-01-01" <= c <= "2012-12-31")
    # a date that is not one is refused, not ignored
    for bad in ("from=2012-13-01", "to=yesterday", "from=2012-02-30"):
        r = s.get(f"/v1/records?{bad}", token=s.rm)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "BAD_PARAMETER"
