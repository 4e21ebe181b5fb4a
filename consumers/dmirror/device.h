/* SPDX-License-Identifier: MIT */
/*
 * device.h - what the files of libuhmm-dmirror share: the device, and the
 * pieces the commands are built from.
 *
 *   device.c    open, close, the interval callback, lookup, stats
 *   pt.c        the page table (pt.h)
 *   fault.c     the collision-retry loop that fills entries
 *   cmd.c       READ and WRITE
 *   snapshot.c  SNAPSHOT
 *   copy.c      the fault-safe copy
 *
 * Lock: dev->lock is the owner lock of dev->sub (uhmm/interval.h).  Held by
 * the callback, by the fault loop's commit, and by READ / WRITE across the
 * copy through the entries.  Never held across malloc(), free() or any other
 * call that can change memory: the change would run the callback in the
 * same thread, which would wait for the lock forever.
 */
#ifndef UHMM_DMIRROR_DEVICE_H
#define UHMM_DMIRROR_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <uhmm/dmirror.h>
#include <uhmm/uhmm.h>

#include "pt.h"

/* Command fields (uint64_t) are used as addresses and sizes directly. */
_Static_assert(sizeof(unsigned long) == sizeof(uint64_t),
	       "libuhmm-dmirror needs a 64-bit address space");

/* Pages per range fault (the kernel's dmirror uses the same). */
#define DM_CHUNK_PAGES	64

struct uhmm_dmirror {
	struct uhmm_interval_sub sub;	/* the whole table's range */
	pthread_mutex_t lock;		/* the owner lock; see above */
	unsigned long ps;		/* immutable: page size */
	unsigned int shift;		/* immutable: log2(ps) */
	bool want_pfn;			/* immutable: frame numbers readable */
	/* Counters: invalidations and entries_dropped under lock, the
	 * others atomic (bumped outside it); entries is pt.entries. */
	struct uhmm_dmirror_stats st;
	struct dm_pt pt;		/* see pt.h */
};

static inline void dm_count(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/*
 * dm_fault() - fault [start, end) in (for write if @write) and make the
 * entries, DM_CHUNK_PAGES at a time, each with the canonical loop.
 * Context: the caller holds a users reference on the mm, not dev->lock.
 * Return: 0; -EFAULT, -EPERM, -ESRCH, -ENOMEM from the range fault; -EBUSY
 * if a chunk kept colliding with invalidations (see fault.c).
 */
int dm_fault(struct uhmm_dmirror *dev, unsigned long start, unsigned long end,
	     bool write);

/*
 * dm_range_stable() - one uhmm_range_fault() of @range through dev->sub
 * that no invalidation hit before dev->lock was taken.  Returns with
 * dev->lock HELD on success (0), not held on error.
 */
int dm_range_stable(struct uhmm_dmirror *dev, struct uhmm_range *range);

/*
 * dm_cmd_begin() / dm_cmd_end() - check a command and pin the address space
 * for it (users reference).  Sets *@end to the end of the command's range.
 * Return: 0; -EINVAL (bad command); -ESRCH (torn down, or inert after fork).
 */
int dm_cmd_begin(struct uhmm_dmirror *dev, struct uhmm_dmirror_cmd *cmd,
		 unsigned long *end);
void dm_cmd_end(struct uhmm_dmirror *dev);

/*
 * Fault-safe copies between application memory and a local buffer, through
 * the kernel (process_vm_readv/writev on this process): memory that is
 * unmapped or inaccessible gives an error, never a signal.  @done: bytes
 * copied.  Return: 0 if all @len bytes were copied, else -EFAULT.
 */
int dm_copy_from(void *dst, unsigned long src, size_t len, size_t *done);
int dm_copy_to(unsigned long dst, const void *src, size_t len, size_t *done);

#endif /* UHMM_DMIRROR_DEVICE_H */
