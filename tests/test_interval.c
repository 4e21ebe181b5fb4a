/* SPDX-License-Identifier: MIT */
/*
 * test_interval.c - interval subscriptions, one rule at a time: argument
 * errors, the sequence (odd per subscription, moved only by overlapping
 * changes, even again after the last concurrent end), what the callback
 * receives, read_begin waiting only for its own subscription, inserts and
 * removes during an invalidation, and a refused non-blockable start.
 *
 * "Blocks" is observed from a helper thread: still running after a short
 * wait while the invalidation is held open (a correct wait never ends by
 * itself, so a slow machine cannot fail it), then finished after the end.
 */
#include <errno.h>
#include <limits.h>
#include <sys/mman.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#define NPAGES 4
#define BLOCKED_MS 200		/* how long "still blocked" is watched */
#define DONE_MS 10000		/* bound on a wait that must end */

static char *region;
static unsigned long ps;

static unsigned long pg(unsigned int i)
{
	return (unsigned long)region + i * ps;
}

static void map_region(void)
{
	ps = uhmm_page_size();
	region = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(region, 1, NPAGES * ps);
}

/* ------------------------------------------------------------------ */
/* A subscription that records its callbacks                          */

struct rec {
	struct uhmm_interval_sub sub;
	bool refuse_nonblocking;	/* return false when not blockable */
	unsigned int sleep_ms;		/* sleep inside the callback */
	void (*inside)(struct rec *);	/* run inside the callback */
	unsigned long calls;		/* atomic */
	unsigned long cur_seq;		/* atomic */
	int entered, exited;		/* atomic */
	struct uhmm_notifier_range last;	/* read after the call ends */
};

static struct rec *to_rec(struct uhmm_interval_sub *sub)
{
	return (struct rec *)((char *)sub - offsetof(struct rec, sub));
}

static bool rec_invalidate(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *r,
			   unsigned long cur_seq)
{
	struct rec *c = to_rec(sub);

	__atomic_store_n(&c->entered, 1, __ATOMIC_RELEASE);
	c->last = *r;
	if (c->inside)
		c->inside(c);
	if (c->refuse_nonblocking && !uhmm_range_blockable(r))
		return false;
	if (c->sleep_ms)
		usleep(c->sleep_ms * 1000);
	uhmm_interval_set_seq(sub, cur_seq);
	__atomic_store_n(&c->cur_seq, cur_seq, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&c->exited, 1, __ATOMIC_RELEASE);
	return true;
}

static const struct uhmm_interval_sub_ops rec_ops = {
	.invalidate = rec_invalidate,
};

static unsigned long calls(struct rec *c)
{
	return __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
}

/* Insert @c over pages [first, first + n). */
static void rec_insert(struct rec *c, unsigned int first, unsigned int n)
{
	assert_int_equal(uhmm_interval_sub_insert(&c->sub, uhmm_mm_current(),
						  pg(first), n * ps, &rec_ops),
			 0);
}

static void range_of(struct uhmm_notifier_range *r, unsigned int first,
		     unsigned int n, unsigned int flags)
{
	uhmm_notifier_range_init(r, UHMM_EVENT_CLEAR, flags, uhmm_mm_current(),
				 pg(first), pg(first + n));
}

static void hold_open(struct uhmm_notifier_range *r, unsigned int first,
		      unsigned int n)
{
	range_of(r, first, n, UHMM_RANGE_BLOCKABLE);
	assert_int_equal(uhmm_invalidate_range_start(r), 0);
}

static void change(unsigned int first, unsigned int n)
{
	struct uhmm_notifier_range r;

	range_of(&r, first, n, UHMM_RANGE_BLOCKABLE);
	assert_int_equal(uhmm_invalidate(&r), 0);
}

/* ------------------------------------------------------------------ */
/* A helper thread doing one call that may block                      */

enum bg_op { BG_READ_BEGIN, BG_REMOVE };

struct bg {
	pthread_t thread;
	enum bg_op op;
	struct uhmm_interval_sub *sub;
	unsigned long seq;
	int ret;
	int done;		/* atomic */
};

