/* Unit tests of the judging stage (results/judge.h) on cell directories
 * recorded from real runs on a host where Debian bookworm's QEMU 7.2.22
 * corrupts guest memory as a migration source under TCG (tests/data/judge/,
 * made with tests/tools/record-judge-fixture.py; README there). They run the
 * same on every host: nothing here starts QEMU. Each test judges a copy of
 * a fixture, since judging writes cell.json and run.json. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "export.h"
#include "judge.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "run-file.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "vmstate.h"
#include "ml-common.h"

#define CTL_72 "bookworm-to-bookworm-pc-q35-7.2-k-bookworm-7c0e3a19"

static bool str_is(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

struct fx {
	char *tmp;
	char *run; /* the copy of the fixture's run directory */
	struct ml_judge_rules rules;
};

/* Copy tests/data/judge/<name> and load the built-in rules. */
static void fx_open(struct fx *f, const char *name)
{
	const char *argv[] = { "/bin/cp", "-a", NULL, NULL, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	int status;

	ml_autofree char *rel = ml_strdup_printf("judge/%s", name);

	memset(f, 0, sizeof(*f));
	f->tmp = ml_test_tmpdir();
	f->run = ml_path_join(f->tmp, name);
	argv[2] = ml_test_data(rel);
	argv[3] = f->run;
	assert_int_equal(ml_proc_run(&spec, 60000, NULL, NULL, &status), 0);
	assert_int_equal(status, 0);
	/* The built-in catalogue and known issues, whatever the environment says. */
	unsetenv("MIGLAB_FAILURES");
	unsetenv("MIGLAB_KNOWN_ISSUES");
	assert_int_equal(ml_judge_rules_load(&f->rules), 0);
}

static void fx_close(struct fx *f)
{
	ml_judge_rules_clear(&f->rules);
	ml_test_rmtree(f->tmp);
	free(f->tmp);
	free(f->run);
}

static json_t *load_cell(const struct fx *f, const char *id)
{
	ml_autofree char *dir = ml_layout_cell_dir(f->run, id);
	ml_autofree char *path = ml_path_join(dir, ML_LAYOUT_CELL_FILE);
	json_t *doc = ml_json_load_file(path, 64 << 20);

	assert_non_null(doc);
	return doc;
}

static json_t *judge_run(struct fx *f)
{
	json_t *summary = NULL;

	assert_int_equal(ml_judge_run(&f->rules, f->run, &summary), 0);
	assert_non_null(summary);
	return summary;
}

/* A build that fails migrating to itself in 2 of 3 attempts: its control is
 * intermittent, named once per build with its rate; its passes stay passes. */
static void test_intermittent_control(void **state)
{
	struct fx f;
	json_t *sum, *c, *u, *rj;
	(void)state;

	fx_open(&f, "quick-7.2-intermittent");
	sum = judge_run(&f);
	c = load_cell(&f, CTL_72);
	assert_string_equal(ml_json_str(c, "verdict"), "fail");
	assert_string_equal(ml_json_str(c, "category"), "intermittent");
	assert_true(ml_json_bool(c, "control", false));
	assert_string_equal(ml_json_str(json_object_get(c, "repeat"), "kind"), "intermittent");
	assert_int_equal(ml_json_int(json_object_get(c, "repeat"), "failed", 0), 2);
	assert_int_equal(ml_json_int(json_object_get(c, "repeat"), "judged", 0), 3);
	assert_int_equal(json_array_size(json_object_get(c, "attempts")), 3);
	/* Shown by its first failing attempt; the console says why the guest rebooted. */
	assert_string_equal(ml_json_str(c, "evidence_dir"), "attempts/1");
	assert_string_equal(ml_json_str(json_object_get(c, "failure"), "class"), "guest-panicked");
	assert_string_equal(ml_json_str(json_object_get(c, "failure"), "family"), "guest-state-lost");
	assert_non_null(strstr(ml_json_str(json_object_get(c, "failure"), "oops"), "RIP"));
	assert_non_null(strstr(ml_json_str(c, "reason"), "intermittent (2 of 3 attempts failed)"));
	json_decref(c);

	/* The build, once, with its rate. */
	assert_int_equal(json_array_size(json_object_get(sum, "unsound_builds")), 1);
	u = json_array_get(json_object_get(sum, "unsound_builds"), 0);
	assert_string_equal(ml_json_str(u, "build"), "debian:bookworm");
	assert_int_equal(ml_json_int(u, "failed", 0), 2);
	assert_int_equal(ml_json_int(u, "attempts", 0), 3);
	assert_non_null(strstr(ml_json_str(u, "text"), "QEMU 7.2.22 (debian:bookworm) fails migrating "
							 "to itself here: 2 of 3 attempts"));
	assert_int_equal(ml_json_int(json_object_get(sum, "judgements"), "pass", 0), 3);
	assert_int_equal(ml_json_int(json_object_get(sum, "judgements"), "intermittent", 0), 1);
	/* run.json: the judgements, and the run's facts kept. */
	{
		ml_autofree char *rp = ml_path_join(f.run, ML_LAYOUT_RUN_FILE);
		rj = ml_json_load_file(rp, 1 << 24);
	}
	assert_non_null(rj);
	assert_string_equal(ml_json_str(rj, "kind"), "matrix");
	assert_non_null(json_object_get(rj, "builds"));
	assert_int_equal(ml_json_int(json_object_get(rj, "judgements"), "intermittent", 0), 1);
	assert_int_equal(ml_json_int(json_object_get(rj, "counts"), "fail", 0), 1);
	json_decref(rj);
	json_decref(sum);
	fx_close(&f);
}

/* 7.2.22 fails migrating to itself on pc-q35-7.2 in 3 of 3 attempts; the
 * cell 7.2.22 -> 10.0.13 on that machine type fails the same way (the guest
 * panics after the forward migration): that build's defect, not the pair's.
 * On pc-q35-2.4 its control passed its one attempt, so the cross cell there
 * stays the pair's (intermittent), with a hint naming the other controls. */
static void test_source_unsound(void **state)
{
	const char *cross = "bookworm-to-trixie-pc-q35-7.2-k-bookworm-a6be6298";
	const char *cross24 = "bookworm-to-trixie-pc-q35-2.4-k-bookworm-1c2cf96a";
	struct fx f;
	json_t *sum, *c, *u, *d, *docs;
	ml_autofree char *junit = NULL;
	char *xml = NULL;
	(void)state;

	fx_open(&f, "unsound-72");
	sum = judge_run(&f);
	c = load_cell(&f, cross);
	assert_string_equal(ml_json_str(c, "verdict"), "fail");
	assert_string_equal(ml_json_str(c, "category"), "source-unsound");
	u = json_object_get(c, "unsound");
	assert_string_equal(ml_json_str(u, "role"), "source");
	assert_string_equal(ml_json_str(u, "build"), "debian:bookworm");
	assert_string_equal(ml_json_str(u, "control"), CTL_72);
	assert_int_equal(ml_json_int(u, "control_failed", 0), 3);
	assert_int_equal(ml_json_int(u, "control_attempts", 0), 3);
	assert_non_null(strstr(ml_json_str(u, "text"), "not of the pair"));
	d = json_object_get(json_object_get(c, "failure"), "direction");
	assert_string_equal(ml_json_str(d, "from"), "debian:bookworm");
	assert_string_equal(ml_json_str(d, "to"), "debian:trixie");
	assert_string_equal(ml_json_str(d, "text"), "debian:bookworm (QEMU 7.2.22) -> debian:trixie (QEMU 10.0.13)");
	json_decref(c);

	c = load_cell(&f, cross24);
	assert_string_equal(ml_json_str(c, "category"), "intermittent");
	assert_null(json_object_get(c, "unsound"));
	assert_non_null(strstr(ml_json_str(json_object_get(c, "control_hint"), "text"),
			       "fails its own control cells of other machine types"));
	json_decref(c);

	assert_int_equal(ml_json_int(json_object_get(sum, "judgements"), "source-unsound", 0), 1);
	assert_int_equal(ml_json_int(json_object_get(sum, "judgements"), "intermittent", 0), 1);
	assert_int_equal(ml_json_int(json_object_get(sum, "judgements"), "fail", 0), 1);
	assert_int_equal(ml_json_int(json_object_get(sum, "judgements"), "pass", 0), 1);
	u = json_array_get(json_object_get(sum, "unsound_builds"), 0);
	assert_int_equal(ml_json_int(u, "explains", 0), 1);
	assert_int_equal(ml_json_int(u, "failed", 0), 3);
	assert_int_equal(ml_json_int(u, "attempts", 0), 4);

	/* The control that passed its one attempt, of a build failing its
	 * other control, is the one to settle with more attempts. */
	docs = ml_run_load_cells(f.run);
	{
		json_t *ids = ml_judge_controls_to_settle(docs);
		assert_int_equal(json_array_size(ids), 1);
		assert_string_equal(json_string_value(json_array_get(ids, 0)),
				    "bookworm-to-bookworm-pc-q35-2.4-k-bookworm-92ae942a");
		json_decref(ids);
	}
	/* JUnit counts the judgements apart and says why. */
	junit = ml_path_join(f.run, "junit.xml");
	assert_int_equal(ml_export_junit(f.run, "unsound-72", docs, NULL, junit), 0);
	assert_int_equal(ml_read_file(junit, 1 << 20, &xml, NULL), 0);
	assert_non_null(strstr(xml, "<property name=\"judgement.source-unsound\" value=\"1\"/>"));
	assert_non_null(strstr(xml, "<failure type=\"source-unsound\""));
	assert_non_null(strstr(xml, "<failure type=\"intermittent\""));
	free(xml);
	json_decref(docs);
	json_decref(sum);
	fx_close(&f);
}

/* A stream capture that stopped early (its writer fell behind) never
 * becomes "the source did not send the device"; a whole one may. The
 * attempt is the real section-unknown failure of tests/data/failures/ with
 * a stream cut from a real 7.2.22 capture (tests/data/streams/). */
static void test_cut_capture_claims_nothing(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *run = ml_path_join(tmp, "run");
	ml_autofree char *cell = ml_layout_cell_dir(run, "c1");
	ml_autofree char *adir = ml_layout_attempt_dir(cell, 1);
	ml_autofree char *apath = ml_path_join(adir, ML_LAYOUT_ATTEMPT_FILE);
	ml_autofree char *spath = ml_path_join(adir, "stream-dst.bin");
	ml_autofree char *epath = ml_path_join(adir, "qemu-dst.stderr");
	char *stream = NULL, *stderr_text = NULL;
	size_t slen = 0, elen = 0;
	struct ml_judge_rules rules;
	json_t *doc, *fig;
	(void)state;

	assert_int_equal(ml_mkdir_p(adir, 0755), 0);
	doc = ml_json_load_file(ml_test_data("failures/section-unknown-7.2-to-10.0/cell.json"), 1 << 24);
	assert_non_null(doc);
	ml_json_set_str(doc, "outcome", ml_json_str(doc, "verdict"));
	json_object_del(doc, "verdict");
	ml_json_set_str(json_object_get(doc, "logs"), "stream_dst", "stream-dst.bin");
	fig = json_object_get(json_array_get(json_object_get(doc, "phases"), 1), "figures");
	ml_json_set(fig, "stream", json_pack("{s:{s:b, s:i}}", "capture", "complete", 0, "stream_bytes", 2000));
	assert_int_equal(ml_json_write_file(apath, doc), 0);
	assert_int_equal(ml_read_file(ml_test_data("streams/qemu-7.2.22-pc-q35-7.2-small.bin"), 1 << 20, &stream,
				      &slen), 0);
	assert_true(slen > 2000);
	assert_int_equal(ml_write_atomic(spath, stream, 2000, 0644), 0);
	assert_int_equal(ml_read_file(ml_test_data("failures/section-unknown-7.2-to-10.0/qemu-dst.stderr"),
				      1 << 20, &stderr_text, &elen), 0);
	assert_int_equal(ml_write_atomic(epath, stderr_text, elen, 0644), 0);
	unsetenv("MIGLAB_KNOWN_ISSUES");
	assert_int_equal(ml_judge_rules_load(&rules), 0);

	for (int complete = 0; complete < 2; complete++) {
		ml_autofree char *cpath = ml_path_join(cell, ML_LAYOUT_CELL_FILE);
		json_t *c, *failure;
		if (complete) {
			ml_json_set(json_object_get(fig, "stream"), "capture",
				    json_pack("{s:b, s:i}", "complete", 1, "stream_bytes", 2000));
			assert_int_equal(ml_json_write_file(apath, doc), 0);
		}
		assert_int_equal(ml_judge_run(&rules, run, NULL), 0);
		c = ml_json_load_file(cpath, 1 << 24);
		assert_non_null(c);
		failure = json_object_get(c, "failure");
		assert_string_equal(ml_json_str(failure, "class"), "section-unknown");
		assert_string_equal(ml_json_str(failure, "device"), "0000:00:05.0/virtio-balloon");
		if (!complete) {
			assert_non_null(strstr(ml_json_str(failure, "stream"),
					       "the capture of this stream was cut after 2000 bytes"));
			assert_null(strstr(ml_json_str(failure, "stream"), "did not send"));
			assert_false(ml_json_bool(failure, "capture_complete", true));
		} else {
			assert_non_null(strstr(ml_json_str(failure, "stream"), "the source did not send device"));
		}
		json_decref(c);
	}
	free(stream);
	free(stderr_text);
	json_decref(doc);
	ml_judge_rules_clear(&rules);
	ml_test_rmtree(tmp);
}

/* reboot-dst against both references: boot-src and the destination
 * build's own fresh boot (its control cell). Recorded: 10.0.2 -> 10.0.13 on
 * pc-q35-10.0; after the reset on 10.0.13 the guest sees 10.0.13's virtqueue
 * sizes (not boot-src's), but still the SeaBIOS of 10.0.2 (the firmware came
 * in the migrated RAM and survives a reset): neither build's fresh boot. */
static void test_reboot_dst_has_two_references(void **state)
{
	struct fx f;
	json_t *c, *fd;
	size_t i, against_dst = 0;
	(void)state;

	fx_open(&f, "reboot-reference");
	json_decref(judge_run(&f));
	c = load_cell(&f, "bookworm-backports-to-trixie-pc-q35-10.0-k-bookworm-ba25e3c2");
	json_array_foreach(json_object_get(c, "findings"), i, fd) {
		json_t *ref = json_object_get(fd, "reference");
		if (!str_is(ml_json_str(fd, "phase"), "reboot-dst"))
			continue;
		assert_non_null(ref);
		assert_string_equal(ml_json_str(ref, "matches"), "neither");
		assert_string_equal(ml_json_str(ref, "destination_boot"),
				    "cell trixie-to-trixie-pc-q35-10.0-k-bookworm-4d28deba");
		/* Only firmware the source brought along differs from the
		 * destination's own boot: information; the change from boot-src
		 * is the machine-type ABI entry's (below), information here. */
		assert_string_equal(ml_json_str(fd, "severity"), "info");
		assert_true(ml_json_int(ref, "differences_from_boot_src", 0) > 0);
		if (str_is(ml_json_str(fd, "against"), "destination-boot")) {
			against_dst++;
			assert_int_equal(ml_json_int(fd, "count", 0), ml_json_int(ref, "differences_from_destination_boot", -1));
			assert_non_null(strstr(ml_json_str(fd, "summary"), "SMBIOS type 0 (BIOS Information) string 2"));
			assert_non_null(strstr(ml_json_str(fd, "summary"), "1.16.3-debian-1.16.3-2~bpo12+1"));
			assert_null(strstr(ml_json_str(fd, "summary"), "queue 0 size"));
		}
	}
	assert_int_equal(against_dst, 1);
	/* The virtqueue sizes the builds boot with differ: a machine-type
	 * ABI break of pc-q35-10.0, reported once for the pair, and the cell
	 * points at it. */
	{
		json_t *run = ml_run_file_load(f.run), *e;
		size_t n_break = 0;
		json_array_foreach(json_object_get(run, "machine_abi"), i, e) {
			if (!str_is(ml_json_str(e, "id"), "debian:bookworm-backports..debian:trixie@pc-q35-10.0"))
				continue;
			n_break++;
			assert_string_equal(ml_json_str(e, "verdict"), "break");
			assert_string_equal(ml_json_str(json_object_get(json_object_get(e, "kinds"), "virtio-queue"),
							"severity"),
					    "error");
			assert_string_equal(ml_json_str(json_object_get(json_object_get(e, "kinds"), "firmware-version"),
							"severity"),
					    "info");
		}
		assert_int_equal(n_break, 1);
		assert_string_equal(ml_json_str(json_object_get(json_object_get(c, "abi"), "machine_type"), "verdict"),
				    "break");
		assert_string_equal(ml_json_str(json_object_get(c, "abi"), "severity"), "info");
		json_decref(run);
	}
	/* The control itself has no such reference. */
	json_decref(c);
	c = load_cell(&f, "trixie-to-trixie-pc-q35-10.0-k-bookworm-4d28deba");
	json_array_foreach(json_object_get(c, "findings"), i, fd)
		assert_null(json_object_get(fd, "reference"));
	json_decref(c);
	fx_close(&f);
}

/* Edit the dump of a phase of a fixture cell's first attempt. */
static void edit_dump(const struct fx *f, const char *cell, const char *phase, void (*edit)(json_t *))
{
	ml_autofree char *dir = ml_layout_cell_dir(f->run, cell);
	ml_autofree char *rel = ml_strdup_printf("attempts/1/abi-%s.json", phase);
	ml_autofree char *path = ml_path_join(dir, rel);
	json_t *dump = ml_json_load_file(path, 64 << 20);

	assert_non_null(dump);
	edit(dump);
	assert_int_equal(ml_json_write_file(path, dump), 0);
	json_decref(dump);
}

static void drop_sse(json_t *dump)
{
	json_t *l;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(dump, "cpuid"), "leaves"), i, l)
		if (ml_json_int(l, "leaf", -1) == 1 && ml_json_int(l, "subleaf", -1) == 0)
			ml_json_set_int(l, "edx", ml_json_int(l, "edx", 0) & ~(1LL << 25));
}

