/*
 * inbox.c — the inbox folder's file mechanics: which packages are ready,
 * taking them away, and the report beside each in the outbox.  What a
 * package becomes (a transfer) is decided by the caller.  Runs on a
 * worker: it reads directories and writes files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ingest.h"

static int
inbox_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return n >= k && strcmp(name + n - k, suffix) == 0;
}

char *
inbox_next(const char *dir, int require_marker)
{
	char path[4096], *best = NULL;
	struct timespec best_time = { 0, 0 };
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || inbox_has_suffix(de->d_name,
		    ".part") || inbox_has_suffix(de->d_name, ".tmp") ||
		    inbox_has_suffix(de->d_name, ".ready"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;	/* links and folders are not taken */
		if (require_marker) {
			char marker[4200];

			snprintf(marker, sizeof(marker), "%s.ready", path);
			if (access(marker, F_OK) == -1)
				continue;
		}
		if (best == NULL || st.st_mtim.tv_sec < best_time.tv_sec ||
		    (st.st_mtim.tv_sec == best_time.tv_sec &&
		    st.st_mtim.tv_nsec < best_time.tv_nsec)) {
			free(best);
			best = strdup(de->d_name);
			best_time = st.st_mtim;
		}
	}
	closedir(d);
	return best;
}

void
inbox_remove(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s.ready", dir, name);
	unlink(path);
}

int
inbox_report(const char *outbox, const char *name, const char *json,
    char *err, size_t errlen)
{
	char tmp[4096], final[4096];
	size_t len = strlen(json);
	int fd;

	if (mkdir(outbox, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", outbox,
		    strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%s.report.json.tmp", outbox, name);
	snprintf(final, sizeof(final), "%s/%s.report.json", outbox, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) ==
	    -1 || write(fd, json, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) == -1 || close(fd) == -1 ||
	    rename(tmp, final) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", final,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		unlink(tmp);
		return -1;
	}
	return 0;
}

void
inbox_reject(const char *dir, const char *outbox, const char *name)
{
	char from[4096], to[4096];

	snprintf(from, sizeof(from), "%s/%s", dir, name);
	snprintf(to, sizeof(to), "%s/%s", outbox, name);
	if (rename(from, to) == -1)
		unlink(from);	/* another file system: the report says why */
	snprintf(from, sizeof(from), "%s/%s.ready", dir, name);
	unlink(from);
}
