/*
 * process.h — what the parts of the ingest pipeline share inside ingest/
 * (process.c: one transfer from claim to decision; catalogue.c: its
 * catalogue transaction).  Not for the rest of
 * Sailo: ingest.h is.
 */
#ifndef SAILO_PROCESS_H
#define SAILO_PROCESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "ingest.h"
#include "package.h"

struct unit;

/* One transfer being processed. */
struct job {
	struct db		*db;
	const struct config	*cfg;
	bool			(*stop)(void *);
	void			*stop_arg;

	char			 id[37];
	char			 submitter_id[37];
	char			 submitter[201];
	char			 sha256[65];
	char			*inbox_name;
	int			 attempts;
	char			 last_failure[512];	/* of the last try */

	char			 pkg[PATH_MAX];
	char			 work[PATH_MAX];	/* unpacked */
	char			 meta[PATH_MAX];	/* extracts, PREMIS */
	char			 tmp[PATH_MAX];		/* bags being written */
	char			 root[PATH_MAX];	/* package root */
	size_t			 root_len;	/* of the prefix in paths */
	const char		*format;	/* "sahke2", "bagit" */

	struct findings		 f;
	struct unpack_result	 u;
	struct strmap		 by_path;	/* root-relative → file */
	char			**mime;		/* per unpacked file, or NULL */
	struct package		 p;
	char			**bag_info;

	struct unit		*units;
	size_t			 nunits;
	double			 t0;		/* phase times, for the log */
	char			 times[256];
};

/* One AIP version to write. */
struct unit {
	struct pkg_casefile	*cf;		/* SÄHKE2 */
	char			*native_id;
	char			*title;
	char			 aip_id[37];
	int			 version;	/* the new one */
	int			 previous;	/* 0: a new AIP */
	char			*tmp;		/* its bag being written */
	char			 tagmanifest[65];
	struct aip_file		*files;
	size_t			 nfiles, capfiles;
	size_t			 nstored;	/* files in the written bag:
						 * after writing, a case
						 * file's unit keeps only
						 * Sailo's own in files */
	uint64_t		 bytes;
	char			**prev_links;	/* link_from strings owned */
	size_t			 nprev;
	bool			 placed;
};


/* process.c's services to catalogue.c. */
void	process_path(char *buf, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
const char *process_rel(const struct job *j, const char *path);
const struct unpacked_file *process_file(const struct job *j,
	    const char *rel, size_t *index);
void	process_phase(struct job *j, const char *name);
/* Where a file of the package goes in its AIP: data/content/ and its path
 * in the package (for a bag, its path under the bag's data/). */
void	process_content_path(const struct job *j, const char *rel,
	    char *out, size_t len);
int	process_audit(struct job *j, const char *action,
	    enum audit_outcome outcome, const char *object_type,
	    const char *object_id, json_t *details);
int	process_insert_findings(struct job *j);

/* catalogue.c: places every bag and catalogues everything in one
 * transaction (see there). */
enum store_result { STORE_DONE, STORE_RETRY, STORE_MOVED, STORE_FAILED };
enum store_result catalogue_store(struct job *j, char *err, size_t errlen);

#endif
