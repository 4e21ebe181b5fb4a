// SPDX-License-Identifier: MIT
/*
 * verbs.c - ibverbs memory regions as a registration cache backend
 * (uhmm/rcache_verbs.h).
 *
 * Stateless apart from the protection domain and counters: every region
 * owns its ibv_mr, and libibverbs allows ibv_reg_mr()/ibv_dereg_mr() from
 * any thread, so the ops take no lock.
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdlib.h>

#include <uhmm/rcache_verbs.h>

struct uhmm_rcache_verbs {
	struct ibv_pd *pd;		/* the caller's; read-only */
	int extra_access;		/* read-only */
	uint64_t regs;			/* atomic */
	uint64_t reg_failures;		/* atomic */
	uint64_t deregs;		/* atomic */
	uint64_t dereg_failures;	/* atomic */
};

static void count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static uint64_t peek(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

int uhmm_rcache_verbs_access(unsigned int access, int extra_access)
{
	int flags = extra_access;

	if (access & UHMM_RCACHE_READ)
		flags |= IBV_ACCESS_REMOTE_READ;
	if (access & UHMM_RCACHE_WRITE)
		flags |= IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	/* Verbs refuse remote write or atomic access without local write. */
	if (flags & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC))
		flags |= IBV_ACCESS_LOCAL_WRITE;
	return flags;
}

static int verbs_reg(void *arg, struct uhmm_rcache_region *r)
{
	struct uhmm_rcache_verbs *v = arg;
	int flags = uhmm_rcache_verbs_access(r->access, v->extra_access);
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(v->pd, (void *)r->start, r->end - r->start, flags);
	if (!mr) {
		count(&v->reg_failures);
		/* Providers set errno; one that does not still failed. */
		return errno > 0 ? -errno : -EIO;
	}
	count(&v->regs);
	r->priv = mr;
	r->key = mr->lkey;
	return 0;
}

static void verbs_dereg(void *arg, struct uhmm_rcache_region *r)
{
	struct uhmm_rcache_verbs *v = arg;

	/*
	 * Fails only while a memory window is bound to the MR or when the
	 * device is gone; the contract says ->dereg does not fail, so count
	 * it (the pages stay pinned until the device context closes).
	 */
	if (ibv_dereg_mr(r->priv))
		count(&v->dereg_failures);
	else
		count(&v->deregs);
	r->priv = NULL;
}

static const struct uhmm_rcache_ops verbs_ops = {
	.reg = verbs_reg,
	.dereg = verbs_dereg,
};

int uhmm_rcache_verbs_create(struct ibv_pd *pd, int extra_access,
			     struct uhmm_rcache_verbs **out)
{
	struct uhmm_rcache_verbs *v;

	if (!pd || !out || (extra_access & IBV_ACCESS_ZERO_BASED))
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->pd = pd;
	v->extra_access = extra_access;
	*out = v;
	return 0;
}

void uhmm_rcache_verbs_destroy(struct uhmm_rcache_verbs *v)
{
	free(v);
}

void uhmm_rcache_verbs_params(struct uhmm_rcache_verbs *v,
			      struct uhmm_rcache_params *params)
{
	params->ops = &verbs_ops;
	params->arg = v;
}

void uhmm_rcache_verbs_stats(struct uhmm_rcache_verbs *v,
			     struct uhmm_rcache_verbs_stats *out)
{
	out->regs = peek(&v->regs);
	out->reg_failures = peek(&v->reg_failures);
	out->deregs = peek(&v->deregs);
	out->dereg_failures = peek(&v->dereg_failures);
}
