/* SPDX-License-Identifier: MIT */
/*
 * test_release_race.c - teardown's ->release() racing unregister and put
 * (seeds 000 and 002), and an owner whose mirror switches to "all fail" on
 * release (seed 004).
 *
 * What notifier.h promises, and what is checked here per round:
 *  - a registered subscription gets ->release() exactly once, from teardown
 *    or from unregister, whichever wins; once unregister returns nothing of
 *    it runs, so it is freed right away (ASan watches);
 *  - a get/put subscription gets ->release() at most once and only from
 *    teardown, never from the thread that puts it; its ->free_notifier()
 *    runs exactly once, after any ->release() of it has returned.  (Teardown
 *    may already have picked it when the put begins, so release running
 *    while or after put returns is allowed, as in the kernel.)
 */
#include <errno.h>
#include <sched.h>

#include "util.h"

enum actor { OWNER = 1, UNREGISTERER, PUTTER };

static __thread int self;	/* enum actor of the calling thread */

/* Per round, outside the subscriptions (they are freed during the round). */
struct stats {
	int reg_releases;	/* atomic */
	int reg_release_by;	/* enum actor */
	int reg_late;		/* atomic: release after unregister */
	int sh_releases;	/* atomic */
	int sh_release_by;
	int sh_frees;		/* atomic */
	int sh_bad;		/* atomic: release and free overlap */
};

struct sub {
	struct uhmm_notifier n;
	struct stats *st;
	int in_release;		/* atomic */
};

/* Lingers a little, as a real owner's "invalidate everything" would. */
static void linger(void)
{
	volatile int i;

	for (i = 0; i < 300; i++)
		;
}

static void reg_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	struct sub *s = container_of(n, struct sub, n);

	inc(&s->in_release);
	linger();
	s->st->reg_release_by = self;
	inc(&s->st->reg_releases);
	__atomic_sub_fetch(&s->in_release, 1, __ATOMIC_SEQ_CST);
}

static const struct uhmm_notifier_ops reg_ops = {
	.release = reg_release,
};

static struct stats *alloc_for;	/* the round being set up (owner only) */

static struct uhmm_notifier *sh_alloc(struct uhmm_mm *mm)
{
	struct sub *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->st = alloc_for;
	return &s->n;
}

static void sh_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	struct sub *s = container_of(n, struct sub, n);

	inc(&s->in_release);
	linger();
	if (ld(&s->st->sh_frees))
		inc(&s->st->sh_bad);
	s->st->sh_release_by = self;
	inc(&s->st->sh_releases);
	__atomic_sub_fetch(&s->in_release, 1, __ATOMIC_SEQ_CST);
}

static void sh_free(struct uhmm_notifier *n)
{
	struct sub *s = container_of(n, struct sub, n);

	if (ld(&s->in_release))
		inc(&s->st->sh_bad);
	inc(&s->st->sh_frees);
	free(s);
}

static const struct uhmm_notifier_ops sh_ops = {
	.release = sh_release,
	.alloc_notifier = sh_alloc,
	.free_notifier = sh_free,
};

/* ------------------------------------------------------------------ */
/* The race: owner's last put, unregister, put                          */

static struct race {
	struct uhmm_mm *mm;		/* published by gen */
	struct sub *reg;
	struct uhmm_notifier *sh;
	struct stats *st;
	unsigned long gen;		/* atomic: round number */
	unsigned long go;		/* atomic: start of round gen */
	int ready;			/* atomic: workers waiting for go */
	int done;			/* atomic: workers done this round */
	int stop;			/* atomic */
	int unreg_err;			/* atomic */
	unsigned long unreg_ns;		/* unregisterer only: time inside */
} rc;

static unsigned long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000000000UL + ts.tv_nsec;
}

/*
 * A short delay, varying by round and actor, so that each of the three
 * goes first in some rounds.  On every fourth round the owner also yields
 * first, so that a worker sharing its core gets to unregister or put before
 * the teardown.
 */
static void jitter(unsigned long round, int who)
{
	unsigned long h = (round * 2654435761UL) >> (who * 5);
	volatile unsigned long i, n = h % (who == OWNER ? 2048 : 512);

	if (who == OWNER && round % 4 == 0)
		sched_yield();
	for (i = 0; i < n; i++)
		;
}

/* Spin briefly, then yield: two cores are shared by three threads. */
static void wait_go(unsigned long round)
{
	unsigned int spins = 0;

	while (__atomic_load_n(&rc.go, __ATOMIC_ACQUIRE) != round)
		if (++spins > 1000)
			sched_yield();
}

static void unregisterer_round(unsigned long round)
{
	struct sub *s = rc.reg;
	unsigned long t0;

	jitter(round, UNREGISTERER);
	t0 = now_ns();
	if (uhmm_notifier_unregister(&s->n))
		inc(&rc.unreg_err);
	rc.unreg_ns += now_ns() - t0;
	/* Nothing of @s runs any more: release done, exactly once. */
	if (ld(&s->in_release) || ld(&s->st->reg_releases) != 1)
		inc(&s->st->reg_late);
	free(s);
}

