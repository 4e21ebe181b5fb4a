/* SPDX-License-Identifier: MIT */
/*
 * test_soft.c - the software DMA device the cache's tests rely on: keys,
 * the checks a NIC makes on a DMA, the fault-safe copy, its counters.
 * Driven through its ops directly, without a cache.
 */
#include "test_rcache_util.h"

struct dev {
	struct uhmm_rcache_soft *soft;
	struct uhmm_rcache_region r;
};

static int reg(struct dev *d, void *p, size_t len, unsigned int access)
{
	memset(&d->r, 0, sizeof(d->r));
	d->r.start = (unsigned long)p;
	d->r.end = (unsigned long)p + len;
	d->r.access = access;
	return uhmm_rcache_soft_ops.reg(d->soft, &d->r);
}

static void dereg(struct dev *d)
{
	uhmm_rcache_soft_ops.dereg(d->soft, &d->r);
}

static struct uhmm_rcache_soft_stats stats(struct dev *d)
{
	struct uhmm_rcache_soft_stats s;

	uhmm_rcache_soft_stats(d->soft, &s);
	return s;
}

static void dma_copies_both_ways(void **state)
{
	struct dev d;
	char *p = map_pages(2), buf[100];

	assert_int_equal(uhmm_rcache_soft_create(&d.soft), 0);
	assert_int_equal(reg(&d, p, 2 * ps(), UHMM_RCACHE_READ |
						UHMM_RCACHE_WRITE), 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, d.r.key, p + ps() - 50,
					      buf, sizeof(buf),
					      UHMM_RCACHE_SOFT_DMA_WRITE), 0);
	assert_int_equal(p[ps() - 50], 'x');
	assert_int_equal(p[ps() + 49], 'x');
	p[ps()] = 'y';
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, d.r.key, p + ps() - 50,
					      buf, sizeof(buf),
					      UHMM_RCACHE_SOFT_DMA_READ), 0);
	assert_int_equal(buf[50], 'y');
	dereg(&d);
	uhmm_rcache_soft_destroy(d.soft);
	munmap(p, 2 * ps());
}

static void dma_checks_key_access_bounds(void **state)
{
	struct dev d;
	char *p = map_pages(3), buf[16];
	uint64_t key;

	assert_int_equal(uhmm_rcache_soft_create(&d.soft), 0);
	assert_int_equal(reg(&d, p + ps(), ps(), UHMM_RCACHE_READ), 0);
	key = d.r.key;
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, key, p + ps(), buf, 16,
					      UHMM_RCACHE_SOFT_DMA_WRITE),
			 -EACCES);
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, key, p + ps() - 1, buf,
					      16, UHMM_RCACHE_SOFT_DMA_READ),
			 -ERANGE);
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, key, p + 2 * ps() - 8,
					      buf, 16,
					      UHMM_RCACHE_SOFT_DMA_READ),
			 -ERANGE);
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, key, p + ps(), buf, 0,
					      UHMM_RCACHE_SOFT_DMA_READ),
			 -EINVAL);
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, key, p + ps(), buf, 16,
					      7), -EINVAL);
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, key + 1, p + ps(), buf,
					      16, UHMM_RCACHE_SOFT_DMA_READ),
			 -ENOENT);
	dereg(&d);
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, key, p + ps(), buf, 16,
					      UHMM_RCACHE_SOFT_DMA_READ),
			 -ENOENT);
	uhmm_rcache_soft_destroy(d.soft);
	munmap(p, 3 * ps());
}

/* Memory gone under a live registration: -EFAULT, not a crash. */
static void dma_on_unmapped_memory_faults_safely(void **state)
{
	struct dev d;
	char *p = map_pages(1), buf[16];

	assert_int_equal(uhmm_rcache_soft_create(&d.soft), 0);
	assert_int_equal(reg(&d, p, ps(), UHMM_RCACHE_READ), 0);
	assert_int_equal(munmap(p, ps()), 0);
	assert_int_equal(uhmm_rcache_soft_dma(d.soft, d.r.key, p, buf, 16,
					      UHMM_RCACHE_SOFT_DMA_READ),
			 -EFAULT);
	dereg(&d);
	uhmm_rcache_soft_destroy(d.soft);
}

/* Registration pins: a hole or missing access fails as a NIC's would. */
static void reg_checks_the_memory(void **state)
{
	struct dev d;
	char *p = map_pages(2);

	assert_int_equal(uhmm_rcache_soft_create(&d.soft), 0);
	assert_int_equal(munmap(p + ps(), ps()), 0);
	assert_int_equal(reg(&d, p, 2 * ps(), UHMM_RCACHE_READ), -EFAULT);
	assert_int_equal(mprotect(p, ps(), PROT_READ), 0);
	assert_int_equal(reg(&d, p, ps(), UHMM_RCACHE_WRITE), -EPERM);
	assert_int_equal(stats(&d).reg_failures, 2);
	assert_int_equal(stats(&d).live, 0);
	assert_int_equal(reg(&d, p, ps(), UHMM_RCACHE_READ), 0);
	dereg(&d);
	uhmm_rcache_soft_destroy(d.soft);
	munmap(p, ps());
}

/* Keys increase and are never reused; the counters follow. */
static void keys_increase_counters_follow(void **state)
{
	struct dev d, e;
	char *p = map_pages(1);
	uint64_t next;

	assert_int_equal(uhmm_rcache_soft_create(&d.soft), 0);
	e.soft = d.soft;
	next = uhmm_rcache_soft_next_key(d.soft);
	assert_int_equal(reg(&d, p, ps(), UHMM_RCACHE_READ), 0);
	assert_int_equal(d.r.key, next);
	assert_int_equal(reg(&e, p, ps(), UHMM_RCACHE_READ), 0);
	assert_true(e.r.key > d.r.key);
	assert_true(uhmm_rcache_soft_live(d.soft, d.r.key));
	assert_int_equal(stats(&d).live, 2);
	dereg(&d);
	assert_false(uhmm_rcache_soft_live(d.soft, d.r.key));
	assert_int_equal(reg(&d, p, ps(), UHMM_RCACHE_READ), 0);
	assert_true(d.r.key > e.r.key);
	dereg(&d);
	dereg(&d);		/* twice: counted as a bug, not a crash */
	dereg(&e);
	assert_int_equal(stats(&d).regs, 3);
	assert_int_equal(stats(&d).deregs, 3);
	assert_int_equal(stats(&d).bad_deregs, 1);
	assert_int_equal(stats(&d).live, 0);
	assert_int_equal(uhmm_rcache_soft_create(NULL), -EINVAL);
	uhmm_rcache_soft_destroy(d.soft);
	munmap(p, ps());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dma_copies_both_ways),
		cmocka_unit_test(dma_checks_key_access_bounds),
		cmocka_unit_test(dma_on_unmapped_memory_faults_safely),
		cmocka_unit_test(reg_checks_the_memory),
		cmocka_unit_test(keys_increase_counters_follow),
	};

	return HARNESS_MAIN(tests);
}
