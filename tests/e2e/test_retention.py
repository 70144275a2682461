"""Each record's retention as Sailo decides it at ingest, from the current
information-management plan and the package: the class found by function
code (a longer code falls in its class) and record type, whose period wins
when they disagree (retention.precedence), the trigger and its date, the
end on the calendar (29.2. + N years, retention.round_to_year_end), an
explicit RetentionPeriodEnd, permanent records, records that wait for an
event, and the warnings.  Every expected end date is worked out by hand in
the comments."""
import datetime
import json
import os
import sys
import time
import xml.etree.ElementTree as ET
import zoneinfo

import shutil
import subprocess

import psycopg2
import pytest
import requests

import pkggen
from conftest import ROOT, SAILO, Sailo, conninfo
from test_ingest import FULL_CLEARANCE, get_report, submit, wait_done
from test_migrations import scratch_db  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tools"))
import demo_plan as dp  # noqa: E402

PUBLIC = dp.Publicity(dp.PUBLIC, dp.NO_PERSONAL_DATA)
KUNTAL = "KuntaL 410/2015"


def plan_xml(classes):
    """A JHS 191 plan of classes [(code, title, Retention, {type: Retention
    or None})], valid against the bundled schema (demo_plan writes it)."""
    root = ET.Element(dp.tos("Tos"))

    class Args:
        title, organisation, seed, csv = "Testisuunnitelma", "Testikunta", 0, "x"
    dp.plan_info_xml(root, Args)
    for code, title, retention, types in classes:
        action = dp.Action("käsittely", records=[
            dp.RecordType(name, own) for name, own in types.items()])
        dp.class_xml(root, code, title, dp.Process(PUBLIC, retention, [action]))
    return dp.serialise(root)


PLAN = [
    ("05 01 01", "Rakennuslupa",
     dp.Retention(10, KUNTAL, "Asian lopullinen ratkaisu"),
     {"hakemus": None, "lausunto": None,
      "päätös": dp.Retention(21, KUNTAL, "Asiakirjan päivämäärä")}),
    ("05 01 02", "Asemakaava", dp.Retention(-1, "Arkistolaitoksen päätös"),
     {"päätös": None}),
    ("02 05 01", "Kirjanpito",
     dp.Retention(6, "Kirjanpitolaki 2:10 §", "Tilikauden päättyminen"),
     {"tosite": None}),
    ("07 01 01", "Palvelussuhde",
     dp.Retention(50, "Arkistolaitoksen päätös", "Palvelussuhteen päättyminen"),
     {"sopimus": None}),
    ("03 01 01", "Tietopyynnöt",
     dp.Retention(3, KUNTAL, "Säilytysjärjestelmään siirto"),
     {"pyyntö": None}),
]


@pytest.fixture
def ingest(fresh_database, tmp_path):
    """start(**settings): sailo on a database of its own (the plan it is
    given must not govern other tests' transfers), with its own folders
    and tokens s.bus (integration) and s.rm (records_manager)."""
    started = []

    def start(**settings):
        dirs = dict(storage_root=tmp_path / "store",
                    storage_work=tmp_path / "work",
                    storage_spool=tmp_path / "spool",
                    ingest_inbox_dir="")
        dirs.update(settings)
        s = Sailo(fresh_database, tmp_path, **dirs)
        started.append(s)
        s.bus = s.token("integration")
        s.rm = s.token("records_manager", clearance=FULL_CLEARANCE)
        s.owner = s.env["SAILO_DATABASE_OWNER_CONNINFO"]
        return s

    yield start
    for s in started:
        assert s.stop() == 0, s.proc.stderr.read().decode()[-3000:]


def put_plan(s, xml):
    r = requests.put(f"{s.url}/v1/plan", data=xml, timeout=60,
                     headers={"Authorization": f"Bearer {s.rm}",
                              "Content-Type": "application/xml"})
    assert r.status_code in (200, 201), r.text
    return r.json()["version"]


def doc(native_id, n):
    return pkggen.Doc(f"{native_id}.pdf",
                      pkggen.pdf_bytes(native_id, 2048, n), f"{native_id}-d0")


def record(native_id, code, rtype, years, created, n, **kw):
    r = pkggen.Record(native_id, f"Asiakirja {native_id}", code,
                      created=created, retention=years, rtype=rtype,
                      docs=[doc(native_id, n)], **kw)
    return r