static void *bg_fn(void *arg)
{
	struct bg *b = arg;

	if (b->op == BG_READ_BEGIN)
		b->seq = uhmm_interval_read_begin(b->sub);
	else
		b->ret = uhmm_interval_sub_remove(b->sub);
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void bg_start(struct bg *b, enum bg_op op, struct rec *c)
{
	memset(b, 0, sizeof(*b));
	b->op = op;
	b->sub = &c->sub;
	assert_int_equal(pthread_create(&b->thread, NULL, bg_fn, b), 0);
}

/* Has the call returned within @ms? */
static bool bg_done_within(struct bg *b, unsigned int ms)
{
	unsigned int i;

	for (i = 0; i < ms; i++) {
		if (__atomic_load_n(&b->done, __ATOMIC_ACQUIRE))
			return true;
		usleep(1000);
	}
	return __atomic_load_n(&b->done, __ATOMIC_ACQUIRE);
}

static void bg_join(struct bg *b)
{
	assert_true(bg_done_within(b, DONE_MS));
	assert_int_equal(pthread_join(b->thread, NULL), 0);
}

/* The call must not block while something is held open. */
static void bg_expect_prompt(struct bg *b)
{
	bool done = bg_done_within(b, DONE_MS);

	if (!done)
		fail_msg("call blocked for %d ms", DONE_MS);
	assert_int_equal(pthread_join(b->thread, NULL), 0);
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */

static void insert_rejects_bad_arguments(void **state)
{
	struct uhmm_interval_sub_ops no_cb = { 0 };
	struct uhmm_mm *mm = uhmm_mm_current();
	static struct rec c;

	assert_int_equal(uhmm_interval_sub_insert(&c.sub, mm, pg(0), 0,
						  &rec_ops), -EINVAL);
	assert_int_equal(uhmm_interval_sub_insert(&c.sub, mm, ULONG_MAX - 10,
						  100, &rec_ops), -EINVAL);
	assert_int_equal(uhmm_interval_sub_insert(&c.sub, mm, pg(0), ps,
						  &no_cb), -EINVAL);
	assert_int_equal(uhmm_interval_sub_insert(&c.sub, mm, pg(0), ps,
						  NULL), -EINVAL);
	/* The last byte of the address space is a valid end. */
	assert_int_equal(uhmm_interval_sub_insert(&c.sub, mm, ULONG_MAX - ps + 1,
						  ps, &rec_ops), 0);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
}

static void insert_on_torn_down_mm_fails(void **state)
{
	struct uhmm_mm *mm;
	static struct rec c;

	assert_int_equal(uhmm_mm_create(&mm), 0);
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);	/* the only user: teardown */
	assert_false(uhmm_mm_alive(mm));
	assert_int_equal(uhmm_interval_sub_insert(&c.sub, mm, pg(0), ps,
						  &rec_ops), -ESRCH);
	uhmm_mm_drop(mm);
}

static void remove_rejects_unknown_sub(void **state)
{
	static struct rec c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), -EINVAL);
	assert_int_equal(uhmm_interval_sub_remove(NULL), -EINVAL);
	rec_insert(&c, 0, 1);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), -EINVAL);
}

static void invalidate_rejects_bad_ranges(void **state)
{
	struct uhmm_notifier_range bad[6];
	static struct rec c;
	unsigned int i;

	rec_insert(&c, 0, 2);
	range_of(&bad[0], 1, 0, UHMM_RANGE_BLOCKABLE);	/* start == end */
	uhmm_notifier_range_init(&bad[1], UHMM_EVENT_CLEAR, UHMM_RANGE_BLOCKABLE,
				 uhmm_mm_current(), pg(2), pg(1));
	range_of(&bad[2], 0, 1, UHMM_RANGE_BLOCKABLE);
	bad[2].event = UHMM_EVENT__COUNT;
	range_of(&bad[3], 0, 1, UHMM_RANGE_BLOCKABLE);
	bad[3].event = (enum uhmm_event)-1;
	range_of(&bad[4], 0, 1, UHMM_RANGE__ALL + 1);
	range_of(&bad[5], 0, 1, UHMM_RANGE_BLOCKABLE);
	bad[5].mm = NULL;
	for (i = 0; i < 6; i++) {
		assert_int_equal(uhmm_invalidate(&bad[i]), -EINVAL);
		assert_int_equal(uhmm_invalidate_range_start(&bad[i]), -EINVAL);
	}
	assert_int_equal(uhmm_invalidate(NULL), -EINVAL);
	assert_int_equal(calls(&c), 0);
	change(0, 1);	/* and nothing was left half-started */
	assert_int_equal(calls(&c), 1);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
}

/* Inside a callback every insert and remove is refused. */
static struct rec other, fresh;
static int cb_ret[4];

