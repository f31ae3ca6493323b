/* Saved guests (see saved-state.h, docs/saved-state.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "saved-state.h"
#include "result.h"
#include "ml-common.h"

#define RECORD_MAX ((size_t)1 << 20)

char *ml_saved_key(const struct ml_saved_key_in *in, char **text)
{
	struct ml_buf b = ML_BUF_INIT(0);
	ml_autofree char *packages = in->build->packages
					     ? json_dumps(in->build->packages, JSON_COMPACT | JSON_SORT_KEYS)
					     : NULL;
	char h[65];

	/* The build by what it is (its binary and every package of its root:
	 * the firmware comes from there), never by where it lies. */
	ml_buf_printf(&b, "format=%d\nqemu_sha256=%s\nqemu_version=%s\nroot_packages=%s\n",
		      ML_SAVED_FORMAT, in->build->sha256,
		      in->build->version_line ? in->build->version_line : "",
		      packages ? packages : "");
	ml_buf_printf(&b, "machine=%s\naccel=%s\nmemory=%d\nworkload=%d\nsmp=%d\n", in->machine,
		      in->accel, in->memory_mib, in->workload_mib, in->smp);
	ml_buf_printf(&b, "kernel_boot=%s\nkernel_release=%s\n", in->kernel_boot,
		      in->guest->kernel_release ? in->guest->kernel_release : "");
	if (strcmp(in->kernel_boot, "pvh") == 0)
		ml_buf_printf(&b, "vmlinux_sha256=%s\n", in->guest->vmlinux_sha256);
	else
		ml_buf_printf(&b, "kernel_sha256=%s\n", in->guest->kernel_sha256);
	ml_buf_printf(&b, "initrd_sha256=%s\nappend=%s\n", in->guest->initrd_sha256, in->append);
	for (size_t i = 0; in->extra_args && in->extra_args[i]; i++)
		ml_buf_printf(&b, "arg=%s\n", in->extra_args[i]);
	ml_sha256_text(b.data, h);
	if (text)
		*text = strdup(b.data);
	ml_buf_free(&b);
	return strndup(h, 16);
}

char *ml_saved_run_base(const char *run_dir)
{
	return ml_path_join(run_dir, "saved");
}

void ml_saved_remove_run(const char *run_dir)
{
	ml_autofree char *base = ml_saved_run_base(run_dir);

	if (ml_path_exists(base) && ml_rm_rf(base) < 0) {
		fprintf(stderr, "miglab: warning: cannot remove %s: %s\n", base, ml_error_message());
		ml_error_reset();
	}
}

char *ml_saved_dir(const char *base, const char *key)
{
	return ml_path_join(base, key);
}

int ml_saved_lock(const char *base, const char *key)
{
	ml_autofree char *name = ml_strdup_printf("%s.lock", key);
	ml_autofree char *path = ml_path_join(base, name);
	ml_autofree char *what = ml_strdup_printf("the saved guest %s", key);

	if (ml_mkdir_p(base, 0755) < 0)
		return -1;
	return ml_flock_open(path, LOCK_EX, what, -1);
}

int ml_saved_check(const char *dir, const char *key, json_t **rec, char **why)
{
	ml_autofree char *rec_path = ml_path_join(dir, "saved.json");
	ml_autofree char *state = ml_path_join(dir, "state");
	json_t *r;
	struct stat st;
	char sha[65];
	const char *want_sha;

	*rec = NULL;
	*why = NULL;
	if (!ml_path_exists(rec_path))
		return ML_SAVED_ABSENT;
	r = ml_json_load_file(rec_path, RECORD_MAX);
	if (!r) {
		*why = ml_strdup_printf("its record cannot be read: %s", ml_error_message());
		ml_error_reset();
		return ML_SAVED_DAMAGED;
	}
	want_sha = ml_json_str(r, "sha256");
	if (!ml_str_eq(ml_json_str(r, "key"), key) || ml_json_int(r, "format", 0) != ML_SAVED_FORMAT ||
	    !want_sha) {
		*why = ml_strdup_printf("its record is not of key %s, format %d", key, ML_SAVED_FORMAT);
		json_decref(r);
		return ML_SAVED_DAMAGED;
	}
	if (lstat(state, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = ml_strdup_printf("%s is missing or not a regular file", state);
		json_decref(r);
		return ML_SAVED_DAMAGED;
	}
	if ((long long)st.st_size != ml_json_int(r, "bytes", -1)) {
		*why = ml_strdup_printf("%s has %lld bytes, its record says %lld", state,
					(long long)st.st_size, ml_json_int(r, "bytes", -1));
		json_decref(r);
		return ML_SAVED_DAMAGED;
	}
	if (ml_sha256_file(state, sha) < 0) {
		json_decref(r);
		return -1;
	}
	if (strcmp(sha, want_sha) != 0) {
		*why = ml_strdup_printf("%s has sha256 %s, its record says %s", state, sha, want_sha);
		json_decref(r);
		return ML_SAVED_DAMAGED;
	}
	*rec = r;
	return ML_SAVED_VALID;
}

json_t *ml_saved_record(const char *dir, const char *key, const char *key_text)
{
	ml_autofree char *state = ml_path_join(dir, "state");
	ml_autofree char *now = ml_timestamp_utc();
	struct stat st;
	char sha[65];
	json_t *r;

	if (stat(state, &st) < 0) {
		ml_error_errno(errno, "cannot read %s", state);
		return NULL;
	}
	if (ml_sha256_file(state, sha) < 0)
		return NULL;
	r = json_object();
	ml_json_set_int(r, "format", ML_SAVED_FORMAT);
	ml_json_set_str(r, "key", key);
	ml_json_set_str(r, "key_inputs", key_text);
	ml_json_set_int(r, "bytes", (long long)st.st_size);
	ml_json_set_str(r, "sha256", sha);
	ml_json_set_str(r, "made_at", now);
	return r;
}

int ml_saved_commit(const char *dir, json_t *rec)
{
	ml_autofree char *path = ml_path_join(dir, "saved.json");

	return ml_json_write_file(path, rec);
}
