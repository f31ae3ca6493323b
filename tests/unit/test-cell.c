/* The cell's state machine (lab/cell.c) without root or QEMU: the fake
 * runner (fake-runner.h) replays recorded QMP conversations of QEMU 7.2.22
 * (source and back) and 11.1.3 (destination) from tests/data/qmp/ and plays
 * the guest's probe; each scenario checks the attempt.json the cell writes:
 * its outcome, the phase where it stopped and the evidence.
 *
 * The recordings have no query-kvm, migrate-set-parameters,
 * migrate-incoming or system_reset (the recorder started its destination
 * with -incoming unix:...): those exchanges are written here by hand
 * (hand_ok, query_kvm), in the reply shapes of QEMU's QAPI schema, and say
 * so. Everything else is a recorded section (FX_STUCK's are copied from the
 * transcript of a real run, see tests/data/qmp/README.md). */
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cell.h"
#include "fake-runner.h"
#include "ml-layout.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "qmp-replay.h"
#include "testhelp.h"
#include "ml-common.h"

#define FX_SRC "qemu-7.2.txt"
#define FX_DST "qemu-11.1.txt"
/* 7.2's side of a real migration that never converged (see the file). */
#define FX_STUCK "qemu-7.2-not-converging.txt"
#define STUCK_ENDPOINT "/miglab/run/mig-dst.sock"

struct cell_test {
	char *dir;
	struct ml_build src, dst;
	struct ml_guest guest;
	struct ml_cell_spec spec;
	struct fake_world world;
	json_t *attempt; /* attempt.json after run_cell() */
};

static int setup(void **state)
{
	struct cell_test *t = calloc(1, sizeof(*t));
	json_t *machines = json_pack("[{s:s}]", "name", "pc-q35-7.2");

	t->dir = ml_test_tmpdir();
	t->src = (struct ml_build){ .spec = "debian:bookworm", .kind = ML_PROVIDER_DEBIAN,
				    .suite = "bookworm", .qemu = "/usr/bin/qemu-system-x86_64",
				    .version = "7.2.22", .machines = machines };
	t->dst = (struct ml_build){ .spec = "debian:sid", .kind = ML_PROVIDER_DEBIAN,
				    .suite = "sid", .qemu = "/usr/bin/qemu-system-x86_64",
				    .version = "11.1.3", .machines = machines };
	t->guest = (struct ml_guest){ .provider = "debian:bookworm", .suite = "bookworm",
				      .kernel_path = "/nonexistent/vmlinuz",
				      .initrd_path = "/nonexistent/initrd.img" };
	t->spec = (struct ml_cell_spec){
		.src = &t->src,
		.dst = &t->dst,
		.guest = &t->guest,
		.kernel_spec = "debian:bookworm",
		.machine = "pc-q35-7.2",
		.boot_timeout_ms = 2000,
		.migrate_timeout_ms = 5000,
		.verify_timeout_ms = 2000,
		.resume_timeout_ms = 1000,
		.runner = &fake_runner,
	};
	ml_cell_spec_defaults(&t->spec);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct cell_test *t = *state;

	/* A scenario that interrupts the cell must not interrupt the next one,
	 * even when it failed before resetting the flag. */
	ml_interrupted = 0;
	json_decref(t->attempt);
	json_decref(t->src.machines);
	ml_test_rmtree(t->dir);
	free(t->dir);
	free(t);
	return 0;
}

/* A QEMU that started: greeting and capabilities, as recorded. */
static struct qr_script *qemu_started(const char *fixture)
{
	struct qr_script *s = qr_script_new();

	qr_load(s, fixture, "greeting", QR_BOTH);
	qr_load(s, fixture, "capabilities", QR_BOTH);
	return s;
}

/* Hand-written (not recorded): a command QEMU answers with {}. */
static void hand_ok(struct qr_script *s, const char *command)
{
	qr_expect(s, command);
	qr_send(s, "{\"return\": {}, \"id\": 0}");
}

/* Hand-written (not recorded): query-kvm of a TCG guest. */
static void query_kvm(struct qr_script *s)
{
	qr_expect(s, "{\"execute\":\"query-kvm\",\"id\":0}");
	qr_send(s, "{\"return\": {\"enabled\": false, \"present\": true}, \"id\": 0}");
}

