/* SPDX-License-Identifier: MIT */
/*
 * test_interval_race.c - the collision-retry protocol hammered by threads
 * over real memory (see stress/mirror.h for the owner model and the
 * invariant).
 *
 * no_invalidation_lost: one owner runs the canonical loop 10^5 times while
 * two changers discard or replace pages of the region between start and end.
 * Every few rounds the owner forces a collision: between its read_begin and
 * its lock a changer runs a whole change (mode "done"), or starts one and
 * holds it open until the owner has retried (mode "open", which also shows
 * that the next read_begin waits).  Fails on any stale commit, any forced
 * collision without a retry, or callbacks != overlapping changes.
 *
 * remove_then_free_never_touched: 10^4 rounds of malloc, insert, build,
 * remove, poison, free while changers invalidate the same pages; a callback
 * after remove hits the poison (or ASan), a callback still running after
 * remove is counted.
 *
 * insert_racing_a_change_collides: 2 x 10^4 rounds of insert, read_begin,
 * read, read again, read_retry, remove, while a changer discards the same
 * page between start and end, over and over.  A change that started before
 * the insert takes the lock-free path (the interval filter had nothing
 * there), so only the insert's collision rule can make that subscription's
 * read_begin wait for it: any pair that saw the page's content change
 * without a retry fails.
 */
#include <errno.h>
#include <stdlib.h>

#include "harness.h"
#include "stress/mirror.h"

#define RPAGES 8
#define WIN_FIRST 2
#define WIN_PAGES 4
#define FORCE_EVERY 32
#define OPEN_WAIT_MS 5000	/* bound on waiting for the owner's retry */
#define PACE 2			/* random changes per owner round, at most */

static char *region;
static struct uhmm_mm *mm;
static struct mirror *watched;	/* the mirror changers check after end */
static int stop;		/* atomic */
static unsigned long want, claimed, served;	/* atomic: forced rounds */
static unsigned int span = RPAGES;	/* random changes: pages [0, span) */
static unsigned int force_first, force_pages;	/* forced changes */
static bool force_open;		/* alternate forced rounds hold it open */
static unsigned long changes, hits, errors;	/* atomic */
static unsigned long progress;	/* atomic: the owner's round */

#define ADD(x) __atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)
#define GET(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define PUT(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static void map_region(void)
{
	region = mirror_map_region(RPAGES);
	assert_non_null(region);
	mm = uhmm_mm_current();
}

static void one_change(unsigned long *rng, unsigned int first, unsigned int n)
{
	enum mirror_how how = mirror_pick_how(rng);

	if (mirror_change(mm, region, first, n, how, UHMM_RANGE_BLOCKABLE))
		ADD(errors);
	ADD(changes);
	if (watched) {
		if (mirror_overlaps(watched, region, first, n))
			ADD(hits);
		mirror_check(watched);	/* after end: no old content */
	}
}

/* Forced round "open": start, let the owner see the retry, then change. */
static void open_change(unsigned long w)
{
	unsigned long retries = MIRROR_GET(watched, retries);
	unsigned long commits = MIRROR_GET(watched, commits);
	struct uhmm_notifier_range r;
	char *p = (char *)mirror_word(region, force_first);
	unsigned int i;

	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, UHMM_RANGE_BLOCKABLE, mm,
				 (unsigned long)p,
				 (unsigned long)p + uhmm_page_size());
	if (uhmm_invalidate_range_start(&r)) {
		ADD(errors);
		return;
	}
	PUT(served, w);
	/* The owner retries (right) or commits (a lost invalidation). */
	for (i = 0; i < OPEN_WAIT_MS * 10 &&
		    MIRROR_GET(watched, retries) == retries &&
		    MIRROR_GET(watched, commits) == commits; i++)
		usleep(100);
	if (madvise(p, uhmm_page_size(), MADV_DONTNEED))
		ADD(errors);
	__atomic_store_n((unsigned long *)p,
			 __atomic_add_fetch(&mirror_gen, 1, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	uhmm_invalidate_range_end(&r);
	ADD(changes);
	ADD(hits);
	mirror_check(watched);
}

/* Serve a forced round if one is asked for and no other changer took it. */
static bool serve(unsigned long *rng)
{
	unsigned long c = GET(claimed), w = GET(want);

	if (w == c || !__atomic_compare_exchange_n(&claimed, &c, w, false,
						   __ATOMIC_ACQ_REL,
						   __ATOMIC_RELAXED))
		return false;
	if (force_open && (w / FORCE_EVERY) % 2) {
		open_change(w);
	} else {
		one_change(rng, force_first + mirror_rnd(rng) % force_pages, 1);
		PUT(served, w);
	}
	return true;
}

static void *changer_fn(void *arg)
{
	unsigned long rng = (unsigned long)arg * 0x9e3779b97f4a7c15UL + 1;
	unsigned int first, n;

	while (!GET(stop)) {
		if (serve(&rng))
			continue;
		if (GET(changes) > PACE * GET(progress) + 64) {
			usleep(20);	/* do not outrun the owner */
			continue;
		}
		first = mirror_rnd(&rng) % span;
		n = first + 1 < span ? 1 + mirror_rnd(&rng) % 2 : 1;
		one_change(&rng, first, n);
		if (mirror_rnd(&rng) % 4 == 0)
			sched_yield();
	}
	return NULL;
}

static void start_changers(pthread_t *t, unsigned int n)
{
	unsigned long i;

	changes = hits = errors = progress = 0;
	want = claimed = served = 0;
	PUT(stop, 0);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&t[i], NULL, changer_fn,
						(void *)(i + 1)), 0);
}

