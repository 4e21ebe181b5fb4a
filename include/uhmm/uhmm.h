/* SPDX-License-Identifier: MIT */
/*
 * uhmm/uhmm.h - everything: HMM for userspace.
 *
 *   uhmm/mm.h          address space handles and their lifetime
 *   uhmm/invalidate.h  describing a change, and announcing it
 *   uhmm/notifier.h    whole-address-space subscriptions
 *   uhmm/interval.h    interval subscriptions, the collision-retry protocol
 *   uhmm/range.h       range fault and snapshot
 */
#ifndef UHMM_UHMM_H
#define UHMM_UHMM_H

#include <uhmm/common.h>
#include <uhmm/mm.h>
#include <uhmm/invalidate.h>
#include <uhmm/notifier.h>
#include <uhmm/interval.h>
#include <uhmm/range.h>

#endif /* UHMM_UHMM_H */
