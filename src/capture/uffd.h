/* SPDX-License-Identifier: MIT */
/*
 * uffd.h - capture by userfaultfd events (docs/capture.md, "userfaultfd"):
 * changes that bypass libc (an inline `syscall` instruction, statically
 * linked code) to memory that interval subscriptions cover, announced with
 * UHMM_RANGE_AFTER by a reader thread.
 *
 * The parts:
 *   uffd.c         lifetime (lazy start, fork, exit) and registration of
 *                  the subscribed ranges, driven by the core's
 *                  uhmm__itree_changed_hook;
 *   uffd_reader.c  the reader thread: poll, invalidate, read, announce.
 */
#ifndef UHMM_CAPTURE_UFFD_H
#define UHMM_CAPTURE_UFFD_H

#include <stdbool.h>

#include <uhmm/invalidate.h>

/*
 * The hull of every range ever subscribed while the mechanism ran (and of
 * every range moved by mremap from a registered one): each registered
 * range lies inside it.  It only grows.  Read by the reader without a lock.
 */
struct uhmm__uffd_hull {
	unsigned long lo;	/* atomic: first byte; ULONG_MAX: empty */
	unsigned long hi;	/* atomic: one past the last byte */
};

extern struct uhmm__uffd_hull uhmm__uffd_hull;

/* Widen the hull to cover [start, end). Context: any thread; lock free. */
void uhmm__uffd_hull_add(unsigned long start, unsigned long end);

/*
 * uhmm__uffd_reader() - the reader thread's body.
 * @arg: unused.
 *
 * Polls the userfaultfd and the stop eventfd (uffd.c), handles every batch
 * of events, and at stop closes the userfaultfd, which unregisters every
 * range and releases any thread still waiting for an event to be read;
 * then sets uhmm__uffd_reader_done and parks until the process ends (it
 * never returns: no thread-exit code runs during process teardown).
 */
void *uhmm__uffd_reader(void *arg);

/* Set (release) by the reader once the userfaultfd is closed at stop. */
extern int uhmm__uffd_reader_done;

/*
 * uhmm__uffd_quiet_begin() - keep a change capture announces from also
 * sending a userfaultfd event.
 * @r: the ranges uhmm__change_begin() started, one per handle (same span).
 * @n: how many; 0 does nothing.
 *
 * Called after the start callbacks and before the system call.  If the
 * mechanism runs and the span overlaps a subscription of one of the
 * handles, ends our registration of the span (page rounded): the call
 * then makes no event, so the reader neither waits for nor invalidates
 * anything, and the caller is not held by the kernel until the reader
 * reads.  Sound because the span's invalidation is open until
 * uhmm__uffd_quiet_end(), which registers again first: a change another
 * thread makes there meanwhile, bypassing libc, lands inside it.
 *
 * The unregister ioctl is skipped where this thread's last quiet munmap
 * left the span bare (uhmm__uffd_quiet_unmapped()) and nothing was
 * registered anywhere since: there is no registration of ours there to
 * end (it still returns true: memory mapped there since is registered by
 * quiet_end, as after any quiet change).  Should
 * one be there after all (a raw mremap moving registered memory in, not
 * yet read by the reader), the call makes an event, which the reader
 * announces as for any bypassing change: slower, never wrong.
 *
 * @gen: set to the registration generation seen before unregistering.
 *
 * Context: the hook path (inside free(), any thread, callbacks included);
 * no lock, no allocation; one or a few ioctls when it unregisters.
 * Return: true if it unregistered (then call uhmm__uffd_quiet_end() or
 * uhmm__uffd_quiet_unmapped()).
 */
bool uhmm__uffd_quiet_begin(const struct uhmm_notifier_range *r, int n,
			    unsigned long *gen);

/*
 * uhmm__uffd_quiet_end() - after the system call: register again what
 * the handles' subscriptions cover of the span (also memory the call just
 * mapped there, such as MAP_FIXED's).  Before the range ends.
 * Context: as uhmm__uffd_quiet_begin().
 */
void uhmm__uffd_quiet_end(const struct uhmm_notifier_range *r, int n);

/*
 * uhmm__uffd_mapped() - libc mapped [addr, addr + len) where nothing was
 * (an mmap capture did not announce: no MAP_FIXED, or NOREPLACE): register
 * what the live handles' subscriptions cover of it, so that a later change
 * there bypassing libc is caught.  Nothing but a hull check unless the
 * mapping lies where a subscription ever was.
 * Context: the hook path, after the system call returned; may run inside
 * liburcu's own registration of this thread (then it skips RCU and grabs
 * the handles only if the registry lock is free); errno is preserved.
 */
void uhmm__uffd_mapped(unsigned long addr, size_t len);

/*
 * uhmm__uffd_quiet_unmapped() - instead of quiet_end when the call
 * unmapped the whole span: nothing there to register; this thread
 * remembers the span as bare as of registration generation @gen (the one
 * quiet_begin returned, seen before the call), so its next quiet change
 * inside the span, if nothing was registered since, needs no ioctl.
 * Context: as uhmm__uffd_quiet_begin(); lock free, no system call.
 */
void uhmm__uffd_quiet_unmapped(const struct uhmm_notifier_range *r,
			       unsigned long gen);

/*
 * uhmm__uffd_registered_more() - memory may have become registered by us
 * (a register ioctl is about to be made, or the kernel moved a registered
 * range with mremap): forget every thread's bare spans.  Lock free.
 */
void uhmm__uffd_registered_more(void);

/*
 * uhmm__uffd_running() - the mechanism is on in this process now.  Its
 * registrations split VMAs at subscription boundaries, which makes mremap
 * of a range that was one mapping fail with EFAULT: the mremap
 * replacements retry once as a quiet change over the old range.
 */
bool uhmm__uffd_running(void);

/*
 * uhmm__uffd_yield() - another userfaultfd (@fd, the application's) was
 * refused [start, start + len) with EBUSY, maybe because we registered it.
 * If @fd is not ours and the mechanism runs: end our registration there,
 * say so once on stderr, and return true (retry); else false.
 * Context: the application's ioctl() call; no lock, no allocation.
 */
bool uhmm__uffd_yield(int fd, unsigned long start, unsigned long len);

/* The descriptors the reader works on (uffd.c); fixed while it runs. */
int uhmm__uffd_fd(void);
int uhmm__uffd_stop_fd(void);

#endif /* UHMM_CAPTURE_UFFD_H */
