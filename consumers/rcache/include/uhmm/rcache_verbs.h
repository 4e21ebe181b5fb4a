/* SPDX-License-Identifier: MIT */
/*
 * uhmm/rcache_verbs.h - ibverbs memory regions as a registration cache
 * backend (built when libibverbs is found: UHMM_RCACHE_HAVE_VERBS).
 *
 * ->reg is ibv_reg_mr() on the caller's protection domain: the HCA pins the
 * pages and translates through them until ibv_dereg_mr(), whatever the
 * application maps at those addresses meanwhile.  The cache drops an MR at
 * the first change to its range, so a get always returns an MR over the
 * pages mapped now.
 *
 * A region's fields:
 *   region->priv   the struct ibv_mr * (uhmm_rcache_verbs_mr());
 *   region->key    its lkey, for struct ibv_sge.lkey;
 *   the rkey       uhmm_rcache_verbs_mr(region)->rkey, for a peer's RDMA
 *                  READ/WRITE (send it with the address: it is valid until
 *                  the region is put and deregistered, so a holder that
 *                  hands an rkey out keeps the region until the peer is
 *                  done).
 *
 * Access (uhmm_rcache_verbs_access() computes it):
 *   UHMM_RCACHE_READ   the device reads the memory: local reads (send,
 *                      RDMA WRITE source) need no flag; peers may RDMA
 *                      READ it: IBV_ACCESS_REMOTE_READ.
 *   UHMM_RCACHE_WRITE  the device writes the memory: receives and RDMA READ
 *                      targets need IBV_ACCESS_LOCAL_WRITE; peers may RDMA
 *                      WRITE it: IBV_ACCESS_REMOTE_WRITE (which verbs only
 *                      allow together with LOCAL_WRITE).
 * plus the backend's extra flags (IBV_ACCESS_REMOTE_ATOMIC adds
 * LOCAL_WRITE, as verbs require).  A read-only region gets no LOCAL_WRITE,
 * so read-only memory (PROT_READ, a file mapped read-only) registers.
 *
 * Usage, for a send (error handling trimmed):
 *
 *	ret = uhmm_rcache_get(cache, buf, len, UHMM_RCACHE_READ, &r);
 *	struct ibv_sge sge = {
 *		.addr = (uintptr_t)buf, .length = len, .lkey = (uint32_t)r->key,
 *	};
 *	... ibv_post_send() a work request with &sge; poll its completion ...
 *	uhmm_rcache_put(cache, r);	// only after the completion
 */
#ifndef UHMM_RCACHE_VERBS_H
#define UHMM_RCACHE_VERBS_H

#include <uhmm/rcache.h>

UHMM_BEGIN_DECLS

struct ibv_pd;
struct ibv_mr;
struct uhmm_rcache_verbs;

/**
 * struct uhmm_rcache_verbs_stats - counters since creation.
 * @regs: ibv_reg_mr() calls that succeeded.
 * @reg_failures: ibv_reg_mr() calls that failed.
 * @deregs: ibv_dereg_mr() calls that succeeded.
 * @dereg_failures: ibv_dereg_mr() calls that failed (the MR is leaked:
 *	a memory window was still bound to it, or the device is gone).
 */
struct uhmm_rcache_verbs_stats {
	uint64_t regs;
	uint64_t reg_failures;
	uint64_t deregs;
	uint64_t dereg_failures;
};

/**
 * uhmm_rcache_verbs_create() - a backend registering MRs in @pd.
 * @pd: the protection domain; it must outlive the backend.
 * @extra_access: IBV_ACCESS_* flags added to every registration (0, or
 *	e.g. IBV_ACCESS_REMOTE_ATOMIC, IBV_ACCESS_RELAXED_ORDERING);
 *	IBV_ACCESS_ZERO_BASED is refused (region addresses are virtual).
 * @out: the backend.
 *
 * Context: any thread.  Allocates.
 * Return: 0; -EINVAL (NULL argument, ZERO_BASED); -ENOMEM.
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_rcache_verbs_create(struct ibv_pd *pd, int extra_access,
			 struct uhmm_rcache_verbs **out);

/**
 * uhmm_rcache_verbs_destroy() - free the backend.
 * @v: a backend no cache uses any more (destroy the cache first), or NULL.
 *
 * Context: any thread.  Never blocks.
 */
UHMM_API void uhmm_rcache_verbs_destroy(struct uhmm_rcache_verbs *v);

/**
 * uhmm_rcache_verbs_params() - the cache parameters for this backend.
 * @v: the backend.
 * @params: filled in: ->ops and ->arg; the other fields (limits: an HCA
 *	has a finite number of MRs, see ibv_query_device()'s max_mr) are left
 *	as they are.
 *
 * The ops: ->reg is ibv_reg_mr() with uhmm_rcache_verbs_access() of the
 * region's access, and returns its error as -errno (-EFAULT: unmapped
 * memory or LOCAL_WRITE on read-only memory; -ENOMEM: RLIMIT_MEMLOCK or
 * the device's MR table; -EINVAL); ->dereg is ibv_dereg_mr() and never
 * fails (a refusal is counted).  ->merge is the cache's default.  The ops
 * take no lock of their own; ibv_reg_mr() and ibv_dereg_mr() may be called
 * from any thread.
 *
 * Context: any thread.  Never blocks.
 */
UHMM_API void uhmm_rcache_verbs_params(struct uhmm_rcache_verbs *v,
				       struct uhmm_rcache_params *params);

/**
 * uhmm_rcache_verbs_access() - the IBV_ACCESS_* flags of a registration.
 * @access: UHMM_RCACHE_READ and/or UHMM_RCACHE_WRITE.
 * @extra_access: the backend's extra flags.
 *
 * The mapping described at the top of this header.
 *
 * Context: any.  Pure.
 * Return: the flags ->reg passes to ibv_reg_mr().
 */
UHMM_API int uhmm_rcache_verbs_access(unsigned int access, int extra_access);

/**
 * uhmm_rcache_verbs_stats() - the backend's counters.
 * @v: the backend.
 * @out: filled in.
 *
 * Context: any thread.  Never blocks.
 */
UHMM_API void uhmm_rcache_verbs_stats(struct uhmm_rcache_verbs *v,
				      struct uhmm_rcache_verbs_stats *out);

/**
 * uhmm_rcache_verbs_mr() - the memory region behind a cache region.
 * @r: a region of a cache over this backend, held.
 *
 * Return: its struct ibv_mr (lkey, rkey, addr, length), valid until the
 * region is put.
 */
static inline struct ibv_mr *
uhmm_rcache_verbs_mr(const struct uhmm_rcache_region *r)
{
	return (struct ibv_mr *)r->priv;
}

UHMM_END_DECLS

#endif /* UHMM_RCACHE_VERBS_H */
