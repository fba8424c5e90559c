/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File stores: overlay slots in a scratch file or block device, and the
 * read-only base image.
 *
 * What it owns: one file descriptor, opened O_CLOEXEC. Slot n lives at byte
 * n * 4 KiB. There is no shared file offset, so any number of threads can
 * use one store at once.
 *
 * Scratch I/O goes through a small pool of io_uring instances (trylock
 * round robin, each used by one thread at a time), cut into chunks of
 * FILE_CHUNK_BLKS with up to FILE_QD in flight; where io_uring cannot be had
 * (old kernel, seccomp, sysctl) or is not built in, through pread/pwrite.
 * write_fill and read_each let the caller (the xts store) encrypt the next
 * chunk, or decrypt the last one, while the others are in flight. With
 * STORE_FILE_DIRECT the file is O_DIRECT where the filesystem takes it
 * (probed with one aligned read at open; refused, it stays on the page
 * cache): the ciphertext then goes from the aligned buffers to the device
 * with no copy. A short read or write is resubmitted for the rest; end of
 * file inside the scratch (it shrank) and a write that makes no progress
 * are -EIO. Every call returns only once nothing it submitted is in
 * flight. O_DIRECT needs aligned memory: a caller's unaligned buffer is
 * bounced (rare: the view's buffers are aligned).
 *
 * A scratch file on tmpfs, whose page cache is all the storage it has, is
 * also mapped shared (unless STORE_FILE_NO_MAP): write_fill hands the
 * filler (the xts store's cipher) the file's own pages for the whole call,
 * and read_in_place shows them to decrypt from, so neither pwrite nor
 * pread copies. Every 256 KiB region is reserved with fallocate() before
 * it is first written through the mapping, so a full tmpfs is that
 * write's -ENOSPC; a discard that punches into a region un-reserves it.
 * A page lost anyway (a swap read error) raises SIGBUS, which
 * cow/store-map.c turns into a lost store: EIO from then on, as for a
 * failed write-back. read, write and discard stay file I/O.
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
 * complete (in the page cache, or done by the device) before the call
 * returns.
 *
 * What it must not do either: serve what a failed write-back left behind.
 * A write that the page cache took and the device later lost reads back
 * as whatever the device holds (zeros, which the xts store above would
 * decrypt into garbage), and nobody was told. So a block device scratch is
 * always O_DIRECT, where the device's error is the write's own; and on a
 * file through the page cache, flush asks the kernel (without starting any
 * write-back) whether a write-back of this file failed since it last
 * asked: if one did, the store is lost, and every read, write and flush
 * fails with EIO from then on.
 * Data written here is whatever the layer above hands in: plaintext unless
 * an xts store sits on top.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifdef HAVE_LIBURING
#include <liburing.h>
#endif
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#include "cow/store-local.h"

#define FILE_CHUNK_BLKS 32u /* 128 KiB per I/O */
#define FILE_CHUNK_BYTES ((size_t)FILE_CHUNK_BLKS * STORE_BLK_BYTES)
#define FILE_QD 8u          /* chunks in flight per call */
#define FILE_NR_RINGS 4u    /* calls in flight per store */
#define FILE_ALIGN 4096u    /* O_DIRECT memory and offsets */
#define MAP_REGION_BLKS 64u /* a mapped scratch is reserved 256 KiB at a time */

/* One io_uring and its write_fill buffers, used by one call at a time. */
struct file_ring {
	pthread_mutex_t lock;
	bool tried, ready; /* io_uring_queue_init() done, and succeeded */
	unsigned char *bufs; /* FILE_QD chunks for write_fill, lazily */
#ifdef HAVE_LIBURING
	struct io_uring ring;
#endif
} __attribute__((aligned(64)));

struct file_store {
	struct store s;
	int fd;
	bool is_blkdev;
	bool direct;      /* O_DIRECT */
	atomic_bool lost; /* a write-back failed: nothing here can be trusted */
	bool uring;       /* io_uring wanted (built in, not turned off) */
	atomic_bool uring_failed; /* the kernel refused: pread/pwrite */
	uint64_t bytes; /* base: the image size; scratch: nr_blks * 4 KiB */
	store_file_fault_fn fault;
	void *fault_arg;
	_Atomic uint64_t submitted; /* I/Os handed to io_uring (for tests) */
	/*
	 * A scratch on tmpfs, whose page cache is the storage: the file
	 * mapped shared, which write_fill hands the filler to write into
	 * (no copy by pwrite), and a bit per MAP_REGION_BLKS slots that is
	 * set once the region has been reserved with fallocate() and cleared
	 * when a discard punches into it. NULL where not mapped.
	 */
	unsigned char *map;
	_Atomic uint64_t *reserved;
	int map_entry; /* in the SIGBUS table (cow/store-map.c) */
	atomic_uint next_ring;
	struct file_ring rings[FILE_NR_RINGS];
};

static struct file_store *to_file(struct store *s)
{
	return (struct file_store *)s;
}

/* How much of an I/O to do, or the error it fails with: the test hook's
 * say (store_file_set_fault()), else all of it. */
static ssize_t io_plan(struct file_store *f, bool write, uint64_t off,
		       size_t len)
{
	int n;

	if (!f->fault)
		return (ssize_t)len;
	n = f->fault(f->fault_arg, write, off, len);
	return n < 0 ? n : (size_t)n < len ? n : (ssize_t)len;
}

/*
 * pread() until len bytes or end of file; the bytes past the end are
 * zeroed. Returns how many bytes came from the file, or -errno.
 */
static ssize_t read_full(struct file_store *f, void *buf, size_t len,
			 uint64_t off)
{
	unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = io_plan(f, false, off + done, len - done);

		if (n >= 0) {
			n = pread(f->fd, p + done, (size_t)n,
				  (off_t)(off + done));
			if (n < 0)
				n = -errno;
		}
		if (n < 0) {
			if (n == -EINTR)
				continue;
			return n;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset(p + done, 0, len - done);
	return (ssize_t)done;
}

static int write_full(struct file_store *f, const void *buf, size_t len,
		      uint64_t off)
{
	const unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = io_plan(f, true, off + done, len - done);

		if (n >= 0) {
			n = pwrite(f->fd, p + done, (size_t)n,
				   (off_t)(off + done));
			if (n < 0)
				n = -errno;
		}
		if (n < 0) {
			if (n == -EINTR)
				continue;
			return (int)n;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/*
 * One call's chunks. prep(i) says where chunk i lives (for write_fill it
 * fills the buffer first); done(i) runs once chunk i is complete.
 */
struct chunk_job {
	bool write;
	uint64_t off;   /* file offset of chunk 0 */
	size_t len;     /* of the whole call */
	unsigned char *buf; /* the caller's, or NULL: prep gives buffers */
	int (*prep)(struct chunk_job *job, unsigned int i, unsigned int qslot,
		    unsigned char **buf_r);
	int (*done)(struct chunk_job *job, unsigned int i, unsigned char *p);
	void *arg;
	struct file_ring *fr;
	int (*fill)(void *arg, void *buf, uint64_t slot, uint32_t n);
	int (*each)(void *arg, void *p, uint64_t slot, uint32_t n);
};

static unsigned int job_chunks(const struct chunk_job *job)
{
	return (unsigned int)((job->len + FILE_CHUNK_BYTES - 1) /
			      FILE_CHUNK_BYTES);
}

static size_t chunk_len(const struct chunk_job *job, unsigned int i)
{
	size_t off = (size_t)i * FILE_CHUNK_BYTES;

	return job->len - off < FILE_CHUNK_BYTES ? job->len - off :
						   FILE_CHUNK_BYTES;
}

static uint64_t chunk_slot(const struct chunk_job *job, unsigned int i)
{
	return (job->off + (uint64_t)i * FILE_CHUNK_BYTES) / STORE_BLK_BYTES;
}

static uint32_t chunk_blks(const struct chunk_job *job, unsigned int i)
{
	return (uint32_t)(chunk_len(job, i) / STORE_BLK_BYTES);
}

/* The same job with pread/pwrite, one chunk after another. */
static int job_sync(struct file_store *f, struct chunk_job *job,
		    unsigned char *tmp)
{
	unsigned int i, n = job_chunks(job);
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		uint64_t off = job->off + (uint64_t)i * FILE_CHUNK_BYTES;
		size_t len = chunk_len(job, i);
		unsigned char *p = job->buf ? job->buf + (size_t)i *
							   FILE_CHUNK_BYTES :
					      tmp;
		ssize_t got;

		if (job->prep)
			rc = job->prep(job, i, 0, &p);
		if (rc)
			break;
		if (job->write) {
			rc = write_full(f, p, len, off);
		} else {
			got = read_full(f, p, len, off);
			/* The scratch was sized at creation: short means it
			 * shrank. */
			rc = got < 0 ? (int)got : (size_t)got == len ? 0 : -EIO;
		}
		if (!rc && job->done)
			rc = job->done(job, i, p);
	}
	return rc;
}

#ifdef HAVE_LIBURING
/*
 * A ring that can only read, write and do nothing: io_uring executes its
 * operations outside the caller's seccomp filter, so a worker's ring is
 * created disabled, restricted to those three operations (no openat, no
 * connect, no register after this) and only then enabled. A kernel that
 * cannot restrict gets no ring: the store uses plain pread/pwrite.
 */
bool store_uring_start(struct io_uring *ring)
{
	struct io_uring_restriction res[3] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITE },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_NOP },
	};

	if (io_uring_queue_init(FILE_QD, ring, IORING_SETUP_R_DISABLED))
		return false;
	/* by the system call: Debian 12's liburing 2.3 declares the two
	 * helpers but does not export them */
	if (syscall(__NR_io_uring_register, ring->ring_fd,
		    IORING_REGISTER_RESTRICTIONS, res, 3) < 0 ||
	    syscall(__NR_io_uring_register, ring->ring_fd,
		    IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		io_uring_queue_exit(ring);
		return false;
	}
	return true;
}

/* Take a ring of the pool; on success it is locked and initialised. */
static struct file_ring *ring_get(struct file_store *f)
{
	unsigned int start = atomic_fetch_add_explicit(&f->next_ring, 1,
						       memory_order_relaxed);
	struct file_ring *fr = NULL;
	unsigned int i;

	if (!f->uring || atomic_load(&f->uring_failed))
		return NULL;
	for (i = 0; i < FILE_NR_RINGS && !fr; i++) {
		fr = &f->rings[(start + i) % FILE_NR_RINGS];
		if (pthread_mutex_trylock(&fr->lock))
			fr = NULL;
	}
	if (!fr) {
		fr = &f->rings[start % FILE_NR_RINGS];
		pthread_mutex_lock(&fr->lock);
	}
	if (!fr->tried) {
		fr->tried = true;
		fr->ready = store_uring_start(&fr->ring);
		if (!fr->ready)
			atomic_store(&f->uring_failed, true);
	}
	if (!fr->ready) {
		pthread_mutex_unlock(&fr->lock);
		return NULL;
	}
	return fr;
}

/* An I/O in flight: which chunk, and how much of it is done. */
struct inflight {
	unsigned int chunk;
	unsigned char *p;
	size_t done, len;
	int inject; /* the test hook failed it: a NOP completes it */
};

static void queue_io(struct file_store *f, struct file_ring *fr,
		     const struct chunk_job *job, struct inflight *io,
		     unsigned int qslot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&fr->ring);
	uint64_t off = job->off + (uint64_t)io->chunk * FILE_CHUNK_BYTES +
		       io->done;
	ssize_t n = io_plan(f, job->write, off, io->len - io->done);

	/* Never NULL: at most FILE_QD in flight, and the ring has FILE_QD. */
	io->inject = n < 0 ? (int)n : 0;
	if (n < 0)
		io_uring_prep_nop(sqe);
	else if (job->write)
		io_uring_prep_write(sqe, f->fd, io->p + io->done,
				    (unsigned int)n, off);
	else
		io_uring_prep_read(sqe, f->fd, io->p + io->done,
				   (unsigned int)n, off);
	io_uring_sqe_set_data64(sqe, qslot);
}

/*
 * The ring failed under us (cannot happen short of a kernel bug): wait for
 * what the kernel still holds of ours, since it reads or writes those
 * buffers, and leave io_uring for pread/pwrite from now on.
 */
static int ring_broken(struct file_store *f, struct file_ring *fr,
		       unsigned int inflight, int rc)
{
	unsigned int held = inflight - io_uring_sq_ready(&fr->ring);
	struct io_uring_cqe *cqe;

	while (held && io_uring_wait_cqe(&fr->ring, &cqe) == 0) {
		io_uring_cqe_seen(&fr->ring, cqe);
		held--;
	}
	fr->ready = false;
	atomic_store(&f->uring_failed, true);
	return rc;
}

/* io_uring_submit(), counting what it handed over (store_file_submitted()). */
static int submit(struct file_store *f, struct file_ring *fr)
{
	int n = io_uring_submit(&fr->ring);

	if (n > 0)
		atomic_fetch_add_explicit(&f->submitted, (uint64_t)n,
					  memory_order_relaxed);
	return n;
}

/*
 * The job through io_uring, FILE_QD chunks in flight. After the first
 * error nothing new is started, and what is in flight is waited for (the
 * kernel may still be reading or writing those buffers).
 */
static int job_uring(struct file_store *f, struct file_ring *fr,
		     struct chunk_job *job)
{
	struct inflight io[FILE_QD];
	bool busy[FILE_QD] = { false };
	unsigned int next = 0, nr = job_chunks(job), inflight = 0, q;
	int rc = 0;

	while ((next < nr && !rc) || inflight) {
		struct io_uring_cqe *cqe;
		int res, err;

		while (!rc && next < nr && inflight < FILE_QD) {
			for (q = 0; busy[q]; q++)
				;
			io[q] = (struct inflight){
				.chunk = next,
				.p = job->buf ? job->buf + (size_t)next *
								 FILE_CHUNK_BYTES :
						NULL,
				.len = chunk_len(job, next),
			};
			if (job->prep)
				rc = job->prep(job, next, q, &io[q].p);
			if (rc)
				break;
			queue_io(f, fr, job, &io[q], q);
			busy[q] = true;
			inflight++;
			next++;
			/*
			 * A filled chunk goes to the kernel before the next is
			 * filled, so the caller's work (the xts store's
			 * encryption) overlaps the write. An error here leaves
			 * the entry queued for the submit below to report.
			 */
			if (job->prep && next < nr)
				submit(f, fr);
		}
		if (!inflight)
			break;
		err = submit(f, fr);
		if (err < 0 && err != -EINTR && err != -EAGAIN &&
		    err != -EBUSY)
			return ring_broken(f, fr, inflight, rc ? rc : err);
		if (inflight == io_uring_sq_ready(&fr->ring))
			continue; /* the kernel has none yet: submit again */
		err = io_uring_wait_cqe(&fr->ring, &cqe);
		if (err == -EINTR || err == -EAGAIN)
			continue;
		if (err < 0)
			return ring_broken(f, fr, inflight, rc ? rc : err);
		q = (unsigned int)io_uring_cqe_get_data64(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&fr->ring, cqe);
		if (q >= FILE_QD || !busy[q])
			continue; /* not ours: cannot happen */
		if (io[q].inject)
			res = io[q].inject;
		if (res == -EINTR || res == -EAGAIN) {
			queue_io(f, fr, job, &io[q], q); /* again */
			continue;
		}
		if (res <= 0) {
			/* Reading 0: end of file inside the scratch (it
			 * shrank); writing 0: no progress. */
			if (!rc)
				rc = res < 0 ? res : -EIO;
		} else {
			/* memcheck cannot see the kernel fill a buffer */
			if (!job->write)
				VALGRIND_MAKE_MEM_DEFINED(io[q].p + io[q].done,
							  (size_t)res);
			io[q].done += (size_t)res;
			if (io[q].done < io[q].len && !rc) {
				queue_io(f, fr, job, &io[q], q); /* the rest */
				continue;
			}
			if (io[q].done == io[q].len && !rc && job->done)
				rc = job->done(job, io[q].chunk, io[q].p);
		}
		busy[q] = false;
		inflight--;
	}
	return rc;
}
#endif

/*
 * Run the job: io_uring if the store has it, else pread/pwrite. An
 * unaligned caller buffer under O_DIRECT is bounced through tmp memory.
 */
static int job_run(struct file_store *f, struct chunk_job *job)
{
	unsigned char *tmp = NULL, *caller = job->buf;
	int rc;

	if (atomic_load_explicit(&f->lost, memory_order_relaxed))
		return -EIO;
	if (f->direct && caller && (uintptr_t)caller % FILE_ALIGN) {
		tmp = aligned_alloc(FILE_ALIGN, job->len);
		if (!tmp)
			return -ENOMEM;
		if (job->write)
			memcpy(tmp, caller, job->len);
		job->buf = tmp;
	}
#ifdef HAVE_LIBURING
	/* One chunk has nothing to overlap: a plain syscall is cheaper
	 * (io_uring may hand a buffered write to a worker thread). */
	if (job_chunks(job) > 1) {
		struct file_ring *fr = ring_get(f);

		if (fr) {
			job->fr = fr;
			rc = job_uring(f, fr, job);
			pthread_mutex_unlock(&fr->lock);
			goto out;
		}
	}
#endif
	if (!job->buf && !tmp) {
		/* write_fill without a ring: one chunk's buffer will do, no
		 * bigger than the job (a 4 KiB write's comes from the heap,
		 * not from an mmap() and munmap() of 128 KiB per call) */
		tmp = aligned_alloc(FILE_ALIGN, job->len < FILE_CHUNK_BYTES ?
							(job->len + FILE_ALIGN - 1) /
								FILE_ALIGN * FILE_ALIGN :
							FILE_CHUNK_BYTES);
		if (!tmp)
			return -ENOMEM;
		job->fr = NULL;
		rc = job_sync(f, job, tmp);
		free(tmp);
		return rc;
	}
	rc = job_sync(f, job, NULL);
#ifdef HAVE_LIBURING
out:
#endif
	if (tmp && job->buf == tmp) {
		if (!job->write && !rc)
			memcpy(caller, tmp, job->len);
		free(tmp);
	}
	return rc;
}

static int file_read(struct store *s, void *buf, uint64_t slot, uint32_t nr)
{
	struct chunk_job job = { .write = false,
				 .off = slot * STORE_BLK_BYTES,
				 .len = (size_t)nr * STORE_BLK_BYTES,
				 .buf = buf };

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	return nr ? job_run(to_file(s), &job) : 0;
}

static int file_write(struct store *s, const void *buf, uint64_t slot,
		      uint32_t nr)
{
	struct chunk_job job = { .write = true,
				 .off = slot * STORE_BLK_BYTES,
				 .len = (size_t)nr * STORE_BLK_BYTES,
				 /* only read from: the I/O writes it out */
				 .buf = (unsigned char *)buf };

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	return nr ? job_run(to_file(s), &job) : 0;
}

/*
 * Reserve the regions of slots [slot, slot + nr) of a mapped scratch: after
 * this no store through the mapping there needs a page the filesystem does
 * not have (a full tmpfs is this call's -ENOSPC, not a SIGBUS later). A
 * region already reserved costs one load.
 */
static int map_reserve(struct file_store *f, uint64_t slot, uint32_t nr)
{
	uint64_t r = slot / MAP_REGION_BLKS,
		 last = (slot + nr - 1) / MAP_REGION_BLKS;
	const uint64_t region = (uint64_t)MAP_REGION_BLKS * STORE_BLK_BYTES;

	for (; r <= last; r++) {
		_Atomic uint64_t *word = &f->reserved[r / 64];
		uint64_t bit = 1ull << (r % 64), off = r * region,
			 len = f->bytes - off < region ? f->bytes - off : region;

		if (atomic_load_explicit(word, memory_order_acquire) & bit)
			continue;
		if (fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len) < 0)
			return -errno;
		/* Page tables in one call, not a fault per page (5.14+). */
#ifdef MADV_POPULATE_WRITE
		(void)madvise(f->map + off, len, MADV_POPULATE_WRITE);
#endif
		atomic_fetch_or_explicit(word, bit, memory_order_release);
	}
	return 0;
}

