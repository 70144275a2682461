#!/usr/bin/python3
"""demo_plan — a plausible JHS 191 information-management plan for demos and
tests.

Reads a function classification (CSV lines `code,title`, codes such as `00`,
`00 00`, `00 00 00`; by default the City of Helsinki's list in
tools/data/helsinki-functions.csv) and writes a JHS 191 plan
(tiedonohjaussuunnitelma, namespace
http://skeemat.jhs-suositukset.fi/tos/2015/01/15) that validates against
formats/schemas/jhs191/Skeema_TOS_kooste.xsd:

    Tos
      TosTiedot                       title, contact, version, state
      Luokka  (one per code)          Luokitustunnus = the code, Nimeke
        KasittelyprosessiTiedot       publicity, retention (the defaults)
          Toimenpidetiedot  (1-2)     a phase: vireilletulo, päätöksenteko…
            Asiakirjatieto  (1-2)     a record type: Hakemus, Päätös…

The classification is real; publicity and retention are drawn at random
(random.Random(seed)) and are NOT Helsinki's.  The same CSV and seed give
the same bytes.

    python3 tools/demo_plan.py > plan.xml
    python3 tools/demo_plan.py --seed 7 -o plan.xml
    xmllint --noout --nonet \\
        --schema formats/schemas/jhs191/Skeema_TOS_kooste.xsd plan.xml
"""
import argparse
import csv
import dataclasses
import os
import random
import sys
import uuid
import xml.etree.ElementTree as ET

NS = "http://skeemat.jhs-suositukset.fi/tos/2015/01/15"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A copy kept in the repository (tools/data/ORIGIN.md), so that `make run`
# and the tests work on any clone.
DEFAULT_CSV = os.path.join(ROOT, "tools", "data", "helsinki-functions.csv")

# The schema's recommended retention periods in years; -1 is permanent.
# The weights lean on 10 years and permanent, as real plans do.
PERMANENT = -1
RETENTION_YEARS = (0, 3, 6, 10, 20, 50, 120, PERMANENT)
RETENTION_WEIGHTS = (2, 2, 2, 5, 1, 2, 1, 4)

# Legal bases that fit each period.  The schema says permanent retention
# rests on a decision of the National Archives (Arkistolaitos).
BOOKKEEPING_ACT = "Kirjanpitolaki 2:10 §"
RETENTION_BASES = {
    0: ("Organisaation oma päätös", "Tiedonhallintalaki 21 §"),
    3: ("Organisaation oma päätös", "Tiedonhallintalaki 21 §"),
    6: (BOOKKEEPING_ACT, "Organisaation oma päätös"),
    10: (BOOKKEEPING_ACT, "Tiedonhallintalaki 21 §"),
    20: ("Tiedonhallintalaki 21 §", "Organisaation oma päätös"),
    50: ("Tiedonhallintalaki 21 §", "Organisaation oma päätös"),
    120: ("Tiedonhallintalaki 21 §",),
    PERMANENT: ("Arkistolaitoksen päätös KA/13089/07.01.01.03.01/2008",
                "KA/13089/07.01.01.03.01/2008"),
}

# When the retention period starts (SailytysajanLaskentaperusteTeksti).
TRIGGERS = ("Asian lopullinen ratkaisu", "Asiakirjan päivämäärä",
            "Palvelussuhteen päättyminen", "Henkilön kuolema",
            "Tilikauden päättyminen", "Projektin päättyminen",
            "Säilytysjärjestelmään siirto")
FISCAL_YEAR_END = "Tilikauden päättyminen"

# Phases (the schema's ToimenpideluokkaTeksti values) in the order a case
# goes through them, with record types (AsiakirjaluokkaTeksti) each makes.
PHASES = (
    ("vireilletulo", ("Hakemus", "Ilmoitus", "Aloite")),
    ("valmistelu", ("Lausunto", "Selvitys", "Muistio")),
    ("päätöksenteko", ("Päätös", "Pöytäkirja")),
    ("toimeenpano", ("Sopimus", "Lasku", "Tiedote")),
)

