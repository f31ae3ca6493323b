/* Integration tests of `miglab cell` with real QEMU builds from Debian roots,
 * a real guest kernel and the real probe agent. They need root (chroot in a
 * private mount namespace) and builds fetched by `miglab fetch debian:bookworm
 * debian:bookworm-backports debian:trixie --kernel debian:bookworm`
 * (tests/run.sh does it).
 *
 * Tests that expect a migration to pass use builds that pass their own
 * control cells on the hosts we know (bookworm-backports' 10.0.2 and
 * trixie's 10.0.13): bookworm's 7.2.22 corrupts guest memory as a migration
 * source under TCG on some hosts, so a pass expected from it would test the
 * host. That defect is tested on recorded cells (tests/unit/test-judge.c);
 * no test here retries anything. 7.2 still appears where no migration
 * runs (a machine type it lacks, bad input, the cache). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "ml-buf.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "ml-common.h"

/* miglab runs with the tests' environment (MIGLAB_CACHE_DIR and friends);
 * ml_proc would otherwise give it a minimal one, as it does QEMU. */
extern char **environ;

#define results_dir ml_test_results_dir

struct run {
	int status;        /* exit code of miglab */
	struct ml_buf out; /* stdout + stderr */
	json_t *cell;      /* the cell.json it named, if any */
};

static void run_clear(struct run *r)
{
	ml_buf_free(&r->out);
	json_decref(r->cell);
}

/* The "results: DIR" line miglab prints. */
static json_t *load_cell(const char *out)
{
	const char *p = strstr(out, "results: ");
	char path[4096];
	size_t n;

	if (!p)
		return NULL;
	p += strlen("results: ");
	n = strcspn(p, "\n");
	snprintf(path, sizeof(path), "%.*s/cell.json", (int)n, p);
	return ml_json_load_file(path, 64 << 20);
}

/* Builds whose control cells pass here (see the top of the file). */
#define BUILD_A "debian:bookworm-backports" /* QEMU 10.0.2 */
#define BUILD_B "debian:trixie"             /* QEMU 10.0.13 */

#define run_miglab run_miglab_once
static void run_miglab_once(struct run *r, const char *const *args)
{
	const char *argv[64] = { MIGLAB_BIN, "cell", "--results-dir", results_dir };
	size_t n = 4;
	struct ml_buf err = ML_BUF_INIT(0);
	struct ml_proc_spec spec = { .stdin_fd = -1, .envp = (const char *const *)environ };

	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	spec.argv = argv;
	memset(r, 0, sizeof(*r));
	assert_int_equal(ml_proc_run(&spec, 600000, &r->out, &err, &r->status), 0);
	ml_buf_puts(&r->out, err.data ? err.data : "");
	ml_buf_free(&err);
	r->status = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
	print_message("%s\n", r->out.data);
	r->cell = load_cell(r->out.data);
}

static json_t *phase(json_t *cell, const char *name)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(cell, "phases"), i, p)
		if (strcmp(ml_json_str(p, "name"), name) == 0)
			return p;
	return NULL;
}

/* QEMUs miglab (pid) started, at any depth below it. */
static size_t qemu_children(pid_t parent, pid_t *out, size_t max)
{
	return ml_test_descendants_named(parent, "qemu|miglab:", out, max);
}