#define SET_PARAMS "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":8589934592},\"id\":0}"
#define INCOMING(path) "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"unix:" path "\"},\"id\":0}"
#define SYSTEM_RESET "{\"execute\":\"system_reset\",\"id\":0}"

/* The source migrating to /w/in.sock until completed (recorded). */
static void migrates_out(struct qr_script *s, const char *fixture)
{
	hand_ok(s, SET_PARAMS);
	qr_load(s, fixture, "migrate-to-dst", QR_BOTH);
	qr_load(s, fixture, "query-migrate-completed", QR_BOTH);
}

static void run_cell(struct cell_test *t)
{
	enum ml_verdict outcome;
	ml_autofree char *id = ml_cell_id(&t->spec);
	ml_autofree char *cell_dir = ml_layout_cell_dir(t->dir, id);
	ml_autofree char *att_dir = ml_layout_attempt_dir(cell_dir, 1);
	ml_autofree char *path = ml_layout_file(att_dir, ML_LAYOUT_ATTEMPT_FILE);
	json_error_t jerr;

	/* The recorded migrations go to unix:/w/in.sock. */
	if (!t->world.dst.endpoint)
		t->world.dst.endpoint = "/w/in.sock";
	if (!t->world.back.endpoint)
		t->world.back.endpoint = "/w/in.sock";
	fake_runner_begin(&t->world);
	assert_int_equal(ml_cell_run(&t->spec, t->dir, "test-run", 1, &outcome), 0);
	fake_runner_end();
	t->attempt = json_load_file(path, 0, &jerr);
	if (!t->attempt)
		fail_msg("%s: %s", path, jerr.text);
	/* Every VM the cell started was stopped (quit, or vm_stop) and freed. */
	assert_int_equal(t->world.vms_started, t->world.vms_freed);
	assert_int_equal(t->world.vms_left_running, 0);
}

/* The phases attempt.json lists, "name:status" joined by spaces. */
static char *phase_list(const json_t *doc)
{
	struct ml_buf b = ML_BUF_INIT(0);
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(doc, "phases"), i, p)
		ml_buf_printf(&b, "%s%s:%s", i ? " " : "", ml_json_str(p, "name"),
			      ml_json_str(p, "status"));
	return b.data ? b.data : strdup("");
}

static json_t *phase_named(const json_t *doc, const char *name)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(doc, "phases"), i, p)
		if (strcmp(ml_json_str(p, "name"), name) == 0)
			return p;
	fail_msg("no phase %s", name);
	return NULL;
}

static const char *failure_str(const json_t *doc, const char *key)
{
	return ml_json_str(json_object_get(doc, "failure"), key);
}

static void assert_outcome(const struct cell_test *t, const char *outcome, const char *phase,
			   const char *reason)
{
	assert_string_equal(ml_json_str(t->attempt, "outcome"), outcome);
	assert_string_equal(ml_json_str(t->attempt, "reason"), reason);
	if (phase)
		assert_string_equal(failure_str(t->attempt, "phase"), phase);
}

/* ---- scenarios --------------------------------------------------------- */