static void firmware_string(json_t *dump)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(dump, "smbios"), "structures"), i, s)
		if (ml_json_int(s, "type", -1) == 0)
			json_array_set_new(json_object_get(s, "strings"), 1, json_string("9.9-hand-made"));
}

#define CTL_TRIXIE "trixie-to-trixie-pc-q35-10.0-k-bookworm-4d28deba"

/* A CPU feature lost under the running guest (live-dst against the same
 * boot) fails the cell, naming the feature; the same change at back-src is
 * judged against reboot-dst (the boot the guest is in after its reset on the
 * destination), not boot-src. */
static void test_live_cpu_feature_lost_fails(void **state)
{
	struct fx f;
	json_t *c, *fd;
	size_t i, live = 0;
	(void)state;

	fx_open(&f, "reboot-reference");
	edit_dump(&f, CTL_TRIXIE, "live-dst", drop_sse);
	json_decref(judge_run(&f));
	c = load_cell(&f, CTL_TRIXIE);
	assert_string_equal(ml_json_str(c, "verdict"), "fail");
	assert_string_equal(ml_json_str(json_object_get(c, "failure"), "class"), "abi-changed-live");
	assert_non_null(strstr(ml_json_str(c, "reason"), "under the running guest at live-dst"));
	assert_non_null(strstr(ml_json_str(c, "reason"), "cpu-feature"));
	assert_non_null(strstr(ml_json_str(c, "reason"), "(sse)"));
	assert_string_equal(ml_json_str(json_object_get(c, "abi"), "severity"), "fail");
	json_array_foreach(json_object_get(c, "findings"), i, fd)
		if (str_is(ml_json_str(fd, "kind"), "abi-change") && str_is(ml_json_str(fd, "phase"), "live-dst")) {
			live++;
			assert_string_equal(ml_json_str(fd, "against"), "boot-src");
			assert_string_equal(ml_json_str(fd, "severity"), "fail");
			assert_string_equal(ml_json_str(fd, "first_kind"), "cpu-feature");
		}
	assert_int_equal(live, 1);
	json_decref(c);
	fx_close(&f);

	/* back-src: its reference is the boot it is in (reboot-dst). */
	fx_open(&f, "reboot-reference");
	edit_dump(&f, CTL_TRIXIE, "back-src", drop_sse);
	json_decref(judge_run(&f));
	c = load_cell(&f, CTL_TRIXIE);
	assert_string_equal(ml_json_str(c, "verdict"), "fail");
	json_array_foreach(json_object_get(c, "findings"), i, fd)
		if (str_is(ml_json_str(fd, "kind"), "abi-change") && str_is(ml_json_str(fd, "phase"), "back-src")) {
			assert_string_equal(ml_json_str(fd, "against"), "reboot-dst");
			assert_int_equal(ml_json_int(fd, "count", 0), 1);
		}
	json_decref(c);
	fx_close(&f);
}

