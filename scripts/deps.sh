#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# deps.sh - install what building and testing uhmm needs, on Debian/Ubuntu.
#
#   scripts/deps.sh            required packages only
#   scripts/deps.sh --all      also the optional ones (clang)
#   UHMM_DEPS_OPTIONAL=1 scripts/deps.sh   same as --all
#
# Idempotent: asks dpkg which packages are already installed and touches apt
# only for the missing ones ("apt-get update" too runs only then).  Never
# prompts.  As root it installs directly; otherwise through sudo if there is
# one; otherwise it prints what to install and exits 1.
#
# The sanitizers need nothing extra with gcc: libasan, libubsan and libtsan
# come with gcc through libgcc-<version>-dev.
set -euo pipefail

# build-essential brings gcc, g++, make and libc6-dev (and with gcc the
# sanitizer runtimes); g++ is named too because CMake enables C++ (the header
# test).  liburing-dev is for the io_uring work that is planned.
# libucx-dev gives uhmm-bench's capture figures UCX's UCM to compare with
# (without it they are skipped).  libfabric-dev and libibverbs-dev: the
# registration cache's ibverbs backend and the libfabric bridge.
REQUIRED=(build-essential g++ cmake ninja-build pkg-config
	  liburcu-dev libcmocka-dev liburing-dev libucx-dev
	  libfabric-dev libibverbs-dev)
OPTIONAL=(clang)

want_optional=${UHMM_DEPS_OPTIONAL:-0}
for arg in "$@"; do
	case "$arg" in
	--all) want_optional=1 ;;
	-h|--help) sed -n '4,14p' "$0"; exit 0 ;;
	*) echo "deps.sh: unknown argument '$arg'" >&2; exit 2 ;;
	esac
done

say() { echo "deps.sh: $*"; }

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing_of() {
	local p
	for p in "$@"; do
		installed "$p" || echo "$p"
	done
}

# How to run apt-get as root: directly, through sudo, or not at all.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		return 127
	fi
}

can_be_root() {
	[ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1
}

updated=0
apt_install() {
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y
		   -o Dpkg::Use-Pty=0)
	say "installing: $*"
	if [ "$updated" = 0 ]; then
		as_root "${apt[@]}" update
		updated=1
	fi
	as_root "${apt[@]}" install --no-install-recommends "$@"
}

if ! command -v dpkg-query >/dev/null 2>&1 ||
   ! command -v apt-get >/dev/null 2>&1; then
	say "no dpkg/apt-get here: install by hand the equivalents of"
	say "  ${REQUIRED[*]}"
	exit 1
fi

mapfile -t missing < <(missing_of "${REQUIRED[@]}")
optional_missing=()
if [ "$want_optional" = 1 ]; then
	mapfile -t optional_missing < <(missing_of "${OPTIONAL[@]}")
fi

if [ ${#missing[@]} -eq 0 ] && [ ${#optional_missing[@]} -eq 0 ]; then
	say "all required packages are installed"
	exit 0
fi
if ! can_be_root; then
	say "not root and no sudo: please install (as root)"
	say "  apt-get install ${missing[*]} ${optional_missing[*]}"
	exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
	apt_install "${missing[@]}"
fi
# Optional packages may be unavailable (a trimmed mirror): warn, go on.
if [ ${#optional_missing[@]} -gt 0 ]; then
	apt_install "${optional_missing[@]}" ||
		say "warning: optional packages not installed: ${optional_missing[*]}"
fi

mapfile -t missing < <(missing_of "${REQUIRED[@]}")
if [ ${#missing[@]} -gt 0 ]; then
	say "still missing after install: ${missing[*]}"
	exit 1
fi
say "all required packages are installed"
