/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File stores: overlay slots in a scratch file or block device, and the
 * read-only base image.
 *
 * What it owns: one file descriptor, opened O_CLOEXEC. Slot n lives at byte
 * n * 4 KiB. All I/O is pread()/pwrite(), so any number of threads can use
 * one store without a shared file offset or a lock.
 *
 * Scratch: a directory gets an anonymous O_TMPFILE file (mode 0600) that
 * never has a name, so nothing can open it and it vanishes with the fd even
 * if the daemon is killed; a regular file is created if missing and sized
 * sparse; a block device must already be large enough.
 *
 * Base: opened O_RDONLY, so it works without write permission and can never
 * be written; the last partial block reads zero-filled past the end.
 *
 * What it deliberately does not do: fsync. Nothing in an overlay may
 * survive a crash (that is the point of the design), so flush has no
 * durability to provide; ordering is already given because every write is
 * complete in the page cache or device queue before the call returns.
 * Data written here is whatever the layer above hands in: plaintext unless
 * an xts store sits on top.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cow/store-local.h"

struct file_store {
	struct store s;
	int fd;
	bool is_blkdev;
	uint64_t bytes; /* base: the image size; scratch: nr_blks * 4 KiB */
};

static struct file_store *to_file(struct store *s)
{
	return (struct file_store *)s;
}

/*
 * pread() until len bytes or end of file; the bytes past the end are
 * zeroed. Returns how many bytes came from the file, or -errno.
 */