/* The whole table: 7.2 -> 11.1 -> 7.2, the guest reset on 11.1. */
static void test_pass(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	struct qr_script *back = qemu_started(FX_SRC);
	ml_autofree char *phases = NULL;
	json_t *fwd, *logs;

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);

	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	hand_ok(dst, SYSTEM_RESET);
	migrates_out(dst, FX_DST);
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	hand_ok(back, INCOMING("/w/in.sock"));
	qr_load(back, FX_SRC, "query-status-running", QR_BOTH);
	qr_load(back, FX_SRC, "quit", QR_BOTH); /* at collect */

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.back.qmp = back;
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "pass", NULL, "forward and back migrations passed");
	assert_null(json_object_get(t->attempt, "failure"));
	phases = phase_list(t->attempt);
	assert_string_equal(phases, "boot-src:pass migrate-forward:pass live-dst:pass "
				    "reboot-dst:pass migrate-back:pass back-src:pass");
	assert_string_equal(ml_json_str(t->attempt, "accel_actual"), "tcg");
	/* The figures are query-migrate's, as recorded: 7.2's to 11.1, 11.1's back. */
	fwd = json_object_get(phase_named(t->attempt, "migrate-forward"), "figures");
	assert_string_equal(ml_json_str(fwd, "status"), "completed");
	assert_int_equal(ml_json_int(fwd, "total-time", -1), 22);
	assert_int_equal(ml_json_int(fwd, "ram-transferred", -1), 783479);
	assert_int_equal(ml_json_int(json_object_get(phase_named(t->attempt, "migrate-back"),
						     "figures"), "total-time", -1), 23);
	/* Both migrations carry a continuity check with no problem. */
	{
		json_t *cont = json_object_get(fwd, "continuity");
		json_t *back_cont = json_object_get(json_object_get(phase_named(t->attempt, "migrate-back"),
								    "figures"), "continuity");
		assert_non_null(json_object_get(cont, "before"));
		assert_non_null(json_object_get(cont, "after"));
		assert_int_equal(json_array_size(json_object_get(json_object_get(cont, "compare"),
								 "problems")), 0);
		assert_true(ml_json_int(cont, "before_ms", -1) >= 0);
		assert_int_equal(json_array_size(json_object_get(json_object_get(back_cont, "compare"),
								 "problems")), 0);
		assert_true(ml_json_bool(json_object_get(json_object_get(json_object_get(cont, "after"),
									 "devices"), "console"),
					 "host_seen", false));
	}
	logs = json_object_get(t->attempt, "logs");
	assert_string_equal(ml_json_str(logs, "qemu_stderr_dst"), "qemu-dst.stderr");
	assert_string_equal(ml_json_str(logs, "console_back"), "console-back.log");
	assert_string_equal(ml_json_str(logs, "abi_reboot-dst"), "abi-reboot-dst.json");
	assert_string_equal(ml_json_str(logs, "abi_back-src"), "abi-back-src.json");
	/* QEMU's own view beside each dump; commands the (fake) QEMU lacks are
	 * recorded as unavailable with its error class, and the cell passes. */
	assert_string_equal(ml_json_str(logs, "qemu_boot-src"), "qemu-boot-src.json");
	assert_string_equal(ml_json_str(logs, "qemu_back-src"), "qemu-back-src.json");
	assert_true(ml_json_int(json_object_get(phase_named(t->attempt, "live-dst"), "figures"),
				"qemu_view_ms", -1) >= 0);
	{
		ml_autofree char *cell_dir = ml_layout_cell_dir(t->dir, ml_json_str(t->attempt, "cell_id"));
		ml_autofree char *att_dir = ml_layout_attempt_dir(cell_dir, 1);
		ml_autofree char *vpath = ml_path_join(att_dir, "qemu-live-dst.json");
		json_t *view = ml_json_load_file(vpath, 1 << 20);
		json_t *rec = json_object_get(json_object_get(view, "commands"), "x-query-virtio");

		assert_non_null(view);
		assert_string_equal(ml_json_str(view, "schema"), "miglab-qemu-view/1");
		assert_false(ml_json_bool(rec, "available", true));
		assert_string_equal(ml_json_str(rec, "class"), "CommandNotFound");
		assert_null(json_object_get(view, "canary"));
		json_decref(view);
	}
}

/* A guest whose ABI dump is over the host's bound (here 512 MiB announced
 * after the migration): the dump is refused before it is fetched, the phase
 * says why, and the cell goes on to the end. */
static void test_abi_dump_too_large_refused(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	struct qr_script *back = qemu_started(FX_SRC);
	ml_autofree char *phases = NULL;
	json_t *live;

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	migrates_out(dst, FX_DST);
	qr_load(dst, FX_DST, "quit", QR_BOTH);
	hand_ok(back, INCOMING("/w/in.sock"));
	qr_load(back, FX_SRC, "query-status-running", QR_BOTH);
	qr_load(back, FX_SRC, "quit", QR_BOTH);

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.back.qmp = back;
	t->world.dst.abi_too_large = true;
	t->spec.skip_reboot = true;
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "pass", NULL, "forward and back migrations passed");
	phases = phase_list(t->attempt);
	assert_string_equal(phases, "boot-src:pass migrate-forward:pass live-dst:pass "
				    "migrate-back:pass back-src:pass");
	live = phase_named(t->attempt, "live-dst");
	assert_non_null(strstr(ml_json_str(live, "abi_refused"),
			       "more than the limit of 1048576 bytes for an ABI dump"));
	assert_null(json_object_get(json_object_get(t->attempt, "logs"), "abi_live-dst"));
	assert_string_equal(ml_json_str(json_object_get(t->attempt, "logs"), "abi_back-src"),
			    "abi-back-src.json");
}

