/* Host side of the probe protocol (docs/probe-protocol.md): requests to the
 * in-guest agent miglab-probe over the virtio-serial chardev socket, on a
 * jsonline channel. Replies are matched by id: a reply to an earlier request
 * (one that timed out, or was sent before a reconnect or a migration) is
 * skipped, as is a line that is not JSON (the tail of a reply cut by a
 * disconnect). Ids start at 1 and increase by one per request. */
#ifndef ML_PROBE_CLIENT_H
#define ML_PROBE_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "jsonline.h"

/* The largest reply line accepted (the protocol's limit). */
#define ML_PROBE_MAX_REPLY ((size_t)16 << 20)
/* ml_probe_hello() says hello this often while the guest boots. */
#define ML_PROBE_HELLO_INTERVAL_MS 500

struct ml_probe;

/* Takes ownership of fd (a connected stream socket to the probe chardev),
 * also on failure. peer names it in errors ("probe of src"); log (optional)
 * sees every line sent and received. */
int ml_probe_open(int fd, const char *peer, ml_jsonline_log_fn log, void *opaque,
		  struct ml_probe **out);

/* One request: send {"id", "cmd", "args"} and wait up to timeout_ms for the
 * reply with our id. args is stolen (NULL: no args). On success *ret is the
 * "return" object (the caller owns it). -1 on an error reply (the message
 * holds the agent's class and desc, e.g. "probe: ram-verify: InvalidState:
 * ..."), on timeout, on EOF or a broken channel. */
int ml_probe_call(struct ml_probe *p, const char *cmd, json_t *args, int timeout_ms, json_t **ret);

/* Say hello every ML_PROBE_HELLO_INTERVAL_MS until the agent answers (to any
 * of these hellos) or timeout_ms passes: the guest may still be booting.
 * *ret as for ml_probe_call. An error reply or EOF ends the wait at once. */
int ml_probe_hello(struct ml_probe *p, int timeout_ms, json_t **ret);

/* The guest-visible ABI dump (docs/abi.md): ask for a new snapshot, fetch
 * every page (a page whose reply does not come within a share of timeout_ms
 * is asked for again with the same snapshot and cursor; a late reply to the
 * earlier request is as good), check the length against "total" and the
 * sha256 of the whole text, and parse it. timeout_ms bounds the whole dump.
 * On success *dump is the document (schema "miglab-abi/1") and *meta (if
 * meta is not NULL) {snapshot, total, pages, retries, sha256, collect_ms,
 * transfer_ms}; the caller owns both. -1 with the reason: an agent error
 * (its class, e.g. "abi-dump: CommandNotFound: ..."), a timeout, a broken
 * page ("truncated", "sha256 mismatch", a page that contradicts the
 * others) or a text that is not the document. A dump whose announced total
 * is over max_bytes is refused at its first page, before any more is
 * fetched: the error names both figures and ml_probe_last_error_class()
 * is then ML_PROBE_ABI_TOO_LARGE (the channel stays usable). */
int ml_probe_abi_dump(struct ml_probe *p, int timeout_ms, size_t max_bytes, json_t **dump,
		      json_t **meta);
/* The class of a dump refused by the host for its size (not the agent's). */
#define ML_PROBE_ABI_TOO_LARGE "TooLarge"

/* The error class of the last error reply received ("CommandNotFound"...),
 * ML_PROBE_ABI_TOO_LARGE after a refused dump, or "" if the last failure was
 * neither. */
const char *ml_probe_last_error_class(const struct ml_probe *p);

/* Low level, for tests and diagnostics: send bytes as they are, and receive
 * the next message whatever its id (one ML_JSONLINE_* code). */
int ml_probe_send_raw(struct ml_probe *p, const char *data, size_t len);
int ml_probe_recv(struct ml_probe *p, int timeout_ms, json_t **msg);

void ml_probe_free(struct ml_probe *p);

#endif
