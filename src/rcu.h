/* SPDX-License-Identifier: MIT */
/*
 * rcu.h - grace periods, from liburcu.
 *
 * The flavour is chosen at build time (UHMM_URCU_MB or the default bp):
 *  - bp ("bulletproof") needs no thread registration, suits a library whose
 *    read-side sections run in any application thread, and has fork hooks;
 *  - mb (full barriers) is used under TSan: bp and memb synchronise through
 *    membarrier(2), which TSan cannot see.  mb needs every reader thread
 *    registered: uhmm__rcu_read_lock() registers a thread on first use and a
 *    thread-exit destructor unregisters it.
 *
 * Under TSan the library itself is not instrumented, so the happens-before
 * edge RCU provides (every read-side section that began before a grace period
 * ends before the grace period does) is told to TSan explicitly: read_unlock
 * releases a token, the end of synchronize and the start of a deferred
 * callback acquire it.
 *
 * Publication of RCU-protected pointers uses C11-style __atomic builtins
 * (uhmm__rcu_assign / uhmm__rcu_deref), which TSan understands, rather than
 * liburcu's inline-assembly rcu_assign_pointer.
 */
#ifndef UHMM_RCU_H
#define UHMM_RCU_H

struct uhmm__rcu_head {
	void *opaque[2];	/* liburcu's struct rcu_head */
};

void uhmm__rcu_read_lock(void);
void uhmm__rcu_read_unlock(void);
void uhmm__rcu_synchronize(void);
/* Run fn(head) after a grace period, in liburcu's call_rcu thread. */
void uhmm__rcu_call(struct uhmm__rcu_head *head,
		    void (*fn)(struct uhmm__rcu_head *head));
/* First call in every uhmm__rcu_call() callback (tells TSan about the
 * grace period that preceded it). */
void uhmm__rcu_callback_begin(void);
void uhmm__rcu_fork_prepare(void);
void uhmm__rcu_fork_parent(void);
void uhmm__rcu_fork_child(void);

#define uhmm__rcu_assign(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define uhmm__rcu_deref(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)

#endif /* UHMM_RCU_H */
