/* SPDX-License-Identifier: MIT */
/*
 * test_notifier.c - whole-address-space subscriptions: register/unregister
 * (release exactly once, no callback after unregister, refused from inside a
 * callback), range start/end with the -EAGAIN undo, and get/put with the
 * deferred free through ->free_notifier() after a grace period.
 */
#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/syscall.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

static inline int ld(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline void inc(int *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
}

static int tid(void)
{
	return (int)syscall(SYS_gettid);
}

static struct uhmm_mm *mm_new(void)
{
	struct uhmm_mm *mm = NULL;

	assert_int_equal(uhmm_mm_create(&mm), 0);
	return mm;
}

/* A blockable UNMAP of [start, end) on @mm, announced in one call. */
static int invalidate(struct uhmm_mm *mm, unsigned long start,
		      unsigned long end, unsigned int flags)
{
	struct uhmm_notifier_range r;

	uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, flags, mm, start, end);
	return uhmm_invalidate(&r);
}

/* ------------------------------------------------------------------ */
/* A recording subscription                                             */

struct rec {
	struct uhmm_notifier n;
	int releases;		/* atomic */
	int release_tid;
	int starts, ends;	/* atomic */
	int in_cb;		/* atomic: a callback is running */
	int fail_start;		/* non-blockable start returns -EAGAIN */
	int slow;		/* linger inside start */
	struct uhmm_notifier_range first, last;	/* seen by start / end */
};

static void rec_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	struct rec *r = container_of(n, struct rec, n);

	r->release_tid = tid();
	inc(&r->releases);
}

static int rec_start(struct uhmm_notifier *n,
		     const struct uhmm_notifier_range *range)
{
	struct rec *r = container_of(n, struct rec, n);
	volatile int i;

	inc(&r->in_cb);
	if (ld(&r->starts) == 0)
		r->first = *range;
	inc(&r->starts);
	for (i = 0; i < r->slow; i++)
		;
	__atomic_sub_fetch(&r->in_cb, 1, __ATOMIC_SEQ_CST);
	if (r->fail_start && !uhmm_range_blockable(range))
		return -EAGAIN;
	return 0;
}

static void rec_end(struct uhmm_notifier *n,
		    const struct uhmm_notifier_range *range)
{
	struct rec *r = container_of(n, struct rec, n);

	r->last = *range;
	inc(&r->ends);
}

static const struct uhmm_notifier_ops rec_ops = {
	.release = rec_release,
	.invalidate_range_start = rec_start,
	.invalidate_range_end = rec_end,
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->n.ops = &rec_ops;
}

/* ------------------------------------------------------------------ */
/* register / unregister                                                */

static void unregister_calls_release_once(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct rec r;

	rec_init(&r);
	assert_int_equal(uhmm_notifier_register(&r.n, mm), 0);
	assert_ptr_equal(r.n.mm, mm);
	assert_int_equal(ld(&r.releases), 0);
	assert_int_equal(uhmm_notifier_unregister(&r.n), 0);
	assert_int_equal(ld(&r.releases), 1);
	assert_int_equal(r.release_tid, tid());
	assert_int_equal(uhmm_notifier_unregister(&r.n), -EINVAL);
	uhmm_mm_put(mm);		/* teardown: not registered any more */
	assert_int_equal(ld(&r.releases), 1);
}

static void teardown_then_unregister_release_once(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct rec r;

	rec_init(&r);
	assert_int_equal(uhmm_notifier_register(&r.n, mm), 0);
	uhmm_mm_put(mm);		/* the subscription keeps the struct */
	assert_int_equal(ld(&r.releases), 1);
	assert_int_equal(uhmm_notifier_unregister(&r.n), 0);
	assert_int_equal(ld(&r.releases), 1);
}

static void register_errors(void **state)
{
	struct uhmm_mm *mm = mm_new(), *other = mm_new();
	struct rec r, s;

	rec_init(&r);
	rec_init(&s);
	assert_int_equal(uhmm_notifier_register(&r.n, mm), 0);
	assert_int_equal(uhmm_notifier_register(&r.n, mm), -EBUSY);
	assert_int_equal(uhmm_notifier_register(&r.n, other), -EBUSY);
	assert_int_equal(uhmm_notifier_unregister(&s.n), -EINVAL);
	assert_int_equal(uhmm_notifier_unregister(&r.n), 0);
	/* An unregistered subscription may be registered again. */
	assert_int_equal(uhmm_notifier_register(&r.n, other), 0);
	assert_int_equal(uhmm_notifier_unregister(&r.n), 0);
	assert_int_equal(ld(&r.releases), 2);

	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);		/* torn down */
	assert_int_equal(uhmm_notifier_register(&s.n, mm), -ESRCH);
	assert_int_equal(ld(&s.releases), 0);
	uhmm_mm_drop(mm);
	uhmm_mm_put(other);
}

