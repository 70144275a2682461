/*
 * package.h — the one package model every format fills.  A format reader
 * (sahke2.c, bagit.c with csvmeta.c) turns an unpacked package into a
 * struct package plus findings; ingest/ stores what the model says.  It
 * knows nothing of HTTP, PostgreSQL or storage.
 *
 * Every string is malloc'd UTF-8 (NULL when absent) and freed by
 * package_free().  Dates are "YYYY-MM-DD" (the time zone of an xs:date is
 * dropped: a calendar date is what retention counts from).  Function codes
 * are normalised: groups of digits joined by one space ("10 03 00 09"),
 * whatever the package separated them with (".", " ", "-", "_").
 */
#ifndef SAILO_PACKAGE_H
#define SAILO_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats.h"

enum pkg_format { PKG_SAHKE2, PKG_BAGIT };

/* One Document: the file that holds a record's content. */
struct pkg_document {
	char	*native_id;
	char	*use_type;
	char	*path;		/* Path + Name normalised, relative to the
				 * package root ('\' read as '/', "./" as
				 * the root); NULL when they name no place
				 * inside the package (UNSAFE_PATH) */
	char	*format_name;	/* declared, e.g. "application/pdf" */
	char	*format_version;
	char	*hash_algorithm;/* normalised: md5 sha1 sha224 sha256 sha384
				 * sha512; NULL when unknown (an error) */
	char	*hash_value;	/* lower-case hex */
	long	 line;
};

/* What a case file and a record share. */
struct pkg_common {
	char	*native_id;
	char	*title;
	char	*type;
	char	*status;
	char	*function_code;	/* normalised */
	char	*created;	/* the earliest Created */
	char	*publicity;	/* Restriction/PublicityClass */
	char	*security_reason;
	char	*personal_data;	/* Restriction/PersonalData */
	bool	 has_retention;
	long	 retention_period;	/* years; -1 = permanent */
	char	*retention_reason;
	char	*retention_end;	/* RetentionPeriodEnd */
	char	*trigger;	/* retention trigger (CSV), or NULL */
	char	**ssns;		/* valid person identity codes, upper-case */
	size_t	 nssns;
	long	 line;		/* of the element in the metadata file */
};

struct pkg_record {
	struct pkg_common	 c;
	char			*description;
	char			*case_native_id;	/* CSV: its case file */
	struct pkg_document	*docs;
	size_t			 ndocs, capdocs;
};

struct pkg_casefile {
	struct pkg_common	 c;
	char			*finished;	/* the latest Finished */
	char			*last_action;	/* the latest Action/Created */
	size_t			 nactions;
	struct pkg_record	*records;
	size_t			 nrecords, caprecords;
	/* The submitted metadata of this case file alone, written by the
	 * reader as a file (a Metadata document with the transfer's
	 * TransferInformation and ContactInformation and this one CaseFile),
	 * path relative to the extract folder; NULL when not written. */
	char			*metadata_extract;
};

struct package {
	enum pkg_format		 format;
	char			*schema;	/* "SÄHKE2 2019", "BagIt 1.0" */
	char			*namespace_uri;	/* SÄHKE2 only */
	char			*metadata_path;	/* relative to the root */
	char			*transfer_native_id;
	char			*transfer_title;
	char			*organisation;
	struct pkg_casefile	*casefiles;
	size_t			 ncasefiles, capcasefiles;
	/* Records not in any case file (BagIt metadata.csv rows without a
	 * case_native_id). */
	struct pkg_record	*records;
	size_t			 nrecords, caprecords;
	char			**bag_info;	/* "Label: value" lines */
};

void	package_init(struct package *p);
void	package_free(struct package *p);
/* Frees every Document's hash_value (NULL after): package_check_files()
 * is done with them, and a migration holds hundreds of thousands. */
void	package_drop_digests(struct package *p);
/* Appends a zeroed element and returns it, or NULL without memory.  The
 * array may move (realloc): pointers to earlier elements of it are stale. */
struct pkg_casefile *package_add_casefile(struct package *p);
struct pkg_record   *package_add_record(struct package *p,
		    struct pkg_casefile *cf);	/* cf NULL: loose record */
struct pkg_document *package_add_document(struct pkg_record *r);

/* "10.03.00.09", "10 03 00 09", "10-03-00-09" → "10 03 00 09" (malloc'd);
 * NULL when s holds anything but digit groups and separators (white space
 * around it is ignored; a leading or trailing '.', '-' or '_' is not). */