static void test_cell_passes_both_directions(void **state)
{
	const char *args[] = { "--src", BUILD_A, "--dst", BUILD_B,
			       "--machine", "pc-q35-7.2", NULL };
	struct run r;
	json_t *fwd, *back, *boot;
	(void)state;

	run_miglab(&r, args);
	assert_int_equal(r.status, 0);
	assert_non_null(r.cell);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "pass");
	assert_string_equal(ml_json_str(r.cell, "accel"), "tcg");
	boot = phase(r.cell, "boot-src");
	fwd = phase(r.cell, "migrate-forward");
	back = phase(r.cell, "migrate-back");
	assert_non_null(boot);
	assert_non_null(fwd);
	assert_non_null(back);
	assert_string_equal(ml_json_str(fwd, "status"), "pass");
	assert_string_equal(ml_json_str(back, "status"), "pass");
	assert_true(ml_json_int(json_object_get(boot, "figures"), "boot_to_hello_ms", 0) > 0);
	assert_string_equal(ml_json_str(json_object_get(fwd, "figures"), "status"), "completed");
	assert_true(ml_json_int(json_object_get(fwd, "figures"), "total-time", 0) > 0);
	assert_true(ml_json_int(json_object_get(fwd, "figures"), "ram-transferred", 0) > 0);
	assert_true(json_is_integer(json_object_get(json_object_get(back, "figures"), "downtime")));
	/* The workload really ran and was checked on both destinations. */
	assert_true(ml_json_int(json_object_get(fwd, "figures"), "ram_verified_pages", 0) >= 16384);
	assert_true(ml_json_int(json_object_get(back, "figures"), "ram_verified_pages", 0) >= 16384);
	/* A control cell has no continuity finding: every device worked before
	 * and after each migration, every clock stayed within its bounds. */
	for (int k = 0; k < 2; k++) {
		json_t *cont = json_object_get(json_object_get(k ? back : fwd, "figures"), "continuity");
		json_t *after = json_object_get(json_object_get(cont, "after"), "devices");
		static const char *const devices[] = { "block", "rng", "net", "console" };
		size_t i;
		json_t *f;

		assert_non_null(cont);
		assert_int_equal(json_array_size(json_object_get(json_object_get(cont, "compare"),
								 "problems")), 0);
		assert_int_equal(json_array_size(json_object_get(json_object_get(cont, "compare"),
								 "not_working_before")), 0);
		for (size_t d = 0; d < 4; d++)
			assert_true(ml_json_bool(json_object_get(after, devices[d]), "ok", false));
		json_array_foreach(json_object_get(r.cell, "findings"), i, f)
			assert_string_not_equal(ml_json_str(f, "kind"), "continuity");
	}
	/* Exact versions of both sides are recorded. */
	assert_non_null(strstr(ml_json_str(json_object_get(json_object_get(r.cell, "inputs"), "src"),
					   "version"), "10.0"));
	assert_non_null(strstr(ml_json_str(json_object_get(json_object_get(r.cell, "inputs"), "dst"),
					   "version"), "10.0"));
	run_clear(&r);
}

static void test_incompatible_destination_fails_with_qemu_text(void **state)
{
	/* A device only the source has: the destination cannot place its state. */
	const char *args[] = { "--src", BUILD_A, "--dst", BUILD_B,
			       "--machine", "pc-q35-7.2", "--no-reboot", "--src-arg", "-device",
			       "--src-arg", "virtio-balloon-pci,id=only-on-src", NULL };
	struct run r;
	json_t *failure, *attempts, *dir;
	const char *ev;
	(void)state;

	run_miglab(&r, args);
	assert_int_equal(r.status, 1);
	assert_non_null(r.cell);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "fail");
	/* Confirmed (default --confirm 2): every attempt failed the same way,
	 * the confirming ones with lossless stream captures. */
	attempts = json_object_get(r.cell, "attempts");
	assert_int_equal(json_array_size(attempts), 3);
	assert_string_equal(ml_json_str(json_object_get(r.cell, "repeat"), "kind"), "deterministic");
	assert_string_equal(ml_json_str(r.cell, "category"), "fail");
	assert_false(ml_json_bool(json_array_get(attempts, 0), "lossless_capture", true));
	assert_true(ml_json_bool(json_array_get(attempts, 1), "lossless_capture", false));
	assert_string_equal(ml_json_str(json_array_get(attempts, 2), "class"), "section-unknown");
	assert_non_null(strstr(r.out.data, "attempts: 3 of 3 attempt(s) failed"));
	failure = json_object_get(r.cell, "failure");
	assert_non_null(failure);
	assert_string_equal(ml_json_str(failure, "phase"), "migrate-forward");
	ev = ml_json_str(failure, "evidence");
	assert_non_null(ev);
	/* QEMU's own words, from the destination's stderr. */
	assert_non_null(strstr(ev, "virtio-balloon"));
	assert_non_null(strstr(ev, "QEMU (dst)"));
	/* Classified, and the kept stream shows what the source sent for it. */
	assert_string_equal(ml_json_str(failure, "class"), "section-unknown");
	assert_string_equal(ml_json_str(failure, "device"), "0000:00:05.0/virtio-balloon");
	assert_non_null(ml_json_str(failure, "stream"));
	assert_non_null(strstr(ml_json_str(failure, "stream"), "bytes at offset"));
	assert_non_null(ml_json_str(json_object_get(r.cell, "logs"), "stream_dst"));
	/* The failing migration is named: forward, 10.0.2 -> 10.0.13. */
	dir = json_object_get(failure, "direction");
	assert_string_equal(ml_json_str(dir, "migration"), "forward");
	assert_string_equal(ml_json_str(dir, "from"), BUILD_A);
	assert_string_equal(ml_json_str(dir, "to"), BUILD_B);
	assert_non_null(strstr(r.out.data, "direction: " BUILD_A " (QEMU 10.0.2) -> " BUILD_B));
	run_clear(&r);
}

