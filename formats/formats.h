/*
 * formats.h — what the formats folder offers the rest of Sailo: findings
 * (and, as formats land, the one package model every format fills).  It
 * knows nothing of HTTP, PostgreSQL or storage.
 *
 * A finding is {severity, code, path, line, message}: code is stable and
 * upper-case (CHECKSUM_MISMATCH), message says in plain words what is wrong
 * and names the file or element.  Every finding is collected; the first
 * never hides the rest (up to FINDINGS_MAX, then one TOO_MANY_FINDINGS).
 */
#ifndef SAILO_FORMATS_H
#define SAILO_FORMATS_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum severity { SEVERITY_ERROR, SEVERITY_WARNING, SEVERITY_INFO };

#define FINDINGS_MAX 10000

struct finding {
	enum severity	 severity;
	char		*code;
	char		*path;		/* or NULL */
	long		 line;		/* 0 = none */
	char		*message;
};

struct findings {
	struct finding	*items;
	size_t		 n, cap;
	size_t		 errors, warnings;
	size_t		 dropped;	/* past FINDINGS_MAX */
};

void	findings_init(struct findings *f);
void	findings_free(struct findings *f);
/* Adds a finding; path may be NULL, line 0. */
void	findings_add(struct findings *f, enum severity sev, const char *code,
	    const char *path, long line, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));
/* Every byte of s that is not valid UTF-8 becomes '?' (text from a
 * package or a client, to be shown or sent as JSON); findings_add() does
 * it to every message and path, and so do API error messages. */
void	findings_clean_utf8(char *s);
/* Replaces in s whatever has the shape of a personal identity code with
 * "(withheld)"; findings_add() does it to every message and path. */
void	findings_withhold(char *s);
/* True when a finding with this code was added (tests, decisions). */
int	findings_has(const struct findings *f, const char *code);
const char *severity_name(enum severity s);

/*
 * A set of strings with a value each (strmap.c), seeded per set: keys
 * from a package cannot crowd one chain.  copy: keys are copied (and freed
 * with the set), else kept by reference.  strmap_put() gives 1 when the
 * key is new, 0 when it was there (nothing changes), -1 without memory.
 */
struct strmap {
	const char	**keys;
	size_t		 *values;
	size_t		  cap, n;
	uint64_t	  seed;
	bool		  copy;
};
int	strmap_init(struct strmap *m, size_t n, bool copy);
void	strmap_free(struct strmap *m);
int	strmap_put(struct strmap *m, const char *key, size_t value);
bool	strmap_get(const struct strmap *m, const char *key, size_t *value);

/*
 * Digests (digest.c): hex of len bytes of md into out (2 * len + 1 bytes);
 * the digest in type of what fd holds from where it stands, or of a file
 * (not followed when it is a link), as hex (2 * EVP_MAX_MD_SIZE + 1
 * bytes), with the size when size is not NULL.  0, or -1 with err.
 */
void	digest_hex(const unsigned char *md, size_t len, char *out);
int	digest_fd(int fd, const EVP_MD *type, char *hex, uint64_t *size,
	    char *err, size_t errlen);
int	digest_file(const char *path, const EVP_MD *type, char *hex,
	    uint64_t *size, char *err, size_t errlen);

/*
 * BagIt (RFC 8493, versions 0.97 and 1.0), checked in an unpacked folder.
 * root is the folder that holds bagit.txt.  known_sha256 (may be NULL)
 * gives SHA-256 digests already computed while unpacking, by path relative
 * to root, so that a file is not read twice for them.  Findings:
 * BAGIT_DECLARATION, BAGIT_MANIFEST (none, or a bad line), BAGIT_FETCH,
 * UNSAFE_PATH, FILE_MISSING, FILE_UNLISTED, CHECKSUM_MISMATCH, BAGIT_OXUM,
 * BAGIT_INFO.  bag-info.txt's labels are returned in *info (malloc'd
 * "Label: value" lines, NULL-terminated) when info is not NULL.
 * Returns 0, or -1 when a file could not be read (err).
 */
/* A manifest path as RFC 8493 §2.1.3 writes it (%0D, %0A, %25), decoded
 * in place. */
void	bagit_unescape(char *s);
struct bagit_digest {
	const char	*path;
	const char	*sha256;
};
int	bagit_check(const char *root, const struct bagit_digest *known,
	    size_t nknown, struct findings *f, char ***info, char *err,
	    size_t errlen);
void	bagit_info_free(char **info);

#endif
