/* SPDX-License-Identifier: MIT */
/*
 * test_fork.c - the address space across fork() and exit().
 *
 *  - A fork child is a new address space: handles and subscriptions it
 *    inherits are inert (no callback of them ever runs there, using them
 *    fails with -ESRCH), uhmm_mm_current() is a new handle, the child can
 *    subscribe on its own, and the parent's subscriptions keep working.
 *  - exit() runs teardown exactly once (also while other threads are
 *    invalidating); _exit() runs none.
 *  - fork() while other threads hold an invalidation open, sit inside a
 *    callback, or run deferred frees neither deadlocks the parent nor leaves
 *    the child unable to use its own address space.
 *
 * Children report through their exit status and a MAP_SHARED counter page;
 * they never use cmocka.  Waits for children are bounded without threads
 * (a fork of a multi-threaded process is not supported under TSan).
 */
#include <errno.h>
#include <sched.h>
#include <semaphore.h>

#include "util.h"

#define CHILD_CHECK(cond)                                                \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "child: %s:%d: %s\n", __FILE__,  \
				__LINE__, #cond);                        \
			_exit(100);                                      \
		}                                                        \
	} while (0)

/* Callback counts of the parent's subscriptions, by the process they ran in. */
struct shm {
	int parent_calls;
	int child_calls;
	int parent_releases;
};

static struct shm *shm;
static pid_t parent_pid;
static unsigned long ps;

static void count_call(int *releases)
{
	if (getpid() != parent_pid)
		inc(&shm->child_calls);
	else if (releases)
		inc(releases);
	else
		inc(&shm->parent_calls);
}

static void setup_shm(void)
{
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shm != MAP_FAILED);
	memset(shm, 0, sizeof(*shm));
	parent_pid = getpid();
	ps = uhmm_page_size();
}

static int invalidate(struct uhmm_mm *mm, void *addr, size_t len)
{
	return invalidate_unmap(mm, (unsigned long)addr,
				(unsigned long)addr + len, UHMM_RANGE_BLOCKABLE);
}

/* @n private pages, every byte written. */
static void *map_filled(size_t n)
{
	void *p = map_pages(n);

	memset(p, 1, n * ps);
	return p;
}

/* ------------------------------------------------------------------ */
/* The parent's subscriptions: count where their callbacks run.         */

static struct {
	sem_t *entered, *go;		/* set: start blocks inside */
} hold;

static void p_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	count_call(&shm->parent_releases);
}

static int p_start(struct uhmm_notifier *n,
		   const struct uhmm_notifier_range *r)
{
	count_call(NULL);
	if (hold.entered && getpid() == parent_pid) {
		sem_post(hold.entered);
		sem_wait(hold.go);
	}
	return 0;
}

static void p_end(struct uhmm_notifier *n, const struct uhmm_notifier_range *r)
{
	count_call(NULL);
}

static bool p_invalidate(struct uhmm_interval_sub *sub,
			 const struct uhmm_notifier_range *r,
			 unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	count_call(NULL);
	return true;
}

static const struct uhmm_notifier_ops p_ops = {
	.release = p_release,
	.invalidate_range_start = p_start,
	.invalidate_range_end = p_end,
};

static const struct uhmm_interval_sub_ops p_iops = {
	.invalidate = p_invalidate,
};

/* ------------------------------------------------------------------ */
/* A child's own subscriptions, counted in its own memory.              */

static struct child_counts {
	int releases, starts, ends, invalidates;	/* atomic */
} cc;

static void c_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	inc(&cc.releases);
}

static int c_start(struct uhmm_notifier *n,
		   const struct uhmm_notifier_range *r)
{
	inc(&cc.starts);
	return 0;
}

static void c_end(struct uhmm_notifier *n, const struct uhmm_notifier_range *r)
{
	inc(&cc.ends);
}

static bool c_invalidate(struct uhmm_interval_sub *sub,
			 const struct uhmm_notifier_range *r,
			 unsigned long cur_seq)
{
	uhmm_interval_set_seq(sub, cur_seq);
	inc(&cc.invalidates);
	return true;
}

