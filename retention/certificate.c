/*
 * certificate.c — the disposal certificate (hävittämistodistus) of a
 * finished batch: who proposed and approved it, when it ran, and each item
 * with its identifiers, what became of it and the SHA-256 of every file
 * destroyed; no title, no person identifier.
 *
 * The certificate is RFC 8785 canonical JSON, built item by item (a batch
 * may hold 100,000 records; no tree of them all is ever held).  What the
 * archive's Ed25519 key signs is the canonical JSON of a small envelope,
 * {"batch_id", "certificate_sha256", "key_id"}, where certificate_sha256
 * is the SHA-256 of the certificate's canonical bytes: anyone can check it
 * with OpenSSL and a JSON canonicaliser, without Sailo (README).  Kept
 * permanently in disposal_certificates, which refuses UPDATE and DELETE.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "db.h"
#include "formats.h"
#include "retention.h"

#define CERT_PAGE	5000	/* items read at a time (CERT_ITEMS_SQL) */
#define CERT_ITEMS_MARK	"\"items\":\"@ITEMS@\""

/* The items after record id $2, in record id order. */
#define CERT_ITEMS_SQL \
	"SELECT json_build_object('record_id', di.record_id, 'native_id', " \
	"di.native_id, 'case_native_id', di.case_native_id, 'aip_id', " \
	"di.aip_id, 'class_code', di.class_code, 'class_title', " \
	"di.class_title, 'record_type', di.record_type, 'created', " \
	"di.created, 'retention_years', di.years, 'retention_basis', " \
	"di.basis, 'retention_end', di.end_date, 'state', di.state, " \
	"'skip_reason', di.skip_reason, 'error', di.error, 'files', " \
	"COALESCE((SELECT json_agg(json_build_object('version', f.version, " \
	"'path', f.path, 'size', f.size, 'sha256', encode(f.sha256, 'hex')) " \
	"ORDER BY f.version, f.path) FROM disposal_files f WHERE f.batch_id " \
	"= di.batch_id AND f.record_id = di.record_id), '[]'))::text, " \
	"di.record_id FROM disposal_items di WHERE di.batch_id = $1::uuid " \
	"AND di.record_id > $2::uuid ORDER BY di.record_id LIMIT $3::int"

/* What the key signs (malloc'd), README's recipe. */
static char *
certificate_envelope(const char *batch, const char *sha256_hex,
    const char *key_id)
{
	char *msg;

	/* Every value is a UUID or hex: canonical as written, keys sorted. */
	if (asprintf(&msg, "{\"batch_id\":\"%s\",\"certificate_sha256\":\"%s\","
	    "\"key_id\":\"%s\"}", batch, sha256_hex, key_id) == -1)
		return NULL;
	return msg;
}

/* The items, canonical, comma-separated, into out. */
static int
certificate_items(struct db *db, const char *batch, FILE *out, long *n)
{
	struct db_result *r = NULL;
	char after[37] = "00000000-0000-0000-0000-000000000000";
	char page[16];
	const char *params[3] = { batch, after, page };
	json_t *j;
	char *c;
	int i, rows;

	do {
		snprintf(page, sizeof(page), "%d", CERT_PAGE);
		if (db_query(db, &r, CERT_ITEMS_SQL, 3, params) == -1)
			return -1;
		rows = db_rows(r);
		for (i = 0; i < rows; i++) {
			if ((j = json_loads(db_value(r, i, 0), 0, NULL)) ==
			    NULL || (c = audit_canonical(j)) == NULL) {
				json_decref(j);
				db_result_free(r);
				return -1;
			}
			fputs(*n > 0 ? "," : "", out);
			fputs(c, out);
			free(c);
			json_decref(j);
			(*n)++;
		}
		if (rows > 0)
			snprintf(after, sizeof(after), "%s",
			    db_value(r, rows - 1, 1));
		db_result_free(r);
		r = NULL;
	} while (rows == CERT_PAGE);
	return 0;
}

static json_t *
certificate_text(struct db_result *r, int col)
{
	return db_isnull(r, 0, col) ? json_null() :
	    json_string(db_value(r, 0, col));
}

