"""Access: Finnish full-text search (Voikko base forms and compound parts
beside snowball stems), restricted records that only cleared principals
may read, file retrieval with Repr-Digest and Range, the AIP as a tar, and
every read in the audit trail with its principal."""
import base64
import datetime
import hashlib
import io
import subprocess
import tarfile
import time

import pytest
import requests

import pkggen
from conftest import auth
from test_disposal import archive, wait_batch  # noqa: F401
from test_retention import ingest, ingest_package  # noqa: F401
from test_tls import pki, tls_settings  # noqa: F401

SECRET = "Salassa pidettävä"
PERSON = pkggen.hetu(datetime.date(1979, 5, 17), 314)
OTHER = pkggen.hetu(datetime.date(2001, 1, 2), 22, sign="A")


def doc(name, seed, kb=40):
    return pkggen.Doc(f"asiakirjat/{name}.pdf",
                      pkggen.pdf_bytes(name, kb * 1024, seed), f"{name}-d0")


def package():
    """Three public records with words in other forms than the tests ask
    for them, and a secret one that names a person in its title."""
    cf = pkggen.CaseFile("HEL 2022-77", "Rakennusvalvonta, Mäkelänkatu 5",
                         "10 03 00 09", created="2022-03-01")
    cf.records = [
        pkggen.Record("A1", "Rakennuslupa Mäkelänkatu 5", "10 03 00 09",
                      created="2022-03-01", docs=[doc("lupa", 1)]),
        pkggen.Record("A2", "Pöytäkirja 12/2022", "10 03 00 09",
                      created="2022-03-02", docs=[doc("poytakirja", 2)],
                      description="Lautakunnan kokous"),
        pkggen.Record("A3", "Naapurien kuuleminen", "10 03 00 09",
                      created="2022-03-03", docs=[doc("kuuleminen", 3)],
                      ssns=[PERSON, OTHER]),
        pkggen.Record("A4", "Lausunto Virtasen terveydentilasta",
                      "10 03 00 09", created="2022-03-04", publicity=SECRET,
                      security_reason="JulkL 24 § 1 mom 25 k",
                      personal_data="sisältää erityisiä henkilötietoryhmiä",
                      docs=[doc("lausunto", 4)], ssns=[PERSON]),
    ]
    # a case whose own publicity restricts it: its title names a person,
    # its one record is public
    hidden = pkggen.CaseFile("HEL 2022-78", "Huoltajuusasia Meikäläinen",
                             "10 03 00 09", created="2022-04-01",
                             publicity=SECRET)
    hidden.records = [
        pkggen.Record("B1", "Kuulutus 3/2022", "10 03 00 09",
                      created="2022-04-01", docs=[doc("kuulutus", 5)])]
    return pkggen.Sahke2Package(version="2019", transfer_id="SIIRTO-ACCESS",
                                casefiles=[cf, hidden])


@pytest.fixture
def store(ingest):
    """sailo with the package in; s.rm has full clearance (the fixture's),
    s.plain is a records manager without, s.auditor reads the trail."""
    s = ingest()
    s.pkg = package()
    s.tid = ingest_package(s, s.pkg)
    s.plain = s.token("records_manager", name="ilman-selvitysta")
    s.auditor = s.token("auditor", name="tarkastaja")
    r = s.get(f"/v1/records?transfer_id={s.tid}", token=s.rm)
    assert r.status_code == 200, r.text
    s.recs = {x["native_id"]: x for x in r.json()["items"]}
    s.aip = s.recs["A1"]["aip_id"]
    s.hidden_aip = s.recs["B1"]["aip_id"]
    s.docs = {r.native_id: r.docs[0] for r in s.pkg.records()}
    return s


def search(s, q, token=None, **params):
    r = s.get("/v1/records", token=token or s.rm, params=dict(q=q, **params))
    assert r.status_code == 200, r.text
    return sorted(x["native_id"] for x in r.json()["items"])


