"""A records manager imports the organisation's information-management plan
(JHS 191 XML) over the API and from the command line: versions, the same
bytes twice, the current plan and one class, refusals with the lines
xmllint gives, lenient imports, roles, and the audit trail."""
import json
import re
import subprocess

import psycopg2
import requests

from conftest import ROOT, SAILO, Sailo, conninfo, sailo_env

SCHEMA = f"{ROOT}/formats/schemas/jhs191/Skeema_TOS_kooste.xsd"
TEMPLATE = f"{ROOT}/tests/data/jhs191-tos-template.xml"


def demo_plan(tmp_path, seed=191):
    path = tmp_path / f"plan-{seed}.xml"
    subprocess.run(["/usr/bin/python3", f"{ROOT}/tools/demo_plan.py", "--seed", str(seed),
                    "-o", str(path)], check=True, timeout=120)
    return path.read_bytes()


def put_plan(sailo, token, body, query="", ctype="application/xml"):
    return requests.put(f"{sailo.url}/v1/plan{query}", data=body, timeout=60,
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": ctype})


def xmllint_lines(path):
    out = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", SCHEMA, path],
                         capture_output=True, text=True, timeout=120)
    return [int(m.group(1)) for m in
            re.finditer(r"^" + re.escape(path) + r":(\d+): ", out.stderr, re.M)]


def versions_in(database):
    with psycopg2.connect(conninfo("sailo_owner", database)) as c:
        cur = c.cursor()
        cur.execute("SELECT version, classes FROM plan_versions ORDER BY version")
        return cur.fetchall()


