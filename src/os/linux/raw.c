/* SPDX-License-Identifier: MIT */
/*
 * raw.c - bare system calls and System V segment sizes for the capture
 * layer (contract in raw.h).
 */
#include <errno.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#include "raw.h"

#if defined(__x86_64__)
long uhmm__raw_syscall(long nr, long a0, long a1, long a2, long a3, long a4,
		       long a5)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
long uhmm__raw_syscall(long nr, long a0, long a1, long a2, long a3, long a4,
		       long a5)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a0;
	register long x1 __asm__("x1") = a1;
	register long x2 __asm__("x2") = a2;
	register long x3 __asm__("x3") = a3;
	register long x4 __asm__("x4") = a4;
	register long x5 __asm__("x5") = a5;

	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4),
			   "r"(x5)
			 : "memory");
	return x0;
}
#else
#error "uhmm__raw_syscall: add this architecture's system call sequence"
#endif

/* Indexed by enum uhmm__raw_nr; -1 where the architecture lacks the call. */
static const long raw_nrs[] = {
	[UHMM__NR_OTHER] = -1,
	[UHMM__NR_MUNMAP] = SYS_munmap,
	[UHMM__NR_MMAP] = SYS_mmap,
	[UHMM__NR_MREMAP] = SYS_mremap,
	[UHMM__NR_MADVISE] = SYS_madvise,
	[UHMM__NR_MPROTECT] = SYS_mprotect,
#ifdef SYS_pkey_mprotect
	[UHMM__NR_PKEY_MPROTECT] = SYS_pkey_mprotect,
#else
	[UHMM__NR_PKEY_MPROTECT] = -1,
#endif
	[UHMM__NR_BRK] = SYS_brk,
	[UHMM__NR_SHMAT] = SYS_shmat,
	[UHMM__NR_SHMDT] = SYS_shmdt,
};

enum uhmm__raw_nr uhmm__raw_classify(long nr)
{
	unsigned int i;

	for (i = 1; i < sizeof(raw_nrs) / sizeof(raw_nrs[0]); i++)
		if (raw_nrs[i] == nr)
			return (enum uhmm__raw_nr)i;
	return UHMM__NR_OTHER;
}

long uhmm__raw_nr(enum uhmm__raw_nr which)
{
	return raw_nrs[which];
}

size_t uhmm__os_shm_size(int shmid)
{
	struct shmid_ds ds;
	int saved = errno;
	size_t size = 0;

	/* shmctl() is not one of the calls capture defines. */
	if (shmctl(shmid, IPC_STAT, &ds) == 0)
		size = ds.shm_segsz;
	errno = saved;
	return size;
}