# Publicity codes (JulkisuusluokkaKoodi) and personal-data codes
# (HenkilotietoluonneKoodi), as the schema enumerates them.
PUBLIC, PARTLY_SECRET, SECRET = 1, 2, 3
NO_PERSONAL_DATA, PERSONAL_DATA, SENSITIVE_PERSONAL_DATA = 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Secrecy:
    """Why and how long a record is secret: the Publicity Act section with
    its reason, the years (the schema recommends 25, 50 or 100) and the
    security codes where the reason is security itself."""
    basis: str
    years: int
    trigger: str
    personal_data: int
    protection_level: int = None    # SuojaustasoKoodi: 4 is ST IV
    security_class: int = None      # TurvallisuusluokkaKoodi: 4 is
                                    # KÄYTTÖ RAJOITETTU


SECRECY_GROUNDS = (
    Secrecy("JulkL (621/1999) 24.1 § 7 kohta (turvallisuusjärjestelyt)",
            25, "Asiakirjan päivämäärä", NO_PERSONAL_DATA,
            protection_level=4, security_class=4),
    Secrecy("JulkL (621/1999) 24.1 § 20 kohta (liike- tai ammattisalaisuus)",
            25, "Asiakirjan päivämäärä", NO_PERSONAL_DATA),
    Secrecy("JulkL (621/1999) 24.1 § 25 kohta (sosiaalihuollon asiakas)",
            100, "Asian ratkaisu", SENSITIVE_PERSONAL_DATA),
    Secrecy("JulkL (621/1999) 24.1 § 32 kohta (yksityiselämä)",
            50, "Asian ratkaisu", SENSITIVE_PERSONAL_DATA),
)


@dataclasses.dataclass(frozen=True)
class Publicity:
    """Kayttorajoitustiedot: secrecy is None for a public process."""
    code: int
    personal_data: int
    secrecy: Secrecy = None


@dataclasses.dataclass(frozen=True)
class Retention:
    """Sailytysaikatiedot: trigger is None for permanent retention, where
    a start date means nothing (the schema makes it optional)."""
    years: int
    basis: str
    trigger: str = None


@dataclasses.dataclass
class RecordType:
    """An Asiakirjatieto.  retention None: the record type inherits its
    process's; the XML still carries a copy (see record_xml)."""
    name: str
    retention: Retention = None


@dataclasses.dataclass
class Action:
    """A Toimenpidetiedot: a phase and the record types it produces."""
    phase: str
    description: str = None
    records: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Process:
    """A KasittelyprosessiTiedot: the defaults its record types inherit."""
    publicity: Publicity
    retention: Retention
    actions: list


# --- reading the classification ------------------------------------------

def read_classes(path):
    """[(code, title)] in file order.  The csv module handles titles quoted
    because they hold commas, and the file's CRLF line ends."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [(row[0].strip(), row[1].strip())
                for row in csv.reader(f) if row]


def leaf_codes(codes):
    """The most specific codes: those no other code extends (`00 01 04` is
    not a leaf when `00 01 04 00` exists)."""
    parents = {code.rsplit(" ", 1)[0] for code in codes if " " in code}
    return {code for code in codes if code not in parents}


# --- drawing a plan ---------------------------------------------------------
# Every draw goes through one random.Random, in file order, so that a seed
# gives one plan.

def draw_publicity(rng):
    """Mostly public; about one process in five partly or wholly secret."""
    roll = rng.random()
    if roll < 0.8:
        personal = rng.choice((NO_PERSONAL_DATA, PERSONAL_DATA))
        return Publicity(PUBLIC, personal)
    secrecy = rng.choice(SECRECY_GROUNDS)
    code = PARTLY_SECRET if roll < 0.9 else SECRET
    return Publicity(code, secrecy.personal_data, secrecy)


def draw_retention(rng, unlike=None):
    """A period, a basis that fits it and a trigger.  unlike: a period to
    avoid, so that a record type's own retention differs from its
    process's."""
    choices = [(years, weight)
               for years, weight in zip(RETENTION_YEARS, RETENTION_WEIGHTS)
               if years != unlike]
    years = rng.choices([c[0] for c in choices],
                        weights=[c[1] for c in choices])[0]
    basis = rng.choice(RETENTION_BASES[years])
    if years == PERMANENT:
        trigger = None
    elif basis == BOOKKEEPING_ACT:
        trigger = FISCAL_YEAR_END     # the act counts from the year's end
    else:
        trigger = rng.choice(TRIGGERS)
    return Retention(years, basis, trigger)


