// SPDX-License-Identifier: MIT
/*
 * uring.c - io_uring fixed buffers as a registration cache backend
 * (uhmm/rcache_uring.h).
 *
 * One slot of the ring's sparse buffer table per registered region.  Free
 * slots sit on a stack under a leaf mutex; the system calls that fill and
 * empty a slot run outside it (the kernel serialises table updates itself),
 * so concurrent ->reg and ->dereg calls only meet for a push or a pop.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/uio.h>

#include <uhmm/rcache_uring.h>

/* ->dereg retries an update the kernel interrupted this many times. */
#define URING_UPDATE_TRIES	16

struct uhmm_rcache_uring {
	struct io_uring *ring;		/* the caller's; read-only */
	unsigned int slots;		/* table size; read-only */
	pthread_mutex_t lock;		/* leaf: protects nr_free, free */
	unsigned int nr_free;		/* under lock */
	unsigned int lost;		/* under lock: never emptied */
	unsigned int *free;		/* under lock: stack of free slots */
	uint64_t updates;		/* atomic */
	uint64_t update_failures;	/* atomic */
};

static void count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Free slots                                                          */

static int slot_take(struct uhmm_rcache_uring *u, unsigned int *slot)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&u->lock);
	if (u->nr_free) {
		*slot = u->free[--u->nr_free];
		ret = 0;
	}
	pthread_mutex_unlock(&u->lock);
	return ret;
}

/* Last in, first out: a slot just emptied is the next one filled. */
static void slot_give(struct uhmm_rcache_uring *u, unsigned int slot)
{
	pthread_mutex_lock(&u->lock);
	u->free[u->nr_free++] = slot;
	pthread_mutex_unlock(&u->lock);
}

static void slot_lose(struct uhmm_rcache_uring *u)
{
	pthread_mutex_lock(&u->lock);
	u->lost++;
	pthread_mutex_unlock(&u->lock);
}

/* Point @slot at @iov (empty: release the slot's pages).  0 or -errno. */
static int slot_set(struct uhmm_rcache_uring *u, unsigned int slot,
		    const struct iovec *iov)
{
	__u64 tag = 0;	/* no completion when the kernel drops the pages */
	int ret;

	ret = io_uring_register_buffers_update_tag(u->ring, slot, iov, &tag, 1);
	if (ret == 1)
		return 0;
	return ret < 0 ? ret : -EIO;
}

/* ------------------------------------------------------------------ */
/* The ops                                                             */

static int uring_reg(void *arg, struct uhmm_rcache_region *r)
{
	struct uhmm_rcache_uring *u = arg;
	struct iovec iov = {
		.iov_base = (void *)r->start,
		.iov_len = r->end - r->start,
	};
	unsigned int slot;
	int ret;

	if (iov.iov_len > UHMM_RCACHE_URING_MAX_BYTES)
		return -E2BIG;
	ret = slot_take(u, &slot);
	if (ret)
		return ret;
	ret = slot_set(u, slot, &iov);
	if (ret) {
		slot_give(u, slot);
		count(&u->update_failures);
		return ret;
	}
	count(&u->updates);
	r->key = slot;
	r->priv = NULL;
	return 0;
}

static void uring_dereg(void *arg, struct uhmm_rcache_region *r)
{
	static const struct iovec empty = { .iov_base = NULL, .iov_len = 0 };
	struct uhmm_rcache_uring *u = arg;
	unsigned int slot = (unsigned int)r->key;
	int ret, i;

	for (i = 0; i < URING_UPDATE_TRIES; i++) {
		ret = slot_set(u, slot, &empty);
		if (ret != -EINTR && ret != -EAGAIN)
			break;
	}
	/*
	 * A slot the kernel would not empty still holds the old pages: filling
	 * it again would be the same refused update, so it leaves the stack.
	 */
	if (ret)
		slot_lose(u);
	else
		slot_give(u, slot);
}

/*
 * Access does not matter (the kernel pins every fixed buffer for both
 * directions); size does.  The cache may fold several overlapping regions
 * into one request, each checked here on its own: the request plus one
 * region's overhang on either side.  Keeping every pairwise union within
 * half a slot keeps the whole union within a slot.
 */
