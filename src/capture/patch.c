/* SPDX-License-Identifier: MIT */
/*
 * patch.c - rewrite the entry of libc's mapping functions into a jump to
 * our replacements, safely while other threads run them (contract in
 * patch.h, writing code in src/os/linux/text.c).
 *
 * The protocol is the kernel's breakpoint-first one: a 5-byte jump cannot
 * be stored atomically, so
 *   1. byte 0 becomes int3; every core is serialised;
 *   2. bytes 1..4 get the new rel32; serialised;
 *   3. byte 0 becomes the jump's opcode; serialised.
 * A thread entering the function between 1 and 3 traps and the SIGTRAP
 * handler sends it to the replacement, which stands in for the whole
 * function; a thread past byte 0 already is past the instruction we
 * overwrite (patch_check.c admits only entries whose first instruction is
 * the whole 5 bytes, or a process with no other thread).  Restoring runs
 * the same protocol with the saved bytes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../os/linux/raw.h"
#include "../os/linux/text.h"
#include "patch.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

#define STUB_SIZE	16	/* ff 25 00 00 00 00, .quad target, pad */

static const char *const names[UHMM__PATCH_NR] = {
	"munmap", "madvise", "mprotect", "mremap", "mmap64", "pkey_mprotect",
	"shmdt", "shmat", "brk",
};

struct entry {
	unsigned char *site;			/* libc's function */
	unsigned char saved[UHMM__PATCH_LEN];	/* its own first bytes */
	bool have_saved;
};

static struct entry entries[UHMM__PATCH_NR];
static unsigned char *tramp;		/* the stub page near libc */
static unsigned int patched_mask;	/* atomic: bit per patched fn */
static pthread_mutex_t patch_lock = PTHREAD_MUTEX_INITIALIZER;

bool uhmm__patched(enum uhmm__patch_fn fn)
{
	return __atomic_load_n(&patched_mask, __ATOMIC_ACQUIRE) & (1u << fn);
}

static void set_patched(enum uhmm__patch_fn fn, bool on)
{
	if (on)
		__atomic_or_fetch(&patched_mask, 1u << fn, __ATOMIC_RELEASE);
	else
		__atomic_and_fetch(&patched_mask, ~(1u << fn),
				   __ATOMIC_RELEASE);
}

/* Map one page at @hint exactly, or fail. */
static unsigned char *map_at(unsigned long hint)
{
	long p = uhmm__raw_syscall(SYS_mmap, (long)hint, getpagesize(),
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS |
				   MAP_FIXED_NOREPLACE, -1, 0);

	if (p < 0 && p > -4096)
		return NULL;
	if ((unsigned long)p != hint) {	/* a kernel ignoring NOREPLACE */
		uhmm__raw_syscall(SYS_munmap, p, getpagesize(), 0, 0, 0, 0);
		return NULL;
	}
	return (unsigned char *)p;
}

/* A page within +-1.9 GiB of @near, searched outward by 1 MiB steps. */
static unsigned char *map_near(unsigned long near)
{
	unsigned long d, step = 1ul << 20, base = near & ~(step - 1);
	unsigned char *p;

	for (d = step; d < (1900ul << 20); d += step) {
		if (base > d && (p = map_at(base - d)))
			return p;
		if ((p = map_at(base + d)))
			return p;
	}
	return NULL;
}

/* One stub per function: jmp *0(%rip) followed by the target. */
static int make_trampoline(unsigned long near)
{
	unsigned char *p = map_near(near);
	int i;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < UHMM__PATCH_NR; i++) {
		void *target = uhmm__patch_replacement((enum uhmm__patch_fn)i);

		memcpy(p + i * STUB_SIZE, "\xff\x25\0\0\0\0", 6);
		memcpy(p + i * STUB_SIZE + 6, &target, sizeof(target));
	}
	if (uhmm__raw_syscall(SYS_mprotect, (long)p, getpagesize(),
			      PROT_READ | PROT_EXEC, 0, 0, 0))
		return -EPERM;
	tramp = p;
	return 0;
}

/* The jmp rel32 from @site to @fn's stub, if it reaches. */
static int jump_bytes(enum uhmm__patch_fn fn, const unsigned char *site,
		      unsigned char jmp[UHMM__PATCH_LEN])
{
	long rel = (long)(tramp + fn * STUB_SIZE) -
		   (long)(site + UHMM__PATCH_LEN);
	int rel32 = (int)rel;

	if (rel != rel32)
		return -ERANGE;
	jmp[0] = 0xe9;
	memcpy(jmp + 1, &rel32, 4);
	return 0;
}

/* The breakpoint-first protocol: @site becomes @to. */
static int poke(enum uhmm__patch_fn fn, unsigned char *site,
		const unsigned char to[UHMM__PATCH_LEN])
{
	unsigned char int3 = 0xcc;
	int ret;

	ret = uhmm__text_trap_set((unsigned long)site,
			(unsigned long)uhmm__patch_replacement(fn));
	if (!ret)
		ret = uhmm__text_write(site, &int3, 1);
	if (!ret)
		ret = uhmm__text_write(site + 1, to + 1, UHMM__PATCH_LEN - 1);
	if (!ret)
		ret = uhmm__text_write(site, to, 1);
	return ret;
}