char	*package_function_code(const char *s);
/* "sha256", "SHA-256", "sha-256", "MD5", "SHA1", "SHA512"… → "sha256" …
 * (static); NULL when unknown. */
const char *package_hash_algorithm(const char *s);
/* Path + Name of a Document/File joined and normalised ('\' → '/', "./"
 * and "." segments dropped, repeated '/' folded); malloc'd, or NULL when
 * the result is empty, absolute or climbs out with "..", and when Name is
 * empty or itself absolute ("/x", "\x", "C:x"). */
char	*package_document_path(const char *path, const char *name);

/* A Finnish personal identity code (henkilötunnus): DDMMYY, a century sign
 * (+ - A, and since 2023 also B C D E F and Y X W V U), three digits and
 * the check character.  True when valid; norm gets it upper-case. */
bool	hetu_valid(const char *s, char norm[12]);

/*
 * Files checked against the model: every Document's file exists among the
 * unpacked files (FILE_MISSING; UNSAFE_PATH when its path is NULL; names
 * that differ only in Unicode normalisation, NFD against NFC, match), its
 * declared hash matches (sha256 from the digests taken while unpacking,
 * other algorithms by reading the file under root: CHECKSUM_MISMATCH; an
 * unknown algorithm HASH_ALGORITHM, a value that is not hex of the right
 * length HASH_VALUE), and every unpacked file is some Document's or the
 * metadata file (FILE_UNLISTED).  files[i].path is relative to root, as
 * Document paths are; files[i].sha256 may be NULL (then read).  0, or -1
 * when a file could not be read (err).
 */
struct pkg_file {
	const char	*path;
	uint64_t	 size;
	const char	*sha256;	/* hex */
};
int	package_check_files(const struct package *p, const char *root,
	    const struct pkg_file *files, size_t nfiles, struct findings *f,
	    char *err, size_t errlen);

/*
 * SÄHKE2.  sahke2_init() parses the bundled schemas once (call at start-up,
 * after xmlInitParser(); thread-safe to use afterwards).
 * sahke2_detect() reads only up to the root element: 2019 or 2011 when it
 * is Metadata in that namespace, 0 otherwise (or unreadable, or a DOCTYPE
 * comes first: that is sahke2_read()'s finding to give).
 * sahke2_read() streams path (xmlTextReader + the schema of its namespace,
 * XML_PARSE_NONET | XML_PARSE_BIG_LINES, no DTD loading, no entity
 * expansion) into p, one CaseFile subtree at a time, and writes each case
 * file's metadata extract under extract_dir (NULL: none).  Findings:
 * XML_DOCTYPE, XML_MALFORMED, METADATA_TOO_LARGE, SAHKE2_NAMESPACE,
 * SAHKE2_SCHEMA (with line), RETENTION_PERIOD, RETENTION_PERMANENT,
 * SECURITY_REASON_MISSING, DATE_INVALID, FUNCTION_CODE, PERSON_ID_INVALID.
 * A message never quotes a person identity code.  0, or -1 when Sailo
 * failed (err).
 */
int	sahke2_init(char *err, size_t errlen);
int	sahke2_detect(const char *path);
int	sahke2_read(struct package *p, const char *path, const char *rel,
	    uint64_t max_bytes, const char *extract_dir, struct findings *f,
	    char *err, size_t errlen);

/*
 * metadata.csv of a BagIt migration (UTF-8, a BOM tolerated, RFC 4180
 * quoting, ',' or ';' detected from the header).  Columns, the first three
 * required: path, native_id, title, case_native_id, function_code,
 * created, record_type, retention_years, trigger, publicity, person_ssn.
 * Rows become records of p (grouped into case files by case_native_id,
 * else loose); a bad value is a CSV_VALUE error naming the line and the
 * column, a missing required column CSV_HEADER.  Each row's path (relative
 * to the bag's data/ folder) becomes a Document with hash_algorithm NULL
 * and no hash_value (the bag's manifests check the bytes;
 * package_check_files() skips the hash of such a Document).  0, or -1 when
 * the file could not be read (err).
 */
int	csvmeta_read(struct package *p, const char *path, const char *rel,
	    struct findings *f, char *err, size_t errlen);
/* After disposal: the CSV at src written to dst without the rows of
 * records for which gone(native_id, arg) is true, every other byte as it
 * was (the BOM, the header, quoting, line ends); *left counts the rows
 * kept.  0, or -1 (err). */
int	csvmeta_redact(const char *src, const char *dst,
	    bool (*gone)(const char *native_id, void *arg), void *arg,
	    size_t *left, char *err, size_t errlen);

#endif
