/* The fake runner (see fake-runner.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "fake-runner.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "probe-client.h"
#include "qmp.h"
#include "testhelp.h"
#include "ml-common.h"

/* The ABI dump the guest gives: the smallest document the client accepts,
 * in one page, with the sha256 of its text. */
#define FAKE_ABI_TEXT "{\"schema\":\"miglab-abi/1\"}"
#define FAKE_ABI_SHA256 "92fa02d6a20ec72d823b321d10dd3b120a5dbdc9732d92bf832d3d8e166948e2"

/* The one guest of the cell, whichever VM it runs in. */
struct fake_guest {
	pthread_mutex_t lock;
	int boots;
	long long heartbeat;
};

static struct fake_world *world;
static struct fake_guest guest = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct fake_vm {
	struct ml_vm vm;
	const struct fake_vm_plan *plan;
	char *out_dir;
	struct qr_peer *peer;
	struct ml_qmp *qmp;
	bool qmp_lost;
	bool view_error;           /* the last qmp() was a view command it lacks */
	bool stopped;              /* the cell called vm_stop */
	bool probe_started;
	pthread_t probe_thread;
	int probe_fd;              /* the guest's end of the probe channel */
};

static struct fake_vm *fake_of(struct ml_vm *vm)
{
	return (struct fake_vm *)vm;
}

void fake_runner_begin(struct fake_world *w)
{
	world = w;
	pthread_mutex_lock(&guest.lock);
	guest.boots = 1;
	guest.heartbeat = 0;
	pthread_mutex_unlock(&guest.lock);
}

void fake_runner_end(void)
{
	world = NULL;
}

static const struct fake_vm_plan *plan_of(const char *name)
{
	if (strcmp(name, "src") == 0)
		return &world->src;
	if (strcmp(name, "dst") == 0)
		return &world->dst;
	return &world->back;
}

/* ---- the guest's probe ------------------------------------------------- */

struct probe_peer_arg {
	int fd;
	bool silent;
	const char *ram_verify_reply;
	bool interrupt_in_verify;
	const char *dead_device;
	bool abi_too_large;
	char *console_path; /* the VM's console log */
};

/* A continuity reading (docs/probe-protocol.md): the guest's clocks are
 * the host's (so they advance exactly as the host's time does), no TSC,
 * HPET or RTC; every device works but the plan's dead one. The console
 * line goes to the VM's console log, as the guest's UART would put it. */
static json_t *continuity_answer(const struct probe_peer_arg *a, const json_t *args)
{
	static const char *const devices[] = { "block", "rng", "net", "console" };
	struct timespec m, r;
	json_t *devs = json_object(), *ret;
	unsigned long long nonce = (unsigned long long)ml_json_int(args, "nonce", 1);
	char line[96];

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	for (size_t i = 0; i < ML_ARRAY_SIZE(devices); i++) {
		bool dead = a->dead_device && strcmp(a->dead_device, devices[i]) == 0;
		json_t *d = json_pack("{s:b, s:i, s:s}", "ok", !dead, "ms", 1, "virtio", "virtio9");
		if (dead)
			json_object_set_new(d, "error", json_string("no completion within 2000 ms "
								    "(the thread stays blocked)"));
		json_object_set_new(devs, devices[i], d);
	}
	snprintf(line, sizeof(line), "miglab-probe: continuity %llu\r\n", nonce);
	if (a->console_path && (!a->dead_device || strcmp(a->dead_device, "console") != 0)) {
		FILE *f = fopen(a->console_path, "ae");
		if (f) {
			fputs(line, f);
			fclose(f);
		}
	}
	ret = json_pack("{s:{s:I, s:I, s:I, s:{s:s}, s:{s:s}}, s:I, s:o, s:i, s:i}", "clocks",
			"monotonic_ns", (json_int_t)m.tv_sec * 1000000000 + m.tv_nsec,
			"realtime_ns", (json_int_t)r.tv_sec * 1000000000 + r.tv_nsec,
			"boottime_ns", (json_int_t)m.tv_sec * 1000000000 + m.tv_nsec,
			"hpet", "error", "not in the fake", "rtc", "error", "not in the fake",
			"nonce", (json_int_t)nonce, "devices", devs, "clocks_ms", 0, "clocks_age_us", 0);
	return ret;
}

