/* The cell state machine (see cell.h and DESIGN.md "The cell"): a table of
 * phases (cell_phases) run in order by one routine, cell_run_phases(). Each
 * phase either passes or ends the attempt with an outcome naming the phase
 * and quoting the evidence (QEMU's stderr, a QMP error, the guest's answer).
 * QEMU is reached only through the runner interface (runners/runner.h). The
 * cell records; the judging stage (results/judge.h) decides. Whatever
 * happens, every QEMU the cell started is stopped before it returns. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "abi.h"
#include "cell.h"
#include "continuity.h"
#include "ml-layout.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "probe-client.h"
#include "qemu-view.h"
#include "saved-state.h"
#include "vmstate-dump.h"
#include "ml-common.h"

#define DISK_MIB 16
#define HEARTBEAT_STALL_MS 2000

/* The guest kernel's command line, before miglab.ram_mib. Beyond the console
 * and panic=-1 (a panic resets, -no-reboot turns that into QEMU's exit), the
 * options skip work the guest does at every boot that the lab never looks at
 * and that costs most under TCG: the crypto self-tests, which also slow the
 * first insmods down (cryptomgr.notests), the jitter-entropy
 * startup test (initcall_blacklist=jent_mod_init) and the read-only
 * remapping of the kernel with its W+X check (rodata=off). None changes what
 * QEMU shows the guest; the ABI dump records the line as kernel.cmdline,
 * which is volatile. docs/guests.md, "Kernel command line", has the figures. */
#define GUEST_CMDLINE                                                              \
	"console=ttyS0 panic=-1 quiet cryptomgr.notests initcall_blacklist=jent_mod_init " \
	"rodata=off"

/* VM_BOOT boots the guest that is then saved (boot = saved, the first cell
 * of a key); VM_SRC runs the guest on the source build, restored or booted. */
enum { VM_SRC, VM_DST, VM_BACK, VM_BOOT, VM_MAX };
static const char *const vm_names[VM_MAX] = { "src", "dst", "back", "boot" };

struct cell {
	const struct ml_cell_spec *spec;
	struct ml_cell_result res;
	char *id;
	const char *results_run; /* the run's results directory (<results>/<run>) */
	int attempt;
	char *run_dir;  /* short directory for sockets and the shared disk */
	int owner_fd;   /* run_dir/owner, locked while the cell lives */
	char *disk;
	const char *src_machine;
	const char *dst_machine;
	struct {
		char *path;        /* in the run directory */
		const char *to;    /* "dst" or "back" */
	} captures[2];
	size_t n_captures;
	struct ml_vm *vms[VM_MAX];
	const char *kernel_boot;  /* "pvh" or "bzimage" (ml_cell_kernel_boot) */
	const char *boot;         /* "saved" or "cold" (ml_cell_boot) */
	char *boot_id;            /* the guest's boot, from its first hello */
	long long heartbeat;      /* the last heartbeat seen */
	json_t *continuity;       /* the continuity reading before this migration */
	bool decided;
};

void ml_cell_spec_defaults(struct ml_cell_spec *s)
{
	if (!s->accel)
		s->accel = "tcg";
	if (!s->scenario)
		s->scenario = "forward-back";
	if (!s->kernel_boot)
		s->kernel_boot = "auto";
	if (!s->boot)
		s->boot = "saved";
	if (s->memory_mib <= 0)
		s->memory_mib = 256;
	if (s->workload_mib <= 0)
		s->workload_mib = 64;
	if (s->boot_timeout_ms <= 0)
		s->boot_timeout_ms = 60000;
	if (s->migrate_timeout_ms <= 0)
		s->migrate_timeout_ms = 120000;
	if (s->verify_timeout_ms <= 0)
		s->verify_timeout_ms = 30000;
	if (s->resume_timeout_ms <= 0)
		s->resume_timeout_ms = 10000;
	if (!s->abi_severity)
		s->abi_severity = "warn";
	if (!s->runner)
		s->runner = &ml_local_runner;
}

/* "debian:trixie" -> "trixie"; "path:/opt/q/bin/qemu-system-x86_64" -> "path-<8 hex>". */
static char *slug_of(const char *spec, const char *hash)
{
	const char *colon = strchr(spec, ':');
	if (strncmp(spec, "debian:", 7) == 0)
		return strdup(colon + 1);
	return ml_strdup_printf("%.*s-%.8s", colon ? (int)(colon - spec) : 4, spec, hash);
}

static void append_args(struct ml_buf *b, const char *tag, const char *const *args)
{
	for (size_t i = 0; args && args[i]; i++)
		ml_buf_printf(b, "%s=%s\n", tag, args[i]);
}