static void try_from_callback(struct rec *self)
{
	static const struct uhmm_notifier_ops nops = { 0 };
	static struct uhmm_notifier n = { .ops = &nops };

	cb_ret[0] = uhmm_interval_sub_insert(&fresh.sub, uhmm_mm_current(),
					     pg(3), ps, &rec_ops);
	cb_ret[1] = uhmm_interval_sub_remove(&self->sub);
	cb_ret[2] = uhmm_interval_sub_remove(&other.sub);
	cb_ret[3] = uhmm_notifier_register(&n, uhmm_mm_current());
}

static void insert_remove_from_callback_refused(void **state)
{
	static struct rec c = { .inside = try_from_callback };
	unsigned int i;

	rec_insert(&c, 0, 1);
	rec_insert(&other, 2, 1);	/* inserted: remove would succeed */
	change(0, 1);
	assert_int_equal(calls(&c), 1);
	for (i = 0; i < 4; i++)
		assert_int_equal(cb_ret[i], -EDEADLK);
	/* Nothing was done: @fresh is not inserted, the others still are. */
	assert_int_equal(uhmm_interval_sub_remove(&fresh.sub), -EINVAL);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
	assert_int_equal(uhmm_interval_sub_remove(&other.sub), 0);
}

/* ------------------------------------------------------------------ */
/* The sequence                                                       */

/*
 * A subscription's sequence is odd, and only a change overlapping it (after
 * rounding to pages) calls it and moves the sequence.
 */
static void seq_moves_only_on_overlap(void **state)
{
	struct uhmm_notifier_range r;
	static struct rec c;
	unsigned long seq, seq2;

	assert_int_equal(uhmm_interval_sub_insert(&c.sub, uhmm_mm_current(),
						  pg(1) + 100, 100, &rec_ops),
			 0);
	seq = uhmm_interval_read_begin(&c.sub);
	assert_int_equal(seq & 1, 1);
	change(0, 1);		/* ends where the page of the sub begins */
	change(2, 2);		/* begins at the next page */
	assert_int_equal(calls(&c), 0);
	assert_false(uhmm_interval_read_retry(&c.sub, seq));
	assert_int_equal(uhmm_interval_read_begin(&c.sub), seq);

	/* Bytes 300..399 of the page do not touch 100..199, but the change
	 * is page sized: the subscription is hit. */
	range_of(&r, 1, 0, UHMM_RANGE_BLOCKABLE);
	r.start = pg(1) + 300;
	r.end = pg(1) + 400;
	assert_int_equal(uhmm_invalidate(&r), 0);
	assert_int_equal(calls(&c), 1);
	assert_true(uhmm_interval_read_retry(&c.sub, seq));
	assert_int_equal(c.cur_seq & 1, 1);
	seq2 = uhmm_interval_read_begin(&c.sub);
	assert_int_equal(seq2, c.cur_seq);
	assert_int_not_equal(seq2, seq);
	assert_false(uhmm_interval_read_retry(&c.sub, seq2));
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
}

/* The callback sees the kind, the page-aligned range, flags and owner. */
static void callback_gets_event_range_flags(void **state)
{
	static const unsigned int flags[] = {
		UHMM_RANGE_BLOCKABLE, UHMM_RANGE_BLOCKABLE | UHMM_RANGE_AFTER,
		UHMM_RANGE_AFTER, 0,
	};
	struct uhmm_notifier_range r;
	static struct rec c;
	unsigned int e, f;
	int owner;

	rec_insert(&c, 1, 2);
	for (e = 0; e < UHMM_EVENT__COUNT; e++) {
		for (f = 0; f < 4; f++) {
			uhmm_notifier_range_init(&r, (enum uhmm_event)e,
						 flags[f], uhmm_mm_current(),
						 pg(1) + 5, pg(2) + 7);
			r.owner = &owner;
			assert_int_equal(uhmm_invalidate(&r), 0);
			assert_int_equal(calls(&c), e * 4 + f + 1);
			assert_int_equal(c.last.event, e);
			assert_int_equal(c.last.flags, flags[f]);
			assert_ptr_equal(c.last.owner, &owner);
			assert_ptr_equal(c.last.mm, uhmm_mm_current());
			assert_int_equal(c.last.start, pg(1));
			assert_int_equal(c.last.end, pg(3));
		}
	}
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
}

/*
 * Two overlapping invalidations share one odd sequence; the subscription
 * stays colliding until the last of them ends.
 */
