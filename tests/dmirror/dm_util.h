/* SPDX-License-Identifier: MIT */
/*
 * dm_util.h - what the dmirror tests share: devices on the process's own
 * address space, commands in one call, buffers filled with per-word values
 * (the kernel selftest's "ptr[i] = i"), the device's counters, and a system
 * call made with the instruction itself so that capture cannot see it.
 *
 * Every test file links libuhmm-interpose: capture is on, so real munmap,
 * madvise, mprotect and free() run the device's callback.
 */
#ifndef UHMM_TEST_DM_UTIL_H
#define UHMM_TEST_DM_UTIL_H

#include <errno.h>
#include <sys/syscall.h>

#include "range_util.h"
#include <uhmm/dmirror.h>

static inline struct uhmm_dmirror *dm_open(void)
{
	struct uhmm_dmirror *dev = NULL;

	assert_int_equal(uhmm_dmirror_open(NULL, &dev), 0);
	assert_non_null(dev);
	return dev;
}

typedef int (*dm_cmd_fn)(struct uhmm_dmirror *, struct uhmm_dmirror_cmd *);

/* One command over @npages pages at @addr with buffer @buf. */
static inline int dm_do(dm_cmd_fn fn, struct uhmm_dmirror *dev, void *addr,
			void *buf, unsigned long npages,
			struct uhmm_dmirror_cmd *cmd)
{
	memset(cmd, 0xa5, sizeof(*cmd));	/* out fields must be set */
	cmd->addr = (uintptr_t)addr;
	cmd->ptr = (uintptr_t)buf;
	cmd->npages = npages;
	return fn(dev, cmd);
}

#define dm_read(d, a, b, n, c)	dm_do(uhmm_dmirror_read, d, a, b, n, c)
#define dm_write(d, a, b, n, c)	dm_do(uhmm_dmirror_write, d, a, b, n, c)
#define dm_snap(d, a, b, n, c)	dm_do(uhmm_dmirror_snapshot, d, a, b, n, c)

/* A command that must succeed with every page copied in @faults rounds. */
static inline void dm_expect(dm_cmd_fn fn, struct uhmm_dmirror *dev,
			     void *addr, void *buf, unsigned long npages,
			     unsigned long faults)
{
	struct uhmm_dmirror_cmd cmd;

	assert_int_equal(dm_do(fn, dev, addr, buf, npages, &cmd), 0);
	assert_int_equal(cmd.cpages, npages);
	assert_int_equal(cmd.faults, faults);
}

static inline struct uhmm_dmirror_stats dm_stats(struct uhmm_dmirror *dev)
{
	struct uhmm_dmirror_stats st;

	memset(&st, 0xa5, sizeof(st));
	uhmm_dmirror_stats(dev, &st);
	return st;
}

/* Word i of @n pages at @p is @base + i. */
static inline void fill_words(void *p, unsigned long n, unsigned long base)
{
	unsigned long *w = p, i;

	for (i = 0; i < n * ps / sizeof(*w); i++)
		w[i] = base + i;
}

static inline void expect_words(const void *p, unsigned long n,
				unsigned long base)
{
	const unsigned long *w = p;
	unsigned long i;

	for (i = 0; i < n * ps / sizeof(*w); i++)
		if (w[i] != base + i)
			break;
	if (i < n * ps / sizeof(*w))
		assert_int_equal(w[i], base + i);
}

/* Every page of [p, p + n pages) has device entry @prot. */
static inline void expect_entries(struct uhmm_dmirror *dev, const char *p,
				  unsigned long n, int prot)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		assert_int_equal(uhmm_dmirror_lookup(dev, (uintptr_t)(p + i * ps),
						     NULL), prot);
}

/* A system call made by the instruction: no libc entry, so capture sees
 * nothing of it (unless its userfaultfd mechanism reports it afterwards). */
static inline long asm_syscall3(long nr, long a0, long a1, long a2)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a0), "S"(a1), "d"(a2)
			 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a0;
	register long x1 __asm__("x1") = a1;
	register long x2 __asm__("x2") = a2;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2)
			 : "memory");
	return x0;
#else
	(void)nr; (void)a0; (void)a1; (void)a2;
	return -ENOSYS;
#endif
}

#endif /* UHMM_TEST_DM_UTIL_H */
