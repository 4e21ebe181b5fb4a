/* SPDX-License-Identifier: MIT */
/*
 * uhmm/bridge_ofi.h - uhmm as libfabric's memory monitor.
 *
 * libfabric's MR cache (util_mr_cache, used by the verbs and efa providers
 * for system memory) asks a "memory monitor" to watch every range it caches
 * and to call notify(addr, len) when the range's pages may be reused; it
 * ships monitors that patch libc (memhooks) or use userfaultfd.  Since 1.13
 * an application can import its own monitor (fi_import() of a struct
 * fid_mem_monitor into "mr_cache"), which replaces the default one
 * (FI_MR_CACHE_MONITOR no longer matters).  The bridge imports one backed by
 * uhmm, so a process where uhmm captures changes has one capture owner.
 *
 * How the monitor works, and why one whole-space subscription: libfabric
 * subscribes under its global mm_lock and its notify() takes that lock, so
 * whatever runs under it must not wait for a change in progress.  An
 * interval subscription per range would need uhmm_interval_sub_remove() to
 * recycle it, which waits for running invalidations (one of which may be
 * waiting for mm_lock), so it could never run under mm_lock; and libfabric
 * 1.17 never unsubscribes system memory at all (a notified range counts as
 * unsubscribed).  Instead the subscribed ranges live in a fixed table that
 * subscribe fills (allocation free) and that the one whole-space callback
 * reads without a lock; a change overlapping a subscribed range drops the
 * range from the table and calls notify() for the change:
 *   - in invalidate_range_start, before the change where uhmm sees it
 *     before, and
 *   - again in invalidate_range_end if a range overlapping the change was
 *     subscribed while the change ran (it may have pinned the old pages).
 * A change that overlaps nothing subscribed never reaches libfabric, so a
 * change libfabric itself makes under mm_lock (a malloc() trimming fresh
 * memory) cannot deadlock on it.  Events passed on: UNMAP, CLEAR, MIGRATE
 * (see uhmm/bridge_ucm.h for why these); events uhmm learns only afterwards
 * are passed on when learned.
 *
 * Limits: a registration that races the unmapping of its own memory may
 * stay cached, as with libfabric's own monitors (its cache has no retry
 * protocol).  The table has a fixed size; when full, subscribe fails and
 * libfabric keeps the registration uncached (correct, slower).
 */
#ifndef UHMM_BRIDGE_OFI_H
#define UHMM_BRIDGE_OFI_H

#include <uhmm/common.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;
struct fid_mem_monitor;

/* Default size of the subscribed-range table (4 x libfabric's default
 * FI_MR_CACHE_MAX_COUNT: ranges of evicted registrations stay until their
 * memory changes). */
#define UHMM_BRIDGE_OFI_DEFAULT_RANGES	4096

/**
 * uhmm_bridge_ofi_start() - import a uhmm-backed memory monitor.
 * @mm: the address space to watch, in practice uhmm_mm_current(); the
 *	caller holds a users reference.
 * @max_ranges: size of the subscribed-range table; 0 for
 *	UHMM_BRIDGE_OFI_DEFAULT_RANGES.
 *
 * Initialises libfabric first (fi_getparams()), so that its environment,
 * read once, cannot replace the import afterwards; registers a whole-space
 * subscription on @mm; then fi_import()s the monitor.  Call it before
 * opening any domain: libfabric refuses to replace a monitor a cache uses.
 * libfabric calls the monitor's start when its first MR cache opens and
 * stop when its last closes; notify() is passed on only in between.  One
 * bridge per process (libfabric holds one imported monitor).
 *
 * Context: any thread, not inside a uhmm callback.  Blocks, allocates.
 * Return: 0; -EALREADY (already started); -EBUSY (libfabric already has an
 * imported monitor, or a cache already uses its default monitor);
 * -ENOMEM; -EINVAL; the errors of uhmm_notifier_register().  On error
 * nothing stays registered or imported.
 */
UHMM_API UHMM_MUST_CHECK int uhmm_bridge_ofi_start(struct uhmm_mm *mm,
						   size_t max_ranges);

/**
 * uhmm_bridge_ofi_stop() - withdraw the monitor.
 *
 * Refused while libfabric runs the monitor (an MR cache is open: close its
 * domains first).  Otherwise closes the import (libfabric forgets the
 * monitor), unregisters the subscription and frees the table.  libfabric
 * keeps the import as its default monitor with nothing behind it: a cache
 * opened later fails to start its monitor (providers then run without an
 * MR cache) until a monitor is imported again.
 *
 * Context: any thread, not inside a uhmm callback or a libfabric call.
 * Blocks.
 * Return: 0, and no callback of the bridge runs or will run; -EBUSY (an MR
 * cache still uses the monitor); -EINVAL (not started); -EDEADLK (from a
 * callback; nothing done).
 */
UHMM_API int uhmm_bridge_ofi_stop(void);

/**
 * uhmm_bridge_ofi_monitor() - the monitor the bridge imported.
 *
 * For diagnostics and tests: after a successful start, ->import_ops is the
 * notify table libfabric filled in.  Do not close it; use
 * uhmm_bridge_ofi_stop().
 *
 * Context: any thread; never blocks.
 * Return: the monitor, or NULL when the bridge is not started.
 */
UHMM_API struct fid_mem_monitor *uhmm_bridge_ofi_monitor(void);

UHMM_END_DECLS

#endif /* UHMM_BRIDGE_OFI_H */
