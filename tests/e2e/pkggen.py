#!/usr/bin/python3
"""pkggen — transfer packages for Sailo's tests and benchmarks.

Real archives (tar, tar.gz, tar.zst, zip) of SÄHKE2 packages (both the
2011/12/20 and the 2019/08/29 namespace) and BagIt 1.0 bags (with an
optional data/metadata/metadata.csv), a streaming scale generator, and a
catalogue of broken or hostile packages with the finding each must give.

As a library (tests/e2e/test_ingest.py):

    pkg = pkggen.sahke2_package(version="2019", casefiles=2, records=3)
    data = pkg.archive("tar.gz")              # bytes
    v = pkggen.HOSTILE["xxe_passwd"]()         # Hostile(data, code, ...)

As a command (the benchmarks):

    python3 tests/e2e/pkggen.py sahke2 out.tar.zst --casefiles 10000 \\
        --records 10 --kb 20            # 100,000 records, streamed to disk
    python3 tests/e2e/pkggen.py bagit out.zip --records 50
    python3 tests/e2e/pkggen.py hostile:zip_backslash_dotdot out.zip
    python3 tests/e2e/pkggen.py list

Only the Python standard library; zstd through the `zstd` command.
"""
import argparse
import csv
import datetime
import gzip
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
import zipfile
import zlib
from typing import NamedTuple, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

NAMESPACES = {
    "2011": "http://www.arkisto.fi/skeemat/Sahke2/2011/12/20",
    "2019": "http://www.arkisto.fi/skeemat/Sahke2/2019/08/29",
}
SCHEMA_FILES = {"2011": "Sahke2_2011_12.xsd", "2019": "Sahke2_2019_03.xsd"}
SCHEMA_DIRS = [os.path.join(ROOT, "formats", "schemas"),
               "/work/shared/schemas/sahke2"]
FUNCTIONS_CSV = ["/work/shared/data/helsinki-functions.csv",
                 os.path.join(ROOT, "tests", "e2e", "helsinki-functions.csv")]

CONTENT_TYPES = {
    "tar": "application/x-tar",
    "tar.gz": "application/gzip",
    "tar.zst": "application/zstd",
    "zip": "application/zip",
}
CONTAINERS = tuple(CONTENT_TYPES)
METADATA_NAME = "metadata.xml"     # the SÄHKE2 metadata file in a package
HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def schema_path(version):
    for d in SCHEMA_DIRS:
        p = os.path.join(d, SCHEMA_FILES[version])
        if os.path.exists(p):
            return p
    raise FileNotFoundError(SCHEMA_FILES[version])


def container_of(path):
    """The container kind named by a file name's ending."""
    name = path.lower()
    for ext, kind in ((".tar.gz", "tar.gz"), (".tgz", "tar.gz"),
                      (".tar.zst", "tar.zst"), (".tzst", "tar.zst"),
                      (".tar", "tar"), (".zip", "zip")):
        if name.endswith(ext):
            return kind
    raise ValueError(f"{path}: cannot tell the container (.tar, .tar.gz, "
                     ".tar.zst, .zip)")


# ---------------------------------------------------------------------------
# Finnish personal identity codes (henkilötunnus)

CENTURY_SIGNS = {1800: "+", 1900: "-YXWVU", 2000: "ABCDEF"}


def hetu(birth, individual, sign=None):
    """A valid code for a date and individual number 2–899."""
    century = birth.year // 100 * 100
    signs = CENTURY_SIGNS[century]
    sign = sign or signs[0]
    assert sign in signs, (sign, century)
    ddmmyy = birth.strftime("%d%m") + f"{birth.year % 100:02d}"
    n = f"{individual:03d}"
    return ddmmyy + sign + n + HETU_CHECK[int(ddmmyy + n) % 31]


def hetu_valid(code):
    if len(code) != 11 or code[6] not in "+-YXWVUABCDEF":
        return False
    digits = code[:6] + code[7:10]
    if not digits.isdigit():
        return False
    return HETU_CHECK[int(digits) % 31] == code[10]


def random_hetu(rng):
    """A random valid code; about a third use the signs added in 2023."""
    year = rng.choice([rng.randint(1930, 1999), rng.randint(2000, 2015)])
    birth = datetime.date(year, 1, 1) + datetime.timedelta(rng.randint(0, 364))
    signs = CENTURY_SIGNS[year // 100 * 100]
    sign = signs[0] if rng.random() < 0.66 else rng.choice(signs)
    return hetu(birth, rng.randint(2, 899), sign)


# ---------------------------------------------------------------------------
# Function codes (Helsinki's classification)

_FALLBACK_FUNCTIONS = {
    "01": "Henkilöstöasiat", "01 01": "Palvelussuhdeasiat",
    "01 01 00": "Palvelussuhteen aloittaminen",
    "01 01 01": "Palvelussuhteen ehdot",
    "05": "Sosiaalitoimi", "05 01": "Sosiaalihuollon asiakastyö",
    "05 01 00": "Lastensuojelu",
    "10": "Maankäyttö, rakentaminen ja asuminen", "10 03": "Kaavoitus",
    "10 03 02": "Yleissuunnittelu", "10 03 02 00": "Yleiskaavoitus",
    "10 03 02 01": "Yleissuunnitelmat ja yleisselvitykset",
    "10 03 03": "Asemakaavoitus",
}
_functions = None


def functions():
    """{normalised code: title} of the classification."""
    global _functions
    if _functions is None:
        table = {}
        for p in FUNCTIONS_CSV:
            if os.path.exists(p):
                with open(p, newline="", encoding="utf-8-sig") as f:
                    for row in csv.reader(f):
                        if len(row) >= 2 and row[0].strip():
                            table[" ".join(row[0].split())] = row[1]
                break
        _functions = table or dict(_FALLBACK_FUNCTIONS)
    return _functions


def leaf_codes(prefix=""):
    """Codes of three or four levels (ClassificationScheme needs three)."""
    return sorted(c for c in functions()
                  if len(c.split()) >= 3 and c.startswith(prefix))


def write_code(code, style):
    """A normalised code as a package may write it."""
    sep = {"dot": ".", "space": " ", "dash": "-"}[style]
    return sep.join(code.split())


CODE_STYLES = ("dot", "space", "dash")


# ---------------------------------------------------------------------------
# Content files

def pdf_bytes(title, size=2048, seed=0):
    """A small, valid PDF 1.4 (one page showing title) of about size bytes;
    the padding is seeded random bytes in an unreferenced stream, as
    compressed streams of a real PDF would look.  libmagic says
    application/pdf."""
    text = "".join(c if 32 <= ord(c) < 127 and c not in "()\\" else "?"
                   for c in title)
    content = f"BT /F1 14 Tf 72 770 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content +
        b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pad = max(0, size - 900)
    if pad:
        # randbytes takes at most 2**31 bits at once: larger files in
        # pieces (files up to 128 MiB are as they always were)
        rng, piece = random.Random(seed), 128 << 20
        filler = b"".join(rng.randbytes(min(piece, pad - o))
                          for o in range(0, pad, piece))
        objs.append(b"<< /Length %d >>\nstream\n" % pad + filler +
                    b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objs) + 1, xref))
    return bytes(out)


