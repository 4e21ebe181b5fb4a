/* SPDX-License-Identifier: MIT */
/*
 * cache_rcu.c - grace periods for the cache's lockless lookups, from
 * liburcu, in the flavour the core links (CMakeLists.txt UHMM_URCU_FLAVOR):
 * bp normally, mb under TSan (the core's reasons are in src/rcu.h).  The
 * flavour is one per process, shared with the core, so this wrapper must
 * not disturb the core's own bookkeeping:
 *
 *  - bp registers a thread by itself on first use (once, idempotent);
 *  - mb needs a registered thread for read_lock and call_rcu.  The core
 *    registers a thread lazily and tracks that in a flag of its own, so a
 *    thread registered here first would be registered twice when the core
 *    gets to it.  A thread liburcu does not know yet is therefore
 *    registered only for the duration of one read-side section or call_rcu
 *    and unregistered right after (only in TSan builds: it costs a mutex).
 *
 * Under TSan, liburcu is not instrumented: the grace period's ordering
 * (every read-side section that began before it ends before the callback
 * runs) is told to TSan as release at read_unlock and at call, acquire at
 * the start of a callback, as the core does.
 */
#include <pthread.h>
#include <stdbool.h>

#if defined(__SANITIZE_THREAD__)
#define RC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RC_TSAN 1
#endif
#endif

#if defined(UHMM_URCU_MB) || defined(RC_TSAN)
#define RC_URCU_MB 1
#include <urcu/urcu-mb.h>
#include <urcu/static/urcu-mb.h>	/* the per-thread 'registered' flag */
#define URCU(name) urcu_mb_##name
#else
#include <urcu/urcu-bp.h>
#define URCU(name) urcu_bp_##name
#endif

#include "cache.h"

#ifdef RC_TSAN
#include <sanitizer/tsan_interface.h>
static char gp_token;
#define tsan_release() __tsan_release(&gp_token)
#define tsan_acquire() __tsan_acquire(&gp_token)
#else
#define tsan_release() ((void)0)
#define tsan_acquire() ((void)0)
#endif

_Static_assert(sizeof(struct rcu_head) <= sizeof(struct rc_rcu_head),
	       "rc_rcu_head too small for liburcu's rcu_head");

#ifdef RC_URCU_MB
/* True if this call registered the thread (and must unregister it). */
static rc_rcu_token enter(void)
{
	if (URCU_TLS(urcu_mb_reader).registered)
		return false;
	URCU(register_thread)();
	return true;
}

static void leave(rc_rcu_token registered_here)
{
	if (registered_here)
		URCU(unregister_thread)();
}
#else
static rc_rcu_token enter(void)
{
	return false;
}

static void leave(rc_rcu_token t)
{
	(void)t;
}
#endif

rc_rcu_token uhmm__rc_rcu_read_lock(void)
{
	rc_rcu_token t = enter();

	URCU(read_lock)();
	return t;
}

void uhmm__rc_rcu_read_unlock(rc_rcu_token t)
{
	tsan_release();
	URCU(read_unlock)();
	leave(t);
}

void uhmm__rc_rcu_call(struct rc_rcu_head *head,
		       void (*fn)(struct rc_rcu_head *head))
{
	rc_rcu_token t = enter();

	/* What the caller did before queuing happens before the callback. */
	tsan_release();
	URCU(call_rcu)((struct rcu_head *)head,
		       (void (*)(struct rcu_head *))fn);
	leave(t);
}

void uhmm__rc_rcu_callback_begin(void)
{
	tsan_acquire();
}
