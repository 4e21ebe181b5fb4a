/* SPDX-License-Identifier: MIT */
/*
 * test_mm.c - address space handles: the users and count references,
 * teardown exactly once when users reach zero, the struct outliving teardown
 * while grabbed, death on reference misuse, the process handle, and
 * uhmm_mm_use() in worker threads (seed 003: a struct reference alone never
 * lets a worker use the address space).
 *
 * Teardown is observed through a registered whole-space subscription (its
 * ->release()) and an interval subscription (its UHMM_EVENT_RELEASE
 * invalidation).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "harness.h"
#include <uhmm/uhmm.h>

/*
 * Only the overflow and drop-underflow death tests look inside the handle:
 * reaching INT_MAX through the API takes 2^31 calls, and a count that reached
 * zero through the API has already been freed.
 */
#include "internal.h"

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

/* ------------------------------------------------------------------ */
/* A watcher: sees teardown through both kinds of subscription.         */

struct watch {
	struct uhmm_notifier n;
	struct uhmm_interval_sub isub;
	int releases;		/* atomic: ->release() calls */
	int release_events;	/* atomic: interval RELEASE invalidations */
};

static void watch_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	inc(&container_of(n, struct watch, n)->releases);
}

static bool watch_invalidate(struct uhmm_interval_sub *sub,
			     const struct uhmm_notifier_range *r,
			     unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	if (r->event == UHMM_EVENT_RELEASE)
		inc(&container_of(sub, struct watch, isub)->release_events);
	return true;
}

static const struct uhmm_notifier_ops watch_ops = {
	.release = watch_release,
};

static const struct uhmm_interval_sub_ops watch_iops = {
	.invalidate = watch_invalidate,
};

static void watch_start(struct watch *w, struct uhmm_mm *mm)
{
	unsigned long ps = uhmm_page_size();

	memset(w, 0, sizeof(*w));
	w->n.ops = &watch_ops;
	assert_int_equal(uhmm_notifier_register(&w->n, mm), 0);
	assert_int_equal(uhmm_interval_sub_insert(&w->isub, mm, 16 * ps, ps,
						  &watch_iops), 0);
}

static void watch_stop(struct watch *w)
{
	assert_int_equal(uhmm_interval_sub_remove(&w->isub), 0);
	assert_int_equal(uhmm_notifier_unregister(&w->n), 0);
}

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

