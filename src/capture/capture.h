/* SPDX-License-Identifier: MIT */
/*
 * capture.h - the capture layer's internal contract: turning a call that is
 * about to change the address space into uhmm_invalidate_range_start()
 * before it and uhmm_invalidate_range_end() after it.
 *
 * The parts:
 *   routes.c     pure: which range a call changes, with which event, or
 *                that it changes nothing (no system call, no state);
 *   dispatch.c   announces one change to every live handle of the process;
 *   interpose*.c the symbol wrappers (libuhmm-interpose.so): route, begin,
 *                the real call, end; a pass-through for a patched function;
 *   patch*.c     libc's own entries rewritten to jump to replacements that
 *                route, begin, make the system call, end (patch.h), which
 *                also catches glibc's internal calls.
 *
 * A wrapper looks like this (errno is the real call's on return):
 *
 *     struct uhmm__span s;
 *     struct uhmm__change c;
 *
 *     if (!uhmm__capture_on() || !uhmm__route_munmap(&s, addr, len))
 *             return real_munmap(addr, len);
 *     uhmm__change_begin(&c, &s);
 *     ret = real_munmap(addr, len);
 *     uhmm__change_end(&c);
 *     return ret;
 *
 * Over-announcing is always safe (a subscriber rebuilds a translation that
 * was still good); announcing nothing for a real change is the one bug, so
 * the routes stay conservative where the outcome is known only afterwards.
 */
#ifndef UHMM_CAPTURE_H
#define UHMM_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uhmm/invalidate.h>

/**
 * struct uhmm__span - one range a call is about to change.
 * @start: first byte (not necessarily page aligned: the core rounds).
 * @end: one past the last byte; > @start.
 * @event: UNMAP, CLEAR or PROTECTION.
 */
struct uhmm__span {
	unsigned long start;
	unsigned long end;
	enum uhmm_event event;
};

/* ------------------------------------------------------------------ */
/* Routes (routes.c).  Each fills @s and returns true if the call changes
 * existing memory, false if it changes none (then @s is untouched).  They
 * take the call's own arguments plus, where the answer depends on the
 * address space, the state the wrapper read (the current break, the size
 * of a segment, the extent of a mapping).  None makes a system call.      */

bool uhmm__route_munmap(struct uhmm__span *s, unsigned long addr,
			size_t len);
bool uhmm__route_mmap(struct uhmm__span *s, unsigned long addr, size_t len,
		      int flags);
/*
 * mremap can change two ranges (the old one and, with MREMAP_FIXED, the
 * target): @s[0] and @s[1].  Return: how many of @s are filled (0..2).
 */
int uhmm__route_mremap(struct uhmm__span s[2], unsigned long old,
		       size_t old_size, size_t new_size, int flags,
		       unsigned long new_addr);
bool uhmm__route_madvise(struct uhmm__span *s, unsigned long addr,
			 size_t len, int advice);
bool uhmm__route_mprotect(struct uhmm__span *s, unsigned long addr,
			  size_t len, int prot);
/*
 * An mremap of [@old, @old + @old_size) failed with EFAULT.  If the
 * userfaultfd mechanism runs, its registration may have split what was one
 * mapping (mremap cannot cross mappings): fill @s with the old range as an
 * UNMAP and return true, and the caller retries once inside that change,
 * which ends the registration there (and so joins the pieces) for the call.
 */
bool uhmm__mremap_split(struct uhmm__span *s, const void *old,
			size_t old_size);

/* brk(@new_brk) with the break at @cur_brk. */
bool uhmm__route_brk(struct uhmm__span *s, unsigned long cur_brk,
		     unsigned long new_brk);
/* sbrk(@incr) with the break at @cur_brk. */
bool uhmm__route_sbrk(struct uhmm__span *s, unsigned long cur_brk,
		      intptr_t incr);
/* shmat(, @addr, @flags) of a segment of @size bytes (0: unknown). */
bool uhmm__route_shmat(struct uhmm__span *s, unsigned long addr, int flags,
		       size_t size);
/* shmdt(@addr) where the mapping at @addr ends at @map_end (0: none). */
bool uhmm__route_shmdt(struct uhmm__span *s, unsigned long addr,
		       unsigned long map_end);

/* ------------------------------------------------------------------ */
/* Dispatch (dispatch.c).                                              */

/*
 * At most this many live handles are told about one change.  A process
 * rarely has more than two (the process handle and a library's own); past
 * the cap the remaining handles are not told, uhmm__capture_missed() counts
 * it and the first time a line goes to stderr.  The cap keeps the hook path
 * allocation free: the started ranges live on the caller's stack.
 */
#define UHMM__CAPTURE_MAX_MM	16

/**
 * struct uhmm__change - one change being announced, on the caller's stack.
 * @n: how many handles were started (each gets its end).
 * @making: true from begin to end: this thread is making @span.
 * @quiet: its userfaultfd registration was ended for the call (uffd.h).
 * @unmapped: the call unmapped all of @span (uhmm__change_unmapped()).
 * @uffd_gen: the registration generation quiet_begin saw (uffd.h).
 * @span: what was announced.
 * @outer: the change this thread was making when this one began.
 * @range: the range each started handle saw (range_end needs the same one).
 *
 * Private to dispatch.c; callers only pass it to begin and end.
 */
struct uhmm__change {
	int n;
	bool making;
	bool quiet;
	bool unmapped;
	unsigned long uffd_gen;
	struct uhmm__span span;
	const struct uhmm__change *outer;
	struct uhmm_notifier_range range[UHMM__CAPTURE_MAX_MM];
};

/**
 * uhmm__change_begin() - announce @s to every live handle of the process.
 * @c: the change, filled here.
 * @s: the span; NULL announces nothing (then end does nothing either).
 *
 * Grabs every live handle (uhmm__mm_grab_live(), which holds the registry
 * lock only while it copies), then uhmm_invalidate_range_start() with
 * UHMM_RANGE_BLOCKABLE on each, with no uhmm lock held.  A handle whose
 * start fails (-ESRCH: inert after fork or torn down meanwhile; -EINVAL)
 * is dropped and not ended; -EAGAIN cannot happen with BLOCKABLE.
 *
 * A span inside the change this thread is already making (between that
 * change's begin and end, outside its callbacks) announces nothing: it is
 * the same change reaching us again through another layer, such as another
 * library's munmap hook calling libc's syscall() under our munmap wrapper.
 *
 * Context: any thread, also inside a callback (nested changes are
 * allowed); never allocates; errno is preserved.
 */
void uhmm__change_begin(struct uhmm__change *c, const struct uhmm__span *s);

/**
 * uhmm__change_unmapped() - the call announced by @c unmapped all of its
 * span (a munmap that returned 0): nothing is left there to register with
 * userfaultfd again, so uhmm__change_end() skips that, and this thread
 * remembers the span as holding no registration of ours (uffd.h).
 * Context: between begin and end, after the system call; lock free.
 */
static inline void uhmm__change_unmapped(struct uhmm__change *c)
{
	c->unmapped = true;
}

/**
 * uhmm__change_end() - the change announced by begin is done.
 * @c: as filled by uhmm__change_begin().
 *
 * uhmm_invalidate_range_end() and uhmm_mm_drop() for each started handle.
 *
 * Context: as uhmm__change_begin(); errno is preserved, so the real call's
 * errno reaches the application.
 */
void uhmm__change_end(struct uhmm__change *c);

/* How many (handle, change) pairs went unannounced past the cap. */
unsigned long uhmm__capture_missed(void);

#endif /* UHMM_CAPTURE_H */