static ssize_t read_full(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n =
			pread(fd, p + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset(p + done, 0, len - done);
	return (ssize_t)done;
}

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n =
			pwrite(fd, p + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int file_read(struct store *s, void *buf, uint64_t slot, uint32_t nr)
{
	size_t len = (size_t)nr * STORE_BLK_BYTES;
	ssize_t n;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	n = read_full(to_file(s)->fd, buf, len, slot * STORE_BLK_BYTES);
	if (n < 0)
		return (int)n;
	/* The scratch was sized at creation: a short read means it shrank. */
	return (size_t)n == len ? 0 : -EIO;
}

static int file_write(struct store *s, const void *buf, uint64_t slot,
		      uint32_t nr)
{
	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	return write_full(to_file(s)->fd, buf, (size_t)nr * STORE_BLK_BYTES,
			  slot * STORE_BLK_BYTES);
}

/* Best effort: a filesystem or device that cannot discard keeps the bytes. */
static int file_discard(struct store *s, uint64_t slot, uint32_t nr)
{
	struct file_store *f = to_file(s);
	uint64_t off = slot * STORE_BLK_BYTES,
		 len = (uint64_t)nr * STORE_BLK_BYTES;
	int rc;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	if (!nr)
		return 0;
	if (f->is_blkdev) {
		uint64_t range[2] = { off, len };

		rc = ioctl(f->fd, BLKDISCARD, range);
	} else {
		rc = fallocate(f->fd,
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)off, (off_t)len);
	}
	if (rc < 0 && errno != EOPNOTSUPP && errno != ENOTTY)
		return -errno;
	return 0;
}

/* See the note at the top: nothing here has to survive a crash. */
static int file_flush(struct store *s)
{
	return 0;
}

static void file_destroy(struct store *s)
{
	struct file_store *f = to_file(s);

	close(f->fd);
	free(f);
}

static const struct store_ops file_ops = {
	.name = "file",
	.read = file_read,
	.write = file_write,
	.discard = file_discard,
	.flush = file_flush,
	.direct = NULL,
	.destroy = file_destroy,
};

/* Size of a regular file or block device in bytes. */
static int fd_size(int fd, const struct stat *st, uint64_t *bytes_r)
{
	uint64_t bytes;

	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (S_ISREG(st->st_mode)) {
		*bytes_r = (uint64_t)st->st_size;
		return 0;
	}
	if (!S_ISBLK(st->st_mode))
		return -ENOTBLK; /* a FIFO, socket or character device */
	if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
		return -errno;
	*bytes_r = bytes;
	return 0;
}

static int file_store_alloc(int fd, bool is_blkdev, uint64_t nr_blks,
			    uint64_t bytes, struct store **store_r)
{
	struct file_store *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->s.ops = &file_ops;
	f->s.nr_blks = nr_blks;
	f->fd = fd;
	f->is_blkdev = is_blkdev;
	f->bytes = bytes;
	*store_r = &f->s;
	return 0;
}

/* On failure the fd stays the caller's. */
int store_file_new_fd(int fd, uint64_t nr_blks, struct store **store_r)
{
	uint64_t want, have;
	struct stat st;
	int rc;

	if (nr_blks == 0 || nr_blks > (uint64_t)INT64_MAX / STORE_BLK_BYTES)
		return -EINVAL;
	want = nr_blks * STORE_BLK_BYTES;
	if (fstat(fd, &st) < 0)
		return -errno;
	rc = fd_size(fd, &st, &have);
	if (rc)
		return rc;
	if (S_ISBLK(st.st_mode) && have < want)
		return -ENOSPC;
	/* Grow sparse; never shrink a file someone pointed us at. */
	if (S_ISREG(st.st_mode) && have < want &&
	    ftruncate(fd, (off_t)want) < 0)
		return -errno;
	return file_store_alloc(fd, S_ISBLK(st.st_mode), nr_blks, want,
				store_r);
}

/*
 * Open path without blocking on whatever it turns out to be (a FIFO would
 * wait for a writer forever), then, once fstat() said it is a regular file
 * or a block device, give the descriptor back its blocking reads.
 */
static int open_nonblock(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
	int fl;

	if (fd < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int store_scratch_open(const char *path)
{
	struct stat st;
	int fd;

	/* A directory: scratch space for a file that never has a name. */
	fd = open_nonblock(path, O_TMPFILE | O_RDWR, 0600);
	if (fd == -ENOTDIR || fd == -EISDIR)
		fd = open_nonblock(path, O_RDWR, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		close(fd);
		return -ENOTBLK;
	}
	return fd;
}

int store_base_fd_open(const char *path, uint64_t *bytes_r)
{
	struct stat st;
	int fd = open_nonblock(path, O_RDONLY, 0), rc;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = fd_size(fd, &st, bytes_r);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int store_file_new(const char *path, uint64_t nr_blks, struct store **store_r)
{
	int fd, rc;

	fd = open_nonblock(path, O_RDWR | O_CREAT, 0600);
	/* A directory: scratch space for a file that never has a name. */
	if (fd == -EISDIR)
		fd = open_nonblock(path, O_TMPFILE | O_RDWR, 0600);
	if (fd < 0)
		return fd;
	rc = store_file_new_fd(fd, nr_blks, store_r);
	if (rc)
		close(fd);
	return rc;
}

/* ---- the base image ---- */

static int base_read(struct store *s, void *buf, uint64_t slot, uint32_t nr)
{
	ssize_t n;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	/* Past the end of the image (the last partial block): zeros. */
	n = read_full(to_file(s)->fd, buf, (size_t)nr * STORE_BLK_BYTES,
		      slot * STORE_BLK_BYTES);
	return n < 0 ? (int)n : 0;
}

static int base_write(struct store *s, const void *buf, uint64_t slot,
		      uint32_t nr)
{
	return -EROFS;
}

static int base_discard(struct store *s, uint64_t slot, uint32_t nr)
{
	return -EROFS;
}

static const struct store_ops base_ops = {
	.name = "base",
	.read = base_read,
	.write = base_write,
	.discard = base_discard,
	.flush = file_flush,
	.direct = NULL,
	.destroy = file_destroy,
};

int store_base_open(const char *path, struct store **store_r, uint64_t *bytes_r)
{
	int fd = open_nonblock(path, O_RDONLY, 0);

	if (fd < 0)
		return fd;
	return store_base_open_fd(fd, store_r, bytes_r);
}

int store_base_open_fd(int fd, struct store **store_r, uint64_t *bytes_r)
{
	struct store *s = NULL;
	struct stat st;
	uint64_t bytes;
	int fl, rc;

	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY) {
		rc = fl < 0 ? -errno : -EINVAL; /* a base is never writable */
		goto out;
	}
	rc = fd_size(fd, &st, &bytes);
	if (rc)
		goto out;
	rc = file_store_alloc(fd, S_ISBLK(st.st_mode),
			      (bytes + STORE_BLK_BYTES - 1) / STORE_BLK_BYTES,
			      bytes, &s);
	if (rc)
		goto out;
	s->ops = &base_ops;
	*store_r = s;
	*bytes_r = bytes;
	return 0;
out:
	close(fd);
	return rc;
}