char *ml_cell_id(const struct ml_cell_spec *s)
{
	struct ml_buf key = ML_BUF_INIT(0);
	char h[65], hs[65], hd[65];
	ml_autofree char *src = NULL;
	ml_autofree char *dst = NULL;
	ml_autofree char *kern = NULL;
	char *id;

	/* Everything that changes what runs, one "name=value" per line. */
	ml_buf_printf(&key, "src=%s\ndst=%s\nmachine=%s\nkernel=%s\nscenario=%s\naccel=%s\n"
			    "memory=%d\nworkload=%d\n",
		      s->src->spec, s->dst->spec, s->machine, s->kernel_spec, s->scenario, s->accel,
		      s->memory_mib, s->workload_mib);
	if (s->skip_abi)
		ml_buf_puts(&key, "abi=off\n");
	if (s->skip_reboot)
		ml_buf_puts(&key, "reboot=off\n");
	/* Only a boot asked for by name: the default (auto) keeps the ids
	 * cells had before there was a choice. */
	if (strcmp(s->kernel_boot, "auto") != 0)
		ml_buf_printf(&key, "kernel_boot=%s\n", s->kernel_boot);
	if (json_array_size(s->fixups_applied))
		ml_buf_puts(&key, "fixups=on\n");
	if (s->max_bandwidth_mib > 0)
		ml_buf_printf(&key, "max_bandwidth=%d\n", s->max_bandwidth_mib);
	append_args(&key, "src_arg", s->src_extra_args);
	append_args(&key, "dst_arg", s->dst_extra_args);
	ml_sha256_text(key.data, h);
	ml_sha256_text(s->src->spec, hs);
	ml_sha256_text(s->dst->spec, hd);
	ml_buf_free(&key);
	src = slug_of(s->src->spec, hs);
	dst = slug_of(s->dst->spec, hd);
	kern = slug_of(s->kernel_spec, h);
	id = ml_strdup_printf("%s-to-%s-%s-k-%s-%.8s", src, dst, s->machine, kern, h);
	/* Keep ids safe as directory names whatever the inputs were. */
	for (char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			*p = '_';
	return id;
}

int ml_cell_kernel_boot(const struct ml_cell_spec *s, const char **boot, char **why)
{
	const struct ml_build *builds[2] = { s->src, s->dst };
	ml_autofree char *reason = NULL;

	if (why)
		*why = NULL;
	*boot = "bzimage";
	if (strcmp(s->kernel_boot, "bzimage") == 0)
		return 0;
	if (!s->guest->vmlinux_path)
		reason = ml_strdup_printf("kernel %s (%s) cannot boot as PVH: %s", s->kernel_spec,
					  s->guest->kernel_release ? s->guest->kernel_release : "?",
					  s->guest->pvh_unavailable ? s->guest->pvh_unavailable
								    : "no vmlinux was extracted");
	for (size_t i = 0; i < ML_ARRAY_SIZE(builds) && !reason; i++)
		reason = ml_build_pvh_unsupported(builds[i]);
	if (!reason) {
		*boot = "pvh";
		return 0;
	}
	if (strcmp(s->kernel_boot, "pvh") == 0) {
		ml_error("kernel boot pvh: %s", reason);
		return -1;
	}
	if (why)
		*why = ml_steal_pointer(&reason);
	return 0;
}

void ml_cell_boot(const struct ml_cell_spec *s, const char **used, char **why)
{
	if (why)
		*why = NULL;
	*used = "cold";
	if (strcmp(s->boot, "cold") == 0)
		return;
	if (!s->runner->save_state || !s->runner->restore_state) {
		if (why)
			*why = ml_strdup_printf("the %s runner cannot save a guest", s->runner->name);
		return;
	}
	*used = "saved";
}

char *ml_cell_append(const struct ml_cell_spec *s)
{
	return ml_strdup_printf(GUEST_CMDLINE " miglab.ram_mib=%d", s->workload_mib);
}

/* ---- outcomes ---------------------------------------------------------- */

/* End the current phase and the attempt with its outcome. Returns -1 so step
 * functions can `return cell_decide(...)`. */
static int cell_decide(struct cell *c, json_t *phase, enum ml_verdict v, const char *reason,
		       const char *evidence)
{
	if (phase)
		ml_result_phase_end(&c->res, phase,
				    v == ML_VERDICT_ERROR  ? ML_PHASE_ERROR
				    : v == ML_VERDICT_SKIP ? ML_PHASE_SKIP
							   : ML_PHASE_FAIL,
				    evidence ? evidence : reason);
	if (!c->decided)
		ml_result_set_outcome(&c->res, v, phase ? ml_json_str(phase, "name") : NULL, reason,
				      evidence);
	c->decided = true;
	return -1;
}

/* A failure seen after ^C or SIGTERM arrived may be the interrupt's doing (a
 * QEMU or probe the signal reached, a check cut short): the attempt is then
 * a lab error, which --resume runs again, never a failure of the pair. */
static int cell_fail(struct cell *c, json_t *phase, const char *reason, const char *evidence)
{
	if (ml_interrupted) {
		ml_autofree char *why = ml_strdup_printf(
			"interrupted by %s; the phase then reported: %s",
			sigabbrev_np(ml_interrupted) ? sigabbrev_np(ml_interrupted) : "a signal", reason);
		return cell_decide(c, phase, ML_VERDICT_ERROR, why, evidence);
	}
	return cell_decide(c, phase, ML_VERDICT_FAIL, reason, evidence);
}

/* The lab itself failed (or was interrupted): the last reported error says why. */
static int cell_error(struct cell *c, json_t *phase, const char *what)
{
	ml_autofree char *reason = ml_strdup_printf("%s: %s", what, ml_error_message());
	return cell_decide(c, phase, ML_VERDICT_ERROR, reason, NULL);
}

/* The last lines of a VM's console, as evidence for a guest that said nothing. */
static char *console_tail(struct ml_vm *vm, size_t max)
{
	char *out = vm ? vm->ops->log_tail(vm, ML_VM_LOG_CONSOLE, max) : NULL;

	if (!out)
		return strdup("(no console output)");
	/* The console is untrusted bytes; keep it printable. */
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
			*p = '?';
	return out;
}

/* The last bytes of QEMU's stderr, "" when there are none. */
static char *stderr_tail(struct ml_vm *vm, size_t max)
{
	char *t = vm->ops->log_tail(vm, ML_VM_LOG_STDERR, max);
	return t ? t : strdup("");
}

/* QEMU died or is dying: give it a moment to exit, then quote its stderr. */
static char *death_evidence(struct ml_vm *vm)
{
	char desc[128];
	ml_autofree char *tail = NULL;

	vm->ops->vm_wait_exit(vm, 2000);
	tail = stderr_tail(vm, 4000);
	if (!vm->exited)
		return ml_strdup_printf("QEMU (%s) is still running; stderr:\n%s", vm->name, tail);
	ml_proc_status_str(vm->exit_status, desc, sizeof(desc));
	return ml_strdup_printf("QEMU (%s) %s; stderr:\n%s", vm->name, desc, *tail ? tail : "(empty)");
}

/* ---- steps ------------------------------------------------------------- */

static int start_vm(struct cell *c, json_t *phase, int which, const struct ml_build *b,
		    const char *machine, bool incoming, const char *const *extra)
{
	const struct ml_cell_spec *s = c->spec;
	ml_autofree char *append = ml_cell_append(s);
	ml_autofree char *label = ml_strdup_printf("%s/%s", c->id, vm_names[which]);
	struct ml_vm_spec vs = {
		.name = vm_names[which],
		.label = label,
		.qemu = b->qemu,
		.root = b->root,
		.machine = machine,
		.accel = s->accel,
		.memory_mib = s->memory_mib,
		.smp = ML_CELL_VCPUS,
		.kernel_path = strcmp(c->kernel_boot, "pvh") == 0 ? s->guest->vmlinux_path
								   : s->guest->kernel_path,
		.initrd_path = s->guest->initrd_path,
		.append = append,
		.disk_path = c->disk,
		.incoming = incoming,
		.extra_args = extra,
		.out_dir = c->res.dir,
		.run_dir = c->run_dir,
	};
	int r = s->runner->vm_start(&vs, &c->vms[which]);
	struct ml_vm *vm = c->vms[which];
	char key[64];

	if (vm && vm->argv) {
		json_t *cmds = json_object_get(c->res.doc, "commands");
		const struct {
			const char *prefix, *file;
		} logs[] = {
			{ "qemu_stderr", vm->stderr_log },
			{ "console", vm->console_log },
			{ "qmp", vm->qmp_log },
			{ "probe", vm->probe_log },
		};

		if (!cmds) {
			cmds = json_object();
			ml_json_set(c->res.doc, "commands", cmds);
		}
		ml_json_set(cmds, vm_names[which], json_incref(vm->argv));
		for (size_t i = 0; i < ML_ARRAY_SIZE(logs); i++) {
			if (!logs[i].file)
				continue;
			snprintf(key, sizeof(key), "%s_%s", logs[i].prefix, vm->name);
			ml_result_add_log(&c->res, key, logs[i].file);
		}
	}
	if (r < 0) {
		if (ml_interrupted)
			return cell_error(c, phase, "interrupted");
		/* QEMU refused to start (bad machine, missing device, crash): a QEMU
		 * failure with its own words as evidence. */
		ml_autofree char *reason = ml_strdup_printf("QEMU (%s, %s) failed to start", vm_names[which],
					       b->version);
		return cell_fail(c, phase, reason, ml_error_message());
	}
	return 0;
}

static int probe_status(struct cell *c, struct ml_vm *vm, int timeout_ms, json_t **st)
{
	return ml_probe_call(vm->probe, "status", NULL, timeout_ms, st);
}

/* The heartbeat counter of a status reply (docs/probe-protocol.md), -1 if absent. */
static long long heartbeat_of(const json_t *st)
{
	return ml_json_int(json_object_get(st, "heartbeat"), "count", -1);
}

/* The static vmstate check for this cell's builds and machine type, both
 * directions, restricted to the guest's devices (docs/vmstate.md): what the
 * migration streams may trip over, known before any guest boots. Recorded
 * in vmstate.json; the judging stage makes it a finding. */
static void vmstate_check(struct cell *c)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *res = NULL, *f;
	long long t0 = ml_now_ms();
	ml_autofree char *path = ml_path_join(c->res.dir, "vmstate.json");

	if (!s->cfg)
		return;
	if (ml_vmstate_check_cell(s->cfg, s->src, s->dst, c->src_machine, &res) < 0) {
		/* An observation of its own: the check could not run. */
		f = json_pack("{s:s, s:s, s:s}", "kind", "vmstate", "severity", "info", "error",
			      ml_error_message());
		json_array_append_new(json_object_get(c->res.doc, "findings"), f);
		return;
	}
	ml_json_set_int(res, "check_ms", ml_now_ms() - t0);
	if (ml_json_write_file(path, res) == 0)
		ml_result_add_log(&c->res, "vmstate", "vmstate.json");
	json_decref(res);
}

/* QEMU's own view of what the dump shows (lab/qemu-view.h) into
 * qemu-<name>.json beside it; the judging stage cross-checks the two. Never
 * fails the cell: what QEMU could not answer is recorded in the view. */
static void qemu_view(struct cell *c, json_t *phase, struct ml_vm *vm, const char *name)
{
	const struct ml_cell_spec *s = c->spec;
	bool dst = vm == c->vms[VM_DST];
	ml_autofree char *file = ml_strdup_printf("qemu-%s.json", name);
	ml_autofree char *path = ml_path_join(c->res.dir, file);
	ml_autofree char *key = ml_strdup_printf("qemu_%s", name);
	long long t0 = ml_now_ms();
	json_t *view = ml_qemu_view_collect(s->runner, vm, dst ? s->dst : s->src,
					    dst ? c->dst_machine : c->src_machine, 5000);

	ml_json_set_int(json_object_get(phase, "figures"), "qemu_view_ms", ml_now_ms() - t0);
	if (ml_json_write_file(path, view) == 0)
		ml_result_add_log(&c->res, key, file);
	ml_error_reset();
	json_decref(view);
}

/* A dump over its bounds (results/abi.h) is the guest's doing, not the
 * lab's: the phase records why it has no dump ("abi_refused", which the
 * judging stage turns into a finding) and the cell goes on. */
static int abi_refused(struct cell *c, json_t *phase, const char *name)
{
	ml_autofree char *why = ml_strdup_printf("the %s ABI dump was refused: %s", name,
						 ml_error_message());

	ml_json_set_str(phase, "abi_refused", why);
	ml_error_reset();
	return 0;
}

/* Dump what the guest sees now into abi-<name>.json beside attempt.json; the
 * judging stage compares the dumps. */
static int abi_dump(struct cell *c, json_t *phase, struct ml_vm *vm, const char *name,
		    int timeout_ms)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	ml_autofree char *file = ml_strdup_printf("abi-%s.json", name);
	ml_autofree char *path = ml_path_join(c->res.dir, file);
	ml_autofree char *key = ml_strdup_printf("abi_%s", name);
	json_t *dump = NULL, *meta = NULL;
	int ret;

	if (s->skip_abi)
		return 0;
	if (ml_probe_abi_dump(vm->probe, timeout_ms, ML_ABI_MAX_BYTES, &dump, &meta) < 0) {
		if (ml_interrupted)
			return cell_error(c, phase, "interrupted");
		if (ml_str_eq(ml_probe_last_error_class(vm->probe), ML_PROBE_ABI_TOO_LARGE))
			return abi_refused(c, phase, name);
		return cell_error(c, phase, "the probe agent could not dump the guest-visible ABI");
	}
	if (ml_abi_check_bounds(dump, "the ABI dump") < 0) {
		json_decref(dump);
		json_decref(meta);
		return abi_refused(c, phase, name);
	}
	ml_json_set_int(fig, "abi_collect_ms", ml_json_int(meta, "collect_ms", -1));
	ml_json_set_int(fig, "abi_transfer_ms", ml_json_int(meta, "transfer_ms", -1));
	ml_json_set_int(fig, "abi_bytes", ml_json_int(meta, "total", -1));
	json_decref(meta);
	ret = ml_json_write_file(path, dump);
	json_decref(dump);
	if (ret < 0)
		return cell_error(c, phase, "cannot record the ABI dump");
	ml_result_add_log(&c->res, key, file);
	qemu_view(c, phase, vm, name);
	return 0;
}

