/* vmstate dumps per (build, machine type), cached, and the static check of a
 * pair of builds on top of them (see vmstate-dump.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "build.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "vmstate-dump.h"
#include "ml-common.h"

#define DUMP_FORMAT 2
#define DUMP_LIMIT ((size_t)64 << 20) /* real dumps are about 0.8 MB */
#define QEMU_TIMEOUT_MS 60000
/* The directory every debian: root has for a cell's output (runners/local.c). */
#define ROOT_OUT_DIR "/miglab/out"

/* Machine type names become file names: refuse anything but [A-Za-z0-9._-]. */
static int check_machine_name(const char *m)
{
	if (!m || !*m || m[0] == '.' || strlen(m) > 100)
		goto bad;
	for (const char *p = m; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			goto bad;
	return 0;
bad:
	ml_error("bad machine type name '%s'", m ? m : "");
	return -1;
}

static char *cache_dir_of(const struct ml_config *cfg, const struct ml_build *b)
{
	if (b->dir)
		return ml_path_join(b->dir, "vmstate");
	return ml_strdup_printf("%s/vmstate/path-%.16s", cfg->cache_dir, b->sha256);
}

char *ml_vmstate_dump_path(const struct ml_config *cfg, const struct ml_build *b,
			   const char *machine)
{
	ml_autofree char *dir = cache_dir_of(cfg, b);
	return ml_strdup_printf("%s/%s.json", dir, machine);
}

/* The QOM types in "info qom-tree" lines like "    /device[0] (virtio-net-pci)". */
static json_t *qom_tree_types(const char *tree)
{
	ml_autofree char *copy = strdup(tree);
	json_t *types = json_array(), *seen = json_object();
	char *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *open = strrchr(line, '('), *close_ = strrchr(line, ')');
		if (!open || !close_ || close_ < open + 2 || !strchr(line, '/'))
			continue;
		*close_ = '\0';
		if (!json_object_get(seen, open + 1)) {
			ml_json_set(seen, open + 1, json_true());
			json_array_append_new(types, json_string(open + 1));
		}
	}
	json_decref(seen);
	return types;
}

/* Ask a paused QEMU with the guest's devices (as runners/local.c gives
 * them; disk and network without a real backend: only the device models
 * matter) over QMP on stdin/stdout for
 *   - every device type of the binary (qom-list-types, abstract ones too,
 *     since a dump lists abstract types): tells "not in this QEMU" from "in
 *     this QEMU but not in its dump";
 *   - the QOM types of the guest's objects (info qom-tree). */