def draw_actions(rng, process_retention):
    """One or two phases in case order, each with one or two record types;
    about one record type in five gets a retention of its own."""
    phases = sorted(rng.sample(range(len(PHASES)), rng.choice((1, 2))))
    actions = []
    for i in phases:
        phase, record_names = PHASES[i]
        action = Action(phase)
        for name in rng.sample(record_names, rng.choice((1, 2))):
            own = None
            if rng.random() < 0.2:
                own = draw_retention(rng, unlike=process_retention.years)
            action.records.append(RecordType(name, own))
        actions.append(action)
    return actions


def draw_process(rng):
    publicity = draw_publicity(rng)
    retention = draw_retention(rng)
    return Process(publicity, retention, draw_actions(rng, retention))


def heading_process():
    """The process of a class that only groups others (`00`, `00 00`).  The
    schema requires a KasittelyprosessiTiedot, with retention and one
    Toimenpidetiedot, in every Luokka; records are filed in the leaf
    classes, so this one is fixed, has no record types and draws nothing
    from the random generator."""
    return Process(
        Publicity(PUBLIC, NO_PERSONAL_DATA),
        Retention(10, "Organisaation oma päätös", "Asian lopullinen ratkaisu"),
        [Action("ohjaus", "Tehtäväryhmän ohjaus; asiakirjat kirjataan "
                          "alaluokkiin.")])


# --- writing XML ------------------------------------------------------------

def tos(name):
    return f"{{{NS}}}{name}"


