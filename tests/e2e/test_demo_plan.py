"""tools/demo_plan.py writes a JHS 191 plan that the bundled schemas accept,
with every class of the classification and the retention cases the plan
importer must handle; and the bundled JHS 191 schemas are the published
bytes.

Needs neither the daemon nor the database: only python3 and xmllint.
"""
import collections
import csv
import hashlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT

GENERATOR = os.path.join(ROOT, "tools", "demo_plan.py")
SCHEMA_DIR = os.path.join(ROOT, "formats", "schemas", "jhs191")
ROOT_SCHEMA = os.path.join(SCHEMA_DIR, "Skeema_TOS_kooste.xsd")
SCHEMAS = ("JHSydin20091019.xsd", "Skeema_TOS_atomaariset.xsd",
           "Skeema_TOS_kooste.xsd")
REFERENCE_DIR = os.path.normpath(
    os.path.join(ROOT, "..", "shared", "schemas", "jhs191"))
ORIGIN_MD = os.path.join(ROOT, "formats", "schemas", "ORIGIN.md")
CSV_PATH = os.path.join(ROOT, "tools", "data", "helsinki-functions.csv")

NS = "{http://skeemat.jhs-suositukset.fi/tos/2015/01/15}"
RECOMMENDED_YEARS = {0, 3, 6, 10, 20, 50, 120, -1}
TRIGGERS = {"Asian lopullinen ratkaisu", "Asiakirjan päivämäärä",
            "Palvelussuhteen päättyminen", "Henkilön kuolema",
            "Tilikauden päättyminen", "Projektin päättyminen",
            "Säilytysjärjestelmään siirto"}


def generate(*args):
    """The generator's stdout (bytes); fails the test on a non-zero exit."""
    out = subprocess.run([sys.executable, GENERATOR, *args],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def t(name):
    return NS + name


def retention(element):
    """An element's own Sailytysaikatiedot as a comparable tuple."""
    period = element.find(t("Sailytysaikatiedot"))
    return tuple((child.tag, child.text) for child in period)


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "plan.xml"
    generate("-o", str(path))
    return path


@pytest.fixture(scope="module")
def plan(plan_path):
    return ET.parse(plan_path).getroot()


def test_plan_validates_against_bundled_schema(plan_path):
    out = subprocess.run(["xmllint", "--noout", "--nonet",
                          "--schema", ROOT_SCHEMA, str(plan_path)],
                         capture_output=True, text=True, timeout=120)
    print(out.stderr)
    assert out.returncode == 0, out.stderr[-5000:]


def test_every_function_code_is_one_class(plan):
    with open(CSV_PATH, encoding="utf-8", newline="") as f:
        codes = [row[0] for row in csv.reader(f) if row]
    in_plan = collections.Counter(
        e.text for e in plan.iter(t("Luokitustunnus")))
    assert set(in_plan) == set(codes)
    assert [c for c, n in in_plan.items() if n != 1] == []


def test_every_id_is_unique(plan):
    # The schema types tos:id as a bare string and declares no key, so
    # xmllint would not notice a duplicate.
    ids = [e.get(t("id")) for e in plan.iter() if e.get(t("id")) is not None]
    duplicates = [i for i, n in collections.Counter(ids).items() if n > 1]
    assert duplicates == []


def test_retention_covers_every_recommended_period(plan):
    used = {int(e.text) for e in plan.iter(t("SailytysajanPituusArvo"))}
    assert used == RECOMMENDED_YEARS


def test_several_triggers_occur(plan):
    used = {e.text for e in plan.iter(t("SailytysajanLaskentaperusteTeksti"))}
    assert used <= TRIGGERS
    assert len(used) >= 4, used


def test_some_record_types_keep_their_own_retention_most_inherit(plan):
    # A valid plan carries Sailytysaikatiedot on every Asiakirjatieto (the
    # schema requires it); an inheriting record type carries its
    # process's, one with its own retention a different one.
    own = inherited = 0
    for process in plan.iter(t("KasittelyprosessiTiedot")):
        for record in process.iter(t("Asiakirjatieto")):
            if retention(record) == retention(process):
                inherited += 1
            else:
                own += 1
    assert own > 0 and inherited > 2 * own, (own, inherited)


def test_secret_processes_give_secrecy_period_and_basis(plan):
    # The schema's comment makes these mandatory for secret records but
    # cannot enforce it.
    secret = 0
    for restrictions in plan.iter(t("Kayttorajoitustiedot")):
        if restrictions.findtext(t("JulkisuusluokkaKoodi")) == "1":
            continue
        secret += 1
        assert restrictions.findtext(t("SalassapitoAikaArvo"))
        assert restrictions.findtext(t("SalassapitoPerusteTeksti"))
    assert secret > 0


def test_same_seed_same_bytes_other_seed_differs(plan_path):
    again = generate("--seed", "191")       # to stdout this time
    assert again == plan_path.read_bytes()
    other = ET.fromstring(generate("--seed", "192"))
    periods = [e.text for e in ET.fromstring(again).iter(
        t("SailytysajanPituusArvo"))]
    assert periods != [e.text for e in other.iter(
        t("SailytysajanPituusArvo"))]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def origin_md_digests():
    """{file name: SHA-256} from the JHS 191 table of ORIGIN.md."""
    digests = {}
    with open(ORIGIN_MD, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`jhs191/([\w.]+\.xsd)`\s*\|.*`([0-9a-f]{64})`",
                         line)
            if m:
                digests[m.group(1)] = m.group(2)
    return digests


def test_bundled_schemas_are_the_reference_bytes():
    # The reference copies when this checkout has them, else the digests
    # ORIGIN.md records for them.
    bundled = {name: sha256(os.path.join(SCHEMA_DIR, name))
               for name in SCHEMAS}
    if os.path.isdir(REFERENCE_DIR):
        reference = {name: sha256(os.path.join(REFERENCE_DIR, name))
                     for name in SCHEMAS}
    else:
        reference = origin_md_digests()
    assert bundled == reference


def test_origin_md_lists_the_bundled_digests():
    bundled = {name: sha256(os.path.join(SCHEMA_DIR, name))
               for name in SCHEMAS}
    assert origin_md_digests() == bundled