/* The same run, but the control booted its kernel as PVH and the pair as a
 * bzImage: their memory maps below 1 MiB differ by the boot alone, so the
 * control is no fresh boot of trixie for the pair (no destination-boot
 * reference, no machine-type verdict from it). */
static void test_fresh_boot_of_another_kernel_boot_is_no_reference(void **state)
{
	struct fx f;
	json_t *c, *fd, *att;
	size_t i;
	ml_autofree char *ctl = NULL;
	(void)state;

	fx_open(&f, "reboot-reference");
	ctl = ml_strdup_printf("%s/cells/trixie-to-trixie-pc-q35-10.0-k-bookworm-4d28deba/attempts/1/"
			       "attempt.json", f.run);
	att = ml_json_load_file(ctl, 64 << 20);
	assert_non_null(att);
	ml_json_set(json_object_get(att, "inputs"), "kernel_boot",
		    json_pack("{s:s, s:s}", "requested", "auto", "used", "pvh"));
	assert_int_equal(ml_json_write_file(ctl, att), 0);
	json_decref(att);

	json_decref(judge_run(&f));
	c = load_cell(&f, "bookworm-backports-to-trixie-pc-q35-10.0-k-bookworm-ba25e3c2");
	json_array_foreach(json_object_get(c, "findings"), i, fd) {
		const char *dst_boot = ml_json_str(json_object_get(fd, "reference"), "destination_boot");
		assert_false(str_is(ml_json_str(fd, "against"), "destination-boot"));
		assert_true(!dst_boot || !strstr(dst_boot, "trixie-to-trixie"));
	}
	assert_false(str_is(ml_json_str(json_object_get(json_object_get(c, "abi"), "machine_type"), "verdict"),
			    "break"));
	json_decref(c);
	fx_close(&f);
}

