/* QMP client: one synchronous conversation with one QEMU over the
 * line-delimited JSON transport (jsonline.h), with events queued in arrival
 * order while commands run, and the convenience calls a migration cell needs.
 *
 * Invariants:
 * - One command in flight at a time; an ml_qmp is used by one thread only.
 * - Ids are integers counted up from 1 and never reused. A reply whose id is
 *   an integer below the current one belongs to a command that timed out
 *   earlier: it is stale and skipped (it still reaches the transcript). Any
 *   other reply that is not the one awaited (a future or foreign id, a reply
 *   while no command runs) means the stream cannot be trusted: ML_QMP_ERR_IO.
 *   An error reply with no id is QEMU failing to parse the command it just
 *   got, so it answers the command in flight.
 * - Events are never dropped silently: they queue until ml_qmp_wait_event()
 *   or ml_qmp_take_events() takes them. The queue holds at most
 *   ML_QMP_MAX_QUEUED_EVENTS; past that the oldest are dropped and counted
 *   (ml_qmp_events_dropped()), so a QEMU flooding events cannot exhaust memory.
 * - Everything received is untrusted: lines are capped (ml_qmp_set_max_line),
 *   a line that is not a JSON object or not a QMP message is ML_QMP_ERR_IO
 *   with an excerpt of it in the error.
 * - After ML_QMP_ERR_IO the connection is dead: every later call fails at once
 *   with ML_QMP_ERR_IO and the first cause in its message. A timeout leaves
 *   the connection usable (the late reply is skipped as stale), and so does an
 *   interrupt (ml_interrupted, see ml-proc.h): the call fails with
 *   ML_QMP_ERR_IO and "interrupted by TERM" (or INT, HUP), but commands can
 *   still be sent (migrate_cancel, quit), though no reply is read while the
 *   flag is set.
 * - Every failing call reports through ml_error() (see ml-error.h), with the
 *   peer name and the command in the message, and returns -1.
 * - timeout_ms: milliseconds for the whole call; -1 waits forever. QEMU
 *   cannot stretch it: the deadline is checked after every line received
 *   (jsonline.h), whatever arrives. A call that waits for a reply or an event
 *   skips at most ML_JSONLINE_MAX_SKIPPED other messages (events, stale
 *   replies); past that it fails with ML_QMP_ERR_IO and "N events (or stale
 *   replies) without the reply to CMD", and the connection stays usable.
 *   ml_qmp_take_events() reads at most that many events per call.
 * - The transcript (log) gets at most ML_JSONLINE_LOG_CAP bytes of lines per
 *   connection, then one "[log cap reached: ...]" line when it is freed.
 */
#ifndef ML_QMP_H
#define ML_QMP_H

#include <jansson.h>
#include <stddef.h>

#include "jsonline.h"

struct ml_qmp;

enum ml_qmp_err {
	ML_QMP_OK,
	ML_QMP_ERR_REPLY,   /* QEMU answered with an error */
	ML_QMP_ERR_IO,      /* connection lost, garbage, protocol violation, line too long */
	ML_QMP_ERR_TIMEOUT, /* no answer in time; the connection stays usable */
};

/* Default cap of one received line (query-qmp-schema is a few hundred KiB). */
#define ML_QMP_DEFAULT_MAX_LINE ((size_t)8 << 20)
#define ML_QMP_MAX_QUEUED_EVENTS 4096

/* Takes ownership of fd (even on failure). peer names the endpoint in errors
 * ("QMP of src"; copied). log (optional) gets every line sent and received.
 * Never returns NULL (aborts on OOM). */
struct ml_qmp *ml_qmp_new(int fd, const char *peer, ml_jsonline_log_fn log, void *opaque);
/* Change the cap of one received line (before or between calls). */
void ml_qmp_set_max_line(struct ml_qmp *q, size_t max_line);

/* Read the greeting (kept, with QEMU's version triple), send qmp_capabilities
 * (no optional capability, so no OOB). Events that arrive meanwhile queue. */
int ml_qmp_handshake(struct ml_qmp *q, int timeout_ms);
/* QEMU's version from the greeting; -1 before a successful handshake. */
int ml_qmp_version(const struct ml_qmp *q, int *major, int *minor, int *micro);
/* The greeting object (borrowed; NULL before the handshake), e.g. for
 * "package" ("Debian 1:7.2+dfsg-7+deb12u18"). */