/* skip_reboot and skip_abi leave their rows out of the table's run. */
static void test_pass_without_reboot_and_abi(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	struct qr_script *back = qemu_started(FX_SRC);
	ml_autofree char *phases = NULL;

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	migrates_out(dst, FX_DST);
	qr_load(dst, FX_DST, "quit", QR_BOTH);
	hand_ok(back, INCOMING("/w/in.sock"));
	qr_load(back, FX_SRC, "query-status-running", QR_BOTH);
	qr_load(back, FX_SRC, "quit", QR_BOTH);

	t->spec.skip_reboot = true;
	t->spec.skip_abi = true;
	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.back.qmp = back;
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "pass", NULL, "forward and back migrations passed");
	phases = phase_list(t->attempt);
	assert_string_equal(phases, "boot-src:pass migrate-forward:pass migrate-back:pass");
}

/* The source says "failed" with an error-desc (recorded: 7.2 migrating to a
 * socket nobody listens on). */
static void test_migration_failed(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	ml_autofree char *phases = NULL;

	query_kvm(src);
	hand_ok(src, SET_PARAMS);
	qr_load(src, FX_SRC, "migrate-unix-nobody", QR_BOTH);
	qr_load(src, FX_SRC, "query-migrate-failed", QR_BOTH);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/nobody.sock"));
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.endpoint = "/w/nobody.sock";
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "fail", "migrate-forward", "the migration failed");
	assert_string_equal(failure_str(t->attempt, "evidence"),
			    "source: migration failed: Failed to connect to '/w/nobody.sock': "
			    "No such file or directory\nQEMU (dst) is still running; stderr:\n");
	phases = phase_list(t->attempt);
	assert_string_equal(phases, "boot-src:pass migrate-forward:fail");
	assert_string_equal(ml_json_str(json_object_get(phase_named(t->attempt, "migrate-forward"),
							"figures"), "status"), "failed");
}

/* The source says completed, then the destination's QMP goes away: it died. */
static void test_dst_dies_after_completed(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_close(dst);

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.dies_on_hangup = true;
	t->world.dst.exit_status = W_EXITCODE(0, SIGABRT);
	t->world.dst.stderr_text = "qemu-system-x86_64: load of migration failed: Invalid argument\n";
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "fail", "migrate-forward",
		       "the destination QEMU died after the source reported completed");
	assert_non_null(strstr(failure_str(t->attempt, "evidence"), "QEMU (dst) "));
	assert_non_null(strstr(failure_str(t->attempt, "evidence"),
			       "; stderr:\nqemu-system-x86_64: load of migration failed: Invalid argument"));
	assert_non_null(json_object_get(t->attempt, "exit_dst"));
}

/* The destination stays paused (11.1's recorded query-status "paused"). */
static void test_dst_stays_paused(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	/* The reply line of the recorded section query-status-paused (11.1). */
	qr_answer_forever(dst, "{\"execute\":\"query-status\",\"id\":14}",
			  "{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": 14}");

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.stderr_text = "qemu-system-x86_64: warning: Machine type 'pc-q35-7.2' is deprecated\n";
	run_cell(t);

	assert_outcome(t, "fail", "migrate-forward",
		       "the destination did not resume the guest: its status is 'paused' 1 s "
		       "after the source completed");
	assert_string_equal(failure_str(t->attempt, "evidence"),
			    "qemu-system-x86_64: warning: Machine type 'pc-q35-7.2' is deprecated");
	/* At collect the cell asked the paused destination to quit. */
	assert_non_null(strstr(t->world.qmp_errors, "dst: "));
	assert_non_null(strstr(t->world.qmp_errors, "\"quit\""));
}

/* After the migration the guest's probe does not answer. */
static void test_probe_silent_after_migration(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->spec.verify_timeout_ms = 300;
	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.probe_silent = true;
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "fail", "migrate-forward",
		       "the guest hangs after migration: the probe does not answer");
	assert_non_null(strstr(failure_str(t->attempt, "evidence"),
			       "\nguest console (last lines):\nmiglab-probe: serving on /dev/vport1p1\n"));
}

