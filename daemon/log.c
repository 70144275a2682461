/*
 * log.c — line-oriented logging with a timestamp and level.  Owns the log
 * file handle; SIGHUP makes the loop call log_reopen() so that logrotate can
 * move the file away.  Callers never log secrets: tokens and person
 * identifiers do not reach this file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;
static char *log_path;

int
log_open(const char *path)
{
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	free(log_path);
	log_path = (path && *path) ? strdup(path) : NULL;
	pthread_mutex_unlock(&log_lock);
	if (log_path)
		rc = log_reopen();
	return rc;
}

int
log_reopen(void)
{
	FILE *fp;
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	if (log_path == NULL)
		goto out;
	if ((fp = fopen(log_path, "a")) == NULL) {
		fprintf(stderr, "sailo: cannot open log file %s: %s\n",
		    log_path, strerror(errno));
		rc = -1;
		goto out;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	if (log_fp && log_fp != stderr)
		fclose(log_fp);
	log_fp = fp;
out:
	pthread_mutex_unlock(&log_lock);
	return rc;
}

static void
log_vwrite(const char *level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	FILE *fp;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fp = log_fp ? log_fp : stderr;
	fprintf(fp, "%s.%03ldZ %s ", when, ts.tv_nsec / 1000000, level);
	vfprintf(fp, fmt, ap);
	fputc('\n', fp);
	fflush(fp);
	pthread_mutex_unlock(&log_lock);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("info", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("warn", fmt, ap);
	va_end(ap);
}

void
log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fp && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	free(log_path);
	log_path = NULL;
	pthread_mutex_unlock(&log_lock);
}
