/* SPDX-License-Identifier: MIT */
/*
 * test_notifier_get.c - get/put whole-address-space subscriptions: one per
 * (ops, address space), put never calls ->release(), and the last put frees
 * through ->free_notifier() only after a grace period, never under a running
 * callback.
 */
#include <errno.h>
#include <semaphore.h>

#include "util.h"

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
	struct watch w;		/* registered: teardown does release it */

	sh_reset();
	s = get_shared(mm);
	watch_start(&w, mm);
	uhmm_notifier_put(&s->n);
	assert_int_equal(ld(&sh.releases), 0);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	assert_int_equal(ld(&sh.frees), 1);
	uhmm_mm_put(mm);		/* teardown: releases w only */
	assert_int_equal(ld(&w.releases), 1);
	assert_int_equal(ld(&sh.releases), 0);
	watch_stop(&w);			/* unregisters w */
}

static void *hold_invalidate(void *arg)
{
	long ret = invalidate_unmap(arg, 0, uhmm_page_size(),
				    UHMM_RANGE_BLOCKABLE);

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
		cmocka_unit_test(get_shares_one),
		cmocka_unit_test(put_never_releases),
		cmocka_unit_test(put_waits_for_running_callback),
		cmocka_unit_test(synchronize_waits_for_frees),
		cmocka_unit_test(put_from_release),
		cmocka_unit_test(get_errors),
	};

	return HARNESS_MAIN(tests);
}
