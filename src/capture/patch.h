/* SPDX-License-Identifier: MIT */
/*
 * patch.h - capture by rewriting the entry of libc's own functions, so
 * that glibc's internal calls (free()'s munmap, realloc()'s mremap, heap
 * trimming's madvise) are announced too: they never go through the PLT,
 * where interposition waits (docs/capture.md, "Entry patching").
 *
 * A patched function's first five bytes are a `jmp rel32` to a stub in a
 * trampoline page near libc, which jumps on to the replacement in
 * patch_fn.c.  The replacement IS the function from then on: it gets the
 * caller's arguments and return address, announces the change, makes the
 * system call itself and returns as glibc's would (errno, -1/MAP_FAILED).
 * Nothing ever returns into the old body, so no instruction is relocated.
 */
#ifndef UHMM_CAPTURE_PATCH_H
#define UHMM_CAPTURE_PATCH_H

#include <stdbool.h>

/* The functions patched, in the order they are tried. */
enum uhmm__patch_fn {
	UHMM__PATCH_MUNMAP,
	UHMM__PATCH_MADVISE,
	UHMM__PATCH_MPROTECT,
	UHMM__PATCH_MREMAP,
	UHMM__PATCH_MMAP64,
	UHMM__PATCH_PKEY_MPROTECT,
	UHMM__PATCH_SHMDT,
	UHMM__PATCH_SHMAT,
	UHMM__PATCH_BRK,
	UHMM__PATCH_NR
};

/* Size of the entry rewritten: one jmp rel32. */
#define UHMM__PATCH_LEN	5

/*
 * uhmm__patched() - is libc's @fn patched now?  Then its interposition
 * wrapper is a pass-through: the real function announces the change.
 * Context: any; one atomic load.
 */
bool uhmm__patched(enum uhmm__patch_fn fn);

/*
 * uhmm__patch_init() - patch every function that can be, unless
 * UHMM_CAPTURE says interpose or off.  Called once by the capture library's
 * constructor, after the real functions are resolved.  A function that is
 * not patched stays with interposition; one found already patched by
 * another patcher is left alone with a one-line message on stderr.
 */
void uhmm__patch_init(void);

/* Replacements (patch_fn.c), one per enum uhmm__patch_fn, as void *. */
void *uhmm__patch_replacement(enum uhmm__patch_fn fn);

/*
 * uhmm__patch_check() - may entry bytes @b of @fn be patched?
 * @alone: no other thread exists (a multi-instruction prologue can then be
 * overwritten: nobody can be half way through it).
 * Return: 0 yes; -EEXIST they start with a control transfer (jmp, int3,
 * indirect jmp, call, ret): another patcher was there first; -ENOEXEC not
 * the prologue expected; -EBUSY a prologue whose first instruction is
 * shorter than the jump while other threads run.
 */
int uhmm__patch_check(enum uhmm__patch_fn fn, const unsigned char *b,
		      bool alone);

/* ------------------------------------------------------------------ */
/* For tests only (exported from libuhmm-interpose.so, not a contract). */

#define UHMM__PATCH_TEST __attribute__((visibility("default")))

/* Patch (@on) or restore libc's function @name.  Return: 0 or -errno. */
UHMM__PATCH_TEST int uhmm__patch_test_set(const char *name, bool on);
/* uhmm__patch_check() by name, with alone = false. */
UHMM__PATCH_TEST int uhmm__patch_test_check(const char *name,
					    const unsigned char *b);
/* uhmm__patched() by name; false for unknown names. */
UHMM__PATCH_TEST bool uhmm__patch_test_patched(const char *name);

#endif /* UHMM_CAPTURE_PATCH_H */
