/* SPDX-License-Identifier: MIT */
/*
 * test_capture_boundary.c - capture across process boundaries (issue 3):
 * a vfork child that unmaps memory of the address space it shares with its
 * parent is announced to the parent's subscription BEFORE the change and
 * leaves the parent's uhmm state intact; a vfork child that only execs
 * disturbs nothing; hundreds of posix_spawn() calls while other threads
 * churn subscribed memory never stall or lose an announcement; a program
 * exec'd by a child of a capturing process captures from scratch.  Thread
 * and process exit: test_capture_boundary_exit.c.
 *
 * A vfork child runs uhmm code in its parent's memory, on the parent
 * thread's TLS, without atfork handlers: whatever it leaves behind (a lock,
 * the "change in progress" marker, a lazily set per-thread value) is the
 * parent's from then on.  Every test runs with libc's entries patched and
 * with interposition alone:
 *
 * UHMM_TEST_LINK: interpose
 * UHMM_TEST_ENV: UHMM_CAPTURE=patch UHMM_CAPTURE=interpose
 */
#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#include "capture_churn.h"
#include "capture_rec.h"
#include "util.h"

/* argv[1] that makes this binary run selfcheck() instead of its tests. */
#define SELFCHECK "--boundary-selfcheck"

extern char **environ;

static struct rec x, y;		/* static: see capture_rec.h */
static volatile int child_ran;	/* set by a vfork child, in our memory */

/* @n private anonymous pages, each starting with MARK. */
static unsigned char *map_marked(size_t n)
{
	unsigned char *p = map_pages(n);
	size_t i;

	for (i = 0; i < n; i++)
		p[i * ps()] = MARK;
	return p;
}

static bool is_mapped(void *p)
{
	unsigned char v;

	return mincore(p, ps(), &v) == 0;
}

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* TSan turns vfork() into fork(): the child no longer shares our memory. */
static void need_vfork(void)
{
#ifdef TEST_TSAN
	SKIP("ThreadSanitizer turns vfork() into fork()");
#endif
}

/*
 * The parent still captures: its munmap of @p (subscribed by @r, marked)
 * is announced, before, in this thread; a new subscription comes and goes.
 */
static void parent_still_captures(struct rec *r, unsigned char *p)
{
	unsigned char *q;
	int before = calls(r);

	r->probe = p;
	assert_int_equal(munmap(p, ps()), 0);
	assert_int_equal(calls(r), before + 1);
	assert_int_equal(r->start, (unsigned long)p);
	assert_int_equal(r->seen, MARK);
	assert_int_equal(r->tid, my_tid());
	q = map_marked(1);
	watch(&y, q, ps());
	assert_int_equal(munmap(q, ps()), 0);
	assert_int_equal(calls(&y), 1);
	unwatch(&y);
}

/* vfork(); the child unmaps @p through libc and _exits.  Its pid. */
static pid_t vfork_munmap(unsigned char *p)
{
	pid_t pid;

	child_ran = 0;
	pid = vfork();
	if (pid == 0) {
		child_ran = 1;
		_exit(munmap(p, ps()) ? 1 : 0);
	}
	assert_true(pid > 0);
	return pid;
}

/*
 * The child's munmap is announced in the child (x.tid), before the change
 * (the marker was read), over exactly the page, and the page is gone for
 * the parent too.  Fails without the behaviour: were the child treated
 * like a fork child (its own, inert handles) nothing would be told
 * (calls 0); told after the change, the probe read would fault in the
 * child.  A lock, marker or handle state the child left behind would make
 * the parent's next munmap go unannounced or hang (the watchdog).
 */
static void vfork_child_munmap_is_announced_before(void **state)
{
	struct harness_watchdog w;
	unsigned char *p;
	pid_t pid;

	need_vfork();
	harness_watchdog_start(&w, 60, __func__);
	p = map_marked(2);
	watch(&x, p, 2 * ps());
	pid = vfork_munmap(p);
	expect_child_ok(pid);
	assert_true(child_ran);
	assert_int_equal(calls(&x), 1);
	assert_int_equal(x.tid, pid);
	assert_int_equal(x.event, UHMM_EVENT_UNMAP);
	assert_int_equal(x.seen, MARK);
	assert_int_equal(x.start, (unsigned long)p);
	assert_int_equal(x.end, (unsigned long)p + ps());
	assert_false(is_mapped(p));
	parent_still_captures(&x, p + ps());
	unwatch(&x);
	harness_watchdog_stop(&w);
}