/*
 * write_fill on a mapped scratch: the filler writes straight into the
 * file's pages, all nr slots in one call (the cipher splits a large one
 * over its helpers). A page lost under it (SIGBUS, see cow/store-map.c)
 * leaves the store lost, and this call fails.
 */
static int map_fill(struct file_store *f, uint64_t slot, uint32_t nr,
		    int (*fill)(void *arg, void *buf, uint64_t slot,
				uint32_t n),
		    void *arg)
{
	int rc;

	if (atomic_load(&f->lost))
		return -EIO;
	rc = map_reserve(f, slot, nr);
	if (rc)
		return rc;
	rc = fill(arg, f->map + slot * STORE_BLK_BYTES, slot, nr);
	if (atomic_load(&f->lost))
		return -EIO;
	return rc;
}

/* write_fill: chunk i is filled into the ring's buffer for its I/O slot. */
static int fill_prep(struct chunk_job *job, unsigned int i, unsigned int qslot,
		     unsigned char **buf_r)
{
	unsigned char *p;

	if (job->fr) {
		if (!job->fr->bufs) {
			job->fr->bufs = aligned_alloc(
				FILE_ALIGN, (size_t)FILE_QD * FILE_CHUNK_BYTES);
			if (!job->fr->bufs)
				return -ENOMEM;
		}
		p = job->fr->bufs + (size_t)qslot * FILE_CHUNK_BYTES;
	} else {
		p = *buf_r; /* job_sync's one buffer */
	}
	*buf_r = p;
	return job->fill(job->arg, p, chunk_slot(job, i), chunk_blks(job, i));
}