/* ---- phases ------------------------------------------------------------ */

struct cell_phase;
/* A phase's hook: runs in the phase object `phase` (begun by the caller,
 * which ends it as passed when the hook returns 0); on failure it decides the
 * outcome (cell_fail, cell_error) and returns -1. timeout_ms is the phase's
 * main wait, chosen by the table's timeout selector. */
typedef int (*cell_phase_fn)(struct cell *c, const struct cell_phase *p, json_t *phase,
			     int timeout_ms);

/* Which of the spec's timeouts bounds a phase's main wait. */
enum cell_timeout {
	CELL_TIMEOUT_BOOT,    /* boot_timeout_ms: a boot to the probe's hello */
	CELL_TIMEOUT_MIGRATE, /* migrate_timeout_ms: one migration */
	CELL_TIMEOUT_VERIFY,  /* verify_timeout_ms: the probe's answers */
};

/* Conditions under which a phase is left out (and not recorded at all). */
enum {
	CELL_PHASE_ABI = 1 << 0,    /* only dumps the ABI: skipped with skip_abi */
	CELL_PHASE_REBOOT = 1 << 1, /* skipped with skip_reboot */
};

/* One row of the cell's table (after QEMU's tests/qtest/migration
 * MigrateCommon): a name for attempt.json, a hook, a timeout, flags, and the
 * VMs it works on. */
struct cell_phase {
	const char *name;
	cell_phase_fn run;
	enum cell_timeout timeout;
	unsigned flags;
	int vm;   /* the VM the guest runs in during the phase (a migration's new VM) */
	int from; /* a migration's source VM */
};

static int cell_timeout_ms(const struct ml_cell_spec *s, enum cell_timeout t)
{
	switch (t) {
	case CELL_TIMEOUT_BOOT:
		return s->boot_timeout_ms;
	case CELL_TIMEOUT_MIGRATE:
		return s->migrate_timeout_ms;
	case CELL_TIMEOUT_VERIFY:
		return s->verify_timeout_ms;
	}
	return s->verify_timeout_ms;
}

/* A phase that only looks at the guest's ABI (live-dst, back-src). */
static int phase_abi(struct cell *c, const struct cell_phase *p, json_t *phase, int timeout_ms)
{
	return abi_dump(c, phase, c->vms[p->vm], p->name, timeout_ms);
}

/* Start the RAM workload and take the heartbeat's baseline. */
static int start_workload(struct cell *c, json_t *phase, struct ml_vm *vm)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	json_t *ret = NULL;
	long long t0 = ml_now_ms();

	if (ml_probe_call(vm->probe, "ram-start", json_pack("{s:i}", "mib", s->workload_mib),
			  s->verify_timeout_ms, &ret) < 0)
		return cell_fail(c, phase, "the probe agent could not start the RAM workload",
				 ml_error_message());
	json_decref(ret);
	ml_json_set_int(fig, "workload_start_ms", ml_now_ms() - t0);
	if (probe_status(c, vm, s->verify_timeout_ms, &ret) < 0)
		return cell_fail(c, phase, "the probe agent does not answer", ml_error_message());
	c->heartbeat = heartbeat_of(ret);
	json_decref(ret);
	return 0;
}

/* Boot the guest on the source build in vms[which] (VM_SRC, or VM_BOOT for
 * a guest to be saved), wait for the probe's hello, start the workload and
 * dump the ABI (boot-src). */
static int boot_cold(struct cell *c, json_t *phase, int which, int timeout_ms)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	struct ml_vm *vm;
	json_t *hello = NULL, *kvm = NULL;

	if (start_vm(c, phase, which, s->src, c->src_machine, false, s->src_extra_args) < 0)
		return -1;
	vm = c->vms[which];
	if (s->runner->qmp(vm, "query-kvm", NULL, 5000, &kvm) == 0) {
		ml_json_set(c->res.doc, "accel_actual",
			    json_string(ml_json_bool(kvm, "enabled", false) ? "kvm" : "tcg"));
		json_decref(kvm);
	}
	if (s->runner->probe_connect(vm, 10000) < 0) {
		if (!s->runner->vm_alive(vm)) {
			ml_autofree char *ev = death_evidence(vm);
			return cell_fail(c, phase, "the source QEMU died during boot", ev);
		}
		return cell_error(c, phase, "cannot reach the probe channel");
	}
	if (ml_probe_hello(vm->probe, timeout_ms, &hello) < 0) {
		ml_autofree char *why = strdup(ml_error_message());
		long long waited_ms = ml_now_ms() - vm->started_ms;
		if (ml_interrupted)
			return cell_error(c, phase, "interrupted");
		if (!s->runner->vm_alive(vm)) {
			ml_autofree char *ev = death_evidence(vm);
			return cell_fail(c, phase, "the source QEMU died during boot", ev);
		}
		{
			ml_autofree char *con = console_tail(vm, 3000);
			ml_autofree char *ev = ml_strdup_printf("%s\nguest console (last lines):\n%s", why, con);
			/* The channel can fail before the time is up (an over-long
			 * line, garbage): say so, not that the guest was slow. */
			ml_autofree char *reason =
				waited_ms + 500 < timeout_ms
					? ml_strdup_printf("the probe agent never said hello: its channel failed "
							   "after %.1f s of %d (see the evidence)",
							   waited_ms / 1000.0, timeout_ms / 1000)
					: ml_strdup_printf("the probe agent never said hello within %d s",
							   timeout_ms / 1000);
			return cell_fail(c, phase, reason, ev);
		}
	}
	ml_json_set_int(fig, "boot_to_hello_ms", ml_now_ms() - vm->started_ms);
	ml_json_set(c->res.doc, "guest_hello", json_incref(hello));
	c->boot_id = ml_json_str(hello, "boot_id") ? strdup(ml_json_str(hello, "boot_id")) : NULL;
	json_decref(hello);

	if (start_workload(c, phase, vm) < 0 ||
	    abi_dump(c, phase, vm, "boot-src", s->verify_timeout_ms) < 0)
		return -1;
	return 0;
}

/* Keep the figures of query-migrate that tell how the migration went. */
static void record_migration_figures(json_t *fig, json_t *info)
{
	static const char *const keys[] = { "status", "total-time", "downtime", "setup-time",
					    "expected-downtime", "error-desc" };
	static const char *const ram_keys[] = { "transferred", "total", "duplicate", "normal",
						"mbps", "dirty-sync-count", "pages-per-second",
						"precopy-bytes", "downtime-bytes" };
	json_t *ram = json_object_get(info, "ram");

	for (size_t i = 0; i < ML_ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(info, keys[i]);
		if (v)
			ml_json_set(fig, keys[i], json_incref(v));
	}
	for (size_t i = 0; ram && i < ML_ARRAY_SIZE(ram_keys); i++) {
		json_t *v = json_object_get(ram, ram_keys[i]);
		if (v) {
			char k[64];
			snprintf(k, sizeof(k), "ram-%s", ram_keys[i]);
			ml_json_set(fig, k, json_incref(v));
		}
	}
}

/* query-status: *status gets "running", "paused", ... (caller frees). */
static int query_status(struct ml_vm *vm, int timeout_ms, char **status)
{
	json_t *ret = NULL;

	*status = NULL;
	if (vm->ops->qmp(vm, "query-status", NULL, timeout_ms, &ret) < 0)
		return -1;
	if (ml_json_str(ret, "status"))
		*status = strdup(ml_json_str(ret, "status"));
	else
		ml_error("QMP of %s: query-status: answer without a status", vm->name);
	json_decref(ret);
	return *status ? 0 : -1;
}

/* Wait until the destination runs the guest, or say why it does not. */
static int wait_running(struct cell *c, json_t *phase, struct ml_vm *to, int timeout_ms)
{
	long long deadline = ml_now_ms() + timeout_ms;
	ml_autofree char *status = NULL;

	for (;;) {
		free(status);
		status = NULL;
		if (query_status(to, 5000, &status) < 0) {
			ml_autofree char *ev = NULL;
			if (ml_interrupted)
				return cell_error(c, phase, "interrupted");
			ev = death_evidence(to);
			return cell_fail(c, phase,
					 "the destination QEMU died after the source reported completed",
					 ev);
		}
		if (strcmp(status, "running") == 0)
			return 0;
		if (ml_now_ms() > deadline) {
			ml_autofree char *tail = stderr_tail(to, 2000);
			ml_autofree char *reason = ml_strdup_printf("the destination did not resume the guest: "
						       "its status is '%s' %d s after the source "
						       "completed", status, timeout_ms / 1000);
			return cell_fail(c, phase, reason, *tail ? tail : NULL);
		}
		usleep(50 * 1000);
	}
}