static void *map_page(void)
{
	void *p = mmap(NULL, uhmm_page_size(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static struct uhmm_mm *mm_new(void)
{
	struct uhmm_mm *mm = NULL;

	assert_int_equal(uhmm_mm_create(&mm), 0);
	assert_non_null(mm);
	return mm;
}

/* ------------------------------------------------------------------ */
/* Death tests: run @fn in a forked child; it must die by SIGABRT with a  */
/* "uhmm:" message containing @needle.  Bounded without threads.         */

static size_t read_bounded(int fd, char *buf, size_t len, int seconds)
{
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (got < len && poll(&p, 1, seconds * 1000) == 1) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static int wait_bounded(pid_t pid, int seconds)
{
	int status = 0, i;

	for (i = 0; i < seconds * 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("child %d still running after %d s (deadlock?)", (int)pid,
		 seconds);
	return -1;
}

static void expect_death(void (*fn)(void), const char *needle)
{
	char buf[2048];
	int pfd[2], status;
	size_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		fn();
		_exit(0);	/* survived: the parent reports it */
	}
	close(pfd[1]);
	n = read_bounded(pfd[0], buf, sizeof(buf) - 1, 30);
	buf[n] = '\0';
	close(pfd[0]);
	status = wait_bounded(pid, 30);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("child did not die by SIGABRT (status 0x%x): %s",
			 status, buf);
	assert_non_null(strstr(buf, "uhmm:"));
	assert_non_null(strstr(buf, needle));
}

/* ------------------------------------------------------------------ */
/* References                                                           */

static void refs_count_users(void **state)
{
	struct uhmm_mm *mm = mm_new();

	assert_int_equal(uhmm_mm_users(mm), 1);
	assert_true(uhmm_mm_alive(mm));
	uhmm_mm_get(mm);
	assert_int_equal(uhmm_mm_users(mm), 2);
	assert_true(uhmm_mm_get_not_zero(mm));
	assert_int_equal(uhmm_mm_users(mm), 3);
	uhmm_mm_grab(mm);		/* struct references are not users */
	assert_int_equal(uhmm_mm_users(mm), 3);
	uhmm_mm_put(mm);
	uhmm_mm_put(mm);
	assert_int_equal(uhmm_mm_users(mm), 1);
	assert_true(uhmm_mm_alive(mm));
	uhmm_mm_put(mm);		/* the last: teardown */
	assert_int_equal(uhmm_mm_users(mm), 0);
	assert_false(uhmm_mm_alive(mm));
	assert_false(uhmm_mm_get_not_zero(mm));
	assert_int_equal(uhmm_mm_users(mm), 0);
	uhmm_mm_drop(mm);
}

static void teardown_once_at_zero(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct watch w;

	watch_start(&w, mm);
	uhmm_mm_grab(mm);
	uhmm_mm_get(mm);
	uhmm_mm_get(mm);
	uhmm_mm_put(mm);
	uhmm_mm_put(mm);
	assert_int_equal(ld(&w.releases), 0);
	assert_int_equal(ld(&w.release_events), 0);
	uhmm_mm_put(mm);
	assert_int_equal(ld(&w.releases), 1);
	assert_int_equal(ld(&w.release_events), 1);
	assert_false(uhmm_mm_get_not_zero(mm));
	watch_stop(&w);		/* unregister must not release again */
	assert_int_equal(ld(&w.releases), 1);
	assert_int_equal(ld(&w.release_events), 1);
	uhmm_mm_drop(mm);
}

/* After teardown only our grab holds the struct; ASan proves it survives. */
static void grab_keeps_struct_after_teardown(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct watch w;
	int i;

	watch_start(&w, mm);
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	watch_stop(&w);
	for (i = 0; i < 3; i++) {
		assert_int_equal(uhmm_mm_users(mm), 0);
		assert_false(uhmm_mm_alive(mm));
		assert_false(uhmm_mm_get_not_zero(mm));
	}
	uhmm_mm_grab(mm);
	uhmm_mm_drop(mm);
	assert_false(uhmm_mm_alive(mm));
	assert_int_equal(ld(&w.releases), 1);
	uhmm_mm_drop(mm);
}

static void die_users_overflow(void)
{
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	mm->users = INT_MAX - 1;
	uhmm_mm_get(mm);		/* INT_MAX: still fine */
	uhmm_mm_get(mm);
}

static void die_get_not_zero_overflow(void)
{
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	mm->users = INT_MAX;
	if (uhmm_mm_get_not_zero(mm))
		_exit(3);
}

static void die_count_overflow(void)
{
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	mm->count = INT_MAX;
	uhmm_mm_grab(mm);
}

static void die_put_underflow(void)
{
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	uhmm_mm_put(mm);
}

/* A count that hit zero through the API is freed; fake one that did not. */
static void die_drop_underflow(void)
{
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	mm->count = 0;
	uhmm_mm_drop(mm);
}

static void death_on_reference_misuse(void **state)
{
	expect_death(die_users_overflow, "overflow");
	expect_death(die_get_not_zero_overflow, "overflow");
	expect_death(die_count_overflow, "overflow");
	expect_death(die_put_underflow, "underflow");
	expect_death(die_drop_underflow, "underflow");
}

#ifdef UHMM_DEBUG
static void die_get_from_zero(void)
{
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	uhmm_mm_get(mm);		/* must have been get_not_zero */
}
#endif

static void death_get_without_users(void **state)
{
#ifdef UHMM_DEBUG
	expect_death(die_get_from_zero, "get_not_zero");
#else
	SKIP("uhmm_mm_get from zero users is checked in UHMM_DEBUG builds only");
#endif
}

/* ------------------------------------------------------------------ */
/* The process handle                                                   */

static void *current_fn(void *arg)
{
	struct uhmm_mm **out = arg;

	out[0] = uhmm_mm_current();
	out[1] = uhmm_mm_current();
	return NULL;
}

static void current_stable_across_threads(void **state)
{
	struct uhmm_mm *seen[4][2];
	pthread_t t[4];
	struct uhmm_mm *mm;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, current_fn,
					       seen[i]), 0);
	mm = uhmm_mm_current();
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_non_null(mm);
	assert_ptr_equal(uhmm_mm_current(), mm);
	for (i = 0; i < 4; i++) {
		assert_ptr_equal(seen[i][0], mm);
		assert_ptr_equal(seen[i][1], mm);
	}
	assert_true(uhmm_mm_alive(mm));
	assert_true(uhmm_mm_users(mm) >= 1);
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
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
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

	c.buf = map_page();
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
	unsigned long seen = 0, g;

	for (;;) {
		while ((g = __atomic_load_n(&hm.gen, __ATOMIC_ACQUIRE)) == seen)
			sched_yield();
		if (ld(&hm.stop))
			return NULL;
		seen = g;
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
	hm.buf = map_page();
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
		cmocka_unit_test(refs_count_users),
		cmocka_unit_test(teardown_once_at_zero),
		cmocka_unit_test(grab_keeps_struct_after_teardown),
		cmocka_unit_test(death_on_reference_misuse),
		cmocka_unit_test(death_get_without_users),
		cmocka_unit_test(current_stable_across_threads),
		cmocka_unit_test(use_unuse_in_worker),
		cmocka_unit_test(thread_exit_drops_use_pin),
		cmocka_unit_test(thread_exit_last_use_tears_down),
		cmocka_unit_test(grab_only_cannot_use),
		cmocka_unit_test(grab_only_race_final_put),
	};

	return HARNESS_MAIN(tests);
}
