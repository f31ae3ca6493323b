/* libFuzzer target: the QMP client (runners/qmp.c over runners/jsonline.c)
 * reading arbitrary bytes as what QEMU sends on the monitor socket. The
 * client runs the calls a cell makes: the handshake, commands (ids 2, 3...),
 * waiting for an event, polling a migration, draining events. Timeouts are
 * small and the input ends in EOF (fuzz-peer.h), so a run is fast. Any
 * crash, leak or sanitizer report is a client bug. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-peer.h"
#include "ml-error.h"
#include "qmp.h"
#include "ml-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	volatile size_t logged = 0;
	int peer, fd = fuzz_peer_open(data, size, &peer);
	struct ml_qmp *q = ml_qmp_new(fd, "QMP of fuzz", fuzz_peer_log, (void *)&logged);
	json_t *ret = NULL, *ev = NULL, *evs;
	char *status = NULL;
	int major, minor, micro;

	/* Small enough that the fuzzer can reach the cap. */
	ml_qmp_set_max_line(q, 64 << 10);
	if (ml_qmp_handshake(q, 50) == 0) {
		ml_qmp_version(q, &major, &minor, &micro);
		(void)ml_qmp_greeting(q);
	}
	if (ml_qmp_execute(q, "query-status", NULL, 20, &ret) < 0) {
		(void)ml_qmp_error_class(q);
		(void)ml_qmp_error_desc(q);
	}
	json_decref(ret);
	ret = NULL;
	if (ml_qmp_query_status(q, 20, &status) == 0)
		free(status);
	if (ml_qmp_query_migrate(q, 20, &ret) == 0)
		json_decref(ret);
	ret = NULL;
	if (ml_qmp_wait_event(q, "STOP", 0, &ev) == 0)
		json_decref(ev);
	/* take_events last: the whole input is readable at once, so it would
	 * read the replies meant for wait_migration as replies to nothing. */
	ml_qmp_wait_migration(q, NULL, 50, &ret);
	json_decref(ret);
	evs = ml_qmp_take_events(q);
	json_decref(evs);
	(void)ml_qmp_events_dropped(q);
	(void)ml_qmp_last_err(q);
	ml_qmp_free(q);
	fuzz_peer_close(peer);
	ml_error_reset();
	return 0;
}