static int c_frees;			/* atomic */

static struct uhmm_notifier *c_alloc(struct uhmm_mm *mm)
{
	return calloc(1, sizeof(struct uhmm_notifier));
}

static void c_free(struct uhmm_notifier *n)
{
	free(n);
	inc(&c_frees);
}

static const struct uhmm_notifier_ops c_ops = {
	.release = c_release,
	.invalidate_range_start = c_start,
	.invalidate_range_end = c_end,
	.alloc_notifier = c_alloc,
	.free_notifier = c_free,
};

static const struct uhmm_interval_sub_ops c_iops = {
	.invalidate = c_invalidate,
};

/*
 * In a child: the new process handle works with subscriptions of its own,
 * including register/unregister and get/put (grace periods in the child).
 */
static void child_own_subscriptions(struct uhmm_mm *inherited, void *buf,
				    size_t len)
{
	struct uhmm_mm *cur = uhmm_mm_current();
	struct uhmm_notifier n = { .ops = &c_ops }, *g = NULL;
	struct uhmm_interval_sub sub;
	unsigned long seq;

	CHILD_CHECK(cur != NULL && cur != inherited);
	CHILD_CHECK(uhmm_mm_alive(cur));
	memset(&cc, 0, sizeof(cc));
	CHILD_CHECK(uhmm_notifier_register(&n, cur) == 0);
	CHILD_CHECK(uhmm_interval_sub_insert(&sub, cur, (unsigned long)buf,
					     len, &c_iops) == 0);
	seq = uhmm_interval_read_begin(&sub);
	CHILD_CHECK(invalidate(cur, buf, ps) == 0);
	CHILD_CHECK(ld(&cc.starts) == 1 && ld(&cc.ends) == 1);
	CHILD_CHECK(ld(&cc.invalidates) == 1);
	CHILD_CHECK(uhmm_interval_read_retry(&sub, seq));
	seq = uhmm_interval_read_begin(&sub);
	CHILD_CHECK(!uhmm_interval_read_retry(&sub, seq));
	CHILD_CHECK(uhmm_notifier_get(&c_ops, cur, &g) == 0);
	uhmm_notifier_put(g);
	CHILD_CHECK(uhmm_notifier_synchronize() == 0);
	CHILD_CHECK(uhmm_interval_sub_remove(&sub) == 0);
	CHILD_CHECK(uhmm_notifier_unregister(&n) == 0);
	CHILD_CHECK(ld(&cc.releases) == 1);
}

/* In a child: everything inherited is inert and calls nothing. */
static void child_inherited_inert(struct uhmm_mm *mm,
				  struct uhmm_interval_sub *isub, void *buf,
				  size_t len)
{
	struct uhmm_notifier other = { .ops = &c_ops }, *g = NULL;
	struct uhmm_interval_sub sub;
	struct uhmm_notifier_range r;

	CHILD_CHECK(!uhmm_mm_alive(mm));
	CHILD_CHECK(!uhmm_mm_get_not_zero(mm));
	uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, UHMM_RANGE_BLOCKABLE,
				 mm, (unsigned long)buf,
				 (unsigned long)buf + len);
	CHILD_CHECK(uhmm_invalidate_range_start(&r) == -ESRCH);
	CHILD_CHECK(uhmm_invalidate(&r) == -ESRCH);
	CHILD_CHECK(uhmm_notifier_register(&other, mm) == -ESRCH);
	CHILD_CHECK(uhmm_notifier_get(&c_ops, mm, &g) == -ESRCH);
	CHILD_CHECK(uhmm_interval_sub_insert(&sub, mm, (unsigned long)buf,
					     len, &c_iops) == -ESRCH);
	CHILD_CHECK(uhmm_mm_use(mm) == -ESRCH);
	(void)uhmm_interval_read_begin(isub);	/* must not wait */
	CHILD_CHECK(ld(&shm->child_calls) == 0);
}