def exe_bytes(size=4096, seed=0):
    """An MS-DOS/PE-looking executable (libmagic: application/x-dosexec)."""
    head = bytearray(b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00"
                     b"\xff\xff\x00\x00\xb8" + b"\x00" * 45)
    head[0x3c:0x40] = (0x80).to_bytes(4, "little")
    head += b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
    head += b"This program cannot be run in DOS mode.\r\r\n$"
    head += b"\x00" * (0x80 - len(head))
    head += b"PE\x00\x00\x4c\x01\x03\x00" + b"\x00" * 12 + b"\xe0\x00\x02\x01"
    head += b"\x0b\x01" + b"\x00" * 222
    return bytes(head) + random.Random(seed).randbytes(max(0, size - len(head)))


def digest(algorithm, data):
    """Hex digest by a SÄHKE2 HashAlgorithm as written (sha256, SHA-256…)."""
    name = algorithm.lower().replace("-", "")
    return hashlib.new(name, data).hexdigest()


# ---------------------------------------------------------------------------
# The SÄHKE2 model

class Doc:
    def __init__(self, path, data, native_id, declared="application/pdf",
                 fmt_version="1.4", algorithm="sha256", xml_path=None,
                 hash_value=None, upper=False):
        self.path = path            # in the package, '/'-separated
        self.data = data
        self.native_id = native_id
        self.declared = declared
        self.fmt_version = fmt_version
        self.algorithm = algorithm  # as written
        self.xml_path = xml_path    # File/Path as written; None: derived
        self.hash_value = hash_value
        self.upper = upper          # HashValue in upper case

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]

    @property
    def folder(self):
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @property
    def sha256(self):
        return hashlib.sha256(self.data).hexdigest()

    def written_path(self):
        if self.xml_path is not None:
            return self.xml_path
        return "./" + (self.folder + "/" if self.folder else "")

    def written_hash(self):
        if self.hash_value is not None:
            return self.hash_value
        h = digest(self.algorithm, self.data)
        return h.upper() if self.upper else h


class Record:
    def __init__(self, native_id, title, function_code, created="2021-08-31",
                 code_style="space", publicity="Julkinen",
                 security_reason=None, ssns=(), retention=10,
                 retention_reason="KuntaL 2015/410", rtype="päätös",
                 description=None, docs=(), action="Päätöksenteko",
                 personal_data=None, omit_title=False, retention_end=None):
        self.native_id = native_id
        self.title = title
        self.function_code = function_code     # normalised
        self.retention_end = retention_end     # RetentionPeriodEnd
        self.code_style = code_style
        self.created = created
        self.publicity = publicity
        self.security_reason = security_reason
        self.ssns = list(ssns)
        self.retention = retention             # int, or text as written
        self.retention_reason = retention_reason
        self.type = rtype
        self.description = description
        self.docs = list(docs)
        self.action = action
        self.personal_data = personal_data
        self.omit_title = omit_title


class CaseFile:
    def __init__(self, native_id, title, function_code, created="2021-08-31",
                 code_style="dot", records=(), retention=10,
                 retention_reason="KuntaL 2015/410", publicity="Julkinen",
                 agent="Virtanen Liisa", omit_title=False, finished=None):
        self.native_id = native_id
        self.finished = finished or created    # the case's final decision
        self.title = title
        self.function_code = function_code
        self.code_style = code_style
        self.created = created
        self.records = list(records)
        self.retention = retention
        self.retention_reason = retention_reason
        self.publicity = publicity
        self.agent = agent
        self.omit_title = omit_title

    def docs(self):
        return [d for r in self.records for d in r.docs]


def esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


class _Xml:
    """Writes indented elements with or without the narc: prefix."""

    def __init__(self, out, prefix):
        self.out = out
        self.p = prefix + ":" if prefix else ""
        self.depth = 0

    def leaf(self, name, value):
        self.out.write("  " * self.depth +
                       f"<{self.p}{name}>{esc(value)}</{self.p}{name}>\n")

    def open(self, name, attrs=""):
        self.out.write("  " * self.depth + f"<{self.p}{name}{attrs}>\n")
        self.depth += 1

    def close(self, name):
        self.depth -= 1
        self.out.write("  " * self.depth + f"</{self.p}{name}>\n")


def _restriction(x, publicity, security_reason, personal_data, ssns, created):
    x.open("Restriction")
    x.leaf("PublicityClass", publicity)
    if publicity != "Julkinen":
        x.leaf("SecurityPeriod", 25)
        year = int(created[:4]) + 25
        x.leaf("SecurityPeriodEnd", f"{year}{created[4:10]}")
        if security_reason:
            x.leaf("SecurityReason", security_reason)
    x.leaf("PersonalData", personal_data or
           ("sisältää henkilötietoja" if ssns else "ei sisällä henkilötietoja"))
    for i, ssn in enumerate(ssns):
        x.open("Person")
        x.leaf("Name", ["Meikäläinen Matti", "Möttönen Åsa", "Äijälä Öivi"][i % 3])
        x.leaf("Ssn", ssn)
        x.close("Person")
    x.close("Restriction")


def _classification(x, code):
    groups = code.split()
    titles = functions()
    assert len(groups) >= 3, code
    x.open("ClassificationScheme")
    names = ["MainFunction", "FunctionClassification"] + \
        ["SubFunction"] * (len(groups) - 2)
    for i, name in enumerate(names):
        x.open(name)
        c = " ".join(groups[:i + 1])
        x.leaf("Title", titles.get(c, f"Tehtävä {c}"))
        x.leaf("FunctionCode", c)
    for name in reversed(names):
        x.close(name)
    x.close("ClassificationScheme")


def _tz(date):
    return date + "+03:00" if len(date) == 10 else date


def write_casefile(out, cf, prefix="narc"):
    """One CaseFile element, in the order of the schemas (CaseFile/Agent and
    Action/Agent are written: 2011 requires them)."""
    x = _Xml(out, prefix)
    x.open("CaseFile")
    x.leaf("Created", _tz(cf.created))
    x.leaf("NativeId", cf.native_id)
    x.leaf("Language", "fi")
    _restriction(x, cf.publicity, "JulkL 24 § 1 mom 25 k"
                 if cf.publicity != "Julkinen" else None, None,
                 [], cf.created)
    if not cf.omit_title:
        x.leaf("Title", cf.title)
    x.leaf("RetentionPeriod", cf.retention)
    x.leaf("RetentionReason", cf.retention_reason)
    x.leaf("Status", "valmis")
    _classification(x, cf.function_code)
    x.leaf("Function", write_code(cf.function_code, cf.code_style))
    x.open("Agent")
    x.leaf("Role", "responsible")
    x.leaf("Name", cf.agent)
    x.close("Agent")
    x.leaf("Finished", _tz(cf.finished))
    actions = {}
    for r in cf.records:
        actions.setdefault(r.action, []).append(r)
    if not actions:
        actions = {"Vireillepano": []}
    for title, records in actions.items():
        x.open("Action")
        x.leaf("Created", _tz(cf.created))
        x.leaf("Title", title)
        x.open("Agent")
        x.leaf("Role", "registrar")
        x.leaf("Name", "Kirjaamo Helsinki")
        x.close("Agent")
        x.leaf("Type", title)
        for r in records:
            _record(x, r)
        x.close("Action")
    x.close("CaseFile")