def plan_id(*path):
    """A UUID named by the element's place in the plan (code, phase and
    record index), not by the seed: ids are unique, the same on every run,
    and a class keeps its id when the plan is redrawn, as it would in a new
    version of a real plan.  The schema leaves the format open (xs:string);
    real exports use UUIDs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL,
                          "urn:sailo:demo-plan:" + "/".join(path)))


def sub(parent, name, text=None, id_path=None):
    """A tos: child of parent, with text and a tos:id when given."""
    child = ET.SubElement(parent, tos(name))
    if id_path is not None:
        child.set(tos("id"), plan_id(*id_path))
    if text is not None:
        child.text = str(text)
    return child


def title_xml(parent, text):
    """Nimeke in the real exports' form: NimekeKielella with a language
    code rather than a bare NimekeTeksti (the schema allows both)."""
    in_finnish = sub(sub(parent, "Nimeke"), "NimekeKielella")
    in_finnish.set(tos("kieliKoodi"), "fi")
    sub(in_finnish, "NimekeTeksti", text)


def publicity_xml(parent, publicity):
    """Kayttorajoitustiedot; the schema's order is publicity, protection
    level, security class, personal data, then the secrecy fields, which
    its comment says are mandatory for secret records."""
    restrictions = sub(parent, "Kayttorajoitustiedot")
    sub(restrictions, "JulkisuusluokkaKoodi", publicity.code)
    secrecy = publicity.secrecy
    if secrecy and secrecy.protection_level:
        sub(restrictions, "SuojaustasoKoodi", secrecy.protection_level)
    if secrecy and secrecy.security_class:
        sub(restrictions, "TurvallisuusluokkaKoodi", secrecy.security_class)
    sub(restrictions, "HenkilotietoluonneKoodi", publicity.personal_data)
    if secrecy:
        sub(restrictions, "SalassapitoAikaArvo", secrecy.years)
        sub(restrictions, "SalassapitoPerusteTeksti", secrecy.basis)
        sub(restrictions, "SalassapidonLaskentaperusteTeksti",
            secrecy.trigger)


def retention_xml(parent, retention):
    period = sub(parent, "Sailytysaikatiedot")
    sub(period, "SailytysajanPituusArvo", retention.years)
    sub(period, "SailytysajanPerusteTeksti", retention.basis)
    if retention.trigger:
        sub(period, "SailytysajanLaskentaperusteTeksti", retention.trigger)


def record_xml(parent, record, process, id_path):
    """An Asiakirjatieto.  The schema requires Kayttorajoitustiedot and
    Sailytysaikatiedot here too, and its comment says the plan system fills
    in the process's values when a record type has none of its own; so an
    inheriting record type carries a copy of its process's, and one with
    its own retention carries a different period."""
    element = sub(parent, "Asiakirjatieto", id_path=id_path)
    publicity_xml(element, process.publicity)
    retention_xml(element, record.retention or process.retention)
    sub(element, "AsiakirjaluokkaTeksti", record.name)


def process_xml(parent, process, code):
    element = sub(parent, "KasittelyprosessiTiedot",
                  id_path=(code, "prosessi"))
    publicity_xml(element, process.publicity)
    retention_xml(element, process.retention)
    for i, action in enumerate(process.actions, 1):
        action_path = (code, "toimenpide", str(i))
        action_element = sub(element, "Toimenpidetiedot", id_path=action_path)
        sub(action_element, "ToimenpideluokkaTeksti", action.phase)
        if action.description:
            sub(action_element, "ToimenpiteenKuvausTeksti", action.description)
        for j, record in enumerate(action.records, 1):
            record_xml(action_element, record, process,
                       action_path + ("asiakirja", str(j)))


def class_xml(parent, code, title, process):
    element = sub(parent, "Luokka", id_path=(code,))
    sub(element, "Luokitustunnus", code)
    title_xml(element, title)
    process_xml(element, process, code)


def plan_info_xml(parent, args):
    """TosTiedot.  YhteyshenkiloNimi and TosVersio are required; TilaKoodi 3
    is "Käytössä" (in use), the state a plan is in when it governs records.
    No dates: they would make two runs differ."""
    info = sub(parent, "TosTiedot", id_path=("tos",))
    title_xml(info, args.title)
    sub(info, "YhteyshenkiloNimi", "Tiedonhallinnan yhteyshenkilö (demo)")
    sub(info, "TosVersio", "1")
    sub(info, "TilaKoodi", 3)
    sub(info, "OrganisaatioNimi", args.organisation)
    sub(info, "LisatiedotTeksti",
        f"Demoaineisto: tools/demo_plan.py --seed {args.seed}, luokitus "
        f"{os.path.basename(args.csv)}.  Julkisuus- ja säilytysaikatiedot "
        f"on arvottu; ne eivät ole organisaation päätöksiä.")


def build_plan(classes, args):
    """The whole plan as an ElementTree root.  Processes are drawn for the
    leaf classes in file order, so the output depends only on the CSV and
    the seed."""
    rng = random.Random(args.seed)
    leaves = leaf_codes([code for code, _ in classes])
    root = ET.Element(tos("Tos"))
    plan_info_xml(root, args)
    for code, title in classes:
        process = draw_process(rng) if code in leaves else heading_process()
        class_xml(root, code, title, process)
    return root


def serialise(root):
    """UTF-8 bytes with a declaration, indented two spaces."""
    ET.register_namespace("tos", NS)
    ET.indent(root, "  ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Write a plausible JHS 191 information-management plan "
                    "(TOS XML) for a function classification; publicity and "
                    "retention are drawn at random from --seed.")
    parser.add_argument("--csv", default=DEFAULT_CSV,
                        help="classification, lines `code,title` "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=191,
                        help="random seed; the same seed gives the same "
                             "bytes (default: %(default)s)")
    parser.add_argument("--organisation", default="Helsingin kaupunki",
                        help="OrganisaatioNimi (default: %(default)s)")
    parser.add_argument("--title",
                        default="Helsingin kaupungin "
                                "tiedonhallintasuunnitelma (demo)",
                        help="the plan's Nimeke (default: %(default)s)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write here instead of standard output")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        classes = read_classes(args.csv)
    except (OSError, UnicodeDecodeError, IndexError) as e:
        sys.exit(f"demo_plan: {args.csv}: cannot read `code,title` lines: {e}")
    if not classes:
        sys.exit(f"demo_plan: {args.csv}: no classes")
    data = serialise(build_plan(classes, args))
    if args.output:
        with open(args.output, "wb") as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)


if __name__ == "__main__":
    main()
