/*
 * spool.c — receiving a package: bytes to disk and to SHA-256 in one pass,
 * durable before anyone is told it was received.  Owns the part files;
 * what a transfer is, and who may send one, is decided elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "early.h"
#include "ingest.h"

#define SPOOL_KICK	(8 * 1024 * 1024)

struct spool_file {
	char		*dir;
	char		 path[4096];
	int		 fd;
	EVP_MD_CTX	*md;		/* NULL for upload files */
	uint64_t	 size;
	struct early	*early;		/* unpacking it as it grows, or NULL */
	uint64_t	 kicked;	/* writing back started up to here */
	int		 is_committed;
	int		 is_upload;	/* kept on discard: resumable */
};

static void
spool_errno(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "%s %s: %s%s", what, path, strerror(errno),
	    errno == ENOSPC ? " (storage is full)" : "");
}

int
spool_open(struct spool_file **out, const char *dir, char *err, size_t errlen)
{
	struct spool_file *f;
	unsigned char rnd[12];
	char name[32];

	*out = NULL;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		spool_errno(err, errlen, "cannot make", dir);
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->dir = strdup(dir)) == NULL ||
	    (f->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1 ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	digest_hex(rnd, sizeof(rnd), name);
	snprintf(f->path, sizeof(f->path), "%s/%s.part", dir, name);
	if ((f->fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		spool_errno(err, errlen, "cannot create", f->path);
		goto fail;
	}
	*out = f;
	return 0;
fail:
	if (f) {
		EVP_MD_CTX_free(f->md);
		free(f->dir);
		free(f);
	}
	return -1;
}

int
spool_write(struct spool_file *f, const void *data, size_t len, char *err,
    size_t errlen)
{
	const char *p = data;
	ssize_t n;

	if (f->md)
		EVP_DigestUpdate(f->md, data, len);
	while (len > 0) {
		if ((n = write(f->fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			spool_errno(err, errlen, "cannot write", f->path);
			return -1;
		}
		p += n;
		len -= (size_t)n;
		f->size += (uint64_t)n;
	}
	/* The disk starts on what came so far (the fsync at the end has
	 * less to do). */
	if (f->size - f->kicked >= SPOOL_KICK) {
		(void)sync_file_range(f->fd, (off_t)f->kicked,
		    (off_t)(f->size - f->kicked), SYNC_FILE_RANGE_WRITE);
		f->kicked = f->size;
	}
	if (f->early)
		early_wrote(f->early, f->size);
	return 0;
}

void
spool_unpack_early(struct spool_file *f, const struct config *cfg)
{
	if (f->early == NULL && f->size == 0)
		f->early = early_start(cfg, f->path);
}

int
spool_finish(struct spool_file *f, char sha256_hex[65], uint64_t *size,
    char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (fsync(f->fd) == -1) {
		spool_errno(err, errlen, "cannot sync", f->path);
		return -1;
	}
	EVP_DigestFinal_ex(f->md, md, &n);
	digest_hex(md, n, sha256_hex);
	*size = f->size;
	if (f->early)
		early_whole(f->early, f->size);
	return 0;
}

int
spool_commit(struct spool_file *f, const char *name, char *err, size_t errlen)
{
	char final[4096];
	int dfd;

	snprintf(final, sizeof(final), "%s/%s.pkg", f->dir, name);
	if (rename(f->path, final) == -1) {
		spool_errno(err, errlen, "cannot rename", f->path);
		return -1;
	}
	f->is_committed = 1;
	if (f->early) {
		early_bind(f->early, name);
		f->early = NULL;
	}
	/* The rename itself must survive a crash. */
	if ((dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		spool_errno(err, errlen, "cannot sync", f->dir);
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

void
spool_discard(struct spool_file *f)
{
	if (f == NULL)
		return;
	if (f->early)
		early_stop(f->early);
	if (f->fd != -1)
		close(f->fd);
	if (!f->is_committed && !f->is_upload)
		unlink(f->path);
	EVP_MD_CTX_free(f->md);
	free(f->dir);
	free(f);
}

int
spool_open_upload(struct spool_file **out, const char *dir, const char *name,
    uint64_t offset, char *err, size_t errlen)
{
	struct spool_file *f;

	*out = NULL;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		spool_errno(err, errlen, "cannot make", dir);
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->dir = strdup(dir)) == NULL) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->is_upload = 1;
	snprintf(f->path, sizeof(f->path), "%s/%s.part", dir, name);
	/* Bytes past the durable offset may be torn: they go. */
	if ((f->fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) ==
	    -1 || ftruncate(f->fd, (off_t)offset) == -1 ||
	    lseek(f->fd, (off_t)offset, SEEK_SET) == -1) {
		spool_errno(err, errlen, "cannot open", f->path);
		if (f->fd != -1)
			close(f->fd);
		free(f->dir);
		free(f);
		return -1;
	}
	f->size = f->kicked = offset;
	*out = f;
	return 0;
}

int
spool_sync(struct spool_file *f, uint64_t *size, char *err, size_t errlen)
{
	if (fsync(f->fd) == -1) {
		spool_errno(err, errlen, "cannot sync", f->path);
		return -1;
	}
	*size = f->size;
	return 0;
}

int
spool_hash(struct spool_file *f, char sha256_hex[65], uint64_t *size,
    char *err, size_t errlen)
{
	int fd, rc;

	/* Hashed while it was written (a copy): no second read. */
	if (f->md && !f->is_upload)
		return spool_finish(f, sha256_hex, size, err, errlen);
	if ((fd = open(f->path, O_RDONLY | O_CLOEXEC)) == -1) {
		spool_errno(err, errlen, "cannot read", f->path);
		return -1;
	}
	/* A linked file was written by someone else: durable before it is
	 * recorded. */
	if (fsync(fd) == -1) {
		spool_errno(err, errlen, "cannot sync", f->path);
		close(fd);
		return -1;
	}
	if ((rc = digest_fd(fd, EVP_sha256(), sha256_hex, size, err,
	    errlen)) == -1)
		spool_errno(err, errlen, "cannot read", f->path);
	close(fd);
	return rc;
}

void
spool_remove_upload(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.part", dir, name);
	unlink(path);
}

int
spool_adopt(struct spool_file **out, const char *dir, const char *src,
    char *err, size_t errlen)
{
	struct spool_file *f;
	char buf[65536];
	ssize_t n;
	int in;

	if (spool_open(&f, dir, err, errlen) == -1)
		return -1;
	/* The part file exists (O_EXCL made it ours): replace it by a link. */
	if (unlink(f->path) == 0 && link(src, f->path) == 0) {
		close(f->fd);
		f->fd = -1;
		/* Nothing was hashed on the way in: spool_hash() reads it. */
		EVP_MD_CTX_free(f->md);
		f->md = NULL;
		*out = f;
		return 0;
	}
	/* Another file system: copy. */
	if (f->fd != -1)
		close(f->fd);
	if ((f->fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || (in = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		spool_errno(err, errlen, "cannot copy", src);
		spool_discard(f);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (spool_write(f, buf, (size_t)n, err, errlen) == -1)
			break;
	close(in);
	if (n != 0) {
		if (n < 0)
			spool_errno(err, errlen, "cannot read", src);
		spool_discard(f);
		return -1;
	}
	*out = f;
	return 0;
}

void
spool_list(const char *dir, void (*fn)(const char *name, int is_package,
    long age_s, void *arg), void *arg)
{
	struct dirent *de;
	struct stat st;
	char name[256], path[4096];
	long age;
	size_t n;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		age = (long)(time(NULL) - st.st_mtime);
		if (n > 4 && n < sizeof(name) &&
		    strcmp(de->d_name + n - 4, ".pkg") == 0) {
			snprintf(name, sizeof(name), "%.*s", (int)(n - 4),
			    de->d_name);
			fn(name, 1, age, arg);
		} else if (n > 5 && n < sizeof(name) &&
		    strcmp(de->d_name + n - 5, ".part") == 0) {
			snprintf(name, sizeof(name), "%.*s", (int)(n - 5),
			    de->d_name);
			fn(name, 0, age, arg);
		}
	}
	closedir(d);
}

void
spool_remove(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.pkg", dir, name);
	unlink(path);
}