static void seq_even_only_after_last_end(void **state)
{
	struct uhmm_notifier_range r1, r2;
	static struct rec c;
	unsigned long first;
	static struct bg b;

	rec_insert(&c, 0, 2);
	hold_open(&r1, 0, 1);
	first = c.cur_seq;
	hold_open(&r2, 1, 1);
	assert_int_equal(calls(&c), 2);
	assert_int_equal(c.cur_seq, first);
	bg_start(&b, BG_READ_BEGIN, &c);
	uhmm_invalidate_range_end(&r2);
	assert_false(bg_done_within(&b, BLOCKED_MS));
	uhmm_invalidate_range_end(&r1);
	bg_join(&b);
	assert_int_equal(b.seq, first);
	assert_false(uhmm_interval_read_retry(&c.sub, b.seq));
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
}

/* read_begin waits only while its own subscription is being invalidated. */
static void read_begin_waits_only_for_own(void **state)
{
	struct uhmm_notifier_range r;
	static struct rec a, b;
	static struct bg ta, tb;

	rec_insert(&a, 0, 1);
	rec_insert(&b, 2, 1);
	hold_open(&r, 0, 1);
	assert_int_equal(calls(&a), 1);
	assert_int_equal(calls(&b), 0);
	bg_start(&tb, BG_READ_BEGIN, &b);
	bg_start(&ta, BG_READ_BEGIN, &a);
	bg_expect_prompt(&tb);
	assert_false(uhmm_interval_read_retry(&b.sub, tb.seq));
	/* Same thread as the open invalidation: still no wait for B. */
	assert_int_equal(uhmm_interval_read_begin(&b.sub), tb.seq);
	assert_false(bg_done_within(&ta, BLOCKED_MS));
	uhmm_invalidate_range_end(&r);
	bg_join(&ta);
	assert_int_equal(ta.seq, a.cur_seq);
	assert_false(uhmm_interval_read_retry(&a.sub, ta.seq));
	assert_int_equal(uhmm_interval_sub_remove(&a.sub), 0);
	assert_int_equal(uhmm_interval_sub_remove(&b.sub), 0);
}

/* ------------------------------------------------------------------ */
/* Insert and remove during an invalidation                           */

/*
 * @hit_first: the open invalidation hits a subscription; otherwise it hits
 * nothing (it is still running, and the kernel treats inserts during it the
 * same way: the new subscription may cover what is changing).
 */
static void insert_during(bool hit_first)
{
	static struct rec x, y, z, w;
	static struct bg ty, tz, tw;
	struct uhmm_notifier_range r;
	unsigned long seq_x, seq_w;

	memset(&x, 0, sizeof(x));	/* both variants may run in one process */
	memset(&y, 0, sizeof(y));
	memset(&z, 0, sizeof(z));
	memset(&w, 0, sizeof(w));
	rec_insert(&w, 3, 1);		/* untouched bystander */
	if (hit_first)
		rec_insert(&x, 0, 1);
	seq_x = hit_first ? uhmm_interval_read_begin(&x.sub) : 0;
	seq_w = uhmm_interval_read_begin(&w.sub);
	hold_open(&r, 0, 1);
	rec_insert(&y, 0, 1);		/* returns at once: never waits */
	rec_insert(&z, 2, 1);		/* even outside the open range */
	assert_int_equal(calls(&y) + calls(&z), 0);
	bg_start(&ty, BG_READ_BEGIN, &y);
	bg_start(&tz, BG_READ_BEGIN, &z);
	bg_start(&tw, BG_READ_BEGIN, &w);
	bg_expect_prompt(&tw);
	assert_false(bg_done_within(&ty, BLOCKED_MS));
	assert_false(bg_done_within(&tz, 1));
	uhmm_invalidate_range_end(&r);
	bg_join(&ty);
	bg_join(&tz);
	assert_int_equal(ty.seq & 1, 1);
	/* Pairs spanning the end: the new ones have nothing to retry, the
	 * bystander was not hit, the one hit must retry. */
	assert_false(uhmm_interval_read_retry(&y.sub, ty.seq));
	assert_false(uhmm_interval_read_retry(&z.sub, tz.seq));
	assert_false(uhmm_interval_read_retry(&w.sub, seq_w));
	if (hit_first)
		assert_true(uhmm_interval_read_retry(&x.sub, seq_x));
	/* The deferred insert was applied: the next change reaches Y. */
	change(0, 1);
	assert_int_equal(calls(&y), 1);
	assert_true(uhmm_interval_read_retry(&y.sub, ty.seq));
	assert_int_equal(calls(&z) + calls(&w), 0);
	if (hit_first)
		assert_int_equal(uhmm_interval_sub_remove(&x.sub), 0);
	assert_int_equal(uhmm_interval_sub_remove(&y.sub), 0);
	assert_int_equal(uhmm_interval_sub_remove(&z.sub), 0);
	assert_int_equal(uhmm_interval_sub_remove(&w.sub), 0);
}

