/* SPDX-License-Identifier: MIT */
/*
 * bench_pipe.h - what uhmm-bench and its helper processes (the capture and
 * rcache groups: one process per measured side) share to talk: whole
 * fixed-size messages over pipes, and where a helper's program lives.
 */
#ifndef UHMM_BENCH_PIPE_H
#define UHMM_BENCH_PIPE_H

#include <stdbool.h>
#include <stddef.h>

/* Read (@rd) or write all @len bytes of @buf on @fd, EINTR retried.
 * Return: 0, or -1 on error or end of file. */
int bench_xfer(int fd, void *buf, size_t len, bool rd);

/* The path of helper program @name, next to this program, into @buf.
 * Return: 0 if it is there and executable, else -1. */
int bench_helper_path(char *buf, size_t len, const char *name);

#endif /* UHMM_BENCH_PIPE_H */