static void fork_inherited_inert(void **state)
{
	struct uhmm_notifier n = { .ops = &p_ops };
	struct uhmm_interval_sub isub;
	struct uhmm_mm *mm;
	void *buf;
	pid_t pid;

	setup_shm();
	mm = uhmm_mm_current();
	buf = map_filled(4);
	assert_int_equal(uhmm_notifier_register(&n, mm), 0);
	assert_int_equal(uhmm_interval_sub_insert(&isub, mm, (unsigned long)buf,
						  4 * ps, &p_iops), 0);
	pid = fork_checked();
	if (pid == 0) {
		child_inherited_inert(mm, &isub, buf, 4 * ps);
		/* Announce the unmap on the new handle: still none of ours. */
		CHILD_CHECK(invalidate(uhmm_mm_current(), buf, 4 * ps) == 0);
		CHILD_CHECK(munmap(buf, 4 * ps) == 0);
		buf = map_filled(4);
		child_own_subscriptions(mm, buf, 4 * ps);
		CHILD_CHECK(ld(&shm->child_calls) == 0);
		exit(0);	/* the child's teardown: none of ours either */
	}
	expect_child_ok(pid);
	assert_int_equal(ld(&shm->child_calls), 0);
	assert_int_equal(ld(&shm->parent_calls), 0);
	/* The parent's subscriptions still work. */
	assert_int_equal(invalidate(mm, buf, ps), 0);
	/* start, end, interval */
	assert_int_equal(ld(&shm->parent_calls), 3);
	assert_int_equal(uhmm_interval_sub_remove(&isub), 0);
	assert_int_equal(uhmm_notifier_unregister(&n), 0);
	assert_int_equal(ld(&shm->parent_releases), 1);
	assert_int_equal(ld(&shm->child_calls), 0);
	munmap(buf, 4 * ps);
	munmap(shm, sizeof(*shm));
}

/* ------------------------------------------------------------------ */
/* exit() and _exit()                                                   */

static int release_fd = -1;

static void pipe_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	char c = 'R';

	if (write(release_fd, &c, 1) != 1)
		abort();
}

static int pipe_start(struct uhmm_notifier *n,
		      const struct uhmm_notifier_range *r)
{
	inc(&cc.starts);
	return 0;
}

static const struct uhmm_notifier_ops pipe_ops = {
	.release = pipe_release,
	.invalidate_range_start = pipe_start,
};

static struct uhmm_notifier exit_sub = { .ops = &pipe_ops };
static void *exit_buf;

static void *invalidate_loop(void *arg)
{
	struct uhmm_mm *mm = arg;

	for (;;)
		if (invalidate(mm, exit_buf, ps) != 0)
			abort();
	return NULL;
}

enum how { EXIT, EXIT_THREADS, UNDERSCORE_EXIT };

static void exit_child(enum how how)
{
	struct uhmm_mm *cur = uhmm_mm_current();
	pthread_t t;
	int i;

	CHILD_CHECK(uhmm_notifier_register(&exit_sub, cur) == 0);
	if (how == UNDERSCORE_EXIT)
		_exit(0);
	if (how == EXIT_THREADS) {
		exit_buf = map_filled(1);
		for (i = 0; i < 2; i++)
			CHILD_CHECK(pthread_create(&t, NULL, invalidate_loop,
						   cur) == 0);
		while (ld(&cc.starts) < 1000)
			sched_yield();
	}
	exit(0);
}

/* Fork a child that exits as told; return the release bytes it wrote
 * (one per ->release(); more than one fails the callers anyway). */
static size_t run_exit_child(enum how how)
{
	char buf[64];
	size_t got;
	int pfd[2];
	pid_t pid;

	ps = uhmm_page_size();
	assert_int_equal(pipe(pfd), 0);
	pid = fork_checked();
	if (pid == 0) {
		close(pfd[0]);
		release_fd = pfd[1];
		exit_child(how);
	}
	close(pfd[1]);
	got = read_bounded(pfd[0], buf, sizeof(buf), 60);
	close(pfd[0]);
	expect_child_ok(pid);
	return got;
}