def test_import_versions_and_read_back(fresh_database, tmp_path):
    sailo = Sailo(fresh_database, tmp_path)
    try:
        rm = sailo.token("records_manager")
        auditor = sailo.token("auditor")
        plan = demo_plan(tmp_path)
        codes = sum(1 for line in open(f"{ROOT}/tools/data/helsinki-functions.csv",
                                       encoding="utf-8") if line.strip())

        r = put_plan(sailo, rm, plan)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["version"] == 1 and made["new"] is True
        assert made["classes"] == codes and made["findings"] == []
        assert r.headers["Location"] == "/v1/plan/versions/1"
        at = sailo.get(r.headers["Location"], token=rm)
        assert at.status_code == 200, at.text
        assert at.json()["version"] == 1 and len(at.json()["items"]) == codes
        assert at.json()["findings"] == []
        assert sailo.get("/v1/plan/versions/9", token=rm).status_code == 404
        assert sailo.get("/v1/plan/versions/abc", token=rm).status_code == 404

        # the same bytes again: the same version, no new one
        r = put_plan(sailo, rm, plan)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 1 and r.json()["new"] is False
        assert versions_in(fresh_database) == [(1, codes)]

        current = sailo.get("/v1/plan", token=rm).json()
        assert current["version"] == 1 and len(current["items"]) == codes
        assert current["organisation"] == "Helsingin kaupunki"
        by_code = {c["code"]: c for c in current["items"]}
        assert "00 00 00" in by_code
        years = {c["retention_years"] for c in current["items"]}
        assert {-1, 10}.issubset(years)

        one = sailo.get("/v1/plan/classes/00.00.00", token=rm)
        assert one.status_code == 200, one.text
        assert one.json()["code"] == "00 00 00"
        assert one.json()["title"] == by_code["00 00 00"]["title"]
        assert one.json()["record_types"], one.json()
        assert sailo.get("/v1/plan/classes/99.99.99", token=rm).status_code == 404
        assert sailo.get("/v1/plan/classes/x", token=rm).status_code == 400

        # another plan from the command line is the next version
        other = tmp_path / "other.xml"
        other.write_bytes(demo_plan(tmp_path, seed=7))
        out = subprocess.run([SAILO, "plan", "import", str(other)], cwd=ROOT,
                             env=sailo_env(fresh_database), capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["version"] == 2
        assert sailo.get("/v1/plan", token=rm).json()["version"] == 2
        listed = sailo.get("/v1/plan/versions", token=rm).json()["items"]
        assert [v["version"] for v in listed] == [2, 1]
        assert listed[1]["imported_by"] != listed[0]["imported_by"]   # rm, then cli

        # every import is an act in the audit trail, the repeat too
        events = sailo.get("/v1/audit?action=plan.import&order=asc", token=auditor).json()["items"]
        assert [(e["object_id"], e["details"]["new"]) for e in events] == \
            [("1", True), ("1", False), ("2", True)]
    finally:
        sailo.stop()


def test_refusals_roles_and_lenient(fresh_database, tmp_path):
    sailo = Sailo(fresh_database, tmp_path)
    try:
        rm = sailo.token("records_manager")
        template = open(TEMPLATE, "rb").read()

        r = put_plan(sailo, rm, template)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"]["code"] == "PLAN_INVALID"
        schema = [f["line"] for f in body["findings"] if f["code"] == "PLAN_SCHEMA"]
        assert schema == xmllint_lines(TEMPLATE) and schema

        r = put_plan(sailo, rm, template, "?lenient=1")
        assert r.status_code == 422, r.text
        unresolved = [f for f in r.json()["findings"] if f["code"] == "PLAN_UNRESOLVED"]
        assert len(unresolved) == 1
        assert "class 00 00 test classification" in unresolved[0]["message"]
        assert "left out" in unresolved[0]["message"]
        assert versions_in(fresh_database) == []

        assert sailo.get("/v1/plan", token=rm).status_code == 404
        assert put_plan(sailo, rm, b"<a/>", ctype="application/json").status_code == 415
        assert put_plan(sailo, rm, b"").status_code == 400
        assert put_plan(sailo, rm, template, "?lenient=maybe").status_code == 400
        for role in ("integration", "auditor", "admin"):
            assert put_plan(sailo, sailo.token(role), template).status_code == 403
            assert sailo.get("/v1/plan", token=sailo.token(role)).status_code == 403
        r = put_plan(sailo, rm, b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e "e">]>\n<x>&e;</x>')
        assert r.status_code == 422
        assert [f["code"] for f in r.json()["findings"]] == ["PLAN_DOCTYPE"]
        # each refusal is an act: the template twice, then the DOCTYPE
        auditor = sailo.token("auditor")
        events = sailo.get("/v1/audit?action=plan.import&order=asc",
                           token=auditor).json()["items"]
        assert [e["outcome"] for e in events] == ["failure"] * 3
        assert events[0]["details"]["errors"] >= 4
        assert events[1]["details"]["lenient"] is True
    finally:
        sailo.stop()


def test_lenient_import_leaves_out_one_class_and_says_so(fresh_database, tmp_path):
    sailo = Sailo(fresh_database, tmp_path)
    try:
        rm = sailo.token("records_manager")
        plan = demo_plan(tmp_path).decode()
        # the first process's retention (class 00) emptied, as real exports do
        start = plan.index("<tos:Sailytysaikatiedot>")
        end = plan.index("</tos:Sailytysaikatiedot>", start) + len("</tos:Sailytysaikatiedot>")
        broken = (plan[:start] + "<tos:Sailytysaikatiedot/>" + plan[end:]).encode()
        line = plan[:start].count("\n") + 1

        r = put_plan(sailo, rm, broken)
        assert r.status_code == 422, r.text
        assert [f["line"] for f in r.json()["findings"]
                if f["code"] == "PLAN_SCHEMA"] == [line]

        r = put_plan(sailo, rm, broken, "?lenient=1")
        assert r.status_code == 201, r.text
        made = r.json()
        full = put_plan(sailo, rm, plan.encode()).json()
        assert made["classes"] == full["classes"] - 1
        left = [f for f in made["findings"] if f["code"] == "PLAN_UNRESOLVED"]
        assert len(left) == 1 and left[0]["message"].startswith("class 00 ")
        assert left[0]["severity"] == "warning"
        kept = sailo.get(f"/v1/plan/versions/{made['version']}", token=rm).json()
        assert kept["lenient"] is True
        assert "00" not in {c["code"] for c in kept["items"]}
        assert [f["code"] for f in kept["findings"]] == ["PLAN_SCHEMA", "PLAN_UNRESOLVED"]
    finally:
        sailo.stop()
