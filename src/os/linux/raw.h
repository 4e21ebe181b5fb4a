/* SPDX-License-Identifier: MIT */
/*
 * raw.h - system calls for the capture layer (src/capture/), made without
 * going through any symbol an interposer could own.
 *
 * The capture layer defines munmap, mmap, syscall and friends itself, so a
 * call to libc's syscall() from inside uhmm may land in uhmm's own wrapper.
 * uhmm__raw_syscall() is a bare `syscall` instruction instead: it is the
 * fallback while the real functions are not yet resolved (dlsym itself may
 * map memory), and it needs neither libc nor errno.
 *
 * Contract as os.h: nothing allocates, no uhmm lock is taken.
 */
#ifndef UHMM_OS_LINUX_RAW_H
#define UHMM_OS_LINUX_RAW_H

#include <stddef.h>

/*
 * uhmm__raw_syscall() - system call @nr with six arguments.
 * Return: the kernel's result: >= 0, or -errno (errno is not touched).
 */
long uhmm__raw_syscall(long nr, long a0, long a1, long a2, long a3, long a4,
		       long a5);

/* The system calls the capture layer decodes in syscall(). */
enum uhmm__raw_nr {
	UHMM__NR_OTHER = 0,	/* anything not listed: passed through */
	UHMM__NR_MUNMAP,
	UHMM__NR_MMAP,
	UHMM__NR_MREMAP,
	UHMM__NR_MADVISE,
	UHMM__NR_MPROTECT,
	UHMM__NR_PKEY_MPROTECT,
	UHMM__NR_BRK,
	UHMM__NR_SHMAT,
	UHMM__NR_SHMDT,
};

/* Which of the above @nr is (UHMM__NR_OTHER for everything else). */
enum uhmm__raw_nr uhmm__raw_classify(long nr);

/* The system call number of @which (not UHMM__NR_OTHER). */
long uhmm__raw_nr(enum uhmm__raw_nr which);

/*
 * uhmm__os_shm_size() - the size in bytes of System V segment @shmid.
 * Return: 0 if it cannot be read (the caller then announces nothing: the
 * kernel refuses shmat of a segment it cannot find).  errno is preserved.
 */
size_t uhmm__os_shm_size(int shmid);

#endif /* UHMM_OS_LINUX_RAW_H */
