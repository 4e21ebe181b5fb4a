/* SPDX-License-Identifier: MIT */
/*
 * test_notifier.c - whole-address-space subscriptions: register/unregister
 * (release exactly once, no callback after unregister, refused from inside a
 * callback) and range start/end with the -EAGAIN undo.  get/put and the
 * deferred free are in test_notifier_get.c.
 */
#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>

#include "util.h"

static int tid(void)
{
	return (int)syscall(SYS_gettid);
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
		if (invalidate_unmap(c->mm, ps, 2 * ps, UHMM_RANGE_BLOCKABLE))
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
	assert_int_equal(invalidate_unmap(mm, 0, ps, UHMM_RANGE_BLOCKABLE), 0);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.r_register, -EDEADLK);
	assert_int_equal(x.r_unregister, -EDEADLK);
	assert_int_equal(x.r_get, -EDEADLK);
	assert_int_equal(x.r_sync, -EDEADLK);
	/* Still registered (the nested unregister did nothing)... */
	assert_int_equal(invalidate_unmap(mm, 0, ps, UHMM_RANGE_BLOCKABLE), 0);
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
	assert_int_equal(invalidate_unmap(mm, 0, ps, UHMM_RANGE_BLOCKABLE), 0);
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
	};

	return HARNESS_MAIN(tests);
}
