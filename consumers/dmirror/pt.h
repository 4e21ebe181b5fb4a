/* SPDX-License-Identifier: MIT */
/*
 * pt.h - the device's page table: one 64-bit entry per virtual page, in a
 * radix of fixed depth (a root embedded in the table, two levels of
 * interior nodes, then leaves of DM_PT_FANOUT entries), so a lookup is
 * three loads whatever the address.
 *
 * Two kinds of state, two protections:
 *
 *   nodes    are only ever added, lock-free (dm_pt_prepare(): allocate,
 *            publish with a compare-and-swap, release order), and freed only
 *            by dm_pt_destroy() when nothing else can run.  Readers load the
 *            links with acquire order.  Adding without the device lock is
 *            the point: malloc() and free() may run the device's own
 *            invalidation callback in the calling thread (a heap trim is a
 *            munmap), which takes the device lock, so they must never be
 *            called with it held.
 *   entries  are read and written under the device lock only: filled by the
 *            fault loop's commit, zeroed by the invalidation callback, which
 *            never frees a node.
 *
 * With 4 KiB pages the table covers virtual addresses below 2^48 (x86-64's
 * 4-level user space is below 2^47); DM_PT_INDEX_BITS page-index bits in all.
 */
#ifndef UHMM_DMIRROR_PT_H
#define UHMM_DMIRROR_PT_H

#include <stdbool.h>
#include <stdint.h>

#define DM_PT_BITS		9
#define DM_PT_FANOUT		(1ul << DM_PT_BITS)
#define DM_PT_LEVELS		4	/* root, 2 interior, leaf */
#define DM_PT_INDEX_BITS	(DM_PT_BITS * DM_PT_LEVELS)

/* An entry: the permission the device has, and the frame number the CPU
 * mapped when the entry was made (0 when unknown).  0 means no entry. */
#define DM_E_READ		(1ull << 63)
#define DM_E_WRITE		(1ull << 62)
#define DM_E_PFN		((1ull << 55) - 1)

/* An interior node (links) or a leaf (entries): the same size. */
struct dm_node {
	void *slot[DM_PT_FANOUT];	/* atomic links; see above */
};

struct dm_pt {
	struct dm_node root;		/* links: atomic */
	unsigned int shift;		/* immutable: log2(page size) */
	unsigned long limit;		/* immutable: first address not covered */
	unsigned long entries;		/* under the device lock */
};

/* Set up an empty table for pages of 1 << @shift bytes. */
void dm_pt_init(struct dm_pt *pt, unsigned int shift);

/*
 * dm_pt_prepare() - make sure every node the pages of [start, end) need
 * exists, so that dm_pt_set() on them never allocates.
 * Context: any thread, WITHOUT the device lock (allocates, may free).
 * Return: 0 or -ENOMEM.  Nodes made stay until dm_pt_destroy().
 */
int dm_pt_prepare(struct dm_pt *pt, unsigned long start, unsigned long end);

/* The entry of the page holding @addr, 0 if none.  Under the device lock. */
uint64_t dm_pt_get(struct dm_pt *pt, unsigned long addr);

/* Set the entry of the page holding @addr (prepared).  Under the lock. */
void dm_pt_set(struct dm_pt *pt, unsigned long addr, uint64_t entry);

/* Zero the entries of [start, end); never frees.  Under the device lock.
 * Return: how many entries were present. */
unsigned long dm_pt_clear(struct dm_pt *pt, unsigned long start,
			  unsigned long end);

/* Free every node.  Context: nothing else uses the table any more. */
void dm_pt_destroy(struct dm_pt *pt);

#endif /* UHMM_DMIRROR_PT_H */
