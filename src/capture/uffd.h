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
 * range and releases any thread still waiting for an event to be read.
 */
void *uhmm__uffd_reader(void *arg);

/* The descriptors the reader works on (uffd.c); fixed while it runs. */
int uhmm__uffd_fd(void);
int uhmm__uffd_stop_fd(void);

#endif /* UHMM_CAPTURE_UFFD_H */
