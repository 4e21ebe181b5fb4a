// SPDX-License-Identifier: MIT
/*
 * test_verbs.c - the ibverbs memory-region backend: the access mapping and
 * argument checks everywhere; on the first RDMA device (skipped without
 * one): ->reg/->dereg on a real protection domain, read-only memory, and
 * the cache dropping an MR whose memory was unmapped.
 */
#include "util.h"

#ifdef UHMM_RCACHE_HAVE_VERBS

#include <errno.h>
#include <infiniband/verbs.h>

#include <uhmm/rcache_verbs.h>

#define RW	(UHMM_RCACHE_READ | UHMM_RCACHE_WRITE)

/* The mapping the header documents, flag by flag. */
static void test_verbs_access_mapping(void **state)
{
	const int lw = IBV_ACCESS_LOCAL_WRITE, rr = IBV_ACCESS_REMOTE_READ;
	const int rw = IBV_ACCESS_REMOTE_WRITE;
	const int ra = IBV_ACCESS_REMOTE_ATOMIC;
	const int ro = IBV_ACCESS_RELAXED_ORDERING;

	assert_int_equal(uhmm_rcache_verbs_access(UHMM_RCACHE_READ, 0), rr);
	assert_int_equal(uhmm_rcache_verbs_access(UHMM_RCACHE_WRITE, 0),
			 lw | rw);
	assert_int_equal(uhmm_rcache_verbs_access(RW, 0), lw | rr | rw);
	/* Atomics need local write, even on a region the device only reads. */
	assert_int_equal(uhmm_rcache_verbs_access(UHMM_RCACHE_READ, ra),
			 ra | lw | rr);
	assert_int_equal(uhmm_rcache_verbs_access(UHMM_RCACHE_READ, ro),
			 ro | rr);
}

/* Arguments are checked without touching the (here fake) PD. */
static void test_verbs_create_errors(void **state)
{
	struct uhmm_rcache_params p = { 0 };
	struct uhmm_rcache_verbs *v;
	long fake;
	struct ibv_pd *pd = (struct ibv_pd *)&fake;

	assert_int_equal(uhmm_rcache_verbs_create(NULL, 0, &v), -EINVAL);
	assert_int_equal(uhmm_rcache_verbs_create(pd, 0, NULL), -EINVAL);
	assert_int_equal(uhmm_rcache_verbs_create(pd, IBV_ACCESS_ZERO_BASED,
						  &v), -EINVAL);
	assert_int_equal(uhmm_rcache_verbs_create(pd, 0, &v), 0);
	uhmm_rcache_verbs_params(v, &p);
	assert_ptr_equal(p.arg, v);
	assert_non_null(p.ops->reg);
	assert_non_null(p.ops->dereg);
	assert_null(p.ops->merge);
	assert_int_equal(p.max_regions, 0);
	uhmm_rcache_verbs_destroy(v);
	uhmm_rcache_verbs_destroy(NULL);
}

/* ------------------------------------------------------------------ */
/* On a device                                                         */

struct dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct uhmm_rcache_verbs *v;
	struct uhmm_rcache_params p;
};

/* The first RDMA device, a PD on it and a backend; skip without one. */
static void dev_open(struct dev *d)
{
	struct ibv_device **list;
	int n = 0;

	memset(d, 0, sizeof(*d));
	list = ibv_get_device_list(&n);
	if (!list || n == 0) {
		if (list)
			ibv_free_device_list(list);
		SKIP("no RDMA device");
	}
	d->ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	assert_non_null(d->ctx);
	d->pd = ibv_alloc_pd(d->ctx);
	assert_non_null(d->pd);
	assert_int_equal(uhmm_rcache_verbs_create(d->pd, 0, &d->v), 0);
	uhmm_rcache_verbs_params(d->v, &d->p);
}

static void dev_close(struct dev *d)
{
	uhmm_rcache_verbs_destroy(d->v);
	assert_int_equal(ibv_dealloc_pd(d->pd), 0);
	assert_int_equal(ibv_close_device(d->ctx), 0);
}

static struct uhmm_rcache_verbs_stats vstats(struct dev *d)
{
	struct uhmm_rcache_verbs_stats s;

	uhmm_rcache_verbs_stats(d->v, &s);
	return s;
}

static int reg(struct dev *d, struct uhmm_rcache_region *r, void *addr,
	       size_t len, unsigned int access)
{
	memset(r, 0, sizeof(*r));
	r->start = (unsigned long)addr;
	r->end = r->start + len;
	r->access = access;
	return d->p.ops->reg(d->p.arg, r);
}