def audit(s, action):
    r = s.get("/v1/audit", token=s.auditor,
              params={"action": action, "limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_finnish_forms_find_records(store):
    s = store
    # consonant gradation: the genitive "rakennusluvan" is "rakennuslupa"
    assert search(s, "rakennusluvan") == ["A1"]
    # a compound's part finds the compound
    assert search(s, "lupa") == ["A1"]
    assert search(s, "pöytäkirjassa") == ["A2"]
    # description and case title are searched too; all words must match
    assert search(s, "lautakunnan kokouksessa") == ["A2"]
    assert search(s, "Mäkelänkadun rakennusvalvonnassa") == \
        ["A1", "A2", "A3", "A4"]
    assert search(s, "pöytäkirja lupa") == []
    # snowball stems still find words Voikko does not know
    assert search(s, "naapureiden") == ["A3"]
    assert search(s, "kuulemisesta") == ["A3"]
    # a filter narrows the hits
    assert search(s, "rakennusvalvonta", to="2022-03-03",
                  **{"from": "2022-03-02"}) == ["A2", "A3"]
    r = s.get("/v1/records", token=s.rm, params={"q": " ".join(["sana"] * 40)})
    assert r.status_code == 400, r.text


def test_restricted_records_need_clearance(store):
    s = store
    secret = s.recs["A4"]
    assert secret["title"] == "Lausunto Virtasen terveydentilasta"
    assert secret["restricted"] is False

    # without clearance: that it exists, no title, no file names
    r = s.get(f"/v1/records/{secret['id']}", token=s.plain)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["restricted"] is True and rec["title"] is None
    assert rec["native_id"] == "A4" and rec["publicity"] == SECRET
    assert [d["path"] for d in rec["documents"]] == [None]
    assert "Virtasen" not in r.text and "lausunto.pdf" not in r.text
    r = s.get(f"/v1/aips/{s.aip}", token=s.plain)
    assert r.status_code == 200, r.text
    assert "Virtasen" not in r.text and "lausunto.pdf" not in r.text
    assert r.json()["title"] is None
    # its title finds nothing for them, and everything for the cleared
    assert search(s, "terveydentila", token=s.plain) == []
    assert search(s, "terveydentila") == ["A4"]
    r = s.get(f"/v1/records?transfer_id={s.tid}", token=s.plain)
    titles = {x["native_id"]: x["title"] for x in r.json()["items"]}
    assert titles["A4"] is None and titles["A1"] == "Rakennuslupa Mäkelänkatu 5"

    # a restricted case: its public record is shown, the case's title
    # is not, nor found, nor in the submitted metadata or an export
    r = s.get(f"/v1/records/{s.recs['B1']['id']}", token=s.plain)
    assert r.json()["title"] == "Kuulutus 3/2022"
    assert r.json()["case_file"] == {"native_id": "HEL 2022-78",
                                     "title": None}
    assert "Meikäläinen" not in r.text
    r = s.get(f"/v1/aips/{s.hidden_aip}", token=s.plain)
    assert r.json()["title"] is None and "Meikäläinen" not in r.text
    assert search(s, "Meikäläisen", token=s.plain) == []
    assert search(s, "Meikäläisen") == ["B1"]
    for path in ("files/data/metadata/sahke2.xml", "export"):
        r = s.get(f"/v1/aips/{s.hidden_aip}/{path}", token=s.plain)
        assert r.status_code == 403, (path, r.text)
    r = s.get(f"/v1/aips/{s.hidden_aip}", token=s.rm)
    assert r.json()["title"] == "Huoltajuusasia Meikäläinen"

    # the due list, too (package retention: 10 years from 2022)
    for token, secret_title in ((s.plain, None),
                                (s.rm, "Lausunto Virtasen terveydentilasta")):
        r = s.get("/v1/retention/due", token=token, params={"on": "2040-01-01"})
        assert r.status_code == 200, r.text
        due = {x["native_id"]: x["title"] for x in r.json()["items"]}
        assert due["A4"] == secret_title and due["A2"] == "Pöytäkirja 12/2022"

    path = "data/content/" + s.docs["A4"].path
    body = s.docs["A4"].data
    r = s.get(f"/v1/aips/{s.aip}/files/{path}", token=s.plain)
    assert r.status_code == 403 and r.json()["error"]["code"] == "RESTRICTED"
    assert body[:100] not in r.content
    # the submitted metadata names every title: refused too, and so is
    # an export of the AIP
    r = s.get(f"/v1/aips/{s.aip}/files/data/metadata/sahke2.xml",
              token=s.plain)
    assert r.status_code == 403, r.text
    r = s.get(f"/v1/aips/{s.aip}/export", token=s.plain)
    assert r.status_code == 403, r.text
    # a public record's file is theirs to read
    pub = "data/content/" + s.docs["A1"].path
    r = s.get(f"/v1/aips/{s.aip}/files/{pub}", token=s.plain)
    assert r.status_code == 200 and r.content == s.docs["A1"].data

    # with clearance: the bytes, with the digest
    r = s.get(f"/v1/aips/{s.aip}/files/{path}", token=s.rm)
    assert r.status_code == 200, r.text
    assert r.content == body
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert r.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    assert r.headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    assert r.headers["Content-Type"] == "application/pdf"
    r = s.get(f"/v1/aips/{s.aip}/files/data/metadata/sahke2.xml",
              token=s.rm)
    assert r.status_code == 200 and b"Virtasen" in r.content

    # every read, refused ones too, with its principal
    reads = [(e["actor"], e["outcome"], e["details"].get("sha256"))
             for e in audit(s, "file.read")]
    assert ("ilman-selvitysta", "denied", None) in reads
    assert any(a != "ilman-selvitysta" and o == "success" and
               h == hashlib.sha256(body).hexdigest() for a, o, h in reads)
    assert ("ilman-selvitysta", "success",
            hashlib.sha256(s.docs["A1"].data).hexdigest()) in reads
    exports = [(e["actor"], e["outcome"]) for e in audit(s, "aip.export")]
    assert exports == [("ilman-selvitysta", "denied")] * 2
    views = [(e["actor"], e["object_id"]) for e in audit(s, "record.read")]
    assert ("ilman-selvitysta", secret["id"]) in views
    searches = audit(s, "record.search")
    q = hashlib.sha256("terveydentila".encode()).hexdigest()
    found = [(e["actor"], e["details"]["hits"]) for e in searches
             if e["details"].get("query_sha256") == q]
    assert ("ilman-selvitysta", 0) in found and len(found) == 2
    assert ("ilman-selvitysta", s.aip) in [
        (e["actor"], e["object_id"]) for e in audit(s, "aip.read")]


def test_ranges(store):
    s = store
    d = s.docs["A2"]
    url = f"/v1/aips/{s.aip}/files/data/content/{d.path}"
    size = len(d.data)

    # one keep-alive connection for all of them: a file reply must leave
    # the connection ready for the next request
    session = requests.Session()

    def fetch(**headers):
        return session.get(s.url + url, headers=dict(auth(s.rm), **headers),
                           timeout=10)

    for header, start, end in [("bytes=10-99", 10, 99),
                               ("bytes=40000-", 40000, size - 1),
                               ("bytes=-5", size - 5, size - 1),
                               ("bytes=0-0", 0, 0),
                               (f"bytes=100-{size * 2}", 100, size - 1)]:
        r = fetch(Range=header)
        assert r.status_code == 206, (header, r.text)
        assert r.content == d.data[start:end + 1], header
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        # the digest is the whole file's, also for a slice
        assert r.headers["Repr-Digest"] == "sha-256=:%s:" % base64.b64encode(
            hashlib.sha256(d.data).digest()).decode()
    r = fetch(Range=f"bytes={size}-")
    assert r.status_code == 416, r.text
    assert r.headers["Content-Range"] == f"bytes */{size}"
    # forms Sailo does not serve: the whole file
    for header in ("bytes=0-1,5-9", "lines=1-2", "bytes=9-2"):
        r = fetch(Range=header)
        assert r.status_code == 200 and r.content == d.data, header
    # If-Range with another validator: the whole file; with its ETag, the
    # slice
    etag = f'"{hashlib.sha256(d.data).hexdigest()}"'
    r = fetch(Range="bytes=1-2", **{"If-Range": '"other"'})
    assert r.status_code == 200 and r.content == d.data
    r = fetch(Range="bytes=1-2", **{"If-Range": etag})
    assert r.status_code == 206 and r.content == d.data[1:3]
    r = session.head(s.url + url, headers=auth(s.rm), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(size)
    r = session.get(s.url + "/v1/records", headers=auth(s.rm), timeout=10)
    assert r.status_code == 200 and len(r.json()["items"]) == 5
    ranges = [e["details"]["range"] for e in audit(s, "file.read")]
    assert "10-99" in ranges and f"{size - 5}-{size - 1}" in ranges
    # not there, or not a file of this AIP
    for path, status in [("data/content/asiakirjat/nothing.pdf", 404),
                         ("data/../../../etc/passwd", 404),
                         ("bagit.txt", 404)]:
        r = s.get(f"/v1/aips/{s.aip}/files/{path}", token=s.rm)
        assert r.status_code == status, (path, r.text)
    r = s.get(f"/v1/aips/{s.aip}/files/data/content/{d.path}", token=s.bus)
    assert r.status_code == 403, r.text
    r = s.get(f"/v1/aips/{s.aip}/files/data/content/{d.path}",
              token=s.rm, params={"version": "7"})
    assert r.status_code == 404, r.text


def test_export_is_the_bag(store):
    s = store
    r = s.get(f"/v1/aips/{s.aip}/export", token=s.rm, stream=True)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/x-tar"
    assert f"{s.aip}-v1.tar" in r.headers["Content-Disposition"]
    data = r.raw.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()
                 if m.isfile()}
    top = f"{s.aip}-v1/"
    assert all(n.startswith(top) for n in files)
    files = {n[len(top):]: b for n, b in files.items()}
    assert files["bagit.txt"].startswith(b"BagIt-Version: 1.0")
    manifest = files["manifest-sha256.txt"].decode().splitlines()
    assert len(manifest) >= 5
    for line in manifest:
        digest, path = line.split(" ", 1)
        path = path.strip()
        assert hashlib.sha256(files[path]).hexdigest() == digest, path
    for line in files["tagmanifest-sha256.txt"].decode().splitlines():
        digest, path = line.split(" ", 1)
        assert hashlib.sha256(files[path.strip()]).hexdigest() == digest
    for nid, d in s.docs.items():
        if nid.startswith("A"):         # B1 is in the other case's AIP
            assert files["data/content/" + d.path] == d.data, nid
    # HEAD of streamed replies: headers only, and the daemon goes on
    for path in (f"/v1/aips/{s.aip}/export", "/v1/audit?format=csv"):
        r = requests.head(s.url + path, headers=auth(
            s.auditor if "audit" in path else s.rm), timeout=10)
        assert r.status_code == 200 and r.content == b"", path
    e = [x for x in audit(s, "aip.export") if x["outcome"] == "success"]
    assert len(e) == 2 and {x["object_id"] for x in e} == {s.aip}
    assert e[-1]["details"]["version"] == 1


def test_a_disposed_title_is_found_by_no_query(archive):  # noqa: F811
    s = archive
    assert [x["native_id"] for x in s.get(
        "/v1/records", token=s.rm, params={"q": "R1A"}).json()["items"]] == \
        ["R1A"]
    r = s.post("/v1/disposals", {"note": "Hävitys"}, token=s.rm)
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    r = s.post(f"/v1/disposals/{bid}/approve", {}, token=s.rm2)
    assert r.status_code == 202, r.text
    assert wait_batch(s, bid)["status"] == "done"
    for q in ("R1A", "R2A", "R3A", "R6A", "Asiakirja R1A"):
        r = s.get("/v1/records", token=s.rm, params={"q": q})
        assert r.status_code == 200 and r.json()["items"] == [], (q, r.text)
    # kept ones are still found
    r = s.get("/v1/records", token=s.rm, params={"q": "R4A"})
    assert [x["native_id"] for x in r.json()["items"]] == ["R4A"]
    # and a destroyed file is gone (410), its tombstone stays
    rec = s.get(f"/v1/records/{s.ids['R1A']}", token=s.rm).json()
    assert rec["destroyed"]["disposal_batch"] == bid
    r = s.get(f"/v1/aips/{rec['aip_id']}/files/data/content/R1A.pdf",
              token=s.rm, params={"version": "1"})
    assert r.status_code == 410 and r.json()["error"]["code"] == "DISPOSED"


def test_subject_access_request(store):
    s = store
    dpo = s.token("auditor", name="tietosuojavastaava",
                  clearance=("Salassa pidettävä", "Osittain salassapidettävä",
                             "sensitive_personal_data"))
    secret_only = s.token("auditor", name="salassa-vain",
                          clearance=("Salassa pidettävä",))
    ask = {"ssn": PERSON, "purpose": "Tarkastuspyyntö 2026/41"}
    r = s.post("/v1/persons/records", ask, token=dpo)
    assert r.status_code == 200, r.text
    hits = {x["native_id"]: x for x in r.json()["items"]}
    assert sorted(hits) == ["A3", "A4"]
    assert hits["A4"]["title"] == "Lausunto Virtasen terveydentilasta"
    # a code of the 2000s (century sign A): another person, another list
    r = s.post("/v1/persons/records", {"ssn": OTHER, "purpose": "x"},
               token=s.rm)
    assert [x["native_id"] for x in r.json()["items"]] == ["A3"]
    # what each hit shows still follows clearance: special categories
    # need sensitive_personal_data
    r = s.post("/v1/persons/records", ask, token=secret_only)
    assert r.status_code == 200, r.text
    hits = {x["native_id"]: x for x in r.json()["items"]}
    assert hits["A4"]["title"] is None and hits["A4"]["restricted"] is True
    assert hits["A3"]["title"] == "Naapurien kuuleminen"
    # paging
    r = s.post("/v1/persons/records?limit=1", ask, token=dpo)
    first = r.json()
    assert len(first["items"]) == 1 and first["next"]
    r = s.post(f"/v1/persons/records?limit=1&after={first['next']}", ask,
               token=dpo)
    assert len(r.json()["items"]) == 1 and r.json()["next"] is None
    assert r.json()["items"][0]["id"] != first["items"][0]["id"]

    # refused: no clearance, the wrong role, a bad code, no purpose
    r = s.post("/v1/persons/records", ask, token=s.plain)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "CLEARANCE_REQUIRED"
    r = s.post("/v1/persons/records", ask, token=s.bus)
    assert r.status_code == 403, r.text
    bad = PERSON[:-1] + ("X" if PERSON[-1] != "X" else "Y")
    r = s.post("/v1/persons/records", dict(ask, ssn=bad), token=dpo)
    assert r.status_code == 400 and bad not in r.text, r.text
    r = s.post("/v1/persons/records", {"ssn": PERSON}, token=dpo)
    assert r.status_code == 400, r.text

    # the request is an act: who asked, why (beside, by digest), about
    # whom (the HMAC); the code itself is in no event and no log line
    events = audit(s, "person.records")
    purpose = hashlib.sha256(ask["purpose"].encode()).hexdigest()
    mine = [e for e in events if e["actor"] == "tietosuojavastaava"]
    assert len(mine) == 3
    assert all(e["details"]["purpose_sha256"] == purpose for e in mine)
    assert mine[-1]["details"]["hits"] in (1, 2)
    hmacs = {e["details"]["person_hmac"] for e in events}
    assert len(hmacs) == 2
    r = s.get("/v1/audit", token=s.auditor, params={"limit": 1000})
    for code in (PERSON, OTHER):
        assert code not in r.text
        assert code not in s.log()
    assert "tietosuojavastaava" in s.log()       # the log is there


def test_files_and_export_over_tls(ingest, pki, tmp_path,  # noqa: F811
                                   monkeypatch):
    """The same reads through HTTPS: a file read in pieces on a worker and
    an export streamed, byte for byte, with curl --cacert."""
    # the ingest helpers' own requests trust the test CA too
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki.ca)
    s = ingest(**tls_settings(pki))
    assert s.url.startswith("https://")
    pkg = package()
    ingest_package(s, pkg)
    r = s.get("/v1/records", token=s.rm)
    assert r.status_code == 200, r.text
    aip = {x["native_id"]: x["aip_id"] for x in r.json()["items"]}["A4"]
    d = pkg.casefiles[0].records[3].docs[0]
    out = tmp_path / "doc.pdf"
    res = subprocess.run(
        ["curl", "-sS", "-f", "--cacert", pki.ca, "-D", "-", "-o", str(out),
         "-H", f"Authorization: Bearer {s.rm}", "-H", "Range: bytes=100-",
         f"{s.url}/v1/aips/{aip}/files/data/content/{d.path}"],
        capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("HTTP/1.1 206"), res.stdout
    assert out.read_bytes() == d.data[100:]
    digest = base64.b64encode(hashlib.sha256(d.data).digest()).decode()
    headers = dict((k.lower(), v.strip()) for k, _, v in (
        line.partition(":") for line in res.stdout.splitlines()[1:] if line))
    assert headers["repr-digest"] == f"sha-256=:{digest}:"
    tar = tmp_path / "aip.tar"
    res = subprocess.run(
        ["curl", "-sS", "-f", "--cacert", pki.ca, "-o", str(tar), "-H",
         f"Authorization: Bearer {s.rm}", f"{s.url}/v1/aips/{aip}/export"],
        capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    with tarfile.open(tar) as t:
        got = t.extractfile(f"{aip}-v1/data/content/{d.path}").read()
    assert got == d.data


def test_a_slow_download_outlives_the_reply_deadline(ingest):  # noqa: F811
    """server.reply_timeout_ms bounds the wait for a reply to start, never
    how long a large file takes to go out to a slow reader."""
    s = ingest(server_reply_timeout_ms=1000)
    d = pkggen.Doc("iso.pdf", pkggen.pdf_bytes("iso", 24 << 20, 9), "C1-d0")
    cf = pkggen.CaseFile("HEL 2022-90", "Kartoitus", "10 03 00 09",
                         created="2022-05-01")
    cf.records = [pkggen.Record("C1", "Ilmakuva", "10 03 00 09",
                                created="2022-05-01", docs=[d])]
    ingest_package(s, pkggen.Sahke2Package(version="2019", casefiles=[cf],
                                           transfer_id="SIIRTO-ISO"))
    aip = s.get("/v1/records", token=s.rm).json()["items"][0]["aip_id"]
    r = requests.get(f"{s.url}/v1/aips/{aip}/files/data/content/iso.pdf",
                     headers=auth(s.rm), stream=True, timeout=30)
    assert r.status_code == 200
    first = r.raw.read(65536)
    time.sleep(2.5)                     # well past the reply deadline
    rest = r.raw.read()
    assert first + rest == d.data
    # an export the client leaves halfway: the daemon lets it go (under
    # ASan the fixture's clean stop shows nothing leaked)
    r = requests.get(f"{s.url}/v1/aips/{aip}/export", headers=auth(s.rm),
                     stream=True, timeout=30)
    assert r.status_code == 200 and len(r.raw.read(1 << 20)) == 1 << 20
    r.close()
    assert s.get("/healthz").status_code == 200