/* QEMU refuses to start: its own words are the evidence. */
static void test_qemu_refuses_to_start(void **state)
{
	struct cell_test *t = *state;
	ml_autofree char *phases = NULL;

	t->world.src.exit_status = W_EXITCODE(1, 0);
	t->world.src.stderr_text = "qemu-system-x86_64: unsupported machine type\n"
				   "Use -machine help to list supported machines\n";
	run_cell(t);

	assert_outcome(t, "fail", "boot-src", "QEMU (src, 7.2.22) failed to start");
	assert_non_null(strstr(failure_str(t->attempt, "evidence"), "QEMU (src) exited at start: it "));
	assert_non_null(strstr(failure_str(t->attempt, "evidence"),
			       "stderr:\nqemu-system-x86_64: unsupported machine type\n"));
	phases = phase_list(t->attempt);
	assert_string_equal(phases, "boot-src:fail");
	assert_string_equal(ml_json_str(json_object_get(t->attempt, "logs"), "qemu_stderr_src"),
			    "qemu-src.stderr");
}

/* The migration never converges: the source answers "active" (the last
 * such reply of a real run, FX_STUCK) until the migrate timeout. The cell
 * cancels it, records the figures of the query-migrate after the cancel and
 * quits both QEMUs. The timeout is the recorded run's (1 s). */
static void test_migration_never_converges(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	ml_autofree char *phases = NULL;
	json_t *fig;

	query_kvm(src);
	hand_ok(src, SET_PARAMS);
	qr_load(src, FX_STUCK, "migrate", QR_BOTH);
	qr_load_repeated(src, FX_STUCK, "query-migrate-active");
	qr_load(src, FX_STUCK, "migrate_cancel", QR_BOTH);
	qr_load(src, FX_STUCK, "query-migrate-cancelling", QR_BOTH);
	qr_load(src, FX_STUCK, "quit", QR_BOTH);
	hand_ok(dst, INCOMING(STUCK_ENDPOINT));
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->spec.migrate_timeout_ms = 1000;
	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.endpoint = STUCK_ENDPOINT;
	run_cell(t);

	/* Both scripts ran to their quit: migrate_cancel, then quit for each. */
	assert_string_equal(t->world.qmp_errors, "");
	assert_int_equal(t->world.migrate_cancels, 1);
	assert_outcome(t, "fail", "migrate-forward",
		       "the migration did not complete within 1 s (cancelled)");
	assert_string_equal(failure_str(t->attempt, "evidence"),
			    "waiting for the migration: QMP of src: still active after 1000 ms");
	phases = phase_list(t->attempt);
	assert_string_equal(phases, "boot-src:pass migrate-forward:fail");
	fig = json_object_get(phase_named(t->attempt, "migrate-forward"), "figures");
	assert_string_equal(ml_json_str(fig, "status"), "cancelling");
	assert_int_equal(ml_json_int(fig, "total-time", -1), 1007);
	assert_int_equal(ml_json_int(fig, "ram-transferred", -1), 221697600);
	assert_int_equal(ml_json_int(fig, "ram-total", -1), 1074536448);
	assert_int_equal(ml_json_int(fig, "expected-downtime", -1), 300);
	assert_string_equal(ml_json_str(t->attempt, "exit_src"), "exited with status 0");
}

/* As above, but the cancel is over before the cell asks: QEMU answers
 * "cancelled", which carries no figures (hand-written, not recorded: QEMU's
 * query-migrate fills only "status" for a cancelled migration). The phase
 * keeps the figures of the last "active" reply. */
