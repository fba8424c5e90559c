/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a file store's shared mapping of its scratch needs from the process:
 * a SIGBUS handler that turns a lost page into a lost store, not a dead
 * worker.
 *
 * A file store on tmpfs maps its scratch and has the cipher write
 * ciphertext straight into the file's pages (cow/store-file.c). A store
 * reserves (fallocate) every range before it writes there, so a full tmpfs
 * is an error of the reservation, never a fault. What can still fault is a
 * page the kernel cannot bring back: a swap read error, a poisoned page,
 * the file cut short behind our back. pread() would have said EIO; a load
 * or store through the mapping raises SIGBUS instead, in whichever thread
 * touched it (the ring thread, or a cipher helper).
 *
 * The handler looks the address up among the registered mappings. In one
 * of them it marks that store lost (the store then fails the call that
 * touched it, and every later one, with EIO), puts an anonymous page over
 * the faulting one so that the interrupted instruction completes, and
 * returns. Anywhere else it hands the signal to whoever had SIGBUS before,
 * or puts back the default action and returns, so that the fault recurs
 * and kills the process as it would have. No longjmp: nothing is unwound
 * in the middle of OpenSSL or of a helper's piece.
 *
 * The table is lock-free (the handler takes no lock): a slot holds a
 * mapping's start, end and lost flag; registering writes the start last,
 * unregistering clears it first and happens before the munmap. Only the
 * faulting thread's own mapping can match its address, and it stays
 * registered while that thread uses it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cow/store-local.h"

#define MAP_TABLE 64u

static struct {
	_Atomic uintptr_t start, end;
	atomic_bool *_Atomic lost;
} table[MAP_TABLE];

static struct sigaction previous;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static int handler_rc;
static _Atomic uint64_t faults;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	unsigned int i;

	for (i = 0; i < MAP_TABLE; i++) {
		uintptr_t start = atomic_load(&table[i].start);
		atomic_bool *lost;
		void *page;

		if (!start || addr < start || addr >= atomic_load(&table[i].end))
			continue;
		lost = atomic_load(&table[i].lost);
		if (!lost)
			break;
		atomic_store(lost, true);
		atomic_fetch_add(&faults, 1);
		page = (void *)(addr & ~(uintptr_t)(STORE_BLK_BYTES - 1));
		if (mmap(page, STORE_BLK_BYTES, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0) != MAP_FAILED)
			return;
		break;
	}
	if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
		previous.sa_sigaction(sig, si, uc);
		return;
	}
	if (!(previous.sa_flags & SA_SIGINFO) &&
	    previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	/* Not ours: die of it as before (the fault comes back at once). */
	{
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(SIGBUS, &dfl, NULL);
	}
}

static void handler_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	handler_rc = sigaction(SIGBUS, &sa, &previous) < 0 ? -errno : 0;
}

int store_map_register(void *start, size_t len, atomic_bool *lost)
{
	unsigned int i;

	pthread_once(&handler_once, handler_install);
	if (handler_rc)
		return handler_rc;
	for (i = 0; i < MAP_TABLE; i++) {
		atomic_bool *_Atomic *slot = &table[i].lost;
		atomic_bool *none = NULL;

		/* The lost pointer claims the slot; the start publishes it. */
		if (!atomic_compare_exchange_strong(slot, &none, lost))
			continue;
		atomic_store(&table[i].end, (uintptr_t)start + len);
		atomic_store(&table[i].start, (uintptr_t)start);
		return (int)i;
	}
	return -ENOSPC; /* the caller goes on without a mapping */
}

void store_map_unregister(int entry)
{
	if (entry < 0 || (unsigned int)entry >= MAP_TABLE)
		return;
	atomic_store(&table[entry].start, 0);
	atomic_store(&table[entry].end, 0);
	atomic_store(&table[entry].lost, NULL);
}

uint64_t store_map_faults(void)
{
	return atomic_load(&faults);
}
