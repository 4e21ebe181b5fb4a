/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - lifetime of the userfaultfd mechanism and registration of the
 * memory interval subscriptions cover (contract in uffd.h).
 *
 * States:  NONE --first subscription (hook)--> RUNNING --exit--> STOPPED
 *            \--UHMM_CAPTURE_UFFD not on, UHMM_CAPTURE=off, or no
 *               userfaultfd--> OFF
 * A fork child goes back to NONE: it inherits the descriptor but none of
 * the registrations (we do not ask for EVENT_FORK), and must not read the
 * parent's events; it closes both descriptors and starts its own on its
 * first subscription.
 *
 * Registration runs in the core's uhmm__itree_changed_hook, i.e. at the
 * end of every interval insert and remove, in the caller's thread with no
 * uhmm lock held, before the insert returns: whatever the application does
 * after uhmm_interval_sub_insert() returned is covered.  Each subscribed
 * range is registered VMA by VMA (write-protect mode only), intersected
 * with the range; kinds userfaultfd refuses (EINVAL: file mappings on
 * kernels without asynchronous write protection, VM_IO) are skipped, and a
 * range another userfaultfd holds (EBUSY, the application's own) is left
 * to patching and interposition, said once on stderr.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "../os/linux/uffd.h"
#include "capture.h"
#include "interpose.h"
#include "uffd.h"

enum { NONE, RUNNING, OFF, STOPPED };

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static int state;		/* under sync_lock (atomic reads elsewhere) */
static int fd = -1, stop_fd = -1;	/* fixed while RUNNING */
static pthread_t reader;
static unsigned long (*ranges)[2];	/* under sync_lock: snapshot buffer */
static int ranges_cap;

struct uhmm__uffd_hull uhmm__uffd_hull = { ULONG_MAX, 0 };

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
 * Off unless UHMM_CAPTURE_UFFD=on (1, yes) for now: a change patching or
 * interposition announced before is then announced again afterwards, with
 * UHMM_RANGE_AFTER, and owners' callbacks must expect that (the memory is
 * gone by then).  Flip this once they all do (docs/capture.md).
 */
static const bool default_on = false;

static bool wanted(void)
{
	const char *v = getenv("UHMM_CAPTURE_UFFD");

	if (!v || !*v)
		return default_on;
	return !strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "yes");
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

/* Register [s, e) of VMA @v, aligned to its page size (hugetlb). */
static void register_part(const struct uhmm__vma *v, unsigned long s,
			  unsigned long e)
{
	unsigned long ps = v->page_size ? v->page_size : uhmm_page_size();
	int ret;

	s &= -ps;
	e = (e + ps - 1) & -ps;
	s = s < v->start ? v->start : s;
	e = e > v->end ? v->end : e;
	ret = uhmm__os_uffd_register_wp(fd, s, e - s);
	if (ret == -EBUSY)
		report_busy(s, e);
	/* -EINVAL and others: a kind userfaultfd cannot take; skipped. */
}

static void register_range(unsigned long start, unsigned long end)
{
	struct uhmm__vma v;
	unsigned long a = start;

	while (a < end && uhmm__os_vma_find(a, &v) == 0 && v.start < end) {
		register_part(&v, a > v.start ? a : v.start,
			      end < v.end ? end : v.end);
		a = v.end;
	}
}

/* Snapshot @mm's subscribed ranges into `ranges`. Return: count or -1. */
static int snapshot(struct uhmm_mm *mm)
{
	int n = uhmm__interval_ranges(mm, ranges, ranges_cap);
	void *p;

	while (n > ranges_cap) {
		p = realloc(ranges, (size_t)n * 2 * sizeof(ranges[0]));
		if (!p)
			return -1;
		ranges = p;
		ranges_cap = n * 2;
		n = uhmm__interval_ranges(mm, ranges, ranges_cap);
	}
	return n;
}

static void sync_mm(struct uhmm_mm *mm)
{
	unsigned long ps = uhmm_page_size(), s, e;
	int i, n = snapshot(mm);

	for (i = 0; i < n; i++) {
		s = ranges[i][0] & -ps;
		e = ranges[i][1] >= -ps ? -ps : (ranges[i][1] + ps) & -ps;
		/* The hull first: an event may come as soon as it is
		 * registered. */
		uhmm__uffd_hull_add(s, e);
		register_range(s, e);
	}
}

static void sync_locked(void)
{
	struct uhmm_mm *mm[UHMM__CAPTURE_MAX_MM];
	int i, n = uhmm__mm_grab_live(mm, UHMM__CAPTURE_MAX_MM);

	for (i = 0; i < n; i++) {
		sync_mm(mm[i]);
		uhmm_mm_drop(mm[i]);	/* pairs with grab_live */
	}
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
		state = OFF;
		return;
	}
	fd = uhmm__os_uffd_open(&wp_async);
	if (fd < 0) {
		state = OFF;	/* ENOSYS, EPERM: patching/interposition only */
		return;
	}
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0 || spawn_reader() != 0) {
		close(fd);
		if (stop_fd >= 0)
			close(stop_fd);
		fd = stop_fd = -1;
		state = OFF;
		return;
	}
	__atomic_store_n(&state, RUNNING, __ATOMIC_RELEASE);
}

/* uhmm__itree_changed_hook: the subscribed ranges changed. */
static void itree_changed(struct uhmm_mm *mm)
{
	(void)mm;	/* every live handle is synced: the hull covers all */
	pthread_mutex_lock(&sync_lock);
	if (state == NONE)
		start_locked();
	if (state == RUNNING)
		sync_locked();
	pthread_mutex_unlock(&sync_lock);
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
		close(fd);	/* the parent's: never read it here */
		close(stop_fd);	/* writing it would stop the parent's reader */
		fd = stop_fd = -1;
		state = NONE;
	}
	uhmm__uffd_hull.lo = ULONG_MAX;
	uhmm__uffd_hull.hi = 0;
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
 * anyone.  A reader stuck in a callback is given two seconds.
 */
__attribute__((destructor)) static void uffd_exit(void)
{
	struct timespec t;
	uint64_t one = 1;

	__atomic_store_n(&uhmm__itree_changed_hook, NULL, __ATOMIC_RELEASE);
	pthread_mutex_lock(&sync_lock);
	if (state == RUNNING && write(stop_fd, &one, sizeof(one)) > 0) {
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 2;
		if (pthread_timedjoin_np(reader, NULL, &t) == 0)
			close(stop_fd);
	}
	state = STOPPED;
	pthread_mutex_unlock(&sync_lock);
}
