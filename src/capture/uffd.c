/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - lifetime of the userfaultfd mechanism and registration of the
 * memory interval subscriptions cover (contract in uffd.h).
 *
 * States:  NONE --first subscription (hook)--> RUNNING --exit--> STOPPED
 *            \--UHMM_CAPTURE_UFFD=off, UHMM_CAPTURE=off, or no
 *               userfaultfd--> OFF
 * A fork child goes back to NONE: it inherits the descriptor but none of
 * the registrations (we do not ask for EVENT_FORK), and must not read the
 * parent's events; it closes both descriptors and starts its own on its
 * first subscription.
 *
 * Registration, one range at a time (docs/capture.md, "Registration" and
 * "Quiet changes"):
 *   insert        registers the subscription's range, VMA by VMA (write-
 *                 protect mode only), in the caller's thread with no uhmm
 *                 lock held, before the insert returns;
 *   remove        unregisters the parts of its range no other
 *                 subscription covers (covered parts stay registered);
 *   quiet change  (dispatch.c) unregisters the span of a change capture
 *                 announced before its system call and registers what is
 *                 covered again after it, before the range ends.
 * A quiet change unregisters first, then looks, then registers, inside
 * its open invalidation; inserts and removes are serialised by sync_lock
 * and never unregister what a subscription covers: so no subscribed range
 * is left unregistered, nor unregistered outside an invalidation.  Kinds userfaultfd
 * refuses (EINVAL) are skipped; a range another userfaultfd holds (EBUSY)
 * is left to patching and interposition, said once on stderr; nothing is
 * registered past the budget or for a subscription wider than SPAN_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "../os/linux/raw.h"
#include "../os/linux/uffd.h"
#include "capture.h"
#include "interpose.h"
#include "uffd.h"

enum { NONE, RUNNING, OFF, STOPPED };

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static int state;		/* written (atomically) under sync_lock */
static int fd = -1, stop_fd = -1;	/* fixed while RUNNING */
static pthread_t reader;

struct uhmm__uffd_hull uhmm__uffd_hull = { ULONG_MAX, 0 };
int uhmm__uffd_reader_done;

/*
 * Every registered range may split a VMA in three, and the kernel caps a
 * process's VMAs (vm.max_map_count): past the cap the application's own
 * mmap and mprotect fail with ENOMEM.  So memory is registered only while
 * fewer than `budget` subscriptions live (a quarter of the cap), which
 * keeps what we add under half of it; past that, new subscriptions are
 * left to patching and interposition, said once on stderr.
 */
static long live_subs;		/* changed under sync_lock, read atomically */
static long budget = 16382;	/* max_map_count / 4; read at start */

int uhmm__uffd_fd(void)
{
	return fd;
}

int uhmm__uffd_stop_fd(void)
{
	return stop_fd;
}