int
certificate_issue(struct db *db, const struct audit_key *k, const char *batch)
{
	struct db_result *r = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *canon = NULL, *mark, *text = NULL, *msg = NULL, sha[65];
	char sighex[129];
	const char *params[6];
	size_t len = 0;
	json_t *head = NULL;
	FILE *out = NULL;
	long n = 0;
	int rc = -1;

	params[0] = batch;
	if (db_query(db, &r, "SELECT b.id, b.status, b.due_on::text, "
	    "b.function_code, b.note, p.name, " API_SQL_TIME("b.proposed_at") ", "
	    "q.name, " API_SQL_TIME("b.decided_at") ", "
	    API_SQL_TIME("b.started_at") ", " API_SQL_TIME("b.finished_at") ", "
	    "(SELECT json_object_agg(state, n) FROM (SELECT state, count(*) "
	    "AS n FROM disposal_items WHERE batch_id = b.id GROUP BY state) "
	    "c)::text, " API_SQL_TIME("now()") " FROM disposal_batches b JOIN "
	    "principals p ON p.id = b.proposed_by JOIN principals q ON q.id = "
	    "b.decided_by WHERE b.id = $1::uuid", 1, params) == -1 ||
	    db_rows(r) != 1)
		goto out;
	head = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:o,s:o,s:o,"
	    "s:s,s:s,s:s}", "batch_id", db_value(r, 0, 0), "status",
	    db_value(r, 0, 1), "due_on", db_value(r, 0, 2), "function_code",
	    certificate_text(r, 3), "note", certificate_text(r, 4),
	    "proposed_by", db_value(r, 0, 5), "proposed_at", db_value(r, 0, 6),
	    "approved_by", db_value(r, 0, 7), "approved_at", db_value(r, 0, 8),
	    "started_at", certificate_text(r, 9), "finished_at",
	    certificate_text(r, 10), "counts", json_loads(db_value(r, 0, 11), 0,
	    NULL), "issued_at", db_value(r, 0, 12), "key_id", audit_key_id(k),
	    "items", "@ITEMS@");
	if (head == NULL || (canon = audit_canonical(head)) == NULL ||
	    (mark = strstr(canon, CERT_ITEMS_MARK)) == NULL ||
	    (out = open_memstream(&text, &len)) == NULL)
		goto out;
	fwrite(canon, 1, (size_t)(mark - canon), out);
	fputs("\"items\":[", out);
	if (certificate_items(db, batch, out, &n) == -1)
		goto out;
	fputs("]", out);
	fputs(mark + strlen(CERT_ITEMS_MARK), out);
	if (fclose(out) == EOF) {
		out = NULL;
		goto out;
	}
	out = NULL;
	EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL);
	digest_hex(md, mdlen, sha);
	if ((msg = certificate_envelope(batch, sha, audit_key_id(k))) == NULL ||
	    audit_key_sign(k, msg, sighex) == -1)
		goto out;
	params[0] = batch;
	params[1] = text;
	params[2] = sha;
	params[3] = audit_key_id(k);
	params[4] = audit_key_public_hex(k);
	params[5] = sighex;
	if (db_query(db, NULL, "INSERT INTO disposal_certificates (batch_id, "
	    "certificate, certificate_sha256, key_id, public_key, signature) "
	    "VALUES ($1::uuid, $2, decode($3, 'hex'), $4, decode($5, 'hex'), "
	    "decode($6, 'hex'))", 6, params) == -1)
		goto out;
	rc = 0;
out:
	if (out)
		fclose(out);
	free(text);
	free(canon);
	free(msg);
	json_decref(head);
	db_result_free(r);
	return rc;
}

int
certificate_verify(const json_t *doc, const char *trusted_pubhex, char *why,
    size_t whylen)
{
	const json_t *cert = json_object_get(doc, "certificate");
	const json_t *sig = json_object_get(doc, "signature");
	const char *batch, *key_id, *pub, *value, *claimed;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *canon = NULL, *msg = NULL, sha[65];
	int rc = -1;

	batch = json_string_value(json_object_get(cert, "batch_id"));
	key_id = json_string_value(json_object_get(sig, "key_id"));
	pub = json_string_value(json_object_get(sig, "public_key"));
	value = json_string_value(json_object_get(sig, "value"));
	claimed = json_string_value(json_object_get(sig,
	    "certificate_sha256"));
	if (!json_is_object(cert) || batch == NULL || key_id == NULL ||
	    pub == NULL || value == NULL || claimed == NULL) {
		snprintf(why, whylen, "not a disposal certificate: it needs "
		    "certificate.batch_id and signature.{key_id, public_key, "
		    "certificate_sha256, value}");
		return -1;
	}
	if ((canon = audit_canonical(cert)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL);
	digest_hex(md, mdlen, sha);
	if (strcmp(sha, claimed) != 0) {
		snprintf(why, whylen, "the certificate was changed after it "
		    "was signed: its SHA-256 is %s, the signature is over %.64s",
		    sha, claimed);
		goto out;
	}
	if (json_string_value(json_object_get(cert, "key_id")) == NULL ||
	    strcmp(json_string_value(json_object_get(cert, "key_id")),
	    key_id) != 0) {
		snprintf(why, whylen, "the certificate names another key than "
		    "its signature");
		goto out;
	}
	if ((msg = certificate_envelope(batch, sha, key_id)) == NULL ||
	    !audit_signature_valid(pub, msg, value)) {
		snprintf(why, whylen, "the signature does not verify with the "
		    "public key given");
		goto out;
	}
	if (trusted_pubhex && strcasecmp(trusted_pubhex, pub) != 0) {
		snprintf(why, whylen, "signed by key %.16s, which is not this "
		    "archive's key", key_id);
		goto out;
	}
	rc = 0;
out:
	free(canon);
	free(msg);
	return rc;
}
