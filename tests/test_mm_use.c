/* SPDX-License-Identifier: MIT */
/*
 * test_mm_use.c - uhmm_mm_use() in worker threads: use/unuse per thread, a
 * thread that exits while using drops its pin (and may tear down), and
 * seed 003: a struct reference alone never lets a worker use the address
 * space, also while workers race the owner's final put.
 *
 * Teardown is observed through a watcher (util.h).
 */
#include <errno.h>
#include <sched.h>
#include <semaphore.h>

#include "util.h"

/* A snapshot of one page of @buf through @mm (no fault requested). */
static int snapshot(struct uhmm_mm *mm, void *buf)
{
	uint64_t pfn = 0;
	struct uhmm_range r = {
		.mm = mm,
		.start = (unsigned long)buf,
		.end = (unsigned long)buf + uhmm_page_size(),
		.pfns = &pfn,
	};

	return uhmm_range_fault(&r);
}

/* ------------------------------------------------------------------ */
/* use / unuse                                                          */

struct use_ctx {
	struct uhmm_mm *mm, *other, *process;
	sem_t using, checked;
	int users_during;
	int r_use, r_use_again, r_use_other, r_unuse_other, r_unuse,
	    r_unuse_again;
	struct uhmm_mm *cur_before, *cur_during, *cur_after;
};

/* Holds a users reference handed over by the owner; uses, then puts it. */
static void *use_worker(void *arg)
{
	struct use_ctx *c = arg;

	c->cur_before = uhmm_mm_current();
	c->r_use = uhmm_mm_use(c->mm);
	c->cur_during = uhmm_mm_current();
	c->users_during = uhmm_mm_users(c->mm);
	c->r_use_again = uhmm_mm_use(c->mm);
	c->r_use_other = uhmm_mm_use(c->other);
	c->r_unuse_other = uhmm_mm_unuse(c->other);
	sem_post(&c->using);
	sem_wait(&c->checked);
	c->r_unuse = uhmm_mm_unuse(c->mm);
	c->cur_after = uhmm_mm_current();
	c->r_unuse_again = uhmm_mm_unuse(c->mm);
	uhmm_mm_put(c->mm);	/* the reference the owner handed on */
	return NULL;
}

static void use_unuse_in_worker(void **state)
{
	struct harness_watchdog wd;
	struct use_ctx c = { 0 };
	pthread_t t;

	harness_watchdog_start(&wd, 60, "use_unuse_in_worker");
	c.process = uhmm_mm_current();
	c.mm = mm_new();
	c.other = mm_new();
	sem_init(&c.using, 0, 0);
	sem_init(&c.checked, 0, 0);
	uhmm_mm_get(c.mm);		/* handed to the worker */
	assert_int_equal(pthread_create(&t, NULL, use_worker, &c), 0);
	sem_wait(&c.using);
	/* The worker's use is visible in the worker only. */
	assert_ptr_equal(uhmm_mm_current(), c.process);
	sem_post(&c.checked);
	assert_int_equal(pthread_join(t, NULL), 0);
	harness_watchdog_stop(&wd);

	assert_int_equal(c.r_use, 0);
	assert_ptr_equal(c.cur_before, c.process);
	assert_ptr_equal(c.cur_during, c.mm);
	assert_int_equal(c.users_during, 3);	/* owner, handed, pinned */
	assert_int_equal(c.r_use_again, -EBUSY);
	assert_int_equal(c.r_use_other, -EBUSY);
	assert_int_equal(c.r_unuse_other, -EINVAL);
	assert_int_equal(c.r_unuse, 0);
	assert_ptr_equal(c.cur_after, c.process);
	assert_int_equal(c.r_unuse_again, -EINVAL);
	assert_int_equal(uhmm_mm_users(c.mm), 1);
	assert_int_equal(uhmm_mm_use(NULL), -EINVAL);
	assert_int_equal(uhmm_mm_unuse(c.mm), -EINVAL);	/* not used here */
	uhmm_mm_put(c.other);
	uhmm_mm_put(c.mm);
	sem_destroy(&c.using);
	sem_destroy(&c.checked);
}

struct exit_ctx {
	struct uhmm_mm *mm;
	int r_use;
	int users_during;
};

/* Uses the handed reference, puts it, and exits without unuse. */
static void *exit_using_worker(void *arg)
{
	struct exit_ctx *c = arg;

	c->r_use = uhmm_mm_use(c->mm);
	uhmm_mm_put(c->mm);
	c->users_during = uhmm_mm_users(c->mm);
	return NULL;
}