static void test_machine_missing_on_one_side_is_skip(void **state)
{
	const char *args[] = { "--src", "debian:bookworm", "--dst", BUILD_A,
			       "--machine", "pc-q35-10.0", NULL };
	struct run r;
	(void)state;

	run_miglab(&r, args);
	assert_int_equal(r.status, 0);
	assert_non_null(r.cell);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "skip");
	assert_non_null(strstr(ml_json_str(r.cell, "reason"), "pc-q35-10.0 does not exist in debian:bookworm"));
	run_clear(&r);
}

static void test_qemu_failing_at_start_is_named(void **state)
{
	const char *args[] = { "--src", BUILD_A, "--dst", BUILD_B,
			       "--machine", "pc-q35-7.2", "--confirm", "0", "--dst-arg", "-device",
			       "--dst-arg", "no-such-device-model", NULL };
	struct run r;
	const char *ev;
	(void)state;

	run_miglab(&r, args);
	assert_int_equal(r.status, 1);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "fail");
	assert_string_equal(ml_json_str(json_object_get(r.cell, "failure"), "phase"), "migrate-forward");
	assert_non_null(strstr(ml_json_str(r.cell, "reason"), "failed to start"));
	ev = ml_json_str(json_object_get(r.cell, "failure"), "evidence");
	assert_non_null(strstr(ev, "no-such-device-model"));
	run_clear(&r);
}

static void test_probe_silence_is_explained(void **state)
{
	/* One second is less than the guest needs to boot (about 3.5 s). */
	const char *args[] = { "--src", BUILD_A, "--dst", BUILD_A,
			       "--machine", "q35", "--boot-timeout", "1", "--confirm", "0", NULL };
	struct run r;
	const char *ev;
	(void)state;

	run_miglab(&r, args);
	assert_int_equal(r.status, 1);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "fail");
	assert_non_null(strstr(ml_json_str(r.cell, "reason"), "never said hello within 1 s"));
	ev = ml_json_str(json_object_get(r.cell, "failure"), "evidence");
	assert_non_null(strstr(ev, "guest console"));
	run_clear(&r);
}

static void test_bad_input_is_named(void **state)
{
	const char *a1[] = { "--src", "debian:nosuchsuite", "--dst", "debian:bookworm",
			     "--machine", "q35", NULL };
	const char *a2[] = { "--src", "debian:bookworm", "--dst", "ftp:whatever", "--machine",
			     "q35", NULL };
	const char *a3[] = { "--src", BUILD_A, "--dst", BUILD_A, "--machine",
			     "q35", "--kernel", "debian:nosuchsuite", NULL };
	struct run r;
	(void)state;

	run_miglab(&r, a1);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.out.data, "unknown Debian suite 'nosuchsuite'"));
	run_clear(&r);
	run_miglab(&r, a2);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.out.data, "unknown build provider 'ftp:whatever'"));
	run_clear(&r);
	run_miglab(&r, a3);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.out.data, "nosuchsuite"));
	run_clear(&r);
}

/* The directory of the cell a run printed. */
static char *cell_dir_of(const struct run *r)
{
	const char *p = strstr(r->out.data, "results: ");
	assert_non_null(p);
	p += strlen("results: ");
	return strndup(p, strcspn(p, "\n"));
}

/* Two boots of one build and machine type (boot-src, reboot-dst) and the
 * dumps around migrations see the same ABI: no false positives. */
