/*
 * inbox_watch.h — the inbox folder as a way in (see inbox_watch.c).
 */
#ifndef SAILO_INBOX_WATCH_H
#define SAILO_INBOX_WATCH_H

struct db;

/* One scan of the inbox; runs on a job worker, arg is the struct app. */
void	inbox_watch_job(struct db *db, void *arg);

#endif
