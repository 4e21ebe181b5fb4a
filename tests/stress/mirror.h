/* SPDX-License-Identifier: MIT */
/*
 * mirror.h - a minimal device mirror for the collision-retry tests and the
 * stress program: one owner lock, one interval subscription over a window of
 * real pages, and a "translation" (a snapshot of each page's first word)
 * built with the canonical loop of uhmm/interval.h and zapped by the
 * callback.
 *
 * The invariant, checked wherever the owner lock is held (commit, callback,
 * and by changers after uhmm_invalidate_range_end()):
 *
 *     valid  =>  snap[i] == the first word of page i, for every page
 *
 * Pages change only between a uhmm_invalidate_range_start() that returned 0
 * and its _end() (mirror_change()).  Start calls the callback, which zaps
 * under the lock before the change; read_begin/read_retry keep the owner from
 * committing a snapshot taken before or during the change.  A lost
 * invalidation, a read_retry that misses one, or a read_begin that does not
 * wait for its subscription's invalidation each leave a valid snapshot of old
 * content, which the next check counts in ->stale.
 *
 * Only before-the-change ranges are used: with UHMM_RANGE_AFTER the pages
 * change before the callback runs and no protocol can prevent a stale commit
 * in between.
 */
#ifndef UHMM_TEST_MIRROR_H
#define UHMM_TEST_MIRROR_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include <uhmm/uhmm.h>

/* TSan models mmap(MAP_FIXED) as a plain write over the range, racing
 * with the owners' atomic reads: changers only discard there. */
#if defined(__SANITIZE_THREAD__)
#define MIRROR_REMAP_OK 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MIRROR_REMAP_OK 0
#endif
#endif
#ifndef MIRROR_REMAP_OK
#define MIRROR_REMAP_OK 1
#endif

#define MIRROR_MAX_PAGES 8
#define MIRROR_ALIVE 0x4d4952524f52UL	/* "MIRROR" */
#define MIRROR_DEAD 0xdeadUL

struct mirror {
	struct uhmm_interval_sub sub;
	pthread_mutex_t lock;
	unsigned long magic;		/* atomic: ALIVE from init to poison */
	char *base;			/* immutable: first page of the window */
	unsigned int npages;		/* immutable */
	unsigned int cb_yield;		/* immutable: yield in every n-th cb */
	bool valid;			/* under lock */
	unsigned long snap[MIRROR_MAX_PAGES];	/* under lock */
	/* statistics, atomic */
	unsigned long callbacks;	/* callbacks that zapped */
	unsigned long refused;		/* non-blockable callbacks refusing */
	unsigned long commits;
	unsigned long retries;		/* read_retry() said true */
	unsigned long stale;		/* invariant violations */
	unsigned long in_cb;		/* callbacks running now */
};

/* Callbacks that found a poisoned (removed) mirror: atomic, global because
 * the mirror itself may be freed. */
static unsigned long mirror_bad_cb;

#define MIRROR_INC(m, field) __atomic_add_fetch(&(m)->field, 1, __ATOMIC_RELAXED)
#define MIRROR_GET(m, field) __atomic_load_n(&(m)->field, __ATOMIC_RELAXED)

static inline unsigned long *mirror_word(char *base, unsigned int i)
{
	return (unsigned long *)(base + (size_t)i * uhmm_page_size());
}

static inline unsigned long mirror_peek(char *base, unsigned int i)
{
	return __atomic_load_n(mirror_word(base, i), __ATOMIC_RELAXED);
}

static inline void mirror_snapshot(const struct mirror *m, unsigned long *out)
{
	unsigned int i;

	for (i = 0; i < m->npages; i++)
		out[i] = mirror_peek(m->base, i);
}

/* Does @snap still describe the pages?  Owner lock held. */
static inline bool mirror_matches(const struct mirror *m,
				  const unsigned long *snap)
{
	unsigned int i;

	for (i = 0; i < m->npages; i++)
		if (snap[i] != mirror_peek(m->base, i))
			return false;
	return true;
}

static inline void mirror_check_locked(struct mirror *m)
{
	if (m->valid && !mirror_matches(m, m->snap))
		MIRROR_INC(m, stale);
}

/* Lock and check the invariant: what a changer does after _end(). */
static inline void mirror_check(struct mirror *m)
{
	pthread_mutex_lock(&m->lock);
	mirror_check_locked(m);
	pthread_mutex_unlock(&m->lock);
}

static inline bool mirror_invalidate(struct uhmm_interval_sub *sub,
				     const struct uhmm_notifier_range *r,
				     unsigned long cur_seq)
{
	struct mirror *m = (struct mirror *)((char *)sub -
					     offsetof(struct mirror, sub));
	unsigned long n;

	if (__atomic_load_n(&m->magic, __ATOMIC_RELAXED) != MIRROR_ALIVE) {
		__atomic_add_fetch(&mirror_bad_cb, 1, __ATOMIC_RELAXED);
		return true;
	}
	MIRROR_INC(m, in_cb);
	if (uhmm_range_blockable(r)) {
		pthread_mutex_lock(&m->lock);
	} else if (pthread_mutex_trylock(&m->lock)) {
		MIRROR_INC(m, refused);
		__atomic_sub_fetch(&m->in_cb, 1, __ATOMIC_RELEASE);
		return false;
	}
	uhmm_interval_set_seq(sub, cur_seq);
	mirror_check_locked(m);	/* the change has not happened yet */
	m->valid = false;
	n = MIRROR_INC(m, callbacks);
	pthread_mutex_unlock(&m->lock);
	if (m->cb_yield && n % m->cb_yield == 0)
		sched_yield();	/* widen the window remove must wait for */
	__atomic_sub_fetch(&m->in_cb, 1, __ATOMIC_RELEASE);
	return true;
}

