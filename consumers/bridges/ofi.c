/* SPDX-License-Identifier: MIT */
/*
 * ofi.c - a libfabric memory monitor backed by uhmm (see
 * include/uhmm/bridge_ofi.h): the monitor's life, its ops, and the
 * whole-space subscription that calls notify().
 *
 * Monitor states (br.state):
 *
 *	NONE --bridge start--> IMPORTED --libfabric start--> RUNNING
 *	                        |    ^   <--libfabric stop---
 *	            bridge stop |    | unregister refused (-EDEADLK)
 *	                        v    |
 *	                        CLOSING --> NONE
 *
 * Only RUNNING passes notify() on: libfabric has a cache, and every range
 * it subscribed is in the table.  CLOSING refuses libfabric's start, so a
 * domain opened during stop runs without a cache instead of using a
 * monitor being taken apart.  The monitor itself is static: libfabric may
 * still read it (not call it) after the import is closed.
 *
 * Lock order: libfabric's mm_state_lock (around start/stop ops) and
 * mm_lock (around subscribe/unsubscribe/valid) -> the table lock.  The
 * callbacks take no lock of ours; notify() takes libfabric's mm_list_rwlock
 * and mm_lock, which libfabric never holds across a change to memory a
 * range covers.
 */
#include <errno.h>
#include <pthread.h>

#include <rdma/fabric.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_ext.h>

#include <uhmm/bridge_ofi.h>
#include <uhmm/common.h>
#include <uhmm/mm.h>
#include <uhmm/notifier.h>

#include "events.h"
#include "ofi_ranges.h"

enum ofi_state { OFI_NONE, OFI_IMPORTED, OFI_RUNNING, OFI_CLOSING };

static struct {
	pthread_mutex_t lock;		/* serialises start and stop */
	int state;			/* atomic: enum ofi_state */
	bool released;			/* atomic: the mm was torn down */
	struct fid_mem_monitor mon;	/* import_ops and fid: libfabric's */
	struct uhmm_notifier sub;	/* registered from start to stop */
	struct range_table ranges;	/* allocated from start to stop */
} br = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int state(void)
{
	return __atomic_load_n(&br.state, __ATOMIC_ACQUIRE);
}