def _record(x, r):
    x.open("Record")
    x.leaf("Created", _tz(r.created))
    x.leaf("NativeId", r.native_id)
    x.leaf("Language", "fi")
    if r.description:
        x.leaf("Description", r.description)
    _restriction(x, r.publicity, r.security_reason, r.personal_data, r.ssns,
                 r.created)
    if not r.omit_title:
        x.leaf("Title", r.title)
    x.leaf("RetentionPeriod", r.retention)
    x.leaf("RetentionReason", r.retention_reason)
    if r.retention_end:
        x.leaf("RetentionPeriodEnd", r.retention_end)
    x.leaf("Status", "arkistoitu")
    x.leaf("Function", write_code(r.function_code, r.code_style))
    x.leaf("Type", r.type)
    x.open("Authenticity")
    x.leaf("Checker", "Asianhallinta Ahjo")
    x.leaf("Date", _tz(r.created))
    x.leaf("Description", "asiakirjan alkuperäisyys todettu")
    x.close("Authenticity")
    x.leaf("Version", "1.0")
    for d in r.docs:
        x.open("Document")
        x.leaf("NativeId", d.native_id)
        x.leaf("UseType", "Arkisto")
        x.open("File")
        x.leaf("Name", d.name)
        x.leaf("Path", d.written_path())
        x.close("File")
        x.open("Format")
        x.leaf("Name", d.declared)
        x.leaf("Version", d.fmt_version)
        x.close("Format")
        x.leaf("HashAlgorithm", d.algorithm)
        x.leaf("HashValue", d.written_hash())
        x.close("Document")
    x.open("Agent")
    x.leaf("Role", "author")
    x.leaf("Name", "Virtanen Liisa")
    x.close("Agent")
    x.close("Record")


def metadata_head(version, prefix, transfer_id, title, organisation,
                  doctype=""):
    ns = NAMESPACES[version] if version in NAMESPACES else version
    p = prefix + ":" if prefix else ""
    xmlns = f'xmlns:{prefix}="{ns}"' if prefix else f'xmlns="{ns}"'
    out = io.StringIO()
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n' + doctype)
    out.write(f"<{p}Metadata {xmlns}>\n")
    x = _Xml(out, prefix)
    x.depth = 1
    x.open("TransferInformation")
    x.leaf("NativeId", transfer_id)
    x.leaf("Title", title)
    x.leaf("TransferContractId", "KA/1234/07.01.01.03.01/2021")
    x.leaf("MetadataSchema", ns)
    x.close("TransferInformation")
    x.open("ContactInformation")
    x.open("Organisation")
    x.leaf("Name", organisation)
    x.close("Organisation")
    x.open("ContactPerson")
    x.leaf("Name", "Arkistonhoitaja Päivi Härkönen")
    x.leaf("Address", "Pohjoisesplanadi 11–13, 00170 Helsinki")
    x.leaf("PhoneNumber", "+358 9 310 1641")
    x.leaf("Email", "kirjaamo@hel.fi")
    x.close("ContactPerson")
    x.close("ContactInformation")
    return out.getvalue()


def metadata_tail(prefix):
    p = prefix + ":" if prefix else ""
    return f"</{p}Metadata>\n"


def _indent(text, n):
    pad = "  " * n
    return "".join(pad + line if line.strip() else line
                   for line in text.splitlines(True))


class Sahke2Package:
    """A SÄHKE2 transfer: metadata.xml plus the Documents' files."""

    def __init__(self, version="2019", casefiles=(), transfer_id=None,
                 title="Rakennusvalvonnan siirto 2021",
                 organisation="Helsingin kaupunki", prefix=None,
                 metadata_name=METADATA_NAME, top=None):
        self.version = version
        self.casefiles = list(casefiles)
        self.transfer_id = transfer_id or f"SIIRTO-{random.randrange(10**9)}"
        self.title = title
        self.organisation = organisation
        # 2019: the narc: prefix of the sample; 2011: a default namespace
        self.prefix = prefix if prefix is not None else \
            ("narc" if version == "2019" else "")
        self.metadata_name = metadata_name
        self.top = top                  # a single top-level folder, or None
        self.extra = {}                 # more files: {path: bytes}
        self.extra_entries = []         # raw Entry objects (hostile)
        self.doctype = ""
        self.xml_edits = []             # functions str -> str (hostile)
        self.namespace = None           # override (foreign namespace)

    def records(self):
        return [r for cf in self.casefiles for r in cf.records]

    def docs(self):
        return [d for cf in self.casefiles for d in cf.docs()]

    def metadata(self):
        out = io.StringIO()
        out.write(metadata_head(self.namespace or self.version, self.prefix,
                                self.transfer_id, self.title,
                                self.organisation, self.doctype))
        for cf in self.casefiles:
            buf = io.StringIO()
            write_casefile(buf, cf, self.prefix)
            out.write(_indent(buf.getvalue(), 1))
        out.write(metadata_tail(self.prefix))
        text = out.getvalue()
        for edit in self.xml_edits:
            text = edit(text)
        return text.encode("utf-8")

    def files(self):
        """{package path: bytes}, the metadata first."""
        files = {self.metadata_name: self.metadata()}
        for d in self.docs():
            files[d.path] = d.data
        files.update(self.extra)
        return files

    def entries(self):
        entries = file_entries(self.files(), self.top)
        return entries + [e.under(self.top) for e in self.extra_entries]

    def archive(self, kind="tar.gz", out=None):
        return write_archive(self.entries(), kind, out)


def sahke2_package(version="2019", casefiles=2, records=3, kb=4, seed=1,
                   top=None, ssns=True, prefix=None, functions_from=None):
    """A valid package: casefiles × records, one or two Documents each, with
    Finnish names, varied Path/HashAlgorithm/function code forms, some
    records `Salassa pidettävä` with a SecurityReason and person codes."""
    rng = random.Random(seed)
    codes = functions_from or leaf_codes()
    algorithms = ["sha256", "SHA-256", "MD5", "sha512", "SHA1"]
    path_forms = ["./", ".\\liitteet\\", "./liitteet/", "liitteet\\"]
    names = ["Päätös", "Hakemus", "Lausunto", "Pöytäkirjan ote",
             "Asemapiirros", "Selvitys äänieristyksestä"]
    pkg = Sahke2Package(version=version, top=top, prefix=prefix,
                        transfer_id=f"SIIRTO-{seed}-{rng.randrange(10**6)}")
    n = 0
    for c in range(casefiles):
        code = codes[(seed * 7 + c * 13) % len(codes)]
        cf = CaseFile(f"HEL {2021 - c % 5}-{seed:03d}{c:05d}",
                      f"Rakennuslupa, Mäkelänkatu {c + 1}: käsittely", code,
                      created=f"{2021 - c % 5}-0{1 + c % 9}-1{c % 10}",
                      code_style=CODE_STYLES[c % 3])
        for r in range(records):
            n += 1
            rcode = code if r % 2 == 0 else \
                codes[(seed * 11 + c * 5 + r) % len(codes)]
            secret = n % 3 == 0
            rec = Record(f"{cf.native_id}-{r + 1}",
                         f"{names[r % len(names)]} {r + 1} — {cf.native_id}",
                         rcode, created=cf.created,
                         code_style=CODE_STYLES[(c + r + 1) % 3],
                         publicity="Salassa pidettävä" if secret else "Julkinen",
                         security_reason="JulkL 24 § 1 mom 32 k"
                         if secret else None,
                         ssns=[random_hetu(rng)] if ssns and secret else [],
                         retention=[10, 50, -1, 6][n % 4],
                         rtype=["päätös", "hakemus", "lausunto"][r % 3],
                         description="Asiakirja rakennusluvan käsittelystä")
            form = path_forms[n % len(path_forms)]
            folder = "" if form == "./" else "liitteet"
            for k in range(1 + (n % 4 == 1)):
                fname = f"{names[r % len(names)]} {cf.native_id[4:]}-{r + 1}" + \
                    (f" liite {k}" if k else "") + ".pdf"
                path = f"{folder}/{fname}" if folder else fname
                rec.docs.append(Doc(
                    path, pdf_bytes(rec.title, kb * 1024, seed * 100000 + n * 10 + k),
                    f"{rec.native_id}-d{k}",
                    algorithm=algorithms[(n + k) % len(algorithms)],
                    xml_path=form, upper=(n + k) % 5 == 3))
            cf.records.append(rec)
        pkg.casefiles.append(cf)
    return pkg


