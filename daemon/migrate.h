/*
 * migrate.h — `sailo db migrate`: applies sql/NNN_name.sql in order, each
 * in its own transaction, recorded with its SHA-256.  An applied file that
 * has changed since is refused: migrations are never edited, only added.
 */
#ifndef SAILO_MIGRATE_H
#define SAILO_MIGRATE_H

#include <stddef.h>

/* Returns 0, or -1 with a message in err. */
int	migrate_run(const char *owner_conninfo, const char *dir, char *err,
	    size_t errlen);

#endif
