/* SPDX-License-Identifier: MIT */
/*
 * uhmm/rcache.h - a registration cache on uhmm's public API.
 *
 * RDMA, GPU, io_uring and DMA runtimes register application memory with a
 * device and cache the registrations.  The cache must never hand out a
 * registration of memory that changed (freed, unmapped, remapped, discarded,
 * write-protected) after it was registered: the device would read or write
 * the old pages.  Here every cached region is an interval subscription; a
 * change to any part of its range invalidates it before the change where
 * uhmm sees it before (libc routes), and before any later lookup where uhmm
 * sees it after the fact.
 *
 * Lifetime of a region:
 *   get (miss)  ->register (no cache lock held)  -> published, refs 1
 *   get (hit)   refs + 1, no lock: the thread's recent regions first,
 *               else the index under RCU
 *   put         refs - 1; at 0 the region stays cached (LRU) while valid
 *   invalidated (callback, maybe inside free() or munmap()): unpublished at
 *               once, never returned again; holders keep using it until
 *               their put; then it waits on the pending list
 *   pending     ->deregister runs at the next cache call, or in the
 *               background reclaimer (UHMM_RCACHE_RECLAIMER), never inside
 *               a callback
 *
 * Memory: a region's bookkeeping is allocated at its first registration and
 * kept for reuse after deregistration (it goes back to malloc at destroy);
 * invalidation allocates nothing, so the pending list and the kept
 * bookkeeping are bounded by the number of regions ever cached at once
 * (<= max_regions), whatever the application does between cache calls.
 */
#ifndef UHMM_RCACHE_H
#define UHMM_RCACHE_H

#include <uhmm/common.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;
struct uhmm_rcache;

/* Access a registration gives the device; a region with more serves less. */
#define UHMM_RCACHE_READ	(1u << 0)	/* the device reads memory */
#define UHMM_RCACHE_WRITE	(1u << 1)	/* the device writes memory */

/**
 * struct uhmm_rcache_region - a registered range, as its holders see it.
 * @start: first byte registered (page aligned, <= the requested address).
 * @end: one past the last byte registered (page aligned).
 * @access: UHMM_RCACHE_READ / _WRITE the registration grants.
 * @priv: the backend's: set by ->reg (an ibv_mr, a buffer index, ...).
 * @key: the backend's: set by ->reg (an lkey, a fixed-buffer index, ...).
 *
 * Read-only for everyone but the backend's ->reg.  Valid from get until the
 * matching put.
 */
struct uhmm_rcache_region {
	unsigned long start;
	unsigned long end;
	unsigned int access;
	void *priv;
	uint64_t key;
};

/**
 * struct uhmm_rcache_ops - the backend: what registering means.
 * @reg: register [@r->start, @r->end) with @r->access; fill @r->priv and
 *	@r->key.  Return 0 or a negative errno (passed to the get caller).
 * @dereg: undo @reg.  Must not fail.
 * @merge: optional.  May the request [start, end) with @access be merged
 *	with the overlapping cached region @old into one registration?  NULL:
 *	merge when one access includes the other (the merged region gets
 *	both).
 *
 * Context: @reg and @dereg run in a thread calling into the cache or in the
 * reclaimer, with no cache lock held and never inside a uhmm callback: they
 * may block, allocate, and call free() or munmap().  @merge runs under the
 * cache lock: no blocking, no allocation.
 */
struct uhmm_rcache_ops {
	int (*reg)(void *arg, struct uhmm_rcache_region *r);
	void (*dereg)(void *arg, struct uhmm_rcache_region *r);
	bool (*merge)(void *arg, const struct uhmm_rcache_region *old,
		      unsigned long start, unsigned long end,
		      unsigned int access);
};

/* struct uhmm_rcache_params.flags */
#define UHMM_RCACHE_RECLAIMER	(1u << 0)	/* background deregistration */

/**
 * struct uhmm_rcache_params - how to build a cache.
 * @ops: the backend (->reg and ->dereg required).
 * @arg: passed to every op.
 * @max_regions: cached regions at most (held + idle + pending); 0: no limit.
 * @max_bytes: registered bytes at most; 0: no limit.
 * @max_pending_bytes: invalidated bytes waiting for deregistration above
 *	which the next cache call deregisters them before anything else (and
 *	the reclaimer is woken); 0: deregister at every call.
 * @flags: UHMM_RCACHE_RECLAIMER.
 *
 * Past @max_regions or @max_bytes, idle regions are evicted least recently
 * used first; if held regions alone exceed a limit, get fails with -ENOSPC.
 */
struct uhmm_rcache_params {
	const struct uhmm_rcache_ops *ops;
	void *arg;
	size_t max_regions;
	size_t max_bytes;
	size_t max_pending_bytes;
	unsigned int flags;
};