static json_t *probe_answer(const struct probe_peer_arg *a, const char *cmd, const json_t *args)
{
	const char *ram_verify_reply = a->ram_verify_reply;
	char boot_id[64];
	json_t *ret;

	pthread_mutex_lock(&guest.lock);
	snprintf(boot_id, sizeof(boot_id), "fake-boot-%d", guest.boots);
	if (strcmp(cmd, "hello") == 0)
		ret = json_pack("{s:s, s:i, s:s, s:i, s:i}", "agent", "miglab-probe", "protocol", 1,
				"boot_id", boot_id, "heartbeat_interval_ms", 10, "page_size", 4096);
	else if (strcmp(cmd, "status") == 0)
		ret = json_pack("{s:s, s:{s:I, s:i}}", "boot_id", boot_id, "heartbeat", "count",
				(json_int_t)guest.heartbeat++, "interval_ms", 10);
	else if (strcmp(cmd, "ram-start") == 0)
		ret = json_pack("{s:b, s:b, s:I}", "started", 1, "running", 1, "mib",
				ml_json_int(args, "mib", 64));
	else if (strcmp(cmd, "ram-verify") == 0 && ram_verify_reply) {
		if (a->interrupt_in_verify)
			ml_interrupted = SIGINT;
		ret = json_loads(ram_verify_reply, 0, NULL);
	}
	else if (strcmp(cmd, "ram-verify") == 0)
		ret = json_pack("{s:b, s:i, s:i}", "ok", 1, "pages", 16384, "bad_pages", 0);
	else if (strcmp(cmd, "continuity") == 0)
		ret = continuity_answer(a, args);
	else if (strcmp(cmd, "abi-dump") == 0 && a->abi_too_large)
		/* The first page of a 512 MiB dump. */
		ret = json_pack("{s:i, s:i, s:s, s:i, s:I, s:s, s:i}", "snapshot", 7, "offset", 0,
				"data", FAKE_ABI_TEXT, "next_cursor", (int)strlen(FAKE_ABI_TEXT),
				"total", (json_int_t)512 << 20, "sha256", FAKE_ABI_SHA256,
				"collect_ms", 1);
	else if (strcmp(cmd, "abi-dump") == 0)
		ret = json_pack("{s:i, s:i, s:s, s:n, s:i, s:s, s:i}", "snapshot", 7, "offset", 0,
				"data", FAKE_ABI_TEXT, "next_cursor", "total",
				(int)strlen(FAKE_ABI_TEXT), "sha256", FAKE_ABI_SHA256, "collect_ms", 1);
	else
		ret = NULL;
	pthread_mutex_unlock(&guest.lock);
	return ret;
}

/* One connection of the probe channel: answer each request line until the
 * host hangs up (or read and ignore them, for a guest that hangs). */
static void *probe_peer(void *opaque)
{
	struct probe_peer_arg *a = opaque;
	struct ml_buf in = ML_BUF_INIT(1 << 20);
	char chunk[4096];
	ssize_t n;

	while ((n = read(a->fd, chunk, sizeof(chunk))) > 0) {
		char *nl;

		if (ml_buf_append(&in, chunk, (size_t)n) < 0)
			break;
		while ((nl = memchr(in.data, '\n', in.len))) {
			size_t len = (size_t)(nl - in.data);
			json_t *req = json_loadb(in.data, len, 0, NULL);
			json_t *ret = req ? probe_answer(a, ml_json_str(req, "cmd") ? ml_json_str(req, "cmd")
										     : "",
							 json_object_get(req, "args"))
					  : NULL;

			if (req && !a->silent) {
				json_t *reply = ret ? json_pack("{s:O, s:o}", "id", json_object_get(req, "id"),
								"return", ret)
						    : json_pack("{s:O, s:{s:s, s:s}}", "id",
								json_object_get(req, "id"), "error", "class",
								"CommandNotFound", "desc", "not in the fake");
				char *line = json_dumps(reply, JSON_COMPACT);
				size_t ll = strlen(line);

				line[ll] = '\n'; /* over the NUL: written with its length */
				if (write(a->fd, line, ll + 1) < 0)
					n = -1;
				free(line);
				json_decref(reply);
			} else {
				json_decref(ret);
			}
			json_decref(req);
			memmove(in.data, nl + 1, in.len - len - 1);
			in.len -= len + 1;
		}
		if (n < 0)
			break;
	}
	ml_buf_free(&in);
	close(a->fd);
	free(a->console_path);
	free(a);
	return NULL;
}