def package(seed=1):
    """Case files and records whose retention the tests know by hand."""
    cf1 = pkggen.CaseFile("HEL 2020-1", "Rakennuslupa, Mäkelänkatu 1",
                          "05 01 01", created="2020-02-29",
                          finished="2021-03-15")
    cf1.records = [
        # plan 10 (process), package 6: they disagree, the longer (10)
        # wins; from the case's final decision 15.3.2021 → 15.3.2031
        record("R1", "05 01 01", "hakemus", 6, "2020-02-29", 1),
        # the record type's own 21 years from the record's date:
        # 29.2.2020 + 21 → 2041 has no 29.2. → 28.2.2041 (package 10)
        record("R2", "05 01 01", "päätös", 10, "2020-02-29", 2),
        # a longer code falls in its class: 10 = 10, no disagreement;
        # RetentionPeriodEnd 1.1.2035 is later than 15.3.2031: kept
        record("R3", "05 01 01 02", "lausunto", 10, "2020-02-29", 3,
               retention_end="2035-01-01"),
        # RetentionPeriodEnd 1.1.2025 is earlier: a warning, 15.3.2031
        record("R4", "05 01 01", "hakemus", 10, "2020-02-29", 4,
               retention_end="2025-01-01"),
        # -1 in the package: permanent whatever the plan says
        record("R11", "05 01 01", "hakemus", -1, "2020-02-29", 11),
    ]
    cf2 = pkggen.CaseFile("HEL 2019-2", "Tositteet 2019", "02 05 01",
                          created="2019-06-10")
    # the fiscal year's end 31.12.2019 + 6 → 31.12.2025
    cf2.records = [record("R5", "02 05 01", "tosite", 6, "2019-06-10", 5)]
    cf3 = pkggen.CaseFile("HEL 2018-3", "Asemakaava 1234", "05 01 02",
                          created="2018-01-10")
    # permanent in the plan; the package's 10 disagrees
    cf3.records = [record("R6", "05 01 02", "päätös", 10, "2018-01-10", 6)]
    cf4 = pkggen.CaseFile("HEL 2017-4", "Virkasuhde, Virtanen", "07 01 01",
                          created="2017-08-01")
    # the end of employment is not in the package: waiting for an event
    cf4.records = [record("R7", "07 01 01", "sopimus", 50, "2017-08-01", 7)]
    cf5 = pkggen.CaseFile("HEL 2016-5", "Tuntematon tehtävä", "99 99 99",
                          created="2016-05-05", finished="2016-06-30")
    # no class for 99 99 99: its own 10 years from the case's final decision
    # 30.6.2016 → 30.6.2026
    cf5.records = [record("R9", "99 99 99", "muistio", 10, "2016-05-05", 9)]
    cf6 = pkggen.CaseFile("HEL 2021-6", "Tietopyyntö", "03 01 01",
                          created="2021-09-01")
    # from the transfer into the archive: today in Helsinki + 3 years
    cf6.records = [record("R10", "03 01 01", "pyyntö", 3, "2021-09-01", 10)]
    return pkggen.Sahke2Package(version="2019",
                                casefiles=[cf1, cf2, cf3, cf4, cf5, cf6],
                                transfer_id=f"SIIRTO-RET-{seed}")


def helsinki_today():
    return datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Helsinki")).date()


def plus_years(d, n):
    try:
        return d.replace(year=d.year + n)
    except ValueError:           # 29.2. into a year without one
        return d.replace(year=d.year + n, day=28)


def ingest_package(s, pkg):
    t = submit(s, pkg.archive("tar"), "application/x-tar")
    done = wait_done(s, t["id"])
    assert done["status"] == "accepted", get_report(s, t["id"])
    return t["id"]


def retention_by_native_id(s, tid):
    r = s.get(f"/v1/records?transfer_id={tid}&limit=100", token=s.rm)
    assert r.status_code == 200, r.text
    return {rec["native_id"]: rec["retention"] for rec in r.json()["items"]}