/* A firmware version string that differs between a control's two fresh
 * boots (boot-src and reboot-dst of the same build): information, the cell
 * passes and needs no reader. */
static void test_firmware_string_is_information(void **state)
{
	struct fx f;
	json_t *c, *fd;
	size_t i, n = 0;
	(void)state;

	fx_open(&f, "reboot-reference");
	edit_dump(&f, CTL_TRIXIE, "reboot-dst", firmware_string);
	json_decref(judge_run(&f));
	c = load_cell(&f, CTL_TRIXIE);
	assert_string_equal(ml_json_str(c, "verdict"), "pass");
	json_array_foreach(json_object_get(c, "findings"), i, fd)
		if (str_is(ml_json_str(fd, "kind"), "abi-change") && str_is(ml_json_str(fd, "phase"), "reboot-dst")) {
			n++;
			assert_string_equal(ml_json_str(fd, "severity"), "info");
			assert_string_equal(ml_json_str(fd, "first_kind"), "firmware-version");
		}
	assert_int_equal(n, 1);
	assert_string_equal(ml_json_str(json_object_get(c, "abi"), "severity"), "info");
	json_decref(c);
	fx_close(&f);
}

/* TAP: a reason or evidence quoting a guest cannot forge a result line nor
 * send escape sequences. */
