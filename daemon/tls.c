/*
 * tls.c — the server's SSL_CTX and the client certificate map, both built
 * once at start-up.  A key or certificate that does not load, or a map
 * line that does not parse, stops the daemon with the key or the file and
 * line named; nothing here runs after serving has begun, except the
 * lookups in the map (memory only, on the loop).
 *
 * The connections themselves (handshakes, fingerprints) are http.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "tls.h"

/* TLS 1.2: forward secrecy and AEAD only (TLS 1.3's suites all are). */
#define TLS_CIPHERS_12	"ECDHE+AESGCM:ECDHE+CHACHA20"

struct tls_map_entry {
	char	 fp[TLS_FINGERPRINT_LEN];
	char	*principal;
	char	*role;
};

struct tls_map {
	struct tls_map_entry	*entries;	/* sorted by fp */
	size_t			 n;
};

/* The first OpenSSL error of this thread as text, and the queue emptied. */
static const char *
tls_error(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s ? s : "unknown error";
}

SSL_CTX *
tls_server_ctx(const struct config *cfg, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	err[0] = '\0';
	if (cfg->tls_cert[0] == '\0')
		return NULL;
	/* Handshake failures are logged by their reason, in words. */
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s", tls_error());
		return NULL;
	}
	/* Renegotiation and compression are attack surface (CRIME, DoS by
	 * renegotiating) that HTTP/1.1 does not need.  An EOF without
	 * close_notify is an EOF: HTTP bodies carry their own length, and
	 * without this OpenSSL 3 makes every such close an error. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Idle keep-alive connections keep no 34 KiB buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
		snprintf(err, errlen, "TLS: cannot set the protocol and "
		    "ciphers: %s", tls_error());
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		snprintf(err, errlen, "server.tls_cert: %s: %s", cfg->tls_cert,
		    tls_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key,
	    SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "server.tls_key: %s: %s", cfg->tls_key,
		    tls_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "server.tls_key: %s does not belong to "
		    "server.tls_cert %s", cfg->tls_key, cfg->tls_cert);
		goto fail;
	}
	/* Resumed sessions keep the client's certificate; without an id
	 * context OpenSSL refuses to resume once certificates are asked. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sailo", 5);
	if (cfg->client_ca[0]) {
		/* Asked for and verified, but not required: a client without
		 * a certificate may still bring a bearer token. */
		if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca,
		    NULL) != 1 ||
		    (names = SSL_load_client_CA_file(cfg->client_ca)) ==
		    NULL) {
			snprintf(err, errlen, "server.client_ca: %s: %s",
			    cfg->client_ca, tls_error());
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- the client map ------------------------------------------------------ */

int
tls_fingerprint_parse(const char *text, char *out)
{
	size_t n = 0;
	const char *p;

	for (p = text; *p; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n == 64)
			return -1;
		out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = '\0';
	return n == 64 ? 0 : -1;
}

static int
tls_map_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tls_map_entry *)a)->fp,
	    ((const struct tls_map_entry *)b)->fp);
}

void
tls_map_free(struct tls_map *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->entries[i].principal);
		free(m->entries[i].role);
	}
	free(m->entries);
	free(m);
}

/* One line into e (its strings malloc'd); 0, or -1 with why in err. */
static int
tls_map_line(char *line, struct tls_map_entry *e, char *err, size_t errlen)
{
	char *fields[4], *save = NULL, *tok;
	enum role role;
	int n = 0;

	for (tok = strtok_r(line, " \t\r\n", &save); tok && n < 4;
	    tok = strtok_r(NULL, " \t\r\n", &save))
		fields[n++] = tok;
	if (n != 3) {
		snprintf(err, errlen, "expected \"fingerprint principal "
		    "role\"");
		return -1;
	}
	if (tls_fingerprint_parse(fields[0], e->fp) == -1) {
		snprintf(err, errlen, "'%.80s' is not a SHA-256 fingerprint "
		    "(64 hex digits, colons allowed)", fields[0]);
		return -1;
	}
	if (strlen(fields[1]) > 200) {
		snprintf(err, errlen, "principal names are 1 to 200 bytes");
		return -1;
	}
	if (role_parse(fields[2], &role) == -1) {
		snprintf(err, errlen, "'%.40s' is not a role (integration, "
		    "records_manager, auditor, admin)", fields[2]);
		return -1;
	}
	if ((e->principal = strdup(fields[1])) == NULL ||
	    (e->role = strdup(fields[2])) == NULL) {
		free(e->principal);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

struct tls_map *
tls_map_load(const char *path, char *err, size_t errlen)
{
	struct tls_map *m;
	struct tls_map_entry e, *grown;
	char line[1024], why[256], *p;
	size_t cap = 0, i;
	int lineno = 0;
	FILE *f;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "server.client_map: %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "server.client_map: %s:%d: line "
			    "too long", path, lineno);
			goto fail;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		memset(&e, 0, sizeof(e));
		if (tls_map_line(line, &e, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "server.client_map: %s:%d: %s",
			    path, lineno, why);
			goto fail;
		}
		if (m->n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(m->entries, cap *
			    sizeof(*grown))) == NULL) {
				free(e.principal);
				free(e.role);
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			m->entries = grown;
		}
		m->entries[m->n++] = e;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "server.client_map: %s: read error",
		    path);
		goto fail;
	}
	fclose(f);
	f = NULL;
	qsort(m->entries, m->n, sizeof(*m->entries), tls_map_cmp);
	/* One certificate, one principal: a second line would be ignored
	 * silently otherwise. */
	for (i = 1; i < m->n; i++)
		if (strcmp(m->entries[i].fp, m->entries[i - 1].fp) == 0) {
			snprintf(err, errlen, "server.client_map: %s: "
			    "fingerprint %s is mapped twice", path,
			    m->entries[i].fp);
			goto fail;
		}
	return m;
fail:
	if (f)
		fclose(f);
	tls_map_free(m);
	return NULL;
}

int
tls_map_find(const struct tls_map *m, const char *fp, const char **principal,
    const char **role)
{
	struct tls_map_entry key, *e;

	if (m == NULL || strlen(fp) >= sizeof(key.fp))
		return -1;
	snprintf(key.fp, sizeof(key.fp), "%s", fp);
	e = bsearch(&key, m->entries, m->n, sizeof(*m->entries), tls_map_cmp);
	if (e == NULL)
		return -1;
	*principal = e->principal;
	*role = e->role;
	return 0;
}