/* After a migration, or the restore of a saved guest (restored): the guest
 * is the same boot, its heartbeat goes on, its memory verifies. */
static int verify_guest(struct cell *c, json_t *phase, struct ml_vm *to, bool restored)
{
	/* The words of the reasons: "after migration" or "after the restore of
	 * its saved state" (the failure catalogue matches their beginnings). */
	const char *after = restored ? "after the restore of the source build's saved guest"
				     : "after migration";
	const char *who = restored ? "source" : "destination";
	ml_autofree char *r_died = ml_strdup_printf("the %s QEMU died %s", who, after);
	ml_autofree char *r_hangs = ml_strdup_printf("the guest hangs %s: the probe does not answer", after);
	ml_autofree char *r_silent = ml_strdup_printf("the probe stopped answering %s", after);
	ml_autofree char *r_stopped = ml_strdup_printf("the guest hangs %s: its heartbeat stopped", after);
	ml_autofree char *r_corrupt = ml_strdup_printf("memory corruption %s: the RAM workload does not verify",
						       after);
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	json_t *st = NULL, *st2 = NULL, *ver = NULL;
	long long hb1, hb2, t0 = ml_now_ms();
	const char *boot_id;

	if (s->runner->probe_connect(to, 10000) < 0)
		return cell_error(c, phase, restored ? "cannot reach the probe channel of the restored source"
						    : "cannot reach the probe channel on the destination");
	/* The first request may cross a reply lost in the switch-over: retry. */
	if (ml_probe_hello(to->probe, s->verify_timeout_ms, &st) < 0) {
		ml_autofree char *why = strdup(ml_error_message());
		ml_autofree char *con = console_tail(to, 3000);
		ml_autofree char *ev = ml_strdup_printf("%s\nguest console (last lines):\n%s", why, con);
		if (ml_interrupted)
			return cell_error(c, phase, "interrupted");
		if (!s->runner->vm_alive(to)) {
			ml_autofree char *dev = death_evidence(to);
			return cell_fail(c, phase, r_died, dev);
		}
		return cell_fail(c, phase, r_hangs, ev);
	}
	boot_id = ml_json_str(st, "boot_id");
	if (c->boot_id && boot_id && strcmp(boot_id, c->boot_id) != 0) {
		ml_autofree char *ev = ml_strdup_printf("boot_id before: %s, after: %s", c->boot_id, boot_id);
		json_decref(st);
		return cell_fail(c, phase,
				 restored ? "the guest rebooted in the source build's saved state"
					  : "the guest rebooted during migration",
				 ev);
	}
	json_decref(st);
	if (probe_status(c, to, s->verify_timeout_ms, &st) < 0)
		return cell_fail(c, phase, r_silent, ml_error_message());
	hb1 = heartbeat_of(st);
	json_decref(st);
	/* The heartbeat ticks every 10 ms: poll until it moves, and call the
	 * guest hung only after HEARTBEAT_STALL_MS without a tick. */
	hb2 = hb1;
	for (long long until = ml_now_ms() + HEARTBEAT_STALL_MS; hb2 <= hb1 && ml_now_ms() < until;) {
		usleep(50 * 1000);
		if (probe_status(c, to, s->verify_timeout_ms, &st2) < 0)
			return cell_fail(c, phase, r_silent, ml_error_message());
		hb2 = heartbeat_of(st2);
		json_decref(st2);
	}
	ml_json_set_int(fig, "heartbeat_before", c->heartbeat);
	ml_json_set_int(fig, "heartbeat_after", hb2);
	if (hb1 < c->heartbeat || hb2 <= hb1) {
		ml_autofree char *ev = ml_strdup_printf("heartbeat before migration %lld, after: %lld, "
							"then %lld %d ms later",
							c->heartbeat, hb1, hb2, HEARTBEAT_STALL_MS);
		return cell_fail(c, phase,
				 hb1 < c->heartbeat ? "the guest's heartbeat went backwards" : r_stopped,
				 ev);
	}
	c->heartbeat = hb2;
	if (ml_probe_call(to->probe, "ram-verify", NULL, s->verify_timeout_ms, &ver) < 0)
		return cell_fail(c, phase, "the probe could not verify the RAM workload",
				 ml_error_message());
	if (!ml_json_bool(ver, "ok", false)) {
		ml_autofree char *ev = json_dumps(ver, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(ver);
		return cell_fail(c, phase, restored ? r_corrupt : "memory corruption: the RAM workload does not verify",
				 ev);
	}
	ml_json_set_int(fig, "ram_verified_pages", ml_json_int(ver, "pages", 0));
	json_decref(ver);
	ml_json_set_int(fig, "verify_ms", ml_now_ms() - t0);
	return 0;
}

/* After verify_guest: the guest's clocks and devices carried on across the
 * migration (lab/continuity.h), against the reading taken before it. */
static int continuity_after(struct cell *c, json_t *phase, struct ml_vm *to)
{
	json_t *fig = json_object_get(phase, "figures");
	ml_autofree char *reason = NULL;
	ml_autofree char *ev = NULL;
	int r = ml_continuity_after(to, c->continuity, ml_json_int(fig, "downtime", -1),
				    c->spec->verify_timeout_ms, fig,
				    json_object_get(c->res.doc, "findings"), &reason, &ev);

	if (r < 0)
		return cell_fail(c, phase, "the probe stopped answering after migration",
				 ml_error_message());
	return r > 0 ? cell_fail(c, phase, reason, ev) : 0;
}

static const char *const migration_done_states[] = { "completed", "failed", "cancelled", NULL };

/* ---- the source guest: booted, or restored from a saved guest ---------- */

/* Where this cell's saved guests live (lab/saved-state.h). */
static char *saved_base(const struct cell *c)
{
	return c->spec->saved_dir ? strdup(c->spec->saved_dir) : ml_saved_run_base(c->results_run);
}

static char *saved_key_for(const struct ml_cell_spec *s, const char *machine, const char *kernel_boot,
			   char **text)
{
	ml_autofree char *append = ml_cell_append(s);
	struct ml_saved_key_in in = {
		.build = s->src,
		.guest = s->guest,
		.machine = machine,
		.accel = s->accel,
		.kernel_boot = kernel_boot,
		.append = append,
		.memory_mib = s->memory_mib,
		.workload_mib = s->workload_mib,
		.smp = ML_CELL_VCPUS,
		.extra_args = s->src_extra_args,
	};
	return ml_saved_key(&in, text);
}

static char *saved_key_of(const struct cell *c, char **text)
{
	return saved_key_for(c->spec, c->src_machine, c->kernel_boot, text);
}

char *ml_cell_saved_key(const struct ml_cell_spec *s)
{
	const char *machine = ml_build_find_machine(s->src, s->machine);
	const char *used, *kernel_boot;

	ml_cell_boot(s, &used, NULL);
	if (strcmp(used, "saved") != 0 || !machine || !s->guest->dir)
		return NULL;
	if (ml_cell_kernel_boot(s, &kernel_boot, NULL) < 0) {
		ml_error_reset();
		return NULL;
	}
	return saved_key_for(s, machine, kernel_boot, NULL);
}

/* Wait until a QEMU loading a stream (started with -incoming) is past it:
 * its status is then "paused" (a guest saved paused) or "running". */
static int wait_loaded(struct ml_vm *vm, int timeout_ms, char **status)
{
	long long deadline = ml_now_ms() + timeout_ms;

	for (;;) {
		if (query_status(vm, 5000, status) < 0)
			return -1;
		if (strcmp(*status, "inmigrate") != 0)
			return 0;
		if (ml_now_ms() > deadline) {
			ml_error("QEMU (%s) still loads the saved guest after %d s", vm->name, timeout_ms / 1000);
			return -1;
		}
		free(*status);
		*status = NULL;
		usleep(20 * 1000);
	}
}

/* Copy one of the boot's files between the attempt and the saved guest's
 * directory; a file the boot did not write (no ABI dump with skip_abi) is
 * not an error. */
static int copy_boot_file(const char *from_dir, const char *to_dir, const char *name)
{
	ml_autofree char *from = ml_path_join(from_dir, name);
	ml_autofree char *to = ml_path_join(to_dir, name);

	if (!ml_path_exists(from))
		return 0;
	return ml_copy_file(from, to);
}

static const char *const boot_files[] = { "abi-boot-src.json", "qemu-boot-src.json", "console-boot.log" };
static const char *const boot_file_keys[] = { "abi_boot-src", "qemu_boot-src", "console_boot" };

/* The first cell of a key: boot the guest in VM_BOOT (checked and dumped as
 * any boot-src), pause it, save it to <dir>/state with the source build
 * itself, and write the record that makes the state valid (*rec). */
static int save_guest(struct cell *c, json_t *phase, const char *dir, const char *key,
		      const char *key_text, int timeout_ms, json_t **rec)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	ml_autofree char *part = ml_path_join(dir, "state.part");
	ml_autofree char *state = ml_path_join(dir, "state");
	ml_autofree char *why = NULL;
	struct ml_migration m = { 0 };
	struct ml_vm *vm;
	json_t *info = NULL, *r, *boot;
	long long t0;
	int fd, ret, waited;

	*rec = NULL;
	if (boot_cold(c, phase, VM_BOOT, timeout_ms) < 0)
		return -1;
	vm = c->vms[VM_BOOT];
	t0 = ml_now_ms();
	/* Paused, the guest is saved in one pass and restores paused: each
	 * cell then starts it when it is ready to watch it. */
	if (s->runner->qmp(vm, "stop", NULL, 10000, NULL) < 0)
		return cell_fail(c, phase, "the source QEMU refused to pause the guest to save it",
				 ml_error_message());
	if (ml_rm_rf(dir) < 0 || ml_mkdir_p(dir, 0755) < 0)
		return cell_error(c, phase, "lab setup: the saved guest's directory");
	fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		ml_error_errno(errno, "cannot create %s", part);
		return cell_error(c, phase, "lab setup");
	}
	ret = s->runner->save_state(vm, &m, fd,
				    json_pack("{s:I}", "max-bandwidth", (json_int_t)(8LL << 30)), 10000);
	close(fd); /* the runner has its own */
	if (ret < 0) {
		ml_autofree char *ev = strdup(ml_error_message());
		s->runner->vm_stop(vm);
		s->runner->migrate_end(&m);
		if (ret == ML_RUNNER_LAB_ERROR)
			return cell_error(c, phase, "lab setup");
		return cell_fail(c, phase, "the source QEMU refused to save the guest", ev);
	}
	waited = s->runner->migrate_wait(vm, migration_done_states, s->migrate_timeout_ms, &info);
	why = waited != 0 ? strdup(ml_error_message()) : NULL;
	if (waited != 0 || !ml_str_eq(ml_json_str(info, "status"), "completed")) {
		ml_autofree char *ev = NULL;
		ml_autofree char *reason = NULL;
		if (waited == ML_RUNNER_TIMEOUT || ml_interrupted)
			s->runner->migrate_cancel(vm, 5000);
		/* the evidence first: stopping the QEMU ends its logs */
		if (!ml_interrupted && waited != 0)
			ev = death_evidence(vm);
		s->runner->vm_stop(vm);
		s->runner->migrate_end(&m);
		if (ml_interrupted) {
			json_decref(info);
			return cell_error(c, phase, "interrupted");
		}
		if (waited == 0)
			ev = ml_strdup_printf("%s", ml_json_str(info, "error-desc") ? ml_json_str(info, "error-desc")
									: "(no error-desc)");
		reason = waited == ML_RUNNER_TIMEOUT
				 ? ml_strdup_printf("saving the guest on the source build did not end within %d s",
						    s->migrate_timeout_ms / 1000)
			 : waited == 0 ? ml_strdup_printf("saving the guest on the source build %s",
							  ml_json_str(info, "status"))
				       : strdup("the source QEMU died saving the guest");
		json_decref(info);
		if (waited != 0 && why)
			ev = ml_strdup_printf("%s\n%s", why, ev ? ev : "");
		return cell_fail(c, phase, reason, ev);
	}
	if (json_object_get(info, "total-time"))
		ml_json_set(fig, "save_total_time_ms", json_incref(json_object_get(info, "total-time")));
	json_decref(info);
	/* QEMU closes its end when the migration is over: the file is whole
	 * once the runner has moved the last byte. */
	s->runner->migrate_end(&m);
	ml_json_set_int(fig, "save_ms", ml_now_ms() - t0);
	if (m.error) {
		ml_error("saving the guest to %s: %s", part, m.error);
		return cell_error(c, phase, "lab setup");
	}
	if (rename(part, state) < 0) {
		ml_error_errno(errno, "cannot rename %s", part);
		return cell_error(c, phase, "lab setup");
	}
	/* The boot's QEMU is done; its console is whole once it stopped. */
	s->runner->qmp(vm, "quit", NULL, 2000, NULL);
	s->runner->vm_wait_exit(vm, 2000);
	s->runner->vm_stop(vm);
	for (size_t i = 0; i < ML_ARRAY_SIZE(boot_files); i++)
		if (copy_boot_file(c->res.dir, dir, boot_files[i]) < 0)
			return cell_error(c, phase, "lab setup: the saved guest's evidence");
	r = ml_saved_record(dir, key, key_text);
	if (!r)
		return cell_error(c, phase, "lab setup: the saved guest's record");
	ml_json_set(r, "made_by", json_pack("{s:s, s:s, s:i}", "run", ml_json_str(c->res.doc, "run_id"),
					    "cell", c->id, "attempt", c->attempt));
	ml_json_set(r, "source", json_pack("{s:s, s:s, s:s}", "build", s->src->spec, "qemu",
					   s->src->version, "machine", c->src_machine));
	boot = json_object();
	ml_json_set_str(boot, "boot_id", c->boot_id);
	ml_json_set_int(boot, "heartbeat", c->heartbeat);
	ml_json_set_int(boot, "boot_to_hello_ms", ml_json_int(fig, "boot_to_hello_ms", -1));
	ml_json_set(boot, "hello", json_incref(json_object_get(c->res.doc, "guest_hello")));
	ml_json_set_int(boot, "save_ms", ml_json_int(fig, "save_ms", -1));
	ml_json_set(r, "boot", boot);
	if (ml_saved_commit(dir, r) < 0) {
		json_decref(r);
		return cell_error(c, phase, "lab setup: the saved guest's record");
	}
	*rec = r;
	return 0;
}

