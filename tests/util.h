/* SPDX-License-Identifier: MIT */
/*
 * util.h - helpers that more than one test file needs: atomic counters,
 * fresh pages and handles, bounded waits for child processes, death tests,
 * and a watcher that sees teardown through both kinds of subscription.
 *
 * Everything is static inline, so a file pays only for what it uses.  The
 * helpers fail the running cmocka test on a broken precondition; in a fork
 * child that cannot use cmocka, check with plain conditions instead.
 */
#ifndef UHMM_TEST_UTIL_H
#define UHMM_TEST_UTIL_H

#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "harness.h"
#include <uhmm/uhmm.h>

/* TEST_TSAN: built with ThreadSanitizer (gcc and clang spell it apart). */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

/* Counters that callbacks bump from any thread: always sequentially
 * consistent, so a test never reasons about weaker orders. */
static inline int ld(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline void inc(int *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------------ */
/* Memory and handles                                                  */

/* @n private anonymous read-write pages, not yet touched. */
static inline void *map_pages(size_t n)
{
	void *p = mmap(NULL, n * uhmm_page_size(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* A new address space handle holding one users reference. */
static inline struct uhmm_mm *mm_new(void)
{
	struct uhmm_mm *mm = NULL;

	assert_int_equal(uhmm_mm_create(&mm), 0);
	assert_non_null(mm);
	return mm;
}

/* In a death-test child, which cannot use cmocka: a new handle, or exit
 * with status 2 (the parent reports the child did not die). */
static inline struct uhmm_mm *child_mm_new(void)
{
	struct uhmm_mm *mm = NULL;

	if (uhmm_mm_create(&mm))
		_exit(2);
	return mm;
}

/* The same, torn down (its users reached zero) and kept by one grab. */
static inline struct uhmm_mm *child_mm_torn_down(void)
{
	struct uhmm_mm *mm = child_mm_new();

	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	return mm;
}

/* An UNMAP of [start, end) on @mm, announced in one call. */
static inline int invalidate_unmap(struct uhmm_mm *mm, unsigned long start,
				   unsigned long end, unsigned int flags)
{
	struct uhmm_notifier_range r;

	uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, flags, mm, start, end);
	return uhmm_invalidate(&r);
}

/* ------------------------------------------------------------------ */
/* Child processes, waited for without threads (a fork of a           */
/* multi-threaded process is not supported under TSan).                */

/* fork(), with stdio flushed so the child does not repeat buffered output. */
static inline pid_t fork_checked(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	return pid;
}

/* Read up to @len bytes, until EOF or @seconds pass with nothing to read. */
static inline size_t read_bounded(int fd, char *buf, size_t len, int seconds)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len && poll(&p, 1, seconds * 1000) == 1) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* The child's wait status; a child still running after @seconds is
 * killed and fails the test (a deadlock, reported rather than hung). */
static inline int wait_bounded(pid_t pid, int seconds)
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

/* The child must exit with status 0 within a minute. */
static inline void expect_child_ok(pid_t pid)
{
	int status = wait_bounded(pid, 60);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child failed: status 0x%x (%s %d)", status,
			 WIFSIGNALED(status) ? "signal" : "exit code",
			 WIFSIGNALED(status) ? WTERMSIG(status) :
					       WEXITSTATUS(status));
}

/*
 * Death test: run @fn in a forked child; it must die by SIGABRT with a
 * "uhmm:" message on stderr containing @needle.  A child that returns
 * from @fn exits 0, which fails the test.
 */
static inline void expect_death(void (*fn)(void), const char *needle)
{
	char buf[2048];
	int pfd[2], status;
	size_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork_checked();
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

/* A worker's wait for the owner's next round: *@gen, published with
 * release order, moving past @seen.  Returns the new round. */
static inline unsigned long wait_next_round(const unsigned long *gen,
					    unsigned long seen)
{
	unsigned long g;

	while ((g = __atomic_load_n(gen, __ATOMIC_ACQUIRE)) == seen)
		sched_yield();
	return g;
}

/* ------------------------------------------------------------------ */
/* A watcher: sees teardown through both kinds of subscription.        */

/*
 * Counts ->release() calls and UHMM_EVENT_RELEASE interval invalidations.
 * An owner that mirrors memory sets @lock and @zap before watch_start_at():
 * the interval callback then takes @lock (refusing a non-blockable range
 * while it is busy), moves the sequence and zaps under it, as the canonical
 * driver does, so that read_retry() under @lock sees every invalidation.
 * @on_release runs from ->release(), before it is counted.
 */
struct watch {
	struct uhmm_notifier n;
	struct uhmm_interval_sub isub;
	int releases;		/* atomic: ->release() calls */
	int release_events;	/* atomic: interval RELEASE invalidations */
	pthread_mutex_t *lock;			/* optional: the owner's */
	void (*zap)(struct watch *w);		/* optional: under @lock */
	void (*on_release)(struct watch *w);	/* optional */
};

static inline void watch_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	struct watch *w = container_of(n, struct watch, n);

	if (w->on_release)
		w->on_release(w);
	inc(&w->releases);
}

static inline bool watch_invalidate(struct uhmm_interval_sub *sub,
				    const struct uhmm_notifier_range *r,
				    unsigned long cur_seq)
{
	struct watch *w = container_of(sub, struct watch, isub);

	if (w->lock && uhmm_range_blockable(r))
		pthread_mutex_lock(w->lock);
	else if (w->lock && pthread_mutex_trylock(w->lock))
		return false;
	uhmm_interval_set_seq(sub, cur_seq);
	if (w->zap)
		w->zap(w);
	if (r->event == UHMM_EVENT_RELEASE)
		inc(&w->release_events);
	if (w->lock)
		pthread_mutex_unlock(w->lock);
	return true;
}

static const struct uhmm_notifier_ops watch_ops = {
	.release = watch_release,
};

static const struct uhmm_interval_sub_ops watch_iops = {
	.invalidate = watch_invalidate,
};

/* Register @w on @mm and insert its interval over [start, start + len). */
static inline void watch_start_at(struct watch *w, struct uhmm_mm *mm,
				  unsigned long start, unsigned long len)
{
	w->n.ops = &watch_ops;
	assert_int_equal(uhmm_notifier_register(&w->n, mm), 0);
	assert_int_equal(uhmm_interval_sub_insert(&w->isub, mm, start, len,
						  &watch_iops), 0);
}

/* A plain watcher, no owner: its interval is one page nothing maps. */
static inline void watch_start(struct watch *w, struct uhmm_mm *mm)
{
	unsigned long ps = uhmm_page_size();

	memset(w, 0, sizeof(*w));
	watch_start_at(w, mm, 16 * ps, ps);
}

static inline void watch_stop(struct watch *w)
{
	assert_int_equal(uhmm_interval_sub_remove(&w->isub), 0);
	assert_int_equal(uhmm_notifier_unregister(&w->n), 0);
}

#endif /* UHMM_TEST_UTIL_H */
