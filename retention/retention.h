/*
 * retention.h — how long a record is kept, and until when: the rules of
 * "Retention and disposal" in DESIGN.md, without the database.  dates.c
 * owns calendar arithmetic, rules.c which period and trigger apply.  Calendar
 * dates are civil dates in Europe/Helsinki (a retention period ends on a
 * day, not at an instant); the callers give dates already in that zone.
 */
#ifndef SAILO_RETENTION_H
#define SAILO_RETENTION_H

#include <stdbool.h>
#include <stddef.h>

struct db;
struct findings;

struct ret_date {
	int	y, m, d;
};

/* "YYYY-MM-DD", or the date part of an xs:dateTime ("YYYY-MM-DDT…"): a
 * real calendar day, years 1–9999.  true when s is one. */
bool	dates_parse(const char *s, struct ret_date *out);
/* "YYYY-MM-DD" into out[11]. */
void	dates_format(const struct ret_date *d, char out[11]);
int	dates_cmp(const struct ret_date *a, const struct ret_date *b);
bool	dates_is_leap(int y);

/* Retention in years: -1 is permanent; 0 means it may go at once. */
#define RET_PERMANENT	(-1L)

enum ret_end {
	RET_END_DATE,		/* *end holds the day it ends */
	RET_END_PERMANENT,	/* never due */
	RET_END_WAITING,	/* the trigger date is not known yet: not due */
	RET_END_INVALID,	/* a period below -1 */
};

/*
 * The end of retention: trigger date + years, on the calendar (29.2. + N
 * years is 28.2. when that year has no 29.2.); with round_to_year_end, the
 * 31.12. of that year.  trigger NULL: not known yet.  A date past 9999 is
 * treated as permanent (no archive outlives it, and it cannot be written).
 */
enum ret_end dates_end(const struct ret_date *trigger, long years,
	    bool round_to_year_end, struct ret_date *end);

/*
 * Triggers (laskentaperuste) whose date Sailo knows from the package; any
 * other waits for a life-cycle event (POST /v1/retention/events).  Matched
 * on the text, ignoring case and surrounding spaces.
 */
enum ret_trigger {
	RET_TRIGGER_EVENT,		/* a life-cycle event sets it */
	RET_TRIGGER_CASE_DECIDED,	/* "Asian lopullinen ratkaisu" */
	RET_TRIGGER_DOCUMENT_DATE,	/* "Asiakirjan päivämäärä" */
	RET_TRIGGER_TRANSFER,		/* "Säilytysjärjestelmään siirto" */
	RET_TRIGGER_FISCAL_YEAR_END,	/* "Tilikauden päättyminen" */
};
enum ret_trigger rules_trigger_kind(const char *text);

/* What the package and the ingest tell of a record; NULL: not known. */
struct ret_known {
	const struct ret_date	*case_finished;	/* the case file's latest Finished */
	const struct ret_date	*case_last_action;	/* its last action's date */
	const struct ret_date	*record_created;	/* the record's earliest Created */
	const struct ret_date	*ingested;		/* the transfer's day */
};

/* The trigger date of kind k from what is known: true and *out, or false
 * (an event's, or a date the package did not give). */
bool	rules_trigger_date(enum ret_trigger k, const struct ret_known *known,
	    struct ret_date *out);

enum ret_precedence {
	RET_PRECEDENCE_LONGER,	/* the default: the longer period wins */
	RET_PRECEDENCE_PLAN,
	RET_PRECEDENCE_PACKAGE,
};
/* "longer", "plan" or "package"; -1 otherwise. */
int	rules_precedence_parse(const char *s);

enum ret_source { RET_FROM_NONE, RET_FROM_PLAN, RET_FROM_PACKAGE };

/*
 * The period that applies, from the plan's class and the package's own
 * RetentionPeriod (has_* false: that side says nothing).  -1 on either side
 * is permanent whatever the precedence.  *disagree is set when both say
 * something and differ (a warning at ingest); *from says whose period it
 * is.  Returns the years, or RET_PERMANENT; with neither side, *from is
 * RET_FROM_NONE and the return value means nothing.
 */
