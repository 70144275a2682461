/*
 * test_plan.c — unit tests of retention/plan.c: a JHS 191 plan validated
 * against the bundled schema with the lines xmllint gives (the real-world
 * template in tests/data: 23, 26 and 28), classes and record types read,
 * inheritance from the process, codes normalised, lenient mode leaving out
 * what cannot be resolved, and refusals (DOCTYPE, not XML, another root,
 * a class twice).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "formats.h"
#include "retention.h"

#define TOS_NS	"http://skeemat.jhs-suositukset.fi/tos/2015/01/15"

/* A valid plan around the given Luokka elements. */
#define PLAN_HEAD \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<tos:Tos xmlns:tos=\"" TOS_NS "\">\n" \
	"<tos:TosTiedot tos:id=\"t\"><tos:Nimeke><tos:NimekeKielella " \
	"tos:kieliKoodi=\"fi\"><tos:NimekeTeksti>Testisuunnitelma" \
	"</tos:NimekeTeksti></tos:NimekeKielella></tos:Nimeke>" \
	"<tos:YhteyshenkiloNimi>T</tos:YhteyshenkiloNimi>" \
	"<tos:TosVersio>7</tos:TosVersio><tos:TilaKoodi>3</tos:TilaKoodi>" \
	"<tos:OrganisaatioNimi>Testikunta</tos:OrganisaatioNimi>" \
	"</tos:TosTiedot>\n"
#define PLAN_TAIL	"</tos:Tos>\n"

#define RESTRICT(code) \
	"<tos:Kayttorajoitustiedot><tos:JulkisuusluokkaKoodi>" code \
	"</tos:JulkisuusluokkaKoodi><tos:HenkilotietoluonneKoodi>1" \
	"</tos:HenkilotietoluonneKoodi></tos:Kayttorajoitustiedot>"
#define KEEP(years, basis, trigger) \
	"<tos:Sailytysaikatiedot><tos:SailytysajanPituusArvo>" years \
	"</tos:SailytysajanPituusArvo><tos:SailytysajanPerusteTeksti>" basis \
	"</tos:SailytysajanPerusteTeksti>" \
	"<tos:SailytysajanLaskentaperusteTeksti>" trigger \
	"</tos:SailytysajanLaskentaperusteTeksti></tos:Sailytysaikatiedot>"
#define TYPE(restrict, keep, name) \
	"<tos:Asiakirjatieto tos:id=\"a\">" restrict keep \
	"<tos:AsiakirjaluokkaTeksti>" name "</tos:AsiakirjaluokkaTeksti>" \
	"</tos:Asiakirjatieto>\n"
#define CLASS(code, title, restrict, keep, types) \
	"<tos:Luokka tos:id=\"l\"><tos:Luokitustunnus>" code \
	"</tos:Luokitustunnus><tos:Nimeke><tos:NimekeKielella " \
	"tos:kieliKoodi=\"fi\"><tos:NimekeTeksti>" title "</tos:NimekeTeksti>" \
	"</tos:NimekeKielella></tos:Nimeke>\n" \
	"<tos:KasittelyprosessiTiedot tos:id=\"p\">" restrict keep \
	"<tos:Toimenpidetiedot tos:id=\"v\"><tos:ToimenpideluokkaTeksti>" \
	"vireilletulo</tos:ToimenpideluokkaTeksti>\n" types \
	"</tos:Toimenpidetiedot></tos:KasittelyprosessiTiedot></tos:Luokka>\n"

static struct plan	 plan;
static struct findings	 f;

static void
read_plan(const char *xml, size_t len, bool lenient)
{
	char err[256] = "";

	plan_free(&plan);
	findings_free(&f);
	findings_init(&f);
	if (plan_read(&plan, xml, len, "plan.xml", lenient, &f, err,
	    sizeof(err)) != 0)
		fail_msg("plan_read failed: %s", err);
}

static void
read_text(const char *xml, bool lenient)
{
	read_plan(xml, strlen(xml), lenient);
}

/* The findings with this code, as "line:severity" in order. */
static const char *
lines_of(const char *code)
{
	static char out[512];
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < f.n && n < sizeof(out) - 32; i++)
		if (strcmp(f.items[i].code, code) == 0)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%ld:%s",
			    n ? " " : "", f.items[i].line,
			    f.items[i].severity == SEVERITY_ERROR ? "error" :
			    "warning");
	return out;
}

static const struct finding *
finding(const char *code)
{
	size_t i;

	for (i = 0; i < f.n; i++)
		if (strcmp(f.items[i].code, code) == 0)
			return &f.items[i];
	return NULL;
}