static void test_abi_control_cell_has_no_differences(void **state)
{
	const char *args[] = { "--src", BUILD_A, "--dst", BUILD_A,
			       "--machine", "pc-q35-7.2", NULL };
	const char *phases[] = { "live-dst", "reboot-dst", "back-src" };
	ml_autofree char *dir = NULL;
	struct run r;
	(void)state;

	run_miglab(&r, args);
	assert_int_equal(r.status, 0);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "pass");
	{
		/* No ABI, cross-check or continuity finding at all. */
		size_t i;
		json_t *f;
		json_array_foreach(json_object_get(r.cell, "findings"), i, f) {
			assert_string_not_equal(ml_json_str(f, "kind"), "abi-change");
			assert_string_not_equal(ml_json_str(f, "kind"), "abi-crosscheck");
			assert_string_not_equal(ml_json_str(f, "kind"), "continuity");
		}
		assert_string_equal(ml_json_str(json_object_get(r.cell, "abi"), "severity"), "none");
	}
	for (size_t i = 0; i < ML_ARRAY_SIZE(phases); i++) {
		json_t *p = phase(r.cell, phases[i]);
		assert_non_null(p);
		assert_int_equal(ml_json_int(json_object_get(p, "figures"), "abi_differences", -1), 0);
		/* The guest's view and QEMU's own agree on every value compared. */
		assert_int_equal(ml_json_int(json_object_get(p, "figures"), "qemu_disagreements", -1), 0);
		assert_true(ml_json_int(json_object_get(p, "figures"), "qemu_checked", 0) > 100);
	}
	/* reboot-dst really was another boot. */
	assert_true(ml_json_int(json_object_get(phase(r.cell, "reboot-dst"), "figures"),
				"reset_to_hello_ms", 0) > 0);
	dir = cell_dir_of(&r);
	{
		ml_autofree char *a = ml_path_join(dir, "attempts/1/abi-boot-src.json");
		ml_autofree char *b = ml_path_join(dir, "attempts/1/abi-reboot-dst.json");
		assert_true(ml_path_exists(a));
		assert_true(ml_path_exists(b));
	}
	run_clear(&r);
}

/* A destination that gives the guest fewer CPU features than it booted
 * with (a misconfigured or broken destination; QEMU does not check CPUID on
 * migration): the migration completes, and the cell fails because a CPU
 * feature vanished under the running guest, named. erms is only a hint
 * (rep movsb works without it), so the guest goes on running and the ABI
 * check is what catches it; without movbe instead, the probe dies of an
 * invalid opcode (glibc chose its movbe memcmp at start): cpu-feature-lost. */
static void test_cpu_feature_lost_live_fails(void **state)
{
	const char *args[] = { "--src", BUILD_A, "--dst", BUILD_A, "--machine", "pc-q35-7.2", "--no-reboot",
			       "--confirm", "0", "--src-arg", "-cpu", "--src-arg", "max", "--dst-arg", "-cpu",
			       "--dst-arg", "max,-erms", NULL };
	json_t *failure, *f;
	size_t i, live = 0;
	struct run r;
	(void)state;

	run_miglab(&r, args);
	assert_int_equal(r.status, 1);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "fail");
	failure = json_object_get(r.cell, "failure");
	print_message("%s\n", ml_json_str(r.cell, "reason"));
	assert_string_equal(ml_json_str(failure, "class"), "abi-changed-live");
	assert_non_null(strstr(ml_json_str(r.cell, "reason"), "(erms)"));
	assert_non_null(json_object_get(failure, "cpu_model_change"));
	json_array_foreach(json_object_get(r.cell, "findings"), i, f)
		if (ml_str_eq(ml_json_str(f, "kind"), "abi-change") && ml_str_eq(ml_json_str(f, "phase"), "live-dst")) {
			live++;
			assert_string_equal(ml_json_str(f, "severity"), "fail");
			assert_string_equal(ml_json_str(f, "first_kind"), "cpu-feature");
		}
	assert_int_equal(live, 1);
	run_clear(&r);
}

/* abi-diff of boot-src dumps: exit status and output. */
static int abi_diff(const char *a, const char *b, struct ml_buf *out)
{
	const char *argv[] = { MIGLAB_BIN, "abi-diff", a, b, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .envp = (const char *const *)environ };
	int status;

	assert_int_equal(ml_proc_run(&spec, 60000, out, NULL, &status), 0);
	return WEXITSTATUS(status);
}

/* Real differences are found and named: another machine type, another CPU
 * model, against the same build's pc-q35-7.2 with the default CPU. */