void uhmm__uffd_hull_add(unsigned long start, unsigned long end)
{
	unsigned long *lo = &uhmm__uffd_hull.lo, *hi = &uhmm__uffd_hull.hi;
	unsigned long v = __atomic_load_n(lo, __ATOMIC_RELAXED);

	while (start < v && !__atomic_compare_exchange_n(lo, &v, start, true,
			__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	v = __atomic_load_n(hi, __ATOMIC_RELAXED);
	while (end > v && !__atomic_compare_exchange_n(hi, &v, end, true,
			__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

/*
 * On unless UHMM_CAPTURE_UFFD=off (0, no).  A change patching or
 * interposition announces is kept quiet (it sends no event), so owners see
 * UHMM_RANGE_AFTER only for what bypassed libc.
 */
static bool wanted(void)
{
	const char *v = getenv("UHMM_CAPTURE_UFFD");

	if (!v || !*v)
		return true;
	return strcmp(v, "off") && strcmp(v, "0") && strcmp(v, "no");
}

/* Once per process: a range belongs to another userfaultfd. */
static void report_busy(unsigned long start, unsigned long end)
{
	static int said;	/* atomic */
	char msg[200];
	int n;

	if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return;
	n = snprintf(msg, sizeof(msg), "uhmm: capture: [%#lx, %#lx) is "
		     "registered with another userfaultfd (the application's "
		     "own?); changes there bypassing libc are not caught\n",
		     start, end);
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
		return;	/* nowhere to report it */
}

static void read_budget(void)
{
	char buf[32] = "";
	long v;
	int f = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);

	if (f < 0)
		return;
	if (read(f, buf, sizeof(buf) - 1) > 0) {
		v = strtol(buf, NULL, 10);
		if (v >= 64)
			budget = v / 4;
	}
	close(f);
}

/* May memory be registered now?  Says once when it may not. */
static bool within_budget(void)
{
	static int said;	/* atomic */
	char msg[160];
	int n;

	if (__atomic_load_n(&live_subs, __ATOMIC_RELAXED) < budget)
		return true;
	if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return false;
	n = snprintf(msg, sizeof(msg), "uhmm: capture: %ld or more "
		     "subscriptions; memory of further ones is not registered "
		     "with userfaultfd (vm.max_map_count)\n", budget);
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
		return false;	/* nowhere to report it */
	return false;
}

/* [s, e) of VMA @v, aligned to its page size (hugetlb), clipped to @v. */
static void vma_part(const struct uhmm__vma *v, unsigned long *s,
		     unsigned long *e)
{
	unsigned long ps = v->page_size ? v->page_size : uhmm_page_size();

	*s &= -ps;
	*e = (*e + ps - 1) & -ps;
	*s = *s < v->start ? v->start : *s;
	*e = *e > v->end ? v->end : *e;
}

static void register_part(const struct uhmm__vma *v, unsigned long s,
			  unsigned long e)
{
	int ret;

	vma_part(v, &s, &e);
	uhmm__uffd_registered_more();	/* before: see quiet_begin */
	ret = uhmm__os_uffd_register_wp(fd, s, e - s);
	if (ret == -EBUSY)
		report_busy(s, e);
	/* -EINVAL and others: a kind userfaultfd cannot take; skipped. */
}

static void unregister_part(const struct uhmm__vma *v, unsigned long s,
			    unsigned long e)
{
	vma_part(v, &s, &e);
	/* -EINVAL: not a kind we registered, or another userfaultfd's. */
	(void)uhmm__os_uffd_unregister(fd, s, e - s);
}

/* @part on each VMA in [start, end), intersected with it. */
static void each_vma(unsigned long start, unsigned long end,
		     void (*part)(const struct uhmm__vma *, unsigned long,
				  unsigned long))
{
	struct uhmm__vma v;
	unsigned long a = start;

	while (a < end && uhmm__os_vma_find(a, &v) == 0 && v.start < end) {
		part(&v, a > v.start ? a : v.start, end < v.end ? end : v.end);
		a = v.end;
	}
}

/*
 * A subscription wider than this (dmirror's, over the whole address space,
 * as the kernel's test driver has) is not registered: it would register
 * every mapping of the process, so every raw munmap anywhere (a
 * sanitizer's allocator, the dynamic loader) would wait for the reader,
 * and one made on the reader's own thread would wait for itself.
 */
#define SPAN_MAX	(1UL << 40)	/* 1 TiB */

/* Is a subscription of [start, last] one we register (not too wide)? */
static bool registrable(unsigned long start, unsigned long last)
{
	return last - start < SPAN_MAX;
}

static void register_range(unsigned long start, unsigned long end)
{
	if (end - start > SPAN_MAX || !within_budget())
		return;
	/* The hull first: an event may come as soon as it is registered. */
	uhmm__uffd_hull_add(start, end);
	each_vma(start, end, register_part);
}

/*
 * End our registration of [start, end): one ioctl, or VMA by VMA where the
 * range holds memory we never registered and the kernel cannot take
 * (files without WP_ASYNC, VM_IO), another userfaultfd's, or a hugetlb
 * mapping @start is not aligned for.
 */
static void unregister_range(unsigned long start, unsigned long end)
{
	if (uhmm__os_uffd_unregister(fd, start, end - start) == -EINVAL)
		each_vma(start, end, unregister_part);
}

/* [start, last] rounded out to pages, as [*s, *e); the top page clipped. */
static void page_span(unsigned long start, unsigned long last,
		      unsigned long *s, unsigned long *e)
{
	unsigned long ps = uhmm_page_size();

	*s = start & -ps;
	*e = last >= -ps ? -ps : (last + ps) & -ps;
}

/*
 * Register what @mm's subscriptions cover of [s, e), retired ones left out
 * (nobody needs their changes caught; what they had registered stays, and
 * registered_there() and unregister_uncovered() still count them, so a
 * quiet change still unregisters it first).  Past COVERED_MAX
 * overlapping subscriptions the whole of [s, e) is registered: more than
 * is subscribed only costs events nobody is owed.  Never allocates (it
 * runs on the hook path, inside free()).
 */
#define COVERED_MAX 16

static void register_covered(struct uhmm_mm *mm, unsigned long s,
			     unsigned long e)
{
	unsigned long r[COVERED_MAX][2], a, b;
	int i, n = uhmm__interval_ranges(mm, s, e - 1, r, COVERED_MAX, true);

	if (n > COVERED_MAX) {
		register_range(s, e);
		return;
	}
	for (i = 0; i < n; i++) {
		page_span(r[i][0], r[i][1], &a, &b);
		if (registrable(r[i][0], r[i][1]))
			register_range(a > s ? a : s, b < e ? b : e);
	}
}

/* Does a subscription of @mm that we register overlap [s, e)? */
static bool registered_there(struct uhmm_mm *mm, unsigned long s,
			     unsigned long e)
{
	unsigned long r[COVERED_MAX][2];
	int i, n = uhmm__interval_ranges(mm, s, e - 1, r, COVERED_MAX, false);

	if (n > COVERED_MAX)
		return true;
	for (i = 0; i < n; i++)
		if (registrable(r[i][0], r[i][1]))
			return true;
	return false;
}

/*
 * A subscription of [s, e) went: end the registration of the parts of it
 * no other live subscription covers, and only those.  Covered parts stay
 * registered throughout (unregistering them, even for a moment, would
 * open a window no invalidation covers).  Under sync_lock, so no insert's
 * registration runs meanwhile; one that entered the tree after the look
 * registers its range in its own hook, after this.  With more than
 * COVERED_MAX overlapping subscriptions nothing is unregistered: more
 * than is subscribed stays registered, which costs events nobody is owed.
 */
static void unregister_uncovered(unsigned long s, unsigned long e)
{
	struct uhmm_mm *mm[UHMM__CAPTURE_MAX_MM];
	unsigned long r[COVERED_MAX][2], t[2], a, b, at = s;
	int i, j, k, m = 0, n = uhmm__mm_grab_live(mm, UHMM__CAPTURE_MAX_MM);
	bool many = false;

	for (i = 0; i < n; i++) {
		k = uhmm__interval_ranges(mm[i], s, e - 1, r + m,
					  COVERED_MAX - m, false);
		many |= k > COVERED_MAX - m;
		m += many ? 0 : k;
		uhmm_mm_drop(mm[i]);	/* pairs with grab_live */
	}
	if (many)
		return;
	for (i = 1; i < m; i++)		/* by start; m is small */
		for (j = i; j > 0 && r[j][0] < r[j - 1][0]; j--) {
			memcpy(t, r[j], sizeof(t));
			memcpy(r[j], r[j - 1], sizeof(t));
			memcpy(r[j - 1], t, sizeof(t));
		}
	for (i = 0; i < m && at < e; i++) {
		page_span(r[i][0], r[i][1], &a, &b);
		if (!registrable(r[i][0], r[i][1]))
			continue;	/* never registered: not cover */
		if (a > at)
			unregister_range(at, a < e ? a : e);
		if (b > at)
			at = b;
	}
	if (at < e)
		unregister_range(at, e);
}

/*
 * The reader takes no asynchronous signal meant for the application.
 * Synchronous ones stay open: a blocked SIGSEGV kills the process without
 * its handler (a sanitizer's), and SIGTRAP is how a thread passes through
 * an entry being patched (patch.c).
 */
static int spawn_reader(void)
{
	static const int sync_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
					 SIGTRAP, SIGABRT };
	sigset_t all, old;
	unsigned int i;
	int ret;

	sigfillset(&all);
	for (i = 0; i < sizeof(sync_sigs) / sizeof(sync_sigs[0]); i++)
		sigdelset(&all, sync_sigs[i]);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&reader, NULL, uhmm__uffd_reader, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static void start_locked(void)
{
	bool wp_async;

	if (!wanted() || !uhmm__capture_on()) {
		__atomic_store_n(&state, OFF, __ATOMIC_RELEASE);
		return;
	}
	read_budget();
	fd = uhmm__os_uffd_open(&wp_async);
	if (fd < 0) {
		/* ENOSYS, EPERM: patching/interposition only */
		__atomic_store_n(&state, OFF, __ATOMIC_RELEASE);
		return;
	}
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0 || spawn_reader() != 0) {
		close(fd);
		if (stop_fd >= 0)
			close(stop_fd);
		fd = stop_fd = -1;
		__atomic_store_n(&state, OFF, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&state, RUNNING, __ATOMIC_RELEASE);
}

static bool running(void)
{
	return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == RUNNING;
}

bool uhmm__uffd_running(void)
{
	return running();
}

bool uhmm__mremap_split(struct uhmm__span *s, const void *old,
			size_t old_size)
{
	if (!running() || old_size == 0 ||
	    (unsigned long)old > ULONG_MAX - old_size)
		return false;
	*s = (struct uhmm__span){ (unsigned long)old,
				  (unsigned long)old + old_size,
				  UHMM_EVENT_UNMAP };
	return true;
}

bool uhmm__uffd_yield(int other, unsigned long start, unsigned long len)
{
	static int said;	/* atomic */
	unsigned long s, e;
	char msg[200];
	int n;

	if (!running() || other == fd || len == 0 ||
	    start > ULONG_MAX - len)
		return false;
	page_span(start, start + len - 1, &s, &e);
	unregister_range(s, e);
	if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED)) {
		n = snprintf(msg, sizeof(msg), "uhmm: capture: the "
			     "application's own userfaultfd takes [%#lx, %#lx);"
			     " changes there bypassing libc are not caught\n",
			     s, e);
		if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
			return true;	/* nowhere to report it */
	}
	return true;
}

/*
 * uhmm__itree_changed_hook: a subscription of [start, last] was inserted
 * or removed.  An insert registers its range; a remove ends the
 * registration of its range and registers again what other subscriptions
 * still cover of it.  The order (unregister, then look, then register)
 * is what keeps every subscribed range registered whatever other threads
 * do meanwhile (docs/capture.md, "Quiet changes").
 */
static void itree_changed(struct uhmm_mm *mm, unsigned long start,
			  unsigned long last, bool inserted)
{
	unsigned long s, e;

	(void)mm;	/* every live handle's ranges count: one descriptor */
	page_span(start, last, &s, &e);
	pthread_mutex_lock(&sync_lock);
	if (state == NONE)
		start_locked();
	if (state == RUNNING) {
		if (inserted) {
			register_range(s, e);
			__atomic_add_fetch(&live_subs, 1, __ATOMIC_RELAXED);
		} else {
			/* Under sync_lock; inherited ones removed in a child
			 * were never counted there. */
			if (live_subs > 0)
				__atomic_sub_fetch(&live_subs, 1,
						   __ATOMIC_RELAXED);
			unregister_uncovered(s, e);
		}
	}
	pthread_mutex_unlock(&sync_lock);
}

/*
 * Bare spans.  reg_gen counts the times memory may have become registered
 * by us (every register ioctl, every mremap event moving registered
 * memory); each thread keeps the last span its own quiet munmap left with
 * nothing mapped, and the count it saw before that munmap.  While the
 * count is unchanged nothing of ours can be registered inside the span
 * (memory mapped there since is unregistered until we register it), so a
 * quiet change there has nothing to unregister: the mmap/munmap loops of
 * allocators and caches over subscribed ranges make no ioctl at all.
 */
static unsigned long reg_gen;	/* atomic */

static __thread struct {
	unsigned long start, end, gen;
} bare __attribute__((tls_model("initial-exec")));

void uhmm__uffd_registered_more(void)
{
	__atomic_add_fetch(&reg_gen, 1, __ATOMIC_SEQ_CST);
}

void uhmm__uffd_quiet_unmapped(const struct uhmm_notifier_range *r,
			       unsigned long gen)
{
	page_span(r[0].start, r[0].end - 1, &bare.start, &bare.end);
	bare.gen = gen;
}

bool uhmm__uffd_quiet_begin(const struct uhmm_notifier_range *r, int n,
			    unsigned long *gen)
{
	unsigned long s, e;
	int i;

	if (n == 0 || !running())
		return false;
	page_span(r[0].start, r[0].end - 1, &s, &e);
	if (e <= __atomic_load_n(&uhmm__uffd_hull.lo, __ATOMIC_ACQUIRE) ||
	    s >= __atomic_load_n(&uhmm__uffd_hull.hi, __ATOMIC_ACQUIRE))
		return false;	/* nothing there was ever registered */
	*gen = __atomic_load_n(&reg_gen, __ATOMIC_SEQ_CST);
	/* Left bare by this thread, nothing registered since: no ioctl, and
	 * no look either (ending as quiet is right whoever subscribes). */
	if (s >= bare.start && e <= bare.end && *gen == bare.gen)
		return true;
	for (i = 0; i < n; i++)
		if (registered_there(r[i].mm, s, e))
			break;
	if (i == n)
		return false;	/* nobody's registered subscription there */
	unregister_range(s, e);
	return true;
}

void uhmm__uffd_mapped(unsigned long addr, size_t len)
{
	struct uhmm_mm *mm[UHMM__CAPTURE_MAX_MM];
	unsigned long s, e;
	int saved, i, n;

	if (!running() || len == 0 || addr > ULONG_MAX - len)
		return;
	page_span(addr, addr + len - 1, &s, &e);
	if (e <= __atomic_load_n(&uhmm__uffd_hull.lo, __ATOMIC_ACQUIRE) ||
	    s >= __atomic_load_n(&uhmm__uffd_hull.hi, __ATOMIC_ACQUIRE))
		return;	/* no subscription was ever there */
	/*
	 * The filters first: no grab, no lock.  One inserted after they were
	 * read registers what is mapped in its range itself (its itree hook),
	 * and this mapping was there by then.
	 */
	if (uhmm__rcu_thread_known()) {
		if (!uhmm__mm_live_may_cover(s, e - 1))
			return;		/* nothing touched errno */
		n = uhmm__mm_grab_live(mm, UHMM__CAPTURE_MAX_MM);
	} else {
		n = uhmm__mm_grab_live_trylock(mm, UHMM__CAPTURE_MAX_MM);
	}
	saved = errno;	/* registering makes system calls */
	for (i = 0; i < n; i++) {
		register_covered(mm[i], s, e);
		uhmm_mm_drop(mm[i]);	/* pairs with the grab */
	}
	errno = saved;
}

void uhmm__uffd_quiet_end(const struct uhmm_notifier_range *r, int n)
{
	unsigned long s, e;
	int i;

	if (!running())
		return;
	page_span(r[0].start, r[0].end - 1, &s, &e);
	for (i = 0; i < n; i++)
		register_covered(r[i].mm, s, e);
}

static void raw_close(int d)
{
	(void)uhmm__raw_syscall(SYS_close, d, 0, 0, 0, 0, 0);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&sync_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&sync_lock);
}

/* The child has no reader and no registrations: start afresh if asked. */
static void fork_child(void)
{
	if (state == RUNNING) {
		/*
		 * Bare system calls: among the atfork child handlers a
		 * library wrapping close() may hold its own lock still.
		 */
		raw_close(fd);	/* the parent's: never read it here */
		raw_close(stop_fd);	/* writing it would stop theirs */
		fd = stop_fd = -1;
		__atomic_store_n(&state, NONE, __ATOMIC_RELEASE);
	}
	uhmm__uffd_hull.lo = ULONG_MAX;
	uhmm__uffd_hull.hi = 0;
	live_subs = 0;
	pthread_mutex_unlock(&sync_lock);
}

__attribute__((constructor)) static void uffd_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	__atomic_store_n(&uhmm__itree_changed_hook, itree_changed,
			 __ATOMIC_RELEASE);
}

/*
 * At exit: stop the reader, which closes the userfaultfd: registrations
 * end and a thread still unmapping registered memory no longer waits for
 * anyone.  A reader stuck in a callback is given two seconds.  The reader
 * is not joined: it parks once the descriptor is closed and dies with the
 * process, so no thread-exit code runs for it while the process is being
 * torn down (another library's hook on its stack's madvise, a sanitizer's
 * thread bookkeeping: UCX's libucm under TSan crashed there).
 */
__attribute__((destructor)) static void uffd_exit(void)
{
	struct timespec ms = { 0, 1000000 };
	uint64_t one = 1;
	int i;

	__atomic_store_n(&uhmm__itree_changed_hook, NULL, __ATOMIC_RELEASE);
	pthread_mutex_lock(&sync_lock);
	if (state == RUNNING && write(stop_fd, &one, sizeof(one)) > 0) {
		for (i = 0; i < 2000 && !__atomic_load_n(&uhmm__uffd_reader_done,
						  __ATOMIC_ACQUIRE); i++)
			nanosleep(&ms, NULL);
	}
	__atomic_store_n(&state, STOPPED, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&sync_lock);
}