static int file_write_fill(struct store *s, uint64_t slot, uint32_t nr,
			   int (*fill)(void *arg, void *buf, uint64_t slot,
				       uint32_t n),
			   void *arg)
{
	struct chunk_job job = { .write = true,
				 .off = slot * STORE_BLK_BYTES,
				 .len = (size_t)nr * STORE_BLK_BYTES,
				 .prep = fill_prep,
				 .fill = fill,
				 .arg = arg };
	struct file_store *f = to_file(s);

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	if (!nr)
		return 0;
	if (f->map && !f->fault)
		return map_fill(f, slot, nr, fill, arg);
	return job_run(f, &job);
}

static int each_done(struct chunk_job *job, unsigned int i, unsigned char *p)
{
	return job->each(job->arg, p, chunk_slot(job, i), chunk_blks(job, i));
}

static int file_read_each(struct store *s, void *buf, uint64_t slot,
			  uint32_t nr,
			  int (*done)(void *arg, void *p, uint64_t slot,
				      uint32_t n),
			  void *arg)
{
	struct file_store *f = to_file(s);
	struct chunk_job job = { .write = false,
				 .off = slot * STORE_BLK_BYTES,
				 .len = (size_t)nr * STORE_BLK_BYTES,
				 .buf = buf,
				 .done = each_done,
				 .each = done,
				 .arg = arg };
	int rc;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	if (!nr)
		return 0;
	if (f->direct && (uintptr_t)buf % FILE_ALIGN) {
		/* done() must see the caller's memory: read, then walk. */
		uint32_t i;

		rc = file_read(s, buf, slot, nr);
		for (i = 0; i < nr && !rc; i += FILE_CHUNK_BLKS)
			rc = done(arg, (unsigned char *)buf +
					       (size_t)i * STORE_BLK_BYTES,
				  slot + i,
				  nr - i < FILE_CHUNK_BLKS ? nr - i :
							     FILE_CHUNK_BLKS);
		return rc;
	}
	return job_run(f, &job);
}