static void test_abi_differences_are_named(void **state)
{
	const char *base_args[] = { "--src", BUILD_A, "--dst", BUILD_A,
				    "--machine", "pc-q35-7.2", "--no-reboot", NULL };
	const char *i440fx_args[] = { "--src", BUILD_A, "--dst", BUILD_A,
				      "--machine", "pc-i440fx-7.2", "--no-reboot", NULL };
	const char *cpu_args[] = { "--src", BUILD_A, "--dst", BUILD_A,
				   "--machine", "pc-q35-7.2", "--no-reboot",
				   "--src-arg", "-cpu", "--src-arg", "max",
				   "--dst-arg", "-cpu", "--dst-arg", "max", NULL };
	ml_autofree char *base = NULL, *i440fx = NULL, *cpu = NULL;
	ml_autofree char *a = NULL, *b = NULL, *c = NULL;
	struct ml_buf out = ML_BUF_INIT(0);
	struct run r;
	(void)state;

	run_miglab(&r, base_args);
	assert_int_equal(r.status, 0);
	base = cell_dir_of(&r);
	run_clear(&r);
	run_miglab(&r, i440fx_args);
	assert_int_equal(r.status, 0);
	i440fx = cell_dir_of(&r);
	run_clear(&r);
	run_miglab(&r, cpu_args);
	assert_int_equal(r.status, 0);
	cpu = cell_dir_of(&r);
	run_clear(&r);

	a = ml_path_join(base, "attempts/1/abi-boot-src.json");
	b = ml_path_join(i440fx, "attempts/1/abi-boot-src.json");
	c = ml_path_join(cpu, "attempts/1/abi-boot-src.json");
	assert_int_equal(abi_diff(a, a, &out), 0);
	ml_buf_reset(&out);
	/* q35 against i440fx: other chipset devices, other ACPI tables. */
	assert_int_equal(abi_diff(a, b, &out), 1);
	print_message("%s", out.data);
	assert_non_null(strstr(out.data, "8086:29c0"));
	assert_non_null(strstr(out.data, "MCFG"));
	ml_buf_reset(&out);
	/* Another CPU model: CPUID feature bits, by name. */
	assert_int_equal(abi_diff(a, c, &out), 1);
	print_message("%s", out.data);
	assert_non_null(strstr(out.data, "CPUID leaf"));
	assert_non_null(strstr(out.data, "bit"));
	ml_buf_free(&out);
}

/* Known issues: a listed failure is xfail, a listed cell that passes is
 * xpass, and --apply-fixups gives the destination the listed workaround. */
static void test_known_issue_xfail_xpass_and_fixup(void **state)
{
	const char *fails[] = { "--src", BUILD_A, "--dst", BUILD_B,
				"--machine", "pc-q35-7.2", "--no-abi", "--no-reboot", "--confirm", "0",
				"--src-arg", "-device", "--src-arg", "virtio-balloon-pci,id=only-on-src", NULL };
	const char *fixed[] = { "--src", BUILD_A, "--dst", BUILD_B,
				"--machine", "pc-q35-7.2", "--no-abi", "--no-reboot", "--apply-fixups",
				"--src-arg", "-device", "--src-arg", "virtio-balloon-pci,id=only-on-src", NULL };
	const char *passes[] = { "--src", BUILD_A, "--dst", BUILD_B,
				 "--machine", "pc-q35-7.2", "--no-abi", "--no-reboot", NULL };
	struct run r;
	(void)state;

	setenv("MIGLAB_KNOWN_ISSUES", ml_test_data("known/balloon-only-on-src.ini"), 1);
	run_miglab(&r, fails);
	assert_int_equal(r.status, 0);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "xfail");
	assert_string_equal(ml_json_str(json_object_get(r.cell, "failure"), "class"), "section-unknown");
	assert_string_equal(ml_json_str(json_object_get(r.cell, "known_issue"), "id"), "balloon-only-on-src");
	run_clear(&r);

	run_miglab(&r, fixed);
	assert_int_equal(r.status, 0);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "pass");
	assert_int_equal(json_array_size(json_object_get(r.cell, "fixups_applied")), 1);
	assert_non_null(strstr(ml_json_str(r.cell, "reason"), "with the fixup of known issue"));
	run_clear(&r);

	run_miglab(&r, passes);
	assert_int_equal(r.status, 1);
	assert_string_equal(ml_json_str(r.cell, "verdict"), "xpass");
	run_clear(&r);
	unsetenv("MIGLAB_KNOWN_ISSUES");
}

/* Start a cell, wait until its QEMU runs, deliver sig to miglab, and check
 * that no QEMU it started survives. */
