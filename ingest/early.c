/*
 * early.c — unpacking a package while it is still being received.
 *
 * A package sent in one request (POST /v1/transfers) is unpacked by a
 * thread of its own that reads the spool file as it grows, so that when the
 * last byte is in, most of the unpacking is done.  Without it, receiving
 * (hashing and writing the spool) and unpacking (reading it again, hashing
 * and writing every file) ran one after the other on one core each; this
 * machine has two (bench/ingest.sh, case a).
 *
 * The result is only a head start: the transfer is decided by the job that
 * claims it (process.c), which takes the early result when this daemon has
 * one for that transfer and unpacks from the spool as before when not (a
 * restart, another daemon claimed it, a zip, the limit of early unpacks
 * reached).  Both read the same bytes with the same code (unpack.c), so
 * both give the same files and findings.
 *
 * Life of one: spool_open() of a POST starts it (early_attach); every
 * spool_write() tells it how far the file goes; spool_finish() that it is
 * whole; spool_commit() binds it to the transfer id; a spool_discard()
 * before that (an upload cut off, a checksum mismatch, the same package
 * again) stops it and its folder goes.  The folder lives under
 * <storage.work>/.early-<daemon>/, a folder this daemon holds an flock on:
 * at start-up a daemon removes the folders of daemons that hold none (they
 * died), so a crash leaves nothing behind for long.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "early.h"
#include "log.h"

/* Early unpacks running at once; past it a package is unpacked after it
 * arrived, as before.  Each holds what one unpack holds (libarchive's
 * buffers and the list of files). */
#define EARLY_MAX		2
#define EARLY_BLOCK		(1024 * 1024)
/* A result no job took (another daemon claimed the transfer) goes after
 * this long. */
#define EARLY_UNCLAIMED_S	600

enum early_state { EARLY_RECEIVING, EARLY_WHOLE, EARLY_STOPPED };

struct early {
	struct early		*next;		/* early_all */
	int			 refs;		/* the thread, and its holder */
	int			 fd;		/* the spool file, to read */
	uint64_t		 written, pos;
	uint64_t		 want;		/* the thread waits for this */
	enum early_state	 state;
	bool			 done;		/* the thread has finished */
	bool			 moved;		/* its folder is a job's now */
	int			 rc;		/* unpack_stream()'s */
	char			 transfer_id[37];	/* "" until bound */
	time_t			 done_at;
	char			 work[PATH_MAX];
	struct unpack_limits	 lim;
	struct unpack_result	 u;
	struct findings		 f;
	char			 err[512];
	unsigned char		*buf;
};

static pthread_mutex_t	 early_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 early_cond = PTHREAD_COND_INITIALIZER;
static struct early	*early_all;
static int		 early_running;
static char		 early_dir[PATH_MAX - 32];	/* "" until early_init */
static int		 early_dir_fd = -1;	/* flocked while we live */

/* ---- the folder of this daemon's early unpacks ------------------------ */

