"""Ingest, black-box: a submitted package is unpacked, identified, validated
and either stored as BagIt AIPs (one per SÄHKE2 case file, one per bag) and
catalogued, or rejected with findings and nothing kept.

Packages come from tests/e2e/pkggen.py.  The first tests check the generator
itself (no daemon): its SÄHKE2 validates against both bundled schemas with
xmllint, its bags pass an independent re-check, and each hostile variant is
what it claims to be.

SAILO_TEST_INGEST_TIMEOUT (seconds, default 60) bounds the wait for a
transfer to finish; set it low to fail fast while the pipeline is built.
"""
import copy
import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
import requests

from conftest import auth, conninfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkggen  # noqa: E402

TIMEOUT = float(os.environ.get("SAILO_TEST_INGEST_TIMEOUT", "60"))
TERMINAL = ("accepted", "rejected", "failed")
FULL_CLEARANCE = ("Osittain salassapidettävä", "Salassa pidettävä",
                  "sensitive_personal_data")
PREMIS_NS = "http://www.loc.gov/premis/v3"
BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
XMLLINT = shutil.which("xmllint")


def nfc(s):
    return unicodedata.normalize("NFC", s) if s is not None else s


def xmllint(path, version):
    r = subprocess.run([XMLLINT, "--noout", "--schema",
                        pkggen.schema_path(version), str(path)],
                       capture_output=True, text=True)
    return r.returncode, r.stderr


# ===========================================================================
# The generator's own tests (no daemon)