/**
 * struct uhmm_rcache_stats - counters since creation, and the state now.
 */
struct uhmm_rcache_stats {
	uint64_t hits;		/* get served by a cached region */
	uint64_t misses;	/* get that registered */
	uint64_t merges;	/* cached regions folded into a new one */
	uint64_t invalidations;	/* regions invalidated by a change or call */
	uint64_t evictions;	/* idle regions dropped for the limits */
	uint64_t registrations;	/* ->reg calls that succeeded */
	uint64_t deregistrations;	/* ->dereg calls */
	uint64_t reg_failures;	/* ->reg calls that failed */
	uint64_t regions;	/* regions registered now (not deregistered) */
	uint64_t bytes;		/* their bytes */
	uint64_t pending_regions;	/* invalidated, waiting for ->dereg */
	uint64_t pending_bytes;
};

/**
 * uhmm_rcache_create() - create a cache over an address space.
 * @mm: a handle the caller holds a users reference on, or NULL for the
 *	calling process's.
 * @params: backend and limits (copied).
 * @out: the cache.
 *
 * Context: any thread, not inside a uhmm callback.  Allocates; starts the
 * reclaimer thread if asked.
 * Return: 0; -EINVAL; -ENOMEM; -ESRCH; -EDEADLK; or pthread_create's error.
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_rcache_create(struct uhmm_mm *mm, const struct uhmm_rcache_params *params,
		   struct uhmm_rcache **out);

/**
 * uhmm_rcache_destroy() - deregister everything and free the cache.
 * @cache: a cache no thread uses any more, every region put.
 *
 * Context: any thread, not inside a uhmm callback.  Blocks.
 */
UHMM_API void uhmm_rcache_destroy(struct uhmm_rcache *cache);

/**
 * uhmm_rcache_get() - a registration covering [addr, addr + len).
 * @cache: the cache.
 * @addr: first byte.
 * @len: bytes, > 0.
 * @access: UHMM_RCACHE_READ and/or UHMM_RCACHE_WRITE.
 * @out: the region, referenced: give it back with uhmm_rcache_put().
 *
 * Hit: a valid cached region covering the range with at least @access;
 * no lock, no allocation, no system call.  Miss: registers the page-aligned
 * range (merged with overlapping regions as ->merge allows), retrying if the
 * memory changes while ->reg runs, and caches it.
 *
 * Context: any thread, not inside a uhmm callback.  A miss blocks (->reg).
 * Return: 0; -EINVAL (NULL, len 0, overflow, no access bit); -ENOSPC (held
 * regions exceed a limit); -ESRCH (the address space is torn down); -EDEADLK
 * (inside a callback); -ENOMEM; or ->reg's error.
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_rcache_get(struct uhmm_rcache *cache, const void *addr, size_t len,
		unsigned int access, struct uhmm_rcache_region **out);

/**
 * uhmm_rcache_put() - drop a reference uhmm_rcache_get() gave.
 * @cache: the cache.
 * @region: the region.
 *
 * If @region was invalidated and this was the last reference, it goes to
 * the pending list (deregistered later, never here if we are inside a
 * callback).
 *
 * Context: any thread, also inside a uhmm callback.  Never blocks, never
 * allocates.
 */
UHMM_API void uhmm_rcache_put(struct uhmm_rcache *cache,
			      struct uhmm_rcache_region *region);

/**
 * uhmm_rcache_invalidate() - drop every cached region overlapping a range.
 * @cache: the cache.
 * @addr: first byte.
 * @len: bytes.
 *
 * As if the memory had changed: the regions are never returned again and are
 * deregistered once their holders put them.
 *
 * Context: any thread, not inside a uhmm callback.  May block (deregisters).
 * Return: 0; -EINVAL.
 */
UHMM_API int uhmm_rcache_invalidate(struct uhmm_rcache *cache,
				    const void *addr, size_t len);

/**
 * uhmm_rcache_reclaim() - deregister every pending region now.
 * @cache: the cache.
 *
 * Context: any thread, not inside a uhmm callback.  Blocks (->dereg).
 */
UHMM_API void uhmm_rcache_reclaim(struct uhmm_rcache *cache);

/**
 * uhmm_rcache_region_valid() - has @region not been invalidated?
 * @region: a region the caller holds.
 *
 * A hint for holders that cache a region across calls: false means it will
 * never be returned again and should be put.
 */
UHMM_API bool uhmm_rcache_region_valid(const struct uhmm_rcache_region *region);

/**
 * uhmm_rcache_stats() - the cache's counters.
 * @cache: the cache.
 * @out: filled in.
 *
 * Context: any thread.  Never blocks.
 */
UHMM_API void uhmm_rcache_stats(struct uhmm_rcache *cache,
				struct uhmm_rcache_stats *out);

UHMM_END_DECLS

#endif /* UHMM_RCACHE_H */