static void
early_remove_stale(const char *work)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int fd;

	if ((d = opendir(work)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".early-", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", work, de->d_name);
		if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
		    -1)
			continue;
		/* Held: a live daemon's.  Not held: its daemon is gone. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			log_info("removing %s, left by a daemon that stopped "
			    "while receiving", path);
			unpack_remove(path);
		}
		close(fd);
	}
	closedir(d);
}

int
early_init(const struct config *cfg, char *err, size_t errlen)
{
	unsigned char rnd[6];
	char name[16];

	if (!cfg->ingest_unpack_while_receiving)
		return 0;
	if (mkdir(cfg->storage_work, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %.400s: %s", cfg->storage_work,
		    strerror(errno));
		return -1;
	}
	early_remove_stale(cfg->storage_work);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		snprintf(err, errlen, "no random bytes");
		return -1;
	}
	digest_hex(rnd, sizeof(rnd), name);
	snprintf(early_dir, sizeof(early_dir), "%s/.early-%s",
	    cfg->storage_work, name);
	if (mkdir(early_dir, 0700) == -1 ||
	    (early_dir_fd = open(early_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || flock(early_dir_fd, LOCK_EX | LOCK_NB) ==
	    -1) {
		snprintf(err, errlen, "%.400s: %s", early_dir,
		    strerror(errno));
		early_dir[0] = '\0';
		return -1;
	}
	return 0;
}

/* ---- one early unpack ------------------------------------------------- */

/* Drops one reference; the last one frees it, and its folder unless a job
 * has taken that.  Called with early_lock held. */
static void
early_release_locked(struct early *e)
{
	struct early **pp;

	if (--e->refs > 0)
		return;
	for (pp = &early_all; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	if (!e->moved)
		unpack_remove(e->work);
	if (e->fd != -1)
		close(e->fd);
	unpack_result_free(&e->u);
	findings_free(&e->f);
	free(e->buf);
	free(e);
}

/* libarchive's next bytes: as far as the upload has written, waiting for
 * more while it goes on. */
static ssize_t
early_read(void *arg, const void **buf)
{
	struct early *e = arg;
	uint64_t avail;
	ssize_t n;

	pthread_mutex_lock(&early_lock);
	/* A whole block at a time, not every write of the upload. */
	e->want = e->pos + EARLY_BLOCK;
	while (e->written < e->want && e->state == EARLY_RECEIVING)
		pthread_cond_wait(&early_cond, &early_lock);
	e->want = 0;
	if (e->state == EARLY_STOPPED) {
		pthread_mutex_unlock(&early_lock);
		return -1;
	}
	avail = e->written - e->pos;
	pthread_mutex_unlock(&early_lock);
	if (avail == 0)
		return 0;
	do
		n = pread(e->fd, e->buf, avail < EARLY_BLOCK ? (size_t)avail :
		    EARLY_BLOCK, (off_t)e->pos);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	e->pos += (uint64_t)n;
	*buf = e->buf;
	return n;
}

/* True when the package is a zip: libarchive reads a zip from its
 * central directory at the end when it can seek a file, and from its
 * local headers when it streams; the two can differ on a crafted zip, so
 * a zip is unpacked from the spool, the same way every time. */
static bool
early_is_zip(struct early *e)
{
	unsigned char magic[4];

	pthread_mutex_lock(&early_lock);
	e->want = sizeof(magic);
	while (e->written < e->want && e->state == EARLY_RECEIVING)
		pthread_cond_wait(&early_cond, &early_lock);
	e->want = 0;
	pthread_mutex_unlock(&early_lock);
	if (pread(e->fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic))
		return false;		/* too short to be anything: unpack */
	return magic[0] == 'P' && magic[1] == 'K' &&
	    ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 &&
	    magic[3] == 6));
}

static void *
early_main(void *arg)
{
	struct early *e = arg;
	int rc = -1;

	if (early_is_zip(e))
		snprintf(e->err, sizeof(e->err), "a zip is unpacked from the "
		    "spool");
	else
		rc = unpack_stream(&e->u, early_read, e, e->work, &e->lim,
		    &e->f, e->err, sizeof(e->err));
	pthread_mutex_lock(&early_lock);
	/* Stopped midway: the findings of a cut-off stream are not the
	 * package's. */
	e->rc = e->state == EARLY_STOPPED ? -1 : rc;
	e->done = true;
	e->done_at = time(NULL);
	early_running--;
	pthread_cond_broadcast(&early_cond);
	early_release_locked(e);
	pthread_mutex_unlock(&early_lock);
	return NULL;
}