/* ->reg makes an MR over exactly the region; key is its lkey. */
static void test_verbs_reg_dereg(void **state)
{
	size_t len = 4 * uhmm_page_size();
	char *buf = map_pages(4);
	struct uhmm_rcache_region r;
	struct ibv_mr *mr;
	struct dev d;

	dev_open(&d);
	assert_int_equal(reg(&d, &r, buf, len, RW), 0);
	mr = uhmm_rcache_verbs_mr(&r);
	assert_non_null(mr);
	assert_ptr_equal(mr->addr, buf);
	assert_int_equal(mr->length, len);
	assert_ptr_equal(mr->pd, d.pd);
	assert_int_equal(r.key, mr->lkey);
	assert_int_equal(vstats(&d).regs, 1);
	d.p.ops->dereg(d.p.arg, &r);
	assert_int_equal(vstats(&d).deregs, 1);
	assert_int_equal(vstats(&d).dereg_failures, 0);
	dev_close(&d);
	munmap(buf, len);
}

/* Read access asks for no local write, so read-only memory registers. */
static void test_verbs_read_only_memory(void **state)
{
	unsigned long ps = uhmm_page_size();
	char *buf = map_pages(1), *hole = map_pages(1);
	struct uhmm_rcache_region r;
	struct dev d;

	dev_open(&d);
	buf[0] = 1;
	assert_int_equal(mprotect(buf, ps, PROT_READ), 0);
	assert_int_equal(reg(&d, &r, buf, ps, UHMM_RCACHE_READ), 0);
	d.p.ops->dereg(d.p.arg, &r);
	assert_int_equal(reg(&d, &r, buf, ps, UHMM_RCACHE_WRITE), -EFAULT);
	assert_int_equal(munmap(hole, ps), 0);
	assert_int_equal(reg(&d, &r, hole, ps, UHMM_RCACHE_READ), -EFAULT);
	assert_int_equal(vstats(&d).reg_failures, 2);
	dev_close(&d);
	munmap(buf, ps);
}

/* Through the cache: an unmapped range's MR is dropped, a new one made. */
static void test_verbs_cache_invalidate(void **state)
{
	size_t len = 8 * uhmm_page_size();
	char *buf = map_pages(8);
	struct uhmm_rcache_region *r;
	struct uhmm_rcache_stats s;
	struct uhmm_rcache *cache;
	struct dev d;

	dev_open(&d);
	assert_int_equal(uhmm_rcache_create(NULL, &d.p, &cache), 0);
	assert_int_equal(uhmm_rcache_get(cache, buf, len, RW, &r), 0);
	assert_int_equal(r->key, uhmm_rcache_verbs_mr(r)->lkey);
	uhmm_rcache_put(cache, r);
	assert_int_equal(munmap(buf, len), 0);
	/* New pages, at the same address where nothing else took it. */
	buf = mmap(buf, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (buf == MAP_FAILED)
		buf = map_pages(8);
	assert_int_equal(uhmm_rcache_get(cache, buf, len, RW, &r), 0);
	assert_ptr_equal(uhmm_rcache_verbs_mr(r)->addr, (void *)r->start);
	uhmm_rcache_put(cache, r);
	uhmm_rcache_reclaim(cache);
	uhmm_rcache_stats(cache, &s);
	assert_int_equal(s.misses, 2);
	assert_int_equal(s.invalidations, 1);
	assert_int_equal(s.deregistrations, 1);
	assert_int_equal(vstats(&d).regs, 2);
	assert_int_equal(vstats(&d).deregs, 1);
	uhmm_rcache_destroy(cache);
	assert_int_equal(vstats(&d).deregs, 2);
	dev_close(&d);
	munmap(buf, len);
}

#else /* !UHMM_RCACHE_HAVE_VERBS */

#define NO_VERBS(name) \
	static void name(void **state) { SKIP("built without libibverbs"); }
NO_VERBS(test_verbs_access_mapping)
NO_VERBS(test_verbs_create_errors)
NO_VERBS(test_verbs_reg_dereg)
NO_VERBS(test_verbs_read_only_memory)
NO_VERBS(test_verbs_cache_invalidate)

#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs_access_mapping),
		cmocka_unit_test(test_verbs_create_errors),
		cmocka_unit_test(test_verbs_reg_dereg),
		cmocka_unit_test(test_verbs_read_only_memory),
		cmocka_unit_test(test_verbs_cache_invalidate),
	};

	return HARNESS_MAIN(tests);
}