def test_ingest_decides_each_records_retention(ingest, tmp_path):
    s = ingest()
    version = put_plan(s, plan_xml(PLAN))
    tid = ingest_package(s, package())
    got = retention_by_native_id(s, tid)
    today = helsinki_today()

    def check(nid, state, end, years, source, **more):
        ret = got[nid]
        assert ret is not None, nid
        assert (ret["state"], ret["end"], ret["years"], ret["source"]) == \
            (state, end, years, source), (nid, ret)
        for k, v in more.items():
            assert ret[k] == v, (nid, k, ret)

    check("R1", "dated", "2031-03-15", 10, "plan", class_code="05 01 01",
          plan_version=version, trigger="Asian lopullinen ratkaisu",
          trigger_date="2021-03-15", basis=KUNTAL,
          disagreement=[{"kind": "period", "plan_years": 10,
                         "package_years": 6, "applied": "plan"}])
    check("R2", "dated", "2041-02-28", 21, "plan", record_type="päätös",
          trigger="Asiakirjan päivämäärä", trigger_date="2020-02-29")
    check("R3", "dated", "2035-01-01", 10, "plan", class_code="05 01 01",
          disagreement=[{"kind": "end_later", "package_end": "2035-01-01",
                         "computed_end": "2031-03-15"}])
    check("R4", "dated", "2031-03-15", 10, "plan",
          disagreement=[{"kind": "end_earlier", "package_end": "2025-01-01",
                         "computed_end": "2031-03-15"}])
    check("R11", "permanent", None, -1, "package")
    check("R5", "dated", "2025-12-31", 6, "plan",
          trigger="Tilikauden päättyminen", trigger_date="2019-12-31",
          basis="Kirjanpitolaki 2:10 §", disagreement=None)
    check("R6", "permanent", None, -1, "plan", trigger_date=None)
    check("R7", "waiting", None, 50, "plan",
          trigger="Palvelussuhteen päättyminen", trigger_date=None)
    check("R9", "dated", "2026-06-30", 10, "package", class_code=None,
          plan_version=None, trigger="Asian lopullinen ratkaisu",
          basis="KuntaL 2015/410")
    check("R10", "dated", plus_years(today, 3).isoformat(), 3, "plan",
          trigger="Säilytysjärjestelmään siirto",
          trigger_date=today.isoformat())

    report = get_report(s, tid)
    codes = [f["code"] for f in report["findings"]]
    unknown = [f for f in report["findings"]
               if f["code"] == "RETENTION_CLASS_UNKNOWN"]
    assert len(unknown) == 1 and "99 99 99" in unknown[0]["message"], unknown
    assert unknown[0]["line"] > 0
    disagree = [f["message"] for f in report["findings"]
                if f["code"] == "RETENTION_DISAGREES"]
    # R1 (6 against 10), R2 (10 against 21), R11 (-1 against 10), R6
    assert len(disagree) == 4, disagree
    assert any("R1" in m and "6 years" in m and "10 years" in m
               for m in disagree), disagree
    earlier = [f for f in report["findings"]
               if f["code"] == "RETENTION_END_EARLIER"]
    assert len(earlier) == 1 and "R4" in earlier[0]["message"], earlier
    assert "RETENTION_NO_PLAN" not in codes

    # the same in the database, with what it was decided from
    with psycopg2.connect(s.owner) as c:
        cur = c.cursor()
        cur.execute("SELECT r.native_id, t.case_finished::text, "
                    "t.record_created::text, t.package_years, t.ingested "
                    "FROM retention t JOIN records r ON r.id = t.record_id "
                    "WHERE r.transfer_id = %s", (tid,))
        rows = {row[0]: row[1:] for row in cur.fetchall()}
    assert len(rows) == 10
    assert rows["R1"] == ("2021-03-15", "2020-02-29", 6, today)


def test_precedence_and_rounding(ingest, tmp_path):
    # the package's period wins, and ends are rounded to the year's end
    s = ingest(retention_precedence="package",
               retention_round_to_year_end="true")
    put_plan(s, plan_xml(PLAN))
    tid = ingest_package(s, package(seed=2))
    got = retention_by_native_id(s, tid)
    # R1: the package's 6 from 15.3.2021 → 15.3.2027 → 31.12.2027
    assert (got["R1"]["end"], got["R1"]["years"], got["R1"]["source"]) == \
        ("2027-12-31", 6, "package")
    # R2: the package's 10, counted from the plan's record type's
    # trigger (the record's date 29.2.2020) → 28.2.2030 → 31.12.2030
    assert (got["R2"]["end"], got["R2"]["years"]) == ("2030-12-31", 10)
    # permanent on either side stays permanent whatever the precedence
    assert got["R6"]["state"] == "permanent"
    assert got["R11"]["state"] == "permanent"