/* Start the source QEMU from the saved guest in dir, let it run, and check
 * it as after a migration: the same boot, a heartbeat that goes on, memory
 * that verifies. */
static int restore_guest(struct cell *c, json_t *phase, const char *dir, const json_t *rec,
			 int timeout_ms)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	const json_t *boot = json_object_get(rec, "boot");
	ml_autofree char *state = ml_path_join(dir, "state");
	ml_autofree char *status = NULL;
	struct ml_migration m = { 0 };
	struct ml_vm *vm;
	json_t *kvm = NULL;
	long long t0 = ml_now_ms(), t_loaded;
	int fd, r;

	free(c->boot_id);
	c->boot_id = ml_json_str(boot, "boot_id") ? strdup(ml_json_str(boot, "boot_id")) : NULL;
	c->heartbeat = ml_json_int(boot, "heartbeat", -1);
	if (start_vm(c, phase, VM_SRC, s->src, c->src_machine, true, s->src_extra_args) < 0)
		return -1;
	vm = c->vms[VM_SRC];
	fd = open(state, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ml_error_errno(errno, "cannot open %s", state);
		return cell_error(c, phase, "lab setup");
	}
	r = s->runner->restore_state(vm, &m, fd, 10000);
	close(fd);
	if (r == ML_RUNNER_LAB_ERROR) {
		s->runner->migrate_end(&m);
		return cell_error(c, phase, "lab setup");
	}
	if (r == 0)
		r = wait_loaded(vm, timeout_ms, &status);
	s->runner->migrate_end(&m);
	if (r == 0 && m.error) {
		ml_error("restoring the guest from %s: %s", state, m.error);
		return cell_error(c, phase, "lab setup");
	}
	if (r < 0) {
		ml_autofree char *why = strdup(ml_error_message());
		ml_autofree char *ev = NULL;
		if (ml_interrupted)
			return cell_error(c, phase, "interrupted");
		if (!s->runner->vm_alive(vm)) {
			ml_autofree char *dev = death_evidence(vm);
			return cell_fail(c, phase, "the source QEMU died loading the guest it saved itself", dev);
		}
		ev = ml_strdup_printf("%s", why);
		return cell_fail(c, phase, "the source QEMU could not load the guest it saved itself", ev);
	}
	t_loaded = ml_now_ms();
	if (strcmp(status, "paused") == 0 && s->runner->qmp(vm, "cont", NULL, 10000, NULL) < 0)
		return cell_fail(c, phase, "the source QEMU refused to run the restored guest",
				 ml_error_message());
	if (strcmp(status, "paused") != 0 && strcmp(status, "running") != 0) {
		ml_autofree char *reason = ml_strdup_printf("the restored guest is '%s', not paused or running",
							    status);
		return cell_fail(c, phase, reason, NULL);
	}
	ml_json_set_int(fig, "restore_ms", t_loaded - t0);
	if (s->runner->qmp(vm, "query-kvm", NULL, 5000, &kvm) == 0) {
		ml_json_set(c->res.doc, "accel_actual",
			    json_string(ml_json_bool(kvm, "enabled", false) ? "kvm" : "tcg"));
		json_decref(kvm);
	}
	if (verify_guest(c, phase, vm, true) < 0)
		return -1;
	ml_json_set_int(fig, "restore_to_verified_ms", ml_now_ms() - t0);
	return 0;
}

/* boot = saved: the saved guest of this cell's key, made now if no whole one
 * is there (a damaged one is made again), then restored. Its facts go to the
 * attempt's "saved_state". */
