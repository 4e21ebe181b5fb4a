/* SPDX-License-Identifier: MIT */
/*
 * uhmm/rcache_soft.h - a software DMA device as a registration cache
 * backend, for tests and demos (always built).
 *
 * It emulates a NIC's memory registration: ->reg makes the pages present
 * with the access asked for (as pinning does; read-only memory registered
 * for UHMM_RCACHE_WRITE fails with -EPERM, a hole with -EFAULT), gives the
 * registration a key and records key -> [start, end), access.  A "DMA"
 * through a key copies between the registered range and a buffer, checking
 * the key is live, the access, and the bounds, as the NIC checks an lkey.
 *
 *	struct uhmm_rcache_params p = {
 *		.ops = &uhmm_rcache_soft_ops, .arg = soft,
 *	};
 *	uhmm_rcache_get(cache, buf, len, UHMM_RCACHE_READ, &r);
 *	uhmm_rcache_soft_dma(soft, r->key, buf, out, len,
 *			     UHMM_RCACHE_SOFT_DMA_READ);
 *	uhmm_rcache_put(cache, r);
 *
 * Keys are issued in increasing order from 1 and never reused, so a test
 * can tell a registration made before a point in time from one made after
 * it (uhmm_rcache_soft_next_key()).
 *
 * What it cannot emulate: a real device reaches the physical pages pinned
 * at registration; this one copies through the virtual address
 * (process_vm_readv/writev on itself, so unmapped memory gives -EFAULT,
 * never a crash).
 */
#ifndef UHMM_RCACHE_SOFT_H
#define UHMM_RCACHE_SOFT_H

#include <uhmm/rcache.h>

UHMM_BEGIN_DECLS

struct uhmm_rcache_soft;

/* uhmm_rcache_soft_dma() directions */
#define UHMM_RCACHE_SOFT_DMA_READ	0	/* device reads memory into buf */
#define UHMM_RCACHE_SOFT_DMA_WRITE	1	/* device writes buf into memory */

/**
 * struct uhmm_rcache_soft_stats - what the device has seen.
 * @live: registrations now (reg'd, not dereg'd).
 * @regs: successful ->reg calls.
 * @deregs: ->dereg calls of a live key.
 * @reg_failures: ->reg calls that failed.
 * @bad_deregs: ->dereg calls of a key that was not live (a double
 *	deregistration: always a bug of the caller).
 */
struct uhmm_rcache_soft_stats {
	uint64_t live;
	uint64_t regs;
	uint64_t deregs;
	uint64_t reg_failures;
	uint64_t bad_deregs;
};

/* The backend: pass it as params.ops with the device as params.arg. */
extern UHMM_API const struct uhmm_rcache_ops uhmm_rcache_soft_ops;

/**
 * uhmm_rcache_soft_create() - a new device with no registrations.
 * @out: the device.
 *
 * Return: 0, -EINVAL, -ENOMEM.
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_rcache_soft_create(struct uhmm_rcache_soft **out);

/**
 * uhmm_rcache_soft_destroy() - free the device.
 * @soft: a device whose registrations were all deregistered (any left are
 *	dropped).
 */
UHMM_API void uhmm_rcache_soft_destroy(struct uhmm_rcache_soft *soft);

/**
 * uhmm_rcache_soft_dma() - copy through a registration.
 * @soft: the device.
 * @key: a region's key.
 * @addr: first byte of application memory, inside the registration.
 * @buf: the other side of the copy.
 * @len: bytes, > 0.
 * @dir: UHMM_RCACHE_SOFT_DMA_READ or _WRITE.
 *
 * Context: any thread; not inside a uhmm callback.  A deregistration of
 * @key waits for a copy through it to end.
 * Return: 0; -ENOENT (@key is not live); -EACCES (the registration lacks
 * the access @dir needs); -ERANGE ([addr, addr + len) is not inside it);
 * -EFAULT (the memory is not mapped, or not with that access, now);
 * -EINVAL.
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_rcache_soft_dma(struct uhmm_rcache_soft *soft, uint64_t key,
		     const void *addr, void *buf, size_t len, int dir);

/** uhmm_rcache_soft_live() - is @key registered now? */
UHMM_API bool uhmm_rcache_soft_live(struct uhmm_rcache_soft *soft,
				    uint64_t key);

/** uhmm_rcache_soft_next_key() - the key the next ->reg will issue. */
UHMM_API uint64_t uhmm_rcache_soft_next_key(struct uhmm_rcache_soft *soft);

/** uhmm_rcache_soft_stats() - the device's counters. */
UHMM_API void uhmm_rcache_soft_stats(struct uhmm_rcache_soft *soft,
				     struct uhmm_rcache_soft_stats *out);

UHMM_END_DECLS

#endif /* UHMM_RCACHE_SOFT_H */