static void test_migration_never_converges_cancelled_at_once(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	json_t *fig;

	query_kvm(src);
	hand_ok(src, SET_PARAMS);
	qr_load(src, FX_STUCK, "migrate", QR_BOTH);
	qr_load_repeated(src, FX_STUCK, "query-migrate-active");
	qr_load(src, FX_STUCK, "migrate_cancel", QR_BOTH);
	qr_expect(src, "{\"execute\":\"query-migrate\",\"id\":0}");
	qr_send(src, "{\"return\": {\"status\": \"cancelled\"}, \"id\": 0}");
	qr_load(src, FX_STUCK, "quit", QR_BOTH);
	hand_ok(dst, INCOMING(STUCK_ENDPOINT));
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->spec.migrate_timeout_ms = 300;
	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.endpoint = STUCK_ENDPOINT;
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_int_equal(t->world.migrate_cancels, 1);
	assert_string_equal(ml_json_str(t->attempt, "outcome"), "fail");
	assert_string_equal(failure_str(t->attempt, "phase"), "migrate-forward");
	assert_non_null(strstr(ml_json_str(t->attempt, "reason"), "did not complete within"));
	fig = json_object_get(phase_named(t->attempt, "migrate-forward"), "figures");
	assert_string_equal(ml_json_str(fig, "status"), "cancelled");
	assert_int_equal(ml_json_int(fig, "total-time", -1), 972);
	assert_int_equal(ml_json_int(fig, "ram-transferred", -1), 219723568);
	assert_int_equal(ml_json_int(fig, "ram-total", -1), 1074536448);
}

/* A signal (SIGTERM) arrives while the cell waits for the migration: a lab
 * error, never a QEMU failure. The cell cancels the migration and stops
 * every QEMU without asking them to quit (no reply is read once
 * interrupted). */
static void test_interrupted_during_migration(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	ml_autofree char *phases = NULL;
	const char *reason;

	query_kvm(src);
	hand_ok(src, SET_PARAMS);
	qr_load(src, FX_STUCK, "migrate", QR_BOTH);
	/* Interrupted, the client sends but reads nothing and may hang up at any
	 * point after its last command. */
	qr_client_may_close(src);
	qr_load_repeated(src, FX_STUCK, "query-migrate-active");
	qr_load(src, FX_STUCK, "migrate_cancel", QR_BOTH);
	qr_load_repeated(src, FX_STUCK, "query-migrate-cancelling");
	hand_ok(dst, INCOMING(STUCK_ENDPOINT));

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.endpoint = STUCK_ENDPOINT;
	t->world.src.interrupt_in_migrate_wait = true;
	run_cell(t);
	assert_int_equal(ml_interrupted, SIGTERM);
	ml_interrupted = 0;

	assert_string_equal(t->world.qmp_errors, "");
	assert_int_equal(t->world.migrate_cancels, 1);
	assert_string_equal(ml_json_str(t->attempt, "outcome"), "error");
	reason = ml_json_str(t->attempt, "reason");
	assert_non_null(strstr(reason, "interrupted"));
	assert_string_equal(failure_str(t->attempt, "phase"), "migrate-forward");
	phases = phase_list(t->attempt);
	assert_string_equal(phases, "boot-src:pass migrate-forward:error");
	/* Stopped, not quit: killed. */
	assert_non_null(strstr(ml_json_str(t->attempt, "exit_src"), "killed by signal 9"));
	assert_non_null(strstr(ml_json_str(t->attempt, "exit_dst"), "killed by signal 9"));
}

/* After the migration the probe's hello comes from another boot. */
static void test_guest_rebooted_during_migration(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.guest_rebooted = true;
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "fail", "migrate-forward", "the guest rebooted during migration");
	assert_string_equal(failure_str(t->attempt, "evidence"),
			    "boot_id before: fake-boot-1, after: fake-boot-2");
	assert_string_equal(ml_json_str(json_object_get(t->attempt, "guest_hello"), "boot_id"),
			    "fake-boot-1");
}

/* ram-verify on the destination finds bad pages (the reply shape of
 * docs/probe-protocol.md, "Reply with bad pages"). */
#define RAM_VERIFY_BAD                                                                             \
	"{\"ok\": false, \"pages\": 16384, \"bad_pages\": 2, \"elapsed_us\": 19000, "              \
	"\"first_bad_page\": 7, \"kind\": \"stale\", "                                             \
	"\"expected\": {\"index\": 7, \"generation\": 29}, "                                       \
	"\"found\": {\"magic_ok\": true, \"check_ok\": true, \"body_ok\": true, \"index\": 7, "    \
	"\"generation\": 28}, \"counts\": {\"garbage\": 1, \"stale\": 1}, "                        \
	"\"examples\": [{\"page\": 7, \"kind\": \"stale\", "                                       \
	"\"expected\": {\"index\": 7, \"generation\": 29}, "                                       \
	"\"found\": {\"magic_ok\": true, \"check_ok\": true, \"body_ok\": true, \"index\": 7, "    \
	"\"generation\": 28}}, "                                                                   \
	"{\"page\": 300, \"kind\": \"garbage\", \"expected\": {\"index\": 300, \"generation\": 29}, " \
	"\"found\": {\"magic_ok\": false, \"check_ok\": false, \"body_ok\": false}}]}"