static bool uring_merge(void *arg, const struct uhmm_rcache_region *old,
			unsigned long start, unsigned long end,
			unsigned int access)
{
	unsigned long lo = old->start < start ? old->start : start;
	unsigned long hi = old->end > end ? old->end : end;

	return hi - lo <= UHMM_RCACHE_URING_MAX_BYTES / 2;
}

static const struct uhmm_rcache_ops uring_ops = {
	.reg = uring_reg,
	.dereg = uring_dereg,
	.merge = uring_merge,
};

/* ------------------------------------------------------------------ */
/* The table                                                           */

/* Before 5.19 there is no sparse flag, but empty iovecs make empty slots. */
static int table_register_empty(struct io_uring *ring, unsigned int slots)
{
	struct iovec *iov = calloc(slots, sizeof(*iov));
	__u64 *tags = calloc(slots, sizeof(*tags));
	int ret = -ENOMEM;

	if (iov && tags)
		ret = io_uring_register_buffers_tags(ring, iov, tags, slots);
	free(tags);
	free(iov);
	return ret;
}

static int table_register(struct io_uring *ring, unsigned int slots)
{
	int ret;

	if (!(ring->features & IORING_FEAT_RSRC_TAGS))
		return -EOPNOTSUPP;
	ret = io_uring_register_buffers_sparse(ring, slots);
	if (ret == -EINVAL)
		ret = table_register_empty(ring, slots);
	return ret;
}

static struct uhmm_rcache_uring *uring_alloc(struct io_uring *ring,
					     unsigned int slots)
{
	struct uhmm_rcache_uring *u = calloc(1, sizeof(*u));
	unsigned int i;

	if (!u)
		return NULL;
	u->free = calloc(slots, sizeof(*u->free));
	if (!u->free) {
		free(u);
		return NULL;
	}
	u->ring = ring;
	u->slots = slots;
	/* Pushed in reverse, so slot 0 is filled first. */
	for (i = 0; i < slots; i++)
		u->free[i] = slots - 1 - i;
	u->nr_free = slots;
	pthread_mutex_init(&u->lock, NULL);
	return u;
}

static void uring_free(struct uhmm_rcache_uring *u)
{
	pthread_mutex_destroy(&u->lock);
	free(u->free);
	free(u);
}

int uhmm_rcache_uring_create(struct io_uring *ring, unsigned int slots,
			     struct uhmm_rcache_uring **out)
{
	struct uhmm_rcache_uring *u;
	int ret;

	if (!ring || !out || !slots || slots > UHMM_RCACHE_URING_MAX_SLOTS)
		return -EINVAL;
	u = uring_alloc(ring, slots);
	if (!u)
		return -ENOMEM;
	ret = table_register(ring, slots);
	if (ret) {
		uring_free(u);
		return ret;
	}
	*out = u;
	return 0;
}

void uhmm_rcache_uring_destroy(struct uhmm_rcache_uring *u)
{
	if (!u)
		return;
	/* Fails only if there is no table; the ring's exit drops it anyway. */
	(void)io_uring_unregister_buffers(u->ring);
	uring_free(u);
}

void uhmm_rcache_uring_params(struct uhmm_rcache_uring *u,
			      struct uhmm_rcache_params *params)
{
	params->ops = &uring_ops;
	params->arg = u;
	params->max_regions = u->slots;
}

void uhmm_rcache_uring_stats(struct uhmm_rcache_uring *u,
			     struct uhmm_rcache_uring_stats *out)
{
	pthread_mutex_lock(&u->lock);
	out->slots = u->slots;
	out->used = u->slots - u->nr_free - u->lost;
	out->lost = u->lost;
	pthread_mutex_unlock(&u->lock);
	out->updates = __atomic_load_n(&u->updates, __ATOMIC_RELAXED);
	out->update_failures = __atomic_load_n(&u->update_failures,
					       __ATOMIC_RELAXED);
}