# ---------------------------------------------------------------------------
# Archives

class Entry:
    """One archive entry: a file (data bytes, or size + a chunk iterator),
    a folder, or a hostile type (symlink, hardlink, fifo, chardev)."""

    def __init__(self, name, data=None, kind="file", link=None, size=None,
                 chunks=None):
        self.name = name
        self.data = data
        self.kind = kind
        self.link = link
        self.size = len(data) if data is not None else (size or 0)
        self.chunks = chunks        # callable -> iterator of bytes

    def under(self, top):
        if not top:
            return self
        e = Entry(f"{top}/{self.name}", self.data, self.kind, self.link,
                  self.size, self.chunks)
        return e

    def iter_chunks(self):
        if self.data is not None:
            yield self.data
        elif self.chunks:
            yield from self.chunks()


def file_entries(files, top=None, folders=True):
    """Entries for {path: bytes}, with folder entries as `tar c` makes."""
    entries, seen = [], set()
    for path, data in files.items():
        full = f"{top}/{path}" if top else path
        parts = full.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if folders and d not in seen:
                seen.add(d)
                entries.append(Entry(d + "/", kind="dir"))
        entries.append(Entry(full, data))
    return entries


class _ChunkReader(io.RawIOBase):
    # A view and an offset: slicing the rest of a large chunk at every
    # read would copy it again each time (quadratic in the file's size).
    def __init__(self, it):
        self.it, self.buf, self.pos = it, memoryview(b""), 0

    def readable(self):
        return True

    def readinto(self, b):
        while self.pos >= len(self.buf):
            try:
                self.buf, self.pos = memoryview(next(self.it)), 0
            except StopIteration:
                return 0
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n


MTIME = 1700000000


def _tarinfo(e):
    ti = tarfile.TarInfo(e.name.rstrip("/") if e.kind == "dir" else e.name)
    ti.mtime = MTIME
    ti.uname = ti.gname = "sailo"
    ti.mode = 0o644
    if e.kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    elif e.kind == "symlink":
        ti.type, ti.linkname = tarfile.SYMTYPE, e.link
    elif e.kind == "hardlink":
        ti.type, ti.linkname = tarfile.LNKTYPE, e.link
    elif e.kind == "fifo":
        ti.type = tarfile.FIFOTYPE
    elif e.kind == "chardev":
        ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
    else:
        ti.size = e.size
    return ti


def write_tar(entries, fileobj):
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT,
                      encoding="utf-8") as tar:
        for e in entries:
            ti = _tarinfo(e)
            if e.kind == "file":
                tar.addfile(ti, _ChunkReader(e.iter_chunks()))
            else:
                tar.addfile(ti)


