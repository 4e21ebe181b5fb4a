/* SPDX-License-Identifier: MIT */
/*
 * fault.c - filling the device's page table: the canonical collision-retry
 * loop of uhmm/interval.h (the kernel's dmirror_range_fault()).
 *
 *	again:
 *		seq = read_begin(sub)
 *		range fault                      (no device lock)
 *		-EBUSY: again
 *		lock(dev)
 *		read_retry(sub, seq): unlock, again
 *		commit entries                   (no allocation: prepared)
 *		unlock(dev)
 *
 * Every change announced before it happens runs the device's callback, which
 * takes dev->lock and moves the subscription's sequence, so either it runs
 * before the commit (read_retry sees it and the round is thrown away) or
 * after (it drops what was committed).  The subscription covers the whole
 * address space: any change anywhere costs a round, the price of one
 * subscription per device.
 *
 * A chunk that keeps colliding is given up with -EBUSY, as the kernel gives
 * up after HMM_RANGE_DEFAULT_TIMEOUT: only once a second has passed *and*
 * DM_MIN_ROUNDS rounds were thrown away, so a slow machine alone never
 * makes a command fail.
 */
#include <errno.h>
#include <time.h>

#include "device.h"

#define DM_TIMEOUT_NS	1000000000ull
#define DM_MIN_ROUNDS	16

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One thrown-away round; true when the caller should give up. */
static bool round_lost(struct uhmm_dmirror *dev, unsigned int *rounds,
		       uint64_t t0)
{
	dm_count(&dev->st.retries, 1);
	return ++*rounds >= DM_MIN_ROUNDS && now_ns() - t0 >= DM_TIMEOUT_NS;
}

int dm_range_stable(struct uhmm_dmirror *dev, struct uhmm_range *range)
{
	uint64_t t0 = now_ns();
	unsigned int rounds = 0;
	int ret;

	range->notifier = &dev->sub;
	for (;;) {
		range->notifier_seq = uhmm_interval_read_begin(&dev->sub);
		ret = uhmm_range_fault(range);
		if (ret == -EBUSY) {
			if (round_lost(dev, &rounds, t0))
				return -EBUSY;
			continue;
		}
		if (ret)
			return ret;
		pthread_mutex_lock(&dev->lock);
		if (!uhmm_interval_read_retry(&dev->sub, range->notifier_seq))
			return 0;	/* with dev->lock held */
		pthread_mutex_unlock(&dev->lock);
		if (round_lost(dev, &rounds, t0))
			return -EBUSY;
	}
}

/* The entry a fault result gives, or 0 if it does not grant the access. */
static uint64_t make_entry(const struct uhmm_dmirror *dev, uint64_t word,
			   bool write)
{
	uint64_t e = DM_E_READ;

	if (!(word & UHMM_PFN_VALID) || (word & UHMM_PFN_ERROR))
		return 0;
	if (word & UHMM_PFN_WRITE)
		e |= DM_E_WRITE;
	else if (write)
		return 0;
	if (dev->want_pfn)
		e |= uhmm_pfn_to_pfn(word) & DM_E_PFN;
	return e;
}

/*
 * Under dev->lock.  A successful fault grants every page what was asked
 * (the kernel's dmirror WARNs otherwise); if one does not, the command ends
 * with -EFAULT rather than faulting the same page forever.
 */
static int commit(struct uhmm_dmirror *dev, const struct uhmm_range *range,
		  bool write)
{
	unsigned long addr, i = 0;
	uint64_t e;

	for (addr = range->start; addr < range->end; addr += dev->ps, i++) {
		e = make_entry(dev, range->pfns[i], write);
		if (!e)
			return -EFAULT;
		dm_pt_set(&dev->pt, addr, e);
	}
	return 0;
}

static int fault_chunk(struct uhmm_dmirror *dev, struct uhmm_range *range,
		       bool write)
{
	int ret = dm_pt_prepare(&dev->pt, range->start, range->end);

	if (ret)
		return ret;
	ret = dm_range_stable(dev, range);
	if (ret)
		return ret;
	ret = commit(dev, range, write);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int dm_fault(struct uhmm_dmirror *dev, unsigned long start, unsigned long end,
	     bool write)
{
	uint64_t pfns[DM_CHUNK_PAGES];
	struct uhmm_range range = {
		.pfns = pfns,
		.default_flags = UHMM_PFN_REQ_FAULT |
				 (write ? UHMM_PFN_REQ_WRITE : 0),
		.flags = dev->want_pfn ? UHMM_RANGE_WANT_PFN : 0,
	};
	unsigned long addr;
	int ret = 0;

	for (addr = start; addr < end && !ret; addr = range.end) {
		range.start = addr;
		range.end = end - addr > DM_CHUNK_PAGES * dev->ps ?
			    addr + DM_CHUNK_PAGES * dev->ps : end;
		ret = fault_chunk(dev, &range, write);
	}
	return ret;
}