static void exit_tears_down_once(void **state)
{
	assert_int_equal(run_exit_child(EXIT), 1);
}

static void exit_with_invalidating_threads(void **state)
{
	assert_int_equal(run_exit_child(EXIT_THREADS), 1);
}

static void underscore_exit_no_teardown(void **state)
{
	assert_int_equal(run_exit_child(UNDERSCORE_EXIT), 0);
}

/* ------------------------------------------------------------------ */
/* fork() while other threads are mid-invalidation                      */

#ifdef TEST_TSAN
/* TSan cannot follow a fork of a multi-threaded process. */
static void fork_mid_invalidation(void **state)
{
	SKIP("TSan does not support fork() of a multi-threaded process");
}

static void fork_during_deferred_frees(void **state)
{
	SKIP("TSan does not support fork() of a multi-threaded process");
}
#else

struct opener {
	struct uhmm_mm *mm;
	void *buf;
	sem_t open, go;
	int ret;
};

/* Holds an invalidation open between start and end until told. */
static void *hold_open(void *arg)
{
	struct opener *o = arg;
	struct uhmm_notifier_range r;

	uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, UHMM_RANGE_BLOCKABLE,
				 o->mm, (unsigned long)o->buf,
				 (unsigned long)o->buf + ps);
	o->ret = uhmm_invalidate_range_start(&r);
	sem_post(&o->open);
	sem_wait(&o->go);
	if (!o->ret)
		uhmm_invalidate_range_end(&r);
	return NULL;
}

/* Sits inside a whole-space callback (a read-side section) until told. */
static void *hold_inside(void *arg)
{
	struct opener *o = arg;

	o->ret = invalidate(o->mm, o->buf, ps);
	return NULL;
}

/* The parent's side: one thread holds an invalidation open, one sits
 * inside a whole-space callback of a second handle. */
struct mid {
	struct uhmm_notifier n, n2;
	struct uhmm_interval_sub isub;
	struct opener open, inside;
	pthread_t t1, t2;
};

static void opener_init(struct opener *o, struct uhmm_mm *mm, void *buf)
{
	o->mm = mm;
	o->buf = buf;
	sem_init(&o->open, 0, 0);
	sem_init(&o->go, 0, 0);
}

static void mid_start(struct mid *m)
{
	struct uhmm_mm *mm2;

	assert_int_equal(uhmm_mm_create(&mm2), 0);
	opener_init(&m->open, uhmm_mm_current(), map_filled(2));
	opener_init(&m->inside, mm2, m->open.buf);
	m->n.ops = m->n2.ops = &p_ops;
	assert_int_equal(uhmm_notifier_register(&m->n, m->open.mm), 0);
	assert_int_equal(uhmm_interval_sub_insert(&m->isub, m->open.mm,
						  (unsigned long)m->open.buf,
						  ps, &p_iops), 0);
	assert_int_equal(uhmm_notifier_register(&m->n2, mm2), 0);
	assert_int_equal(pthread_create(&m->t1, NULL, hold_open, &m->open), 0);
	sem_wait(&m->open.open);
	assert_int_equal(m->open.ret, 0);
	hold.entered = &m->inside.open;
	hold.go = &m->inside.go;
	assert_int_equal(pthread_create(&m->t2, NULL, hold_inside,
					&m->inside), 0);
	sem_wait(&m->inside.open);
}

static void mid_finish(struct mid *m)
{
	sem_post(&m->open.go);
	sem_post(&m->inside.go);
	assert_int_equal(pthread_join(m->t1, NULL), 0);
	assert_int_equal(pthread_join(m->t2, NULL), 0);
	assert_int_equal(m->inside.ret, 0);
	hold.entered = NULL;
}