static void run_exit_worker(struct exit_ctx *c)
{
	pthread_t t;

	uhmm_mm_get(c->mm);
	assert_int_equal(pthread_create(&t, NULL, exit_using_worker, c), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(c->r_use, 0);
}

static void thread_exit_drops_use_pin(void **state)
{
	struct exit_ctx c = { .mm = mm_new() };
	struct watch w;

	watch_start(&w, c.mm);
	uhmm_mm_grab(c.mm);
	run_exit_worker(&c);
	assert_int_equal(c.users_during, 2);	/* owner + pinned */
	assert_int_equal(uhmm_mm_users(c.mm), 1);	/* the pin is gone */
	assert_int_equal(ld(&w.releases), 0);
	uhmm_mm_put(c.mm);			/* teardown happens now */
	assert_int_equal(ld(&w.releases), 1);
	assert_int_equal(ld(&w.release_events), 1);
	assert_int_equal(uhmm_mm_users(c.mm), 0);
	watch_stop(&w);
	uhmm_mm_drop(c.mm);
}

/* The owner puts while the worker still uses: the exit tears down. */
static void thread_exit_last_use_tears_down(void **state)
{
	struct exit_ctx c = { .mm = mm_new() };
	struct watch w;
	pthread_t t;

	watch_start(&w, c.mm);
	uhmm_mm_grab(c.mm);
	uhmm_mm_get(c.mm);
	uhmm_mm_put(c.mm);			/* owner gone: users = 1 */
	assert_int_equal(pthread_create(&t, NULL, exit_using_worker, &c), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(c.r_use, 0);
	assert_int_equal(c.users_during, 1);	/* the pin only */
	assert_int_equal(ld(&w.releases), 1);
	assert_int_equal(ld(&w.release_events), 1);
	assert_false(uhmm_mm_alive(c.mm));
	watch_stop(&w);
	uhmm_mm_drop(c.mm);
}

/* ------------------------------------------------------------------ */
/* Seed 003: a struct reference never lets a worker use the space.      */

#ifdef UHMM_DEBUG
static void die_use_with_grab(void)
{
	struct uhmm_mm *mm = child_mm_torn_down();

	if (uhmm_mm_use(mm) == -ESRCH)
		_exit(3);
}
#endif

struct grab_ctx {
	struct uhmm_mm *mm;
	void *buf;
	sem_t torn;
	bool gnz;
	int r_use;
	int r_fault;
};

/* Holds only a grab the owner handed on; acts after the owner's put. */
static void *grab_worker(void *arg)
{
	struct grab_ctx *c = arg;

	sem_wait(&c->torn);
	c->gnz = uhmm_mm_get_not_zero(c->mm);
	c->r_fault = snapshot(c->mm, c->buf);
#ifndef UHMM_DEBUG
	c->r_use = uhmm_mm_use(c->mm);
#endif
	uhmm_mm_drop(c->mm);
	return NULL;
}

static void grab_only_cannot_use(void **state)
{
	struct grab_ctx c = { .mm = mm_new(), .r_use = 1 };
	struct watch w;
	pthread_t t;

	c.buf = map_pages(1);
	assert_int_equal(snapshot(c.mm, c.buf), 0);	/* while alive */
	watch_start(&w, c.mm);
	uhmm_mm_grab(c.mm);		/* ours, for watch_stop */
	uhmm_mm_grab(c.mm);		/* handed to the worker */
	sem_init(&c.torn, 0, 0);
	assert_int_equal(pthread_create(&t, NULL, grab_worker, &c), 0);
	uhmm_mm_put(c.mm);		/* the owner's last put */
	assert_int_equal(ld(&w.releases), 1);
	sem_post(&c.torn);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(c.gnz);
	assert_int_equal(c.r_fault, -ESRCH);
#ifdef UHMM_DEBUG
	assert_int_equal(c.r_use, 1);	/* not tried: it aborts (below) */
	expect_death(die_use_with_grab, "users reference");
#else
	assert_int_equal(c.r_use, -ESRCH);
#endif
	assert_int_equal(ld(&w.releases), 1);
	watch_stop(&w);
	uhmm_mm_drop(c.mm);
	sem_destroy(&c.torn);
	munmap(c.buf, uhmm_page_size());
}

/*
 * Workers holding only a grab race the owner's final put with
 * get_not_zero / use / unuse / put cycles.  Every successful get_not_zero
 * must find the address space alive (release not yet called), a range fault
 * must work while users are held and fail with -ESRCH once get_not_zero
 * fails, and teardown must run exactly once per round, whoever drops the
 * last users reference.
 */
#define HAMMER_WORKERS 2
#define HAMMER_CAP 1000000UL

static struct hammer {
	struct uhmm_mm *mm;		/* published by gen */
	void *buf;			/* one page, snapshot per round */
	struct uhmm_notifier n;
	int releases;			/* atomic: per round */
	int worker_teardowns;		/* atomic: release in a worker */
	unsigned long gen;		/* atomic: round number */
	int finished;			/* atomic: workers done */
	int round_wins;			/* atomic: get_not_zero wins */
	int stop;			/* atomic */
	int bad_dead;			/* atomic: users, yet released */
	int bad_use;			/* atomic: use/unuse misbehaved */
	int bad_fault;			/* atomic: range fault wrong */
	unsigned long wins;		/* atomic: all rounds */
	pthread_t owner;
} hm;

static void hammer_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	inc(&hm.releases);
	if (!pthread_equal(pthread_self(), hm.owner))
		inc(&hm.worker_teardowns);
}

static const struct uhmm_notifier_ops hammer_ops = {
	.release = hammer_release,
};

/* One cycle with a users reference held: use must work, in this thread. */
static void hammer_cycle(struct uhmm_mm *mm)
{
	if (ld(&hm.releases) || !uhmm_mm_alive(mm))
		inc(&hm.bad_dead);
	if (uhmm_mm_use(mm)) {
		inc(&hm.bad_use);
	} else {
		if (uhmm_mm_current() != mm)
			inc(&hm.bad_use);
		if (uhmm_mm_unuse(mm))
			inc(&hm.bad_use);
	}
	inc(&hm.round_wins);
	__atomic_add_fetch(&hm.wins, 1, __ATOMIC_RELAXED);
	uhmm_mm_put(mm);		/* pairs with get_not_zero */
}

static void hammer_round(void)
{
	struct uhmm_mm *mm = hm.mm;
	unsigned long i;

	for (i = 0; i < HAMMER_CAP && uhmm_mm_get_not_zero(mm); i++) {
		if (i == 0 && snapshot(mm, hm.buf))
			inc(&hm.bad_fault);	/* users held: must work */
		hammer_cycle(mm);
		if (i % 64 == 63)
			sched_yield();	/* let the owner reach its put */
	}
	if (i < HAMMER_CAP && snapshot(mm, hm.buf) != -ESRCH)
		inc(&hm.bad_fault);
#ifndef UHMM_DEBUG
	if (i < HAMMER_CAP && uhmm_mm_use(mm) != -ESRCH)
		inc(&hm.bad_use);
#endif
	uhmm_mm_drop(mm);		/* the grab the owner handed on */
	inc(&hm.finished);
}

static void *hammer_worker(void *arg)
{
	unsigned long seen = 0;

	for (;;) {
		seen = wait_next_round(&hm.gen, seen);
		if (ld(&hm.stop))
			return NULL;
		hammer_round();
	}
}

static void wait_at_least(int *p, int n)
{
	while (ld(p) < n)
		sched_yield();
}

static void hammer_one(unsigned long round)
{
	volatile unsigned long spin;
	int i;

	hm.mm = mm_new();
	hm.releases = 0;
	hm.finished = 0;
	hm.round_wins = 0;
	hm.n.ops = &hammer_ops;
	assert_int_equal(uhmm_notifier_register(&hm.n, hm.mm), 0);
	for (i = 0; i < HAMMER_WORKERS; i++)
		uhmm_mm_grab(hm.mm);	/* handed to the workers */
	__atomic_add_fetch(&hm.gen, 1, __ATOMIC_RELEASE);
	wait_at_least(&hm.round_wins, 1);
	for (spin = 0; spin < (round * 7919) % 4096; spin++)
		;
	uhmm_mm_put(hm.mm);		/* the owner's last put */
	wait_at_least(&hm.finished, HAMMER_WORKERS);
	assert_int_equal(ld(&hm.releases), 1);
	assert_int_equal(uhmm_mm_users(hm.mm), 0);
	/* Drops the last count reference: frees the handle. */
	assert_int_equal(uhmm_notifier_unregister(&hm.n), 0);
	assert_int_equal(ld(&hm.releases), 1);
}

static void grab_only_race_final_put(void **state)
{
	unsigned long rounds = harness_rounds(10000), r;
	pthread_t t[HAMMER_WORKERS];
	struct harness_watchdog wd;
	int i;

	harness_watchdog_start(&wd, 100, "grab_only_race_final_put");
	memset(&hm, 0, sizeof(hm));
	hm.owner = pthread_self();
	hm.buf = map_pages(1);
	for (i = 0; i < HAMMER_WORKERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_worker,
					       NULL), 0);
	for (r = 0; r < rounds; r++)
		hammer_one(r);
	__atomic_store_n(&hm.stop, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&hm.gen, 1, __ATOMIC_RELEASE);
	for (i = 0; i < HAMMER_WORKERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	harness_watchdog_stop(&wd);
	print_message("%lu rounds, %lu get_not_zero wins, %d teardowns in a "
		      "worker\n", rounds, hm.wins, hm.worker_teardowns);
	assert_int_equal(ld(&hm.bad_dead), 0);
	assert_int_equal(ld(&hm.bad_use), 0);
	assert_int_equal(ld(&hm.bad_fault), 0);
	assert_true(hm.wins >= rounds);
	munmap(hm.buf, uhmm_page_size());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(use_unuse_in_worker),
		cmocka_unit_test(thread_exit_drops_use_pin),
		cmocka_unit_test(thread_exit_last_use_tears_down),
		cmocka_unit_test(grab_only_cannot_use),
		cmocka_unit_test(grab_only_race_final_put),
	};

	return HARNESS_MAIN(tests);
}