static void insert_during_hitting_invalidation(void **state)
{
	insert_during(true);
}

static void insert_during_idle_invalidation(void **state)
{
	insert_during(false);
}

/* A remove while the subscription's invalidation is open waits for its end,
 * and a subscription inserted and removed inside one is never called (its
 * remove may wait for the end too, so it runs in a helper thread). */
static void remove_during_invalidation_deferred(void **state)
{
	struct uhmm_notifier_range r;
	static struct rec x, y;
	static struct bg tx, ty;

	rec_insert(&x, 0, 1);
	hold_open(&r, 0, 1);
	rec_insert(&y, 0, 1);
	bg_start(&ty, BG_REMOVE, &y);
	bg_start(&tx, BG_REMOVE, &x);
	assert_false(bg_done_within(&tx, BLOCKED_MS));
	uhmm_invalidate_range_end(&r);
	bg_join(&tx);
	bg_join(&ty);
	assert_int_equal(tx.ret, 0);
	assert_int_equal(ty.ret, 0);
	change(0, 1);
	assert_int_equal(calls(&x), 1);
	assert_int_equal(calls(&y), 0);
	assert_int_equal(uhmm_interval_sub_remove(&x.sub), -EINVAL);
}

struct invalidator {
	pthread_t thread;
	unsigned int first, n, flags;
	int ret;
};

static void *invalidator_fn(void *arg)
{
	struct invalidator *v = arg;
	struct uhmm_notifier_range r;

	range_of(&r, v->first, v->n, v->flags);
	v->ret = uhmm_invalidate(&r);
	return NULL;
}

static void invalidate_in_thread(struct invalidator *v, unsigned int first,
				 unsigned int n, unsigned int flags)
{
	v->first = first;
	v->n = n;
	v->flags = flags;
	assert_int_equal(pthread_create(&v->thread, NULL, invalidator_fn, v), 0);
}

