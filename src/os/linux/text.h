/* SPDX-License-Identifier: MIT */
/*
 * text.h - changing the bytes of code that other threads may be running,
 * for the capture layer's entry patching (src/capture/patch.c).
 *
 * Three primitives; the protocol that makes a multi-byte change safe
 * (breakpoint first, then the tail, then the first byte) is the caller's:
 *
 *   uhmm__text_write()  writes bytes into (read-only) code, through
 *                       /proc/self/mem, else through a short mprotect
 *                       window, then serialises every core;
 *   uhmm__text_sync()   makes every core of the process see the current
 *                       code bytes before it fetches another instruction
 *                       (membarrier SYNC_CORE);
 *   uhmm__text_trap_set() tells the SIGTRAP handler where a thread that
 *                       hits a site's int3 (written as the first step of a
 *                       change) must continue instead.
 *
 * x86-64 only; everywhere else uhmm__text_init() fails with -ENOSYS.
 */
#ifndef UHMM_OS_LINUX_TEXT_H
#define UHMM_OS_LINUX_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Most sites the trap handler knows; a fixed table, no allocation. */
#define UHMM__TEXT_MAX_SITES	32

/**
 * uhmm__text_init() - get ready to change code: open /proc/self/mem,
 * register for membarrier core serialisation, install the SIGTRAP handler
 * (which chains to whatever handler was there for traps not at a site).
 *
 * Idempotent; not thread-safe against itself (the capture constructor
 * calls it, then tests).
 * Return: 0, or -errno: -ENOSYS when neither membarrier command exists
 * (then no code may be changed while other threads run).
 */
int uhmm__text_init(void);

/* True when each sync really serialises every core (SYNC_CORE). */
bool uhmm__text_sync_core(void);

/* Serialise every core of the process (see the top of this file). */
void uhmm__text_sync(void);

/**
 * uhmm__text_write() - write @len bytes of @buf at code address @addr.
 *
 * Each byte is stored once; a thread running that code meanwhile sees old
 * or new bytes, so the caller writes only what is safe to see half done.
 * Every core is serialised before this returns.
 * Return: 0 or -errno.
 */
int uhmm__text_write(void *addr, const void *buf, size_t len);

/**
 * uhmm__text_trap_set() - a thread that traps on an int3 at @site
 * continues at @target (with every register, the stack included, as it
 * was at @site: @target must stand in for the code at @site).
 *
 * Entries are never removed: a thread may take the trap, be preempted and
 * look the site up after the int3 is gone again.
 * Return: 0, or -ENOSPC when the table is full.
 */
int uhmm__text_trap_set(unsigned long site, unsigned long target);

/* How many threads the process has now (0 if unknown).  No allocation. */
int uhmm__text_threads(void);

#endif /* UHMM_OS_LINUX_TEXT_H */