/* No cmocka in a thread: 0, or the step that failed. */
static void *vfork_thread(void *arg)
{
	unsigned char *p = arg;
	int status;
	pid_t pid;

	child_ran = 0;
	pid = vfork();
	if (pid == 0) {
		child_ran = 1;
		_exit(munmap(p, ps()) ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
		return (void *)1;
	if (calls(&x) != 1 || x.tid != pid || x.seen != MARK)
		return (void *)2;
	x.probe = p + ps();
	if (munmap(p + ps(), ps()) || calls(&x) != 2 || x.tid != my_tid())
		return (void *)3;
	return NULL;
}

/*
 * The same from a thread that never ran uhmm code before: its first
 * read-side section and per-thread values are set up by the vfork child,
 * in the thread's TLS.  Fails if that setup, done by another process,
 * leaves the thread unable to capture (a hang: the watchdog), or if the
 * thread's exit then trips over it (a crash, or a leak under ASan).
 */
static void vfork_from_a_new_thread_leaves_it_intact(void **state)
{
	struct harness_watchdog w;
	unsigned char *p, *q;
	pthread_t t;
	void *ret;

	need_vfork();
	harness_watchdog_start(&w, 60, __func__);
	p = map_marked(3);
	watch(&x, p, 2 * ps());
	assert_int_equal(pthread_create(&t, NULL, vfork_thread, p), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_true(child_ran);
	assert_int_equal(x.seen, MARK);
	q = p + 2 * ps();
	unwatch(&x);
	watch(&x, q, ps());
	parent_still_captures(&x, q);
	unwatch(&x);
	harness_watchdog_stop(&w);
}

/* vfork(); the child execs /bin/true.  Its pid. */
static pid_t vfork_exec_true(void)
{
	pid_t pid = vfork();

	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	return pid;
}

/*
 * vfork children that exec: our subscription is told nothing (the exec
 * replaces the child's view of memory, not ours) and the memory is
 * intact; our own munmap afterwards is announced.  Fails if anything in
 * the exec path (a destructor, a hook) ran uhmm's teardown or announced
 * an unmap of the shared space: calls != 0, or the parent's munmap goes
 * unannounced because its handle was torn down.
 */
static void vfork_child_that_execs_disturbs_nothing(void **state)
{
	unsigned long i, rounds = harness_rounds(20);
	struct harness_watchdog w;
	unsigned char *p;

	if (access("/bin/true", X_OK))
		SKIP("no /bin/true");
	harness_watchdog_start(&w, 60, __func__);
	p = map_marked(1);
	watch(&x, p, ps());
	for (i = 0; i < rounds; i++)
		expect_child_ok(vfork_exec_true());
	assert_int_equal(calls(&x), 0);
	assert_int_equal(p[0], MARK);
	parent_still_captures(&x, p);
	unwatch(&x);
	harness_watchdog_stop(&w);
}

/* ------------------------------------------------------------------ */
/* posix_spawn                                                          */

#define NCHURN 2

static struct churn churners[NCHURN];

/* posix_spawn /bin/true; the child must exit 0. */
static void spawn_true(void)
{
	char *argv[] = { "true", NULL };
	pid_t pid;

	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, NULL, argv,
				     environ), 0);
	expect_child_ok(pid);
}

/*
 * glibc's posix_spawn runs its child on a stack of its own in our address
 * space (CLONE_VM | CLONE_VFORK), mapping and unmapping that stack through
 * libc.  Each round spawns while both churners work and waits until each
 * finished a round since.  Fails if a spawn wedged capture (a hang: the
 * watchdog), lost an announcement (a churner told fewer than 3 times a
 * round) or broke a child (an exit status other than 0).
 */
static void posix_spawn_while_threads_churn(void **state)
{
	unsigned long i, rounds = harness_rounds(200);
	struct harness_watchdog w;
	int k, seen[NCHURN];

	if (access("/bin/true", X_OK))
		SKIP("no /bin/true");
	harness_watchdog_start(&w, 100, __func__);
	for (k = 0; k < NCHURN; k++)
		assert_int_equal(churn_start(&churners[k]), 0);
	for (i = 0; i < rounds; i++) {
		for (k = 0; k < NCHURN; k++)
			seen[k] = ld(&churners[k].rounds);
		spawn_true();
		for (k = 0; k < NCHURN; k++)
			churn_wait_round(&churners[k], seen[k]);
	}
	churn_stop_all(churners, NCHURN);
	for (k = 0; k < NCHURN; k++)
		assert_true(churners[k].rounds >= (int)rounds);
	harness_watchdog_stop(&w);
}

/* ------------------------------------------------------------------ */
/* exec                                                                 */

/* The calling process captures the way UHMM_CAPTURE asks (default patch). */
static bool want_patched(void)
{
	const char *mode = getenv("UHMM_CAPTURE");

	return !mode || !strcmp(mode, "patch") || !strcmp(mode, "on");
}

/*
 * The re-executed image's whole run; its exit status is the verdict: 0
 * captured, 3 a munmap through libc was not told (or not before), 4 the
 * entry of libc's munmap is not patched as asked (a call through libc's
 * own entry, which no wrapper sees, was not told), 1 anything else.
 */
static int selfcheck(void)
{
	int (*libc_munmap)(void *, size_t);
	void *libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
	unsigned char *p = mmap(NULL, 2 * ps(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!libc || p == MAP_FAILED)
		return 1;
	libc_munmap = (int (*)(void *, size_t))dlsym(libc, "munmap");
	p[0] = p[ps()] = MARK;
	x.probe = p;
	if (!libc_munmap || uhmm_interval_sub_insert(&x.sub, uhmm_mm_current(),
				(unsigned long)p, 2 * ps(), &rec_ops))
		return 1;
	if (munmap(p, ps()) || calls(&x) != 1 || x.seen != MARK)
		return 3;
	x.probe = p + ps();
	if (want_patched() && (libc_munmap(p + ps(), ps()) || calls(&x) != 2))
		return 4;
	return uhmm_interval_sub_remove(&x.sub) ? 1 : 0;
}

/* This binary, run as selfcheck(); the child's pid. */
static pid_t spawn_self(bool use_fork)
{
	char self[4096];
	char *argv[] = { self, SELFCHECK, NULL };
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;

	assert_true(len > 0);
	self[len] = '\0';
	if (!use_fork) {
		assert_int_equal(posix_spawn(&pid, self, NULL, NULL, argv,
					     environ), 0);
		return pid;
	}
	pid = fork_checked();
	if (pid == 0) {
		execv(self, argv);
		_exit(127);
	}
	return pid;
}

/*
 * We capture (a subscription is live, libc is patched in patch mode);
 * children exec this binary again (fork + exec, and posix_spawn), which
 * must capture on its own: a munmap through libc is told before the
 * change, and in patch mode libc's entry is patched in the new image.
 * Fails if capture relied on anything the exec throws away (state set up
 * by the parent, a patch in the old image's libc): exit status 3 or 4.
 */
static void exec_child_captures_from_scratch(void **state)
{
	unsigned char *p = map_marked(1);

	watch(&x, p, ps());
	expect_child_ok(spawn_self(true));
	expect_child_ok(spawn_self(false));
	assert_int_equal(calls(&x), 0);	/* the children's changes are theirs */
	parent_still_captures(&x, p);
	unwatch(&x);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vfork_child_munmap_is_announced_before),
		cmocka_unit_test(vfork_from_a_new_thread_leaves_it_intact),
		cmocka_unit_test(vfork_child_that_execs_disturbs_nothing),
		cmocka_unit_test(posix_spawn_while_threads_churn),
		cmocka_unit_test(exec_child_captures_from_scratch),
	};

	if (argc > 1 && !strcmp(argv[1], SELFCHECK))
		return selfcheck();
	return HARNESS_MAIN(tests);
}