/* ---- the runner -------------------------------------------------------- */

static int write_log(const char *dir, const char *name, const char *text)
{
	ml_autofree char *path = ml_path_join(dir, name);
	return ml_write_atomic(path, text, strlen(text), 0644);
}

static int fake_vm_start(const struct ml_vm_spec *s, struct ml_vm **out)
{
	struct fake_vm *fv = calloc(1, sizeof(*fv));
	struct ml_vm *vm = &fv->vm;
	char desc[128];
	int fd;

	assert_non_null(fv);
	*out = vm;
	world->vms_started++;
	vm->ops = &fake_runner;
	vm->name = strdup(s->name);
	vm->started_ms = ml_now_ms();
	vm->argv = json_pack("[s, s, s, s, s]", "fake-qemu", "-machine", s->machine, "-accel",
			     s->accel);
	if (s->incoming) {
		json_array_append_new(vm->argv, json_string("-incoming"));
		json_array_append_new(vm->argv, json_string("defer"));
	}
	fv->plan = plan_of(s->name);
	fv->out_dir = strdup(s->out_dir);
	fv->probe_fd = -1;
	vm->stderr_log = ml_strdup_printf("qemu-%s.stderr", s->name);
	vm->console_log = ml_strdup_printf("console-%s.log", s->name);
	write_log(fv->out_dir, vm->stderr_log, fv->plan->stderr_text ? fv->plan->stderr_text : "");
	write_log(fv->out_dir, vm->console_log, "miglab-probe: serving on /dev/vport1p1\n");
	if (!fv->plan->qmp) {
		vm->exited = true;
		vm->exit_status = fv->plan->exit_status;
		ml_proc_status_str(vm->exit_status, desc, sizeof(desc));
		ml_error("QEMU (%s) exited at start: it %s; stderr:\n%s", s->name, desc,
			 fv->plan->stderr_text ? fv->plan->stderr_text : "");
		return -1;
	}
	fv->peer = qr_start(fv->plan->qmp, &fd);
	{
		ml_autofree char *peer = ml_strdup_printf("QMP of %s", s->name);
		fv->qmp = ml_qmp_new(fd, peer, NULL, NULL);
	}
	return ml_qmp_handshake(fv->qmp, 5000);
}

static int fake_probe_connect(struct ml_vm *vm, int timeout_ms)
{
	struct fake_vm *fv = fake_of(vm);
	struct probe_peer_arg *a = calloc(1, sizeof(*a));
	int sv[2];

	(void)timeout_ms;
	assert_non_null(a);
	if (vm->probe)
		return 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	a->fd = sv[1];
	a->silent = fv->plan->probe_silent;
	a->ram_verify_reply = fv->plan->ram_verify_reply;
	a->interrupt_in_verify = fv->plan->interrupt_in_verify;
	a->dead_device = fv->plan->dead_device;
	a->abi_too_large = fv->plan->abi_too_large;
	a->console_path = ml_path_join(fv->out_dir, vm->console_log);
	if (fv->plan->guest_rebooted) {
		pthread_mutex_lock(&guest.lock);
		guest.boots++;
		pthread_mutex_unlock(&guest.lock);
	}
	assert_int_equal(pthread_create(&fv->probe_thread, NULL, probe_peer, a), 0);
	fv->probe_started = true;
	return ml_probe_open(sv[0], vm->name, NULL, NULL, &vm->probe);
}