static void test_tap_is_not_forged(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(tmp, "results.tap");
	json_t *cells = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:{s:s, s:s}}]", "cell_id", "a", "verdict",
				  "skip", "reason", "no machine\nok 99 - forged", "cell_id", "b", "verdict", "fail",
				  "reason", "died", "failure", "phase", "migrate-forward", "evidence",
				  "QEMU said \x1b[2J\nnot ok 98 - forged");
	char *text = NULL;
	(void)state;

	assert_int_equal(ml_export_tap(cells, path), 0);
	assert_int_equal(ml_read_file(path, 1 << 20, &text, NULL), 0);
	assert_null(strstr(text, "\nok 99"));
	assert_null(strstr(text, "\nnot ok 98"));
	assert_null(strchr(text, '\x1b'));
	assert_non_null(strstr(text, "ok 1 - a # SKIP no machine?ok 99 - forged\n"));
	assert_non_null(strstr(text, "  #   not ok 98 - forged\n"));
	free(text);
	json_decref(cells);
	ml_test_rmtree(tmp);
}

/* The same evidence and rules give the same judgement (but its time). */
static void test_judging_is_idempotent(void **state)
{
	struct fx f;
	json_t *a, *b;
	(void)state;

	fx_open(&f, "quick-7.2-intermittent");
	json_decref(judge_run(&f));
	a = load_cell(&f, CTL_72);
	json_decref(judge_run(&f));
	b = load_cell(&f, CTL_72);
	json_object_del(a, "judged_at");
	json_object_del(b, "judged_at");
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	fx_close(&f);
}

