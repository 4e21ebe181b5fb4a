/* SPDX-License-Identifier: MIT */
/*
 * test_deadlock.c - seed 002, the rwsem writer-preference deadlock, must
 * complete here:
 *
 *   A  runs an invalidation (real madvise between start and end) whose
 *      callback - interval, or whole-space - needs the device lock;
 *   B  meanwhile registers/unregisters whole-space notifiers (also the one A
 *      is in) and inserts/removes interval subscriptions (also the one A is
 *      in), which wait for A where the rules say so;
 *   C  holds the device lock and itself invalidates an overlapping range
 *      (its own migration, or a non-blockable change its callbacks refuse)
 *      before unlocking, sometimes from a thread new to uhmm.
 *
 * With a fair rwsem walked by A and C, B's queued writer blocks C, C blocks
 * A and A blocks B.  Here walks take no lock a registrant can hold and
 * nothing B waits for waits for C, so every round ends.  A watchdog turns a
 * deadlock into a report.
 *
 * Deadlocks by the documented rules, deliberately not done: C calling, with
 * the device lock held, anything that waits for A's invalidation to end
 * (uhmm_interval_read_begin() or uhmm_interval_sub_remove() of the
 * subscription A is invalidating, uhmm_notifier_unregister() of the notifier
 * A is in); and a callback taking the device lock for C's own migration
 * (the driver recognises it by range->owner, as the kernel's test_hmm does).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#define NPAGES 4

struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	unsigned long v;
};
#define GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

static void gate_set(struct gate *g, unsigned long v)
{
	pthread_mutex_lock(&g->m);
	g->v = v;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

static void gate_wait(struct gate *g, unsigned long v)
{
	pthread_mutex_lock(&g->m);
	while (g->v < v)
		pthread_cond_wait(&g->c, &g->m);
	pthread_mutex_unlock(&g->m);
}

static char *region;
static struct uhmm_mm *mm;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static int dev;			/* identity: range->owner of our migrations */
static struct gate go_a = GATE_INIT, a_waiting = GATE_INIT, a_done = GATE_INIT;
static struct gate go_b = GATE_INIT, b_started = GATE_INIT, b_done = GATE_INIT;
static unsigned long cur_round;	/* atomic */
static __thread bool is_a;
static unsigned long zaps, bad;	/* atomic */
static int stop;		/* atomic: ends the free-running B */
static struct harness_watchdog wd;

#define ADD(x) __atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)

/* ------------------------------------------------------------------ */
/* The device's callbacks                                              */

static bool own_migration(const struct uhmm_notifier_range *r)
{
	return r->event == UHMM_EVENT_MIGRATE && r->owner == &dev;
}

/* Lock as a driver does; tell C when A is about to wait for it. */
static bool dev_lock_for(const struct uhmm_notifier_range *r)
{
	if (!uhmm_range_blockable(r))
		return pthread_mutex_trylock(&dev_lock) == 0;
	if (is_a)
		gate_set(&a_waiting,
			 __atomic_load_n(&cur_round, __ATOMIC_RELAXED));
	pthread_mutex_lock(&dev_lock);
	return true;
}

static bool sub_invalidate(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *r,
			   unsigned long cur_seq)
{
	if (own_migration(r))
		return true;
	if (!dev_lock_for(r))
		return false;
	uhmm_interval_set_seq(sub, cur_seq);
	ADD(zaps);
	pthread_mutex_unlock(&dev_lock);
	return true;
}

static int n_start(struct uhmm_notifier *n, const struct uhmm_notifier_range *r)
{
	if (own_migration(r))
		return 0;
	if (!dev_lock_for(r))
		return -EAGAIN;
	ADD(zaps);
	pthread_mutex_unlock(&dev_lock);
	return 0;
}

static struct uhmm_notifier *n_alloc(struct uhmm_mm *m)
{
	return calloc(1, sizeof(struct uhmm_notifier));
}

static void n_free(struct uhmm_notifier *n)
{
	free(n);
}

static const struct uhmm_interval_sub_ops sub_ops = {
	.invalidate = sub_invalidate,
};
static const struct uhmm_notifier_ops n_ops = {
	.invalidate_range_start = n_start,
};
static const struct uhmm_notifier_ops shared_ops = {
	.invalidate_range_start = n_start,
	.alloc_notifier = n_alloc,
	.free_notifier = n_free,
};