static void putter_round(unsigned long round)
{
	jitter(round, PUTTER);
	uhmm_notifier_put(rc.sh);
}

static void *worker(void *arg)
{
	unsigned long g = 0;

	self = (int)(long)arg;
	for (;;) {
		g = wait_next_round(&rc.gen, g);
		if (ld(&rc.stop))
			return NULL;
		inc(&rc.ready);
		wait_go(g);
		if (self == UNREGISTERER)
			unregisterer_round(g);
		else
			putter_round(g);
		inc(&rc.done);
	}
}

static void race_setup(struct stats *st)
{
	assert_int_equal(uhmm_mm_create(&rc.mm), 0);
	rc.st = st;
	rc.reg = calloc(1, sizeof(*rc.reg));
	assert_non_null(rc.reg);
	rc.reg->n.ops = &reg_ops;
	rc.reg->st = st;
	assert_int_equal(uhmm_notifier_register(&rc.reg->n, rc.mm), 0);
	alloc_for = st;
	assert_int_equal(uhmm_notifier_get(&sh_ops, rc.mm, &rc.sh), 0);
	rc.done = 0;
	rc.ready = 0;
}

static void race_check(const struct stats *st)
{
	assert_int_equal(ld(&st->reg_releases), 1);
	assert_true(st->reg_release_by == OWNER ||
		    st->reg_release_by == UNREGISTERER);
	assert_int_equal(ld(&st->reg_late), 0);
	assert_in_range(ld(&st->sh_releases), 0, 1);
	if (ld(&st->sh_releases))
		assert_int_equal(st->sh_release_by, OWNER);
}

static void race_round(unsigned long round, struct stats *st)
{
	race_setup(st);
	__atomic_store_n(&rc.gen, round, __ATOMIC_RELEASE);
	while (ld(&rc.ready) < 2)
		sched_yield();
	__atomic_store_n(&rc.go, round, __ATOMIC_RELEASE);
	jitter(round, OWNER);
	uhmm_mm_put(rc.mm);	/* the last users reference: teardown */
	while (ld(&rc.done) < 2)
		sched_yield();
	race_check(st);
}

static void release_races_unregister_and_put(void **state)
{
	unsigned long rounds = harness_rounds(100000), r, by_unreg = 0, sh = 0;
	struct harness_watchdog wd;
	struct stats *st = calloc(rounds, sizeof(*st));
	pthread_t t[2];

	assert_non_null(st);
	harness_watchdog_start(&wd, 110, "release_races_unregister_and_put");
	self = OWNER;
	assert_int_equal(pthread_create(&t[0], NULL, worker,
					(void *)(long)UNREGISTERER), 0);
	assert_int_equal(pthread_create(&t[1], NULL, worker,
					(void *)(long)PUTTER), 0);
	for (r = 0; r < rounds; r++) {
		race_round(r + 1, &st[r]);
		by_unreg += st[r].reg_release_by == UNREGISTERER;
		sh += st[r].sh_releases;
	}
	__atomic_store_n(&rc.stop, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&rc.gen, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t[0], NULL), 0);
	assert_int_equal(pthread_join(t[1], NULL), 0);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	harness_watchdog_stop(&wd);
	print_message("%lu rounds: registered released by unregister %lu, "
		      "by teardown %lu; get/put released %lu; unregister "
		      "%lu ns on average\n", rounds, by_unreg, rounds - by_unreg,
		      sh, rc.unreg_ns / rounds);
	assert_int_equal(ld(&rc.unreg_err), 0);
	for (r = 0; r < rounds; r++) {
		assert_int_equal(ld(&st[r].sh_frees), 1);
		assert_int_equal(ld(&st[r].sh_bad), 0);
		assert_in_range(ld(&st[r].sh_releases), 0, 1);
	}
	free(st);
}

/* ------------------------------------------------------------------ */
/* Seed 004: after release the owner's mirror fails every access         */

#define OWNER_PAGES 4

/*
 * A tiny device driver: it mirrors OWNER_PAGES pages of @buf with the
 * canonical loop.  Its watcher (util.h) counts the teardown; ->release()
 * switches it to "all fail" and the interval callback zaps the mirror, both
 * under the owner's lock.
 */
struct owner {
	struct watch w;
	pthread_mutex_t lock;
	bool dead;			/* under lock: release has run */
	int mirrored;			/* under lock: pages mirrored */
	char *buf;
	uint64_t pfns[OWNER_PAGES];
};

/* Interval callback, owner lock held. */
static void owner_zap(struct watch *w)
{
	container_of(w, struct owner, w)->mirrored = 0;
}

/* ->release(): from now on every access fails. */
static void owner_kill(struct watch *w)
{
	struct owner *o = container_of(w, struct owner, w);

	pthread_mutex_lock(&o->lock);
	o->dead = true;
	o->mirrored = 0;
	pthread_mutex_unlock(&o->lock);
}

static void owner_range(struct owner *o, struct uhmm_range *r)
{
	unsigned long ps = uhmm_page_size();

	memset(r, 0, sizeof(*r));
	r->notifier = &o->w.isub;
	r->start = (unsigned long)o->buf;
	r->end = r->start + OWNER_PAGES * ps;
	r->pfns = o->pfns;
	r->default_flags = UHMM_PFN_REQ_FAULT;
}