/*
 * An invalidator thread runs while subscriptions come and go; once
 * unregister returns, the freed subscription is never touched again (ASan)
 * and its counters stop.
 */
struct churn {
	struct uhmm_mm *mm;
	int stop;			/* atomic */
	int loops;			/* atomic */
	int errors;			/* atomic */
};

static void *invalidator(void *arg)
{
	struct churn *c = arg;
	unsigned long ps = uhmm_page_size();

	while (!ld(&c->stop)) {
		if (invalidate(c->mm, ps, 2 * ps, UHMM_RANGE_BLOCKABLE))
			inc(&c->errors);
		inc(&c->loops);
	}
	return NULL;
}

static void wait_loops(struct churn *c, int n)
{
	int target = ld(&c->loops) + n;

	while (ld(&c->loops) < target)
		sched_yield();
}

static void churn_one(struct churn *c)
{
	struct rec *r = malloc(sizeof(*r));
	int starts;

	assert_non_null(r);
	rec_init(r);
	r->slow = 2000;	/* widen the window unregister must wait for */
	assert_int_equal(uhmm_notifier_register(&r->n, c->mm), 0);
	while (ld(&r->ends) == 0)
		sched_yield();
	assert_int_equal(uhmm_notifier_unregister(&r->n), 0);
	assert_int_equal(ld(&r->in_cb), 0);
	assert_int_equal(ld(&r->releases), 1);
	starts = ld(&r->starts);
	wait_loops(c, 2);
	assert_int_equal(ld(&r->starts), starts);
	free(r);
}

static void no_callback_after_unregister(void **state)
{
	unsigned long i, rounds = harness_rounds(2000);
	struct churn c = { .mm = mm_new() };
	struct harness_watchdog wd;
	pthread_t t;

	harness_watchdog_start(&wd, 100, "no_callback_after_unregister");
	assert_int_equal(pthread_create(&t, NULL, invalidator, &c), 0);
	for (i = 0; i < rounds; i++)
		churn_one(&c);
	__atomic_store_n(&c.stop, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_join(t, NULL), 0);
	harness_watchdog_stop(&wd);
	assert_int_equal(ld(&c.errors), 0);
	uhmm_mm_put(c.mm);
}

/* Every entry point that changes subscriptions refuses from a callback. */
struct nested {
	struct uhmm_notifier n;
	struct uhmm_notifier other;
	int r_register, r_unregister, r_get, r_sync;
	int r_rel_register, r_rel_unregister;
	int calls;
};

static int nested_start(struct uhmm_notifier *n,
			const struct uhmm_notifier_range *range)
{
	struct nested *x = container_of(n, struct nested, n);
	struct uhmm_notifier *g = NULL;

	x->calls++;
	x->r_register = uhmm_notifier_register(&x->other, range->mm);
	x->r_unregister = uhmm_notifier_unregister(n);
	x->r_get = uhmm_notifier_get(n->ops, range->mm, &g);
	x->r_sync = uhmm_notifier_synchronize();
	return 0;
}

static void nested_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	struct nested *x = container_of(n, struct nested, n);

	x->r_rel_register = uhmm_notifier_register(&x->other, mm);
	x->r_rel_unregister = uhmm_notifier_unregister(n);
}

static struct uhmm_notifier *nested_alloc(struct uhmm_mm *mm)
{
	return calloc(1, sizeof(struct uhmm_notifier));
}

static void nested_free(struct uhmm_notifier *n)
{
	free(n);
}

static const struct uhmm_notifier_ops nested_ops = {
	.release = nested_release,
	.invalidate_range_start = nested_start,
	.alloc_notifier = nested_alloc,
	.free_notifier = nested_free,
};