def libmagic_mime(data):
    """The MIME type libmagic (libmagic1, which sailo links) gives bytes,
    through ctypes: no `file` command needed."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("magic") or "libmagic.so.1")
    lib.magic_open.restype = ctypes.c_void_p
    lib.magic_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.magic_buffer.restype = ctypes.c_char_p
    lib.magic_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                 ctypes.c_size_t]
    lib.magic_close.argtypes = [ctypes.c_void_p]
    cookie = lib.magic_open(0x10)           # MAGIC_MIME_TYPE
    try:
        assert lib.magic_load(cookie, None) == 0
        return lib.magic_buffer(cookie, data, len(data)).decode()
    finally:
        lib.magic_close(cookie)


def find_metadata(files, top):
    name = f"{top}/{pkggen.METADATA_NAME}" if top else pkggen.METADATA_NAME
    assert name in files, sorted(files)[:10]
    return files[name]


def doc_checks(pkg, files, top):
    """Every Document's file is in the archive with the hash its metadata
    declares, by its own algorithm; nothing else but the metadata."""
    pre = f"{top}/" if top else ""
    listed = {pre + pkggen.METADATA_NAME}
    root = ET.fromstring(find_metadata(files, top))
    ns = root.tag[1:].split("}")[0]
    q = lambda n: f"{{{ns}}}{n}"
    docs = list(root.iter(q("Document")))
    assert len(docs) == len(pkg.docs()) > 0
    for d in docs:
        path = d.find(q("File")).find(q("Path")).text or ""
        name = d.find(q("File")).find(q("Name")).text
        joined = (path.replace("\\", "/") + "/" + name)
        parts = [p for p in joined.split("/") if p not in ("", ".")]
        full = pre + "/".join(parts)
        assert full in files, full
        listed.add(full)
        alg = d.find(q("HashAlgorithm")).text
        value = d.find(q("HashValue")).text
        assert pkggen.digest(alg, files[full]) == value.lower(), full
    assert set(files) == listed
    return root, q


@pytest.mark.parametrize("version,kind,top", [
    ("2011", "tar", None), ("2019", "tar.gz", "siirto 2021"),
    ("2011", "tar.zst", "Siirtopaketti"), ("2019", "zip", None),
    ("2019", "tar", None), ("2011", "zip", "paketti")])
def test_generator_sahke2_validates_against_its_schema(tmp_path, version,
                                                       kind, top):
    assert XMLLINT, "xmllint (libxml2-utils) is needed"
    pkg = pkggen.sahke2_package(version, casefiles=3, records=4, kb=3,
                                seed=11, top=top)
    files = pkggen.read_archive(pkg.archive(kind), kind)
    meta = tmp_path / "metadata.xml"
    meta.write_bytes(find_metadata(files, top))
    rc, err = xmllint(meta, version)
    assert rc == 0, err
    # and not against the other version's schema (the namespace differs)
    other = "2019" if version == "2011" else "2011"
    assert xmllint(meta, other)[0] != 0
    root, q = doc_checks(pkg, files, top)
    assert root.tag == q("Metadata")
    assert root.find(q("TransferInformation")).find(q("NativeId")).text == \
        pkg.transfer_id
    # varied forms, as real packages write them
    paths = {e.text for e in root.iter(q("Path"))}
    assert {"./", ".\\liitteet\\"} <= paths and len(paths) >= 3
    algs = {e.text for e in root.iter(q("HashAlgorithm"))}
    assert {"sha256", "SHA-256", "MD5"} <= algs
    codes = [e.text for e in root.iter(q("Function"))]
    assert any(re.fullmatch(r"\d\d(\.\d\d){2,3}", c) for c in codes)
    assert any(re.fullmatch(r"\d\d( \d\d){2,3}", c) for c in codes)
    for c in codes:
        assert " ".join(re.split(r"[ .\-]", c)) in pkggen.functions(), c
    assert any(("ä" in n or "ö" in n) and " " in n for n in files)
    secret = [r for r in root.iter(q("Record"))
              if r.find(q("Restriction")).find(q("PublicityClass")).text ==
              "Salassa pidettävä"]
    assert secret
    for r in secret:
        assert r.find(q("Restriction")).find(q("SecurityReason")).text
    ssns = [e.text for e in root.iter(q("Ssn"))]
    assert ssns and all(pkggen.hetu_valid(s) for s in ssns)
    assert libmagic_mime(pkg.docs()[0].data) == "application/pdf"
    assert libmagic_mime(pkggen.exe_bytes()) != "application/pdf"


def test_generator_person_identity_codes():
    assert pkggen.hetu_valid("131052-308T")          # the textbook example
    assert not pkggen.hetu_valid("131052-308U")
    import datetime
    assert pkggen.hetu(datetime.date(1952, 10, 13), 308) == "131052-308T"
    assert pkggen.hetu(datetime.date(2005, 1, 2), 21, "B")[6] == "B"
    import random
    rng = random.Random(5)
    codes = [pkggen.random_hetu(rng) for _ in range(300)]
    assert all(pkggen.hetu_valid(c) for c in codes)
    signs = {c[6] for c in codes}
    assert {"-", "A"} <= signs and signs & set("YXWVU") and signs & set("BCDEF")
    for c in codes:       # independent recomputation of the check character
        n = int(c[:6] + c[7:10])
        assert "0123456789ABCDEFHJKLMNPRSTUVWXY"[n % 31] == c[10]


@pytest.mark.parametrize("kind,top,style,with_csv", [
    ("tar.gz", "bag", "comma", True), ("zip", None, "excel", True),
    ("tar.zst", "palkat 2019", "comma", False), ("tar", None, "comma", True)])
def test_generator_bagit_bags_pass_a_recheck(kind, top, style, with_csv):
    bag = pkggen.bagit_package(records=5, kb=2, seed=3, top=top,
                               with_csv=with_csv, csv_style=style)
    files = pkggen.read_archive(bag.archive(kind), kind)
    pre = f"{top}/" if top else ""
    assert pkggen.bag_check(files, pre) == []
    assert files[pre + "bagit.txt"] == BAGIT_TXT
    info = files[pre + "bag-info.txt"].decode()
    for label in ("Source-Organization", "External-Identifier",
                  "Bagging-Date", "Payload-Oxum"):
        assert re.search(rf"^{label}: .+$", info, re.M), label
    if not with_csv:
        assert pre + "data/metadata/metadata.csv" not in files
        return
    raw = files[pre + "data/metadata/metadata.csv"]
    if style == "excel":
        assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    text = raw.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text),
                               delimiter=";" if style == "excel" else ","))
    assert list(rows[0]) == pkggen.CSV_COLUMNS and len(rows) == 5
    for row in rows:
        assert pre + "data/" + row["path"] in files
        assert pkggen.hetu_valid(row["person_ssn"])


def test_generator_bag_recheck_catches_defects():
    bag = pkggen.bagit_package(records=3, kb=1, seed=9, top=None)
    good = bag.files()
    assert pkggen.bag_check(good) == []
    bad = dict(good)
    bad["data/content/palkka-2015-1.pdf"] += b"x"
    assert pkggen.bag_check(bad)


SCHEMA_VALID = ("checksum_mismatch", "checksum_mismatch_md5", "file_missing",
                "file_unlisted", "hash_algorithm_crc32", "hash_value_not_hex",
                "retention_negative", "too_many_entries", "metadata_too_large")


@pytest.mark.parametrize("name", sorted(pkggen.HOSTILE))
def test_generator_hostile_variant_is_what_it_claims(tmp_path, name):
    v = pkggen.HOSTILE[name]()
    assert isinstance(v.data, bytes) and v.data
    assert re.fullmatch(r"[A-Z][A-Z0-9_]+", v.code)
    assert v.content_type in pkggen.CONTENT_TYPES.values()
    kind = {c: k for k, c in pkggen.CONTENT_TYPES.items()}[v.content_type]
    if name in SCHEMA_VALID or name == "schema_missing_title":
        # the defect is not the schema's to find, except for the one that is
        files = pkggen.read_archive(v.data, kind)
        meta = tmp_path / "m.xml"
        meta.write_bytes(files[pkggen.METADATA_NAME])
        rc, err = xmllint(meta, "2019" if b"2019/08/29" in meta.read_bytes()
                          else "2011")
        assert (rc != 0) == (name == "schema_missing_title"), err
        if name == "schema_missing_title":
            first, last = v.line
            m = re.search(r":(\d+): element", err)
            assert m and first <= int(m.group(1)) <= last, err
    if name.startswith("bagit_"):
        files = pkggen.read_archive(v.data, kind)
        pre = "bag/" if "bag/bagit.txt" in files else ""
        assert pkggen.bag_check(files, pre), "the bag defect must show"
    if name == "csv_bad_date":
        files = pkggen.read_archive(v.data, kind)
        assert pkggen.bag_check(files, "bag/") == []   # the bag itself is fine
        text = files["bag/data/metadata/metadata.csv"].decode("utf-8-sig")
        assert "2019-02-30" in text.splitlines()[v.line - 1]
    if name in ("gzip_bomb", "zip_bomb", "zstd_bomb"):
        assert len(v.data) * 100 < pkggen.BOMB_BYTES
    if name == "xxe_passwd":
        assert b"file:///etc/passwd" in pkggen.read_archive(
            v.data, kind)[pkggen.METADATA_NAME]
    if name == "duplicate_nfc_nfd":
        names = [n for n in pkggen.read_archive(v.data, kind)
                 if nfc(n) == nfc("Päätös.pdf")]
        assert len(names) == 2 and names[0] != names[1]


def test_generator_cli_streams_a_scale_package(tmp_path):
    out = tmp_path / "scale.tar.zst"
    r = subprocess.run([sys.executable, pkggen.__file__, "sahke2", str(out),
                        "--casefiles", "3", "--records", "4", "--kb", "3",
                        "--version", "2011", "--top", "siirto"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["records"] == 12 and summary["files"] == 12
    assert summary["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert summary["content_type"] == "application/zstd"
    files = pkggen.read_archive(out, "tar.zst")
    assert len(files) == 13
    meta = tmp_path / "m.xml"
    meta.write_bytes(files["siirto/" + pkggen.METADATA_NAME])
    rc, err = xmllint(meta, "2011")
    assert rc == 0, err
    root = ET.parse(meta).getroot()
    ns = root.tag[1:].split("}")[0]
    for d in root.iter(f"{{{ns}}}Document"):
        p = d.find(f"{{{ns}}}File/{{{ns}}}Path").text
        n = d.find(f"{{{ns}}}File/{{{ns}}}Name").text
        data = files["siirto/" + p.lstrip("./") + n]
        assert pkggen.digest(d.find(f"{{{ns}}}HashAlgorithm").text, data) == \
            d.find(f"{{{ns}}}HashValue").text
        assert 2500 < len(data) < 4000
    assert len({hashlib.sha256(d).digest() for d in files.values()}) == 13
    # bagit and hostile from the command line too
    out = tmp_path / "bag.zip"
    r = subprocess.run([sys.executable, pkggen.__file__, "bagit", str(out),
                        "--records", "3", "--kb", "1", "--excel", "--top", "bag"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert pkggen.bag_check(pkggen.read_archive(out, "zip"), "bag/") == []
    out = tmp_path / "x.tar"
    r = subprocess.run([sys.executable, pkggen.__file__, "hostile:tar_dotdot",
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["code"] == "UNSAFE_PATH"
    r = subprocess.run([sys.executable, pkggen.__file__, "list"],
                       capture_output=True, text=True)
    assert len(r.stdout.splitlines()) == len(pkggen.HOSTILE) >= 22


# ===========================================================================
# The daemon

@pytest.fixture
def ingest(start_sailo, tmp_path):
    """start(**settings): sailo with its own store, work and spool folders
    under tmp_path, and tokens: s.bus (integration), s.rm (records_manager)
    and s.auditor, both with full clearance.  like=s reuses s's tokens.
    Afterwards every AIP version in every store it started passes the
    independent bag check (verify_bag), whatever the test itself looked
    at."""
    roots = []

    def start(like=None, **settings):
        dirs = dict(storage_root=tmp_path / "store",
                    storage_work=tmp_path / "work",
                    storage_spool=tmp_path / "spool",
                    ingest_inbox_dir=tmp_path / "inbox",
                    ingest_outbox_dir=tmp_path / "outbox")
        dirs.update(settings)
        s = start_sailo(**dirs)
        s.store = Path(dirs["storage_root"])
        s.work = Path(dirs["storage_work"])
        s.spool = Path(dirs["storage_spool"])
        if like is not None:
            s.bus, s.rm, s.auditor = like.bus, like.rm, like.auditor
            s.bus_name = like.bus_name
        else:
            s.bus_name = f"kaupunki-bus-{uuid.uuid4().hex[:6]}"
            s.bus = s.token("integration", name=s.bus_name)
            s.rm = s.token("records_manager", clearance=FULL_CLEARANCE)
            s.auditor = s.token("auditor", clearance=FULL_CLEARANCE)
        roots.append(s.store)
        return s
    yield start
    for root in dict.fromkeys(roots):
        for bag in sorted((root / "aips").glob("[!.]*/v*")):
            verify_bag(bag)


def submit(s, data, content_type, token=None):
    r = requests.post(s.url + "/v1/transfers", data=data, timeout=60,
                      headers=dict(auth(token or s.bus),
                                   **{"Content-Type": content_type}))
    assert r.status_code == 202, r.text
    t = r.json()
    assert t["package_sha256"] == hashlib.sha256(data).hexdigest()
    return t


def wait_done(s, tid, timeout=TIMEOUT):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        r = s.get(f"/v1/transfers/{tid}", token=s.rm)
        assert r.status_code == 200, r.text
        last = r.json()
        if last["status"] in TERMINAL:
            return last
        time.sleep(0.1)
    pytest.fail(f"transfer {tid} still {last and last['status']!r} after "
                f"{timeout} s; log:\n{s.log()[-2000:]}")


def get_report(s, tid, token=None):
    r = s.get(f"/v1/transfers/{tid}/report", token=token or s.rm)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["transfer"]["id"] == tid
    for f in rep["findings"]:
        assert f["severity"] in ("error", "warning", "info"), f
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", f["code"]), f
        assert isinstance(f["message"], str) and f["message"], f
        assert "path" in f
        if f.get("line") is not None:
            assert isinstance(f["line"], int) and f["line"] > 0, f
    assert rep["errors"] == sum(f["severity"] == "error"
                                for f in rep["findings"])
    assert rep["warnings"] == sum(f["severity"] == "warning"
                                  for f in rep["findings"])
    return rep


def run(s, data, content_type, token=None):
    """Submits, waits; (final transfer, report)."""
    t = submit(s, data, content_type, token)
    done = wait_done(s, t["id"])
    return done, get_report(s, t["id"])


def codes(rep, severity):
    return [f["code"] for f in rep["findings"] if f["severity"] == severity]


def check_transfer_shape(t, s):
    assert set(t) >= {"id", "status", "format", "package_sha256", "size",
                      "submitted_by", "submitted_at", "aips"}
    assert t["submitted_by"] == s.bus_name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
                        t["submitted_at"])


def html_report_lists(s, tid, expected):
    r = s.get(f"/v1/transfers/{tid}/report?format=html", token=s.rm)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    for code in expected:
        assert code in r.text, code
    return r.text


def audit_actions(s, tid):
    r = s.get(f"/v1/audit?object_id={tid}&limit=1000", token=s.auditor)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


def records_of(s, **params):
    items, after = [], None
    while True:
        q = dict(params, limit=1000)
        if after:
            q["after"] = after
        r = s.get("/v1/records", token=s.rm, params=q)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        after = page["next"]
        if not after:
            return items


def get_aip(s, aip_id, **params):
    r = s.get(f"/v1/aips/{aip_id}", token=s.rm, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def parse_manifest(path):
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"([0-9a-f]{64})[ \t]+\*?(.+)", line)
        assert m, f"{path.name}: bad line {line!r}"
        p = m.group(2).replace("%0A", "\n").replace("%0D", "\r") \
            .replace("%25", "%")
        assert p not in out, f"{path.name}: {p} twice"
        out[p] = m.group(1)
    return out


def verify_bag(bag):
    """Checks an AIP folder as any BagIt tool would, without Sailo: the
    declaration, both manifests recomputed by `sha256sum -c`, every payload
    file listed, Payload-Oxum, the tag manifest's coverage, bag-info."""
    assert bag.is_dir(), bag
    assert (bag / "bagit.txt").read_bytes() == BAGIT_TXT
    manifest = parse_manifest(bag / "manifest-sha256.txt")
    tags = parse_manifest(bag / "tagmanifest-sha256.txt")
    for name, listed in (("manifest-sha256.txt", manifest),
                         ("tagmanifest-sha256.txt", tags)):
        r = subprocess.run(["sha256sum", "--strict", "-c", name], cwd=bag,
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{bag}/{name}: {r.stdout}{r.stderr}"
        assert r.stdout.count(": OK\n") == len(listed), r.stdout
    payload = {p.relative_to(bag).as_posix(): p.stat().st_size
               for p in (bag / "data").rglob("*") if p.is_file()}
    assert {nfc(p) for p in payload} == {nfc(p) for p in manifest}
    assert all(p.startswith("data/") for p in manifest)
    assert {"bagit.txt", "bag-info.txt", "manifest-sha256.txt"} <= set(tags)
    assert not any(p.startswith("data/") for p in tags)
    info = {}
    for line in (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        label, sep, value = line.partition(":")
        assert sep, line
        info.setdefault(label.strip(), value.strip())
    assert info.get("Payload-Oxum") == \
        f"{sum(payload.values())}.{len(payload)}", info
    for label in ("Source-Organization", "External-Identifier",
                  "Bagging-Date", "Sailo-AIP-Id", "Sailo-Version"):
        assert info.get(label), (label, info)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", info["Bagging-Date"])
    return info, manifest


def stored_aips(s):
    """The AIP folders under store/aips; a hidden staging folder (".tmp")
    may exist but must hold nothing."""
    aips = s.store / "aips"
    if not aips.exists():
        return []
    names = sorted(os.listdir(aips))
    for n in names:
        if n.startswith("."):
            assert os.listdir(aips / n) == [], f"left in {aips / n}"
    return [n for n in names if not n.startswith(".")]


def assert_nothing_stored(s, tid):
    assert stored_aips(s) == []
    r = s.get(f"/v1/records?transfer_id={tid}", token=s.rm)
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next": None}
    # the catalogue, asked directly: no version, record or case file of
    # this transfer, and no AIP row left without a version
    with psycopg2.connect(s.env["SAILO_DATABASE_OWNER_CONNINFO"]) as c:
        cur = c.cursor()
        cur.execute("SELECT (SELECT count(*) FROM aip_versions WHERE "
                    "transfer_id = %s), (SELECT count(*) FROM records WHERE "
                    "transfer_id = %s), (SELECT count(*) FROM aips a WHERE "
                    "NOT EXISTS (SELECT 1 FROM aip_versions v WHERE "
                    "v.aip_id = a.id))", (tid, tid))
        assert cur.fetchone() == (0, 0, 0)
    c.close()
    deadline = time.time() + 5
    while time.time() < deadline and ((s.spool / f"{tid}.pkg").exists() or
                                      (s.work / tid).exists()):
        time.sleep(0.1)
    assert not (s.spool / f"{tid}.pkg").exists()
    assert not (s.work / tid).exists()


def check_sahke2_aips(s, t, pkg, version=1):
    """The accepted transfer t holds pkg's case files, one AIP each, on disk
    and in the catalogue.  Returns {case file NativeId: aip id}."""
    by_native = {cf.native_id: cf for cf in pkg.casefiles}
    assert len(t["aips"]) == len(set(t["aips"])) == len(pkg.casefiles)
    ns = pkggen.NAMESPACES[pkg.version]
    aip_of = {}
    for aip_id in t["aips"]:
        a = get_aip(s, aip_id)
        assert a["id"] == aip_id
        cf = by_native[a["native_id"]]
        aip_of[cf.native_id] = aip_id
        assert a["title"] == cf.title
        assert a["current_version"] == version
        mine = [v for v in a["versions"] if v["version"] == version]
        assert len(mine) == 1 and mine[0]["transfer_id"] == t["id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT.+Z", mine[0]["created_at"])
        # the catalogue's files
        content = {nfc(f["path"]): f for f in a["files"]
                   if f["path"].startswith("data/content/")}
        expected = {nfc("data/content/" + d.path): d for d in cf.docs()}
        assert set(content) == set(expected)
        for p, d in expected.items():
            f = content[p]
            assert f["size"] == len(d.data) and f["sha256"] == d.sha256, p
            assert f["declared_format"] == d.declared
            assert f["mime_type"] == "application/pdf"
        recs = {r["native_id"]: r for r in a["records"]}
        assert set(recs) == {r.native_id for r in cf.records}
        for r in cf.records:
            assert recs[r.native_id]["title"] == r.title
            assert recs[r.native_id]["function_code"] == r.function_code
        # the bag on disk
        bag = s.store / "aips" / aip_id / f"v{version}"
        info, manifest = verify_bag(bag)
        assert info["External-Identifier"] == cf.native_id
        assert info["Sailo-AIP-Id"] == aip_id
        assert info["Sailo-Version"] == str(version)
        assert info["Source-Organization"] == pkg.organisation
        on_disk = {nfc(p) for p in manifest if p.startswith("data/content/")}
        assert on_disk == set(expected)
        for d in cf.docs():
            assert (bag / "data" / "content" / d.path).read_bytes() == d.data
        assert "data/metadata/sahke2.xml" in manifest
        assert "data/metadata/premis.xml" in manifest
        extract = bag / "data" / "metadata" / "sahke2.xml"
        root = ET.parse(extract).getroot()
        assert root.tag == f"{{{ns}}}Metadata"
        cfs = root.findall(f"{{{ns}}}CaseFile")
        assert [c.find(f"{{{ns}}}NativeId").text for c in cfs] == \
            [cf.native_id]
        rc, err = xmllint(extract, pkg.version)
        assert rc == 0, err
        premis = ET.parse(bag / "data" / "metadata" / "premis.xml").getroot()
        assert premis.tag.startswith(f"{{{PREMIS_NS}}}"), premis.tag
    # the records, by transfer
    items = records_of(s, transfer_id=t["id"])
    want = {r.native_id: (cf, r) for cf in pkg.casefiles for r in cf.records}
    assert sorted(i["native_id"] for i in items) == sorted(want)
    for i in items:
        cf, r = want[i["native_id"]]
        assert i["aip_id"] == aip_of[cf.native_id]
        assert i["title"] == r.title and i["type"] == r.type
        assert i["function_code"] == r.function_code
        assert i["created"] == r.created
        assert i["publicity"] == r.publicity
        assert i["retention_period"] == r.retention
    # one record in full, with its documents
    i = next(i for i in items if len(want[i["native_id"]][1].docs) > 1)
    r = s.get(f"/v1/records/{i['id']}", token=s.rm)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["id"] == i["id"] and rec["native_id"] == i["native_id"]
    docs = {nfc(d["path"]).removeprefix("data/content/"): d
            for d in rec["documents"]}
    assert set(docs) == {nfc(d.path) for d in want[i["native_id"]][1].docs}
    for d in want[i["native_id"]][1].docs:
        got = docs[nfc(d.path)]
        assert got["sha256"] == d.sha256 and got["size"] == len(d.data)
        assert got["declared_format"] == d.declared
        assert got["mime_type"] == "application/pdf"
    return aip_of


# --- accepted packages -----------------------------------------------------

@pytest.mark.parametrize("kind,version,top", [
    ("tar", "2011", None), ("tar.gz", "2019", "siirto 2021"),
    ("tar.zst", "2011", "Siirtopaketti"), ("zip", "2019", None),
    ("zip", "2011", "paketti")])
def test_sahke2_package_is_accepted_one_aip_per_case_file(ingest, kind,
                                                          version, top):
    s = ingest()
    pkg = pkggen.sahke2_package(version, casefiles=3, records=3, kb=6,
                                seed=len(kind) + int(version), top=top)
    data = pkg.archive(kind)
    t, rep = run(s, data, pkggen.CONTENT_TYPES[kind])
    assert t["status"] == "accepted", rep
    check_transfer_shape(t, s)
    assert t["format"] == "sahke2" and t["size"] == len(data)
    assert rep["errors"] == 0
    # nothing in this clean package deserves these warnings
    assert not {"SECURITY_REASON_MISSING", "RETENTION_PERMANENT",
                "FORMAT_MISMATCH", "FORMAT_UNLISTED"} & \
        set(codes(rep, "warning")), rep
    check_sahke2_aips(s, t, pkg)
    assert get_report(s, t["id"], token=s.bus)["transfer"]["id"] == t["id"]
    html_report_lists(s, t["id"], [f["code"] for f in rep["findings"]])
    actions = audit_actions(s, t["id"])
    assert "transfer.accept" in actions and "transfer.reject" not in actions
    # the auditor reads AIPs too; an integration does not
    assert s.get(f"/v1/aips/{t['aips'][0]}", token=s.auditor).status_code == 200
    assert s.get(f"/v1/aips/{t['aips'][0]}", token=s.bus).status_code == 403


@pytest.mark.parametrize("kind,top,style,with_csv", [
    ("tar.gz", "bag", "comma", True), ("zip", None, "excel", True),
    ("tar.zst", "palkat 2019", "comma", False)])
def test_bagit_bag_is_accepted_as_one_aip(ingest, kind, top, style, with_csv):
    s = ingest()
    bag = pkggen.bagit_package(records=4, kb=5, seed=21 + len(kind), top=top,
                               with_csv=with_csv, csv_style=style)
    t, rep = run(s, bag.archive(kind), pkggen.CONTENT_TYPES[kind])
    assert t["status"] == "accepted", rep
    check_transfer_shape(t, s)
    assert t["format"] == "bagit" and rep["errors"] == 0
    assert len(t["aips"]) == 1
    aip_id = t["aips"][0]
    a = get_aip(s, aip_id)
    assert a["native_id"] == bag.external_id and a["current_version"] == 1
    # the bag's payload goes to data/content/ by its path under the bag's
    # data/, except data/metadata/, which is kept apart from Sailo's own
    # metadata under data/metadata/submitted/ (and the bag's bag-info.txt is
    # data/metadata/submitted-bag-info.txt)
    content = {nfc(f["path"]): f for f in a["files"]
               if f["path"].startswith("data/content/")}
    expected = {nfc("data/content/" + p): d for p, d in bag.payload.items()}
    assert set(content) == set(expected)
    for p, d in expected.items():
        assert content[p]["sha256"] == hashlib.sha256(d).hexdigest()
        assert content[p]["size"] == len(d)
    bagdir = s.store / "aips" / aip_id / "v1"
    info, manifest = verify_bag(bagdir)
    assert info["External-Identifier"] == bag.external_id
    assert info["Sailo-AIP-Id"] == aip_id and info["Sailo-Version"] == "1"
    assert info["Source-Organization"] == bag.organisation
    for p, d in bag.payload.items():
        assert (bagdir / "data" / "content" / p).read_bytes() == d
    assert {nfc(p) for p in manifest if p.startswith("data/content/")} == \
        set(expected)
    assert "data/metadata/premis.xml" in manifest
    assert "data/metadata/submitted-bag-info.txt" in manifest
    if with_csv:
        assert (bagdir / "data/metadata/submitted/metadata.csv")\
            .read_bytes() == bag.metadata_csv()
        items = records_of(s, transfer_id=t["id"])
        rows = {r["native_id"]: r for r in bag.rows}
        assert sorted(i["native_id"] for i in items) == sorted(rows)
        for i in items:
            row = rows[i["native_id"]]
            assert i["aip_id"] == aip_id and i["title"] == row["title"]
            assert i["function_code"] == " ".join(
                re.split(r"[ .\-]", row["function_code"]))
            assert i["created"] == row["created"]
            assert i["publicity"] == row["publicity"]
            assert i["retention_period"] == int(row["retention_years"])
    # another integration sees neither the transfer nor its report
    other = s.token("integration")
    assert s.get(f"/v1/transfers/{t['id']}", token=other).status_code == 404
    assert s.get(f"/v1/transfers/{t['id']}/report",
                 token=other).status_code == 404
    assert "transfer.accept" in audit_actions(s, t["id"])


def two_versions(ingest):
    """Version 1: case files A and B; version 2 (same principal): A again
    with one document changed and one record added."""
    s = ingest()
    pkg1 = pkggen.sahke2_package("2019", casefiles=2, records=2, kb=4, seed=71)
    t1, rep1 = run(s, pkg1.archive("tar.gz"), "application/gzip")
    assert t1["status"] == "accepted", rep1
    aips1 = check_sahke2_aips(s, t1, pkg1)
    pkg2 = copy.deepcopy(pkg1)
    pkg2.transfer_id += "-2"
    pkg2.casefiles = [pkg2.casefiles[0]]
    a = pkg2.casefiles[0]
    changed = a.records[0].docs[0]
    changed.data = pkggen.pdf_bytes("Oikaistu päätös", 5000, 999)
    new = copy.deepcopy(a.records[1])
    new.native_id += "-oikaisu"
    new.title = "Oikaisupäätös"
    for k, d in enumerate(new.docs):
        d.path = d.path[:-4] + " oikaisu.pdf"
        d.native_id += "-o"
        d.data = pkggen.pdf_bytes("Oikaisu", 3000, 1000 + k)
    a.records.append(new)
    t2, rep2 = run(s, pkg2.archive("zip"), "application/zip")
    assert t2["status"] == "accepted", rep2
    return s, pkg1, pkg2, t1, t2, aips1, changed


def test_second_transfer_makes_version_2_of_the_same_aip(ingest):
    s, pkg1, pkg2, t1, t2, aips1, changed = two_versions(ingest)
    a_native = pkg2.casefiles[0].native_id
    b_native = pkg1.casefiles[1].native_id
    assert t2["aips"] == [aips1[a_native]]
    aips2 = check_sahke2_aips(s, t2, pkg2, version=2)
    aip_id = aips2[a_native]
    a = get_aip(s, aip_id)
    assert [(v["version"], v["transfer_id"]) for v in
            sorted(a["versions"], key=lambda v: v["version"])] == \
        [(1, t1["id"]), (2, t2["id"])]
    # version 1 is still there, whole, on disk and through the API
    v1 = get_aip(s, aip_id, version=1)
    old = {nfc("data/content/" + d.path): d.sha256
           for d in pkg1.casefiles[0].docs()}
    assert {nfc(f["path"]): f["sha256"] for f in v1["files"]
            if f["path"].startswith("data/content/")} == old
    info1, manifest1 = verify_bag(s.store / "aips" / aip_id / "v1")
    info2, manifest2 = verify_bag(s.store / "aips" / aip_id / "v2")
    assert info1["External-Identifier"] == info2["External-Identifier"] == \
        a_native
    p = "data/content/" + changed.path
    assert manifest1[p] != manifest2[p] == changed.sha256
    # the case file not resent is untouched
    b = get_aip(s, aips1[b_native])
    assert b["current_version"] == 1 and len(b["versions"]) == 1
    assert not (s.store / "aips" / aips1[b_native] / "v2").exists()


def test_unchanged_files_are_hard_links_between_versions(ingest):
    s, pkg1, pkg2, t1, t2, aips1, changed = two_versions(ingest)
    aip = s.store / "aips" / aips1[pkg2.casefiles[0].native_id]
    same = [d for d in pkg2.casefiles[0].records[1].docs]
    for d in same:
        a = os.stat(aip / "v1" / "data" / "content" / d.path)
        b = os.stat(aip / "v2" / "data" / "content" / d.path)
        assert (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev), d.path
    a = os.stat(aip / "v1" / "data" / "content" / changed.path)
    b = os.stat(aip / "v2" / "data" / "content" / changed.path)
    assert a.st_ino != b.st_ino


def test_records_filter_by_function_code_prefix(ingest):
    s = ingest()
    pkg = pkggen.sahke2_package("2019", casefiles=3, records=3, kb=2, seed=5)
    plan = [["10 03 02 00", "10 03 02 01", "10 03 03"],
            ["10 03 02 00", "05 01 02", "05 01 02"],
            ["01 01 01 00", "10 03 03", "01 01 02 00"]]
    for cf, codes_ in zip(pkg.casefiles, plan):
        cf.function_code = codes_[0]
        for r, c in zip(cf.records, codes_):
            r.function_code = c
    t, rep = run(s, pkg.archive("tar"), "application/x-tar")
    assert t["status"] == "accepted", rep
    everything = records_of(s, transfer_id=t["id"])
    assert len(everything) == 9
    for prefix in ("10 03", "10 03 02", "05", "01 01 01 00"):
        got = records_of(s, transfer_id=t["id"], function=prefix)
        want = {r.native_id for r in pkg.records()
                if (r.function_code + " ").startswith(prefix + " ")}
        assert want and {i["native_id"] for i in got} == want, prefix
        assert all(i["function_code"].startswith(prefix) for i in got)
    # the parameter is URL-encoded like any other
    r = s.get(f"/v1/records?transfer_id={t['id']}&function={quote('10 03')}",
              token=s.rm)
    assert r.status_code == 200 and len(r.json()["items"]) == 5
    assert records_of(s, transfer_id=t["id"], function="99") == []
    # auditors read the same list; integrations do not
    r = s.get("/v1/records", token=s.auditor,
              params={"transfer_id": t["id"], "function": "05"})
    assert r.status_code == 200 and len(r.json()["items"]) == 2
    r = s.get("/v1/records", token=s.bus, params={"transfer_id": t["id"]})
    assert r.status_code == 403


# --- warnings do not reject ------------------------------------------------

def _no_security_reason(pkg):
    r = pkg.casefiles[0].records[1]
    r.publicity, r.security_reason = "Salassa pidettävä", None
    return r


def _permanent(pkg):
    r = pkg.casefiles[1].records[0]
    r.retention = 999999
    return r


def _mismatch(pkg):
    r = pkg.casefiles[0].records[0]
    r.docs.append(pkggen.Doc("liitteet/Muistio kokouksesta.pdf",
                             ("Muistio\n\nKokous pidettiin 3.5.2021. "
                              "Läsnä: Äijälä, Öhman.\n" * 40).encode(),
                             r.native_id + "-muistio", algorithm="sha256",
                             xml_path="./liitteet/"))
    return r


@pytest.mark.parametrize("code,change", [
    ("SECURITY_REASON_MISSING", _no_security_reason),
    ("RETENTION_PERMANENT", _permanent),
    ("FORMAT_MISMATCH", _mismatch)])
def test_warnings_do_not_reject(ingest, code, change):
    s = ingest()
    pkg = pkggen.sahke2_package("2019", casefiles=2, records=2, kb=3, seed=31)
    rec = change(pkg)
    t, rep = run(s, pkg.archive("tar.gz"), "application/gzip")
    assert t["status"] == "accepted", rep
    assert rep["errors"] == 0
    mine = [f for f in rep["findings"] if f["code"] == code]
    assert mine and all(f["severity"] == "warning" for f in mine), rep
    assert len(t["aips"]) == 2
    items = {i["native_id"]: i for i in records_of(s, transfer_id=t["id"])}
    item = items[rec.native_id]
    if code == "SECURITY_REASON_MISSING":
        assert item["publicity"] == "Salassa pidettävä"
    if code == "RETENTION_PERMANENT":
        assert item["retention_period"] == -1
    if code == "FORMAT_MISMATCH":
        assert any(nfc(f["path"] or "").endswith(
            nfc("liitteet/Muistio kokouksesta.pdf")) for f in mine), mine
        full = s.get(f"/v1/records/{item['id']}", token=s.rm).json()
        doc = next(d for d in full["documents"]
                   if nfc(d["path"]).endswith(nfc("Muistio kokouksesta.pdf")))
        assert doc["declared_format"] == "application/pdf"
        assert doc["mime_type"] == "text/plain"
    html_report_lists(s, t["id"], [code])


def _unlisted_doc(pkg, which):
    r = pkg.casefiles[0].records[0]
    if which == "exe":
        d = pkggen.Doc("ohjelmat/Päivitys.exe", pkggen.exe_bytes(6000, 3),
                       r.native_id + "-exe", declared="application/x-msdownload",
                       fmt_version="-", xml_path=".\\ohjelmat\\")
    else:
        d = pkggen.Doc("liitteet/tuntematon.bin", os.urandom(5000),
                       r.native_id + "-bin",
                       declared="application/octet-stream",
                       fmt_version="-", xml_path="./liitteet/")
    r.docs.append(d)
    return d


@pytest.mark.parametrize("which", ["exe", "random"])
def test_unlisted_format_rejects_under_the_reject_policy(ingest, which):
    s = ingest(ingest_format_policy="reject")
    pkg = pkggen.sahke2_package("2011", casefiles=2, records=2, kb=3, seed=41)
    d = _unlisted_doc(pkg, which)
    t, rep = run(s, pkg.archive("zip"), "application/zip")
    assert t["status"] == "rejected", rep
    assert t["aips"] == []
    errs = [f for f in rep["findings"] if f["severity"] == "error"
            and f["code"] == "FORMAT_UNLISTED"]
    assert errs and any(nfc(f["path"] or "").endswith(nfc(d.path))
                        for f in errs), rep
    assert_nothing_stored(s, t["id"])
    assert "transfer.reject" in audit_actions(s, t["id"])


def test_unlisted_format_is_a_warning_under_the_warn_policy(ingest):
    s = ingest(ingest_format_policy="warn")
    pkg = pkggen.sahke2_package("2011", casefiles=2, records=2, kb=3, seed=42)
    d = _unlisted_doc(pkg, "exe")
    t, rep = run(s, pkg.archive("zip"), "application/zip")
    assert t["status"] == "accepted", rep
    warns = [f for f in rep["findings"] if f["code"] == "FORMAT_UNLISTED"]
    assert warns and all(f["severity"] == "warning" for f in warns)
    aip = s.store / "aips" / t["aips"][0] / "v1"
    if not (aip / "data" / "content" / d.path).exists():
        aip = s.store / "aips" / t["aips"][1] / "v1"
    assert (aip / "data" / "content" / d.path).read_bytes() == d.data


# --- person identity codes -------------------------------------------------

SEARCHED_TABLES = ("records", "case_files", "files", "aips",
                   "transfer_findings", "audit_events", "audit_queue")


def test_person_identity_codes_are_never_stored_in_clear(ingest, database):
    s = ingest()
    rng = random.Random(8675309)
    pkg = pkggen.sahke2_package("2019", casefiles=3, records=3, kb=2,
                                seed=rng.randrange(100000))
    # a record naming several persons
    first = pkg.casefiles[0].records[0]
    first.ssns += [pkggen.random_hetu(rng), pkggen.random_hetu(rng)]
    first.publicity = "Salassa pidettävä"
    first.security_reason = "JulkL 24 § 1 mom 32 k"
    ssns = [x for r in pkg.records() for x in r.ssns]
    assert len(ssns) >= 4
    t1, rep1 = run(s, pkg.archive("tar.gz"), "application/gzip")
    assert t1["status"] == "accepted", rep1
    bag = pkggen.bagit_package(records=4, kb=2, seed=rng.randrange(10**6))
    ssns += [r["person_ssn"] for r in bag.rows]
    t2, rep2 = run(s, bag.archive("zip"), "application/zip")
    assert t2["status"] == "accepted", rep2
    for rep in (rep1, rep2):
        text = json.dumps(rep, ensure_ascii=False)
        assert not any(x in text for x in ssns)
    assert len(records_of(s, transfer_id=t1["id"])) == 9
    patterns = []
    for x in ssns:
        patterns += [f"%{x}%", f"%{x.lower()}%",
                     f"%{hashlib.sha256(x.encode()).hexdigest()}%",
                     f"%{x[:6]}{x[7:]}%"]
    conn = psycopg2.connect(conninfo("sailo_owner", database))
    try:
        cur = conn.cursor()
        cur.execute("SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' "
                    "AND table_type = 'BASE TABLE'")
        tables = {r[0] for r in cur.fetchall()}
        assert set(SEARCHED_TABLES) <= tables, tables
        cur.execute("SELECT count(*) FROM records")
        assert cur.fetchone()[0] >= 13
        for table in sorted(tables):
            cur.execute(f'SELECT count(*) FROM "{table}" x '
                        f"WHERE x::text ILIKE ANY (%s)", (patterns,))
            assert cur.fetchone()[0] == 0, f"a person identity code in {table}"
    finally:
        conn.close()
    assert not any(x in s.log() for x in ssns)


# --- hostile and broken packages -------------------------------------------

@pytest.mark.parametrize("name", sorted(pkggen.HOSTILE))
def test_hostile_package_is_rejected_and_nothing_stored(ingest, name):
    v = pkggen.HOSTILE[name]()
    s = ingest(**v.settings)
    t, rep = run(s, v.data, v.content_type)
    assert t["status"] == "rejected", rep
    assert t["aips"] == []
    errors = [f for f in rep["findings"] if f["severity"] == "error"]
    assert rep["errors"] == len(errors) >= 1
    mine = [f for f in errors if f["code"] == v.code]
    assert mine, f"expected {v.code} among {[f['code'] for f in errors]}"
    if v.path:
        assert any(nfc(f["path"] or "").endswith(nfc(v.path)) for f in mine), \
            (v.path, mine)
    if isinstance(v.line, int):
        assert any(f.get("line") == v.line for f in mine), mine
    elif v.line:
        first, last = v.line
        assert any(first <= (f.get("line") or 0) <= last for f in mine), \
            (v.line, mine)
    if v.message:
        assert any(re.search(rf"\b{re.escape(v.message)}\b", f["message"])
                   for f in mine), mine
    html = html_report_lists(s, t["id"], {f["code"] for f in rep["findings"]})
    text = json.dumps(rep, ensure_ascii=False)
    for bad in v.forbid:
        assert bad not in text and bad not in html, bad
    assert_nothing_stored(s, t["id"])
    actions = audit_actions(s, t["id"])
    assert "transfer.reject" in actions and "transfer.accept" not in actions


def test_every_finding_is_collected_not_only_the_first(ingest):
    """Three independent defects in one package: all three are reported."""
    s = ingest()
    pkg = pkggen.sahke2_package("2019", casefiles=2, records=2, kb=2, seed=51)
    a = pkg.casefiles[0].records[0].docs[0]
    a.algorithm, a.hash_value = "sha256", "0" * 64
    b = pkg.casefiles[1].records[1].docs[0]
    b.algorithm, b.hash_value = "CRC32", "cbf43926"
    pkg.extra["liitteet/ylimääräinen.pdf"] = pkggen.pdf_bytes("x", 1500, 2)
    t, rep = run(s, pkg.archive("tar"), "application/x-tar")
    assert t["status"] == "rejected"
    assert {"CHECKSUM_MISMATCH", "HASH_ALGORITHM", "FILE_UNLISTED"} <= \
        set(codes(rep, "error")), rep
    assert_nothing_stored(s, t["id"])


# --- the queue -------------------------------------------------------------

def test_paused_ingest_keeps_transfers_received_until_resumed(ingest):
    s = ingest(ingest_paused="true")
    pkg = pkggen.sahke2_package("2011", casefiles=1, records=2, kb=2, seed=61)
    t = submit(s, pkg.archive("tar.zst"), "application/zstd")
    deadline = time.time() + 3
    while time.time() < deadline:
        r = s.get(f"/v1/transfers/{t['id']}", token=s.rm).json()
        assert r["status"] == "received" and r["aips"] == []
        time.sleep(0.2)
    assert stored_aips(s) == []
    assert s.stop() == 0
    s2 = ingest(like=s)           # same folders, same database, not paused
    done = wait_done(s2, t["id"])
    assert done["status"] == "accepted", get_report(s2, t["id"])
    check_sahke2_aips(s2, done, pkg)
