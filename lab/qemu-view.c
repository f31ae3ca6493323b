/* QEMU's own view of the guest ABI over QMP, beside each probe dump (see
 * qemu-view.h and docs/abi-crosscheck.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "qemu-view.h"
#include "ml-common.h"

/* A guest has a few virtio devices; QEMU allows 1024 queues per device. */
#define MAX_VIRTIO_DEVICES 64
#define MAX_QUEUES 1024
#define CANARY_TIMEOUT_MS 30000

/* ---- the canary: is x-query-virtio-status safe on this build? ------------ */

/* QEMU 11.1.3 (Debian sid) aborts on every x-query-virtio-status
 * ("visit_start_struct: Assertion ... failed": its reply leaves the
 * mandatory backend-features member NULL). Sending it to the cell's QEMU
 * would kill the guest, so each build is asked once in a throwaway QEMU with
 * the same devices, stopped before the firmware runs (-S). */
struct canary {
	char sha256[65];
	int safe;          /* 1 safe, 0 aborts, -1 could not tell */
	char *why;
	long long ms;
};
static struct canary canaries[8];
static size_t n_canaries;

static const struct canary *canary_of(const struct ml_build *b, const char *machine)
{
	const char *argv[] = {
		b->qemu, "-nodefaults", "-no-user-config", "-display", "none", "-machine", machine,
		"-accel", "tcg", "-S", "-m", "64", "-serial", "null",
		"-device", "virtio-rng-pci,id=rng0",
		"-qmp", "stdio", NULL,
	};
	static const char cmds[] =
		"{\"execute\":\"qmp_capabilities\"}\n"
		"{\"execute\":\"x-query-virtio-status\",\"arguments\":{\"path\":"
		"\"/machine/peripheral/rng0/virtio-backend\"}}\n"
		"{\"execute\":\"quit\"}\n";
	struct ml_buf o = ML_BUF_INIT(1 << 20), e = ML_BUF_INIT(64 << 10);
	struct ml_proc_spec spec = { .argv = argv, .stdout_fd = -1, .stderr_fd = -1,
				     .root = b->root };
	struct canary *c;
	long long t0 = ml_now_ms();
	int p[2], status = 0;
	char desc[128];

	for (size_t i = 0; i < n_canaries; i++)
		if (strcmp(canaries[i].sha256, b->sha256) == 0)
			return &canaries[i];
	c = &canaries[n_canaries < ML_ARRAY_SIZE(canaries) ? n_canaries++ : ML_ARRAY_SIZE(canaries) - 1];
	free(c->why);
	memset(c, 0, sizeof(*c));
	snprintf(c->sha256, sizeof(c->sha256), "%s", b->sha256);
	c->safe = -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		c->why = ml_strdup_printf("pipe: %s", strerror(errno));
		return c;
	}
	/* a few hundred bytes: they fit in the pipe before QEMU starts */
	if (write(p[1], cmds, sizeof(cmds) - 1) != (ssize_t)(sizeof(cmds) - 1)) {
		c->why = ml_strdup_printf("writing to a pipe: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return c;
	}
	close(p[1]);
	spec.stdin_fd = p[0];
	if (ml_proc_run(&spec, CANARY_TIMEOUT_MS, &o, &e, &status) < 0) {
		c->why = ml_strdup_printf("the canary QEMU did not run: %s", ml_error_message());
		ml_error_reset();
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		c->safe = 1;
	} else {
		ml_proc_status_str(status, desc, sizeof(desc));
		c->safe = WIFSIGNALED(status) ? 0 : -1;
		c->why = ml_strdup_printf("x-query-virtio-status in a throwaway QEMU of this build "
					  "(-S, one virtio-rng-pci): QEMU %s: %.300s",
					  desc, e.len ? e.data : "(no error output)");
	}
	close(p[0]);
	c->ms = ml_now_ms() - t0;
	ml_buf_free(&o);
	ml_buf_free(&e);
	return c;
}

long long ml_qemu_view_prepare(const struct ml_build *b, const char *machine)
{
	long long t0 = ml_now_ms();

	canary_of(b, machine);
	return ml_now_ms() - t0;
}

/* ---- asking ------------------------------------------------------------------ */

struct asker {
	const struct ml_runner_ops *runner;
	struct ml_vm *vm;
	int timeout_ms;
	json_t *commands; /* name -> {available, calls, class?, desc?, error?} */
	bool gone;        /* QEMU stopped answering: ask nothing more */
	long long canary_ms; /* spent in a canary run by this collection */
};