def test_without_a_plan_the_package_decides(ingest, tmp_path):
    s = ingest()
    tid = ingest_package(s, package(seed=3))
    got = retention_by_native_id(s, tid)
    # R1: its own 6 years from the case's final decision 15.3.2021
    assert (got["R1"]["state"], got["R1"]["end"], got["R1"]["source"],
            got["R1"]["plan_version"]) == ("dated", "2027-03-15", "package",
                                          None)
    assert got["R11"]["state"] == "permanent"
    report = get_report(s, tid)
    no_plan = [f for f in report["findings"] if f["code"] == "RETENTION_NO_PLAN"]
    assert len(no_plan) == 1 and "10 records" in no_plan[0]["message"]
    assert not [f for f in report["findings"]
                if f["code"] == "RETENTION_CLASS_UNKNOWN"]


# ---------------------------------------------------------------------------
# Life-cycle events and what is due

EMPLOYMENT = "Palvelussuhteen päättyminen"
PERSON_A = pkggen.hetu(datetime.date(1980, 4, 12), 345)
PERSON_B = pkggen.hetu(datetime.date(1975, 11, 3), 122)
EVENT_PLAN = PLAN + [
    ("07 02 01", "Palkanmaksu", dp.Retention(2, "Arkistolaitoksen päätös",
                                             EMPLOYMENT), {"palkkalaskelma": None}),
]


def hr_package(seed=4):
    """Payroll records of two people in two case files, and one of person
    A's records in a class that counts from something else."""
    cf_a = pkggen.CaseFile("HR-A", "Palkanmaksu A", "07 02 01",
                           created="2018-01-31")
    cf_a.records = [record("P1", "07 02 01", "palkkalaskelma", 2,
                           "2018-01-31", 21, ssns=[PERSON_A]),
                    record("P2", "07 02 01", "palkkalaskelma", 2,
                           "2018-02-28", 22, ssns=[PERSON_A])]
    cf_b = pkggen.CaseFile("HR-B", "Palkanmaksu B", "07 02 01",
                           created="2018-01-31")
    cf_b.records = [record("P3", "07 02 01", "palkkalaskelma", 2,
                           "2018-01-31", 23, ssns=[PERSON_B])]
    cf_c = pkggen.CaseFile("HR-C", "Tietopyyntö A", "03 01 01",
                           created="2019-03-01")
    cf_c.records = [record("P4", "03 01 01", "pyyntö", 3, "2019-03-01", 24,
                           ssns=[PERSON_A])]
    return pkggen.Sahke2Package(version="2019", casefiles=[cf_a, cf_b, cf_c],
                                transfer_id=f"SIIRTO-HR-{seed}")


def due_ids(s, **query):
    got, after = [], None
    while True:
        q = dict(query, limit=query.get("limit", 2))
        if after:
            q["after"] = after
        r = requests.get(f"{s.url}/v1/retention/due", params=q, timeout=10,
                         headers={"Authorization": f"Bearer {s.rm}"})
        assert r.status_code == 200, r.text
        page = r.json()
        got += [i["native_id"] for i in page["items"]]
        after = page.get("next")
        if not after:
            return got