long	rules_period_choose(bool plan_has, long plan_years, bool package_has,
	    long package_years, enum ret_precedence prec, bool *disagree,
	    enum ret_source *from);

/*
 * An explicit RetentionPeriodEnd from the package against the computed
 * end: the later of the two is the end.  Returns 1 when the explicit one
 * is later (kept), -1 when it is earlier (the computed end stays; a
 * warning), 0 when they are the same day.  *end gets the one that holds.
 */
int	rules_explicit_end(const struct ret_date *computed,
	    const struct ret_date *explicit_end, struct ret_date *end);

/* ---- one record's retention (decide.c) ---------------------------------- */

/* A life-cycle event's date for a trigger (POST /v1/retention/events). */
struct ret_event {
	const char	*trigger;
	struct ret_date	 date;
};

/* What a record's retention is decided from. */
struct ret_input {
	/* The plan's class, or its record type, when one matched. */
	bool		 plan_has;
	long		 plan_years;
	const char	*plan_basis, *plan_trigger;
	/* The package's own retention (SÄHKE2 RetentionPeriod and
	 * RetentionReason, the CSV's retention_years and trigger). */
	bool		 package_has;
	long		 package_years;
	const char	*package_basis, *package_trigger;
	const struct ret_date *package_end;	/* RetentionPeriodEnd */
	bool		 in_case_file;
	struct ret_known known;
	const struct ret_event *events;		/* dates events gave it */
	size_t		 nevents;
	enum ret_precedence prec;
	bool		 round_to_year_end;
};

enum ret_state {
	RET_STATE_DATED,	/* end holds the day it ends */
	RET_STATE_PERMANENT,	/* kept for ever: never due */
	RET_STATE_WAITING,	/* its trigger date is not known yet */
	RET_STATE_UNKNOWN,	/* neither the plan nor the package says */
};

struct ret_decision {
	enum ret_state	 state;
	enum ret_source	 from;		/* whose period applies */
	long		 years;		/* unless RET_STATE_UNKNOWN */
	const char	*basis;		/* the input's, or NULL */
	const char	*trigger;	/* the input's, or a default */
	bool		 has_trigger_date;
	struct ret_date	 trigger_date;
	struct ret_date	 end;		/* RET_STATE_DATED */
	struct ret_date	 computed_end;	/* before RetentionPeriodEnd */
	bool		 period_disagree;	/* plan and package differ */
	/* RetentionPeriodEnd against the computed end: 1 it is later and
	 * kept, -1 it is earlier and not followed (a warning), 0 the same
	 * day or none. */
	int		 explicit_end;
};

/* "dated", "permanent", "waiting", "unknown" (the column's values). */
const char *retention_state_name(enum ret_state s);
/* "plan", "package", "none". */
const char *retention_source_name(enum ret_source s);

/*
 * Decides a record's retention ("Retention and disposal" in DESIGN.md):
 * whose period (rules_period_choose), counted from which trigger (that
 * period's side's trigger, else the other side's, else the case's final
 * decision for a record in a case file and the record's date for one
 * without), from which date (the one the package gives, else an event's
 * for that trigger), to which end (dates_end, then RetentionPeriodEnd
 * when later).  With no period on either side but a RetentionPeriodEnd,
 * that day is the end.  Pointers in *out point into *in.
 */
void	retention_decide(const struct ret_input *in, struct ret_decision *out);
/* Two triggers or record type names are the same text, ignoring ASCII
 * case and the white space around them. */
bool	retention_text_same(const char *a, const char *b);
/* The key under which retention_text_same() texts are one: without the
 * spaces around, case-folded and in NFC; malloc'd, or NULL. */
char	*retention_text_key(const char *s);

/* ---- the information-management plan (plan.c) ------------------------- */

