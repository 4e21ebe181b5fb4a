/* SPDX-License-Identifier: MIT */
/*
 * coverage_lib.c - a library `uhmm coverage` dlopen()s after uhmm started:
 * its munmap goes through its own PLT, so it reaches whichever munmap the
 * process's symbol scope provides (the "dlopen-munmap" route).
 */
#include <stddef.h>
#include <sys/mman.h>

/* The build hides symbols by default; this one is looked up with dlsym. */
#define EXPORT __attribute__((visibility("default")))

EXPORT int uhmm_coverage_lib_munmap(void *addr, size_t len);

int uhmm_coverage_lib_munmap(void *addr, size_t len)
{
	return munmap(addr, len);
}