static pid_t interrupt_cell(int sig, const char *run_id)
{
	const char *argv[] = { MIGLAB_BIN, "cell", "--results-dir", results_dir, "--run-id", run_id,
			       "--src", BUILD_A, "--dst", BUILD_B,
			       "--machine", "pc-q35-7.2", NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .envp = (const char *const *)environ, .stdout_fd = -1, .stderr_fd = 2 };
	pid_t pid, qemus[8];
	size_t n = 0;
	int status;

	assert_int_equal(ml_proc_spawn(&spec, &pid), 0);
	for (int i = 0; i < 600 && n == 0; i++) {
		usleep(100 * 1000);
		n = qemu_children(pid, qemus, ML_ARRAY_SIZE(qemus));
	}
	assert_true(n > 0);
	usleep(1500 * 1000); /* let the guest boot a little */
	assert_int_equal(kill(pid, sig), 0);
	assert_int_equal(ml_proc_wait(pid, 30000, &status), 0);
	for (size_t i = 0; i < n; i++) {
		assert_false(ml_test_pid_wait_dead(qemus[i], 5000));
	}
	if (sig == SIGINT) {
		/* An interrupted cell is recorded as an error of the lab, not a QEMU failure. */
		assert_int_equal(WEXITSTATUS(status), 128 + SIGINT);
		{
			ml_autofree char *cells = NULL;
			DIR *d;
			struct dirent *e;
			json_t *cell = NULL;
			if (asprintf(&cells, "%s/%s/cells", results_dir, run_id) < 0)
				abort();
			d = opendir(cells);
			assert_non_null(d);
			while ((e = readdir(d)))
				if (e->d_name[0] != '.') {
					ml_autofree char *p = NULL;
					if (asprintf(&p, "%s/%s/cell.json", cells, e->d_name) < 0)
						abort();
					cell = ml_json_load_file(p, 1 << 24);
				}
			closedir(d);
			assert_non_null(cell);
			assert_string_equal(ml_json_str(cell, "verdict"), "error");
			assert_non_null(strstr(ml_json_str(cell, "reason"), "interrupted"));
			json_decref(cell);
		}
	}
	return pid;
}

static void test_sigint_leaves_no_qemu(void **state)
{
	(void)state;
	interrupt_cell(SIGINT, "sigint-test");
}

/* The socket directory a cell of run run_id left in /tmp, or NULL (its
 * owner file names the cell's results; the pid there is the one miglab had
 * in its own PID namespace). */
static char *run_dir_owned_by(const char *run_id)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;
	char *found = NULL;

	while (d && (e = readdir(d)) && !found) {
		ml_autofree char *owner = NULL;
		char *text = NULL;
		if (strncmp(e->d_name, "miglab-", 7) != 0 || strlen(e->d_name) != 13)
			continue;
		owner = ml_strdup_printf("/tmp/%s/owner", e->d_name);
		if (ml_read_file(owner, 8192, &text, NULL) == 0 && strstr(text, run_id))
			found = ml_strdup_printf("/tmp/%s", e->d_name);
		free(text);
	}
	if (d)
		closedir(d);
	return found;
}

static void test_sigkill_leaves_no_qemu(void **state)
{
	const char *args[] = { "--src", BUILD_A, "--dst", BUILD_A,
			       "--machine", "q35", "--boot-timeout", "1", "--confirm", "0", NULL };
	ml_autofree char *stale = NULL;
	struct run r;
	(void)state;

	interrupt_cell(SIGKILL, "sigkill-test");
	/* A killed miglab cannot clean its socket directory; the next cell does. */
	stale = run_dir_owned_by("/sigkill-test/");
	assert_non_null(stale);
	run_miglab(&r, args);
	run_clear(&r);
	assert_false(ml_path_exists(stale));
}

/* A cached root whose QEMU binary went missing is detected and rebuilt.
 * Works on a hard-linked copy of the cache: unlinking in the copy never
 * touches the original. */
