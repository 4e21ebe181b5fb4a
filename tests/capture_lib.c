/* SPDX-License-Identifier: MIT */
/*
 * capture_lib.c - a library that test_capture_interpose dlopen()s after
 * uhmm started: its calls go through its own PLT, so they reach whichever
 * munmap / madvise / mprotect the process's symbol scope provides.
 */
#include <stddef.h>
#include <sys/mman.h>

/* The build hides symbols by default; these are looked up with dlsym. */
#define EXPORT __attribute__((visibility("default")))

EXPORT int capture_lib_munmap(void *addr, size_t len);
EXPORT int capture_lib_madvise(void *addr, size_t len, int advice);
EXPORT int capture_lib_mprotect(void *addr, size_t len, int prot);

int capture_lib_munmap(void *addr, size_t len)
{
	return munmap(addr, len);
}

int capture_lib_madvise(void *addr, size_t len, int advice)
{
	return madvise(addr, len, advice);
}

int capture_lib_mprotect(void *addr, size_t len, int prot)
{
	return mprotect(addr, len, prot);
}
