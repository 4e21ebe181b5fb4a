/* SPDX-License-Identifier: MIT */
/*
 * rcu.c - the liburcu flavour wrapper (see rcu.h for why two flavours).
 */
#include <pthread.h>
#include <stddef.h>

#ifdef UHMM_URCU_MB
#include <urcu/urcu-mb.h>
#include <urcu/static/urcu-mb.h>	/* liburcu's per-thread 'registered' */
#define URCU(name) urcu_mb_##name
#else
#include <urcu/urcu-bp.h>
#include <urcu/static/urcu-bp.h>	/* liburcu's per-thread reader */
#define URCU(name) urcu_bp_##name
#endif

#include "internal.h"

#if defined(__SANITIZE_THREAD__)
#define UHMM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UHMM_TSAN 1
#endif
#endif

/*
 * The read side inline (liburcu's static header), except under the
 * sanitizers, which would instrument liburcu's own fast path in our code:
 * TSan reports its benign races on the grace-period word, and UBSan its
 * reader slots, which liburcu-bp's arena aligns to less than the struct
 * declares.
 */
#if defined(UHMM_TSAN) || defined(__SANITIZE_ADDRESS__) || \
	defined(UHMM_URCU_MB)
#define URCU_INLINE(name) URCU(name)
#else
#define URCU_INLINE(name) _urcu_bp_##name
#endif

#ifdef UHMM_TSAN
#include <sanitizer/tsan_interface.h>
static char tsan_gp_token;
#define tsan_release() __tsan_release(&tsan_gp_token)
#define tsan_acquire() __tsan_acquire(&tsan_gp_token)
#else
#define tsan_release() ((void)0)
#define tsan_acquire() ((void)0)
#endif

_Static_assert(sizeof(struct rcu_head) <= sizeof(struct uhmm__rcu_head),
	       "uhmm__rcu_head too small for liburcu's rcu_head");
_Static_assert(sizeof(struct uhmm__rcu_head) == sizeof(((struct uhmm_notifier *)0)->rcu_head),
	       "struct uhmm_notifier's rcu storage does not match");

#ifdef UHMM_URCU_MB
/*
 * Whether a thread is registered is liburcu's own flag: another user of the
 * same flavour in the process (libuhmm-rcache registers a thread around
 * one read-side section) or liburcu itself (its call_rcu thread) may have
 * registered it, and registering twice aborts.  @registered says only that
 * we did, so that our thread-exit destructor undoes only our own.
 */
static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static __thread bool registered;

static void reg_destructor(void *arg)
{
	(void)arg;
	if (registered) {
		URCU(unregister_thread)();
		registered = false;
	}
}

static void reg_key_init(void)
{
	UHMM_CHECK(pthread_key_create(&reg_key, reg_destructor));
}

static void register_slow(void)
{
	UHMM_CHECK(pthread_once(&reg_once, reg_key_init));
	URCU(register_thread)();
	registered = true;
	/* Any non-NULL value makes the destructor run at thread exit. */
	UHMM_CHECK(pthread_setspecific(reg_key, &registered));
}

static inline void ensure_registered(void)
{
	if (unlikely(!URCU_TLS(urcu_mb_reader).registered))
		register_slow();
}
#else
static inline void ensure_registered(void) {}
#endif

bool uhmm__rcu_thread_known(void)
{
#ifdef UHMM_URCU_MB
	/* Registering makes no system call and takes no lock a hook may
	 * meet again: a read lock is always safe to take. */
	return true;
#else
	/* Registering maps liburcu's arena under its registry lock. */
	return URCU_TLS(urcu_bp_reader) != NULL;
#endif
}

/*
 * The read side is liburcu's own inline fast path (its static header: a
 * few lines each), not a call into the shared library: every capture hook
 * takes one read-side section, and the out-of-line call costs a PLT jump
 * plus a __tls_get_addr() lookup of the reader, more than the section.
 */
void uhmm__rcu_read_lock(void)
{
	ensure_registered();
	URCU_INLINE(read_lock)();
}

void uhmm__rcu_read_unlock(void)
{
	tsan_release();
	URCU_INLINE(read_unlock)();
}

void uhmm__rcu_synchronize(void)
{
	URCU(synchronize_rcu)();
	tsan_acquire();
}

void uhmm__rcu_call(struct uhmm__rcu_head *head,
		    void (*fn)(struct uhmm__rcu_head *head))
{
	ensure_registered();
	/* What the caller did before queuing happens before the callback
	 * (liburcu's queue and wakeup are invisible to TSan). */
	tsan_release();
	URCU(call_rcu)((struct rcu_head *)head, (void (*)(struct rcu_head *))fn);
}

void uhmm__rcu_callback_begin(void)
{
	/* (Callbacks run in liburcu's call_rcu thread, which liburcu has
	 * registered itself: ensure_registered() sees its flag.) */
	tsan_acquire();
}

void uhmm__rcu_fork_prepare(void)
{
	URCU(call_rcu_before_fork)();
#ifndef UHMM_URCU_MB
	urcu_bp_before_fork();
#endif
}

void uhmm__rcu_fork_parent(void)
{
#ifndef UHMM_URCU_MB
	urcu_bp_after_fork_parent();
#endif
	URCU(call_rcu_after_fork_parent)();
}

void uhmm__rcu_fork_child(void)
{
#ifndef UHMM_URCU_MB
	urcu_bp_after_fork_child();
#endif
	URCU(call_rcu_after_fork_child)();
}