/* A record type (Asiakirjatieto) of a class's process. */
struct plan_type {
	char	*name;		/* AsiakirjaluokkaTeksti */
	bool	 own;		/* its own retention; else the process's */
	long	 years;		/* RET_PERMANENT for permanent */
	char	*basis;		/* SailytysajanPerusteTeksti */
	char	*trigger;	/* SailytysajanLaskentaperusteTeksti, or NULL */
	int	 publicity;	/* JulkisuusluokkaKoodi 1–4 */
	long	 line;
};

/* A class (Luokka) whose retention resolved, with its process's
 * retention and restrictions. */
struct plan_class {
	char			*code;		/* normalised: "10 03 00 09" */
	char			*title;
	long			 years;
	char			*basis;
	char			*trigger;	/* or NULL */
	int			 publicity;	/* 1–4 */
	struct plan_type	*types;
	size_t			 ntypes;
	long			 line;
};

struct plan {
	char			*title;		/* TosTiedot */
	char			*organisation;
	char			*version;	/* TosVersio */
	struct plan_class	*classes;
	size_t			 nclasses;
};

/* Parses the bundled JHS 191 schema once (after xmlInitParser()); 0, or
 * -1 with err. */
int	plan_init(char *err, size_t errlen);
/*
 * Reads a JHS 191 plan from xml (len bytes; name is how findings call
 * it).  libxml2 parses it with no network, no DTD and no entities (a
 * DOCTYPE is PLAN_DOCTYPE) and validates it against the bundled schema:
 * each problem libxml2 reports is a PLAN_SCHEMA finding with its line, as
 * `xmllint --schema` gives them.  Then inheritance is resolved: a record
 * type whose Sailytysaikatiedot or Kayttorajoitustiedot is empty or absent
 * takes its process's.  A class whose process has no retention (or a
 * record type with a broken one of its own) cannot be resolved:
 * PLAN_UNRESOLVED, naming it and why.
 * Strict (lenient false): every problem is an error.  Lenient: schema
 * problems are warnings and what cannot be resolved is left out (a
 * warning each); nothing left is the error PLAN_NOTHING_RESOLVABLE.
 * Returns 0 (f->errors decides), or -1 when Sailo failed (err).
 */
int	plan_read(struct plan *out, const char *xml, size_t len,
	    const char *name, bool lenient, struct findings *f, char *err,
	    size_t errlen);
void	plan_free(struct plan *p);
/* "Julkinen", "Osittain salassa pidettävä", "Salassa pidettävä",
 * "Ei-julkinen" for codes 1–4; NULL otherwise. */
const char *plan_publicity_name(int code);

/* The class for a function code: the one with the longest code that is
 * the code itself or a whole-group prefix of it ("10 03" for "10 03 00
 * 09", never for "10 031"); NULL when none.  Needs p->classes sorted by
 * code (plan_sort_classes). */
const struct plan_class *plan_find_class(const struct plan *p,
	    const char *code);
void	plan_sort_classes(struct plan *p);
/* The class's record type named type (ignoring ASCII case and
 * surrounding space), or NULL. */
const struct plan_type *plan_find_type(const struct plan_class *c,
	    const char *type);

/* ---- storing a plan (plan_store.c) -------------------------------------- */

/* pg_advisory_xact_lock(): one import numbers its version at a time, and
 * catalogue transactions (deciding retention) hold it shared. */
#define PLAN_LOCK	"7001906191"

struct plan_import {
	int	 version;	/* the version these bytes are */
	bool	 created;	/* false: the same bytes came before */
	size_t	 classes, record_types;
};
/*
 * Stores p, read from bytes whose SHA-256 is sha256_hex, as the next plan
 * version, unless those bytes are a version already; records plan.import
 * by who (role may be NULL) in the same transaction.  0, or -1 (db_error).
 */
int	plan_store(struct db *db, const struct plan *p, const char *sha256_hex,
	    const char *who, const char *role, bool lenient,
	    const struct findings *f, struct plan_import *out);
/* Plan version (0: the current one) back from the database, its classes
 * sorted for plan_find_class(); *loaded is its number, 0 when no plan was
 * ever imported (then out has no classes).  0, or -1 (db_error, or no
 * memory). */