/*
 * A mapped scratch shows its slots in place: the xts store decrypts
 * straight out of the file's pages (no copy by pread). Only regions that
 * are reserved, i.e. were written through the mapping and not punched
 * since: a hole elsewhere would have tmpfs allocate a page on the read.
 */
static int file_read_in_place(struct store *s, uint64_t slot, uint32_t nr,
			      int (*use)(void *arg, const void *p,
					 uint64_t slot, uint32_t n),
			      void *arg)
{
	struct file_store *f = to_file(s);
	uint64_t r;
	int rc;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	if (!f->map || f->fault || !nr)
		return -EAGAIN;
	if (atomic_load(&f->lost))
		return -EIO;
	for (r = slot / MAP_REGION_BLKS; r <= (slot + nr - 1) / MAP_REGION_BLKS;
	     r++)
		if (!(atomic_load_explicit(&f->reserved[r / 64],
					   memory_order_acquire) &
		      (1ull << (r % 64))))
			return -EAGAIN;
	rc = use(arg, f->map + slot * STORE_BLK_BYTES, slot, nr);
	if (atomic_load(&f->lost))
		return -EIO;
	return rc;
}

static const char *file_io_mode(struct store *s)
{
	struct file_store *f = to_file(s);
	bool uring = f->uring && !atomic_load(&f->uring_failed);

	if (f->map)
		return f->direct ? (uring ? "tmpfs mapped, io_uring, O_DIRECT" :
					    "tmpfs mapped, pread/pwrite, O_DIRECT") :
				   (uring ? "tmpfs mapped, io_uring, page cache" :
					    "tmpfs mapped, pread/pwrite, page cache");
	if (f->direct)
		return uring ? "io_uring, O_DIRECT" : "pread/pwrite, O_DIRECT";
	return uring ? "io_uring, page cache" : "pread/pwrite, page cache";
}

