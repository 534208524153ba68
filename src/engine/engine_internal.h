/* SPDX-License-Identifier: Apache-2.0
 *
 * The engine object, shared by the engine's own files. Not part of the public API.
 *
 * Invariants:
 *   E1. `publish_depth` counts herald_publish() calls on the stack. A subscription
 *       destroyed while it is > 0 is unlinked at once (no new match sees it) but freed
 *       only when the depth returns to 0, because an outer publish may still be walking
 *       a match result that names it.
 */
#ifndef HR_ENGINE_INTERNAL_H
#define HR_ENGINE_INTERNAL_H

#include "engine/router.h"
#include "herald/herald.h"

struct herald_engine {
    struct herald_engine_options opts;
    struct hr_router router;
    unsigned publish_depth;       /* E1 */
    struct herald_sub *zombies;   /* E1: destroyed during a publish */
    struct herald_engine_stats stats;
};

#endif