static void refused_from_callback(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct nested x = { .n.ops = &nested_ops, .other.ops = &nested_ops };
	unsigned long ps = uhmm_page_size();

	assert_int_equal(uhmm_notifier_register(&x.n, mm), 0);
	assert_int_equal(invalidate(mm, 0, ps, UHMM_RANGE_BLOCKABLE), 0);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.r_register, -EDEADLK);
	assert_int_equal(x.r_unregister, -EDEADLK);
	assert_int_equal(x.r_get, -EDEADLK);
	assert_int_equal(x.r_sync, -EDEADLK);
	/* Still registered (the nested unregister did nothing)... */
	assert_int_equal(invalidate(mm, 0, ps, UHMM_RANGE_BLOCKABLE), 0);
	assert_int_equal(x.calls, 2);
	/* ... and refused inside ->release() as well. */
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	assert_int_equal(x.r_rel_register, -EDEADLK);
	assert_int_equal(x.r_rel_unregister, -EDEADLK);
	assert_int_equal(uhmm_notifier_unregister(&x.n), 0);
	/* The nested register never took effect. */
	assert_int_equal(uhmm_notifier_unregister(&x.other), -EINVAL);
	uhmm_mm_drop(mm);
}

/* ------------------------------------------------------------------ */
/* invalidate_range_start / end                                          */

static void callbacks_see_the_range(void **state)
{
	struct uhmm_mm *mm = mm_new();
	unsigned long ps = uhmm_page_size();
	struct uhmm_notifier_range in;
	int owner_token;
	struct rec r;

	rec_init(&r);
	assert_int_equal(uhmm_notifier_register(&r.n, mm), 0);
	uhmm_notifier_range_init(&in, UHMM_EVENT_MIGRATE, UHMM_RANGE_BLOCKABLE,
				 mm, 3 * ps + 1, 5 * ps - 1);
	in.owner = &owner_token;
	assert_int_equal(uhmm_invalidate_range_start(&in), 0);
	assert_int_equal(ld(&r.starts), 1);
	assert_int_equal(ld(&r.ends), 0);	/* not before range_end */
	uhmm_invalidate_range_end(&in);
	assert_int_equal(ld(&r.ends), 1);
	assert_ptr_equal(r.first.mm, mm);
	assert_int_equal(r.first.start, 3 * ps);	/* rounded to pages */
	assert_int_equal(r.first.end, 5 * ps);
	assert_int_equal(r.first.event, UHMM_EVENT_MIGRATE);
	assert_int_equal(r.first.flags, UHMM_RANGE_BLOCKABLE);
	assert_ptr_equal(r.first.owner, &owner_token);
	assert_memory_equal(&r.first, &r.last, sizeof(r.first));
	assert_int_equal(uhmm_notifier_unregister(&r.n), 0);
	uhmm_mm_put(mm);
}

struct ival {
	struct uhmm_interval_sub sub;
	int calls;
};

static bool ival_invalidate(struct uhmm_interval_sub *sub,
			    const struct uhmm_notifier_range *range,
			    unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	container_of(sub, struct ival, sub)->calls++;
	return true;
}

static const struct uhmm_interval_sub_ops ival_ops = {
	.invalidate = ival_invalidate,
};

/*
 * Non-blockable start where subs[@bad] refuses: -EAGAIN, and whatever had
 * started is ended again.  Return how many ends that undo made.
 */
static int eagain_case(struct uhmm_mm *mm, struct rec *subs, int bad,
			struct ival *iv)
{
	unsigned long ps = uhmm_page_size(), seq;
	struct uhmm_notifier_range r;
	int i, undone;

	for (i = 0; i < 2; i++) {
		subs[i].starts = subs[i].ends = 0;
		subs[i].fail_start = i == bad;
	}
	uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, 0, mm, 0, 4 * ps);
	assert_int_equal(uhmm_invalidate_range_start(&r), -EAGAIN);
	assert_int_equal(ld(&subs[bad].starts), 1);
	assert_int_equal(ld(&subs[bad].ends), 0);
	/* The other one got an end if and only if it had started. */
	assert_int_equal(ld(&subs[!bad].ends), ld(&subs[!bad].starts));
	undone = ld(&subs[!bad].ends);
	/* The interval is not left invalidating: read_begin returns, and a
	 * new invalidation gets through and is seen by read_retry. */
	seq = uhmm_interval_read_begin(&iv->sub);
	assert_false(uhmm_interval_read_retry(&iv->sub, seq));
	assert_int_equal(invalidate(mm, 0, ps, UHMM_RANGE_BLOCKABLE), 0);
	assert_true(uhmm_interval_read_retry(&iv->sub, seq));
	seq = uhmm_interval_read_begin(&iv->sub);
	assert_false(uhmm_interval_read_retry(&iv->sub, seq));
	return undone;
}