static void test_damaged_root_is_rebuilt(void **state)
{
	const char *cache = getenv("MIGLAB_CACHE_DIR");
	ml_autofree char *home_cache = NULL;
	ml_autofree char *copy = NULL;
	ml_autofree char *src_builds = NULL;
	ml_autofree char *src_guests = NULL;
	ml_autofree char *src_apt = NULL;
	ml_autofree char *qemu = NULL;
	ml_autofree char *manifest = NULL;
	const char *cp[] = { "/bin/cp", "-al", NULL, NULL, NULL, NULL, NULL };
	const char *fetch[] = { MIGLAB_BIN, "fetch", "--cache-dir", NULL, "debian:bookworm",
				"--kernel", "debian:bookworm", NULL };
	struct ml_proc_spec spec = { .stdin_fd = -1, .envp = (const char *const *)environ };
	struct ml_buf out = ML_BUF_INIT(0), err = ML_BUF_INIT(0);
	json_t *before, *after;
	int status;
	(void)state;

	if (!cache) {
		if (asprintf(&home_cache, "%s/.cache/miglab", getenv("HOME") ? getenv("HOME") : "/root") < 0)
			abort();
		cache = home_cache;
	}
	/* Inside the cache: hard links need the same file system. */
	if (asprintf(&copy, "%s/.test-damaged-%d", cache, (int)getpid()) < 0)
		abort();
	src_builds = ml_path_join(cache, "builds");
	src_guests = ml_path_join(cache, "guests");
	src_apt = ml_path_join(cache, "apt");
	qemu = ml_path_join(copy, "builds/debian-bookworm/root/usr/bin/qemu-system-x86_64");
	manifest = ml_path_join(copy, "builds/debian-bookworm/build.json");
	fetch[3] = copy;
	ml_rm_rf(copy);
	assert_int_equal(ml_mkdir_p(copy, 0755), 0);
	/* The guest and apt caches come along so the fetch needs no download. */
	cp[2] = src_builds;
	cp[3] = src_guests;
	cp[4] = src_apt;
	cp[5] = copy;
	spec.argv = cp;
	assert_int_equal(ml_proc_run(&spec, 120000, &out, &err, &status), 0);
	assert_int_equal(status, 0);
	before = ml_json_load_file(manifest, 1 << 24);
	assert_non_null(before);
	assert_int_equal(unlink(qemu), 0);

	ml_buf_reset(&out);
	ml_buf_reset(&err);
	spec.argv = fetch;
	assert_int_equal(ml_proc_run(&spec, 600000, &out, &err, &status), 0);
	print_message("%s%s\n", out.data ? out.data : "", err.data ? err.data : "");
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(err.data, "cached root is damaged"));
	assert_true(ml_path_exists(qemu));
	after = ml_json_load_file(manifest, 1 << 24);
	assert_non_null(after);
	/* Rebuilt from the same suite: the same QEMU package. */
	assert_string_equal(ml_json_str(before, "package_version"), ml_json_str(after, "package_version"));
	json_decref(before);
	json_decref(after);
	ml_buf_free(&out);
	ml_buf_free(&err);
	assert_int_equal(ml_rm_rf(copy), 0);
}

/* The saved guest (docs/saved-state.md), with a saved-guest directory kept
 * across cells: the first cell boots and saves; a cell of the same source
 * build, machine and kernel restores it, checks it as after a migration and
 * sees the ABI a cold boot sees; a damaged state is made again; another
 * source build never uses it. */
