/* libFuzzer target: the host side of the probe protocol
 * (runners/probe-client.c over runners/jsonline.c) reading arbitrary bytes
 * as what the guest agent sends: a hello (id 1), a call (id 2), then an ABI
 * dump (ids 3...: pages checked for offsets, totals and sha256, the text
 * parsed), then one raw receive. Timeouts are small and the input ends in
 * EOF (fuzz-peer.h). Any crash, leak or sanitizer report is a client bug. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-peer.h"
#include "ml-error.h"
#include "probe-client.h"
#include "ml-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	volatile size_t logged = 0;
	int peer, fd = fuzz_peer_open(data, size, &peer);
	struct ml_probe *p = NULL;
	json_t *ret = NULL, *dump = NULL, *meta = NULL, *msg = NULL;

	if (ml_probe_open(fd, "probe of fuzz", fuzz_peer_log, (void *)&logged, &p) < 0)
		abort();
	if (ml_probe_hello(p, 50, &ret) == 0)
		json_decref(ret);
	ret = NULL;
	if (ml_probe_call(p, "status", NULL, 20, &ret) == 0)
		json_decref(ret);
	else
		(void)ml_probe_last_error_class(p);
	/* A small cap, so that the refusal of a too large dump is reached. */
	if (ml_probe_abi_dump(p, 50, 64 << 10, &dump, &meta) == 0) {
		json_decref(dump);
		json_decref(meta);
	}
	if (ml_probe_recv(p, 0, &msg) == ML_JSONLINE_OK)
		json_decref(msg);
	ml_probe_free(p);
	fuzz_peer_close(peer);
	ml_error_reset();
	return 0;
}