static int boot_saved(struct cell *c, json_t *phase, int timeout_ms)
{
	ml_autofree char *base = saved_base(c);
	ml_autofree char *key_text = NULL;
	ml_autofree char *key = saved_key_of(c, &key_text);
	ml_autofree char *dir = ml_saved_dir(base, key);
	ml_autofree char *why = NULL;
	json_t *rec = NULL, *info = json_object();
	int lock, st, ret;
	bool made = false;

	ml_json_set(c->res.doc, "saved_state", info);
	ml_json_set_str(info, "key", key);
	ml_json_set_str(info, "dir", dir);
	lock = ml_saved_lock(base, key);
	if (lock < 0)
		return cell_error(c, phase, ml_interrupted ? "interrupted" : "lab setup: the saved guest's lock");
	st = ml_saved_check(dir, key, &rec, &why);
	if (st < 0) {
		close(lock);
		return cell_error(c, phase, "lab setup: checking the saved guest");
	}
	if (st == ML_SAVED_DAMAGED) {
		/* Made again below; the cell says why. */
		ml_json_set_str(info, "remade_because", why);
		fprintf(stderr, "miglab: warning: saved guest %s is damaged (%s): making it again\n", key, why);
	}
	if (st != ML_SAVED_VALID) {
		ret = save_guest(c, phase, dir, key, key_text, timeout_ms, &rec);
		if (ret < 0 && !rec)
			ml_rm_rf(dir); /* nothing half made stays */
		made = ret == 0;
		if (ret < 0) {
			close(lock);
			return -1;
		}
	}
	close(lock);
	ml_json_set(info, "made_here", json_boolean(made));
	ml_json_set_str(info, "sha256", ml_json_str(rec, "sha256"));
	ml_json_set_int(info, "bytes", ml_json_int(rec, "bytes", -1));
	ml_json_set_str(info, "made_at", ml_json_str(rec, "made_at"));
	ml_json_set(info, "made_by", json_incref(json_object_get(rec, "made_by")));
	ml_json_set_int(info, "boot_to_hello_ms",
			ml_json_int(json_object_get(rec, "boot"), "boot_to_hello_ms", -1));
	if (!made) {
		/* The boot's evidence, as the cell that booted recorded it. */
		for (size_t i = 0; i < ML_ARRAY_SIZE(boot_files); i++) {
			ml_autofree char *there = ml_path_join(dir, boot_files[i]);
			if (!ml_path_exists(there))
				continue;
			if (copy_boot_file(dir, c->res.dir, boot_files[i]) < 0) {
				json_decref(rec);
				return cell_error(c, phase, "lab setup: copying the saved guest's evidence");
			}
			ml_result_add_log(&c->res, boot_file_keys[i], boot_files[i]);
		}
		ml_json_set(c->res.doc, "guest_hello",
			    json_incref(json_object_get(json_object_get(rec, "boot"), "hello")));
	}
	ret = restore_guest(c, phase, dir, rec, timeout_ms);
	json_decref(rec);
	return ret;
}

/* boot-src: the guest runs on the source build, checked, its ABI dumped. */
static int phase_boot(struct cell *c, const struct cell_phase *p, json_t *phase, int timeout_ms)
{
	if (strcmp(c->boot, "saved") == 0)
		return boot_saved(c, phase, timeout_ms);
	return boot_cold(c, phase, p->vm, timeout_ms);
}

/* End the runner's part of a migration (the stream tap); its figures go to
 * the phase. The capture stays in the run directory until the cell knows
 * whether to keep it. */
static void end_migration(struct cell *c, json_t *fig, struct ml_migration *m, const char *to)
{
	c->spec->runner->migrate_end(m);
	if (m->stream) {
		ml_json_set(fig, "stream", m->stream);
		m->stream = NULL;
	}
	if (m->capture_path && ml_path_exists(m->capture_path) &&
	    c->n_captures < ML_ARRAY_SIZE(c->captures)) {
		c->captures[c->n_captures].path = strdup(m->capture_path);
		c->captures[c->n_captures].to = to;
		c->n_captures++;
	}
}

/* An attempt that did not pass keeps its migration streams (docs/stream.md)
 * beside attempt.json; the judging stage decodes them and says what they
 * hold for the failing device. */
static void keep_streams(struct cell *c)
{
	const char *outcome = ml_json_str(c->res.doc, "outcome");
	bool keep = strcmp(outcome, "pass") != 0 && strcmp(outcome, "skip") != 0;

	if (keep && c->spec->no_stream_keep && c->n_captures) {
		/* About 100 MiB per stream of a 256 MiB guest: recorded, not kept. */
		ml_json_set_str(c->res.doc, "streams_not_kept",
				"a later confirming attempt: the streams of the first attempt and of "
				"the first lossless one are the evidence");
		keep = false;
	}

	for (size_t i = 0; i < c->n_captures; i++) {
		const char *to = c->captures[i].to;
		ml_autofree char *name = ml_strdup_printf("stream-%s.bin.zst", to);
		ml_autofree char *dest = ml_path_join(c->res.dir, name);
		ml_autofree char *key = ml_strdup_printf("stream_%s", to);

		if (keep && ml_copy_file(c->captures[i].path, dest) == 0)
			ml_result_add_log(&c->res, key, name);
		unlink(c->captures[i].path);
		free(c->captures[i].path);
	}
	c->n_captures = 0;
}

/* Migrate the guest from vms[p->from] to a new QEMU vms[p->vm]: of the
 * destination build for the destination, else of the source build. */
static int phase_migrate(struct cell *c, const struct cell_phase *p, json_t *phase, int timeout_ms)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	int to = p->vm;
	bool to_dst = to == VM_DST;
	const struct ml_build *b = to_dst ? s->dst : s->src;
	const char *machine = to_dst ? c->dst_machine : c->src_machine;
	const char *const *extra = to_dst ? s->dst_extra_args : s->src_extra_args;
	struct ml_vm *src = c->vms[p->from], *dst;
	ml_autofree char *capture = ml_strdup_printf("%s/stream-%s.bin.zst", c->run_dir, vm_names[to]);
	/* The stream goes through a tap that keeps a copy (docs/stream.md). */
	struct ml_migration mig = { .capture_path = capture, .lossless_capture = s->lossless_capture };
	ml_autofree char *why = NULL;
	json_t *info = NULL;
	const char *status;
	int r, waited;

	/* The guest's clocks and devices before it moves (lab/continuity.h). */
	json_decref(c->continuity);
	if (ml_continuity_before(src, s->verify_timeout_ms, fig, &c->continuity) < 0)
		return cell_fail(c, phase, "the probe could not take the continuity reading "
				 "before migration", ml_error_message());
	if (start_vm(c, phase, to, b, machine, true, extra) < 0)
		return -1;
	dst = c->vms[to];
	r = s->runner->migrate_incoming(dst, &mig, 10000);
	if (r == ML_RUNNER_LAB_ERROR) {
		s->runner->migrate_end(&mig);
		return cell_error(c, phase, "lab setup");
	}
	if (r < 0) {
		ml_autofree char *ev = strdup(ml_error_message());
		s->runner->migrate_end(&mig);
		if (!s->runner->vm_alive(dst)) {
			ml_autofree char *dev = death_evidence(dst);
			return cell_fail(c, phase, "the destination QEMU died", dev);
		}
		return cell_fail(c, phase, "the destination refused migrate-incoming", ev);
	}
	/* Loopback: let the migration use what the host gives (QEMU's default cap
	 * of 128 MiB/s models a network, not this test), unless the cell asks
	 * for a slower one. */
	r = s->runner->migrate(src, &mig,
			       json_pack("{s:I}", "max-bandwidth",
					 s->max_bandwidth_mib > 0 ? (json_int_t)s->max_bandwidth_mib << 20
								  : (json_int_t)(8LL << 30)),
			       10000);
	if (r < 0) {
		ml_autofree char *ev = strdup(ml_error_message());
		end_migration(c, fig, &mig, vm_names[to]);
		if (r == ML_RUNNER_LAB_ERROR)
			return cell_error(c, phase, "lab setup");
		return cell_fail(c, phase, "the source refused to start the migration", ev);
	}
	waited = s->runner->migrate_wait(src, migration_done_states, timeout_ms, &info);
	why = waited != 0 ? strdup(ml_error_message()) : NULL;
	if (waited == ML_RUNNER_TIMEOUT || (waited < 0 && ml_interrupted))
		s->runner->migrate_cancel(src, 5000);
	end_migration(c, fig, &mig, vm_names[to]);
	if (waited != 0) {
		/* The last figures seen while waiting; what QEMU says after the
		 * cancel goes over them (a "cancelled" answer holds only its
		 * status). */
		if (waited == ML_RUNNER_TIMEOUT || ml_interrupted)
			record_migration_figures(fig, info);
		json_decref(info);
		if (waited == ML_RUNNER_TIMEOUT || ml_interrupted) {
			json_t *last = NULL;
			if (s->runner->qmp(src, "query-migrate", NULL, 5000, &last) == 0) {
				record_migration_figures(fig, last);
				json_decref(last);
			}
			if (ml_interrupted)
				return cell_error(c, phase, "interrupted");
			{
				ml_autofree char *reason = ml_strdup_printf("the migration did not complete within %d s "
							       "(cancelled)",
							       timeout_ms / 1000);
				return cell_fail(c, phase, reason, why);
			}
		}
		/* QMP closed under us: the runner gives a dying QEMU a moment
		 * to be seen dead (local.c, local_vm_alive). */
		if (!s->runner->vm_alive(src)) {
			ml_autofree char *ev = death_evidence(src);
			return cell_fail(c, phase, "the source QEMU died during migration", ev);
		}
		return cell_error(c, phase, "lost the source's QMP during migration");
	}
	record_migration_figures(fig, info);
	status = ml_json_str(info, "status");
	if (strcmp(status, "completed") != 0) {
		/* The destination usually says why it refused the stream, then exits. */
		ml_autofree char *dev = death_evidence(dst);
		ml_autofree char *ev = ml_strdup_printf("source: migration %s: %s\n%s", status,
					   ml_json_str(info, "error-desc") ? ml_json_str(info, "error-desc")
									   : "(no error-desc)",
					   dev);
		/* A destination killed by a signal mid-stream (a crash, the OOM
		 * killer, an operator) is the cause, whatever the source then saw
		 * (a broken pipe): name it, not the pair's stream. */
		ml_autofree char *reason =
			dst->exited && WIFSIGNALED(dst->exit_status)
				? ml_strdup_printf("the destination QEMU was killed by signal %d (%s) during the "
						   "migration", WTERMSIG(dst->exit_status),
						   strsignal(WTERMSIG(dst->exit_status)))
				: ml_strdup_printf("the migration %s", status);
		json_decref(info);
		return cell_fail(c, phase, reason, ev);
	}
	json_decref(info);
	/* "completed" on the source is not enough: the destination must run. */
	if (wait_running(c, phase, dst, s->resume_timeout_ms) < 0)
		return -1;
	if (verify_guest(c, phase, dst, false) < 0)
		return -1;
	if (continuity_after(c, phase, dst) < 0)
		return -1;
	/* The source is done: let it quit, then make sure it is gone. */
	s->runner->qmp(src, "quit", NULL, 2000, NULL);
	s->runner->vm_wait_exit(src, 2000);
	s->runner->vm_stop(src);
	return 0;
}