/* The QEMU view's questions (lab/qemu-view.c) are not in the recorded
 * migration conversations: the fake QEMU lacks those commands, as a build
 * without them would answer. */
static const char *const view_commands[] = { "query-pci", "x-query-virtio", "query-cpus-fast" };

static int fake_qmp(struct ml_vm *vm, const char *cmd, json_t *args, int timeout_ms, json_t **ret)
{
	struct fake_vm *fv = fake_of(vm);

	if (ret)
		*ret = NULL;
	fv->view_error = false;
	for (size_t i = 0; i < ML_ARRAY_SIZE(view_commands); i++)
		if (strcmp(cmd, view_commands[i]) == 0) {
			json_decref(args);
			fv->view_error = true;
			ml_error("%s: CommandNotFound: The command %s has not been found", cmd, cmd);
			return -1;
		}
	if (!fv->qmp) {
		json_decref(args);
		ml_error("QEMU (%s): no QMP connection", vm->name);
		return -1;
	}
	if (ml_qmp_execute(fv->qmp, cmd, args, timeout_ms, ret) < 0) {
		if (ml_qmp_last_err(fv->qmp) == ML_QMP_ERR_IO)
			fv->qmp_lost = true;
		return -1;
	}
	if (strcmp(cmd, "quit") == 0) {
		vm->exited = true;
		vm->exit_status = 0;
	} else if (strcmp(cmd, "system_reset") == 0) {
		pthread_mutex_lock(&guest.lock);
		guest.boots++;
		guest.heartbeat = 0;
		pthread_mutex_unlock(&guest.lock);
	}
	return 0;
}

static int fake_qmp_error(struct ml_vm *vm, const char **cls, const char **desc)
{
	struct fake_vm *fv = fake_of(vm);

	if (fv->view_error) {
		*cls = "CommandNotFound";
		*desc = "The command has not been found";
		return 0;
	}
	if (!fv->qmp || ml_qmp_last_err(fv->qmp) != ML_QMP_ERR_REPLY)
		return -1;
	*cls = ml_qmp_error_class(fv->qmp);
	*desc = ml_qmp_error_desc(fv->qmp);
	return 0;
}

static int fake_migrate_incoming(struct ml_vm *dst, struct ml_migration *m, int timeout_ms)
{
	const char *ep = fake_of(dst)->plan->endpoint;
	ml_autofree char *uri = ml_strdup_printf("unix:%s", ep ? ep : "/w/in.sock");

	if (fake_qmp(dst, "migrate-incoming", json_pack("{s:s}", "uri", uri), timeout_ms, NULL) < 0)
		return -1;
	m->endpoint = strdup(uri + 5);
	return 0;
}

static int fake_migrate(struct ml_vm *src, struct ml_migration *m, json_t *params, int timeout_ms)
{
	ml_autofree char *uri = ml_strdup_printf("unix:%s", m->endpoint);

	if (params)
		fake_qmp(src, "migrate-set-parameters", params, 5000, NULL);
	return fake_qmp(src, "migrate", json_pack("{s:s}", "uri", uri), timeout_ms, NULL);
}

static int fake_migrate_wait(struct ml_vm *src, const char *const *terminal_states, int timeout_ms,
			     json_t **info)
{
	struct fake_vm *fv = fake_of(src);

	if (fv->plan->interrupt_in_migrate_wait)
		ml_interrupted = SIGTERM;
	if (ml_qmp_wait_migration(fv->qmp, terminal_states, timeout_ms, info) == 0)
		return 0;
	if (ml_qmp_last_err(fv->qmp) == ML_QMP_ERR_TIMEOUT)
		return ML_RUNNER_TIMEOUT;
	fv->qmp_lost = ml_qmp_last_err(fv->qmp) == ML_QMP_ERR_IO;
	return -1;
}