static void test_saved_guest_restores_checks_and_remakes(void **state)
{
	ml_autofree char *saved = ml_path_join(results_dir, "saved-guests");
	const char *make[] = { "--src", BUILD_B, "--dst", BUILD_B, "--machine", "pc-q35-7.2",
			       "--saved-dir", saved, NULL };
	const char *use[] = { "--src", BUILD_B, "--dst", BUILD_A, "--machine", "pc-q35-7.2",
			      "--saved-dir", saved, NULL };
	const char *cold[] = { "--src", BUILD_B, "--dst", BUILD_A, "--machine", "pc-q35-7.2",
			       "--boot", "cold", NULL };
	const char *other[] = { "--src", BUILD_A, "--dst", BUILD_B, "--machine", "pc-q35-7.2",
				"--saved-dir", saved, NULL };
	struct run r1, r2, r3, r4, r5;
	json_t *ss1, *ss2, *ss4, *ss5, *fig;
	ml_autofree char *dir2 = NULL;
	ml_autofree char *dir3 = NULL;
	ml_autofree char *state_file = NULL;
	(void)state;

	ml_rm_rf(saved);
	/* 1: made here */
	run_miglab(&r1, make);
	assert_int_equal(r1.status, 0);
	ss1 = json_object_get(r1.cell, "saved_state");
	assert_non_null(ss1);
	assert_true(ml_json_bool(ss1, "made_here", false));
	assert_string_equal(ml_json_str(json_object_get(json_object_get(r1.cell, "inputs"), "boot"), "used"),
			    "saved");
	fig = json_object_get(phase(r1.cell, "boot-src"), "figures");
	assert_true(ml_json_int(fig, "boot_to_hello_ms", 0) > 0);
	assert_true(ml_json_int(fig, "save_ms", 0) > 0);
	assert_true(ml_json_int(fig, "restore_ms", 0) > 0);

	/* 2: restored, and checked as after a migration */
	run_miglab(&r2, use);
	assert_int_equal(r2.status, 0);
	assert_string_equal(ml_json_str(r2.cell, "verdict"), "pass");
	ss2 = json_object_get(r2.cell, "saved_state");
	assert_false(ml_json_bool(ss2, "made_here", true));
	assert_string_equal(ml_json_str(ss2, "key"), ml_json_str(ss1, "key"));
	assert_string_equal(ml_json_str(ss2, "sha256"), ml_json_str(ss1, "sha256"));
	assert_string_equal(ml_json_str(json_object_get(ss2, "made_by"), "cell"),
			    ml_json_str(r1.cell, "cell_id"));
	fig = json_object_get(phase(r2.cell, "boot-src"), "figures");
	assert_null(json_object_get(fig, "boot_to_hello_ms"));
	assert_true(ml_json_int(fig, "restore_ms", 0) > 0);
	assert_true(ml_json_int(fig, "ram_verified_pages", 0) >= 16384);
	assert_true(ml_json_int(fig, "heartbeat_after", 0) > ml_json_int(fig, "heartbeat_before", 0));
	assert_string_equal(ml_json_str(json_object_get(r2.cell, "guest_hello"), "boot_id"),
			    ml_json_str(json_object_get(r1.cell, "guest_hello"), "boot_id"));

	/* 3: the same cell booted cold sees the same ABI, at boot and after
	 * the migration of the restored guest */
	run_miglab(&r3, cold);
	assert_int_equal(r3.status, 0);
	assert_null(json_object_get(r3.cell, "saved_state"));
	dir2 = cell_dir_of(&r2);
	dir3 = cell_dir_of(&r3);
	{
		static const char *const dumps[] = { "abi-boot-src.json", "abi-live-dst.json" };
		for (size_t i = 0; i < ML_ARRAY_SIZE(dumps); i++) {
			ml_autofree char *rel = ml_strdup_printf("attempts/1/%s", dumps[i]);
			ml_autofree char *a = ml_path_join(dir3, rel);
			ml_autofree char *b = ml_path_join(dir2, rel);
			struct ml_buf out = ML_BUF_INIT(0);
			int rc = abi_diff(a, b, &out);
			print_message("abi-diff cold/saved %s: %s\n", dumps[i], out.data ? out.data : "");
			assert_int_equal(rc, 0);
			ml_buf_free(&out);
		}
	}

	/* 4: one byte of the state changed: detected, made again */
	state_file = ml_strdup_printf("%s/%s/state", saved, ml_json_str(ss1, "key"));
	{
		FILE *f = fopen(state_file, "r+b");
		int ch;
		assert_non_null(f);
		assert_int_equal(fseek(f, 4096, SEEK_SET), 0);
		ch = fgetc(f);
		assert_int_equal(fseek(f, 4096, SEEK_SET), 0);
		fputc(ch ^ 0x5a, f);
		fclose(f);
	}
	run_miglab(&r4, use);
	assert_int_equal(r4.status, 0);
	ss4 = json_object_get(r4.cell, "saved_state");
	assert_true(ml_json_bool(ss4, "made_here", false));
	assert_non_null(strstr(ml_json_str(ss4, "remade_because"), "sha256"));
	assert_string_not_equal(ml_json_str(ss4, "sha256"), ml_json_str(ss1, "sha256"));

	/* 5: another source build has its own */
	run_miglab(&r5, other);
	assert_int_equal(r5.status, 0);
	ss5 = json_object_get(r5.cell, "saved_state");
	assert_true(ml_json_bool(ss5, "made_here", false));
	assert_string_not_equal(ml_json_str(ss5, "key"), ml_json_str(ss1, "key"));

	run_clear(&r1);
	run_clear(&r2);
	run_clear(&r3);
	run_clear(&r4);
	run_clear(&r5);
	ml_rm_rf(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input_is_named),
		cmocka_unit_test(test_cell_passes_both_directions),
		cmocka_unit_test(test_saved_guest_restores_checks_and_remakes),
		cmocka_unit_test(test_abi_control_cell_has_no_differences),
		cmocka_unit_test(test_abi_differences_are_named),
		cmocka_unit_test(test_cpu_feature_lost_live_fails),
		cmocka_unit_test(test_incompatible_destination_fails_with_qemu_text),
		cmocka_unit_test(test_machine_missing_on_one_side_is_skip),
		cmocka_unit_test(test_known_issue_xfail_xpass_and_fixup),
		cmocka_unit_test(test_qemu_failing_at_start_is_named),
		cmocka_unit_test(test_probe_silence_is_explained),
		cmocka_unit_test(test_sigint_leaves_no_qemu),
		cmocka_unit_test(test_sigkill_leaves_no_qemu),
		cmocka_unit_test(test_damaged_root_is_rebuilt),
	};
	if (geteuid() != 0) {
		print_message("integration tests need root (chroot in a mount namespace)\n");
		return 77;
	}
	/* MIGLAB_TEST_FILTER=test_sigint* runs the matching tests only. */
	if (getenv("MIGLAB_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MIGLAB_TEST_FILTER"));
	return cmocka_run_group_tests(tests, ml_test_results_setup, ml_test_results_teardown);
}