static bool move(int from, int to)
{
	return __atomic_compare_exchange_n(&br.state, &from, to, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------ */
/* The monitor's ops, called by libfabric                              */

static int mon_start(struct fid_mem_monitor *m)
{
	if (__atomic_load_n(&br.released, __ATOMIC_ACQUIRE))
		return -FI_ENODEV;	/* no more events: no cache */
	if (state() == OFI_RUNNING || move(OFI_IMPORTED, OFI_RUNNING))
		return 0;
	return -FI_EBUSY;		/* CLOSING */
}

static void mon_stop(struct fid_mem_monitor *m)
{
	/* libfabric's last cache is gone, and with it every registration. */
	if (move(OFI_RUNNING, OFI_IMPORTED))
		ranges_reset(&br.ranges);
}

/* [addr, addr + len) widened to pages; false if empty or wrapping. */
static bool page_range(const void *addr, size_t len, unsigned long *start,
		       unsigned long *end)
{
	unsigned long ps = uhmm_page_size();
	unsigned long a = (unsigned long)addr;

	if (!len || a + len < a || a + len > -ps)
		return false;
	*start = a & ~(ps - 1);
	*end = (a + len + ps - 1) & ~(ps - 1);
	return true;
}

static int mon_subscribe(struct fid_mem_monitor *m, const void *addr,
			 size_t len)
{
	unsigned long start, end;

	if (!page_range(addr, len, &start, &end))
		return -FI_EINVAL;
	return ranges_add(&br.ranges, start, end);	/* -ENOSPC */
}

static void mon_unsubscribe(struct fid_mem_monitor *m, const void *addr,
			    size_t len)
{
	unsigned long start, end;

	if (page_range(addr, len, &start, &end))
		ranges_del(&br.ranges, start, end);
}

/*
 * Invalidations are pushed through notify() before the change, so a
 * cached entry libfabric still holds was hit by no change we saw.  What
 * valid() guards is the time we see nothing: the monitor not running, or
 * the address space torn down.
 */
static bool mon_valid(struct fid_mem_monitor *m, const void *addr, size_t len)
{
	return state() == OFI_RUNNING &&
	       !__atomic_load_n(&br.released, __ATOMIC_ACQUIRE);
}

static struct fi_ops_mem_monitor export_ops = {
	.size = sizeof(struct fi_ops_mem_monitor),
	.start = mon_start,
	.stop = mon_stop,
	.subscribe = mon_subscribe,
	.unsubscribe = mon_unsubscribe,
	.valid = mon_valid,
};

/* ------------------------------------------------------------------ */
/* The whole-space subscription                                        */

static void notify(const struct uhmm_notifier_range *r)
{
	struct fi_ops_mem_notify *ops;

	ops = __atomic_load_n(&br.mon.import_ops, __ATOMIC_ACQUIRE);
	ops->notify(&br.mon, (const void *)r->start, r->end - r->start);
}

static bool wanted(const struct uhmm_notifier_range *r)
{
	return bridge_event_reuses_pages(r->event) && state() == OFI_RUNNING;
}

static int range_start(struct uhmm_notifier *sub,
		       const struct uhmm_notifier_range *r)
{
	if (!wanted(r))
		return 0;
	/* notify() sleeps on libfabric's locks: refuse rather than block. */
	if (!uhmm_range_blockable(r) &&
	    ranges_any_overlapping(&br.ranges, r->start, r->end))
		return -EAGAIN;
	if (ranges_drop_overlapping(&br.ranges, r->start, r->end))
		notify(r);
	return 0;
}

/* A range subscribed while the change ran may hold the old pages. */
static void range_end(struct uhmm_notifier *sub,
		      const struct uhmm_notifier_range *r)
{
	if (wanted(r) && ranges_drop_overlapping(&br.ranges, r->start, r->end))
		notify(r);
}

static void released(struct uhmm_notifier *sub, struct uhmm_mm *mm)
{
	__atomic_store_n(&br.released, true, __ATOMIC_RELEASE);
}

static const struct uhmm_notifier_ops sub_ops = {
	.release = released,
	.invalidate_range_start = range_start,
	.invalidate_range_end = range_end,
};

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */

/* libfabric reads its environment (FI_MR_CACHE_MONITOR among it) once, at
 * its first use; an import made before that could be overridden by it. */
static void ofi_init_now(void)
{
	struct fi_param *params = NULL;
	int count = 0;

	if (!fi_getparams(&params, &count))
		fi_freeparams(params);
}

static int import(void)
{
	br.mon = (struct fid_mem_monitor){
		.fid.fclass = FI_CLASS_MEM_MONITOR,
		.export_ops = &export_ops,
	};
	__atomic_store_n(&br.state, OFI_IMPORTED, __ATOMIC_RELEASE);
	return fi_import(FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION),
			 "mr_cache", NULL, 0, 0, &br.mon.fid, NULL);
}

static int start_locked(struct uhmm_mm *mm, size_t max_ranges)
{
	int ret;

	if (state() != OFI_NONE)
		return -EALREADY;
	ret = ranges_init(&br.ranges, max_ranges);
	if (ret)
		return ret;
	ofi_init_now();
	__atomic_store_n(&br.released, false, __ATOMIC_RELEASE);
	br.sub = (struct uhmm_notifier){ .ops = &sub_ops };
	ret = uhmm_notifier_register(&br.sub, mm);
	if (ret)
		goto fini;
	ret = import();
	if (!ret)
		return 0;
	__atomic_store_n(&br.state, OFI_NONE, __ATOMIC_RELEASE);
	(void)uhmm_notifier_unregister(&br.sub);
fini:
	ranges_fini(&br.ranges);
	return ret;
}

int uhmm_bridge_ofi_start(struct uhmm_mm *mm, size_t max_ranges)
{
	int ret;

	if (!mm)
		return -EINVAL;
	if (!max_ranges)
		max_ranges = UHMM_BRIDGE_OFI_DEFAULT_RANGES;
	pthread_mutex_lock(&br.lock);
	ret = start_locked(mm, max_ranges);
	pthread_mutex_unlock(&br.lock);
	return ret;
}

static int stop_locked(void)
{
	int ret;

	if (state() == OFI_NONE)
		return -EINVAL;
	if (!move(OFI_IMPORTED, OFI_CLOSING))
		return -EBUSY;		/* RUNNING: a cache uses it */
	ret = uhmm_notifier_unregister(&br.sub);
	if (ret) {
		move(OFI_CLOSING, OFI_IMPORTED);
		return ret;
	}
	/* Our fid's ops are libfabric's now: this closes the import. */
	fi_close(&br.mon.fid);
	ranges_fini(&br.ranges);
	__atomic_store_n(&br.state, OFI_NONE, __ATOMIC_RELEASE);
	return 0;
}

int uhmm_bridge_ofi_stop(void)
{
	int ret;

	pthread_mutex_lock(&br.lock);
	ret = stop_locked();
	pthread_mutex_unlock(&br.lock);
	return ret;
}

struct fid_mem_monitor *uhmm_bridge_ofi_monitor(void)
{
	return state() == OFI_NONE ? NULL : &br.mon;
}
