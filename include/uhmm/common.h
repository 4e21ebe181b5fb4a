/* SPDX-License-Identifier: MIT */
/*
 * uhmm/common.h - definitions shared by every public uhmm header.
 *
 * Errors: every function that can fail returns 0 or a negative errno value.
 * errno itself is never the channel for a uhmm error.  Functions whose result
 * must be checked carry UHMM_MUST_CHECK.
 */
#ifndef UHMM_COMMON_H
#define UHMM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define UHMM_BEGIN_DECLS extern "C" {
#define UHMM_END_DECLS }
#else
#define UHMM_BEGIN_DECLS
#define UHMM_END_DECLS
#endif

#define UHMM_API __attribute__((visibility("default")))
#define UHMM_MUST_CHECK __attribute__((warn_unused_result))

#define UHMM_VERSION_MAJOR 0
#define UHMM_VERSION_MINOR 1
#define UHMM_VERSION_PATCH 0

UHMM_BEGIN_DECLS

/**
 * uhmm_version() - the library's version string, "MAJOR.MINOR.PATCH".
 *
 * Context: any thread, any time, also inside callbacks.
 * Return: a static string.
 */
UHMM_API const char *uhmm_version(void);

/**
 * uhmm_page_size() - the base page size of the calling process.
 *
 * Context: any thread; never blocks, never allocates.
 * Return: the page size in bytes (a power of two).
 */
UHMM_API unsigned long uhmm_page_size(void);

UHMM_END_DECLS

#endif /* UHMM_COMMON_H */