uint64_t store_file_submitted(struct store *s)
{
	return atomic_load_explicit(&to_file(s)->submitted,
				    memory_order_relaxed);
}

void store_file_set_fault(struct store *s, store_file_fault_fn fn, void *arg)
{
	struct file_store *f = to_file(s);

	f->fault = fn;
	f->fault_arg = arg;
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
	if (f->map) {
		/* After the punch: a region reserved again in between only
		 * loses its bit, and the next write there reserves anew. */
		uint64_t r;

		for (r = slot / MAP_REGION_BLKS;
		     r <= (slot + nr - 1) / MAP_REGION_BLKS; r++)
			atomic_fetch_and(&f->reserved[r / 64],
					 ~(1ull << (r % 64)));
	}
	return 0;
}

/*
 * See the note at the top: nothing here has to survive a crash, but a
 * write the device lost must not go unnoticed. SYNC_FILE_RANGE_WAIT_BEFORE
 * waits only for write-back already under way and reports a write-back
 * error of this file since this descriptor last asked (errseq).
 */
static int file_flush(struct store *s)
{
	struct file_store *f = to_file(s);

	if (atomic_load(&f->lost))
		return -EIO;
	if (f->direct)
		return 0;
	if (sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE) < 0 &&
	    errno != EINVAL && errno != ESPIPE) {
		atomic_store(&f->lost, true);
		return -EIO;
	}
	return 0;
}