static void eagain_undoes_started(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct harness_watchdog wd;
	struct rec subs[2];
	struct ival iv = { 0 };
	int undone;

	harness_watchdog_start(&wd, 60, "eagain_undoes_started");
	rec_init(&subs[0]);
	rec_init(&subs[1]);
	assert_int_equal(uhmm_notifier_register(&subs[0].n, mm), 0);
	assert_int_equal(uhmm_notifier_register(&subs[1].n, mm), 0);
	assert_int_equal(uhmm_interval_sub_insert(&iv.sub, mm, 0,
						  uhmm_page_size(),
						  &ival_ops), 0);
	undone = eagain_case(mm, subs, 0, &iv);
	undone += eagain_case(mm, subs, 1, &iv);
	/* Whatever the dispatch order, one case had a start to undo. */
	assert_int_equal(undone, 1);
	assert_true(iv.calls >= 2);
	assert_int_equal(uhmm_interval_sub_remove(&iv.sub), 0);
	assert_int_equal(uhmm_notifier_unregister(&subs[0].n), 0);
	assert_int_equal(uhmm_notifier_unregister(&subs[1].n), 0);
	harness_watchdog_stop(&wd);
	uhmm_mm_put(mm);
}

/* ------------------------------------------------------------------ */
/* get / put                                                            */

struct shared {
	struct uhmm_notifier n;
	int put_in_release;
	int hold_start;		/* atomic: start blocks until go */
	sem_t entered, go;
};

/* Counters outside the subscription: it is freed under our feet. */
static struct {
	int allocs, frees, releases;	/* atomic */
	int fail_alloc;			/* atomic */
	int frees_at_release;		/* frees seen after put in release */
	int frees_in_cb;		/* frees seen by a held callback */
} sh;

static void sh_reset(void)
{
	memset(&sh, 0, sizeof(sh));
	sh.frees_at_release = -1;
	sh.frees_in_cb = -1;
}

static struct uhmm_notifier *shared_alloc(struct uhmm_mm *mm)
{
	struct shared *s;

	inc(&sh.allocs);
	if (ld(&sh.fail_alloc))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	sem_init(&s->entered, 0, 0);
	sem_init(&s->go, 0, 0);
	return &s->n;
}

static void shared_free(struct uhmm_notifier *n)
{
	struct shared *s = container_of(n, struct shared, n);

	sem_destroy(&s->entered);
	sem_destroy(&s->go);
	free(s);
	inc(&sh.frees);
}

static void shared_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	struct shared *s = container_of(n, struct shared, n);

	inc(&sh.releases);
	if (s->put_in_release) {
		uhmm_notifier_put(n);	/* may be the last reference */
		sh.frees_at_release = ld(&sh.frees);
	}
}

static int shared_start(struct uhmm_notifier *n,
			const struct uhmm_notifier_range *range)
{
	struct shared *s = container_of(n, struct shared, n);

	if (!ld(&s->hold_start))
		return 0;
	sem_post(&s->entered);
	sem_wait(&s->go);
	/* The last put happened meanwhile: @s must still be allocated. */
	__atomic_store_n(&s->hold_start, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sh.frees_in_cb, ld(&sh.frees), __ATOMIC_SEQ_CST);
	return 0;
}

static const struct uhmm_notifier_ops shared_ops = {
	.release = shared_release,
	.invalidate_range_start = shared_start,
	.alloc_notifier = shared_alloc,
	.free_notifier = shared_free,
};

static struct shared *get_shared(struct uhmm_mm *mm)
{
	struct uhmm_notifier *n = NULL;

	assert_int_equal(uhmm_notifier_get(&shared_ops, mm, &n), 0);
	assert_non_null(n);
	assert_ptr_equal(n->ops, &shared_ops);
	assert_ptr_equal(n->mm, mm);
	return container_of(n, struct shared, n);
}

static void get_shares_one(void **state)
{
	struct uhmm_mm *mm = mm_new(), *other = mm_new();
	struct shared *a, *b, *c;

	sh_reset();
	a = get_shared(mm);
	b = get_shared(mm);
	assert_ptr_equal(a, b);
	assert_int_equal(ld(&sh.allocs), 1);
	c = get_shared(other);
	assert_ptr_not_equal(a, c);
	assert_int_equal(ld(&sh.allocs), 2);
	uhmm_notifier_put(&a->n);
	uhmm_notifier_put(&b->n);
	uhmm_notifier_put(&c->n);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 2);
	/* After the last put a get allocates a new one. */
	a = get_shared(mm);
	assert_int_equal(ld(&sh.allocs), 3);
	uhmm_notifier_put(&a->n);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 3);
	assert_int_equal(ld(&sh.releases), 0);
	uhmm_mm_put(other);
	uhmm_mm_put(mm);
}

