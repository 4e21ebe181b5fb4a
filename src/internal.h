/* SPDX-License-Identifier: MIT */
/*
 * internal.h - definitions shared by the core's files.
 *
 * Lock order (the only place it is written down):
 *
 *     registry.lock (mm.c)         (live mm handles, an RCU list; fork prepare)
 *       -> mm->subs_lock           (whole-space subscription list writers)
 *         -> mm->itree_lock        (interval tree, sequence, deferred list)
 *           -> deferred.lock       (notifier.c: deferred-free counts; a leaf)
 *
 * No uhmm lock is ever held while a user callback runs.  Callbacks run inside
 * a read-side RCU section (whole-space ops) or inside an "active invalidation"
 * (interval ops), both of which other threads wait for without holding a lock
 * a callback could need.
 */
#ifndef UHMM_INTERNAL_H
#define UHMM_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uhmm/uhmm.h>
#include "os/os.h"
#include "rcu.h"

#define UHMM__STR2(x) #x
#define UHMM__STR(x) UHMM__STR2(x)

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ */
/* Dying and debug checks (src/debug.c)                                 */

/* Print "uhmm: file:line: msg" to stderr with write(2) and abort(). */
__attribute__((noreturn, cold)) void uhmm__die(const char *where, const char *msg);
#define UHMM_DIE(msg) uhmm__die(__FILE__ ":" UHMM__STR(__LINE__), msg)