/* After the fork: the parent's subscriptions still work. */
static void mid_check_and_stop(struct mid *m)
{
	__atomic_store_n(&shm->parent_calls, 0, __ATOMIC_SEQ_CST);
	(void)uhmm_interval_read_begin(&m->isub);
	assert_int_equal(invalidate(m->open.mm, m->open.buf, ps), 0);
	assert_int_equal(ld(&shm->parent_calls), 3);
	assert_int_equal(uhmm_interval_sub_remove(&m->isub), 0);
	assert_int_equal(uhmm_notifier_unregister(&m->n), 0);
	assert_int_equal(uhmm_notifier_unregister(&m->n2), 0);
	uhmm_mm_put(m->inside.mm);
	munmap(m->open.buf, 2 * ps);
}

static void fork_mid_invalidation(void **state)
{
	struct harness_watchdog wd;
	struct mid m = { 0 };
	pid_t pid;

	setup_shm();
	harness_watchdog_start(&wd, 100, "fork_mid_invalidation");
	mid_start(&m);
	wd.phase = "fork";
	pid = fork_checked();
	if (pid == 0) {
		/* Inherited: inert, even the interval being invalidated. */
		child_inherited_inert(m.open.mm, &m.isub, m.open.buf, ps);
		child_own_subscriptions(m.open.mm, m.open.buf, 2 * ps);
		_exit(0);
	}
	wd.phase = "child";
	expect_child_ok(pid);
	wd.phase = "parent after fork";
	assert_int_equal(ld(&shm->child_calls), 0);
	mid_finish(&m);
	mid_check_and_stop(&m);
	harness_watchdog_stop(&wd);
	assert_int_equal(ld(&shm->child_calls), 0);
	munmap(shm, sizeof(*shm));
}

/*
 * fork() while another thread keeps deferred frees coming: each get/put
 * subscription's free drops the last reference on its handle from the
 * grace-period thread.  At most 64 frees are pending at a time, so the
 * handles waiting for them stay few.
 */
static int churn_stop;			/* atomic */
static int churned;			/* atomic */

static void *churn_frees(void *arg)
{
	struct uhmm_notifier *g;
	struct uhmm_mm *mm;

	while (!ld(&churn_stop)) {
		if (uhmm_mm_create(&mm))
			abort();
		if (uhmm_notifier_get(&c_ops, mm, &g))
			abort();
		uhmm_mm_put(mm);	/* teardown; @g keeps the struct */
		uhmm_notifier_put(g);	/* the free drops the handle */
		inc(&churned);
		while (ld(&churned) - ld(&c_frees) > 64 && !ld(&churn_stop))
			sched_yield();
	}
	return NULL;
}

static void fork_during_deferred_frees(void **state)
{
	unsigned long i, forks = harness_rounds(300);
	struct harness_watchdog wd;
	pthread_t t;
	pid_t pid;

	ps = uhmm_page_size();
	harness_watchdog_start(&wd, 100, "fork_during_deferred_frees");
	assert_int_equal(pthread_create(&t, NULL, churn_frees, NULL), 0);
	while (ld(&churned) < 100)
		sched_yield();
	for (i = 0; i < forks; i++) {
		wd.phase = "fork";
		pid = fork_checked();
		if (pid == 0) {
			struct uhmm_notifier n = { .ops = &c_ops };

			CHILD_CHECK(uhmm_notifier_register(&n,
					uhmm_mm_current()) == 0);
			CHILD_CHECK(uhmm_notifier_unregister(&n) == 0);
			_exit(0);
		}
		wd.phase = "child";
		expect_child_ok(pid);
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(uhmm_notifier_synchronize(), 0);
	harness_watchdog_stop(&wd);
}
#endif /* !TEST_TSAN */

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fork_inherited_inert),
		cmocka_unit_test(exit_tears_down_once),
		cmocka_unit_test(exit_with_invalidating_threads),
		cmocka_unit_test(underscore_exit_no_teardown),
		cmocka_unit_test(fork_mid_invalidation),
		cmocka_unit_test(fork_during_deferred_frees),
	};

	return HARNESS_MAIN(tests);
}