/* One QMP call; 0 with *ret, or -1 with the command's record saying why. */
static int ask(struct asker *a, const char *cmd, json_t *args, json_t **ret)
{
	json_t *rec = json_object_get(a->commands, cmd);
	const char *cls = NULL, *desc = NULL;

	*ret = NULL;
	if (!rec) {
		rec = json_pack("{s:b, s:i}", "available", 1, "calls", 0);
		ml_json_set(a->commands, cmd, rec);
	}
	if (a->gone) {
		json_decref(args);
		return -1;
	}
	ml_json_set_int(rec, "calls", ml_json_int(rec, "calls", 0) + 1);
	if (a->runner->qmp(a->vm, cmd, args, a->timeout_ms, ret) == 0)
		return 0;
	if (a->runner->qmp_error && a->runner->qmp_error(a->vm, &cls, &desc) == 0) {
		/* An answer: a command the build lacks, or an argument it refuses
		 * (a queue past the last). The first error is kept. */
		if (strcmp(cls, "CommandNotFound") == 0)
			ml_json_set(rec, "available", json_false());
		if (!json_object_get(rec, "class")) {
			ml_json_set_str(rec, "class", cls);
			ml_json_set_str(rec, "desc", desc);
		}
	} else {
		ml_json_set_str(rec, "error", ml_error_message());
		a->gone = true;
	}
	ml_error_reset();
	return -1;
}

static void bdf_text(char *out, size_t len, long long bus, long long slot, long long fn)
{
	snprintf(out, len, "0000:%02llx:%02llx.%llx", bus & 0xff, slot & 0x1f, fn & 7);
}

/* Every device of query-pci's buses, bridges' secondary buses included. */
static void pci_flatten(const json_t *devices, json_t *out, int depth)
{
	size_t i;
	json_t *d;

	json_array_foreach(devices, i, d) {
		const json_t *bridge = json_object_get(d, "pci_bridge");
		json_array_append(out, (json_t *)d);
		if (bridge && depth < 8)
			pci_flatten(json_object_get(bridge, "devices"), out, depth + 1);
	}
}

/* The PCI address of the proxy of a virtio backend at `path`
 * ("/machine/peripheral/nic0/virtio-backend"): by the proxy's qdev id in
 * query-pci, else by the proxy's `addr` (devfn) among virtio vendor
 * devices when that is unique. Sets via to how it was found. */
static int virtio_bdf(struct asker *a, const char *path, const json_t *pci, char *bdf, size_t len,
		      const char **via)
{
	const char *tail = strrchr(path, '/');
	ml_autofree char *proxy = tail ? strndup(path, (size_t)(tail - path)) : NULL;
	const char *id = proxy && strncmp(proxy, "/machine/peripheral/", 20) == 0 ? proxy + 20 : NULL;
	json_t *d, *addr = NULL;
	size_t i, found = 0;

	json_array_foreach(pci, i, d) {
		if (id && *id && !strchr(id, '/') && ml_json_str(d, "qdev_id") &&
		    strcmp(ml_json_str(d, "qdev_id"), id) == 0) {
			bdf_text(bdf, len, ml_json_int(d, "bus", 0), ml_json_int(d, "slot", 0),
				 ml_json_int(d, "function", 0));
			*via = "qdev_id";
			return 0;
		}
	}
	if (!proxy || ask(a, "qom-get", json_pack("{s:s, s:s}", "path", proxy, "property", "addr"),
			  &addr) < 0 || !json_is_integer(addr)) {
		json_decref(addr);
		return -1;
	}
	json_array_foreach(pci, i, d) {
		long long devfn = json_integer_value(addr);
		if (ml_json_int(json_object_get(d, "id"), "vendor", 0) == 0x1af4 &&
		    ml_json_int(d, "slot", -1) == devfn >> 3 && ml_json_int(d, "function", -1) == (devfn & 7)) {
			bdf_text(bdf, len, ml_json_int(d, "bus", 0), devfn >> 3, devfn & 7);
			found++;
		}
	}
	json_decref(addr);
	*via = "addr";
	return found == 1 ? 0 : -1;
}

