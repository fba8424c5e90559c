/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stores: where overlay blocks live. A store is an array of nr_blks slots of
 * STORE_BLK_BYTES (4 KiB) each, addressed by slot number. Stores compose: the
 * xts store encrypts whole blocks on their way into any lower store; the fault
 * store injects errors for tests.
 *
 * Every op returns 0 or -errno. Callers guarantee slot + nr <= nr_blks and
 * that no two threads touch the same slot at once (the cow layer serialises
 * per block); apart from that every op may be called from any thread
 * concurrently. Ops may block (file I/O).
 */
#ifndef XE_COW_STORE_H
#define XE_COW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/key.h"

#define STORE_BLK_SHIFT 12
#define STORE_BLK_BYTES (1u << STORE_BLK_SHIFT)

struct store;

struct store_ops {
	const char *name;
	/* Read nr whole slots starting at slot into buf (nr * 4 KiB). */
	int (*read)(struct store *s, void *buf, uint64_t slot, uint32_t nr);
	/* Write nr whole slots starting at slot from buf. */
	int (*write)(struct store *s, const void *buf, uint64_t slot,
		     uint32_t nr);
	/* The slots' contents are no longer needed (may punch holes). */
	int (*discard)(struct store *s, uint64_t slot, uint32_t nr);
	/* Order: writes completed before flush stay before later writes. */
	int (*flush)(struct store *s);
	/*
	 * Optional (NULL if the store is not plain memory): a pointer to the
	 * slot's 4 KiB, stable until destroy. The view uses it to write
	 * partial blocks in place and to hand the backend pointers it grant-
	 * copies reads straight out of (cow_read_apply()); the xts store uses
	 * it to encrypt straight into a RAM lower store.
	 */
	void *(*direct)(struct store *s, uint64_t slot);
	/* Wipe what must be wiped, release everything, free s. */
	void (*destroy)(struct store *s);

	/*
	 * Optional (NULL: not offered), for stores whose I/O can overlap the
	 * caller's work (the file store over io_uring). write_fill writes nr
	 * slots from slot on whose bytes fill(arg, buf, slot, n) produces,
	 * chunk by chunk, into 4 KiB-aligned buffers the store owns; fill is
	 * called again while earlier chunks are still being written.
	 * read_each reads nr slots into buf and calls done(arg, p, slot, n)
	 * for each chunk (p inside buf) as soon as it has arrived, while
	 * later ones are still being read. Both return 0 or the first error
	 * (the callback's or the I/O's), once nothing is in flight. Only the
	 * calling thread calls the callbacks.
	 */
	int (*write_fill)(struct store *s, uint64_t slot, uint32_t nr,
			  int (*fill)(void *arg, void *buf, uint64_t slot,
				      uint32_t n),
			  void *arg);
	int (*read_each)(struct store *s, void *buf, uint64_t slot,
			 uint32_t nr,
			 int (*done)(void *arg, void *p, uint64_t slot,
				     uint32_t n),
			 void *arg);
	/*
	 * Optional (NULL: not offered), for a store whose slots sit in memory
	 * it can show (a scratch file on tmpfs, mapped): use(arg, p, slot, n)
	 * reads slots [slot, slot + nr) at p, valid during the call only, once
	 * for the whole range. Returns use's result; -EIO if they were lost
	 * while use read them (what it saw must be thrown away); -EAGAIN if
	 * the store cannot show them now: read them the usual way.
	 */
	int (*read_in_place)(struct store *s, uint64_t slot, uint32_t nr,
			     int (*use)(void *arg, const void *p,
					uint64_t slot, uint32_t n),
			     void *arg);
	/* Optional: how the store does its I/O, for logs ("io_uring,
	 * O_DIRECT"); a static string. Stores over another pass it on. */
	const char *(*io_mode)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	uint64_t nr_blks; /* capacity in slots */
};

/* Convenience wrappers (static inline: they only dispatch). */
static inline int store_read(struct store *s, void *buf, uint64_t slot,
			     uint32_t nr)
{
	return s->ops->read(s, buf, slot, nr);
}

static inline int store_write(struct store *s, const void *buf, uint64_t slot,
			      uint32_t nr)
{
	return s->ops->write(s, buf, slot, nr);
}

static inline int store_discard(struct store *s, uint64_t slot, uint32_t nr)
{
	return s->ops->discard(s, slot, nr);
}

static inline int store_flush(struct store *s)
{
	return s->ops->flush(s);
}

static inline void *store_direct(struct store *s, uint64_t slot)
{
	return s->ops->direct ? s->ops->direct(s, slot) : NULL;
}

/* The store's I/O mode for logs, or NULL if it says nothing. */
static inline const char *store_io_mode(struct store *s)
{
	return s->ops->io_mode ? s->ops->io_mode(s) : NULL;
}

/* Destroy s (NULL is ok). Owned lower stores are destroyed too. */
static inline void store_destroy(struct store *s)
{
	if (s)
		s->ops->destroy(s);
}

/*
 * RAM store of nr_blks slots: anonymous memory reserved up front but only
 * faulted in, mlock()ed and marked MADV_DONTDUMP chunk by chunk as slots are
 * first written; every touched chunk is wiped before it is unmapped.
 */
