/* SPDX-License-Identifier: MIT */
/*
 * populate.c - make pages present (and writable) the way a CPU access
 * would, without touching them: MADV_POPULATE_READ / MADV_POPULATE_WRITE
 * (Linux 5.14+).  Unlike an access, a failure comes back as an error code
 * instead of SIGSEGV or SIGBUS.  Also the size of a PMD-mapped THP.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../os.h"
#include "proc.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define THP_UNKNOWN	ULONG_MAX

static unsigned long thp_size = THP_UNKNOWN;	/* atomic */

/*
 * The kernel's answers, as the contract names them:
 *   ENOMEM    part of the range is not mapped, or no memory;
 *   EFAULT    the access would raise SIGBUS / SIGSEGV (a file hole past
 *             its end, a hugetlb pool run dry, a poisoned page);
 *   EINVAL    the VMA forbids the access (no write permission, PROT_NONE)
 *             or has no struct pages (VM_IO / VM_PFNMAP);
 *   EINTR     a fatal signal is pending.
 */
static int populate_errno(int err)
{
	if (err == ENOMEM || err == EINVAL || err == EINTR)
		return -err;
	return -EFAULT;		/* EFAULT, EHWPOISON, anything newer */
}

int uhmm__os_populate(unsigned long start, unsigned long end, bool write)
{
	int advice = write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
	int saved = errno;
	int ret = 0;

	/* A raw system call: this is no change an madvise interposer must
	 * report, and it must not run one on this path. */
	if (syscall(SYS_madvise, start, end - start, advice))
		ret = populate_errno(errno);
	errno = saved;
	return ret;
}

static unsigned long read_thp_size(void)
{
	char buf[32];
	char *endp;
	unsigned long v;

	if (uhmm__read_small("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size",
			     buf, sizeof(buf)) <= 0)
		return 0;
	v = strtoul(buf, &endp, 10);
	return endp != buf ? v : 0;
}

unsigned long uhmm__os_thp_size(void)
{
	unsigned long v = __atomic_load_n(&thp_size, __ATOMIC_RELAXED);
	int saved;

	if (__builtin_expect(v != THP_UNKNOWN, 1))
		return v;
	saved = errno;
	v = read_thp_size();
	errno = saved;
	__atomic_store_n(&thp_size, v, __ATOMIC_RELAXED);
	return v;
}