static json_t *collect_virtio(struct asker *a, const struct ml_build *b, const char *machine,
			      const json_t *pci, json_t *view)
{
	json_t *list = NULL, *out = json_array(), *e;
	const struct canary *canary;
	size_t i;

	if (ask(a, "x-query-virtio", NULL, &list) < 0)
		return out;
	/* A build with x-query-virtio: is its x-query-virtio-status safe? */
	{
		long long t0 = ml_now_ms();
		canary = canary_of(b, machine);
		a->canary_ms = ml_now_ms() - t0;
	}
	ml_json_set(view, "canary", json_pack("{s:s, s:s?, s:I}", "x-query-virtio-status",
					      canary->safe == 1 ? "safe" : canary->safe == 0 ? "aborts QEMU" : "unknown",
					      "why", canary->why, "ms", (json_int_t)canary->ms));
	if (canary->safe != 1)
		ml_json_set(a->commands, "x-query-virtio-status",
			    json_pack("{s:b, s:b, s:i, s:s?}", "available", 0, "unsafe", 1, "calls", 0,
				      "desc", canary->why));
	json_array_foreach(list, i, e) {
		const char *path = ml_json_str(e, "path");
		json_t *dev, *status = NULL, *queues = json_array();
		long long nq = -1;
		const char *via = NULL;
		char bdf[16];

		if (!path || i >= MAX_VIRTIO_DEVICES)
			continue;
		dev = json_pack("{s:s, s:s?}", "path", path, "name", ml_json_str(e, "name"));
		if (virtio_bdf(a, path, pci, bdf, sizeof(bdf), &via) == 0) {
			ml_json_set_str(dev, "bdf", bdf);
			ml_json_set_str(dev, "bdf_via", via);
		}
		if (canary->safe == 1 &&
		    ask(a, "x-query-virtio-status", json_pack("{s:s}", "path", path), &status) == 0) {
			ml_json_set(dev, "status", status);
			nq = ml_json_int(status, "num-vqs", -1);
		}
		/* Without a status, queues are asked until QEMU says there is no
		 * such queue. */
		for (long long q = 0; q < (nq >= 0 ? nq : MAX_QUEUES); q++) {
			json_t *qs = NULL;
			if (ask(a, "x-query-virtio-queue-status",
				json_pack("{s:s, s:I}", "path", path, "queue", (json_int_t)q), &qs) < 0)
				break;
			json_array_append_new(queues, qs);
		}
		ml_json_set(dev, "queues", queues);
		json_array_append_new(out, dev);
	}
	json_decref(list);
	return out;
}

static json_t *collect_cpus(struct asker *a)
{
	json_t *cpus = NULL, *out = json_array(), *c;
	size_t i;

	if (ask(a, "query-cpus-fast", NULL, &cpus) < 0)
		return out;
	json_array_foreach(cpus, i, c) {
		const char *path = ml_json_str(c, "qom-path");
		json_t *words = NULL, *cpu;

		if (!path)
			continue;
		cpu = json_pack("{s:s, s:I}", "qom-path", path, "cpu-index",
				(json_int_t)ml_json_int(c, "cpu-index", -1));
		if (ask(a, "qom-get", json_pack("{s:s, s:s}", "path", path, "property", "feature-words"),
			&words) == 0)
			ml_json_set(cpu, "feature-words", words);
		json_array_append_new(out, cpu);
	}
	json_decref(cpus);
	return out;
}

json_t *ml_qemu_view_collect(const struct ml_runner_ops *runner, struct ml_vm *vm,
			     const struct ml_build *b, const char *machine, int timeout_ms)
{
	struct asker a = { .runner = runner, .vm = vm, .timeout_ms = timeout_ms, .commands = json_object() };
	json_t *view = json_object(), *pci = NULL, *flat = json_array(), *bus;
	long long t0 = ml_now_ms();
	size_t i;

	ml_json_set_str(view, "schema", ML_QEMU_VIEW_SCHEMA);
	if (ask(&a, "query-pci", NULL, &pci) == 0)
		json_array_foreach(pci, i, bus)
			pci_flatten(json_object_get(bus, "devices"), flat, 0);
	ml_json_set(view, "pci", flat);
	json_decref(pci);
	ml_json_set(view, "virtio", collect_virtio(&a, b, machine, flat, view));
	ml_json_set(view, "cpus", collect_cpus(&a));
	ml_json_set(view, "commands", a.commands);
	/* The canary's run (once per build) is not the view's cost. */
	ml_json_set_int(view, "collect_ms", ml_now_ms() - t0 - a.canary_ms);
	ml_json_set_int(view, "canary_run_ms", a.canary_ms);
	return view;
}