int store_ram_new(uint64_t nr_blks, struct store **store_r);

/*
 * File store over a scratch file or block device at path, nr_blks slots.
 * A regular file is created if missing (0600) and sized (sparse); a block
 * device must be large enough; anything else is -ENOTBLK (checked without
 * blocking, as for the base). Opened O_RDWR | O_CLOEXEC. I/O goes through
 * io_uring where the kernel allows it, several chunks in flight, else
 * pread/pwrite; through the page cache unless STORE_FILE_DIRECT. Discard
 * punches holes (files) or BLKDISCARDs (devices), best effort.
 * store_io_mode() says which is in use.
 */
int store_file_new(const char *path, uint64_t nr_blks, struct store **store_r);

/* The same over an already open fd (which the store then owns). */
int store_file_new_fd(int fd, uint64_t nr_blks, struct store **store_r);

/*
 * store_file_new_flags() flags. STORE_FILE_DIRECT: O_DIRECT where the
 * filesystem takes it (no copy through the page cache, no dom0 memory
 * spent caching scratch; where it is refused, tmpfs on older kernels, the
 * page cache). Not the default: a ring serves one request at a time, so
 * every request would wait for the device (docs/performance.md).
 */
#define STORE_FILE_DIRECT 0x1u
#define STORE_FILE_NO_URING 0x2u /* never io_uring: pread/pwrite */
/*
 * A scratch file on tmpfs is mapped shared: write_fill has the filler
 * (the xts store's cipher) write straight into the file's pages, each
 * range reserved with fallocate() first, and read_in_place shows them:
 * no copy by pwrite or pread. read, write and discard stay file I/O. A
 * page lost under the mapping (a swap read error) fails the store with
 * EIO, as a failed write-back does. STORE_FILE_NO_MAP keeps such a file
 * unmapped (tests of the I/O paths).
 */
#define STORE_FILE_NO_MAP 0x4u

int store_file_new_flags(const char *path, uint64_t nr_blks,
			 unsigned int flags, struct store **store_r);

/*
 * Tests: before every I/O of the file store s (each pread/pwrite, each
 * io_uring read or write), fn(arg, write, offset, len) says what happens:
 * len (do it), fewer bytes (do only those: a real short read or write), or
 * a negative errno (do nothing, the I/O fails with it). NULL disarms. Set
 * it while no I/O is in flight.
 */
typedef int (*store_file_fault_fn)(void *arg, bool write, uint64_t offset,
				   size_t len);
void store_file_set_fault(struct store *s, store_file_fault_fn fn, void *arg);

/* Tests: how many I/Os the file store s has handed to io_uring so far. */
uint64_t store_file_submitted(struct store *s);

/*
 * Open a base image (regular file or block device) O_RDONLY: a store whose
 * reads past the end of the image return zeros and whose write and discard
 * return -EROFS. *bytes_r is the image size. Works on a file with no write
 * permission; never writes. The open never blocks on the file's type:
 * -EISDIR for a directory, -ENOTBLK for anything else that is neither a
 * regular file nor a block device (a FIFO, a socket, a character device).
 */
int store_base_open(const char *path, struct store **store_r,
		    uint64_t *bytes_r);

/*
 * For a worker, which opens nothing: the descriptors the supervisor opens
 * and hands over. store_base_fd_open opens a base as store_base_open does
 * (the same checks and errors) and gives back the fd and the size.
 * store_scratch_open gives an unnamed O_TMPFILE file in a directory, or a
 * block device opened read-write; anything else is -ENOTBLK. Both return
 * an fd (close-on-exec) or -errno.
 */
int store_base_fd_open(const char *path, uint64_t *bytes_r);
int store_scratch_open(const char *path);

/* The same over an fd opened O_RDONLY (owned from here on, even on
 * failure; -EINVAL if it is open for writing). */
int store_base_open_fd(int fd, struct store **store_r, uint64_t *bytes_r);

/*
 * XTS store: encrypts every block on its way into lower with AES-256-XTS
 * under key, tweak = slot number, and decrypts on the way out. On success
 * it owns lower and key (both destroyed with the store: the key is wiped);
 * on failure both stay the caller's. direct is NULL: plaintext never sits
 * in the lower store.
 */
int store_xts_new(struct store *lower, struct key *key, struct store **store_r);

/*
 * Fault-injecting store for tests: passes everything to lower (owned) but
 * fails with err the calls selected by store_fault_set().
 */
int store_fault_new(struct store *lower, struct store **store_r);

enum store_fault_op { STORE_FAULT_READ, STORE_FAULT_WRITE,
		      STORE_FAULT_DISCARD, STORE_FAULT_FLUSH };

/*
 * Make the nth (1-based, counted from now) call of op fail with err (a
 * negative errno); every later call too if sticky. nth = 0 disarms.
 */
void store_fault_set(struct store *s, enum store_fault_op op, uint64_t nth,
		     int err, bool sticky);

/* How many calls of op the fault store has seen. */
uint64_t store_fault_count(struct store *s, enum store_fault_op op);

#endif