/* A's subscriptions, and B's own. */
static struct uhmm_interval_sub a_sub, b_sub;
static struct uhmm_notifier a_n = { .ops = &n_ops }, b_n = { .ops = &n_ops };
static bool use_sub, use_notifier;	/* which kinds A's change hits */

static void check(int ret, int want)
{
	if (ret != want) {
		fprintf(stderr, "got %d, want %d\n", ret, want);
		ADD(bad);
	}
}

static unsigned long pg(unsigned int i)
{
	return (unsigned long)region + i * uhmm_page_size();
}

static void a_sub_insert(void)
{
	check(uhmm_interval_sub_insert(&a_sub, mm, pg(0), NPAGES *
				       uhmm_page_size(), &sub_ops), 0);
}

/* ------------------------------------------------------------------ */
/* The three parties                                                  */

/* A: a real change of the whole region. */
static void a_change(void)
{
	struct uhmm_notifier_range r;

	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, UHMM_RANGE_BLOCKABLE, mm,
				 pg(0), pg(NPAGES));
	check(uhmm_invalidate_range_start(&r), 0);
	check(madvise(region, NPAGES * uhmm_page_size(), MADV_DONTNEED), 0);
	uhmm_invalidate_range_end(&r);
}

/* B: one registration change per round, also of what A is inside. */
static void b_op(unsigned long round)
{
	struct uhmm_notifier *s;

	switch (round % 4) {
	case 0:
		check(uhmm_notifier_register(&b_n, mm), 0);
		check(uhmm_notifier_unregister(&b_n), 0);
		break;
	case 1:
		check(uhmm_interval_sub_insert(&b_sub, mm, pg(1),
					       uhmm_page_size(), &sub_ops), 0);
		check(uhmm_interval_sub_remove(&b_sub), 0);
		break;
	case 2:	/* waits for A's invalidation to end: legitimate */
		if (use_sub) {
			check(uhmm_interval_sub_remove(&a_sub), 0);
			a_sub_insert();
		}
		if (use_notifier) {
			check(uhmm_notifier_unregister(&a_n), 0);
			check(uhmm_notifier_register(&a_n, mm), 0);
		}
		break;
	default:
		check(uhmm_notifier_get(&shared_ops, mm, &s), 0);
		uhmm_notifier_put(s);
		check(uhmm_notifier_synchronize(), 0);
		break;
	}
}

/* C's nested change, made while holding the device lock. */
static void *c_nested(void *arg)
{
	unsigned long round = (unsigned long)arg;
	struct uhmm_notifier_range r;
	int ret;

	if (round % 2) {
		uhmm_notifier_range_init(&r, UHMM_EVENT_MIGRATE,
					 UHMM_RANGE_BLOCKABLE, mm, pg(1), pg(3));
		r.owner = &dev;
		check(uhmm_invalidate(&r), 0);
		return NULL;
	}
	/* Not blockable: our callbacks refuse (C holds their lock), unless
	 * B has just taken away everything that overlaps. */
	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, 0, mm, pg(1), pg(3));
	ret = uhmm_invalidate(&r);
	if (ret != -EAGAIN)
		check(ret, 0);
	return NULL;
}

/* Sometimes from a thread that has never entered uhmm (first read-side
 * section registers it while B may be waiting for a grace period). */
static void c_nested_change(unsigned long round)
{
	pthread_t t;

	if (round % 4 != 3) {
		c_nested((void *)round);
		return;
	}
	if (pthread_create(&t, NULL, c_nested, (void *)round) ||
	    pthread_join(t, NULL))
		abort();
}

/* ------------------------------------------------------------------ */
/* Orchestrated rounds: the seed's exact interleaving                  */

static unsigned long nrounds;

static void *a_thread(void *arg)
{
	unsigned long r;

	is_a = true;
	for (r = 1; r <= nrounds; r++) {
		gate_wait(&go_a, r);
		a_change();
		gate_set(&a_done, r);
	}
	return NULL;
}

static void *b_thread(void *arg)
{
	unsigned long r;

	for (r = 1; r <= nrounds; r++) {
		gate_wait(&go_b, r);
		gate_set(&b_started, r);
		b_op(r);
		gate_set(&b_done, r);
	}
	return NULL;
}