static void file_destroy(struct store *s)
{
	struct file_store *f = to_file(s);
	unsigned int i;

	for (i = 0; i < FILE_NR_RINGS; i++) {
		struct file_ring *fr = &f->rings[i];

#ifdef HAVE_LIBURING
		if (fr->tried && fr->ready)
			io_uring_queue_exit(&fr->ring);
#endif
		free(fr->bufs); /* ciphertext, or what the caller wrote */
		pthread_mutex_destroy(&fr->lock);
	}
	if (f->map) {
		store_map_unregister(f->map_entry);
		munmap(f->map, f->bytes);
		free(f->reserved);
	}
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
	.write_fill = file_write_fill,
	.read_each = file_read_each,
	.read_in_place = file_read_in_place,
	.io_mode = file_io_mode,
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
	struct file_store *f = aligned_alloc(64, sizeof(*f));
	unsigned int i;

	if (!f)
		return -ENOMEM;
	memset(f, 0, sizeof(*f));
	f->s.ops = &file_ops;
	f->s.nr_blks = nr_blks;
	f->fd = fd;
	f->is_blkdev = is_blkdev;
	f->bytes = bytes;
	atomic_init(&f->uring_failed, false);
	atomic_init(&f->lost, false);
	atomic_init(&f->next_ring, 0);
	for (i = 0; i < FILE_NR_RINGS; i++)
		pthread_mutex_init(&f->rings[i].lock, NULL);
	*store_r = &f->s;
	return 0;
}