/* A pthread call that cannot fail failed: die. */
#define UHMM_CHECK(call)                                                   \
	do {                                                               \
		if (unlikely((call) != 0))                                 \
			UHMM_DIE(#call " failed");                         \
	} while (0)

#ifdef UHMM_DEBUG
#define UHMM_BUG_ON(cond)                                                  \
	do {                                                               \
		if (unlikely(cond))                                        \
			UHMM_DIE("BUG_ON(" #cond ")");                     \
	} while (0)
#else
#define UHMM_BUG_ON(cond) ((void)0)
#endif

/* Mutex that, in debug builds, records its owner. */
struct uhmm__mutex {
	pthread_mutex_t m;
#ifdef UHMM_DEBUG
	int owner;			/* atomic: tid of holder, 0 if free */
#endif
};

void uhmm__mutex_init(struct uhmm__mutex *m);
void uhmm__mutex_destroy(struct uhmm__mutex *m);
void uhmm__mutex_lock(struct uhmm__mutex *m);
void uhmm__mutex_unlock(struct uhmm__mutex *m);
/* Lock @m if it is free; true if now held. */
bool uhmm__mutex_trylock(struct uhmm__mutex *m);
/* pthread_cond_wait() on @m, keeping the debug owner right. */
void uhmm__cond_wait(pthread_cond_t *c, struct uhmm__mutex *m);
/* In a fork child: the forking thread, whose tid changed, owns @m. */
void uhmm__mutex_adopt(struct uhmm__mutex *m);

#ifdef UHMM_DEBUG
void uhmm__lock_assert_held_at(struct uhmm__mutex *m, const char *where);
#define uhmm__lock_assert_held(m) \
	uhmm__lock_assert_held_at(m, __FILE__ ":" UHMM__STR(__LINE__))
#else
#define uhmm__lock_assert_held(m) ((void)(m))
#endif

/*
 * Callback context.  Every user callback runs between cb_enter and cb_exit;
 * functions that must not run from a callback check uhmm__in_callback().
 */
extern __thread unsigned int uhmm__cb_depth;

static inline void uhmm__cb_enter(void) { uhmm__cb_depth++; }
static inline void uhmm__cb_exit(void) { uhmm__cb_depth--; }
static inline bool uhmm__in_callback(void) { return uhmm__cb_depth != 0; }

/* ------------------------------------------------------------------ */
/* Interval tree (src/itree.c): augmented AVL over [it_start, it_last]. */

struct uhmm__itree {
	struct uhmm_interval_sub *root;
	unsigned long count;
};

void uhmm__itree_insert(struct uhmm__itree *t, struct uhmm_interval_sub *n);
void uhmm__itree_remove(struct uhmm__itree *t, struct uhmm_interval_sub *n);
/*
 * Overlap iterator: every node overlapping [start, last], in address order,
 * O(log n + k) in all, with one descent from the root.  The state is an
 * explicit stack, so a walk begun under mm->itree_lock can go on without it
 * while the tree is frozen (the sequence is odd).  AVL height is below
 * 1.45 log2(n + 2): 64 levels cover any tree that fits in memory.
 */
#define UHMM__ITREE_MAX_DEPTH 64
struct uhmm__itree_iter {
	unsigned long start, last;
	int depth;
	struct uhmm_interval_sub *stack[UHMM__ITREE_MAX_DEPTH];
};

struct uhmm_interval_sub *uhmm__itree_iter_first(struct uhmm__itree *t,
						 struct uhmm__itree_iter *it,
						 unsigned long start,
						 unsigned long last);
struct uhmm_interval_sub *uhmm__itree_iter_next(struct uhmm__itree_iter *it);
/* Call fn(node, arg) for each overlap until it returns non-zero (returned). */
int uhmm__itree_for_each(struct uhmm__itree *t, unsigned long start,
			 unsigned long last,
			 int (*fn)(struct uhmm_interval_sub *, void *), void *arg);

/* ------------------------------------------------------------------ */
/* Address space                                                        */

enum uhmm__notifier_state {
	UHMM__NS_IDLE = 0,	/* not registered */
	UHMM__NS_LIVE,		/* registered, release not called */
	UHMM__NS_RELEASING,	/* release is being called (by teardown or unregister) */
	UHMM__NS_RELEASED,	/* release has been called */
};

enum uhmm__interval_state {
	UHMM__IS_NONE = 0,	/* not inserted */
	UHMM__IS_TREE,		/* in the tree */
	UHMM__IS_PENDING_INSERT,/* on the deferred list, to be inserted */
	UHMM__IS_PENDING_REMOVE,/* in the tree and on the deferred list, to be removed */
};

/*
 * Interval filter (src/ifilter.c): a lock-free, conservative summary of
 * which addresses an mm's interval subscriptions may cover.
 *   count:        under mm->itree_lock; @delta +1 when a subscription is
 *                 inserted (also deferred), -1 when it is gone.
 *   may_overlap:  no lock, no allocation, no system call; false only if no
 *                 subscription counted now overlaps [start, last].  All
 *                 accesses are sequentially consistent (interval.c's
 *                 insert/invalidate pairing relies on it).
 */
#define UHMM__IFILTER_LOG2_SLOTS	14
#define UHMM__IFILTER_SLOTS		(1u << UHMM__IFILTER_LOG2_SLOTS)
#define UHMM__IFILTER_LEVELS		5

struct uhmm__ifilter {
	unsigned int shift[UHMM__IFILTER_LEVELS];	/* immutable */
	unsigned int wide;				/* atomic */
	unsigned int at_level[UHMM__IFILTER_LEVELS];	/* atomic */
	unsigned int slot[UHMM__IFILTER_SLOTS];		/* atomic */
};

/* A new, empty filter (its own zeroed mapping), or NULL; and back. */
struct uhmm__ifilter *uhmm__ifilter_new(void);
void uhmm__ifilter_delete(struct uhmm__ifilter *f);
/* Make @f, on zeroed memory, ready (the model tests' static ones). */
void uhmm__ifilter_init(struct uhmm__ifilter *f);
void uhmm__ifilter_count(struct uhmm__ifilter *f, unsigned long start,
			 unsigned long last, int delta);
bool uhmm__ifilter_may_overlap(const struct uhmm__ifilter *f,
			       unsigned long start, unsigned long last);

struct uhmm_mm {
	int users;			/* atomic */
	int count;			/* atomic */
	int released;			/* atomic: teardown's callbacks claimed */
	unsigned long fork_gen;		/* immutable: uhmm__fork_gen at creation */

	/* Whole-space subscriptions. */
	struct uhmm__mutex subs_lock;
	struct uhmm_notifier *subs;	/* RCU list; written under subs_lock */
	bool dead;			/* under subs_lock: teardown has begun */

	/* Interval subscriptions (the kernel's mmu_notifier_subscriptions). */
	struct uhmm__mutex itree_lock;
	pthread_cond_t itree_wq;	/* with itree_lock: sequence moved */
	unsigned long invalidate_seq;	/* written under itree_lock, read atomically */
	unsigned long active_invalidate_ranges;	/* atomic; see interval.c */
	struct uhmm__itree itree;	/* under itree_lock; stable while seq is odd */
	struct uhmm_interval_sub *deferred;	/* under itree_lock */
	struct uhmm__ifilter *ifilter;	/* immutable pointer; the filter is
					 * written under itree_lock, read freely */

	/* Registry of live handles (for fork and capture). */
	struct uhmm_mm *reg_next;	/* RCU; written under registry lock */
	struct uhmm_mm *reg_prev;	/* under registry lock */
	struct uhmm__rcu_head rcu;	/* deferred free after unlinking */
};

/* Incremented in the child after every fork(); handles made under an older
 * value are inert.  Read atomically. */
extern unsigned long uhmm__fork_gen;

static inline bool uhmm__mm_inert(const struct uhmm_mm *mm)
{
	return mm->fork_gen != __atomic_load_n(&uhmm__fork_gen, __ATOMIC_RELAXED);
}

/* Teardown's interval part (src/interval.c): RELEASE over everything. */
void uhmm__interval_release(struct uhmm_mm *mm);
/* Teardown's whole-space part (src/notifier.c). */
void uhmm__notifier_release(struct uhmm_mm *mm);
/* Dispatch (src/notifier.c / src/interval.c). */
int uhmm__notifier_invalidate_start(const struct uhmm_notifier_range *r);
void uhmm__notifier_invalidate_end(const struct uhmm_notifier_range *r);
int uhmm__interval_invalidate_start(const struct uhmm_notifier_range *r,
				    bool *hit);
void uhmm__interval_invalidate_end(struct uhmm_mm *mm);
/* Per-mm init/destroy of the parts. */
void uhmm__interval_mm_init(struct uhmm_mm *mm);
void uhmm__interval_mm_destroy(struct uhmm_mm *mm);

/* Process-wide state of notifier.c: init, and its part of fork. */
void uhmm__notifier_init(void);
void uhmm__notifier_fork_prepare(void);
void uhmm__notifier_fork_parent(void);
void uhmm__notifier_fork_child(void);

/*
 * Grab every live handle (for capture); see src/mm.c.  Exported from
 * libuhmm.so in the UHMM_PRIVATE version node (src/uhmm.map) for
 * libuhmm-interpose.so, so a process has one core whichever it links.
 */
UHMM_API int uhmm__mm_grab_live(struct uhmm_mm **out, int max);
UHMM_API int uhmm__mm_grab_live_trylock(struct uhmm_mm **out, int max);
UHMM_API bool uhmm__mm_live_may_cover(unsigned long start, unsigned long last);
/*
 * Exported likewise (src/rcu.c): may a hook on any mmap take an RCU read
 * lock?  False while liburcu has yet to register this thread (bp flavour):
 * registering maps memory under liburcu's registry lock, and a read lock
 * taken from a hook on that mmap would register again and wait for that
 * lock forever.  Lock free.
 */
UHMM_API bool uhmm__rcu_thread_known(void);

/*
 * Capture's view of the interval subscriptions (src/interval.c; exported in
 * UHMM_PRIVATE for libuhmm-interpose.so's userfaultfd mechanism,
 * src/capture/uffd.c, which registers the memory they cover).
 *
 * uhmm__itree_changed_hook: if set, called with no lock held at the end of
 * every uhmm_interval_sub_insert() and _remove() that succeeded, in the
 * caller's thread (never from a callback: those calls refuse to run there),
 * with the subscription's [start, last] and whether it was inserted (true)
 * or removed (false).  It is not called when a deferred insert or remove is
 * applied at the end of an invalidation: that end may run inside free(),
 * and uhmm__interval_ranges() already reports pending inserts.  Set once,
 * by a constructor, before any subscription exists.
 *
 * uhmm__interval_ranges(): copy [start, last] of up to @max subscriptions
 * of @mm (in the tree or pending insertion) that overlap [@start, @last]
 * into @out, under itree_lock; @max may be 0 (a count only); with @live,
 * retired ones (uhmm_interval_sub_retire()) are left out.  Context: any
 * thread outside a callback's own itree_lock section (none is held while
 * callbacks run); takes itree_lock, never allocates.
 * Return: how many there are (may exceed @max: only @max were copied).
 */
UHMM_API extern void (*uhmm__itree_changed_hook)(struct uhmm_mm *mm,
						 unsigned long start,
						 unsigned long last,
						 bool inserted);
UHMM_API int uhmm__interval_ranges(struct uhmm_mm *mm, unsigned long start,
				   unsigned long last,
				   unsigned long (*out)[2], int max,
				   bool live);

/* Fork handling (src/mm.c). */
void uhmm__fork_prepare(void);
void uhmm__fork_parent(void);
void uhmm__fork_child(void);

#endif /* UHMM_INTERNAL_H */