static int fake_migrate_cancel(struct ml_vm *src, int timeout_ms)
{
	world->migrate_cancels++;
	return fake_qmp(src, "migrate_cancel", NULL, timeout_ms, NULL);
}

static void fake_migrate_end(struct ml_migration *m)
{
	free(m->endpoint);
	m->endpoint = NULL;
}

static char *fake_log_tail(struct ml_vm *vm, enum ml_vm_log log, size_t max)
{
	struct fake_vm *fv = fake_of(vm);
	ml_autofree char *path =
		ml_path_join(fv->out_dir, log == ML_VM_LOG_STDERR ? vm->stderr_log : vm->console_log);
	char *data = NULL;
	size_t len = 0;
	char *out;

	if (ml_read_file(path, 1 << 20, &data, &len) < 0)
		return NULL;
	while (log == ML_VM_LOG_STDERR && len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		data[--len] = '\0';
	out = strdup(len > max ? data + len - max : data);
	free(data);
	return out;
}

/* A VM whose plan says it dies with its QMP connection has exited once the
 * connection is lost. */
static void fake_reap(struct fake_vm *fv)
{
	if (!fv->vm.exited && fv->qmp_lost && fv->plan->dies_on_hangup) {
		fv->vm.exited = true;
		fv->vm.exit_status = fv->plan->exit_status;
	}
}

static bool fake_vm_alive(struct ml_vm *vm)
{
	fake_reap(fake_of(vm));
	return !vm->exited;
}

static bool fake_vm_wait_exit(struct ml_vm *vm, int timeout_ms)
{
	(void)timeout_ms;
	fake_reap(fake_of(vm));
	return vm->exited;
}

static void fake_vm_stop(struct ml_vm *vm)
{
	struct fake_vm *fv = fake_of(vm);

	if (vm->probe) {
		ml_probe_free(vm->probe);
		vm->probe = NULL;
	}
	if (fv->probe_started) {
		pthread_join(fv->probe_thread, NULL);
		fv->probe_started = false;
	}
	if (fv->qmp) {
		ml_qmp_free(fv->qmp);
		fv->qmp = NULL;
	}
	if (!vm->exited) {
		vm->exited = true;
		vm->exit_status = W_EXITCODE(0, SIGKILL);
	}
}

/* vm_stop as the cell calls it. */
static void fake_vm_stop_op(struct ml_vm *vm)
{
	fake_of(vm)->stopped = true;
	fake_vm_stop(vm);
}

static void fake_vm_free(struct ml_vm *vm)
{
	struct fake_vm *fv = fake_of(vm);

	if (!fv->stopped && !vm->exited)
		world->vms_left_running++;
	fake_vm_stop(vm);
	if (fv->peer) {
		char *err = NULL;
		if (qr_finish(fv->peer, &err) < 0) {
			size_t used = strlen(world->qmp_errors);
			snprintf(world->qmp_errors + used, sizeof(world->qmp_errors) - used, "%s: %s\n",
				 vm->name, err ? err : "?");
		}
		free(err);
	}
	world->vms_freed++;
	json_decref(vm->argv);
	free(vm->name);
	free(vm->stderr_log);
	free(vm->console_log);
	free(fv->out_dir);
	free(fv);
}

const struct ml_runner_ops fake_runner = {
	.name = "fake",
	.vm_start = fake_vm_start,
	.probe_connect = fake_probe_connect,
	.qmp = fake_qmp,
	.qmp_error = fake_qmp_error,
	.migrate_incoming = fake_migrate_incoming,
	.migrate = fake_migrate,
	.migrate_wait = fake_migrate_wait,
	.migrate_cancel = fake_migrate_cancel,
	.migrate_end = fake_migrate_end,
	.log_tail = fake_log_tail,
	.vm_alive = fake_vm_alive,
	.vm_wait_exit = fake_vm_wait_exit,
	.vm_stop = fake_vm_stop_op,
	.vm_free = fake_vm_free,
};
