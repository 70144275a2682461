/*
 * log.h — the daemon's log: one line an event, to stderr or log.file.
 * Thread-safe.  Never pass a secret (token, person identifier) to it.
 */
#ifndef SAILO_LOG_H
#define SAILO_LOG_H

#include <stdarg.h>

int	log_open(const char *path);	/* NULL or "" = stderr; -1 on error */
int	log_reopen(void);		/* SIGHUP: reopen log.file */
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_close(void);

#endif
