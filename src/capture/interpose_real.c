/* SPDX-License-Identifier: MIT */
/*
 * interpose_real.c - find the real functions behind the wrappers, once,
 * and read UHMM_CAPTURE (contract in interpose.h).
 *
 * States of `state`:  NONE --first caller--> BUSY --resolved--> READY.
 * The constructor is normally the first caller, before any thread exists;
 * a wrapper that runs earlier (another library's constructor) resolves on
 * demand.  Calls made from inside dlsym in the resolving thread see BUSY
 * with `resolving` set and take the raw path instead of waiting for
 * themselves.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interpose.h"
#include "patch.h"

enum { NONE, BUSY, READY };

static int state;			/* atomic */
static int enabled = -1;		/* atomic: -1 not read yet, 0, 1 */
static struct uhmm__real real;		/* written before READY, then fixed */
static __thread bool resolving __attribute__((tls_model("initial-exec")));

/*
 * UHMM_CAPTURE=off|0|no turns every wrapper into a pass-through.  Read on
 * the first decision made once libc has its environment: a sanitizer's
 * start-up may call a wrapper before that, and no handle exists then.
 */
static bool env_enabled(void)
{
	const char *v;
	int e = __atomic_load_n(&enabled, __ATOMIC_RELAXED);

	if (__builtin_expect(e >= 0, 1))
		return e;
	if (!environ)
		return false;
	v = getenv("UHMM_CAPTURE");
	e = !v || (strcmp(v, "off") && strcmp(v, "0") && strcmp(v, "no"));
	__atomic_store_n(&enabled, e, __ATOMIC_RELAXED);
	return e;
}

#define RESOLVE(name) \
	(*(void **)&real.name = dlsym(RTLD_NEXT, #name))

static void resolve(void)
{
	int saved = errno;

	resolving = true;
	RESOLVE(mmap);
	RESOLVE(mmap64);
	RESOLVE(munmap);
	RESOLVE(mremap);
	RESOLVE(madvise);
	RESOLVE(mprotect);
	RESOLVE(pkey_mprotect);
	RESOLVE(brk);
	RESOLVE(sbrk);
	RESOLVE(shmat);
	RESOLVE(shmdt);
	RESOLVE(syscall);
	RESOLVE(ioctl);
	resolving = false;
	__atomic_store_n(&state, READY, __ATOMIC_RELEASE);
	errno = saved;
}

const struct uhmm__real *uhmm__real_get(void)
{
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

	if (__builtin_expect(s == READY, 1))
		return &real;
	if (resolving)
		return NULL;
	s = NONE;
	if (__atomic_compare_exchange_n(&state, &s, BUSY, false,
					__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
		resolve();
	while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != READY)
		sched_yield();
	return &real;
}

bool uhmm__capture_on(void)
{
	return uhmm__real_get() && env_enabled();
}

long uhmm__raw_result(long ret)
{
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

/* Resolve the real functions, then patch libc's entries (patch.h). */
__attribute__((constructor)) static void interpose_init(void)
{
	uhmm__real_get();
	uhmm__patch_init();
}