/* A guest moved to a QEMU with a smaller CPU model (-cpu max -> qemu64)
 * hangs: a guest failure, named with the CPU models, never a lab error. */
static void test_cpu_model_lost_is_a_guest_failure(void **state)
{
	struct fx f;
	json_t *c, *cm;
	(void)state;

	fx_open(&f, "cpu-model-lost");
	json_decref(judge_run(&f));
	c = load_cell(&f, "bookworm-backports-to-bookworm-backports-pc-q35-10.0-k-bookworm-5f9cbb26");
	assert_string_equal(ml_json_str(c, "verdict"), "fail");
	assert_false(ml_json_bool(c, "control", true)); /* other -cpu on each side */
	cm = json_object_get(json_object_get(c, "failure"), "cpu_model_change");
	assert_non_null(cm);
	assert_string_equal(ml_json_str(cm, "from"), "max");
	assert_string_equal(ml_json_str(cm, "to"), "qemu64");
	assert_string_equal(ml_json_str(json_object_get(json_object_get(c, "failure"), "direction"),
					"migration"),
			    "forward");
	json_decref(c);
	fx_close(&f);
}

/* Damaged evidence: the cell is judged `error` naming the file, the others
 * are judged as usual. */
static void test_damaged_cells_are_errors_naming_the_file(void **state)
{
	struct fx f;
	json_t *sum, *c;
	ml_autofree char *cell_dir = NULL;
	ml_autofree char *attempt = NULL;
	ml_autofree char *empty = NULL;
	const char *other = "bookworm-backports-to-bookworm-backports-pc-q35-10.0-k-bookworm-56b6233f";
	(void)state;

	fx_open(&f, "quick-7.2-intermittent");
	cell_dir = ml_layout_cell_dir(f.run, other);
	attempt = ml_strdup_printf("%s/attempts/1/attempt.json", cell_dir);
	assert_int_equal(ml_write_atomic(attempt, "{\"outcome\": \"pa", 15, 0644), 0);
	empty = ml_layout_cell_dir(f.run, "no-attempts-at-all");
	assert_int_equal(ml_mkdir_p(empty, 0755), 0);

	sum = judge_run(&f);
	c = load_cell(&f, other);
	assert_string_equal(ml_json_str(c, "verdict"), "error");
	assert_non_null(strstr(ml_json_str(c, "reason"), "attempt 1 is unreadable"));
	assert_non_null(strstr(ml_json_str(c, "reason"), "attempt.json"));
	json_decref(c);
	c = load_cell(&f, "no-attempts-at-all");
	assert_string_equal(ml_json_str(c, "verdict"), "error");
	assert_non_null(strstr(ml_json_str(c, "reason"), "attempts/<N>/attempt.json"));
	json_decref(c);
	/* The rest is judged as before. */
	c = load_cell(&f, CTL_72);
	assert_string_equal(ml_json_str(c, "category"), "intermittent");
	json_decref(c);
	assert_int_equal(ml_json_int(json_object_get(sum, "judgements"), "error", 0), 2);
	json_decref(sum);
	fx_close(&f);
}