def post_event(s, body, token=None):
    return requests.post(f"{s.url}/v1/retention/events", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {token or s.rm}"})


def test_event_makes_exactly_the_matching_records_due(ingest, tmp_path):
    s = ingest()
    put_plan(s, plan_xml(EVENT_PLAN))
    tid = ingest_package(s, hr_package())
    got = retention_by_native_id(s, tid)
    assert [got[n]["state"] for n in ("P1", "P2", "P3")] == ["waiting"] * 3
    assert due_ids(s, on="2100-01-01") == ["P4"]     # today + 3 years

    # A's employment ended 15.1.2020: P1 and P2 end 15.1.2022 and are
    # due; P4 (A's too) counts from its transfer and does not move; B's
    # P3 still waits
    r = post_event(s, {"trigger": EMPLOYMENT, "date": "2020-01-15",
                       "match": {"person_ssn": PERSON_A}})
    assert r.status_code == 200, r.text
    ev = r.json()
    assert (ev["matched"], ev["changed"], ev["match"]) == (3, 2, "person_ssn")
    assert sorted(due_ids(s)) == ["P1", "P2"]
    got = retention_by_native_id(s, tid)
    assert (got["P1"]["end"], got["P1"]["trigger_date"]) == \
        ("2022-01-15", "2020-01-15")
    assert got["P3"]["state"] == "waiting"
    assert got["P4"]["end"] == plus_years(helsinki_today(), 3).isoformat()

    # the same event again: nothing moves
    r = post_event(s, {"trigger": EMPLOYMENT, "date": "2020-01-15",
                       "match": {"person_ssn": PERSON_A.lower()}})
    assert (r.json()["matched"], r.json()["changed"]) == (3, 0), r.text
    # a later date for P1 alone, by its NativeId: ends 31.5.2026
    r = post_event(s, {"trigger": EMPLOYMENT, "date": "2024-05-31",
                       "match": {"native_ids": ["P1"]}})
    assert (r.json()["matched"], r.json()["changed"]) == (1, 1), r.text
    assert due_ids(s, on="2026-05-30") == ["P2"]
    assert due_ids(s, on="2026-05-31") == ["P2", "P1"]
    # B's case file by its NativeId, from the integration that sent it
    r = post_event(s, {"trigger": " palvelussuhteen PÄÄTTYMINEN ",
                       "date": "2021-12-31",
                       "match": {"case_native_id": "HR-B"}}, token=s.bus)
    assert (r.json()["matched"], r.json()["changed"]) == (1, 1), r.text
    assert retention_by_native_id(s, tid)["P3"]["end"] == "2023-12-31"
    # another integration finds none of them
    other = s.token("integration")
    r = post_event(s, {"trigger": EMPLOYMENT, "date": "2021-01-01",
                       "match": {"case_native_id": "HR-A"}}, token=other)
    assert (r.status_code, r.json()["matched"]) == (200, 0), r.text

    # a trigger the package dates (P4's transfer) is not moved by an event
    r = post_event(s, {"trigger": "Säilytysjärjestelmään siirto",
                       "date": "1900-01-01", "match": {"native_ids": ["P4"]}},
                   token=s.bus)
    assert (r.status_code, r.json()["matched"], r.json()["changed"]) == \
        (200, 1, 0), r.text
    assert retention_by_native_id(s, tid)["P4"]["end"] == \
        plus_years(helsinki_today(), 3).isoformat()
    # malformed JSON around a code: 400, the code withheld
    r = requests.post(f"{s.url}/v1/retention/events", timeout=10,
                      data='{"trigger": "x", "match": {"person_ssn": "%s' % PERSON_A,
                      headers={"Authorization": f"Bearer {s.rm}",
                               "Content-Type": "application/json"})
    assert r.status_code == 400 and PERSON_A not in r.text, r.text

    # bad bodies: 400 naming the field; the code sent is never echoed
    bad_ssn = PERSON_A[:-1] + ("X" if PERSON_A[-1] != "X" else "Y")
    for body, field in [
            ({"date": "2020-01-15", "match": {"native_ids": ["P1"]}}, "trigger"),
            ({"trigger": EMPLOYMENT, "date": "2020-02-30",
              "match": {"native_ids": ["P1"]}}, "date"),
            ({"trigger": EMPLOYMENT, "date": "2020-01-15"}, "match"),
            ({"trigger": EMPLOYMENT, "date": "2020-01-15",
              "match": {"native_ids": ["P1"], "case_native_id": "HR-A"}}, "match"),
            ({"trigger": EMPLOYMENT, "date": "2020-01-15",
              "match": {"native_ids": []}}, "match.native_ids"),
            ({"trigger": EMPLOYMENT, "date": "2020-01-15",
              "match": {"person_ssn": bad_ssn}}, "match.person_ssn")]:
        r = post_event(s, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["message"].startswith(field), r.text
        assert bad_ssn not in r.text
    auditor = s.token("auditor")
    r = post_event(s, {"trigger": EMPLOYMENT, "date": "2020-01-15",
                       "match": {"native_ids": ["P1"]}}, token=auditor)
    assert r.status_code == 403

    # audited without the code; kept as its HMAC; never in the log
    r = requests.get(f"{s.url}/v1/audit", params={"action": "retention.event"},
                     headers={"Authorization": f"Bearer {auditor}"}, timeout=10)
    assert r.status_code == 200, r.text
    events = r.json()["items"]
    assert len(events) == 6, events
    assert {e["details"]["match"] for e in events} == \
        {"person_ssn", "native_ids", "case_native_id"}
    assert PERSON_A not in r.text and PERSON_A not in s.log()
    with psycopg2.connect(s.owner) as c:
        cur = c.cursor()
        cur.execute("SELECT match::text FROM retention_events")
        kept = " ".join(row[0] for row in cur.fetchall())
    assert "person_hmac" in kept and PERSON_A not in kept


def test_due_list_and_forecast(ingest, tmp_path):
    s = ingest()
    put_plan(s, plan_xml(PLAN))
    ingest_package(s, package(seed=5))
    today = helsinki_today()
    in_3 = plus_years(today, 3)
    # ends: R5 31.12.2025, R9 30.6.2026, R10 today + 3, R1 and R4
    # 15.3.2031, R3 1.1.2035, R2 28.2.2041
    assert due_ids(s, on="2025-12-30") == []
    assert due_ids(s, on="2026-06-30") == ["R5", "R9"]
    ordered = due_ids(s, on="2031-03-15", limit=1)
    ends = {"R5": "2025-12-31", "R9": "2026-06-30", "R1": "2031-03-15",
            "R4": "2031-03-15"}
    if in_3.isoformat() <= "2031-03-15":
        ends["R10"] = in_3.isoformat()
    assert sorted(ordered) == sorted(ends)
    assert [ends[n] for n in ordered] == sorted(ends.values())
    assert sorted(due_ids(s, on="2031-03-15", function="05.01")) == ["R1", "R4"]
    assert due_ids(s, on="2100-01-01", function="05 01 01 02") == ["R3"]
    assert due_ids(s, on="2100-01-01", function="05 01 0") == []
    # the record list takes the same day as due_before
    r = requests.get(f"{s.url}/v1/records", timeout=10,
                     params={"due_before": "2026-06-30", "limit": 100},
                     headers={"Authorization": f"Bearer {s.rm}"})
    assert r.status_code == 200, r.text
    assert sorted(x["native_id"] for x in r.json()["items"]) == ["R5", "R9"]
    for bad in ({"on": "2031-02-30"}, {"function": "abc"},
                {"after": "bogus"}, {"limit": "0"}):
        r = requests.get(f"{s.url}/v1/retention/due", params=bad, timeout=10,
                         headers={"Authorization": f"Bearer {s.rm}"})
        assert r.status_code == 400, (bad, r.text)
    for who in (s.bus, s.token("auditor")):
        for path in ("/v1/retention/due", "/v1/retention/forecast"):
            r = requests.get(f"{s.url}{path}", timeout=10,
                             headers={"Authorization": f"Bearer {who}"})
            assert r.status_code == 403, (path, r.text)

    r = requests.get(f"{s.url}/v1/retention/forecast", timeout=30,
                     headers={"Authorization": f"Bearer {s.rm}"})
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["from"] == today.isoformat() and f["until"] == today.year + 9
    by_year = {y["year"]: y for y in f["years"]}
    expect = {}
    for end, code in [("2026-06-30", "99 99 99"),
                      (in_3.isoformat(), "03 01 01"),
                      ("2031-03-15", "05 01 01"), ("2031-03-15", "05 01 01"),
                      ("2035-01-01", "05 01 01")]:     # R3: its class
        y = int(end[:4])
        if today.year <= y <= today.year + 9:
            expect.setdefault(y, {}).setdefault(code, 0)
            expect[y][code] += 1
    assert {y: {fn["function_code"]: fn["records"] for fn in v["functions"]}
            for y, v in by_year.items()} == expect
    assert all(v["records"] == sum(expect[y].values())
               for y, v in by_year.items())
    # R5 ended before this year; R6 and R11 permanent; R7 waits
    overdue = 1 + (today.year > 2026)
    assert f["not_in_years"] == {"overdue": overdue, "permanent": 2,
                                 "waiting": 1, "unknown": 0}


# ---------------------------------------------------------------------------
# A new plan version

# 05 01 01's process keeps 15 years instead of 10 (its record type päätös
# keeps its own 21), and 99 99 99 is a class now (1 year, shorter than the
# packages' 10: the longer still wins, so no end moves there).
PLAN_2 = [(code, title, dp.Retention(15, KUNTAL, "Asian lopullinen ratkaisu")
           if code == "05 01 01" else retention, types)
          for code, title, retention, types in PLAN] + [
    ("99 99 99", "Uusi tehtävä", dp.Retention(1, KUNTAL,
                                             "Asian lopullinen ratkaisu"),
     {"muistio": None})]


def impact_of(s, xml):
    r = requests.post(f"{s.url}/v1/plan/impact", data=xml, timeout=120,
                      headers={"Authorization": f"Bearer {s.rm}",
                               "Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    return r.json()


def wait_pass(s, version, timeout=60):
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
    while True:
        r = s.get(f"/v1/plan/versions/{version}/impact", token=s.rm)
        assert r.status_code == 200, r.text
        if r.json()["status"] != "pending":
            return r.json()
        assert datetime.datetime.now() < deadline, r.text
        time.sleep(0.2)


def test_new_plan_version_moves_only_the_affected_records(ingest, tmp_path):
    s = ingest()
    assert put_plan(s, plan_xml(PLAN)) == 1
    assert wait_pass(s, 1)["records"] == 0          # nothing held yet
    tid = ingest_package(s, package(seed=6))
    before = retention_by_native_id(s, tid)
    # the plan they were decided by, read from the XML, decides the same
    same = impact_of(s, plan_xml(PLAN))
    assert (same["records"], same["changed"], same["ends_moved"]) == (10, 0, 0), same

    # the dry run: R1, R3 and R4 (05 01 01 by its process) end later; R9
    # has a class now but the same end; R11 (permanent by the package)
    # keeps its end, but what it disagrees with is now 15 years; nothing
    # is stored
    xml_2 = plan_xml(PLAN_2)
    dry = impact_of(s, xml_2)
    assert (dry["records"], dry["ends_moved"], dry["changed"]) == (10, 3, 5), dry
    assert dry["by_class"] == [{"class_code": "05 01 01", "records": 3}]
    assert retention_by_native_id(s, tid) == before
    assert s.get("/v1/plan", token=s.rm).json()["version"] == 1
    # an invalid plan: 422 with its findings, as PUT says
    r = requests.post(f"{s.url}/v1/plan/impact", data=b"<Tos/>", timeout=30,
                      headers={"Authorization": f"Bearer {s.rm}",
                               "Content-Type": "application/xml"})
    assert r.status_code == 422 and r.json()["findings"], r.text

    assert put_plan(s, xml_2) == 2
    done = wait_pass(s, 2)
    assert (done["status"], done["records"], done["ends_moved"],
            done["changed"]) == ("done", 10, 3, 5), done
    assert done["by_class"] == dry["by_class"]
    after = retention_by_native_id(s, tid)
    # 15.3.2021 + 15 = 15.3.2036 (R3's explicit 1.1.2035 is now earlier)
    for nid in ("R1", "R3", "R4"):
        assert (after[nid]["end"], after[nid]["years"],
                after[nid]["plan_version"]) == ("2036-03-15", 15, 2), after[nid]
    assert after["R3"]["disagreement"] == [
        {"kind": "period", "plan_years": 15, "package_years": 10,
         "applied": "plan"},
        {"kind": "end_earlier", "package_end": "2035-01-01",
         "computed_end": "2036-03-15"}]
    assert (after["R9"]["class_code"], after["R9"]["plan_version"],
            after["R9"]["end"]) == ("99 99 99", 2, before["R9"]["end"])
    assert after["R11"]["disagreement"][0]["plan_years"] == 15
    # the rest is as version 1 decided it, and says so
    for nid in ("R2", "R5", "R6", "R7", "R10"):
        assert after[nid] == before[nid], nid
        if before[nid]["plan_version"] is not None:
            assert after[nid]["plan_version"] == 1
    # the same bytes again: no new version, no new pass
    assert put_plan(s, xml_2) == 2
    with psycopg2.connect(s.owner) as c:
        cur = c.cursor()
        cur.execute("SELECT version, status FROM retention_passes ORDER BY 1")
        assert cur.fetchall() == [(1, "done"), (2, "done")]
    assert s.get("/v1/plan/versions/3/impact", token=s.rm).status_code == 404
    r = requests.get(f"{s.url}/v1/plan/versions/2/impact", timeout=10,
                     headers={"Authorization": f"Bearer {s.bus}"})
    assert r.status_code == 403


def test_records_catalogued_before_retention_are_decided(scratch_db, tmp_path):
    """A database migrated to 006 with a record in it (as a release before
    retention left it): 008 gives the record its row, and its pass decides
    it by the package (no plan)."""
    old = tmp_path / "sql"
    old.mkdir()
    for f in sorted(os.listdir(os.path.join(ROOT, "sql")))[:6]:
        shutil.copy(os.path.join(ROOT, "sql", f), old / f)
    env = dict(os.environ,
               SAILO_DATABASE_OWNER_CONNINFO=conninfo("sailo_owner", scratch_db),
               SAILO_DATABASE_CONNINFO=conninfo("sailo_app", scratch_db))
    run = subprocess.run([SAILO, "db", "migrate"], cwd=ROOT, capture_output=True,
                         text=True, env=dict(env, SAILO_DATABASE_MIGRATIONS_DIR=str(old)))
    assert run.returncode == 0, run.stderr
    with psycopg2.connect(conninfo("sailo_owner", scratch_db)) as c:
        cur = c.cursor()
        cur.execute("""
            INSERT INTO principals (id, name) VALUES
              ('00000000-0000-4000-8000-000000000001', 'vanha-bus');
            INSERT INTO transfers (id, submitted_by, package_sha256, size,
                                   status, submitted_at, finished_at)
              VALUES ('00000000-0000-4000-8000-000000000002',
                      '00000000-0000-4000-8000-000000000001',
                      decode(repeat('ab', 32), 'hex'), 1, 'accepted',
                      '2024-06-30 22:30+00', '2024-06-30 22:30+00');
            INSERT INTO aips (id, source, native_id, current_version) VALUES
              ('00000000-0000-4000-8000-000000000003',
               '00000000-0000-4000-8000-000000000001', 'HEL 2020-9', 1);
            INSERT INTO aip_versions (aip_id, version, transfer_id, files, bytes,
                                      tagmanifest_sha256) VALUES
              ('00000000-0000-4000-8000-000000000003', 1,
               '00000000-0000-4000-8000-000000000002', 1, 1,
               decode(repeat('cd', 32), 'hex'));
            INSERT INTO case_files (id, aip_id, version, native_id, function_code,
                                    finished, retention_period, retention_reason)
              VALUES ('00000000-0000-4000-8000-000000000004',
                      '00000000-0000-4000-8000-000000000003', 1, 'HEL 2020-9',
                      '05 01 01', '2021-03-15', 6, 'KuntaL');
            INSERT INTO records (id, aip_id, version, case_file_id, transfer_id,
                                 native_id, created, retention_trigger)
              VALUES ('00000000-0000-4000-8000-000000000005',
                      '00000000-0000-4000-8000-000000000003', 1,
                      '00000000-0000-4000-8000-000000000004',
                      '00000000-0000-4000-8000-000000000002', 'V1', '2020-02-29',
                      'Säilytysjärjestelmään siirto');
        """)
    run = subprocess.run([SAILO, "db", "migrate"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([SAILO, "retention", "recompute"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["passes"] == [{"version": 0, "status": "done", "records": 1,
                              "changed": 1, "ends_moved": 1}], out
    with psycopg2.connect(conninfo("sailo_owner", scratch_db)) as c:
        cur = c.cursor()
        cur.execute("SELECT state, years, basis, trigger, trigger_date::text, "
                    "end_date::text, source, function_code, ingested::text "
                    "FROM retention")
        # the case file's 6 years and reason, the record's own trigger:
        # the transfer on 1.7.2024 in Helsinki (22:30 UTC + 3 h) → 1.7.2030
        assert cur.fetchall() == [("dated", 6, "KuntaL",
                                   "Säilytysjärjestelmään siirto", "2024-07-01",
                                   "2030-07-01", "package", "05 01 01",
                                   "2024-07-01")]
