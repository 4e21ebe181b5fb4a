/* SPDX-License-Identifier: MIT */
/*
 * device.c - the device's life (open, close), its interval callback, and
 * what checkers read (lookup, stats).
 *
 * Lifetime: the subscription holds a struct reference on the mm (taken by
 * uhmm_interval_sub_insert()), never a users reference, so the device does
 * not keep the address space alive: its teardown runs the callback once
 * with UHMM_EVENT_RELEASE over everything, which empties the table, and
 * every command after it fails with -ESRCH (dm_cmd_begin()).  A device
 * inherited by a fork child is inert the same way: its mm is.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "device.h"

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

/*
 * The kernel shows frame numbers in /proc/self/pagemap to CAP_SYS_ADMIN
 * only; asking for them otherwise costs a reading that yields zeros.
 */
static bool pfns_readable(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &
	       CAP_TO_MASK(CAP_SYS_ADMIN);
}

/*
 * The owner's half of the protocol (uhmm/interval.h).  Changes reported
 * after they happened (UHMM_RANGE_AFTER) are handled alike: the memory is
 * already different, so the entries must go all the more.  Never frees
 * (pt.h): it may run inside free() or munmap() of any thread.
 */
static bool dev_invalidate(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *r,
			   unsigned long cur_seq)
{
	struct uhmm_dmirror *dev = container_of(sub, struct uhmm_dmirror, sub);
	unsigned long dropped;

	/* A device ignores its own migrations (none yet: MODEL.md 5). */
	if (r->event == UHMM_EVENT_MIGRATE && r->owner == dev)
		return true;
	if (uhmm_range_blockable(r))
		pthread_mutex_lock(&dev->lock);
	else if (pthread_mutex_trylock(&dev->lock))
		return false;
	uhmm_interval_set_seq(sub, cur_seq);
	dropped = dm_pt_clear(&dev->pt, r->start, r->end);
	dev->st.invalidations++;
	dev->st.entries_dropped += dropped;
	pthread_mutex_unlock(&dev->lock);
	return true;
}

static const struct uhmm_interval_sub_ops dev_ops = {
	.invalidate = dev_invalidate,
};

static struct uhmm_dmirror *dev_alloc(void)
{
	struct uhmm_dmirror *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->ps = uhmm_page_size();
	dev->shift = (unsigned int)__builtin_ctzl(dev->ps);
	dev->want_pfn = pfns_readable();
	dm_pt_init(&dev->pt, dev->shift);
	if (pthread_mutex_init(&dev->lock, NULL)) {
		free(dev);
		return NULL;
	}
	return dev;
}

static void dev_free(struct uhmm_dmirror *dev)
{
	dm_pt_destroy(&dev->pt);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

int uhmm_dmirror_open(struct uhmm_mm *mm, struct uhmm_dmirror **out)
{
	struct uhmm_dmirror *dev;
	int ret;

	if (!out)
		return -EINVAL;
	if (!mm)
		mm = uhmm_mm_current();
	dev = mm ? dev_alloc() : NULL;
	if (!dev)
		return -ENOMEM;
	/* Everything the table can map: [0, 2^48) with 4 KiB pages. */
	ret = uhmm_interval_sub_insert(&dev->sub, mm, 0, dev->pt.limit,
				       &dev_ops);
	if (ret) {
		dev_free(dev);
		return ret;
	}
	uhmm_interval_sub_set_owner_lock(&dev->sub, &dev->lock);
	*out = dev;
	return 0;
}

void uhmm_dmirror_close(struct uhmm_dmirror *dev)
{
	if (!dev)
		return;
	/* After it returns no callback runs: nothing else sees the table. */
	if (uhmm_interval_sub_remove(&dev->sub))
		abort();	/* not inserted, or from a callback: misuse */
	dev_free(dev);
}

int uhmm_dmirror_lookup(struct uhmm_dmirror *dev, unsigned long addr,
			uint64_t *pfn)
{
	uint64_t e = 0;

	if (!dev)
		return UHMM_DMIRROR_PROT_NONE;
	/* Inert after fork: the entries are the parent's, and the lock may
	 * have been held by a thread that does not exist here. */
	if (uhmm_mm_alive(uhmm_interval_sub_mm(&dev->sub))) {
		pthread_mutex_lock(&dev->lock);
		e = dm_pt_get(&dev->pt, addr);
		pthread_mutex_unlock(&dev->lock);
	}
	if (pfn)
		*pfn = e & DM_E_PFN;
	if (!e)
		return UHMM_DMIRROR_PROT_NONE;
	return (e & DM_E_WRITE) ? UHMM_DMIRROR_PROT_WRITE :
				  UHMM_DMIRROR_PROT_READ;
}

void uhmm_dmirror_stats(struct uhmm_dmirror *dev,
			struct uhmm_dmirror_stats *out)
{
	if (!dev || !out)
		return;
	pthread_mutex_lock(&dev->lock);
	out->invalidations = dev->st.invalidations;
	out->entries_dropped = dev->st.entries_dropped;
	out->faults = __atomic_load_n(&dev->st.faults, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&dev->st.retries, __ATOMIC_RELAXED);
	out->cpages = __atomic_load_n(&dev->st.cpages, __ATOMIC_RELAXED);
	out->entries = dev->pt.entries;
	pthread_mutex_unlock(&dev->lock);
}
