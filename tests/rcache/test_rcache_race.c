/* SPDX-License-Identifier: MIT */
/*
 * test_rcache_race.c - many threads get and put registered buffers while
 * another thread keeps replacing them (munmap + mmap at the same address,
 * or madvise DONTNEED), writing each incarnation with its own generation.
 *
 * The changing thread registers each incarnation right after making it,
 * so every change hits a registered region.
 *
 * Invariant: a region the cache returns for memory that was current during
 * the whole get was registered after that memory came to be.  The soft
 * device issues keys in increasing order, so the changing thread records
 * the next key before each change; a region older than the change it
 * survived would carry a smaller key (a stale registration: a real device
 * would read the old pages).  The copy through the key must also see the
 * current generation.
 */
#include "test_rcache_util.h"

#define NSLOT		4
#define NTHREADS	4
#define SLOT_PAGES	2

/* One incarnation of a slot's memory; immutable once published. */
struct life {
	char *addr;
	unsigned long gen;
	uint64_t min_key;	/* keys below it predate this memory */
};

struct slot {
	unsigned long cur;	/* atomic: index into lives, 0 while changing */
};

static struct rc_env env;
static struct slot slots[NSLOT];
static struct life *lives;
static unsigned long nlives;	/* owner only */
static int done;		/* atomic */
static unsigned long checked;	/* atomic: checks that applied */
static int stale, bad_copy;	/* atomic: failures seen by the hammers */
static char first_failure[160];	/* written by the first failure */

static size_t slot_len(void)
{
	return SLOT_PAGES * ps();
}

static void fill(char *p, unsigned long gen)
{
	unsigned long *w = (unsigned long *)p;
	size_t i;

	for (i = 0; i < slot_len() / sizeof(*w); i++)
		w[i] = gen;
}

static void publish(int s, char *addr, uint64_t min_key)
{
	struct life *l = &lives[++nlives];

	l->addr = addr;
	l->gen = nlives;
	l->min_key = min_key;
	fill(addr, l->gen);
	__atomic_store_n(&slots[s].cur, nlives, __ATOMIC_RELEASE);
}

/* Replace slot @s's memory; the key bound is taken before the change. */
static void change(int s, unsigned long round)
{
	struct life *old = &lives[slots[s].cur];
	uint64_t min_key;
	char *p = old->addr;

	__atomic_store_n(&slots[s].cur, 0, __ATOMIC_RELEASE);
	min_key = uhmm_rcache_soft_next_key(env.soft);
	if (round & 1) {
		assert_int_equal(madvise(p, slot_len(), MADV_DONTNEED), 0);
	} else {
		assert_int_equal(munmap(p, slot_len()), 0);
		p = mmap(NULL, slot_len(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(p != MAP_FAILED);
	}
	publish(s, p, min_key);
}

/* Threads other than the test's cannot use cmocka: count, keep one line. */
static void failure(int *counter, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST) == 0 &&
	    !__atomic_exchange_n(&first_failure[0], 1, __ATOMIC_SEQ_CST)) {
		va_start(ap, fmt);
		vsnprintf(first_failure + 1, sizeof(first_failure) - 1, fmt,
			  ap);
		va_end(ap);
	}
}

/* One get/copy/put on a slot whose memory stayed the same throughout. */
static void check_once(int s, unsigned long *buf)
{
	unsigned long cur = __atomic_load_n(&slots[s].cur, __ATOMIC_ACQUIRE);
	struct uhmm_rcache_region *r;
	const struct life *l = &lives[cur];
	int err;

	if (!cur)
		return;
	if (uhmm_rcache_get(env.cache, l->addr, slot_len(), UHMM_RCACHE_READ,
			    &r))
		return;		/* e.g. -EFAULT: unmapped meanwhile */
	err = uhmm_rcache_soft_dma(env.soft, r->key, l->addr, buf, slot_len(),
				   UHMM_RCACHE_SOFT_DMA_READ);
	if (__atomic_load_n(&slots[s].cur, __ATOMIC_ACQUIRE) == cur) {
		if (r->key < l->min_key)
			failure(&stale, "stale region: key %lu < %lu (gen %lu)",
				(unsigned long)r->key,
				(unsigned long)l->min_key, l->gen);
		else if (err || buf[0] != l->gen ||
			 buf[slot_len() / sizeof(*buf) - 1] != l->gen)
			failure(&bad_copy, "copy: %d, read %lu, gen %lu", err,
				buf[0], l->gen);
		__atomic_add_fetch(&checked, 1, __ATOMIC_RELAXED);
	}
	uhmm_rcache_put(env.cache, r);
}

static void *hammer(void *arg)
{
	unsigned long *buf = malloc(slot_len());
	unsigned int i = (unsigned int)(uintptr_t)arg;

	if (!buf)
		abort();
	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		check_once((int)(i++ % NSLOT), buf);
	free(buf);
	return NULL;
}

static void hits_never_return_changed_memory(void **state)
{
	unsigned long rounds = harness_rounds(20000), i;
	struct uhmm_rcache_params params = { .max_regions = 64 };
	pthread_t t[NTHREADS];
	struct harness_watchdog w;
	unsigned long *buf = malloc(slot_len());
	int s;

	lives = calloc(rounds + NSLOT + 1, sizeof(*lives));
	assert_non_null(lives);
	rc_env_start(&env, &params);
	for (s = 0; s < NSLOT; s++)
		publish(s, map_pages(SLOT_PAGES), 0);
	harness_watchdog_start(&w, 100, "get/put hammer against changes");
	for (s = 0; s < NTHREADS; s++)
		assert_int_equal(pthread_create(&t[s], NULL, hammer,
						(void *)(uintptr_t)s), 0);
	for (i = 0; i < rounds; i++) {
		change((int)(i % NSLOT), i / NSLOT);
		check_once((int)(i % NSLOT), buf);	/* registers it */
	}
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	for (s = 0; s < NTHREADS; s++)
		assert_int_equal(pthread_join(t[s], NULL), 0);
	harness_watchdog_stop(&w);
	if (ld(&stale) || ld(&bad_copy))
		fail_msg("%d stale, %d bad copies; first: %s", ld(&stale),
			 ld(&bad_copy), first_failure + 1);
	/* Each change hit a registered incarnation (this thread's, or one
	 * that replaced it). */
	assert_true(rc_stats(&env).invalidations >= rounds - NSLOT);
	assert_true(__atomic_load_n(&checked, __ATOMIC_RELAXED) >= rounds);
	fprintf(stderr, "%lu changes, %lu checks, %lu hits, %lu misses, "
		"%lu invalidations\n", rounds, checked,
		(unsigned long)rc_stats(&env).hits,
		(unsigned long)rc_stats(&env).misses,
		(unsigned long)rc_stats(&env).invalidations);
	for (s = 0; s < NSLOT; s++)
		munmap(lives[slots[s].cur].addr, slot_len());
	rc_env_stop(&env);
	free(lives);
	free(buf);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hits_never_return_changed_memory),
	};

	return HARNESS_MAIN(tests);
}