def write_zip(entries, fileobj, level=6):
    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_DEFLATED,
                         allowZip64=True, compresslevel=level) as z:
        for e in entries:
            zi = zipfile.ZipInfo(e.name, time.localtime(MTIME)[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            if e.kind == "dir":
                zi.external_attr = (0o40755 << 16) | 0x10
                z.writestr(zi, b"")
            elif e.kind == "symlink":
                zi.create_system = 3
                zi.external_attr = 0o120777 << 16
                zi.compress_type = zipfile.ZIP_STORED
                z.writestr(zi, e.link.encode())
            elif e.kind == "file":
                if "\\" in e.name:
                    zi.create_system = 0        # made on MS-DOS
                else:
                    zi.external_attr = 0o100644 << 16
                with z.open(zi, "w", force_zip64=e.size > 1 << 30) as w:
                    for chunk in e.iter_chunks():
                        w.write(chunk)
            else:
                raise ValueError(f"zip cannot hold a {e.kind}")


def write_archive(entries, kind, out=None):
    """Writes entries as kind (tar, tar.gz, tar.zst, zip) to the path out,
    streaming; returns the bytes when out is None."""
    if kind not in CONTENT_TYPES:
        raise ValueError(kind)
    if out is None:
        buf = io.BytesIO()
        if kind == "tar.zst":
            write_tar(entries, buf)
            return subprocess.run(["zstd", "-q", "-c", "-3"],
                                  input=buf.getvalue(), capture_output=True,
                                  check=True).stdout
        _write_to(entries, kind, buf)
        return buf.getvalue()
    tmp = f"{out}.tmp{os.getpid()}"
    if kind == "tar.zst":
        with open(tmp, "wb") as f:
            p = subprocess.Popen(["zstd", "-q", "-c", "-3", "-T0"],
                                 stdin=subprocess.PIPE, stdout=f)
            write_tar(entries, p.stdin)
            p.stdin.close()
            if p.wait() != 0:
                raise RuntimeError("zstd failed")
    else:
        with open(tmp, "wb") as f:
            _write_to(entries, kind, f)
    os.replace(tmp, out)
    return out


def _write_to(entries, kind, f):
    if kind == "tar":
        write_tar(entries, f)
    elif kind == "tar.gz":
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6,
                           mtime=MTIME) as g:
            write_tar(entries, g)
    elif kind == "zip":
        write_zip(entries, f)


def read_archive(data_or_path, kind):
    """{name: bytes} of the files in an archive (for the generator's own
    tests and for checks; folders and other types are left out)."""
    if isinstance(data_or_path, (bytes, bytearray)):
        raw = bytes(data_or_path)
    else:
        with open(data_or_path, "rb") as f:
            raw = f.read()
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            return {i.filename: z.read(i) for i in z.infolist()
                    if not i.filename.endswith("/")}
    if kind == "tar.zst":
        raw = subprocess.run(["zstd", "-q", "-d", "-c"], input=raw,
                             capture_output=True, check=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        for m in tar:
            if m.isfile():
                out[m.name] = tar.extractfile(m).read()
    return out


# ---------------------------------------------------------------------------
# BagIt 1.0

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
CSV_COLUMNS = ["path", "native_id", "title", "case_native_id", "function_code",
               "created", "record_type", "retention_years", "trigger",
               "publicity", "person_ssn"]


def manifest_path(p):
    """RFC 8493: CR, LF and % percent-encoded in manifest paths."""
    return p.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class Bag:
    """A BagIt 1.0 bag: payload under data/, manifests, bag-info.txt."""

    def __init__(self, external_id="PALKKA-2019-001",
                 organisation="Helsingin kaupunki, Palvelukeskus",
                 top="bag", payload=None, rows=None, csv_style="comma"):
        self.external_id = external_id
        self.organisation = organisation
        self.top = top                  # the bag's folder, or None (root)
        self.payload = dict(payload or {})  # {path under data/: bytes}
        self.rows = rows                # metadata.csv rows (dicts) or None
        self.csv_style = csv_style      # comma | excel (BOM, ';', CRLF)
        self.bagit_txt = BAGIT_TXT
        self.oxum = None                # override
        self.manifest_edits = []        # functions str -> str
        self.extra_tags = {}            # e.g. {"fetch.txt": b"..."}
        self.extra_payload = {}         # files not in the manifest
        self.bagging_date = "2024-03-15"

    def metadata_csv(self):
        out = io.StringIO()
        delim = ";" if self.csv_style == "excel" else ","
        w = csv.writer(out, delimiter=delim,
                       lineterminator="\r\n" if self.csv_style == "excel"
                       else "\n")
        w.writerow(CSV_COLUMNS)
        for row in self.rows:
            w.writerow([row.get(c, "") for c in CSV_COLUMNS])
        data = out.getvalue().encode("utf-8")
        return (b"\xef\xbb\xbf" + data) if self.csv_style == "excel" else data

    def payload_files(self):
        files = dict(self.payload)
        if self.rows is not None:
            files["metadata/metadata.csv"] = self.metadata_csv()
        return files

    def files(self):
        """{path in the bag: bytes}."""
        payload = self.payload_files()
        manifest = "".join(
            f"{hashlib.sha256(d).hexdigest()}  {manifest_path('data/' + p)}\n"
            for p, d in sorted(payload.items()))
        for edit in self.manifest_edits:
            manifest = edit(manifest)
        oxum = self.oxum or \
            f"{sum(len(d) for d in payload.values())}.{len(payload)}"
        info = (f"Source-Organization: {self.organisation}\n"
                f"External-Identifier: {self.external_id}\n"
                f"Bagging-Date: {self.bagging_date}\n"
                f"Payload-Oxum: {oxum}\n"
                f"Bag-Software-Agent: sailo pkggen.py\n").encode()
        tags = {"bagit.txt": self.bagit_txt, "bag-info.txt": info,
                "manifest-sha256.txt": manifest.encode()}
        tags.update(self.extra_tags)
        tagmanifest = "".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n"
                              for p, d in sorted(tags.items())).encode()
        files = dict(tags)
        files["tagmanifest-sha256.txt"] = tagmanifest
        for p, d in payload.items():
            files["data/" + p] = d
        for p, d in self.extra_payload.items():
            files["data/" + p] = d
        return files

    def entries(self):
        return file_entries(self.files(), self.top)

    def archive(self, kind="tar.gz", out=None):
        return write_archive(self.entries(), kind, out)


def bagit_package(records=4, kb=4, seed=1, top="bag", with_csv=True,
                  csv_style="comma", ssns=True):
    """A payroll migration bag: data/content/*.pdf and, with_csv, a
    data/metadata/metadata.csv describing each file."""
    rng = random.Random(seed)
    codes = leaf_codes("01 01") or leaf_codes("01") or leaf_codes()
    bag = Bag(external_id=f"PALKKA-{seed}-{rng.randrange(10**6)}", top=top,
              csv_style=csv_style)
    rows = []
    for i in range(records):
        year = 2015 + i % 5
        name = f"content/palkkakortti {year} nro {i + 1} – Äänekoski.pdf" \
            if i % 2 else f"content/palkka-{year}-{i + 1}.pdf"
        title = f"Palkkakortti {year}, työntekijä {i + 1}"
        bag.payload[name] = pdf_bytes(title, kb * 1024, seed * 1000 + i)
        code = codes[i % len(codes)]
        rows.append({
            "path": name, "native_id": f"{bag.external_id}-R{i + 1}",
            "title": title,
            "case_native_id": f"{bag.external_id}-H{i // 2 + 1}",
            "function_code": write_code(code, CODE_STYLES[i % 3]),
            "created": f"{year}-12-31", "record_type": "palkkakortti",
            "retention_years": ["50", "-1", "10"][i % 3],
            "trigger": "Palvelussuhteen päättyminen",
            "publicity": "Salassa pidettävä" if i % 2 else "Julkinen",
            "person_ssn": random_hetu(rng) if ssns else "",
        })
    bag.rows = rows if with_csv else None
    if not with_csv:
        bag.payload["content/README.txt"] = \
            "Palkkakortit 2015–2019, Äänekoski\n".encode()
    return bag


def bag_check(files, prefix=""):
    """Re-checks a bag given as {path: bytes} (prefix: its folder + "/"):
    returns a list of problems, [] when valid.  Used by the generator's own
    tests, independent of Sailo."""
    problems = []
    get = lambda p: files.get(prefix + p)
    if get("bagit.txt") != BAGIT_TXT:
        problems.append("bagit.txt")
    payload = {p[len(prefix) + 5:]: d for p, d in files.items()
               if p.startswith(prefix + "data/")}
    man = (get("manifest-sha256.txt") or b"").decode()
    listed = {}
    for line in man.splitlines():
        h, _, p = line.partition("  ")
        listed[p] = h
    for p, d in payload.items():
        if "data/" + p not in listed:
            problems.append(f"unlisted {p}")
        elif listed["data/" + p] != hashlib.sha256(d).hexdigest():
            problems.append(f"checksum {p}")
    for p in listed:
        if p[5:] not in payload:
            problems.append(f"missing {p}")
    info = dict(l.split(": ", 1) for l in
                (get("bag-info.txt") or b"").decode().splitlines())
    oxum = f"{sum(len(d) for d in payload.values())}.{len(payload)}"
    if info.get("Payload-Oxum") != oxum:
        problems.append("oxum")
    tm = (get("tagmanifest-sha256.txt") or b"").decode()
    tl = {}
    for line in tm.splitlines():
        h, _, p = line.partition("  ")
        tl[p] = h
    for t in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt"):
        if tl.get(t) != hashlib.sha256(get(t) or b"").hexdigest():
            problems.append(f"tagmanifest {t}")
    if get("fetch.txt") is not None:
        problems.append("fetch.txt")
    return problems


# ---------------------------------------------------------------------------
# Scale: N case files × M records with ~S KB files, streamed to disk

def generate_scale(out, kind=None, casefiles=10000, records=10, kb=20,
                   version="2019", seed=1, top=None):
    """Writes a SÄHKE2 package of casefiles × records (one ~kb KB PDF per
    record) to the path out without holding it in memory: content files are
    streamed into the archive and the metadata, spooled to a temporary file
    beside out, is added last.  Returns a summary dict."""
    kind = kind or container_of(out)
    rng = random.Random(seed)
    codes = leaf_codes()
    prefix = "narc" if version == "2019" else ""
    meta_fd, meta_path = tempfile.mkstemp(
        prefix=".pkggen-", suffix=".xml", dir=os.path.dirname(os.path.abspath(out)))
    os.close(meta_fd)
    counts = {"casefiles": casefiles, "records": casefiles * records,
              "files": 0, "content_bytes": 0}
    algorithms = ["sha256", "SHA-256", "MD5"]
    fill = random.Random(seed + 1)

    def content(meta):
        meta.write(metadata_head(version, prefix, f"SIIRTO-SCALE-{seed}",
                                 f"Skaalaustesti {casefiles} × {records}",
                                 "Helsingin kaupunki"))
        for c in range(casefiles):
            code = codes[(c * 13 + seed) % len(codes)]
            cf = CaseFile(f"HEL 2020-{c:07d}", f"Asia {c + 1}: lupakäsittely",
                          code, created=f"20{10 + c % 12}-0{1 + c % 9}-15",
                          code_style=CODE_STYLES[c % 3])
            for r in range(records):
                n = c * records + r
                secret = n % 7 == 0
                rec = Record(f"{cf.native_id}-{r + 1}",
                             f"Päätös {r + 1} asiassa {c + 1}", code,
                             created=cf.created,
                             code_style=CODE_STYLES[(c + r) % 3],
                             publicity="Salassa pidettävä" if secret
                             else "Julkinen",
                             security_reason="JulkL 24 § 1 mom 32 k"
                             if secret else None,
                             ssns=[random_hetu(rng)] if secret else [],
                             retention=[10, 50, -1][n % 3])
                # incompressible like a real PDF's streams, reproducible
                body = pdf_bytes(rec.title, 1024, 0)
                filler = fill.randbytes(max(0, kb * 1024 - len(body) - 40))
                data = body[:-6] + b"%" + filler + b"\n%%EOF\n"
                path = f"liitteet/{c // 1000:02d}/{cf.native_id} päätös {r + 1}.pdf"
                rec.docs.append(Doc(path, data, f"{rec.native_id}-d",
                                    algorithm=algorithms[n % 3],
                                    xml_path="./" + path.rsplit("/", 1)[0] + "/"))
                cf.records.append(rec)
                counts["files"] += 1
                counts["content_bytes"] += len(data)
                yield Entry(path, data)
            buf = io.StringIO()
            write_casefile(buf, cf, prefix)
            meta.write(_indent(buf.getvalue(), 1))
        meta.write(metadata_tail(prefix))

    def entries():
        with open(meta_path, "w", encoding="utf-8") as meta:
            yield from content(meta)
        size = os.path.getsize(meta_path)

        def chunks():
            with open(meta_path, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        return
                    yield b
        yield Entry(METADATA_NAME, size=size, chunks=chunks)

    def placed():
        for e in entries():
            yield e.under(top)

    try:
        write_archive(placed(), kind, out)
        counts["metadata_bytes"] = os.path.getsize(meta_path)
    finally:
        if os.path.exists(meta_path):
            os.remove(meta_path)
    counts.update(path=out, container=kind, bytes=os.path.getsize(out),
                  sha256=file_sha256(out))
    return counts


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# Broken and hostile packages

class Hostile(NamedTuple):
    data: bytes             # the package
    code: str               # the error finding it must give
    content_type: str
    path: Optional[str] = None      # the finding's path ends with this
    settings: dict = {}             # start sailo with these (SAILO_*)
    forbid: tuple = ()              # text that never appears in the report
    line: object = None             # int, or (first, last) range
    message: Optional[str] = None   # text the message contains


HOSTILE = {}


def hostile(fn):
    HOSTILE[fn.__name__] = fn
    return fn


def _base(version="2019", **kw):
    kw.setdefault("casefiles", 2)
    kw.setdefault("records", 2)
    kw.setdefault("kb", 3)
    kw.setdefault("seed", 4242)
    return sahke2_package(version, **kw)


def _pack(pkg, kind="tar.gz", **kw):
    return Hostile(pkg.archive(kind), content_type=CONTENT_TYPES[kind], **kw)


def _first_doc(pkg):
    return pkg.casefiles[0].records[0].docs[0]


@hostile
def checksum_mismatch():
    pkg = _base()
    d = _first_doc(pkg)
    d.algorithm, d.hash_value = "sha256", hashlib.sha256(b"other").hexdigest()
    return _pack(pkg, code="CHECKSUM_MISMATCH", path=d.path)


@hostile
def checksum_mismatch_md5():
    pkg = _base("2011")
    d = pkg.casefiles[1].records[1].docs[0]
    d.algorithm, d.hash_value = "MD5", hashlib.md5(b"other").hexdigest()
    return _pack(pkg, "zip", code="CHECKSUM_MISMATCH", path=d.path)


@hostile
def file_missing():
    pkg = _base()
    d = _first_doc(pkg)
    files = pkg.files()
    del files[d.path]
    return Hostile(write_archive(file_entries(files), "tar"),
                   "FILE_MISSING", CONTENT_TYPES["tar"], path=d.path)


@hostile
def file_unlisted():
    pkg = _base()
    pkg.extra["liitteet/Ylimääräinen muistio.pdf"] = pdf_bytes("extra", 2000, 9)
    return _pack(pkg, code="FILE_UNLISTED",
                 path="liitteet/Ylimääräinen muistio.pdf")


def _casefile_lines(text, native_id):
    """The first and last line of the CaseFile with this NativeId."""
    lines = text.splitlines()
    at = next(i for i, l in enumerate(lines) if f">{native_id}<" in l)
    first = next(i for i in range(at, -1, -1)
                 if re.search(r"<(\w+:)?CaseFile>", lines[i]))
    last = next(i for i in range(at, len(lines))
                if re.search(r"</(\w+:)?CaseFile>", lines[i]))
    return first + 1, last + 1


@hostile
def schema_missing_title():
    """The second of three case files has no Title (both schemas require
    it); the finding's line lies within that case file."""
    pkg = _base(casefiles=3)
    cf = pkg.casefiles[1]
    cf.omit_title = True
    lines = _casefile_lines(pkg.metadata().decode(), cf.native_id)
    return _pack(pkg, code="SAHKE2_SCHEMA", path=METADATA_NAME, line=lines)


_LOL = ('<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        ' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n' +
        "".join(f' <!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">\n'
                for i in range(2, 10)) + "]>\n")


@hostile
def doctype_billion_laughs():
    pkg = _base()
    pkg.doctype = _LOL
    pkg.xml_edits.append(lambda t: t.replace(
        f">{pkg.transfer_id}<", ">&lol9;<", 1))
    return _pack(pkg, code="XML_DOCTYPE", path=METADATA_NAME,
                 forbid=("lollollol",))


@hostile
def xxe_passwd():
    pkg = _base()
    pkg.doctype = ('<!DOCTYPE Metadata [\n'
                   ' <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n')
    title = pkg.casefiles[0].title
    pkg.xml_edits.append(lambda t: t.replace(f">{esc(title)}<", ">&xxe;<", 1))
    return _pack(pkg, code="XML_DOCTYPE", path=METADATA_NAME,
                 forbid=("root:", "/bin/sh", "nologin"))


def _document_lines(text, native_id):
    """The first and last line of the Document with this NativeId."""
    lines = text.splitlines()
    at = next(i for i, l in enumerate(lines) if f">{native_id}<" in l
              and re.search(r"<(\w+:)?NativeId>", l))
    first = next(i for i in range(at, -1, -1)
                 if re.search(r"<(\w+:)?Document>", lines[i]))
    last = next(i for i in range(at, len(lines))
                if re.search(r"</(\w+:)?Document>", lines[i]))
    return first + 1, last + 1


@hostile
def hash_algorithm_crc32():
    """HashAlgorithm CRC32: a finding on the metadata, at the Document."""
    pkg = _base()
    d = _first_doc(pkg)
    d.algorithm, d.hash_value = "CRC32", "%08x" % zlib.crc32(d.data)
    return _pack(pkg, code="HASH_ALGORITHM", path=METADATA_NAME,
                 line=_document_lines(pkg.metadata().decode(), d.native_id))


@hostile
def hash_value_not_hex():
    """A HashValue that is not hex: a finding on the metadata, at the
    Document."""
    pkg = _base()
    d = _first_doc(pkg)
    d.algorithm = "sha256"
    d.hash_value = "zz" + d.sha256[2:]
    return _pack(pkg, code="HASH_VALUE", path=METADATA_NAME,
                 line=_document_lines(pkg.metadata().decode(), d.native_id))


@hostile
def retention_negative():
    pkg = _base()
    pkg.casefiles[0].records[1].retention = -5
    return _pack(pkg, code="RETENTION_PERIOD", path=METADATA_NAME)


@hostile
def xml_malformed():
    pkg = _base()
    nid = pkg.casefiles[1].native_id
    p = "narc:" if pkg.prefix else ""
    pkg.xml_edits.append(lambda t: t.replace(
        f"<{p}NativeId>{nid}</{p}NativeId>",
        f"<{p}NativeId>{nid}</{p}NativeIdd>", 1))
    return _pack(pkg, code="XML_MALFORMED", path=METADATA_NAME)


@hostile
def foreign_namespace():
    """A Metadata root in a namespace that is not SÄHKE2, and no bagit.txt:
    no format matches."""
    pkg = _base()
    pkg.namespace = "http://www.arkisto.fi/skeemat/Sahke3/2030/01/01"
    return _pack(pkg, code="UNKNOWN_FORMAT")


def _with_entries(extra, kind="tar", version="2019", drop=()):
    pkg = _base(version)
    entries = [e for e in pkg.entries() if e.name not in drop] + extra
    return write_archive(entries, kind), pkg


@hostile
def tar_dotdot():
    data, _ = _with_entries([Entry("liitteet/../../evil.pdf",
                                   pdf_bytes("evil", 1500, 3))])
    return Hostile(data, "UNSAFE_PATH", CONTENT_TYPES["tar"],
                   path="liitteet/../../evil.pdf")


@hostile
def tar_absolute():
    data, _ = _with_entries([Entry("/etc/x", b"owned\n")], "tar.gz")
    return Hostile(data, "UNSAFE_PATH", CONTENT_TYPES["tar.gz"], path="/etc/x")


@hostile
def zip_backslash_dotdot():
    """A zip made on MS-DOS with the entry ..\\..\\x (libarchive reads the
    backslashes as separators, so the finding names ../../x)."""
    data, _ = _with_entries([Entry("..\\..\\x", b"owned\n")], "zip")
    return Hostile(data, "UNSAFE_PATH", CONTENT_TYPES["zip"], path="../../x")


@hostile
def tar_symlink():
    data, _ = _with_entries([Entry("liitteet/salasanat.pdf", kind="symlink",
                                   link="/etc/passwd")])
    return Hostile(data, "UNSAFE_LINK", CONTENT_TYPES["tar"],
                   path="liitteet/salasanat.pdf", forbid=("root:",))


@hostile
def zip_symlink():
    data, _ = _with_entries([Entry("liitteet/linkki.pdf", kind="symlink",
                                   link="../../../../etc/passwd")], "zip")
    return Hostile(data, "UNSAFE_LINK", CONTENT_TYPES["zip"],
                   path="liitteet/linkki.pdf", forbid=("root:",))


@hostile
def tar_hardlink():
    pkg = _base()
    d = _first_doc(pkg)
    data = write_archive(pkg.entries() + [
        Entry("liitteet/kopio.pdf", kind="hardlink", link=d.path)], "tar")
    return Hostile(data, "UNSAFE_LINK", CONTENT_TYPES["tar"],
                   path="liitteet/kopio.pdf")


@hostile
def tar_fifo():
    data, _ = _with_entries([Entry("liitteet/putki", kind="fifo")])
    return Hostile(data, "UNSAFE_TYPE", CONTENT_TYPES["tar"],
                   path="liitteet/putki")


@hostile
def tar_chardev():
    data, _ = _with_entries([Entry("null", kind="chardev")], "tar.zst")
    return Hostile(data, "UNSAFE_TYPE", CONTENT_TYPES["tar.zst"], path="null")


def _named_pkg(name):
    pkg = _base()
    d = _first_doc(pkg)
    d.path = name
    d.xml_path = "./"
    return pkg, d


@hostile
def duplicate_case():
    pkg, d = _named_pkg("Päätös.pdf")
    data = write_archive(pkg.entries() + [
        Entry("PÄÄTÖS.pdf", pdf_bytes("toinen", 1500, 5))], "tar")
    return Hostile(data, "DUPLICATE_NAME", CONTENT_TYPES["tar"],
                   path="PÄÄTÖS.pdf")


@hostile
def duplicate_nfc_nfd():
    nfc = unicodedata.normalize("NFC", "Päätös.pdf")
    nfd = unicodedata.normalize("NFD", "Päätös.pdf")
    assert nfc != nfd
    pkg, d = _named_pkg(nfc)
    data = write_archive(pkg.entries() + [
        Entry(nfd, pdf_bytes("toinen", 1500, 6))], "zip")
    return Hostile(data, "DUPLICATE_NAME", CONTENT_TYPES["zip"], path=nfd)


BOMB_BYTES = 100 * 1024 * 1024
BOMB_SETTINGS = {"ingest_max_ratio": 100}


def _zeros():
    block = bytes(1 << 20)
    for _ in range(BOMB_BYTES // len(block)):
        yield block


def _bomb_entries():
    pkg = _base()
    return pkg.entries() + [Entry("liitteet/nollat.pdf", size=BOMB_BYTES,
                                  chunks=_zeros)]


@hostile
def gzip_bomb():
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9,
                       mtime=MTIME) as g:
        write_tar(_bomb_entries(), g)
    return Hostile(buf.getvalue(), "ARCHIVE_BOMB", CONTENT_TYPES["tar.gz"],
                   path="liitteet/nollat.pdf", settings=dict(BOMB_SETTINGS))


@hostile
def zip_bomb():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for e in _bomb_entries():
            if e.kind == "dir":
                continue
            zi = zipfile.ZipInfo(e.name, time.localtime(MTIME)[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            with z.open(zi, "w") as w:
                for chunk in e.iter_chunks():
                    w.write(chunk)
    return Hostile(buf.getvalue(), "ARCHIVE_BOMB", CONTENT_TYPES["zip"],
                   path="liitteet/nollat.pdf", settings=dict(BOMB_SETTINGS))


@hostile
def zstd_bomb():
    with tempfile.TemporaryFile() as f:
        p = subprocess.Popen(["zstd", "-q", "-c", "-19"],
                             stdin=subprocess.PIPE, stdout=f)
        write_tar(_bomb_entries(), p.stdin)
        p.stdin.close()
        assert p.wait() == 0
        f.seek(0)
        data = f.read()
    return Hostile(data, "ARCHIVE_BOMB", CONTENT_TYPES["tar.zst"],
                   path="liitteet/nollat.pdf", settings=dict(BOMB_SETTINGS))


@hostile
def too_many_entries():
    """A valid package of 2 × 8 records (more than 16 entries) while
    ingest.max_entries is 10."""
    pkg = _base(casefiles=2, records=8, kb=1)
    return _pack(pkg, "tar", code="UNPACK_LIMIT",
                 settings={"ingest_max_entries": 10})


@hostile
def truncated_tar_gz():
    pkg = _base(kb=40)
    data = pkg.archive("tar.gz")
    return Hostile(data[:len(data) * 6 // 10], "ARCHIVE_CORRUPT",
                   CONTENT_TYPES["tar.gz"])


@hostile
def not_an_archive():
    """Text, sent as a zip: libarchive recognises no format
    (unpack.c: ARCHIVE_FORMAT)."""
    data = ("Tämä ei ole siirtopaketti vaan tavallinen tekstitiedosto.\n"
            * 200).encode()
    return Hostile(data, "ARCHIVE_FORMAT", CONTENT_TYPES["zip"])


@hostile
def empty_tar():
    """A well-formed tar with no entries: unpacking finds nothing wrong, and
    no format can be identified."""
    return Hostile(bytes(10240), "UNKNOWN_FORMAT", CONTENT_TYPES["tar"])


def _bag(**kw):
    kw.setdefault("records", 3)
    kw.setdefault("kb", 3)
    kw.setdefault("seed", 77)
    return bagit_package(**kw)


def _pack_bag(bag, kind="tar.gz", **kw):
    return Hostile(bag.archive(kind), content_type=CONTENT_TYPES[kind], **kw)


@hostile
def bagit_bad_oxum():
    bag = _bag()
    real = sum(len(d) for d in bag.payload_files().values())
    bag.oxum = f"{real + 1}.{len(bag.payload_files())}"
    return _pack_bag(bag, code="BAGIT_OXUM", path="bag-info.txt")


@hostile
def bagit_fetch():
    bag = _bag()
    bag.extra_tags["fetch.txt"] = \
        b"https://example.org/palkka.pdf 1234 data/content/palkka.pdf\n"
    return _pack_bag(bag, "zip", code="BAGIT_FETCH", path="fetch.txt")


@hostile
def bagit_manifest_wrong():
    bag = _bag()
    victim = sorted(bag.payload)[0]
    good = hashlib.sha256(bag.payload[victim]).hexdigest()
    bad = hashlib.sha256(b"toinen").hexdigest()
    bag.manifest_edits.append(lambda m: m.replace(good, bad, 1))
    return _pack_bag(bag, "tar", code="CHECKSUM_MISMATCH",
                     path="data/" + victim)


@hostile
def bagit_missing_payload():
    bag = _bag()
    victim = sorted(bag.payload)[0]
    files = bag.files()
    del files["data/" + victim]
    return Hostile(write_archive(file_entries(files, bag.top), "tar.gz"),
                   "FILE_MISSING", CONTENT_TYPES["tar.gz"],
                   path="data/" + victim)


@hostile
def bagit_unlisted_payload():
    bag = _bag(top=None)
    bag.extra_payload["content/salainen lisäys.pdf"] = pdf_bytes("x", 1200, 8)
    return _pack_bag(bag, "zip", code="FILE_UNLISTED",
                     path="data/content/salainen lisäys.pdf")


@hostile
def bagit_declaration_bom():
    bag = _bag()
    bag.bagit_txt = b"\xef\xbb\xbf" + BAGIT_TXT
    return _pack_bag(bag, code="BAGIT_DECLARATION", path="bagit.txt")


@hostile
def csv_bad_date():
    """metadata.csv (Excel style: BOM, ';', CRLF) whose third data row, on
    line 4, has the date 2019-02-30."""
    bag = _bag(records=4, csv_style="excel")
    bag.rows[2]["created"] = "2019-02-30"
    return _pack_bag(bag, code="CSV_VALUE", path="metadata.csv", line=4,
                     message="4")


@hostile
def metadata_too_large():
    """A valid package whose metadata (~60 KB) is over
    ingest.max_metadata_bytes."""
    pkg = _base(casefiles=6, records=4, kb=1)
    assert len(pkg.metadata()) > 40000
    return _pack(pkg, code="METADATA_TOO_LARGE",
                 settings={"ingest_max_metadata_bytes": 16384})


# ---------------------------------------------------------------------------
# Command line

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Writes a transfer package for Sailo.",
        epilog="KIND: sahke2, bagit, hostile:NAME, or list (the hostile "
               "variants).  The container comes from OUT's ending (.tar, "
               ".tar.gz, .tar.zst, .zip) unless --container is given.  "
               "sahke2 with --casefiles 10000 --records 10 --kb 20 is the "
               "100,000-record benchmark package, streamed to disk.")
    ap.add_argument("kind")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--container", choices=CONTAINERS)
    ap.add_argument("--casefiles", type=int, default=2,
                    help="SÄHKE2 case files (default 2)")
    ap.add_argument("--records", type=int, default=3,
                    help="records per case file (bagit: in the bag)")
    ap.add_argument("--kb", type=int, default=20, help="~KB per file")
    ap.add_argument("--version", choices=sorted(NAMESPACES), default="2019",
                    help="SÄHKE2 namespace")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--top", help="put everything under this folder")
    ap.add_argument("--no-csv", action="store_true",
                    help="bagit: no data/metadata/metadata.csv")
    ap.add_argument("--excel", action="store_true",
                    help="bagit: metadata.csv with a BOM, ';' and CRLF")
    a = ap.parse_args(argv)
    if a.kind == "list":
        for name in sorted(HOSTILE):
            doc = (HOSTILE[name].__doc__ or "").strip().split("\n")[0]
            print(name, doc, sep="\t")
        return 0
    if not a.out:
        ap.error("OUT is required")
    if a.kind.startswith("hostile:"):
        name = a.kind.split(":", 1)[1]
        if name not in HOSTILE:
            ap.error(f"no hostile variant {name} (see: pkggen.py list)")
        v = HOSTILE[name]()
        with open(a.out, "wb") as f:
            f.write(v.data)
        summary = {"path": a.out, "bytes": len(v.data), "code": v.code,
                   "content_type": v.content_type, "finding_path": v.path,
                   "settings": v.settings}
    elif a.kind == "sahke2":
        summary = generate_scale(a.out, a.container or container_of(a.out),
                                 casefiles=a.casefiles, records=a.records,
                                 kb=a.kb, version=a.version, seed=a.seed,
                                 top=a.top)
    elif a.kind == "bagit":
        kind = a.container or container_of(a.out)
        bag = bagit_package(records=a.records, kb=a.kb, seed=a.seed,
                            top=a.top, with_csv=not a.no_csv,
                            csv_style="excel" if a.excel else "comma")
        bag.archive(kind, a.out)
        summary = {"path": a.out, "container": kind,
                   "bytes": os.path.getsize(a.out),
                   "sha256": file_sha256(a.out), "records": a.records,
                   "external_id": bag.external_id}
    else:
        ap.error(f"unknown KIND {a.kind}")
    summary["content_type"] = summary.get("content_type") or \
        CONTENT_TYPES[summary.get("container", "tar")]
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
