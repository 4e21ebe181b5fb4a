/* SPDX-License-Identifier: MIT */
/*
 * interpose.h - what the wrappers of libuhmm-interpose.so share: the real
 * functions they forward to, and whether capture is on.
 *
 * The real functions are found once with dlsym(RTLD_NEXT) (interpose_real.c),
 * so a sanitizer's or another interposer's wrapper further down the chain
 * still runs.  Until they are found, and in the thread that is finding them
 * (dlsym may itself map memory), each call goes straight to the kernel
 * through uhmm__raw_syscall(), with no announcement: no handle can exist
 * before the library's constructor, which resolves them.
 */
#ifndef UHMM_CAPTURE_INTERPOSE_H
#define UHMM_CAPTURE_INTERPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exported wrappers: the library is otherwise built with hidden symbols. */
#define UHMM__WRAPPER __attribute__((visibility("default")))

/**
 * struct uhmm__real - the functions the wrappers stand in front of.
 *
 * Each is NULL until resolution finished (then read-only), or if the next
 * object in the chain lacks it (pkey_mprotect on an old libc).
 */
struct uhmm__real {
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	void *(*mmap64)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*madvise)(void *, size_t, int);
	int (*mprotect)(void *, size_t, int);
	int (*pkey_mprotect)(void *, size_t, int, int);
	int (*brk)(void *);
	void *(*sbrk)(intptr_t);
	void *(*shmat)(int, const void *, int);
	int (*shmdt)(const void *);
	long (*syscall)(long, ...);
	int (*ioctl)(int, unsigned long, ...);
};

/**
 * uhmm__real_get() - the real functions, resolving them on first use.
 *
 * Context: any thread; never allocates itself (dlsym may).  Another thread
 * that calls while resolution runs waits for it; the resolving thread
 * itself gets NULL.
 * Return: the table, or NULL in the resolving thread (use the raw path).
 */
const struct uhmm__real *uhmm__real_get(void);

/*
 * uhmm__capture_on() - announce changes?  False with UHMM_CAPTURE=off (or
 * 0, no) in the environment at start, and while the real functions are
 * being resolved.
 */
bool uhmm__capture_on(void);

struct uhmm__span;

/*
 * uhmm__shmdt_span() - the span shmdt(@addr) unmaps (interpose_sys.c):
 * the mapping starting at @addr, found with uhmm__os_vma_find().
 */
bool uhmm__shmdt_span(struct uhmm__span *s, unsigned long addr);

/* errno = -@ret and -1 if @ret is a kernel error, else @ret. */
long uhmm__raw_result(long ret);

#endif /* UHMM_CAPTURE_INTERPOSE_H */
