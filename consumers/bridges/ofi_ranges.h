/* SPDX-License-Identifier: MIT */
/*
 * ofi_ranges.h - the ranges libfabric subscribed, readable without a lock
 * from inside a change (private to the libfabric bridge).
 *
 * A fixed array of slots.  Writers (subscribe, unsubscribe, reset) hold
 * ->lock, which no callback takes.  The callback scans the first ->used
 * slots and takes a live slot out with one compare-and-swap.
 *
 * Protocol.  A slot's ->state counts its transitions: even is free, odd is
 * live.  A writer fills ->start/->end only while the slot is free and its
 * odd state is published with a release store (pairs with the acquire load
 * in the scan).  The scan loads an odd state S, reads the range, and drops
 * the slot with CAS(state, S, S + 1): the CAS fails if the slot was dropped
 * and refilled since S, so a range read from a later filling is never
 * acted on for S:
 *
 *     scan                              writers
 *     S = state (odd)
 *                                       (another scan drops it: S+1)
 *                                       fill start/end; state = S+2
 *     read start/end (new range)
 *     CAS(S -> S+1) fails: the slot is someone else's now
 *
 * A range filled after the scan passed its slot is not seen by that scan:
 * the bridge scans again when the change ends.
 */
#ifndef UHMM_BRIDGES_OFI_RANGES_H
#define UHMM_BRIDGES_OFI_RANGES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct range_slot {
	unsigned long start;	/* atomic; written only while free */
	unsigned long end;	/* atomic; written only while free */
	unsigned long state;	/* atomic: transitions, odd = live */
	unsigned int refs;	/* under the table lock */
};

struct range_table {
	pthread_mutex_t lock;	/* serialises writers; no callback */
	struct range_slot *slot;	/* immutable after init */
	size_t cap;		/* immutable after init */
	size_t used;		/* atomic: slots ever filled, only grows */
	size_t live;		/* atomic: live slots */
};

int ranges_init(struct range_table *t, size_t cap);
void ranges_fini(struct range_table *t);

/* Subscribe [start, end): a live identical range gains a reference.
 * Never allocates.  Return: 0, or -ENOSPC with every slot live. */
int ranges_add(struct range_table *t, unsigned long start, unsigned long end);

/* Drop one reference of the live range [start, end), if there is one. */
void ranges_del(struct range_table *t, unsigned long start, unsigned long end);

/* Drop every range (the monitor stopped: libfabric has no cache left). */
void ranges_reset(struct range_table *t);

/* From a callback, lock free: is a live range overlapping [start, end)? */
bool ranges_any_overlapping(struct range_table *t, unsigned long start,
			    unsigned long end);

/* From a callback, lock free: drop every live range overlapping
 * [start, end).  Return: true if one was dropped. */
bool ranges_drop_overlapping(struct range_table *t, unsigned long start,
			     unsigned long end);

#endif /* UHMM_BRIDGES_OFI_RANGES_H */