/* One device access: 0 with the mirror built, or a clean error. */
static int owner_access(struct owner *o)
{
	struct uhmm_range r;
	int ret;

	owner_range(o, &r);
again:
	r.notifier_seq = uhmm_interval_read_begin(&o->w.isub);
	ret = uhmm_range_fault(&r);
	if (ret == -EBUSY)
		goto again;
	if (ret)
		return ret;
	pthread_mutex_lock(&o->lock);
	if (o->dead) {
		pthread_mutex_unlock(&o->lock);
		return -ENODEV;
	}
	if (uhmm_interval_read_retry(&o->w.isub, r.notifier_seq)) {
		pthread_mutex_unlock(&o->lock);
		goto again;
	}
	o->mirrored = OWNER_PAGES;
	pthread_mutex_unlock(&o->lock);
	return 0;
}

static void owner_start(struct owner *o, struct uhmm_mm *mm, char *buf)
{
	size_t len = OWNER_PAGES * uhmm_page_size();

	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	o->buf = buf;
	o->w.lock = &o->lock;
	o->w.zap = owner_zap;
	o->w.on_release = owner_kill;
	watch_start_at(&o->w, mm, (unsigned long)buf, len);
}

/* After teardown: released once, mirror empty, every access fails. */
static void owner_check_dead(struct owner *o)
{
	struct uhmm_range r;

	assert_int_equal(ld(&o->w.releases), 1);
	assert_int_equal(ld(&o->w.release_events), 1);
	pthread_mutex_lock(&o->lock);
	assert_true(o->dead);
	assert_int_equal(o->mirrored, 0);
	pthread_mutex_unlock(&o->lock);
	owner_range(o, &r);
	r.notifier_seq = uhmm_interval_read_begin(&o->w.isub);
	assert_int_equal(uhmm_range_fault(&r), -ESRCH);
	assert_int_equal(owner_access(o), -ESRCH);
}

static void owner_stop(struct owner *o)
{
	watch_stop(&o->w);
	assert_int_equal(ld(&o->w.releases), 1);
	pthread_mutex_destroy(&o->lock);
}

static void owner_fails_after_release(void **state)
{
	char *buf = map_pages(OWNER_PAGES);
	struct uhmm_mm *mm;
	struct owner o;

	assert_int_equal(uhmm_mm_create(&mm), 0);
	owner_start(&o, mm, buf);
	assert_int_equal(owner_access(&o), 0);
	assert_int_equal(o.mirrored, OWNER_PAGES);
	assert_true(o.pfns[0] & UHMM_PFN_VALID);
	uhmm_mm_put(mm);		/* teardown */
	owner_check_dead(&o);
	owner_stop(&o);
	munmap(buf, OWNER_PAGES * uhmm_page_size());
}

/*
 * A device thread keeps accessing while the owner's last put tears down:
 * each access either builds the mirror (before) or fails cleanly (after),
 * and once one has failed every later one fails too.
 */
struct accessor {
	struct owner *o;
	int oks, fails, bad;		/* atomic */
	int stop;			/* atomic */
};

static void *access_loop(void *arg)
{
	struct accessor *a = arg;
	int ret, i;

	while (!ld(&a->stop)) {
		ret = owner_access(a->o);
		if (ret == 0) {
			inc(&a->oks);
			continue;
		}
		if (ret != -ESRCH && ret != -ENODEV)
			inc(&a->bad);
		for (i = 0; i < 3; i++) {
			ret = owner_access(a->o);
			if (ret != -ESRCH && ret != -ENODEV)
				inc(&a->bad);
		}
		inc(&a->fails);
		break;
	}
	return NULL;
}

static void owner_race_round(char *buf, unsigned long round)
{
	struct accessor a = { 0 };
	struct uhmm_mm *mm;
	struct owner o;
	pthread_t t;

	assert_int_equal(uhmm_mm_create(&mm), 0);
	owner_start(&o, mm, buf);
	a.o = &o;
	assert_int_equal(pthread_create(&t, NULL, access_loop, &a), 0);
	if (round % 2)
		while (ld(&a.oks) == 0)
			sched_yield();
	jitter(round, OWNER);
	uhmm_mm_put(mm);		/* teardown, maybe inside a fault */
	__atomic_store_n(&a.stop, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(ld(&a.bad), 0);
	owner_check_dead(&o);
	owner_stop(&o);
}

static void owner_fails_after_release_race(void **state)
{
	unsigned long rounds = harness_rounds(1000), r;
	struct harness_watchdog wd;
	char *buf = map_pages(OWNER_PAGES);

	harness_watchdog_start(&wd, 100, "owner_fails_after_release_race");
	for (r = 0; r < rounds; r++)
		owner_race_round(buf, r);
	harness_watchdog_stop(&wd);
	munmap(buf, OWNER_PAGES * uhmm_page_size());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(release_races_unregister_and_put),
		cmocka_unit_test(owner_fails_after_release),
		cmocka_unit_test(owner_fails_after_release_race),
	};

	return HARNESS_MAIN(tests);
}
