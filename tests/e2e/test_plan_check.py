"""`sailo plan check`: what an import of a JHS 191 plan would say, with the
schema problems on the lines `xmllint --schema` gives (computed here by
running xmllint on the same file, not written down), the demo plan read
whole, and a lenient check that names what it would leave out."""
import json
import re
import subprocess

from conftest import ROOT, SAILO

SCHEMA = f"{ROOT}/formats/schemas/jhs191/Skeema_TOS_kooste.xsd"
TEMPLATE = f"{ROOT}/tests/data/jhs191-tos-template.xml"


def check(*args):
    out = subprocess.run([SAILO, "plan", "check", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def xmllint_lines(path):
    out = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", SCHEMA, path],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    return [int(m.group(1)) for m in
            re.finditer(r"^" + re.escape(path) + r":(\d+): ", out.stderr, re.M)]


def test_demo_plan_is_read_whole(tmp_path):
    plan = tmp_path / "plan.xml"
    subprocess.run(["/usr/bin/python3", f"{ROOT}/tools/demo_plan.py", "-o", str(plan)],
                   check=True, timeout=120)
    rc, verdict = check(str(plan))
    assert rc == 0 and verdict["ok"] is True, verdict
    assert verdict["findings"] == []
    with open(f"{ROOT}/tools/data/helsinki-functions.csv", encoding="utf-8") as f:
        codes = sum(1 for line in f if line.strip())
    assert verdict["classes"] == codes
    assert verdict["record_types"] > codes


def test_template_is_refused_on_the_lines_xmllint_gives():
    rc, verdict = check(TEMPLATE)
    assert rc == 1 and verdict["ok"] is False
    schema = [f for f in verdict["findings"] if f["code"] == "PLAN_SCHEMA"]
    expected = xmllint_lines(TEMPLATE)
    assert expected, "xmllint reported no lines"
    assert [f["line"] for f in schema] == expected
    assert all(f["severity"] == "error" for f in schema)
    unresolved = [f for f in verdict["findings"] if f["code"] == "PLAN_UNRESOLVED"]
    assert len(unresolved) == 1 and "00 00" in unresolved[0]["message"]


def test_lenient_names_the_class_it_cannot_resolve():
    rc, verdict = check("--lenient", TEMPLATE)
    assert rc == 1 and verdict["classes"] == 0
    codes = {f["code"]: f for f in verdict["findings"]}
    assert codes["PLAN_SCHEMA"]["severity"] == "warning"
    assert codes["PLAN_UNRESOLVED"]["severity"] == "warning"
    assert "class 00 00 test classification" in codes["PLAN_UNRESOLVED"]["message"]
    assert "left out" in codes["PLAN_UNRESOLVED"]["message"]
    assert codes["PLAN_NOTHING_RESOLVABLE"]["severity"] == "error"


def test_a_doctype_is_refused_before_anything_is_read(tmp_path):
    evil = tmp_path / "evil.xml"
    evil.write_text('<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x SYSTEM '
                    '"file:///etc/passwd">]>\n<t>&x;</t>\n')
    rc, verdict = check(str(evil))
    assert rc == 1
    assert [f["code"] for f in verdict["findings"]] == ["PLAN_DOCTYPE"]
    assert "root:" not in json.dumps(verdict)
