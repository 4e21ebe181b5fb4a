/* SPDX-License-Identifier: MIT */
/*
 * uhmm/rcache_uring.h - io_uring fixed buffers as a registration cache
 * backend (built when liburing is found: UHMM_RCACHE_HAVE_URING).
 *
 * The backend owns the registered-buffer table of one ring.  It registers
 * the table sparse (every slot empty) and fills one slot per cached region:
 * ->reg pins [start, end) into a free slot, region->key is the slot (the
 * SQE's buf_index), ->dereg empties the slot again.  The kernel pins the
 * pages of a fixed buffer for as long as the slot holds them, whatever the
 * application does to its address space: after free() or munmap() and a
 * new allocation at the same address, a stale slot still reads into and
 * writes from the OLD pages.  The cache drops a region at the first change
 * to its range, so a get always returns a slot over the pages mapped now.
 *
 * A fixed-buffer I/O through the cache (error handling trimmed):
 *
 *	struct uhmm_rcache_region *r;
 *	struct io_uring_sqe *sqe;
 *	struct io_uring_cqe *cqe;
 *
 *	ret = uhmm_rcache_get(cache, buf, len, UHMM_RCACHE_WRITE, &r);
 *	if (ret)
 *		return ret;
 *	sqe = io_uring_get_sqe(ring);
 *	// buf_index is the slot; the address range must lie in the region:
 *	// r->start <= buf and buf + len <= r->end (get guarantees it).
 *	io_uring_prep_read_fixed(sqe, fd, buf, len, offset, (int)r->key);
 *	io_uring_submit(ring);
 *	io_uring_wait_cqe(ring, &cqe);	// keep r until the CQE is reaped
 *	io_uring_cqe_seen(ring, cqe);
 *	uhmm_rcache_put(cache, r);
 *
 * WRITE_FIXED is the same with io_uring_prep_write_fixed() and
 * UHMM_RCACHE_READ (the device reads memory).  The kernel registers every
 * fixed buffer for both directions, so the region's access only says what
 * the holder asked for; the memory must be writable either way (read-only
 * memory fails with -EFAULT).
 *
 * Hold the region until every SQE that names its slot has completed: a
 * put that lets the region be deregistered and the slot be reused while an
 * SQE is still unsubmitted makes that SQE use the slot's next buffer.
 * (Requests already submitted keep their buffer; the kernel unpins it when
 * they complete.)
 *
 * Sizing: give the cache the table size as max_regions (what
 * uhmm_rcache_uring_params() does), so that idle regions are evicted
 * before the table runs out; without it a get fails with -ENOSPC once
 * every slot is taken.  A fixed buffer holds at most 1 GiB.
 */
#ifndef UHMM_RCACHE_URING_H
#define UHMM_RCACHE_URING_H

#include <uhmm/rcache.h>

UHMM_BEGIN_DECLS

struct io_uring;
struct uhmm_rcache_uring;

/* The kernel's limits: table slots (IORING_MAX_REG_BUFFERS), slot bytes. */
#define UHMM_RCACHE_URING_MAX_SLOTS	(1u << 14)
#define UHMM_RCACHE_URING_MAX_BYTES	(1ul << 30)

/**
 * struct uhmm_rcache_uring_stats - the table now, and counters.
 * @slots: table size.
 * @used: slots holding a buffer now (registered regions).
 * @lost: slots a failed ->dereg could not empty, never reused (0 unless
 *	the kernel refused an update; their pages go with the table).
 * @updates: successful registrations into a slot.
 * @update_failures: registrations the kernel refused.
 */
struct uhmm_rcache_uring_stats {
	unsigned int slots;
	unsigned int used;
	unsigned int lost;
	uint64_t updates;
	uint64_t update_failures;
};

/**
 * uhmm_rcache_uring_create() - take over a ring's fixed-buffer table.
 * @ring: an initialised ring with no buffers registered; it must outlive
 *	the backend.  The backend only calls io_uring_register*() on it,
 *	which is safe while other threads submit.
 * @slots: table size, 1 .. UHMM_RCACHE_URING_MAX_SLOTS.
 * @out: the backend.
 *
 * Registers a sparse table of @slots empty buffers (on kernels before
 * 5.19, which lack sparse registration, a table of empty iovecs).
 *
 * Context: any thread, not inside a uhmm callback.  Allocates; blocks
 * (a system call).
 * Return: 0; -EINVAL (NULL argument, @slots out of range); -ENOMEM;
 * -EOPNOTSUPP (the kernel predates updatable buffer tables, Linux 5.13);
 * -EBUSY (the ring already has a buffer table); or the kernel's error.
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_rcache_uring_create(struct io_uring *ring, unsigned int slots,
			 struct uhmm_rcache_uring **out);

/**
 * uhmm_rcache_uring_destroy() - give the table back and free the backend.
 * @u: a backend no cache uses any more (destroy the cache first), or NULL.
 *
 * Unregisters the ring's buffer table, which unpins any buffer still in it
 * once the requests using it complete.
 *
 * Context: any thread, not inside a uhmm callback.  Blocks.
 */
UHMM_API void uhmm_rcache_uring_destroy(struct uhmm_rcache_uring *u);

/**
 * uhmm_rcache_uring_params() - the cache parameters for this backend.
 * @u: the backend.
 * @params: filled in: ->ops, ->arg and ->max_regions (the table size);
 *	the other fields are left as they are.
 *
 * The ops: ->reg takes a free slot (-ENOSPC when none is left; -E2BIG
 * above UHMM_RCACHE_URING_MAX_BYTES) and pins the range into it; the
 * kernel's error otherwise: -EFAULT (unmapped or read-only memory),
 * -ENOMEM (RLIMIT_MEMLOCK exceeded, without CAP_IPC_LOCK), -EOPNOTSUPP
 * (memory the kernel cannot pin long term).  region->key is the slot,
 * region->priv is NULL.  ->dereg empties the slot and frees it; it never
 * fails (a slot the kernel will not empty is counted in @lost).  ->merge
 * merges overlapping regions whatever their access, as long as the two
 * together span at most half of UHMM_RCACHE_URING_MAX_BYTES (so that a
 * request merged with regions on both sides still fits one slot).  The ops take only a leaf lock of the
 * backend's, never across a system call, and allocate nothing.
 *
 * Context: any thread.  Never blocks.
 */
UHMM_API void uhmm_rcache_uring_params(struct uhmm_rcache_uring *u,
				       struct uhmm_rcache_params *params);

/**
 * uhmm_rcache_uring_stats() - the table's state and counters.
 * @u: the backend.
 * @out: filled in.
 *
 * Context: any thread.  Never blocks for long (the backend's leaf lock).
 */
UHMM_API void uhmm_rcache_uring_stats(struct uhmm_rcache_uring *u,
				      struct uhmm_rcache_uring_stats *out);

UHMM_END_DECLS

#endif /* UHMM_RCACHE_URING_H */