static void stop_changers(pthread_t *t, unsigned int n)
{
	unsigned int i;

	PUT(stop, 1);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

/* Ask for a forced round @k and wait until a changer has served it. */
static void force(unsigned long k)
{
	PUT(want, k);
	while (GET(served) != k)
		sched_yield();
}

struct owner {
	unsigned long round;
	bool force;
};

/* Between the snapshot and the lock: where a real owner faults pages. */
static void owner_mid(struct mirror *m, void *arg)
{
	struct owner *o = arg;

	if (o->force) {
		o->force = false;	/* once per round, not per retry */
		force(o->round);
	} else if (o->round % 8 == 0) {
		sched_yield();
	}
}

static void no_invalidation_lost(void **state)
{
	unsigned long k, rounds = harness_rounds(100000), forced = 0, missed = 0;
	struct harness_watchdog w;
	struct owner o;
	pthread_t t[2];
	static struct mirror m;

	harness_watchdog_start(&w, 100, "no_invalidation_lost");
	map_region();
	mirror_init(&m, region + WIN_FIRST * uhmm_page_size(), WIN_PAGES);
	assert_int_equal(mirror_insert(&m, mm), 0);
	watched = &m;
	force_first = WIN_FIRST;
	force_pages = WIN_PAGES;
	force_open = true;
	start_changers(t, 2);
	for (k = 1; k <= rounds; k++) {
		PUT(progress, k);
		o.round = k;
		o.force = k % FORCE_EVERY == 0;
		forced += o.force;
		if (mirror_build(&m, owner_mid, &o) == 0 && k % FORCE_EVERY == 0)
			missed++;
	}
	stop_changers(t, 2);
	mirror_check(&m);
	printf("rounds %lu changes %lu hits %lu retries %lu forced %lu\n",
	       rounds, changes, hits, m.retries, forced);
	assert_int_equal(m.stale, 0);
	assert_int_equal(missed, 0);
	assert_int_equal(errors, 0);
	assert_int_equal(m.commits, rounds);
	assert_true(m.retries >= forced && forced > 0);
	assert_int_equal(m.callbacks, hits);	/* none lost, none extra */
	mirror_zap(&m);
	assert_int_equal(uhmm_interval_sub_remove(&m.sub), 0);
	harness_watchdog_stop(&w);
}

/* ------------------------------------------------------------------ */

struct churn_totals {
	unsigned long stale, callbacks, running_after_remove, forced_missed;
};

static void churn_round(unsigned long k, struct churn_totals *t)
{
	struct mirror *m = malloc(sizeof(*m));

	assert_non_null(m);
	mirror_init(m, region, 2);
	m->cb_yield = 3;	/* callbacks that linger: remove must wait */
	assert_int_equal(mirror_insert(m, mm), 0);
	if (k % 4 == 0)
		sched_yield();	/* let changes start while inserted */
	mirror_build(m, NULL, NULL);
	if (k % 64 == 0) {
		force(k);	/* a change of page 0 or 1 */
		if (MIRROR_GET(m, callbacks) == 0)
			t->forced_missed++;
	}
	mirror_zap(m);
	assert_int_equal(uhmm_interval_sub_remove(&m->sub), 0);
	if (__atomic_load_n(&m->in_cb, __ATOMIC_ACQUIRE))
		t->running_after_remove++;
	t->stale += m->stale;
	t->callbacks += m->callbacks;
	mirror_poison(m);
	free(m);		/* any later callback is a use after free */
}

static void remove_then_free_never_touched(void **state)
{
	unsigned long k, rounds = harness_rounds(20000);
	struct churn_totals tot = { 0 };
	struct harness_watchdog w;
	pthread_t t[2];

	harness_watchdog_start(&w, 100, "remove_then_free_never_touched");
	map_region();
	watched = NULL;
	span = 3;		/* the mirrors cover pages 0 and 1 */
	force_first = 0;
	force_pages = 2;
	start_changers(t, 2);
	for (k = 1; k <= rounds; k++) {
		PUT(progress, k);
		churn_round(k, &tot);
	}
	stop_changers(t, 2);
	printf("rounds %lu changes %lu callbacks %lu\n", rounds, changes,
	       tot.callbacks);
	assert_int_equal(tot.running_after_remove, 0);
	assert_int_equal(mirror_bad_cb, 0);
	assert_int_equal(tot.stale, 0);
	assert_int_equal(tot.forced_missed, 0);
	assert_int_equal(errors, 0);
	assert_true(tot.callbacks > 0);
	harness_watchdog_stop(&w);
}

/* ------------------------------------------------------------------ */

static unsigned long page_gen;	/* atomic: bumped by each change of page 0 */

static bool set_seq_cb(struct uhmm_interval_sub *sub,
		       const struct uhmm_notifier_range *range,
		       unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct uhmm_interval_sub_ops set_seq_ops = {
	.invalidate = set_seq_cb,
};

/* Change page 0 between start and end: discard it, then move page_gen. */
static void *page_changer_fn(void *arg)
{
	struct uhmm_notifier_range r;

	(void)arg;
	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, UHMM_RANGE_BLOCKABLE, mm,
				 (unsigned long)region,
				 (unsigned long)region + uhmm_page_size());
	while (!GET(stop)) {
		if (uhmm_invalidate_range_start(&r)) {
			ADD(errors);
			break;
		}
		if (madvise(region, uhmm_page_size(), MADV_DONTNEED))
			ADD(errors);
		ADD(page_gen);
		uhmm_invalidate_range_end(&r);
		ADD(changes);
	}
	return NULL;
}

static void insert_racing_a_change_collides(void **state)
{
	unsigned long k, rounds = harness_rounds(20000), seq, g0, g1;
	unsigned long unseen = 0, waited = 0;
	struct uhmm_interval_sub sub;
	struct harness_watchdog w;
	pthread_t t;
	int i;

	harness_watchdog_start(&w, 100, "insert_racing_a_change_collides");
	map_region();
	changes = errors = 0;
	PUT(stop, 0);
	assert_int_equal(pthread_create(&t, NULL, page_changer_fn, NULL), 0);
	/* A loaded machine may not run the changer before the owner is done:
	 * start racing only once it is changing (the watchdog bounds this). */
	while (!GET(changes) && !GET(errors))
		sched_yield();
	for (k = 1; k <= rounds; k++) {
		assert_int_equal(uhmm_interval_sub_insert(&sub, mm,
				(unsigned long)region, uhmm_page_size(),
				&set_seq_ops), 0);
		seq = uhmm_interval_read_begin(&sub);
		waited += seq & 1;	/* it collided with a running change */
		g0 = GET(page_gen);
		for (i = 0; i < 64; i++)	/* the owner's work */
			__asm__ volatile("" ::: "memory");
		if (k % 16 == 0)
			sched_yield();
		g1 = GET(page_gen);
		if (!uhmm_interval_read_retry(&sub, seq) && g0 != g1)
			unseen++;	/* a change it was never told of */
		assert_int_equal(uhmm_interval_sub_remove(&sub), 0);
	}
	PUT(stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	printf("rounds %lu changes %lu collided %lu\n", rounds, changes,
	       waited);
	/* Say which count failed: a flake must be diagnosable from its log. */
	if (unseen || errors || !changes)
		fail_msg("rounds %lu: %lu changes unseen by read_retry, %lu "
			 "changer errors, %lu changes, %lu collided",
			 rounds, unseen, errors, changes, waited);
	harness_watchdog_stop(&w);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_invalidation_lost),
		cmocka_unit_test(remove_then_free_never_touched),
		cmocka_unit_test(insert_racing_a_change_collides),
	};

	return HARNESS_MAIN(tests);
}