/*
 * Turn O_DIRECT on for fd if the filesystem takes it for our I/O: one
 * aligned 4 KiB read at offset 0 (a hole or the device's first block,
 * harmless) must work. Otherwise the fd is left as it was.
 */
static bool try_direct(int fd)
{
	unsigned char *probe;
	int fl = fcntl(fd, F_GETFL);
	bool ok = false;

	if (fl < 0)
		return false;
	if (!(fl & O_DIRECT) && fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
		return false;
	probe = aligned_alloc(FILE_ALIGN, STORE_BLK_BYTES);
	if (probe) {
		ok = pread(fd, probe, STORE_BLK_BYTES, 0) >= 0;
		free(probe);
	}
	if (!ok)
		(void)fcntl(fd, F_SETFL, fl & ~O_DIRECT);
	return ok;
}

/*
 * Map a scratch file that lives on tmpfs (where its page cache is all the
 * storage there is, and fallocate() reserves pages), for write_fill to
 * write into. Anything in the way (another filesystem, no address space,
 * a full SIGBUS table) leaves the store unmapped, doing its I/O as before.
 */
static void try_map(struct file_store *f)
{
	struct statfs fs;
	uint64_t regions = (f->s.nr_blks + MAP_REGION_BLKS - 1) /
			   MAP_REGION_BLKS;
	void *map;

	if (fstatfs(f->fd, &fs) < 0 || fs.f_type != TMPFS_MAGIC ||
	    f->bytes > SIZE_MAX)
		return;
	f->reserved = calloc((size_t)((regions + 63) / 64), sizeof(uint64_t));
	if (!f->reserved)
		return;
	map = mmap(NULL, (size_t)f->bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		   f->fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	/* Ciphertext, but no business in a core dump either. */
	(void)madvise(map, (size_t)f->bytes, MADV_DONTDUMP);
	f->map_entry = store_map_register(map, (size_t)f->bytes, &f->lost);
	if (f->map_entry < 0) {
		munmap(map, (size_t)f->bytes);
		goto fail;
	}
	f->map = map;
	return;
fail:
	free(f->reserved);
	f->reserved = NULL;
}

/* Start the first ring now, so that io_mode tells the truth at once. */
static void uring_start(struct file_store *f)
{
#ifdef HAVE_LIBURING
	struct file_ring *fr;

	f->uring = true;
	fr = ring_get(f);
	if (fr)
		pthread_mutex_unlock(&fr->lock);
#else
	f->uring = false;
#endif
}

/* On failure the fd stays the caller's. */
static int file_new_fd(int fd, uint64_t nr_blks, unsigned int flags,
		       struct store **store_r)
{
	struct file_store *f;
	struct store *s;
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
	rc = file_store_alloc(fd, S_ISBLK(st.st_mode), nr_blks, want, &s);
	if (rc)
		return rc;
	f = to_file(s);
	/* A device's errors must reach the write that caused them. */
	if (S_ISBLK(st.st_mode))
		flags |= STORE_FILE_DIRECT;
	f->direct = (flags & STORE_FILE_DIRECT) && try_direct(fd);
	if (S_ISREG(st.st_mode) && !(flags & STORE_FILE_NO_MAP))
		try_map(f);
	if (!(flags & STORE_FILE_NO_URING))
		uring_start(f);
	*store_r = s;
	return 0;
}

int store_file_new_fd(int fd, uint64_t nr_blks, struct store **store_r)
{
	return file_new_fd(fd, nr_blks, 0, store_r);
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

int store_file_new_flags(const char *path, uint64_t nr_blks,
			 unsigned int flags, struct store **store_r)
{
	int fd, rc;

	fd = open_nonblock(path, O_RDWR | O_CREAT, 0600);
	/* A directory: scratch space for a file that never has a name. */
	if (fd == -EISDIR)
		fd = open_nonblock(path, O_TMPFILE | O_RDWR, 0600);
	if (fd < 0)
		return fd;
	rc = file_new_fd(fd, nr_blks, flags, store_r);
	if (rc)
		close(fd);
	return rc;
}

int store_file_new(const char *path, uint64_t nr_blks, struct store **store_r)
{
	return store_file_new_flags(path, nr_blks, 0, store_r);
}

/* ---- the base image ---- */

static int base_read(struct store *s, void *buf, uint64_t slot, uint32_t nr)
{
	ssize_t n;

	if (!store_range_ok(s, slot, nr))
		return -EINVAL;
	/* Past the end of the image (the last partial block): zeros. */
	n = read_full(to_file(s), buf, (size_t)nr * STORE_BLK_BYTES,
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
