/* SPDX-License-Identifier: MIT */
/*
 * uhmm.c - the `uhmm` command: one subcommand per job.  Linked with
 * libuhmm-interpose.so, so the capture layer is live in it exactly as in
 * an application that links it.
 */
#include <stdio.h>
#include <string.h>

#include <uhmm/uhmm.h>

#include "coverage.h"
#ifdef UHMM_TOOL_DEMO
#include "demo.h"
#endif

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
	printf("uhmm %s\n", uhmm_version());
	return 0;
}

static const struct command commands[] = {
	{ "coverage", "run the capture matrix live (--json, --route, --kind)",
	  uhmm_cmd_coverage },
#ifdef UHMM_TOOL_DEMO
	{ "demo", "devices mirror churning memory; every access checked",
	  uhmm_cmd_demo },
#endif
	{ "version", "print the library version", cmd_version },
	{ "help", "this text", cmd_help },
};

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "usage: uhmm <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f, "\n`uhmm <command> --help` for a command's options.\n");
}

static int cmd_help(int argc, char **argv)
{
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_help(argc, argv);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "uhmm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
