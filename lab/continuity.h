/* Continuity of the guest across a migration (docs/probe-protocol.md,
 * "continuity"; docs/results.md, figures.continuity): a reading of the
 * guest's clocks and devices before the migration and one after, compared
 * against the host's own elapsed time and the migration's downtime. A clock
 * that went backwards or moved more (or less) than the host's time allows is
 * a clock jump; a device that worked before and not after is dead. */
#ifndef ML_CONTINUITY_H
#define ML_CONTINUITY_H

#include <jansson.h>

#include "runner.h"

/* How far a guest clock's advance may stray from the host's elapsed time
 * E (bracketed by the two readings' request and reply times). Accepted:
 * E_min - downtime - behind_ms <= delta <= E_max + ahead_ms. The RTC counts
 * whole seconds: rtc_ms more either way. Measured values and why these are
 * the defaults: docs/probe-protocol.md, "continuity". */
struct ml_continuity_tolerance {
	long long ahead_ms;
	long long behind_ms;
	long long rtc_ms;
};

extern const struct ml_continuity_tolerance ml_continuity_default_tolerance;

/* Ask the probe of vm for a continuity reading with this nonce. The result
 * is the probe's reply plus "host": {sent_ns, received_ns} (the host's
 * CLOCK_MONOTONIC around the request) and, for the console, whether the
 * nonce line reached vm's console log within a second ("host_seen"; a line
 * the host never saw makes the console not ok). -1 when the probe did not
 * answer (the error says why). timeout_ms bounds the request. */
int ml_continuity_read(struct ml_vm *vm, unsigned long long nonce, int timeout_ms,
		       json_t **reading);

/* Compare two readings of the same boot (pure: no I/O). downtime_ms is the
 * migration's downtime from query-migrate (-1 if unknown: taken as 0).
 * Returns an object {"clocks": {name: {delta_ms, min_ms, max_ms, lag_ms}},
 * "host_elapsed_ms": [min, max], "problems": [...], "not_working_before":
 * [...]}; each problem is {"kind": "clock-jump" | "device-dead", "what":
 * clock or device name, "text": a sentence naming it with the figures}.
 * Devices that did not work before are listed in not_working_before and not
 * judged after. Never NULL. */
json_t *ml_continuity_compare(const json_t *before, const json_t *after, long long downtime_ms,
			      const struct ml_continuity_tolerance *tol);

/* The cell's two hooks around one migration. Both record into the phase's
 * figures fig, under "continuity" (docs/results.md).
 *
 * ml_continuity_before: a reading of vm (the source) with a fresh nonce,
 * kept in *before (the caller owns it) and in fig ("before", "before_ms").
 * -1 when the probe did not answer.
 *
 * ml_continuity_after: a reading of vm (the destination), compared with
 * before (fig: "after", "after_ms", "compare"). 0: continuous; 1: not, with
 * *reason (the first problem, a dead device before a clock jump: "device
 * stopped working after migration: block (virtio2): ...", "clock jump after
 * migration: the guest's monotonic clock ...") and *evidence (every
 * problem, one a line), both the caller's to free; -1 when the probe did not
 * answer. A device that did not work before the migration is not judged:
 * it is appended to findings (kind "continuity", severity "warn"). */
int ml_continuity_before(struct ml_vm *vm, int timeout_ms, json_t *fig, json_t **before);
int ml_continuity_after(struct ml_vm *vm, const json_t *before, long long downtime_ms,
			int timeout_ms, json_t *fig, json_t *findings, char **reason,
			char **evidence);

#endif
