/*
 * tls.h — the server's TLS settings (one SSL_CTX built at start-up from
 * server.tls_cert, server.tls_key and server.client_ca) and the map of
 * client certificates to principals (server.client_map).  Both are made
 * once before serving and read-only afterwards.
 */
#ifndef SAILO_TLS_H
#define SAILO_TLS_H

#include <stddef.h>

struct config;
struct tls_map;
typedef struct ssl_ctx_st SSL_CTX;

/* HEX of a SHA-256 fingerprint, lower case, and its NUL. */
#define TLS_FINGERPRINT_LEN	65

/* The context for server.tls_cert and .tls_key: TLS 1.2 and up, ECDHE
 * with AEAD ciphers, and client certificates requested and verified
 * against server.client_ca when that is set.  NULL when TLS is off (*err
 * empty) or on error (a message naming the key in err). */
SSL_CTX	*tls_server_ctx(const struct config *cfg, char *err, size_t errlen);

/* Reads a client map: lines "fingerprint principal role", '#' comments
 * and blank lines; a fingerprint is hex, colons and case tolerated.  NULL
 * with a message naming the file and line in err. */
struct tls_map *tls_map_load(const char *path, char *err, size_t errlen);
void	 tls_map_free(struct tls_map *m);
/* The principal and role (its name, as in the map) mapped to fingerprint
 * fp (lower-case hex, no colons), or -1 when it is not in the map.  The
 * strings live as long as the map. */
int	 tls_map_find(const struct tls_map *m, const char *fp,
	    const char **principal, const char **role);
/* Normalises a fingerprint: colons dropped, lower case, 64 hex digits into
 * out[TLS_FINGERPRINT_LEN].  0, or -1 when it is not one. */
int	 tls_fingerprint_parse(const char *text, char *out);

#endif