int	plan_load(struct db *db, int version, struct plan *out, int *loaded);
/* The findings as the API and the CLI give them (a jansson array). */
struct json_t;
struct json_t *plan_findings_json(const struct findings *f);

/* ---- deciding again (recompute.c) ---------------------------------------- */

struct config;
struct json_t;

/* Fills the plan side of *in from p's class for code (and its record type
 * named type); *cls and *pt get what matched, or NULL. */
void	retention_input_plan(struct ret_input *in, const struct plan *p,
	    const char *code, const char *type, const struct plan_class **cls,
	    const struct plan_type **pt);
/* For catalogue rows: "YYYY-MM-DD" or null (d NULL); text with any
 * personal identity code in it withheld (the catalogue keeps those only
 * as HMACs; the AIP keeps the metadata as submitted), or null.  NULL
 * without memory. */
struct json_t *retention_json_date(const struct ret_date *d);
struct json_t *retention_json_text(const char *s);
/* The decided columns of a retention row (state, years, basis, trigger,
 * trigger_date, end_date, source, plan_version, class_code, record_type,
 * disagreement) as a JSON object; NULL without memory. */
struct json_t *retention_outcome_json(const struct ret_input *in,
	    const struct ret_decision *d, const struct plan_class *cls,
	    const struct plan_type *type, int version);

struct recompute {
	struct plan		 plan;		/* the current version */
	int			 version;	/* 0: none */
	enum ret_precedence	 prec;
	bool			 round;
};
/* Loads the current plan and the rules of cfg, holding the plan lock
 * shared until the transaction ends (begin one first).  0, or -1
 * (db_error). */
int	recompute_begin(struct recompute *rc, struct db *db,
	    const struct config *cfg);
void	recompute_free(struct recompute *rc);
/* What deciding again did: rows read by the last call (read) and, over
 * every call, rows decided (matched), whose outcome moved (changed; the
 * plan version alone is no move), whose end or state moved (ends_moved),
 * those by class ({"05 01 01": n}, "" for none); the last row's id. */
struct recompute_stats {
	size_t		 read, matched, changed, ends_moved;
	struct json_t	*by_class;
	char		 last[37];
};
int	recompute_stats_init(struct recompute_stats *st);
void	recompute_stats_free(struct recompute_stats *st);
/* Decides again the retention rows (alias t) that where (an SQL condition
 * on t, with params $1…) selects, in record id order, at most limit (0:
 * all), in the caller's transaction.  Unless dry, the ones whose outcome
 * moved are written, each only if no one changed it since it was read
 * (lock them first to be sure of writing them).  0, or -1 (db_error, or
 * no memory). */
int	recompute_records(struct recompute *rc, struct db *db,
	    const char *where, int nparams, const char *const *params,
	    int limit, bool dry, struct recompute_stats *st);
/* One batch of the oldest pending pass (retention_passes: a new plan
 * version, or records catalogued before retention was decided), in a
 * transaction of its own; a newer pass supersedes older ones (it decides
 * by the current plan anyway).  1 when a pass has more to do, 0 when none
 * is pending, -1 (db_error). */
int	recompute_pass_step(struct db *db, const struct config *cfg,
	    int batch);

/* ---- holds and disposal (sql/010) ------------------------------------- */

/* pg_advisory_xact_lock(): one disposal proposal at a time, so that no
 * record is in two open batches. */
#define DISPOSAL_LOCK	"7001906192"
/* pg_advisory_xact_lock(): a hold is placed, or a batch checks its items
 * (dispose.c), one at a time, so that a hold lands either before an
 * item's check or after it. */
#define HOLD_LOCK	"7001906194"

/* The record is in a batch not yet finished, or was destroyed. */
#define DISPOSAL_TAKEN_SQL(r) \
	"EXISTS (SELECT 1 FROM disposal_items di JOIN disposal_batches db " \
	"ON db.id = di.batch_id WHERE di.record_id = " r ".id AND " \
	"(db.status IN ('proposed', 'approved', 'running') OR di.state IN " \
	"('deleting', 'destroyed')))"