struct early *
early_start(const struct config *cfg, const char *part_path)
{
	struct early *e = NULL;
	unsigned char rnd[8];
	char name[20];
	pthread_attr_t attr;
	pthread_t t;
	int started;

	if (early_dir[0] == '\0' || cfg->ingest_paused)
		return NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->buf = malloc(EARLY_BLOCK)) == NULL ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto fail;
	e->fd = -1;
	digest_hex(rnd, sizeof(rnd), name);
	if (snprintf(e->work, sizeof(e->work), "%s/%s", early_dir, name) >=
	    (int)sizeof(e->work))
		goto fail;
	e->lim.max_entries = (uint64_t)cfg->ingest_max_entries;
	e->lim.max_unpacked_bytes = (uint64_t)cfg->ingest_max_unpacked_bytes;
	e->lim.max_ratio = cfg->ingest_max_ratio;
	findings_init(&e->f);
	if ((e->fd = open(part_path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	e->refs = 2;			/* the thread, and the spool file */
	pthread_mutex_lock(&early_lock);
	if (early_running >= EARLY_MAX) {
		pthread_mutex_unlock(&early_lock);
		goto fail;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&t, &attr, early_main, e) == 0;
	pthread_attr_destroy(&attr);
	if (!started) {
		pthread_mutex_unlock(&early_lock);
		goto fail;
	}
	early_running++;
	e->next = early_all;
	early_all = e;
	pthread_mutex_unlock(&early_lock);
	return e;
fail:
	if (e) {
		if (e->fd != -1)
			close(e->fd);
		findings_free(&e->f);
		free(e->buf);
		free(e);
	}
	return NULL;
}

void
early_wrote(struct early *e, uint64_t size)
{
	pthread_mutex_lock(&early_lock);
	e->written = size;
	if (e->want && size >= e->want)
		pthread_cond_broadcast(&early_cond);
	pthread_mutex_unlock(&early_lock);
}

void
early_whole(struct early *e, uint64_t size)
{
	pthread_mutex_lock(&early_lock);
	e->written = size;
	if (e->state == EARLY_RECEIVING)
		e->state = EARLY_WHOLE;
	pthread_cond_broadcast(&early_cond);
	pthread_mutex_unlock(&early_lock);
}

void
early_bind(struct early *e, const char *transfer_id)
{
	pthread_mutex_lock(&early_lock);
	snprintf(e->transfer_id, sizeof(e->transfer_id), "%s", transfer_id);
	/* The spool file's reference is the list's now: early_take() or
	 * early_reap() drops it. */
	pthread_mutex_unlock(&early_lock);
}

void
early_stop(struct early *e)
{
	pthread_mutex_lock(&early_lock);
	e->state = EARLY_STOPPED;
	pthread_cond_broadcast(&early_cond);
	early_release_locked(e);
	pthread_mutex_unlock(&early_lock);
}

/* ---- the job's side ---------------------------------------------------- */

static void
early_move_findings(struct findings *to, struct findings *from)
{
	struct findings empty;
	size_t i;

	if (to->n == 0 && to->errors == 0 && to->warnings == 0 &&
	    to->dropped == 0) {
		/* The usual case (nothing found before unpacking): all of
		 * them as they are, counts of those past FINDINGS_MAX too. */
		empty = *to;
		*to = *from;
		*from = empty;
		return;
	}
	for (i = 0; i < from->n; i++)
		findings_add(to, from->items[i].severity, from->items[i].code,
		    from->items[i].path, from->items[i].line, "%s",
		    from->items[i].message);
}

int
early_take(const char *transfer_id, const char *work,
    struct unpack_result *out, struct findings *f)
{
	struct early *e;
	int rc = 0;

	pthread_mutex_lock(&early_lock);
	for (e = early_all; e; e = e->next)
		if (strcmp(e->transfer_id, transfer_id) == 0)
			break;
	if (e == NULL) {
		pthread_mutex_unlock(&early_lock);
		return 0;
	}
	e->transfer_id[0] = '\0';	/* taken: no one else finds it */
	while (!e->done)
		pthread_cond_wait(&early_cond, &early_lock);
	pthread_mutex_unlock(&early_lock);
	if (e->rc == 0 && rename(e->work, work) == 0) {
		e->moved = true;
		*out = e->u;
		memset(&e->u, 0, sizeof(e->u));
		early_move_findings(f, &e->f);
		rc = 1;
	} else if (e->rc == -1)
		log_info("transfer %s: unpacked again after it arrived (%s)",
		    transfer_id, e->err[0] ? e->err : "stopped");
	pthread_mutex_lock(&early_lock);
	early_release_locked(e);
	pthread_mutex_unlock(&early_lock);
	return rc;
}

void
early_reap(void)
{
	struct early *e;
	time_t now = time(NULL);
	bool again = true;

	pthread_mutex_lock(&early_lock);
	while (again) {
		again = false;
		for (e = early_all; e; e = e->next)
			if (e->done && e->transfer_id[0] &&
			    now - e->done_at > EARLY_UNCLAIMED_S) {
				e->transfer_id[0] = '\0';
				early_release_locked(e);
				again = true;	/* the list changed */
				break;
			}
	}
	pthread_mutex_unlock(&early_lock);
}

void
early_shutdown(void)
{
	struct early *e;
	bool again = true;

	pthread_mutex_lock(&early_lock);
	for (e = early_all; e; e = e->next)
		e->state = EARLY_STOPPED;
	pthread_cond_broadcast(&early_cond);
	while (early_running > 0)
		pthread_cond_wait(&early_cond, &early_lock);
	/* Results no job took: their transfers unpack from the spool. */
	while (again) {
		again = false;
		for (e = early_all; e; e = e->next)
			if (e->transfer_id[0]) {
				e->transfer_id[0] = '\0';
				early_release_locked(e);
				again = true;
				break;
			}
	}
	pthread_mutex_unlock(&early_lock);
	if (early_dir_fd != -1) {
		if (early_all == NULL)
			unpack_remove(early_dir);
		close(early_dir_fd);
		early_dir_fd = -1;
	}
	early_dir[0] = '\0';
}