/* Remove what is in the directory dfd, not crossing into another file
 * system and following no link; 0 when it is empty afterwards. */
static int remove_contents_at(int dfd, dev_t dev, int depth)
{
	int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	while ((e = readdir(d))) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev) {
			rc = -1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = depth < 8 ? openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
					    : -1;
			if (sub < 0 || remove_contents_at(sub, dev, depth + 1) < 0 ||
			    unlinkat(dfd, e->d_name, AT_REMOVEDIR) < 0)
				rc = -1;
			if (sub >= 0)
				close(sub);
		} else if (unlinkat(dfd, e->d_name, 0) < 0) {
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/* True if dfd's "owner" says its cell is gone: a regular file of ours
 * (opened without following a link or blocking on a FIFO) that nobody holds
 * locked. The living cell keeps it locked (make_run_dir); the lock dies with
 * the process, whatever PID namespace it ran in, where a pid written in the
 * file would mean another process or none. */
static bool stale_dir_owner_gone(int dfd)
{
	ml_autoclose int fd = openat(dfd, "owner", O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return false;
	return flock(fd, LOCK_EX | LOCK_NB) == 0;
}

int ml_cell_sweep_stale_dirs(const char *base)
{
	ml_autoclose int base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dup_fd = base_fd >= 0 ? fcntl(base_fd, F_DUPFD_CLOEXEC, 0) : -1;
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	int removed = 0;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return 0;
	}
	while ((e = readdir(d))) {
		ml_autoclose int dfd = -1;
		struct stat st;

		if (strncmp(e->d_name, "miglab-", 7) != 0 || strlen(e->d_name) != 13)
			continue;
		/* Ours as mkdtemp made it: a real directory, our uid, mode 0700. */
		dfd = openat(base_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || fstat(dfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 07777) != 0700)
			continue;
		if (!stale_dir_owner_gone(dfd))
			continue;
		if (remove_contents_at(dfd, st.st_dev, 0) == 0 && unlinkat(base_fd, e->d_name, AT_REMOVEDIR) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/* Remove the socket directories of cells whose miglab process is gone (a
 * SIGKILLed miglab cannot clean up after itself). Only directories that
 * name their owner are touched. */
static void sweep_stale_run_dirs(void)
{
	ml_cell_sweep_stale_dirs("/tmp");
}

/* Reset the guest on the destination and wait for its next boot: what the
 * guest sees then is what drivers see when they enumerate the devices anew. */
static int phase_reboot(struct cell *c, const struct cell_phase *p, json_t *phase, int timeout_ms)
{
	const struct ml_cell_spec *s = c->spec;
	json_t *fig = json_object_get(phase, "figures");
	struct ml_vm *vm = c->vms[p->vm];
	long long t0 = ml_now_ms(), deadline = t0 + timeout_ms;
	json_t *hello = NULL;

	if (s->runner->qmp(vm, "system_reset", NULL, 10000, NULL) < 0) {
		ml_autofree char *ev = strdup(ml_error_message());
		if (!s->runner->vm_alive(vm)) {
			ml_autofree char *dev = death_evidence(vm);
			return cell_fail(c, phase, "the destination QEMU died at the guest's reset", dev);
		}
		return cell_fail(c, phase, "the destination refused to reset the guest", ev);
	}
	/* Until the new boot answers, hello comes from nobody (or, in a race,
	 * from the old boot): wait for a new boot id. */
	for (;;) {
		const char *boot_id;
		int left = (int)(deadline - ml_now_ms());

		if (left <= 0 || ml_probe_hello(vm->probe, left, &hello) < 0) {
			ml_autofree char *why = strdup(left <= 0 ? "timeout" : ml_error_message());
			ml_autofree char *con = console_tail(vm, 3000);
			ml_autofree char *ev = ml_strdup_printf("%s\nguest console (last lines):\n%s", why, con);
			ml_autofree char *reason = NULL;
			if (ml_interrupted)
				return cell_error(c, phase, "interrupted");
			if (!s->runner->vm_alive(vm)) {
				ml_autofree char *dev = death_evidence(vm);
				return cell_fail(c, phase, "the destination QEMU died while the guest rebooted", dev);
			}
			reason = ml_strdup_printf("the guest did not come back within %d s of its reset "
						  "on the destination", timeout_ms / 1000);
			return cell_fail(c, phase, reason, ev);
		}
		boot_id = ml_json_str(hello, "boot_id");
		if (boot_id && (!c->boot_id || strcmp(boot_id, c->boot_id) != 0))
			break;
		json_decref(hello);
		hello = NULL;
		usleep(200 * 1000);
	}
	ml_json_set_int(fig, "reset_to_hello_ms", ml_now_ms() - t0);
	free(c->boot_id);
	c->boot_id = strdup(ml_json_str(hello, "boot_id"));
	json_decref(hello);
	/* A new boot: the workload starts afresh for the migration back. */
	if (start_workload(c, phase, vm) < 0 ||
	    abi_dump(c, phase, vm, p->name, s->verify_timeout_ms) < 0)
		return -1;
	return 0;
}

/* The cell, in order. A phase whose flags say it does not apply is left out
 * of attempt.json altogether. */
static const struct cell_phase cell_phases[] = {
	{ .name = "boot-src", .run = phase_boot, .timeout = CELL_TIMEOUT_BOOT, .vm = VM_SRC },
	{ .name = "migrate-forward", .run = phase_migrate, .timeout = CELL_TIMEOUT_MIGRATE,
	  .from = VM_SRC, .vm = VM_DST },
	{ .name = "live-dst", .run = phase_abi, .timeout = CELL_TIMEOUT_VERIFY,
	  .flags = CELL_PHASE_ABI, .vm = VM_DST },
	{ .name = "reboot-dst", .run = phase_reboot, .timeout = CELL_TIMEOUT_BOOT,
	  .flags = CELL_PHASE_REBOOT, .vm = VM_DST },
	{ .name = "migrate-back", .run = phase_migrate, .timeout = CELL_TIMEOUT_MIGRATE,
	  .from = VM_DST, .vm = VM_BACK },
	{ .name = "back-src", .run = phase_abi, .timeout = CELL_TIMEOUT_VERIFY,
	  .flags = CELL_PHASE_ABI, .vm = VM_BACK },
};

static bool cell_phase_applies(const struct cell *c, const struct cell_phase *p)
{
	if ((p->flags & CELL_PHASE_ABI) && c->spec->skip_abi)
		return false;
	if ((p->flags & CELL_PHASE_REBOOT) && c->spec->skip_reboot)
		return false;
	return true;
}

/* Run the table until a phase does not pass. 0 when every phase passed (the
 * outcome is then the caller's to set); -1 when one decided the outcome. */
static int cell_run_phases(struct cell *c)
{
	for (size_t i = 0; i < ML_ARRAY_SIZE(cell_phases); i++) {
		const struct cell_phase *p = &cell_phases[i];
		json_t *phase;

		if (!cell_phase_applies(c, p))
			continue;
		phase = ml_result_phase_begin(&c->res, p->name);
		if (p->run(c, p, phase, cell_timeout_ms(c->spec, p->timeout)) < 0) {
			/* Every failing path of a hook decides; this is a safety net. */
			if (!c->decided)
				cell_error(c, phase, "the phase failed without an outcome");
			return -1;
		}
		ml_result_phase_end(&c->res, phase, ML_PHASE_PASS, NULL);
	}
	return 0;
}

static int make_run_dir(struct cell *c)
{
	char tmpl[] = "/tmp/miglab-XXXXXX";
	int fd;

	sweep_stale_run_dirs();
	if (!mkdtemp(tmpl)) {
		ml_error_errno(errno, "cannot create a run directory in /tmp");
		return -1;
	}
	c->run_dir = strdup(tmpl);
	{
		/* Locked for the cell's life (the stale sweep's test); the text
		 * is for people: this process and the cell's results. It starts
		 * with a word, not the pid: a miglab from before the lock reads
		 * a leading pid, and from another PID namespace would take this
		 * live directory for a dead owner's; strtol() of a word is 0,
		 * which those leave alone. */
		ml_autofree char *owner = ml_path_join(c->run_dir, "owner");
		ml_autofree char *text = ml_strdup_printf("miglab-owner pid=%d\n%s\n", (int)getpid(),
							  c->res.dir);
		c->owner_fd = open(owner, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (c->owner_fd < 0 || flock(c->owner_fd, LOCK_EX | LOCK_NB) < 0 ||
		    write(c->owner_fd, text, strlen(text)) != (ssize_t)strlen(text)) {
			ml_error_errno(errno, "cannot create %s", owner);
			return -1;
		}
	}
	c->disk = ml_strdup_printf("%s/disk.raw", c->run_dir);
	fd = open(c->disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)DISK_MIB << 20) < 0) {
		ml_error_errno(errno, "cannot create %s", c->disk);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

json_t *ml_cell_inputs(const struct ml_cell_spec *s)
{
	json_t *in = json_object();
	json_t *extra = json_object();

	ml_json_set(in, "src", ml_build_to_json(s->src));
	ml_json_set(in, "dst", ml_build_to_json(s->dst));
	/* The machine lists are in the builds' manifests; keep cell.json small. */
	json_object_del(json_object_get(in, "src"), "machines");
	json_object_del(json_object_get(in, "dst"), "machines");
	json_object_del(json_object_get(in, "src"), "packages");
	json_object_del(json_object_get(in, "dst"), "packages");
	ml_json_set_str(in, "machine", s->machine);
	ml_json_set_str(in, "kernel", s->kernel_spec);
	ml_json_set(in, "guest", ml_guest_to_json(s->guest));
	ml_json_set_str(in, "scenario", s->scenario);
	ml_json_set_str(in, "accel", s->accel);
	{
		/* asked for, used (null when pvh was asked for and cannot be), and
		 * why auto fell back to bzimage */
		json_t *kb = json_object();
		const char *used = NULL;
		char *why = NULL;
		ml_json_set_str(kb, "requested", s->kernel_boot);
		if (ml_cell_kernel_boot(s, &used, &why) < 0) {
			ml_json_set_str(kb, "error", ml_error_message());
			ml_error_reset();
			used = NULL;
		}
		ml_json_set_str(kb, "used", used);
		if (why)
			ml_json_set_str(kb, "why", why);
		free(why);
		ml_json_set(in, "kernel_boot", kb);
	}
	{
		/* asked for, used, and why saved cannot be */
		json_t *b = json_object();
		const char *used;
		char *why;
		ml_cell_boot(s, &used, &why);
		ml_json_set_str(b, "requested", s->boot);
		ml_json_set_str(b, "used", used);
		if (why)
			ml_json_set_str(b, "why", why);
		free(why);
		ml_json_set(in, "boot", b);
	}
	ml_json_set_int(in, "memory_mib", s->memory_mib);
	ml_json_set_int(in, "workload_mib", s->workload_mib);
	if (s->max_bandwidth_mib > 0)
		ml_json_set_int(in, "max_bandwidth_mib", s->max_bandwidth_mib);
	ml_json_set_str(in, "runner", s->runner->name);
	ml_json_set(in, "lossless_capture", json_boolean(s->lossless_capture));
	ml_json_set_str(in, "abi_severity", s->abi_severity);
	if (s->abi_baselines)
		ml_json_set_str(in, "abi_baselines", s->abi_baselines);
	if (json_object_size(s->abi_severities))
		ml_json_set(in, "abi_severities", json_deep_copy(s->abi_severities));
	ml_json_set(in, "abi", json_boolean(!s->skip_abi));
	ml_json_set(in, "reboot", json_boolean(!s->skip_reboot));
	for (int k = 0; k < 2; k++) {
		const char *const *args = k ? s->dst_extra_args : s->src_extra_args;
		json_t *a = json_array();
		for (size_t i = 0; args && args[i]; i++)
			json_array_append_new(a, ml_json_string_text(args[i]));
		ml_json_set(extra, k ? "dst" : "src", a);
	}
	ml_json_set(in, "extra_args", extra);
	return in;
}

/* Is the machine type on both sides? An alias ("q35") is resolved on the
 * source and the destination must have the same concrete machine type:
 * migrating pc-q35-7.2 into pc-q35-10.0 is not a migration QEMU supports. A
 * machine absent on one side is a skip with the reason, never a silent drop. */
static int check_machines(struct cell *c)
{
	const struct ml_cell_spec *s = c->spec;
	const struct ml_build *missing;
	ml_autofree char *reason = NULL;
	json_t *phase;

	c->src_machine = ml_build_find_machine(s->src, s->machine);
	if (c->src_machine)
		c->dst_machine = ml_build_find_machine(s->dst, c->src_machine);
	if (c->src_machine && c->dst_machine) {
		ml_json_set_str(c->res.doc, "machine", c->src_machine);
		return 0;
	}
	missing = c->src_machine ? s->dst : s->src;
	if (c->src_machine && strcmp(c->src_machine, s->machine) != 0)
		reason = ml_strdup_printf("machine type %s (%s on %s) does not exist in %s (QEMU %s)", s->machine,
			     c->src_machine, s->src->spec, missing->spec, missing->version);
	else
		reason = ml_strdup_printf("machine type %s does not exist in %s (QEMU %s)", s->machine,
			     missing->spec, missing->version);
	phase = ml_result_phase_begin(&c->res, "plan");
	return cell_decide(c, phase, ML_VERDICT_SKIP, reason, NULL);
}

int ml_cell_run(const struct ml_cell_spec *spec, const char *run_dir, const char *run_id,
		int attempt, enum ml_verdict *outcome)
{
	struct cell c = { .spec = spec, .owner_fd = -1, .results_run = run_dir, .attempt = attempt };
	ml_autofree char *cell_dir = NULL;
	ml_autofree char *dir = NULL;
	int ret;

	c.id = ml_cell_id(spec);
	cell_dir = ml_layout_cell_dir(run_dir, c.id);
	dir = ml_layout_attempt_dir(cell_dir, attempt);
	/* An attempt cut short earlier starts again from nothing. */
	if (ml_rm_rf(dir) < 0 || ml_result_new(&c.res, dir, run_id, c.id, attempt, ml_cell_inputs(spec)) < 0) {
		free(c.id);
		return -1;
	}
	ml_json_set_str(c.res.doc, "accel", spec->accel);
	if (spec->fixups_applied)
		ml_json_set(c.res.doc, "fixups_applied", json_incref(spec->fixups_applied));
	ml_result_write(&c.res);

	if (check_machines(&c) < 0) {
		/* a planned skip, decided */
	} else if (ml_cell_kernel_boot(spec, &c.kernel_boot, NULL) < 0) {
		cell_error(&c, ml_result_phase_begin(&c.res, "plan"), "the guest kernel");
	} else {
		ml_cell_boot(spec, &c.boot, NULL);
		vmstate_check(&c);
		if (make_run_dir(&c) < 0)
			cell_error(&c, NULL, "lab setup");
		else if (cell_run_phases(&c) == 0)
			ml_result_set_outcome(&c.res, ML_VERDICT_PASS, NULL,
					      "forward and back migrations passed", NULL);
	}
	/* Collect: stop whatever still runs (politely first, when QEMU still
	 * answers); the logs are already in the attempt directory. */
	for (int i = 0; i < VM_MAX; i++) {
		if (!c.vms[i])
			continue;
		if (!ml_interrupted && spec->runner->vm_alive(c.vms[i]) &&
		    spec->runner->qmp(c.vms[i], "quit", NULL, 2000, NULL) == 0)
			spec->runner->vm_wait_exit(c.vms[i], 2000);
		spec->runner->vm_stop(c.vms[i]);
		if (c.vms[i]->exited) {
			char desc[128];
			char key[64];
			ml_proc_status_str(c.vms[i]->exit_status, desc, sizeof(desc));
			snprintf(key, sizeof(key), "exit_%s", vm_names[i]);
			ml_json_set_str(c.res.doc, key, desc);
		}
		spec->runner->vm_free(c.vms[i]);
	}
	keep_streams(&c);
	if (c.run_dir)
		ml_rm_rf(c.run_dir);
	if (c.owner_fd >= 0)
		close(c.owner_fd);
	ret = ml_result_write(&c.res);
	if (outcome)
		ml_verdict_parse(ml_json_str(c.res.doc, "outcome"), outcome);
	ml_result_clear(&c.res);
	free(c.id);
	free(c.run_dir);
	free(c.disk);
	free(c.boot_id);
	json_decref(c.continuity);
	return ret;
}