static void c_round(unsigned long r)
{
	__atomic_store_n(&cur_round, r, __ATOMIC_RELAXED);
	pthread_mutex_lock(&dev_lock);
	wd.phase = "C holds the device lock, A starts its change";
	gate_set(&go_a, r);
	gate_wait(&a_waiting, r);
	wd.phase = "A waits for the device lock, B starts";
	gate_set(&go_b, r);
	gate_wait(&b_started, r);
	if (r % 3 == 1)
		sched_yield();
	else if (r % 3 == 2)
		usleep(300);	/* let B get as far as it can */
	wd.phase = "C's nested change, device lock held";
	c_nested_change(r);
	pthread_mutex_unlock(&dev_lock);
	wd.phase = "A and B finishing the round";
	gate_wait(&a_done, r);
	gate_wait(&b_done, r);
}

static void setup(bool sub, bool notifier)
{
	struct gate *g[] = { &go_a, &a_waiting, &a_done,
			     &go_b, &b_started, &b_done };
	unsigned int i;

	for (i = 0; i < 6; i++)
		gate_set(g[i], 0);
	region = mmap(NULL, NPAGES * uhmm_page_size(), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(region != MAP_FAILED);
	mm = uhmm_mm_current();
	use_sub = sub;
	use_notifier = notifier;
	if (sub)
		a_sub_insert();
	if (notifier)
		check(uhmm_notifier_register(&a_n, mm), 0);
	zaps = bad = 0;
	stop = 0;
}

static void cleanup(void)
{
	if (use_sub)
		check(uhmm_interval_sub_remove(&a_sub), 0);
	if (use_notifier)
		check(uhmm_notifier_unregister(&a_n), 0);
	munmap(region, NPAGES * uhmm_page_size());
}

static void run_rounds(bool sub, bool notifier, const char *what)
{
	pthread_t a, b;
	unsigned long r;

	setup(sub, notifier);
	nrounds = harness_rounds(400);
	harness_watchdog_start(&wd, 60, what);
	assert_int_equal(pthread_create(&a, NULL, a_thread, NULL), 0);
	assert_int_equal(pthread_create(&b, NULL, b_thread, NULL), 0);
	for (r = 1; r <= nrounds; r++)
		c_round(r);
	assert_int_equal(pthread_join(a, NULL), 0);
	assert_int_equal(pthread_join(b, NULL), 0);
	harness_watchdog_stop(&wd);
	cleanup();
	assert_int_equal(bad, 0);
	assert_true(zaps >= nrounds);	/* every A change took the lock */
}

static void seed002_interval_callback(void **state)
{
	run_rounds(true, false, "seed002_interval_callback");
}

static void seed002_notifier_callback(void **state)
{
	run_rounds(false, true, "seed002_notifier_callback");
}

/* ------------------------------------------------------------------ */
/* Free running: the same three parties without a script               */

static void *a_free(void *arg)
{
	unsigned long i;

	for (i = 0; i < nrounds; i++)
		a_change();
	return NULL;
}

static void *b_free(void *arg)
{
	unsigned long i;

	for (i = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++)
		b_op(i);
	return NULL;
}

static void *c_free(void *arg)
{
	unsigned long i;

	for (i = 0; i < nrounds; i++) {
		pthread_mutex_lock(&dev_lock);
		c_nested_change(i);
		pthread_mutex_unlock(&dev_lock);
		if (i % 2)
			sched_yield();
	}
	return NULL;
}

static void seed002_free_running(void **state)
{
	pthread_t a, b, c;

	setup(true, true);
	nrounds = harness_rounds(20000);
	harness_watchdog_start(&wd, 60, "seed002_free_running");
	wd.phase = "A, B and C running";
	assert_int_equal(pthread_create(&a, NULL, a_free, NULL), 0);
	assert_int_equal(pthread_create(&b, NULL, b_free, NULL), 0);
	assert_int_equal(pthread_create(&c, NULL, c_free, NULL), 0);
	assert_int_equal(pthread_join(a, NULL), 0);
	assert_int_equal(pthread_join(c, NULL), 0);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(b, NULL), 0);
	harness_watchdog_stop(&wd);
	cleanup();
	assert_int_equal(bad, 0);
	assert_true(zaps > 0);	/* B may have had A's subscriptions away */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seed002_interval_callback),
		cmocka_unit_test(seed002_notifier_callback),
		cmocka_unit_test(seed002_free_running),
	};

	return HARNESS_MAIN(tests);
}