static int
setup(void **state)
{
	char err[256];

	(void)state;
	xmlInitParser();
	findings_init(&f);
	if (plan_init(err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	plan_free(&plan);
	memset(&plan, 0, sizeof(plan));
	findings_free(&f);
	return 0;
}

static void
test_valid_plan_is_read(void **state)
{
	const struct plan_class *c;

	(void)state;
	read_text(PLAN_HEAD
	    CLASS("10.03", "Rakennusvalvonta", RESTRICT("1"),
		KEEP("10", "Kuntaliiton suositus", "Asian lopullinen ratkaisu"),
		TYPE(RESTRICT("1"), KEEP("10", "Kuntaliiton suositus",
		    "Asian lopullinen ratkaisu"), "Hakemus")
		TYPE(RESTRICT("3"), KEEP("-1", "KA/13089/07.01.01.03.01/2008",
		    "Asiakirjan päivämäärä"), "Päätös"))
	    CLASS("10 04", "Ympäristö", RESTRICT("2"),
		KEEP("6", "Oma päätös", "Tilikauden päättyminen"),
		TYPE(RESTRICT("2"), KEEP("6", "Oma päätös",
		    "Tilikauden päättyminen"), "Lausunto"))
	    PLAN_TAIL, false);
	assert_int_equal(f.errors, 0);
	assert_string_equal(plan.title, "Testisuunnitelma");
	assert_string_equal(plan.organisation, "Testikunta");
	assert_string_equal(plan.version, "7");
	assert_int_equal(plan.nclasses, 2);
	c = &plan.classes[0];
	assert_string_equal(c->code, "10 03");	/* normalised */
	assert_string_equal(c->title, "Rakennusvalvonta");
	assert_int_equal(c->years, 10);
	assert_string_equal(c->basis, "Kuntaliiton suositus");
	assert_string_equal(c->trigger, "Asian lopullinen ratkaisu");
	assert_int_equal(c->publicity, 1);
	assert_int_equal(c->ntypes, 2);
	assert_string_equal(c->types[1].name, "Päätös");
	assert_true(c->types[1].own);
	assert_int_equal(c->types[1].years, RET_PERMANENT);
	assert_int_equal(c->types[1].publicity, 3);
	assert_string_equal(plan_publicity_name(c->types[1].publicity),
	    "Salassa pidettävä");
	assert_int_equal(plan.classes[1].years, 6);
	assert_int_equal(plan.classes[1].publicity, 2);
}

/* Record types whose retention or restrictions are empty take their
 * process's; the schema calls the empty elements errors, so this is
 * lenient. */
static void
test_inheritance(void **state)
{
	const struct plan_class *c;

	(void)state;
	read_text(PLAN_HEAD
	    CLASS("05 01 02", "Palvelussuhde", RESTRICT("3"),
		KEEP("50", "Arkistolaitoksen päätös",
		    "Palvelussuhteen päättyminen"),
		TYPE("<tos:Kayttorajoitustiedot/>", "<tos:Sailytysaikatiedot/>",
		    "Työsopimus")
		TYPE(RESTRICT("1"), KEEP("3", "Oma päätös",
		    "Asiakirjan päivämäärä"), "Ilmoitus"))
	    PLAN_TAIL, true);
	assert_int_equal(f.errors, 0);
	assert_true(f.warnings > 0);
	assert_non_null(finding("PLAN_SCHEMA"));
	assert_int_equal(plan.nclasses, 1);
	c = &plan.classes[0];
	assert_int_equal(c->ntypes, 2);
	/* inherited: the process's years, basis, trigger and publicity */
	assert_false(c->types[0].own);
	assert_int_equal(c->types[0].years, 50);
	assert_string_equal(c->types[0].basis, "Arkistolaitoksen päätös");
	assert_string_equal(c->types[0].trigger, "Palvelussuhteen päättyminen");
	assert_int_equal(c->types[0].publicity, 3);
	/* its own */
	assert_true(c->types[1].own);
	assert_int_equal(c->types[1].years, 3);
	assert_string_equal(c->types[1].trigger, "Asiakirjan päivämäärä");
	assert_int_equal(c->types[1].publicity, 1);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp;
	char *buf;
	long n;

	assert_non_null(fp = fopen(path, "rb"));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* The real-world template: the schema problems at the lines xmllint
 * reports (23, 26, 28; see tests/data/ORIGIN.md), and its one class,
 * whose retention is empty, cannot be resolved. */
static void
test_template_strict(void **state)
{
	size_t len;
	char *xml = slurp("tests/data/jhs191-tos-template.xml", &len);

	(void)state;
	read_plan(xml, len, false);
	free(xml);
	assert_string_equal(lines_of("PLAN_SCHEMA"),
	    "23:error 26:error 28:error");
	assert_non_null(strstr(finding("PLAN_SCHEMA")->message,
	    "Kayttorajoitustiedot"));
	assert_string_equal(lines_of("PLAN_UNRESOLVED"), "15:error");
	assert_non_null(strstr(finding("PLAN_UNRESOLVED")->message, "00 00"));
	assert_non_null(strstr(finding("PLAN_UNRESOLVED")->message,
	    "test classification"));
	assert_string_equal(lines_of("PLAN_NOTHING_RESOLVABLE"), "0:error");
	assert_int_equal(plan.nclasses, 0);
}

static void
test_template_lenient(void **state)
{
	size_t len;
	char *xml = slurp("tests/data/jhs191-tos-template.xml", &len);

	(void)state;
	read_plan(xml, len, true);
	free(xml);
	/* the same problems, as warnings; still nothing to import */
	assert_string_equal(lines_of("PLAN_SCHEMA"),
	    "23:warning 26:warning 28:warning");
	assert_string_equal(lines_of("PLAN_UNRESOLVED"), "15:warning");
	assert_string_equal(lines_of("PLAN_NOTHING_RESOLVABLE"), "0:error");
	assert_int_equal(f.errors, 1);
	assert_int_equal(plan.nclasses, 0);
}

/* Lenient: the class that resolves is imported, the one that does not is
 * left out and named. */
static void
test_lenient_leaves_out_what_cannot_resolve(void **state)
{
	(void)state;
	read_text(PLAN_HEAD
	    CLASS("01", "Hallinto", RESTRICT("1"), "<tos:Sailytysaikatiedot/>",
		TYPE(RESTRICT("1"), "<tos:Sailytysaikatiedot/>", "Muistio"))
	    CLASS("02", "Talous", RESTRICT("1"),
		KEEP("10", "Kirjanpitolaki 2:10 §", "Tilikauden päättyminen"),
		TYPE(RESTRICT("1"), "<tos:Sailytysaikatiedot><tos:"
		    "SailytysajanPituusArvo>kymmenen</tos:SailytysajanPituusArvo>"
		    "<tos:SailytysajanPerusteTeksti>x</tos:"
		    "SailytysajanPerusteTeksti></tos:Sailytysaikatiedot>",
		    "Tosite")
		TYPE(RESTRICT("1"), KEEP("6", "Oma", "Asiakirjan päivämäärä"),
		    "Lasku"))
	    PLAN_TAIL, true);
	assert_int_equal(f.errors, 0);
	assert_int_equal(plan.nclasses, 1);
	assert_string_equal(plan.classes[0].code, "02");
	assert_int_equal(plan.classes[0].ntypes, 1);	/* Tosite left out */
	assert_string_equal(plan.classes[0].types[0].name, "Lasku");
	assert_non_null(strstr(lines_of("PLAN_UNRESOLVED"), "warning"));
	assert_non_null(finding("PLAN_UNRESOLVED"));
	assert_non_null(strstr(finding("PLAN_UNRESOLVED")->message,
	    "class 01 Hallinto"));
	/* the same plan strictly: refused */
	read_text(PLAN_HEAD
	    CLASS("01", "Hallinto", RESTRICT("1"), "<tos:Sailytysaikatiedot/>",
		TYPE(RESTRICT("1"), "<tos:Sailytysaikatiedot/>", "Muistio"))
	    PLAN_TAIL, false);
	assert_true(f.errors > 0);
}

static void
test_refusals(void **state)
{
	(void)state;
	read_text("<?xml version=\"1.0\"?>\n<!DOCTYPE tos:Tos [<!ENTITY a "
	    "\"aaaaaaaaaa\">]>\n<tos:Tos xmlns:tos=\"" TOS_NS "\"/>", false);
	assert_string_equal(lines_of("PLAN_DOCTYPE"), "0:error");
	assert_int_equal(f.n, 1);

	read_text("<?xml version=\"1.0\"?>\n<tos:Tos xmlns:tos=\"" TOS_NS
	    "\">\n<tos:TosTiedot>\n</tos:Tos>\n", true);
	assert_non_null(finding("PLAN_MALFORMED"));
	assert_true(finding("PLAN_MALFORMED")->line >= 3);
	assert_int_equal(plan.nclasses, 0);

	read_text("<?xml version=\"1.0\"?>\n<Metadata xmlns=\"urn:x\"/>\n",
	    true);
	assert_string_equal(lines_of("PLAN_ROOT"), "2:error");

	read_text(PLAN_HEAD
	    CLASS("10 03", "A", RESTRICT("1"), KEEP("10", "b", "c"),
		TYPE(RESTRICT("1"), KEEP("10", "b", "c"), "H"))
	    CLASS("10.03", "B", RESTRICT("1"), KEEP("6", "b", "c"),
		TYPE(RESTRICT("1"), KEEP("6", "b", "c"), "H"))
	    PLAN_TAIL, false);
	assert_non_null(finding("PLAN_DUPLICATE_CLASS"));
	assert_int_equal(f.errors, 1);
	assert_int_equal(plan.nclasses, 1);
	assert_int_equal(plan.classes[0].years, 10);	/* the first */

	read_text(PLAN_HEAD
	    CLASS("10 x 03", "A", RESTRICT("1"), KEEP("10", "b", "c"),
		TYPE(RESTRICT("1"), KEEP("10", "b", "c"), "H"))
	    PLAN_TAIL, true);
	assert_string_equal(lines_of("PLAN_CODE"), "4:warning");
	assert_string_equal(lines_of("PLAN_NOTHING_RESOLVABLE"), "0:error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_plan_is_read),
		cmocka_unit_test(test_inheritance),
		cmocka_unit_test(test_template_strict),
		cmocka_unit_test(test_template_lenient),
		cmocka_unit_test(test_lenient_leaves_out_what_cannot_resolve),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