/* A known issue turns a failure into xfail: the rules, not the evidence. */
static void test_known_issue_rejudges_old_runs(void **state)
{
	struct fx f;
	json_t *c;
	ml_autofree char *ki = NULL;
	ml_autofree char *path = NULL;
	(void)state;

	fx_open(&f, "quick-7.2-intermittent");
	json_decref(judge_run(&f));
	c = load_cell(&f, CTL_72);
	assert_string_equal(ml_json_str(c, "verdict"), "fail");
	json_decref(c);

	ki = strdup("[issue tcg-72-source]\nsrc = 7.2\ndst = 7.2\nclass = guest-panicked\n"
		    "note = QEMU 7.2.22 corrupts guest memory as a source under TCG on some hosts\n");
	path = ml_path_join(f.tmp, "known.ini");
	assert_int_equal(ml_write_atomic(path, ki, strlen(ki), 0644), 0);
	setenv("MIGLAB_KNOWN_ISSUES", path, 1);
	ml_judge_rules_clear(&f.rules);
	assert_int_equal(ml_judge_rules_load(&f.rules), 0);
	json_decref(judge_run(&f));
	c = load_cell(&f, CTL_72);
	assert_string_equal(ml_json_str(c, "verdict"), "xfail");
	assert_string_equal(ml_json_str(json_object_get(c, "known_issue"), "id"), "tcg-72-source");
	json_decref(c);
	unsetenv("MIGLAB_KNOWN_ISSUES");
	fx_close(&f);
}

/* Results from before attempts existed (evidence beside cell.json,
 * miglab-cell/1) are judged as one attempt, again and again. */