static int ask_types(const struct ml_build *b, const char *machine, json_t **guest_types,
		     json_t **device_types)
{
	const char *argv[] = {
		b->qemu, "-nodefaults", "-no-user-config", "-display", "none", "-machine", machine,
		"-accel", "tcg", "-S", "-m", "256", "-serial", "null",
		"-device", "virtio-serial-pci,id=vser0",
		"-device", "virtserialport,bus=vser0.0,name=org.miglab.probe",
		"-device", "virtio-rng-pci,id=rng0",
		"-netdev", "user,id=net0,restrict=on",
		"-device", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:12:34:56",
		"-blockdev", "driver=null-co,node-name=disk0",
		"-device", "virtio-blk-pci,id=blk0,drive=disk0",
		"-qmp", "stdio", NULL,
	};
	static const char cmds[] =
		"{\"execute\":\"qmp_capabilities\"}\n"
		"{\"execute\":\"qom-list-types\",\"arguments\":{\"implements\":\"device\","
		"\"abstract\":true}}\n"
		"{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":"
		"\"info qom-tree\"}}\n"
		"{\"execute\":\"quit\"}\n";
	struct ml_buf o = ML_BUF_INIT(8 << 20), e = ML_BUF_INIT(1 << 20);
	struct ml_proc_spec spec = { .argv = argv, .stdout_fd = -1, .stderr_fd = -1,
				     .root = b->root };
	json_t *returns = json_array();
	int p[2], status, rc = -1;
	char desc[128], *save = NULL;
	size_t i;
	json_t *t;

	if (pipe2(p, O_CLOEXEC) < 0) {
		ml_error_errno(errno, "pipe");
		goto out;
	}
	/* a few hundred bytes: they fit in the pipe before QEMU starts */
	if (write(p[1], cmds, sizeof(cmds) - 1) != (ssize_t)(sizeof(cmds) - 1)) {
		ml_error_errno(errno, "writing to a pipe");
		close(p[0]);
		close(p[1]);
		goto out;
	}
	close(p[1]);
	spec.stdin_fd = p[0];
	rc = ml_proc_run(&spec, QEMU_TIMEOUT_MS, &o, &e, &status);
	close(p[0]);
	if (rc < 0)
		goto out;
	rc = -1;
	if (status != 0) {
		ml_proc_status_str(status, desc, sizeof(desc));
		ml_error("%s with miglab's guest devices on %s %s: %.400s", b->qemu, machine, desc,
			 e.len ? e.data : "(no error output)");
		goto out;
	}
	for (char *line = strtok_r(o.data ? o.data : (char *)"", "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *msg = json_loads(line, 0, NULL);
		if (json_object_get(msg, "error")) {
			ml_error("QMP of %s on %s: %.300s", b->qemu, machine,
				 ml_json_str(json_object_get(msg, "error"), "desc"));
			json_decref(msg);
			goto out;
		}
		if (json_object_get(msg, "return"))
			json_array_append(returns, json_object_get(msg, "return"));
		json_decref(msg);
	}
	if (!json_is_array(json_array_get(returns, 1)) ||
	    !json_is_string(json_array_get(returns, 2))) {
		ml_error("QMP of %s on %s: no answer to qom-list-types and info qom-tree", b->qemu,
			 machine);
		goto out;
	}
	*device_types = json_array();
	json_array_foreach(json_array_get(returns, 1), i, t)
		if (ml_json_str(t, "name"))
			json_array_append_new(*device_types, json_string(ml_json_str(t, "name")));
	*guest_types = qom_tree_types(json_string_value(json_array_get(returns, 2)));
	rc = 0;
out:
	json_decref(returns);
	ml_buf_free(&o);
	ml_buf_free(&e);
	return rc;
}

/* Run -dump-vmstate into a fresh directory under dir and parse the file. */
static int run_dump(const struct ml_build *b, const char *machine, const char *dir, json_t **dump,
		    long long *bytes, long long *ms)
{
	ml_autofree char *tmpl = ml_strdup_printf("%s/.dump-XXXXXX", dir);
	ml_autofree char *file = NULL;
	ml_autofree char *inner = NULL;
	ml_autofree char *text = NULL;
	struct ml_buf o = ML_BUF_INIT(1 << 20), e = ML_BUF_INIT(1 << 20);
	struct ml_bind bind;
	struct ml_proc_spec spec = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	const char *argv[16];
	size_t len = 0, n = 0;
	long long t0;
	int status, rc = -1;
	char desc[128];

	if (!mkdtemp(tmpl)) {
		ml_error_errno(errno, "making a directory in %s", dir);
		return -1;
	}
	file = ml_path_join(tmpl, "vmstate.json");
	inner = b->root ? strdup(ROOT_OUT_DIR "/vmstate.json") : strdup(file);
	argv[n++] = b->qemu;
	argv[n++] = "-machine";
	argv[n++] = machine;
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-accel";
	argv[n++] = "tcg";
	argv[n++] = "-dump-vmstate";
	argv[n++] = inner;
	argv[n] = NULL;
	spec.argv = argv;
	if (b->root) {
		bind = (struct ml_bind){ tmpl, ROOT_OUT_DIR, false };
		spec.root = b->root;
		spec.binds = &bind;
		spec.n_binds = 1;
	}
	t0 = ml_now_ms();
	if (ml_proc_run(&spec, QEMU_TIMEOUT_MS, &o, &e, &status) < 0) {
		ml_error_context("%s -machine %s -dump-vmstate", b->qemu, machine);
		goto out;
	}
	*ms = ml_now_ms() - t0;
	if (status != 0) {
		ml_proc_status_str(status, desc, sizeof(desc));
		ml_error("%s -machine %s -dump-vmstate %s: %.400s", b->qemu, machine, desc,
			 e.len ? e.data : "(no error output)");
		goto out;
	}
	if (ml_read_file(file, DUMP_LIMIT, &text, &len) < 0)
		goto out;
	*dump = ml_json_parse(text, len, "the vmstate dump");
	if (!*dump)
		goto out;
	if (!json_is_object(*dump) || !ml_vmstate_dump_machine(*dump)) {
		ml_error("%s -dump-vmstate wrote no \"vmschkmachine\": not a vmstate dump", b->qemu);
		json_decref(*dump);
		*dump = NULL;
		goto out;
	}
	*bytes = (long long)len;
	rc = 0;
out:
	ml_buf_free(&o);
	ml_buf_free(&e);
	ml_rm_rf(tmpl);
	return rc;
}

static bool cache_valid(const json_t *rec, const struct ml_build *b, const char *machine)
{
	return rec && ml_json_int(rec, "format", 0) == DUMP_FORMAT &&
	       ml_json_str(rec, "sha256") && strcmp(ml_json_str(rec, "sha256"), b->sha256) == 0 &&
	       ml_json_str(rec, "machine") && strcmp(ml_json_str(rec, "machine"), machine) == 0 &&
	       json_is_object(json_object_get(rec, "dump"));
}

int ml_vmstate_dump_get(const struct ml_config *cfg, const struct ml_build *b, const char *machine,
			bool refresh, json_t **out, bool *cached)
{
	const char *concrete = ml_build_find_machine(b, machine);
	ml_autofree char *dir = NULL;
	ml_autofree char *path = NULL;
	json_t *rec, *dump = NULL, *types = NULL, *devtypes = NULL;
	long long bytes = 0, ms = 0;

	*out = NULL;
	if (cached)
		*cached = false;
	if (!concrete) {
		ml_error("machine type %s does not exist in %s (QEMU %s)", machine, b->spec,
			 b->version ? b->version : "?");
		return -1;
	}
	if (check_machine_name(concrete) < 0 || !b->sha256[0]) {
		if (!b->sha256[0])
			ml_error("build %s is not provisioned (no sha256 of its binary)", b->spec);
		return -1;
	}
	dir = cache_dir_of(cfg, b);
	path = ml_strdup_printf("%s/%s.json", dir, concrete);
	if (!refresh && ml_path_exists(path)) {
		rec = ml_json_load_file(path, DUMP_LIMIT * 2);
		if (cache_valid(rec, b, concrete)) {
			if (cached)
				*cached = true;
			*out = rec;
			return 0;
		}
		json_decref(rec);
		ml_error_reset();
	}
	if (ml_mkdir_p(dir, 0755) < 0)
		return -1;
	if (run_dump(b, concrete, dir, &dump, &bytes, &ms) < 0)
		return ml_error_context("vmstate dump of %s on %s", b->spec, concrete);
	if (strcmp(ml_vmstate_dump_machine(dump), concrete) != 0) {
		ml_error("vmstate dump of %s: asked for %s, QEMU dumped %s", b->spec, concrete,
			 ml_vmstate_dump_machine(dump));
		json_decref(dump);
		return -1;
	}
	rec = json_object();
	ml_json_set_int(rec, "format", DUMP_FORMAT);
	ml_json_set_str(rec, "build", b->spec);
	ml_json_set_str(rec, "version", b->version);
	ml_json_set_str(rec, "sha256", b->sha256);
	ml_json_set_str(rec, "machine", concrete);
	ml_json_set_int(rec, "dump_bytes", bytes);
	ml_json_set_int(rec, "dump_ms", ms);
	ml_json_set(rec, "dump", dump);
	if (ask_types(b, concrete, &types, &devtypes) < 0) {
		/* the dump stands without it: nothing is ranked as a guest device */
		fprintf(stderr, "miglab: %s on %s: cannot list the guest's devices: %s\n", b->spec,
			concrete, ml_error_message());
		ml_json_set_str(rec, "guest_types_error", ml_error_message());
		ml_json_set(rec, "guest_types", json_null());
		ml_json_set(rec, "device_types", json_null());
		ml_error_reset();
	} else {
		ml_json_set(rec, "guest_types", types);
		ml_json_set(rec, "device_types", devtypes);
	}
	if (ml_json_write_file(path, rec) < 0) {
		json_decref(rec);
		return ml_error_context("caching the vmstate dump of %s", b->spec);
	}
	*out = rec;
	return 0;
}

int ml_vmstate_check_pair(const struct ml_config *cfg, const struct ml_build *src,
			  const struct ml_build *dst, const char *machine,
			  const struct ml_vmstate_check_options *o, json_t **out)
{
	json_auto_t *s = NULL;
	json_auto_t *d = NULL;
	struct ml_vmstate_renames *own = NULL;
	struct ml_vmstate_options vo = { 0 };
	json_t *findings, *res;
	const json_t *types;

	*out = NULL;
	if (ml_vmstate_dump_get(cfg, src, machine, o->refresh, &s, NULL) < 0 ||
	    ml_vmstate_dump_get(cfg, dst, machine, o->refresh, &d, NULL) < 0)
		return -1;
	if (!o->renames) {
		own = ml_vmstate_renames_load(ml_vmstate_renames_default_path());
		if (!own)
			return ml_error_context("the vmstate renames file");
	}
	/* the stream carries the source guest's devices */
	types = json_object_get(s, "guest_types");
	vo.renames = o->renames ? o->renames : own;
	vo.guest_types = json_is_array(types) ? types : NULL;
	vo.guest_only = o->guest_only && vo.guest_types;
	types = json_object_get(d, "device_types");
	vo.dst_device_types = json_is_array(types) ? types : NULL;
	findings = ml_vmstate_compare(json_object_get(s, "dump"), json_object_get(d, "dump"), &vo);
	ml_vmstate_renames_free(own);
	if (!findings)
		return ml_error_context("comparing %s with %s on %s", src->spec, dst->spec,
					ml_json_str(s, "machine"));
	res = json_object();
	ml_json_set_str(res, "src", src->spec);
	ml_json_set_str(res, "src_version", src->version);
	ml_json_set_str(res, "dst", dst->spec);
	ml_json_set_str(res, "dst_version", dst->version);
	ml_json_set_str(res, "machine", ml_json_str(s, "machine"));
	ml_json_set(res, "guest_only", json_boolean(vo.guest_only));
	if (o->guest_only && !vo.guest_types)
		ml_json_set_str(res, "note", "the guest's devices are unknown (see the dump's "
					     "guest_types_error): every device is reported");
	ml_json_set_int(res, "errors", (long long)ml_vmstate_count(findings, "error"));
	ml_json_set_int(res, "warnings", (long long)ml_vmstate_count(findings, "warning"));
	ml_json_set_int(res, "infos", (long long)ml_vmstate_count(findings, "info"));
	ml_json_set(res, "findings", findings);
	*out = res;
	return 0;
}

int ml_vmstate_check_cell(const struct ml_config *cfg, const struct ml_build *src,
			  const struct ml_build *dst, const char *machine, json_t **findings)
{
	struct ml_vmstate_check_options o = { .guest_only = true };
	json_t *fwd = NULL, *back = NULL, *res;

	*findings = NULL;
	if (ml_vmstate_check_pair(cfg, src, dst, machine, &o, &fwd) < 0)
		return -1;
	if (ml_vmstate_check_pair(cfg, dst, src, machine, &o, &back) < 0) {
		json_decref(fwd);
		return -1;
	}
	res = json_object();
	ml_json_set_str(res, "machine", ml_json_str(fwd, "machine"));
	ml_json_set_int(res, "errors",
			ml_json_int(fwd, "errors", 0) + ml_json_int(back, "errors", 0));
	ml_json_set(res, "forward", fwd);
	ml_json_set(res, "back", back);
	*findings = res;
	return 0;
}
