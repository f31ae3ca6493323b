/* A fake runner for unit tests of the cell (tests/unit/test-cell.c): it fills
 * struct ml_runner_ops like runners/local.c, but no QEMU runs. Each VM's QMP
 * is a replay peer (qmp-replay.h) playing recorded conversations from
 * tests/data/qmp/; its probe channel is a scripted peer speaking
 * docs/probe-protocol.md for one guest that migrates from VM to VM (its boot
 * id survives migration and changes on system_reset, its heartbeat counts
 * up on every status; its continuity readings give the host's own clock
 * and write their console line to the VM's console log). Nothing sleeps: a VM "exits" when the test's plan
 * says so (after quit, or when its QMP connection is lost). */
#ifndef FAKE_RUNNER_H
#define FAKE_RUNNER_H

#include <stdbool.h>

#include "qmp-replay.h"
#include "runner.h"

/* What one VM of the cell (by role: "src", "dst", "back") does. */
struct fake_vm_plan {
	/* Its QMP conversation from the greeting on (the peer takes it);
	 * NULL: QEMU refuses to start, printing stderr_text and exiting with
	 * exit_status. */
	struct qr_script *qmp;
	/* The socket path the recorded migrate command of the VM migrating
	 * into this one names ("/w/in.sock"): migrate_incoming's endpoint. */
	const char *endpoint;
	/* A lost QMP connection means the process exited with exit_status. */
	bool dies_on_hangup;
	int exit_status; /* a wait(2) status */
	const char *stderr_text;
	/* The guest's probe does not answer while the guest runs here. */
	bool probe_silent;
	/* The guest arrives here as a new boot (its boot id changes when the
	 * probe channel of this VM connects): it rebooted during migration. */
	bool guest_rebooted;
	/* The probe's ram-verify reply here (JSON text); NULL: all pages good. */
	const char *ram_verify_reply;
	/* The device ("block", "rng", "net", "console") whose exercise fails
	 * in the probe's continuity readings while the guest runs here; NULL:
	 * every device works. */
	const char *dead_device;
	/* The guest's ABI dump here announces more bytes than the host takes
	 * (results/abi.h): a guest that would make the host parse a huge dump. */
	bool abi_too_large;
	/* Set ml_interrupted (SIGTERM) when the cell waits for this VM's
	 * migration, as a signal arriving then would. */
	bool interrupt_in_migrate_wait;
	/* Set ml_interrupted (SIGINT) when the probe here is asked to verify
	 * its RAM, as a ^C arriving during the post-migration checks would. */
	bool interrupt_in_verify;
};

struct fake_world {
	struct fake_vm_plan src, dst, back;
	/* Filled as the cell runs: the replay peers' mismatches, one line per
	 * VM that had one ("dst: expected ..., the client sent ..."). */
	char qmp_errors[4096];
	int vms_started, vms_freed;
	/* VMs freed while neither exited (quit) nor stopped by the cell. */
	int vms_left_running;
	int migrate_cancels;
};

/* The world the fake runner's VMs live in, until fake_runner_end(). */
void fake_runner_begin(struct fake_world *w);
void fake_runner_end(void);

extern const struct ml_runner_ops fake_runner;

#endif