static void test_legacy_cells_are_judged(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *run = ml_path_join(tmp, "old-run");
	ml_autofree char *cell = ml_layout_cell_dir(run, "section-unknown-7.2-to-10.0");
	const char *argv[] = { "/bin/cp", "-a", NULL, NULL, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	struct ml_judge_rules rules;
	int status;
	(void)state;

	{
		ml_autofree char *cells = ml_path_join(run, ML_LAYOUT_CELLS_DIR);
		assert_int_equal(ml_mkdir_p(cells, 0755), 0);
	}
	argv[2] = ml_test_data("failures/section-unknown-7.2-to-10.0");
	argv[3] = cell;
	assert_int_equal(ml_proc_run(&spec, 60000, NULL, NULL, &status), 0);
	assert_int_equal(status, 0);
	unsetenv("MIGLAB_KNOWN_ISSUES");
	assert_int_equal(ml_judge_rules_load(&rules), 0);
	for (int round = 0; round < 2; round++) {
		ml_autofree char *path = ml_path_join(cell, ML_LAYOUT_CELL_FILE);
		json_t *doc;
		assert_int_equal(ml_judge_run(&rules, run, NULL), 0);
		doc = ml_json_load_file(path, 1 << 24);
		assert_non_null(doc);
		assert_string_equal(ml_json_str(doc, "verdict"), "fail");
		assert_string_equal(ml_json_str(json_object_get(doc, "failure"), "class"), "section-unknown");
		assert_int_equal(json_array_size(json_object_get(doc, "attempts")), 1);
		assert_null(json_object_get(doc, "evidence_dir"));
		json_decref(doc);
	}
	ml_judge_rules_clear(&rules);
	ml_test_rmtree(tmp);
}

static void test_exit_status_mapping(void **state)
{
	(void)state;
	assert_int_equal(ml_verdict_exit_status("pass"), 0);
	assert_int_equal(ml_verdict_exit_status("skip"), 0);
	assert_int_equal(ml_verdict_exit_status("xfail"), 0);
	assert_int_equal(ml_verdict_exit_status("fail"), 1);
	assert_int_equal(ml_verdict_exit_status("xpass"), 1);
	assert_int_equal(ml_verdict_exit_status("error"), 2);
	assert_int_equal(ml_verdict_exit_status(NULL), 2);
	assert_string_equal(ml_judge_phase_direction("reboot-dst"), "forward");
	assert_string_equal(ml_judge_phase_direction("back-src"), "back");
	assert_null(ml_judge_phase_direction("boot-src"));
}

/* The static vmstate check's finding carries the worst severity of the
 * cell's vmstate.json (made here the way ml_vmstate_check_cell makes it,
 * from real -dump-vmstate excerpts): an error-severity difference is an
 * error, not a warning. */
#define CPU_CELL "bookworm-backports-to-bookworm-backports-pc-q35-10.0-k-bookworm-5f9cbb26"

static json_t *vmstate_direction(json_t *src, json_t *dst)
{
	json_t *findings = ml_vmstate_compare(src, dst, NULL);
	assert_non_null(findings);
	return json_pack("{s:I, s:I, s:I, s:o}", "errors",
			 (json_int_t)ml_vmstate_count(findings, "error"), "warnings",
			 (json_int_t)ml_vmstate_count(findings, "warning"), "infos",
			 (json_int_t)ml_vmstate_count(findings, "info"), "findings", findings);
}

/* Judge the cell with vmstate.json holding old -> new and back; the
 * vmstate finding, or NULL. */
static json_t *judge_with_vmstate(struct fx *f, json_t *old, json_t *new)
{
	ml_autofree char *cell = ml_layout_cell_dir(f->run, CPU_CELL);
	ml_autofree char *dir = ml_layout_attempt_dir(cell, 1);
	ml_autofree char *apath = ml_path_join(dir, "attempt.json");
	ml_autofree char *vpath = ml_path_join(dir, "vmstate.json");
	json_t *attempt = ml_json_load_file(apath, 64 << 20), *res, *doc = NULL, *x, *found = NULL;
	json_t *fwd = vmstate_direction(old, new), *back = vmstate_direction(new, old);
	size_t i;

	res = json_pack("{s:s, s:I, s:o, s:o}", "machine", "pc-q35-7.2", "errors",
			(json_int_t)(ml_json_int(fwd, "errors", 0) + ml_json_int(back, "errors", 0)),
			"forward", fwd, "back", back);
	assert_int_equal(ml_json_write_file(vpath, res), 0);
	json_decref(res);
	assert_non_null(attempt);
	ml_json_set_str(json_object_get(attempt, "logs"), "vmstate", "vmstate.json");
	assert_int_equal(ml_json_write_file(apath, attempt), 0);
	json_decref(attempt);
	assert_int_equal(ml_judge_cell(&f->rules, cell, &doc), 0);
	json_array_foreach(json_object_get(doc, "findings"), i, x)
		if (str_is(ml_json_str(x, "kind"), "vmstate")) {
			assert_null(found);
			found = json_incref(x);
		}
	json_decref(doc);
	return found;
}

static void test_vmstate_severity_is_the_worst(void **state)
{
	struct fx f;
	json_t *old = ml_json_load_file(ml_test_data("vmstate/qemu-7.2.22-pc-q35-7.2.json"), 1 << 22);
	json_t *new = ml_json_load_file(ml_test_data("vmstate/qemu-10.0.2-pc-q35-7.2.json"), 1 << 22);
	json_t *x, *rtc;
	(void)state;

	assert_non_null(old);
	assert_non_null(new);
	fx_open(&f, "cpu-model-lost");
	/* real: only i8259/ltim differs once hpet's known rename is out of the
	 * way (a warning back, info forward) */
	json_object_del(old, "hpet");
	json_object_del(new, "hpet");
	x = judge_with_vmstate(&f, old, new);
	assert_non_null(x);
	assert_string_equal(ml_json_str(x, "severity"), "warn");
	assert_int_equal(ml_json_int(x, "errors", -1), 0);
	json_decref(x);
	/* 10.0 reads mc146818rtc at version 4 at least: an error forward */
	rtc = json_object_get(json_object_get(new, "mc146818rtc"), "Description");
	json_object_set_new(rtc, "minimum_version_id", json_integer(4));
	json_object_set_new(rtc, "version_id", json_integer(4));
	x = judge_with_vmstate(&f, old, new);
	assert_non_null(x);
	assert_string_equal(ml_json_str(x, "severity"), "error");
	assert_int_equal(ml_json_int(json_object_get(x, "forward"), "errors", -1), 1);
	json_decref(x);
	/* info only: a load-time check (VMSTATE_VALIDATE, no bytes on the
	 * wire) that only 10.0 has; i8259's ltim taken out of the way */
	json_decref(old);
	json_decref(new);
	old = ml_json_load_file(ml_test_data("vmstate/qemu-7.2.22-pc-q35-7.2.json"), 1 << 22);
	new = ml_json_load_file(ml_test_data("vmstate/qemu-10.0.2-pc-q35-7.2.json"), 1 << 22);
	json_object_del(old, "hpet");
	json_object_del(new, "hpet");
	json_object_del(old, "isa-i8259");
	json_object_del(new, "isa-i8259");
	rtc = json_object_get(json_object_get(new, "mc146818rtc"), "Description");
	json_array_append_new(json_object_get(rtc, "Fields"),
			      json_pack("{s:s, s:i, s:b, s:i}", "field", "rtc_valid", "version_id", 0,
					"field_exists", 1, "size", 0));
	x = ml_vmstate_compare(new, old, NULL);
	assert_int_equal(json_array_size(x), 1);
	assert_int_equal(ml_vmstate_count(x, "info"), 1);
	json_decref(x);
	x = judge_with_vmstate(&f, old, new);
	assert_null(x);
	fx_close(&f);
	json_decref(old);
	json_decref(new);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status_mapping),
		cmocka_unit_test(test_intermittent_control),
		cmocka_unit_test(test_source_unsound),
		cmocka_unit_test(test_judging_is_idempotent),
		cmocka_unit_test(test_cpu_model_lost_is_a_guest_failure),
		cmocka_unit_test(test_damaged_cells_are_errors_naming_the_file),
		cmocka_unit_test(test_known_issue_rejudges_old_runs),
		cmocka_unit_test(test_legacy_cells_are_judged),
		cmocka_unit_test(test_cut_capture_claims_nothing),
		cmocka_unit_test(test_reboot_dst_has_two_references),
		cmocka_unit_test(test_fresh_boot_of_another_kernel_boot_is_no_reference),
		cmocka_unit_test(test_live_cpu_feature_lost_fails),
		cmocka_unit_test(test_tap_is_not_forged),
		cmocka_unit_test(test_firmware_string_is_information),
		cmocka_unit_test(test_vmstate_severity_is_the_worst),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