static void test_memory_corruption(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	json_auto_t *want = json_loads(RAM_VERIFY_BAD, 0, NULL);
	json_auto_t *got = NULL;
	const char *reason;

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.ram_verify_reply = RAM_VERIFY_BAD;
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_string_equal(ml_json_str(t->attempt, "outcome"), "fail");
	assert_string_equal(failure_str(t->attempt, "phase"), "migrate-forward");
	reason = ml_json_str(t->attempt, "reason");
	assert_int_equal(strncmp(reason, "memory corruption", 17), 0);
	/* The evidence is the probe's reply, whole. */
	assert_non_null(want);
	got = json_loads(failure_str(t->attempt, "evidence"), 0, NULL);
	assert_non_null(got);
	assert_true(json_equal(want, got));
}

/* ^C arrives while the destination's RAM is being verified, and the check
 * then reports bad pages: the cell was interrupted, so its outcome is a lab
 * error (run again by --resume), never a failure of the pair. */
static void test_interrupted_during_verify(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	const char *reason;

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_client_may_close(src);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_client_may_close(dst);
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.ram_verify_reply = RAM_VERIFY_BAD;
	t->world.dst.interrupt_in_verify = true;
	run_cell(t);
	assert_int_equal(ml_interrupted, SIGINT);
	ml_interrupted = 0;

	assert_string_equal(t->world.qmp_errors, "");
	assert_string_equal(ml_json_str(t->attempt, "outcome"), "error");
	reason = ml_json_str(t->attempt, "reason");
	/* Whether the verify's reply was read before the client saw the
	 * signal is a race; either way the outcome is an error that names it. */
	assert_non_null(strstr(reason, "interrupted by INT"));
	assert_int_equal(t->world.vms_left_running, 0);
}

/* The rng worked on the source and does not on the destination: the
 * forward migration fails naming the device. */
static void test_device_dead_after_migration(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	json_t *cont;

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	qr_load(dst, FX_DST, "quit", QR_BOTH);

	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.dst.dead_device = "rng";
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "fail", "migrate-forward",
		       "device stopped working after migration: rng (virtio9): no completion "
		       "within 2000 ms (the thread stays blocked)");
	assert_string_equal(failure_str(t->attempt, "evidence"),
			    "device-dead: rng (virtio9): no completion within 2000 ms (the thread "
			    "stays blocked)");
	cont = json_object_get(json_object_get(phase_named(t->attempt, "migrate-forward"), "figures"),
			       "continuity");
	assert_true(ml_json_bool(json_object_get(json_object_get(json_object_get(cont, "before"),
								 "devices"), "rng"), "ok", false));
}

/* A device that never worked on the source is a finding, not a failure of
 * the migration. */
static void test_device_dead_before_migration(void **state)
{
	struct cell_test *t = *state;
	struct qr_script *src = qemu_started(FX_SRC), *dst = qemu_started(FX_DST);
	struct qr_script *back = qemu_started(FX_SRC);
	json_t *f;
	size_t i;
	int warned = 0;

	query_kvm(src);
	migrates_out(src, FX_SRC);
	qr_load(src, FX_SRC, "quit", QR_BOTH);
	hand_ok(dst, INCOMING("/w/in.sock"));
	qr_load(dst, FX_DST, "query-status-running", QR_BOTH);
	migrates_out(dst, FX_DST);
	qr_load(dst, FX_DST, "quit", QR_BOTH);
	hand_ok(back, INCOMING("/w/in.sock"));
	qr_load(back, FX_SRC, "query-status-running", QR_BOTH);
	qr_load(back, FX_SRC, "quit", QR_BOTH);

	t->spec.skip_reboot = true;
	t->spec.skip_abi = true;
	t->world.src.qmp = src;
	t->world.dst.qmp = dst;
	t->world.back.qmp = back;
	t->world.src.dead_device = "block";
	t->world.dst.dead_device = "block";
	t->world.back.dead_device = "block";
	run_cell(t);

	assert_string_equal(t->world.qmp_errors, "");
	assert_outcome(t, "pass", NULL, "forward and back migrations passed");
	json_array_foreach(json_object_get(t->attempt, "findings"), i, f)
		if (strcmp(ml_json_str(f, "kind"), "continuity") == 0) {
			assert_string_equal(ml_json_str(f, "device"), "block");
			assert_string_equal(ml_json_str(f, "severity"), "warn");
			warned++;
		}
	assert_int_equal(warned, 2); /* one per migration */
}