const json_t *ml_qmp_greeting(const struct ml_qmp *q);

/* Execute cmd with a fresh id. args is stolen (may be NULL). Events that come
 * before the reply queue. On success 0 and *ret (if ret is not NULL) gets the
 * "return" value (caller owns). On an error reply: -1,
 * ml_qmp_last_err() == ML_QMP_ERR_REPLY, the reported message is
 * "CMD: CLASS: DESC" and ml_qmp_error_class()/ml_qmp_error_desc() give the
 * parts. *ret is NULL whenever -1 is returned. */
int ml_qmp_execute(struct ml_qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret);

/* ml_qmp_execute with fd passed along (SCM_RIGHTS), for getfd: QEMU keeps
 * its own copy under the name the arguments give; the caller keeps fd. */
int ml_qmp_execute_fd(struct ml_qmp *q, const char *cmd, json_t *args, int fd, int timeout_ms,
		      json_t **ret);

/* Wait for an event by name: the oldest queued one first, else read until it
 * comes (other events queue behind). 0 with *ev (the whole event object with
 * "event", "data", "timestamp"; caller owns), -1 on timeout/IO (last_err). */
int ml_qmp_wait_event(struct ml_qmp *q, const char *name, int timeout_ms, json_t **ev);

/* All queued events plus those already readable, without blocking, oldest
 * first, as a new array (caller owns; never NULL). A connection failure seen
 * while draining sets last_err to ML_QMP_ERR_IO (the events got so far are
 * still returned); otherwise last_err is ML_QMP_OK. */
json_t *ml_qmp_take_events(struct ml_qmp *q);
/* Events dropped because the queue was full, since ml_qmp_new(). */
size_t ml_qmp_events_dropped(const struct ml_qmp *q);

/* Outcome of the last call (ML_QMP_OK after a success). */
enum ml_qmp_err ml_qmp_last_err(const struct ml_qmp *q);
/* Parts of the last error reply ("GenericError", "..."); "" when the last
 * call did not fail with ML_QMP_ERR_REPLY. Valid until the next call. */
const char *ml_qmp_error_class(const struct ml_qmp *q);
const char *ml_qmp_error_desc(const struct ml_qmp *q);

/* Closes the connection; safe on NULL. */
void ml_qmp_free(struct ml_qmp *q);

/* --- convenience calls for the cell --- */

/* query-status: *status gets "running", "paused", "prelaunch", "inmigrate",
 * "postmigrate", "finish-migrate", "shutdown", "internal-error", ...
 * (caller frees). 7.2 also answers "singlestep", 11.1 no longer does: do not
 * rely on anything but "status" and "running". */
int ml_qmp_query_status(struct ml_qmp *q, int timeout_ms, char **status);

/* query-migrate: *info gets the object (caller owns). It is {} before any
 * migration; "status" then goes through setup, active (and, as recorded from
 * 11.1 but not 7.2, "device" before completed and "failing" before failed)
 * to completed/failed/cancelled; "completed" carries total-time, downtime,
 * setup-time and ram.{transferred,total,...}; "failed" carries error-desc. */
int ml_qmp_query_migrate(struct ml_qmp *q, int timeout_ms, json_t **info);

/* Poll query-migrate every ML_QMP_MIGRATE_POLL_MS (sooner when a MIGRATION
 * event arrives) until its status is terminal. terminal_states: NULL-terminated
 * list, or NULL for { "completed", "failed", "cancelled" }; "failed" and
 * "cancelled" are always terminal, whatever the list says, since a migration
 * never leaves them. Returns 0 with *final_info (caller owns) the last
 * query-migrate object, whose "status" the caller must check. On -1 (timeout,
 * IO, error reply) *final_info (if final_info is not NULL) gets the last
 * query-migrate object seen, or NULL: it says how far the migration got.
 * Events read while waiting (MIGRATION, MIGRATION_PASS, ...) stay queued. */
#define ML_QMP_MIGRATE_POLL_MS 50
int ml_qmp_wait_migration(struct ml_qmp *q, const char *const *terminal_states, int timeout_ms,
			  json_t **final_info);

#endif