/* put never calls ->release(), neither then nor at a later teardown. */
static void put_never_releases(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct shared *s;
	struct rec r;

	sh_reset();
	s = get_shared(mm);
	rec_init(&r);
	assert_int_equal(uhmm_notifier_register(&r.n, mm), 0);
	uhmm_notifier_put(&s->n);
	assert_int_equal(ld(&sh.releases), 0);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 1);
	uhmm_mm_put(mm);		/* teardown: releases r only */
	assert_int_equal(ld(&r.releases), 1);
	assert_int_equal(ld(&sh.releases), 0);
	assert_int_equal(uhmm_notifier_unregister(&r.n), 0);
}

static void *hold_invalidate(void *arg)
{
	struct uhmm_mm *mm = arg;
	long ret = invalidate(mm, 0, uhmm_page_size(), UHMM_RANGE_BLOCKABLE);

	return (void *)ret;
}

/* The last put frees only after a callback running in another thread ends. */
static void put_waits_for_running_callback(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct harness_watchdog wd;
	struct shared *s;
	void *ret;
	pthread_t t;

	sh_reset();
	s = get_shared(mm);
	harness_watchdog_start(&wd, 60, "put_waits_for_running_callback");
	__atomic_store_n(&s->hold_start, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_create(&t, NULL, hold_invalidate, mm), 0);
	sem_wait(&s->entered);
	uhmm_notifier_put(&s->n);	/* the last: neither waits nor frees */
	assert_int_equal(ld(&sh.frees), 0);
	usleep(20000);		/* a free that did not wait would run */
	assert_int_equal(ld(&sh.frees), 0);
	sem_post(&s->go);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((long)ret, 0);
	harness_watchdog_stop(&wd);
	assert_int_equal(ld(&sh.frees_in_cb), 0);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 1);
	assert_int_equal(ld(&sh.releases), 0);
	uhmm_mm_put(mm);
}

static void synchronize_waits_for_frees(void **state)
{
	struct uhmm_mm *mm[8];
	int i;

	sh_reset();
	for (i = 0; i < 8; i++) {
		mm[i] = mm_new();
		uhmm_notifier_put(&get_shared(mm[i])->n);
		uhmm_mm_put(mm[i]);	/* the subscription keeps it */
	}
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 8);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 8);
}

/* The last put, from inside ->release(): allowed, and the free comes later. */
static void put_from_release(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct shared *s;

	sh_reset();
	s = get_shared(mm);
	s->put_in_release = 1;
	uhmm_mm_put(mm);		/* teardown: ->release() puts */
	assert_int_equal(ld(&sh.releases), 1);
	assert_int_equal(sh.frees_at_release, 0);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 1);
	assert_int_equal(ld(&sh.releases), 1);
}

static void get_errors(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct uhmm_notifier *n = NULL;
	struct shared *s;

	sh_reset();
	__atomic_store_n(&sh.fail_alloc, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(uhmm_notifier_get(&shared_ops, mm, &n), -ENOMEM);
	assert_int_equal(ld(&sh.allocs), 1);
	__atomic_store_n(&sh.fail_alloc, 0, __ATOMIC_SEQ_CST);
	s = get_shared(mm);		/* nothing was left registered */
	assert_int_equal(ld(&sh.allocs), 2);
	uhmm_notifier_put(&s->n);
	assert_int_equal(uhmm_notifier_get(NULL, mm, &n), -EINVAL);
	assert_int_equal(uhmm_notifier_get(&shared_ops, NULL, &n), -EINVAL);
	assert_int_equal(uhmm_notifier_get(&shared_ops, mm, NULL), -EINVAL);

	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);		/* torn down */
	assert_int_equal(uhmm_notifier_get(&shared_ops, mm, &n), -ESRCH);
	assert_int_equal(ld(&sh.allocs), 2);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 1);
	uhmm_mm_drop(mm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unregister_calls_release_once),
		cmocka_unit_test(teardown_then_unregister_release_once),
		cmocka_unit_test(register_errors),
		cmocka_unit_test(no_callback_after_unregister),
		cmocka_unit_test(refused_from_callback),
		cmocka_unit_test(callbacks_see_the_range),
		cmocka_unit_test(eagain_undoes_started),
		cmocka_unit_test(get_shares_one),
		cmocka_unit_test(put_never_releases),
		cmocka_unit_test(put_waits_for_running_callback),
		cmocka_unit_test(synchronize_waits_for_frees),
		cmocka_unit_test(put_from_release),
		cmocka_unit_test(get_errors),
	};

	return HARNESS_MAIN(tests);
}