/* A disposal proposal (schedule.c): what is due on due_on (YYYY-MM-DD),
 * optionally under function_code and among record_ids ("{uuid,…}"), by
 * proposer (a principal id), from schedule (or NULL).  In the caller's
 * transaction; *items 0 and batch "" when nothing was due.  0, or -1. */
struct disposal_proposal {
	const char	*due_on;
	const char	*function_code;
	const char	*record_ids;
	const char	*note;
	const char	*proposer;
	const char	*schedule;
};
int	disposal_propose(struct db *db, const struct disposal_proposal *p,
	    char batch[37], long *items);
/* The oldest schedule whose moment has passed proposes its batch, in a
 * transaction of its own that moves it to its next moment.  1 when one
 * ran, 0 when none was due, -1 (db_error). */
int	schedule_step(struct db *db);

/*
 * One step of carrying out approved disposal batches (dispose.c): the
 * items of one AIP destroyed (a new AIP version without them, older
 * versions rewritten, other copies removed), or, when none is waiting,
 * batches with nothing left finished.  1 when an AIP was taken (there may
 * be more), 0 when there was nothing to do, -1 (logged).
 */
struct config;
struct audit_key;
int	dispose_step(struct db *db, const struct config *cfg,
	    const struct audit_key *key);

/*
 * The disposal certificate (certificate.c).  certificate_issue() signs and
 * stores the certificate of a finished batch, in the caller's transaction;
 * 0, or -1.  certificate_verify() checks a certificate document ({
 * "certificate", "signature"}, as GET /v1/disposals/{id}/certificate gives
 * it): its canonical bytes against the signed digest, the signature, and,
 * when trusted_pubhex is not NULL, that the key is that one.  0, or -1 with
 * why.
 */
struct json_t;
int	certificate_issue(struct db *db, const struct audit_key *k,
	    const char *batch);
int	certificate_verify(const struct json_t *doc, const char *trusted_pubhex,
	    char *why, size_t whylen);

/*
 * True (an SQL condition) when an active hold covers the record row r
 * (an alias of records): its function code (its own, else its case
 * file's, as retention takes it) is the hold's or under it (whole groups,
 * the range of sql/009), its case file has the hold's
 * NativeId, it names the hold's person, it came in the hold's transfer,
 * or the hold names it.  The last two by the AIP and the record's NativeId,
 * so that they cover every version of the record.  Evaluated when asked:
 * records catalogued after the hold are covered too.
 */
#define HOLD_COVERS_SQL(r) HOLD_MATCH_SQL(r, "h.released_at IS NULL")
/* The same test for the holds that which (a condition on h) selects. */
#define HOLD_MATCH_SQL(r, which) \
	"EXISTS (SELECT 1 FROM holds h WHERE " which " AND (" \
	"(h.scope = 'function_code' AND EXISTS (SELECT 1 FROM (SELECT " \
	"COALESCE(" r ".function_code, (SELECT hf.function_code FROM " \
	"case_files hf WHERE hf.id = " r ".case_file_id)) AS code) hf " \
	"WHERE hf.code >= h.function_code AND hf.code < h.function_code || " \
	"'!')) " \
	"OR (h.scope = 'case_native_id' AND EXISTS (SELECT 1 FROM " \
	"case_files hc WHERE hc.id = " r ".case_file_id AND hc.native_id = " \
	"h.case_native_id)) " \
	"OR (h.scope = 'person_ssn' AND EXISTS (SELECT 1 FROM " \
	"record_persons hp WHERE hp.record_id = " r ".id AND hp.ssn_hmac = " \
	"h.ssn_hmac)) " \
	"OR (h.scope = 'transfer_id' AND EXISTS (SELECT 1 FROM records hr " \
	"WHERE hr.aip_id = " r ".aip_id AND hr.native_id = " r ".native_id " \
	"AND hr.transfer_id = h.transfer_id)) " \
	"OR (h.scope = 'record_ids' AND EXISTS (SELECT 1 FROM hold_records " \
	"hk WHERE hk.aip_id = " r ".aip_id AND hk.native_id = " r \
	".native_id AND hk.hold_id = h.id))))"

#endif