/* remove returns only after a running callback of the sub has returned. */
static void remove_waits_for_running_callback(void **state)
{
	static struct rec c = { .sleep_ms = 100 };
	static struct invalidator v;

	rec_insert(&c, 0, 1);
	invalidate_in_thread(&v, 0, 1, UHMM_RANGE_BLOCKABLE);
	while (!__atomic_load_n(&c.entered, __ATOMIC_ACQUIRE))
		usleep(100);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
	assert_int_equal(__atomic_load_n(&c.exited, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(pthread_join(v.thread, NULL), 0);
	assert_int_equal(v.ret, 0);
}

/* ------------------------------------------------------------------ */
/* A refused non-blockable start                                      */

static struct rec late, doomed;
static int late_ret = 1, doomed_ret = 1;
static int helper_go, helper_inserted, helper_done;	/* atomic */

static void *deferring_helper(void *arg)
{
	while (!__atomic_load_n(&helper_go, __ATOMIC_ACQUIRE))
		usleep(100);
	late_ret = uhmm_interval_sub_insert(&late.sub, uhmm_mm_current(),
					    pg(0), ps, &rec_ops);
	__atomic_store_n(&helper_inserted, 1, __ATOMIC_RELEASE);
	doomed_ret = uhmm_interval_sub_remove(&doomed.sub);
	__atomic_store_n(&helper_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Inside the refusing callback: queue an insert and a remove, then refuse. */
static void defer_from_callback(struct rec *self)
{
	if (uhmm_range_blockable(&self->last))
		return;
	__atomic_store_n(&helper_go, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&helper_inserted, __ATOMIC_ACQUIRE))
		usleep(100);
	usleep(20 * 1000);	/* let the helper reach its remove */
}

/*
 * A callback that cannot proceed on a non-blockable range refuses the
 * change: start returns -EAGAIN, everything started is ended again, the
 * sequence is even (read_begin does not wait) and deferred inserts and
 * removes queued meanwhile are applied.
 */
static void refused_start_ends_everything(void **state)
{
	static struct rec x = { .refuse_nonblocking = true,
				.inside = defer_from_callback };
	struct uhmm_notifier_range r;
	unsigned long doomed_calls;
	static struct bg tx, tl;
	pthread_t helper;
	unsigned int i;

	rec_insert(&x, 0, 1);
	rec_insert(&doomed, 0, 1);
	assert_int_equal(pthread_create(&helper, NULL, deferring_helper,
					NULL), 0);
	range_of(&r, 0, 1, 0);
	assert_int_equal(uhmm_invalidate_range_start(&r), -EAGAIN);
	for (i = 0; i < DONE_MS && !__atomic_load_n(&helper_done,
						   __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	if (!__atomic_load_n(&helper_done, __ATOMIC_ACQUIRE))
		fail_msg("the queued remove did not end with the refusal");
	assert_int_equal(pthread_join(helper, NULL), 0);
	assert_int_equal(late_ret, 0);
	assert_int_equal(doomed_ret, 0);
	bg_start(&tx, BG_READ_BEGIN, &x);
	bg_expect_prompt(&tx);
	bg_start(&tl, BG_READ_BEGIN, &late);
	bg_expect_prompt(&tl);
	doomed_calls = calls(&doomed);
	change(0, 1);
	assert_int_equal(calls(&x), 1);
	assert_int_equal(calls(&late), 1);
	assert_int_equal(calls(&doomed), doomed_calls);
	assert_true(uhmm_interval_read_retry(&late.sub, tl.seq));
	assert_int_equal(uhmm_interval_sub_remove(&x.sub), 0);
	assert_int_equal(uhmm_interval_sub_remove(&late.sub), 0);
}

static unsigned long ws_starts, ws_ends;

static int ws_start(struct uhmm_notifier *n, const struct uhmm_notifier_range *r)
{
	ws_starts++;
	return uhmm_range_blockable(r) ? 0 : -EAGAIN;
}

static void ws_end(struct uhmm_notifier *n, const struct uhmm_notifier_range *r)
{
	ws_ends++;
}

/* The same when a whole-space subscription refuses: the interval part,
 * already started, is ended. */
static void refused_by_notifier_ends_intervals(void **state)
{
	static const struct uhmm_notifier_ops ops = {
		.invalidate_range_start = ws_start,
		.invalidate_range_end = ws_end,
	};
	static struct uhmm_notifier n = { .ops = &ops };
	struct uhmm_notifier_range r;
	static struct rec v;
	static struct bg tv;

	rec_insert(&v, 0, 1);
	assert_int_equal(uhmm_notifier_register(&n, uhmm_mm_current()), 0);
	range_of(&r, 0, 1, 0);
	assert_int_equal(uhmm_invalidate_range_start(&r), -EAGAIN);
	assert_int_equal(calls(&v), 1);
	assert_int_equal(ws_starts, 1);
	assert_int_equal(ws_ends, 0);
	bg_start(&tv, BG_READ_BEGIN, &v);
	bg_expect_prompt(&tv);
	assert_int_equal(tv.seq, v.cur_seq);
	change(0, 1);
	assert_int_equal(ws_starts, 2);
	assert_int_equal(ws_ends, 1);
	assert_int_equal(calls(&v), 2);
	assert_int_equal(uhmm_notifier_unregister(&n), 0);
	assert_int_equal(uhmm_interval_sub_remove(&v.sub), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(insert_rejects_bad_arguments),
		cmocka_unit_test(insert_on_torn_down_mm_fails),
		cmocka_unit_test(remove_rejects_unknown_sub),
		cmocka_unit_test(invalidate_rejects_bad_ranges),
		cmocka_unit_test(insert_remove_from_callback_refused),
		cmocka_unit_test(seq_moves_only_on_overlap),
		cmocka_unit_test(callback_gets_event_range_flags),
		cmocka_unit_test(seq_even_only_after_last_end),
		cmocka_unit_test(read_begin_waits_only_for_own),
		cmocka_unit_test(insert_during_hitting_invalidation),
		cmocka_unit_test(insert_during_idle_invalidation),
		cmocka_unit_test(remove_during_invalidation_deferred),
		cmocka_unit_test(remove_waits_for_running_callback),
		cmocka_unit_test(refused_start_ends_everything),
		cmocka_unit_test(refused_by_notifier_ends_intervals),
	};
	struct harness_watchdog w;
	int ret;

	harness_watchdog_start(&w, 60, "test_interval");
	map_region();
	ret = HARNESS_MAIN(tests);
	munmap(region, NPAGES * ps);
	harness_watchdog_stop(&w);
	return ret;
}
