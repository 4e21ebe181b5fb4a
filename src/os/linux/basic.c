/* SPDX-License-Identifier: MIT */
/*
 * basic.c - page size, thread ids and uhmm's own private memory.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../os.h"
#include "proc.h"
#include "raw.h"

static unsigned long page_size;
static __thread int tid_cache;

unsigned long uhmm__os_page_size(void)
{
	unsigned long ps = __atomic_load_n(&page_size, __ATOMIC_RELAXED);

	if (__builtin_expect(ps == 0, 0)) {
		int saved = errno;

		ps = (unsigned long)sysconf(_SC_PAGESIZE);
		errno = saved;
		__atomic_store_n(&page_size, ps, __ATOMIC_RELAXED);
	}
	return ps;
}

int uhmm__os_gettid(void)
{
	if (__builtin_expect(tid_cache == 0, 0))
		tid_cache = (int)syscall(SYS_gettid);
	return tid_cache;
}

void uhmm__os_fork_child(void)
{
	int saved = errno;	/* close() may set it */

	tid_cache = 0;
	/* The /proc descriptors still read the parent's address space. */
	uhmm__os_vma_fork_child();
	uhmm__os_page_fork_child();
	errno = saved;
}

void *uhmm__os_map_zeroed(size_t len)
{
	long p = uhmm__raw_syscall(SYS_mmap, 0, (long)len,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return (p < 0 && p > -4096) ? NULL : (void *)p;
}

void uhmm__os_unmap(void *p, size_t len)
{
	if (p)
		(void)uhmm__raw_syscall(SYS_munmap, (long)p, (long)len, 0, 0,
					0, 0);
}