/* A pid that is surely gone: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* base/name, mode 0700, with an owner file naming pid (unlocked: a cell
 * that is gone, unless the test locks it). */
static char *stale_dir(const char *base, const char *name, mode_t mode, pid_t pid)
{
	char *dir = ml_path_join(base, name);
	ml_autofree char *owner = ml_path_join(dir, "owner");
	ml_autofree char *text = ml_strdup_printf("%d\n", (int)pid);

	assert_int_equal(mkdir(dir, mode), 0);
	assert_int_equal(chmod(dir, mode), 0);
	assert_int_equal(ml_write_atomic(owner, text, strlen(text), 0644), 0);
	return dir;
}

static void test_sweep_stale_dirs(void **state)
{
	ml_autofree char *base = ml_test_tmpdir();
	ml_autofree char *elsewhere = ml_test_tmpdir();
	pid_t gone = dead_pid();
	ml_autofree char *stale = stale_dir(base, "miglab-stale1", 0700, gone);
	ml_autofree char *open_mode = stale_dir(base, "miglab-stale2", 0755, gone);
	ml_autofree char *alive = stale_dir(base, "miglab-alive1", 0700, getpid());
	/* Alive in another PID namespace: its pid means nothing here, its lock does. */
	ml_autofree char *alive_ns = stale_dir(base, "miglab-alive2", 0700, gone);
	ml_autofree char *alive_owner = ml_path_join(alive, "owner");
	ml_autofree char *alive_ns_owner = ml_path_join(alive_ns, "owner");
	int lock1 = open(alive_owner, O_RDONLY | O_CLOEXEC);
	int lock2 = open(alive_ns_owner, O_RDONLY | O_CLOEXEC);
	ml_autofree char *victim = stale_dir(elsewhere, "miglab-victim", 0700, gone);
	ml_autofree char *link = ml_path_join(base, "miglab-link01");
	ml_autofree char *fifo_dir = ml_path_join(base, "miglab-fifo01");
	ml_autofree char *fifo = ml_path_join(fifo_dir, "owner");
	ml_autofree char *sub = ml_path_join(stale, "sub");
	ml_autofree char *in_sub = ml_path_join(sub, "x");
	ml_autofree char *outside = ml_path_join(elsewhere, "keep");
	ml_autofree char *to_outside = ml_path_join(sub, "to-outside");
	pid_t child;
	int status = -1;
	(void)state;

	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(ml_write_atomic(in_sub, "x", 1, 0644), 0);
	assert_int_equal(ml_write_atomic(outside, "k", 1, 0644), 0);
	assert_int_equal(symlink(elsewhere, to_outside), 0);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(mkdir(fifo_dir, 0700), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* What a living cell does to its owner file. */
	assert_int_equal(flock(lock1, LOCK_EX), 0);
	assert_int_equal(flock(lock2, LOCK_EX), 0);

	/* In a child, so that a sweep blocked on the FIFO fails the test
	 * instead of hanging it. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		alarm(10);
		_exit(ml_cell_sweep_stale_dirs(base) == 1 ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(ml_path_exists(stale));
	assert_true(ml_path_exists(outside));
	assert_true(ml_is_dir(open_mode));
	assert_true(ml_is_dir(alive));
	assert_true(ml_is_dir(alive_ns));
	close(lock1);
	close(lock2);
	assert_true(ml_is_dir(victim));
	assert_true(ml_is_dir(fifo_dir));
	ml_test_rmtree(base);
	ml_test_rmtree(elsewhere);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pass_without_reboot_and_abi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abi_dump_too_large_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_dies_after_completed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_stays_paused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_silent_after_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_refuses_to_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_never_converges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_never_converges_cancelled_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_during_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_during_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_rebooted_during_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_dead_after_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_dead_before_migration, setup, teardown),
		cmocka_unit_test(test_sweep_stale_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