static const struct uhmm_interval_sub_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

static inline void mirror_init(struct mirror *m, char *base,
			       unsigned int npages)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->base = base;
	m->npages = npages;
	m->magic = MIRROR_ALIVE;
}

static inline int mirror_insert(struct mirror *m, struct uhmm_mm *mm)
{
	return uhmm_interval_sub_insert(&m->sub, mm, (unsigned long)m->base,
					(unsigned long)m->npages *
					uhmm_page_size(), &mirror_ops);
}

/* After remove: any later callback counts in mirror_bad_cb (or trips ASan). */
static inline void mirror_poison(struct mirror *m)
{
	__atomic_store_n(&m->magic, MIRROR_DEAD, __ATOMIC_RELAXED);
	pthread_mutex_destroy(&m->lock);
}

/*
 * The canonical owner loop.  @mid, if set, runs between the snapshot and the
 * lock, where a real owner faults pages (no owner lock held).  Returns how
 * many times this call retried.
 */
static inline unsigned long mirror_build(struct mirror *m,
					 void (*mid)(struct mirror *, void *),
					 void *arg)
{
	unsigned long seq, snap[MIRROR_MAX_PAGES], tries = 0;

again:
	seq = uhmm_interval_read_begin(&m->sub);
	mirror_snapshot(m, snap);
	if (mid)
		mid(m, arg);
	pthread_mutex_lock(&m->lock);
	if (uhmm_interval_read_retry(&m->sub, seq)) {
		pthread_mutex_unlock(&m->lock);
		MIRROR_INC(m, retries);
		tries++;
		goto again;
	}
	mirror_check_locked(m);	/* the translation being replaced */
	if (!mirror_matches(m, snap))
		MIRROR_INC(m, stale);	/* about to commit old content */
	memcpy(m->snap, snap, sizeof(snap));
	m->valid = true;
	MIRROR_INC(m, commits);
	pthread_mutex_unlock(&m->lock);
	return tries;
}

/* Drop the translation (before remove; a real owner frees its tables). */
static inline void mirror_zap(struct mirror *m)
{
	pthread_mutex_lock(&m->lock);
	m->valid = false;
	pthread_mutex_unlock(&m->lock);
}

enum mirror_how {
	MIRROR_DISCARD,		/* madvise(MADV_DONTNEED), event CLEAR */
	MIRROR_REMAP,		/* mmap(MAP_FIXED) fresh pages, event UNMAP */
};

static unsigned long mirror_gen;	/* atomic: unique page contents */

static inline int mirror_apply(char *p, size_t len, enum mirror_how how)
{
	if (how == MIRROR_REMAP)
		return mmap(p, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		       MAP_FAILED ? -1 : 0;
	return madvise(p, len, MADV_DONTNEED);
}

/*
 * Change pages [first, first + n) of @base for real, announced to @mm:
 * start, discard or replace them, write a new generation into each, end.
 * Return: 0 changed; the start's error (-EAGAIN: nothing changed); -1 if
 * the system call failed (after _end()).
 */
static inline int mirror_change(struct uhmm_mm *mm, char *base,
				unsigned int first, unsigned int n,
				enum mirror_how how, unsigned int flags)
{
	struct uhmm_notifier_range r;
	char *p = (char *)mirror_word(base, first);
	size_t len = (size_t)n * uhmm_page_size();
	unsigned int i;
	int ret;

	uhmm_notifier_range_init(&r, how == MIRROR_REMAP ? UHMM_EVENT_UNMAP :
				 UHMM_EVENT_CLEAR, flags, mm,
				 (unsigned long)p, (unsigned long)p + len);
	ret = uhmm_invalidate_range_start(&r);
	if (ret)
		return ret;
	ret = mirror_apply(p, len, how);
	for (i = 0; i < n; i++)
		__atomic_store_n(mirror_word(base, first + i),
				 __atomic_add_fetch(&mirror_gen, 1,
						    __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	uhmm_invalidate_range_end(&r);
	return ret;
}

/* A fresh private region of @npages pages, page i's first word i + 1;
 * NULL if mmap() failed. */
static inline char *mirror_map_region(unsigned int npages)
{
	char *p = mmap(NULL, (size_t)npages * uhmm_page_size(),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	unsigned int i;

	if (p == MAP_FAILED)
		return NULL;
	for (i = 0; i < npages; i++)
		*mirror_word(p, i) = i + 1;
	return p;
}

/* xorshift64: each changer thread's own cheap random sequence. */
static inline unsigned long mirror_rnd(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* How a changer changes pages: replace or discard, at random. */
static inline enum mirror_how mirror_pick_how(unsigned long *rng)
{
	return MIRROR_REMAP_OK && mirror_rnd(rng) % 2 ? MIRROR_REMAP :
						       MIRROR_DISCARD;
}

/* Do pages [first, first + n) overlap @m's window? */
static inline bool mirror_overlaps(const struct mirror *m, char *base,
				   unsigned int first, unsigned int n)
{
	char *p = (char *)mirror_word(base, first);
	char *e = p + (size_t)n * uhmm_page_size();
	char *me = m->base + (size_t)m->npages * uhmm_page_size();

	return p < me && m->base < e;
}

#endif /* UHMM_TEST_MIRROR_H */
