// SPDX-License-Identifier: MIT
/*
 * test_uring_cache.c - the registration cache over io_uring fixed buffers,
 * under capture (libuhmm-interpose: munmap() and free() invalidate): one
 * registration per cached range, a slot per registered region and none
 * more, slots reused after deregistration, a full table (eviction with
 * the backend's limit, -ENOSPC without), fixed-buffer I/O into memory that
 * is freed and allocated again, and ->reg/->dereg racing on the slot stack.
 */
#include "util.h"

#ifdef UHMM_RCACHE_HAVE_URING

#include <errno.h>
#include <liburing.h>
#include <malloc.h>

#include <uhmm/rcache_uring.h>

#include "uring_util.h"

#define SLOTS	8

struct fixture {
	struct io_uring ring;
	struct uhmm_rcache_uring *u;
	struct uhmm_rcache_params p;
	struct uhmm_rcache *cache;
};

/* @max_regions: the backend's (the table size) if true, else no limit. */
static void fx_init(struct fixture *f, bool limit, unsigned int flags)
{
	int ret;

	memset(f, 0, sizeof(*f));
	ret = io_uring_queue_init(8, &f->ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP("io_uring unavailable (%d)", ret);
	assert_int_equal(ret, 0);
	assert_int_equal(uhmm_rcache_uring_create(&f->ring, SLOTS, &f->u), 0);
	uhmm_rcache_uring_params(f->u, &f->p);
	if (!limit)
		f->p.max_regions = 0;
	f->p.flags = flags;
	assert_int_equal(uhmm_rcache_create(NULL, &f->p, &f->cache), 0);
}

static void fx_fini(struct fixture *f)
{
	uhmm_rcache_destroy(f->cache);
	uhmm_rcache_uring_destroy(f->u);
	io_uring_queue_exit(&f->ring);
}

static struct uhmm_rcache_stats cstats(struct fixture *f)
{
	struct uhmm_rcache_stats s;

	uhmm_rcache_stats(f->cache, &s);
	return s;
}

static struct uhmm_rcache_uring_stats ustats(struct fixture *f)
{
	struct uhmm_rcache_uring_stats s;

	uhmm_rcache_uring_stats(f->u, &s);
	return s;
}

/* The backend's table and the cache agree: a slot per live region. */
static void assert_slots_match(struct fixture *f)
{
	struct uhmm_rcache_stats c = cstats(f);
	struct uhmm_rcache_uring_stats u = ustats(f);

	assert_int_equal(u.used, c.regions);
	assert_int_equal(u.updates, c.registrations);
	assert_int_equal(u.lost, 0);
}

static struct uhmm_rcache_region *get(struct fixture *f, void *addr,
				      size_t len)
{
	struct uhmm_rcache_region *r = NULL;

	assert_int_equal(uhmm_rcache_get(f->cache, addr, len,
					 UHMM_RCACHE_WRITE, &r), 0);
	assert_true(r->key < SLOTS);
	return r;
}

/* Counts: a miss registers, a hit does not; munmap deregisters. */
static void test_uring_cache_counts(void **state)
{
	unsigned long ps = uhmm_page_size();
	struct uhmm_rcache_region *r1, *r2;
	char *buf = map_pages(4);
	struct fixture f;

	fx_init(&f, true, 0);
	r1 = get(&f, buf, 4 * ps);
	r2 = get(&f, buf + ps, ps);
	assert_ptr_equal(r1, r2);
	assert_int_equal(cstats(&f).misses, 1);
	assert_int_equal(cstats(&f).hits, 1);
	assert_int_equal(ustats(&f).used, 1);
	uhmm_rcache_put(f.cache, r2);
	uhmm_rcache_put(f.cache, r1);
	assert_slots_match(&f);

	assert_int_equal(munmap(buf, 4 * ps), 0);
	assert_int_equal(cstats(&f).invalidations, 1);
	uhmm_rcache_reclaim(f.cache);
	assert_int_equal(cstats(&f).deregistrations, 1);
	assert_int_equal(ustats(&f).used, 0);
	assert_slots_match(&f);
	fx_fini(&f);
}

/* A region's slot, once deregistered, serves the next registration. */
static void test_uring_cache_slot_reuse(void **state)
{
	unsigned long ps = uhmm_page_size();
	struct uhmm_rcache_region *r;
	char *buf = map_pages(4);
	uint64_t key;
	struct fixture f;

	fx_init(&f, true, 0);
	r = get(&f, buf, ps);
	key = r->key;
	uhmm_rcache_put(f.cache, r);
	assert_int_equal(uhmm_rcache_invalidate(f.cache, buf, ps), 0);
	uhmm_rcache_reclaim(f.cache);
	assert_int_equal(ustats(&f).used, 0);

	r = get(&f, buf + 2 * ps, ps);
	assert_int_equal(r->key, key);
	assert_int_equal(cstats(&f).registrations, 2);
	uhmm_rcache_put(f.cache, r);
	assert_slots_match(&f);
	fx_fini(&f);
	munmap(buf, 4 * ps);
}

/* More ranges than slots, put after use: the cache evicts idle regions. */
static void test_uring_cache_evicts_at_table_size(void **state)
{
	const unsigned int n = SLOTS + 5;
	unsigned long ps = uhmm_page_size();
	char *buf = map_pages(2 * n);
	struct fixture f;
	unsigned int i;

	fx_init(&f, true, 0);
	for (i = 0; i < n; i++) {
		/* Every other page: ranges that neither overlap nor touch. */
		uhmm_rcache_put(f.cache, get(&f, buf + 2 * i * ps, ps));
		assert_true(ustats(&f).used <= SLOTS);
	}
	assert_int_equal(cstats(&f).registrations, n);
	assert_true(cstats(&f).evictions >= n - SLOTS);
	uhmm_rcache_reclaim(f.cache);
	assert_slots_match(&f);
	fx_fini(&f);
	munmap(buf, 2 * n * ps);
}

/* Every slot held: the cache's limit refuses the next range. */
static void test_uring_cache_held_full(void **state)
{
	struct uhmm_rcache_region *r[SLOTS], *extra;
	unsigned long ps = uhmm_page_size();
	char *buf = map_pages(2 * SLOTS + 2);
	struct fixture f;
	unsigned int i;
	uint64_t key;

	fx_init(&f, true, 0);
	for (i = 0; i < SLOTS; i++)
		r[i] = get(&f, buf + 2 * i * ps, ps);
	assert_int_equal(uhmm_rcache_get(f.cache, buf + 2 * SLOTS * ps, ps,
					 UHMM_RCACHE_READ, &extra), -ENOSPC);
	assert_int_equal(ustats(&f).update_failures, 0);
	/* One put: that idle region is evicted, its slot serves the new one. */
	key = r[3]->key;
	uhmm_rcache_put(f.cache, r[3]);
	extra = get(&f, buf + 2 * SLOTS * ps, ps);
	assert_int_equal(extra->key, key);
	assert_int_equal(cstats(&f).evictions, 1);
	r[3] = extra;
	for (i = 0; i < SLOTS; i++)
		uhmm_rcache_put(f.cache, r[i]);
	uhmm_rcache_reclaim(f.cache);
	assert_slots_match(&f);
	fx_fini(&f);
	munmap(buf, (2 * SLOTS + 2) * ps);
}

/* No limit in the cache: the backend's -ENOSPC reaches the caller. */
static void test_uring_cache_no_limit_enospc(void **state)
{
	unsigned long ps = uhmm_page_size();
	struct uhmm_rcache_region *r;
	char *buf = map_pages(2 * SLOTS + 2);
	struct fixture f;
	unsigned int i;

	fx_init(&f, false, 0);
	for (i = 0; i < SLOTS; i++)
		uhmm_rcache_put(f.cache, get(&f, buf + 2 * i * ps, ps));
	assert_int_equal(uhmm_rcache_get(f.cache, buf + 2 * SLOTS * ps, ps,
					 UHMM_RCACHE_READ, &r), -ENOSPC);
	assert_int_equal(cstats(&f).reg_failures, 1);
	/* Dropping one cached range frees its slot for the next get. */
	assert_int_equal(munmap(buf, ps), 0);
	r = get(&f, buf + 2 * SLOTS * ps, ps);
	uhmm_rcache_put(f.cache, r);
	assert_int_equal(cstats(&f).registrations, SLOTS + 1);
	uhmm_rcache_reclaim(f.cache);
	assert_slots_match(&f);
	fx_fini(&f);
	munmap(buf + ps, (2 * SLOTS + 1) * ps);
}

/* ------------------------------------------------------------------ */
/* Fixed-buffer I/O into memory malloc()ed and freed round after round  */

/*
 * A sanitizer's malloc maps and unmaps large blocks by raw system call,
 * which only capture's userfaultfd route sees: there the rounds allocate
 * with mmap()/munmap() instead.
 */
#if defined(TEST_TSAN) || defined(__SANITIZE_ADDRESS__)
static void *churn_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void churn_free(void *p, size_t len)
{
	munmap(p, len);
}
#else
static void *churn_alloc(size_t len)
{
	/* A fixed threshold: freeing a block must not raise it (glibc does),
	 * or later blocks would come from the heap and never be unmapped. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	return malloc(len);
}

static void churn_free(void *p, size_t len)
{
	free(p);
}
#endif

/*
 * Each round: a new buffer (glibc maps it, usually at the address the last
 * one had), read from the file through the cache, checked, freed (glibc
 * unmaps it).  A stale hit would put the data into freed pages and fail
 * the check.
 */
static void test_uring_cache_io_churn(void **state)
{
	const size_t len = 256 * 1024;	/* above malloc's mmap threshold */
	unsigned long rounds = harness_rounds(200), i;
	struct uhmm_rcache_region *r;
	int fd = pattern_file(len);
	struct fixture f;

	fx_init(&f, true, 0);
	for (i = 0; i < rounds; i++) {
		unsigned char *buf = churn_alloc(len);

		assert_non_null(buf);
		memset(buf, 0, len);
		r = get(&f, buf, len);
		assert_int_equal(read_fixed(&f.ring, fd, buf, len, (int)r->key),
				 (int)len);
		assert_true(has_pattern(buf, len));
		uhmm_rcache_put(f.cache, r);
		churn_free(buf, len);
	}
	uhmm_rcache_reclaim(f.cache);
	assert_slots_match(&f);
	fx_fini(&f);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* ->reg in the getters, ->dereg in the reclaimer: the slot stack      */

struct churn {
	struct fixture *f;
	char *buf;		/* this thread's pages */
	unsigned long rounds;
	int errors;		/* madvise() failures, checked by the test */
};

#define CHURN_PAGES	4

static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	unsigned long ps = uhmm_page_size(), i;
	struct uhmm_rcache_region *r;
	unsigned int j;

	for (i = 0; i < c->rounds; i++) {
		j = (unsigned int)(i % CHURN_PAGES);
		if (uhmm_rcache_get(c->f->cache, c->buf + j * ps, ps,
				    UHMM_RCACHE_READ, &r) == 0) {
			c->buf[j * ps] = (char)i;
			uhmm_rcache_put(c->f->cache, r);
		}
		/* The page goes and comes back: its region is invalidated. */
		if (i % 3 == 0 &&
		    madvise(c->buf + j * ps, ps, MADV_DONTNEED))
			c->errors++;
	}
	return NULL;
}

static void test_uring_cache_threads_reclaimer(void **state)
{
	unsigned long ps = uhmm_page_size();
	struct harness_watchdog wd;
	struct churn c[2];
	pthread_t t[2];
	struct fixture f;
	int i;

	fx_init(&f, true, UHMM_RCACHE_RECLAIMER);
	harness_watchdog_start(&wd, 60, "uring cache threads");
	for (i = 0; i < 2; i++) {
		c[i].f = &f;
		c[i].buf = map_pages(CHURN_PAGES);
		c[i].rounds = harness_rounds(2000);
		c[i].errors = 0;
		assert_int_equal(pthread_create(&t[i], NULL, churn_fn, &c[i]),
				 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].errors, 0);
	}
	harness_watchdog_stop(&wd);
	uhmm_rcache_reclaim(f.cache);
	assert_true(cstats(&f).invalidations > 0);
	assert_slots_match(&f);
	fx_fini(&f);
	for (i = 0; i < 2; i++)
		munmap(c[i].buf, CHURN_PAGES * ps);
}

#else /* !UHMM_RCACHE_HAVE_URING */

#define NO_URING(name) \
	static void name(void **state) { SKIP("built without liburing"); }
NO_URING(test_uring_cache_counts)
NO_URING(test_uring_cache_slot_reuse)
NO_URING(test_uring_cache_evicts_at_table_size)
NO_URING(test_uring_cache_held_full)
NO_URING(test_uring_cache_no_limit_enospc)
NO_URING(test_uring_cache_io_churn)
NO_URING(test_uring_cache_threads_reclaimer)

#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uring_cache_counts),
		cmocka_unit_test(test_uring_cache_slot_reuse),
		cmocka_unit_test(test_uring_cache_evicts_at_table_size),
		cmocka_unit_test(test_uring_cache_held_full),
		cmocka_unit_test(test_uring_cache_no_limit_enospc),
		cmocka_unit_test(test_uring_cache_io_churn),
		cmocka_unit_test(test_uring_cache_threads_reclaimer),
	};

	return HARNESS_MAIN(tests);
}