/* The one line the user sees when another patcher got there first. */
static void say_foreign(enum uhmm__patch_fn fn, const unsigned char *b)
{
	fprintf(stderr, "uhmm: capture: %s is already patched by someone "
		"else (first bytes %02x %02x %02x %02x %02x); using "
		"interposition for it\n", names[fn], b[0], b[1], b[2], b[3],
		b[4]);
}

static int patch_locked(enum uhmm__patch_fn fn, bool alone)
{
	struct entry *e = &entries[fn];
	unsigned char cur[UHMM__PATCH_LEN], jmp[UHMM__PATCH_LEN];
	int ret;

	if (!e->site || !tramp)
		return -ENOENT;
	if (uhmm__patched(fn))
		return 0;
	memcpy(cur, e->site, UHMM__PATCH_LEN);
	if (e->have_saved && memcmp(cur, e->saved, UHMM__PATCH_LEN))
		ret = -EEXIST;	/* changed by someone since we restored */
	else
		ret = uhmm__patch_check(fn, cur, alone);
	if (ret == -EEXIST)
		say_foreign(fn, cur);
	if (!ret)
		ret = jump_bytes(fn, e->site, jmp);
	if (ret)
		return ret;
	memcpy(e->saved, cur, UHMM__PATCH_LEN);
	e->have_saved = true;
	ret = poke(fn, e->site, jmp);
	if (!ret)
		set_patched(fn, true);
	return ret;
}

static int unpatch_locked(enum uhmm__patch_fn fn, bool alone)
{
	struct entry *e = &entries[fn];
	unsigned char jmp[UHMM__PATCH_LEN];

	if (!uhmm__patched(fn))
		return 0;
	if (uhmm__patch_check(fn, e->saved, alone) == -EBUSY)
		return -EBUSY;	/* its old prologue: unsafe to restore */
	if (jump_bytes(fn, e->site, jmp) || memcmp(e->site, jmp, sizeof(jmp)))
		return -EEXIST;	/* someone patched over us: leave it */
	/* Wrappers announce again before the jump goes: none is missed. */
	set_patched(fn, false);
	return poke(fn, e->site, e->saved);
}

static bool single_threaded(void)
{
	return uhmm__text_threads() == 1;
}

/* libc's own definitions, whoever interposes them. */
static void find_sites(void)
{
	void *libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
	int i;

	if (!libc)
		return;
	for (i = 0; i < UHMM__PATCH_NR; i++)
		entries[i].site = dlsym(libc, names[i]);
	/* mmap's wrapper passes through only if mmap is mmap64's code. */
	if (dlsym(libc, "mmap") != (void *)entries[UHMM__PATCH_MMAP64].site)
		entries[UHMM__PATCH_MMAP64].site = NULL;
	dlclose(libc);
}

/* UHMM_CAPTURE=interpose|off|0|no: no patching. */
static bool patching_wanted(void)
{
	const char *v = getenv("UHMM_CAPTURE");

	return !v || (strcmp(v, "interpose") && strcmp(v, "off") &&
		      strcmp(v, "0") && strcmp(v, "no"));
}

void uhmm__patch_init(void)
{
	bool single;
	int i, ret;

	if (!patching_wanted())
		return;
	find_sites();
	if (!entries[UHMM__PATCH_MUNMAP].site)
		return;
	single = single_threaded();
	ret = uhmm__text_init();
	if ((ret && (ret != -ENOSYS || !single)) ||
	    make_trampoline((unsigned long)entries[UHMM__PATCH_MUNMAP].site))
		return;
	pthread_mutex_lock(&patch_lock);
	for (i = 0; i < UHMM__PATCH_NR; i++)
		patch_locked((enum uhmm__patch_fn)i, single);
	pthread_mutex_unlock(&patch_lock);
}

static int by_name(const char *name)
{
	int i;

	for (i = 0; i < UHMM__PATCH_NR; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

int uhmm__patch_test_set(const char *name, bool on)
{
	int fn = by_name(name), ret;

	if (fn < 0)
		return -ENOENT;
	pthread_mutex_lock(&patch_lock);
	ret = on ? patch_locked((enum uhmm__patch_fn)fn, single_threaded()) :
		   unpatch_locked((enum uhmm__patch_fn)fn, single_threaded());
	pthread_mutex_unlock(&patch_lock);
	return ret;
}

int uhmm__patch_test_check(const char *name, const unsigned char *b)
{
	int fn = by_name(name);

	return fn < 0 ? -ENOENT :
		uhmm__patch_check((enum uhmm__patch_fn)fn, b, false);
}

bool uhmm__patch_test_patched(const char *name)
{
	int fn = by_name(name);

	return fn >= 0 && uhmm__patched((enum uhmm__patch_fn)fn);
}
