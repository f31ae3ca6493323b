/* The judging stage's part about the guest-visible ABI (judge-internal.h,
 * docs/abi-severity.md, docs/abi-crosscheck.md): each phase's dump against
 * its reference, ranked by kind; QEMU's own view against the guest's; the
 * run's machine-type ABI verdicts, reboot-dst against the destination's own
 * boot, boot-src against baselines. */
#include <stdio.h>
#include <string.h>

#include "abi-baseline.h"
#include "abi-crosscheck.h"
#include "abi-diff.h"
#include "abi-kinds.h"
#include "judge-internal.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "ml-common.h"

/* QEMU's own view of a phase (qemu-<phase>.json, QMP answers the guest
 * partly shapes): the largest of 928 is 54,081 bytes. */
#define QEMU_VIEW_MAX_BYTES ((size_t)4 << 20)

/* The phases with an ABI dump, in cell order. */
static const char *const abi_phases[] = { "boot-src", "live-dst", "reboot-dst", "back-src" };
enum { ABI_BOOT_SRC, ABI_LIVE_DST, ABI_REBOOT_DST, ABI_BACK_SRC, ABI_NPHASES };

/* Overrides of the kinds' severities the matrix gave ([abi] severity.KIND). */
static const json_t *abi_overrides(const json_t *doc)
{
	return json_object_get(json_object_get(doc, "inputs"), "abi_severities");
}

/* The first difference of the worst severity in an annotated list. */
const json_t *ml_judge_abi_worst(const json_t *diffs)
{
	const json_t *best = NULL, *d;
	size_t i;

	json_array_foreach(diffs, i, d)
		if (!best || ml_abi_severity_parse(ml_json_str(d, "severity")) >
				     ml_abi_severity_parse(ml_json_str(best, "severity")))
			best = d;
	return best;
}

/* An abi-change finding from an annotated list of differences. */
static json_t *abi_finding(const char *phase, const char *against, const char *severity, json_t *diffs)
{
	ml_autofree char *text = ml_abi_diff_json_to_text(diffs);
	const json_t *w = ml_judge_abi_worst(diffs);
	json_t *f = json_object(), *summary = json_string(text ? text : "");

	ml_json_set_str(f, "kind", "abi-change");
	ml_json_set_str(f, "phase", phase);
	ml_json_set_str(f, "against", against);
	ml_json_set_str(f, "severity", severity);
	ml_json_set_int(f, "count", (long long)json_array_size(diffs));
	ml_json_set(f, "kinds", ml_abi_kinds_count(diffs));
	ml_json_set(f, "summary", summary ? summary : json_string("(not valid UTF-8; see the file)"));
	ml_json_set_str(f, "first", ml_json_str(w, "key"));
	ml_json_set_str(f, "first_kind", ml_json_str(w, "kind"));
	ml_json_set(f, "differences", diffs);
	return f;
}

/* Diff each later ABI dump against its reference and rank the differences
 * by kind (abi-kinds.txt):
 *   live-dst  against boot-src: the same boot, live (a lost CPU feature,
 *             MSR, virtio feature or device fails the attempt);
 *   reboot-dst against boot-src: two fresh boots (the run then also
 *             compares it with the destination build's own boot);
 *   back-src  against the boot it is in: reboot-dst when the guest was
 *             reset on the destination, else boot-src; live.
 * With severity "fail" (strict, [abi] severity = fail) any difference
 * fails. *worst receives the first finding that fails the attempt. */
int ml_judge_abi_attempt(const struct ml_judge_rules *r, json_t *doc, const char *dir,
		     const char *severity, const json_t **worst)
{
	json_t *logs = json_object_get(doc, "logs");
	json_t *findings = json_object_get(doc, "findings");
	json_t *dumps[ABI_NPHASES] = { 0 };
	struct ml_abi_diff_options o = { .iasl = r->iasl };
	bool strict = ml_str_eq(severity, "fail");
	int ret = 0;

	*worst = NULL;
	/* A phase whose dump the cell refused (over its bounds, results/abi.h)
	 * has nothing to compare: say so, or its absence would pass unseen. */
	{
		json_t *ph;
		size_t k;

		json_array_foreach(json_object_get(doc, "phases"), k, ph) {
			const char *why = ml_json_str(ph, "abi_refused");
			if (why)
				json_array_append_new(
					findings, json_pack("{s:s, s:s, s:s, s:s}", "kind",
							    "abi-dump-refused", "phase",
							    ml_json_str(ph, "name") ? ml_json_str(ph, "name") : "?",
							    "severity", "warn", "error", why));
		}
	}
	for (int i = 0; i < ABI_NPHASES; i++) {
		ml_autofree char *key = ml_strdup_printf("abi_%s", abi_phases[i]);
		ml_autofree char *path = NULL;
		const char *name = ml_json_str(logs, key);
		if (!name || strchr(name, '/'))
			continue;
		path = ml_path_join(dir, name);
		dumps[i] = ml_abi_load(path);
		if (!dumps[i]) {
			ret = ml_error_context("the %s ABI dump", abi_phases[i]);
			goto out;
		}
	}
	if (!dumps[ABI_BOOT_SRC])
		goto out;
	for (int i = ABI_LIVE_DST; i < ABI_NPHASES; i++) {
		int ref = ABI_BOOT_SRC;
		enum ml_abi_mode mode = i == ABI_REBOOT_DST ? ML_ABI_BOOTS : ML_ABI_LIVE;
		struct ml_abi_diff d = { 0 };
		enum ml_abi_severity w;
		const char *sev;
		json_t *diffs, *f, *ph;
		size_t k;

		if (!dumps[i])
			continue;
		if (i == ABI_BACK_SRC && dumps[ABI_REBOOT_DST] &&
		    ml_str_eq(ml_json_str(dumps[ABI_REBOOT_DST], "boot_id"), ml_json_str(dumps[i], "boot_id")))
			ref = ABI_REBOOT_DST;
		if (ml_abi_diff_dumps(dumps[ref], dumps[i], r->abi_volatile, &o, &d) < 0) {
			ret = ml_error_context("the %s ABI dump", abi_phases[i]);
			goto out;
		}
		/* The phase's figure: differences against its reference (0 too). */
		json_array_foreach(json_object_get(doc, "phases"), k, ph)
			if (ml_str_eq(ml_json_str(ph, "name"), abi_phases[i]) &&
			    json_is_object(json_object_get(ph, "figures")))
				ml_json_set_int(json_object_get(ph, "figures"), "abi_differences", (long long)d.n);
		if (!d.n)
			continue;
		{
			ml_autofree char *text = ml_abi_diff_to_text(&d);
			ml_autofree char *file = ml_strdup_printf("abi-diff-%s.txt", abi_phases[i]);
			ml_autofree char *fpath = ml_path_join(dir, file);
			ml_autofree char *fkey = ml_strdup_printf("abi_diff_%s", abi_phases[i]);
			ml_write_atomic(fpath, text, strlen(text), 0644);
			ml_json_set_str(logs, fkey, file);
		}
		diffs = ml_abi_diff_to_json(&d);
		ml_abi_diff_clear(&d);
		w = ml_abi_kinds_annotate(r->abi_kinds, diffs, mode, abi_overrides(doc),
					  mode == ML_ABI_BOOTS && ml_abi_firmware_differs(dumps[ref], dumps[i]));
		sev = strict ? "fail" : ml_abi_severity_name(w);
		f = abi_finding(abi_phases[i], abi_phases[ref], sev, diffs);
		if (mode == ML_ABI_LIVE)
			ml_json_set_str(f, "reference", "the same boot of the guest, before the migration");
		json_array_append_new(findings, f);
		if (!*worst && ml_str_eq(sev, "fail"))
			*worst = f;
	}
out:
	for (int i = 0; i < ABI_NPHASES; i++)
		json_decref(dumps[i]);
	return ret;
}

/* The guest's dump of each phase against QEMU's own view recorded beside it
 * (qemu-<phase>.json, results/abi-crosscheck.h): disagreements are a finding.
 * A failure whose evidence is a virtqueue size refusal gets the queue size
 * the source QEMU's view shows as its explanation. Replaces what an earlier
 * judgement added. */
void ml_judge_abi_crosscheck(json_t *doc, const char *dir)
{
	static const char *const phases[] = { "boot-src", "live-dst", "reboot-dst", "back-src" };
	json_t *logs = json_object_get(doc, "logs");
	json_t *findings = json_object_get(doc, "findings");
	json_t *failure = json_object_get(doc, "failure");
	json_t *f, *views[ML_ARRAY_SIZE(phases)] = { 0 };
	size_t i;

	for (i = json_array_size(findings); i-- > 0;)
		if (ml_str_eq(ml_json_str(json_array_get(findings, i), "kind"), "abi-crosscheck"))
			json_array_remove(findings, i);
	json_object_del(failure, "explained_by");
	for (i = 0; i < ML_ARRAY_SIZE(phases); i++) {
		ml_autofree char *akey = ml_strdup_printf("abi_%s", phases[i]);
		ml_autofree char *qkey = ml_strdup_printf("qemu_%s", phases[i]);
		const char *aname = ml_json_str(logs, akey), *qname = ml_json_str(logs, qkey);
		ml_autofree char *apath = NULL;
		ml_autofree char *qpath = NULL;
		ml_autofree char *text = NULL;
		struct ml_xcheck x = { 0 };
		json_t *dump;

		if (!qname || strchr(qname, '/'))
			continue;
		qpath = ml_path_join(dir, qname);
		views[i] = ml_json_load_file(qpath, QEMU_VIEW_MAX_BYTES);
		if (!aname || strchr(aname, '/') || !views[i])
			continue;
		apath = ml_path_join(dir, aname);
		dump = ml_abi_load(apath);
		if (!dump || ml_xcheck_compare(dump, views[i], &x) < 0) {
			f = json_pack("{s:s, s:s, s:s, s:s}", "kind", "abi-crosscheck", "phase", phases[i],
				      "severity", "info", "error", ml_error_message());
			json_array_append_new(findings, f);
			json_decref(dump);
			ml_xcheck_clear(&x);
			continue;
		}
		json_decref(dump);
		{
			/* The phase's figures: disagreements (0 too) and values checked. */
			size_t k;
			json_t *ph;
			json_array_foreach(json_object_get(doc, "phases"), k, ph)
				if (ml_str_eq(ml_json_str(ph, "name"), phases[i]) &&
				    json_is_object(json_object_get(ph, "figures"))) {
					ml_json_set_int(json_object_get(ph, "figures"), "qemu_disagreements",
							(long long)x.n);
					ml_json_set_int(json_object_get(ph, "figures"), "qemu_checked",
							(long long)x.checked);
					if (json_array_size(x.not_compared))
						ml_json_set(json_object_get(ph, "figures"), "qemu_not_compared",
							    json_incref(x.not_compared));
				}
		}
		if (x.n) {
			text = ml_xcheck_to_text(&x);
			f = json_object();
			ml_json_set_str(f, "kind", "abi-crosscheck");
			ml_json_set_str(f, "phase", phases[i]);
			ml_json_set_str(f, "severity", "warn");
			ml_json_set_int(f, "count", (long long)x.n);
			ml_json_set_int(f, "checked", (long long)x.checked);
			ml_json_set(f, "summary", ml_json_string_text(text));
			ml_json_set(f, "disagreements", ml_xcheck_to_json(&x));
			ml_json_set(f, "not_compared", json_incref(x.not_compared));
			json_array_append_new(findings, f);
		}
		ml_xcheck_clear(&x);
	}
	if (failure) {
		/* The migration's source: boot-src's QEMU forward, the destination's
		 * (after its reboot, else live) back. */
		const char *mig = ml_json_str(json_object_get(failure, "direction"), "migration");
		const json_t *src_view = ml_str_eq(mig, "back") ? (views[2] ? views[2] : views[1]) : views[0];
		json_t *why = ml_xcheck_explain_failure(ml_json_str(failure, "evidence"),
							ml_json_str(failure, "device"), src_view);
		if (why) {
			ml_json_set_str(why, "view", ml_str_eq(mig, "back") ? (views[2] ? "qemu-reboot-dst.json"
										 : "qemu-live-dst.json")
								       : "qemu-boot-src.json");
			ml_json_set(failure, "explained_by", json_pack("[o]", why));
		}
	}
	for (i = 0; i < ML_ARRAY_SIZE(phases); i++)
		json_decref(views[i]);
	ml_error_reset();
}

/* The worst severity of a cell's ABI findings, and its pair's machine-type
 * ABI verdict: cell.json "abi". */
void ml_judge_abi_cell(json_t *doc, const json_t *entry)
{
	int worst = ML_ABI_NONE;
	json_t *f, *abi = json_object();
	size_t i;

	json_array_foreach(json_object_get(doc, "findings"), i, f) {
		const char *k = ml_json_str(f, "kind");
		int s = ml_abi_severity_parse(ml_json_str(f, "severity"));
		if (k && strncmp(k, "abi-", 4) == 0 && s > worst)
			worst = s;
	}
	ml_json_set_str(abi, "severity", ml_abi_severity_name((enum ml_abi_severity)worst));
	if (entry)
		ml_json_set(abi, "machine_type",
			    json_pack("{s:s?, s:s?, s:s?}", "verdict", ml_json_str(entry, "verdict"), "severity",
				      ml_json_str(entry, "severity"), "id", ml_json_str(entry, "id")));
	ml_json_set(doc, "abi", abi);
}

/* An ABI dump named by a judged cell's logs (key abi_<phase>), from the
 * attempt it is shown by; NULL when there is none. */
static json_t *cell_dump(const char *cells_dir, json_t *doc, const char *phase)
{
	ml_autofree char *key = ml_strdup_printf("abi_%s", phase);
	const char *name = ml_json_str(json_object_get(doc, "logs"), key);
	const char *id = ml_json_str(doc, "cell_id");
	ml_autofree char *cdir = NULL;
	ml_autofree char *edir = NULL;
	ml_autofree char *path = NULL;
	json_t *dump;

	if (!name || strchr(name, '/') || !ml_layout_valid_cell_id(id))
		return NULL;
	cdir = ml_path_join(cells_dir, id);
	edir = ml_layout_evidence_dir(cdir, doc);
	path = ml_path_join(edir, name);
	dump = ml_abi_load(path);
	ml_error_reset();
	return dump;
}

/* The baseline directory of a cell: the rules' override, else its matrix's. */
static const char *baselines_dir(const struct ml_judge_rules *r, const json_t *doc)
{
	return r->abi_baselines ? r->abi_baselines : ml_judge_input(doc, "abi_baselines");
}

/* A fresh boot of build `provider` (version `version`) with this cell's
 * machine type and kernel: the boot-src dump of its control cell, else of
 * another cell it is the source of, else its recorded baseline. *what
 * receives where it came from ("cell ID", "baseline FILE"). */
static json_t *fresh_boot(const struct ml_judge_rules *r, json_t *cells, const char *cells_dir, const json_t *like,
			  const char *provider, const char *version, char **what)
{
	json_t *c, *dump = NULL;
	size_t i;

	*what = NULL;
	for (int pass = 0; pass < 2 && !dump; pass++)
		json_array_foreach(cells, i, c) {
			if (!ml_str_eq(ml_judge_side(c, "src", "provider"), provider) ||
			    !ml_str_eq(ml_judge_input(c, "machine"), ml_judge_input(like, "machine")) ||
			    !ml_str_eq(ml_judge_input(c, "kernel"), ml_judge_input(like, "kernel")) ||
			    (pass == 0 && !ml_str_eq(ml_judge_side(c, "dst", "provider"), provider)))
				continue;
			if ((dump = cell_dump(cells_dir, c, "boot-src"))) {
				*what = ml_strdup_printf("cell %s", ml_json_str(c, "cell_id"));
				break;
			}
		}
	if (!dump) {
		ml_autofree char *file = NULL;
		dump = ml_abi_baseline_find(baselines_dir(r, like), version, ml_json_str(like, "machine"),
					    ml_json_str(json_object_get(json_object_get(like, "inputs"), "guest"),
							"kernel_release"),
					    &file);
		ml_error_reset();
		if (dump)
			*what = ml_strdup_printf("baseline %s", file);
	}
	return dump;
}

/* Diff two dumps as fresh boots and rank the differences; NULL when they
 * are the same (or cannot be compared). */
static json_t *boots_diff(const struct ml_judge_rules *r, const json_t *doc, const json_t *a, const json_t *b)
{
	struct ml_abi_diff d = { 0 };
	struct ml_abi_diff_options o = { .iasl = r->iasl };
	json_t *diffs;

	if (ml_abi_diff_dumps(a, b, r->abi_volatile, &o, &d) < 0) {
		ml_error_reset();
		return NULL;
	}
	if (!d.n) {
		ml_abi_diff_clear(&d);
		return json_array();
	}
	diffs = ml_abi_diff_to_json(&d);
	ml_abi_diff_clear(&d);
	ml_abi_kinds_annotate(r->abi_kinds, diffs, ML_ABI_BOOTS, abi_overrides(doc), ml_abi_firmware_differs(a, b));
	return diffs;
}

/* The worst severity in an annotated list, by name ("none" when empty). */
static const char *diffs_severity(const json_t *diffs)
{
	const json_t *w = ml_judge_abi_worst(diffs);
	return w ? ml_json_str(w, "severity") : "none";
}

/* reboot-dst has two references: boot-src (the same cell's first boot) and
 * the destination build's own fresh boot of this machine type and kernel
 * (its control cell, another cell it is the source of, or its baseline).
 * What the guest sees after its reset on the destination is then named:
 * "as the destination build boots" (a change between the builds, which the
 * run's machine-type ABI entry reports once), "as the source build boots"
 * (state imported from the source that survives a reset), the same as both,
 * or neither. The difference from the destination's own boot is then the
 * finding that carries a severity; the one from boot-src is information. */
static void judge_reboot_reference(const struct ml_judge_rules *r, json_t *cells, const char *cells_dir,
				   json_t *doc)
{
	const char *dst = ml_judge_side(doc, "dst", "provider");
	json_t *reboot = NULL, *dstboot = NULL, *f, *ref, *ph, *diffs = NULL;
	ml_autofree char *what = NULL;
	long long from_boot_src = -1;
	const char *matches;
	size_t i;

	if (ml_json_bool(doc, "control", false) || !dst)
		return;
	/* Against boot-src: judged with the attempt (judge_abi's figure). */
	json_array_foreach(json_object_get(doc, "phases"), i, ph)
		if (ml_str_eq(ml_json_str(ph, "name"), "reboot-dst"))
			from_boot_src = ml_json_int(json_object_get(ph, "figures"), "abi_differences", -1);
	if (from_boot_src < 0 || !(reboot = cell_dump(cells_dir, doc, "reboot-dst")) ||
	    !(dstboot = fresh_boot(r, cells, cells_dir, doc, dst, ml_judge_side(doc, "dst", "version"), &what)) ||
	    !(diffs = boots_diff(r, doc, dstboot, reboot)))
		goto out;
	matches = !from_boot_src && !json_array_size(diffs) ? "both"
		  : !json_array_size(diffs)		      ? "destination build"
		  : !from_boot_src			      ? "source build"
							      : "neither";
	ref = json_pack("{s:s, s:s?, s:I, s:I, s:s}", "matches", matches, "destination_boot", what,
			"differences_from_boot_src", (json_int_t)from_boot_src, "differences_from_destination_boot",
			(json_int_t)json_array_size(diffs), "text",
			!strcmp(matches, "both") ? "after its reset on the destination the guest sees what "
						   "both builds show at a fresh boot"
			: !strcmp(matches, "destination build") ? "after its reset on the destination the "
								  "guest sees what the destination build "
								  "shows at a fresh boot: an ABI change "
								  "between the builds"
			: !strcmp(matches, "source build") ? "after its reset on the destination the guest "
							     "still sees what the source build shows: state "
							     "imported from the source survives the reset"
							   : "after its reset on the destination the guest "
							     "sees neither build's fresh boot");
	/* The difference from boot-src is now explained by the reference. */
	json_array_foreach(json_object_get(doc, "findings"), i, f)
		if (ml_str_eq(ml_json_str(f, "kind"), "abi-change") && ml_str_eq(ml_json_str(f, "phase"), "reboot-dst") &&
		    ml_str_eq(ml_json_str(f, "against"), "boot-src")) {
			ml_json_set(f, "reference", json_incref(ref));
			if (!ml_str_eq(ml_json_str(f, "severity"), "fail"))
				ml_json_set_str(f, "severity", "info");
		}
	if (json_array_size(diffs)) {
		json_t *nf = abi_finding("reboot-dst", "destination-boot", diffs_severity(diffs), json_incref(diffs));
		ml_json_set(nf, "reference", json_incref(ref));
		json_array_append_new(json_object_get(doc, "findings"), nf);
	}
	json_decref(ref);
out:
	ml_error_reset();
	json_decref(diffs);
	json_decref(reboot);
	json_decref(dstboot);
}

/* boot-src against the source build's recorded baseline ([abi] baselines):
 * the same build, machine type and kernel should boot to the same ABI. */
static void judge_baseline(const struct ml_judge_rules *r, const char *cells_dir, json_t *doc)
{
	const char *dir = baselines_dir(r, doc);
	json_t *boot, *base, *diffs;
	ml_autofree char *file = NULL;

	if (!dir || !(boot = cell_dump(cells_dir, doc, "boot-src")))
		return;
	base = ml_abi_baseline_find(dir, ml_judge_side(doc, "src", "version"), ml_json_str(doc, "machine"),
				    ml_json_str(json_object_get(json_object_get(doc, "inputs"), "guest"),
						"kernel_release"),
				    &file);
	if (!base) {
		if (file) {
			ml_autofree char *why = ml_strdup_printf("the baseline %s/%s cannot be read: %s", dir, file,
								 ml_error_message());
			json_array_append_new(json_object_get(doc, "findings"),
					      json_pack("{s:s, s:s, s:s, s:s}", "kind", "abi-baseline", "phase",
							"boot-src", "severity", "warn", "error", why));
		}
		ml_error_reset();
		json_decref(boot);
		return;
	}
	diffs = boots_diff(r, doc, base, boot);
	if (diffs && json_array_size(diffs)) {
		json_t *f = abi_finding("boot-src", "baseline", diffs_severity(diffs), json_incref(diffs));
		ml_autofree char *path = ml_path_join(dir, file);
		ml_json_set_str(f, "baseline", path);
		json_array_append_new(json_object_get(doc, "findings"), f);
	}
	json_decref(diffs);
	json_decref(base);
	json_decref(boot);
}

/* "newer" order of two builds: by version, then provider. */
static int build_order(const char *va, const char *pa, const char *vb, const char *pb)
{
	int c = strverscmp(va ? va : "", vb ? vb : "");
	return c ? c : strcmp(pa ? pa : "", pb ? pb : "");
}

/* The machine-type ABI of each pair of builds the run migrated between: a
 * difference between two builds' fresh boots of the same machine type
 * breaks QEMU's promise for that machine type. One entry per (pair,
 * machine type), older build first, compared on every guest kernel both
 * booted; the differences shown are those of the kernel with the most. */
json_t *ml_judge_machine_abi(const struct ml_judge_rules *r, json_t *cells, const char *cells_dir)
{
	json_t *entries = json_array(), *c, *e;
	size_t i, k;

	json_array_foreach(cells, i, c) {
		const char *pa = ml_judge_side(c, "src", "provider"), *pb = ml_judge_side(c, "dst", "provider");
		const char *va = ml_judge_side(c, "src", "version"), *vb = ml_judge_side(c, "dst", "version");
		const char *machine = ml_judge_input(c, "machine"), *kernel = ml_judge_input(c, "kernel");
		json_t *entry = NULL, *kernels, *da = NULL, *db = NULL, *diffs;
		ml_autofree char *id = NULL, *wa = NULL, *wb = NULL;

		if (!pa || !pb || ml_str_eq(pa, pb) || !machine)
			continue;
		if (build_order(va, pa, vb, pb) > 0) {
			const char *t = pa;
			pa = pb, pb = t;
			t = va;
			va = vb, vb = t;
		}
		id = ml_strdup_printf("%s..%s@%s", pa, pb, machine);
		json_array_foreach(entries, k, e)
			if (ml_str_eq(ml_json_str(e, "id"), id))
				entry = e;
		if (!entry) {
			entry = json_pack("{s:s, s:{s:s, s:s?}, s:{s:s, s:s?}, s:s, s:[], s:[]}", "id", id, "a",
					  "provider", pa, "version", va, "b", "provider", pb, "version", vb,
					  "machine", machine, "kernels", "cells");
			json_array_append_new(entries, entry);
		}
		json_array_append_new(json_object_get(entry, "cells"), json_string(ml_json_str(c, "cell_id")));
		kernels = json_object_get(entry, "kernels");
		json_array_foreach(kernels, k, e)
			if (ml_str_eq(ml_json_str(e, "kernel"), kernel))
				break;
		if (k < json_array_size(kernels))
			continue;
		if (!(da = fresh_boot(r, cells, cells_dir, c, pa, va, &wa)) ||
		    !(db = fresh_boot(r, cells, cells_dir, c, pb, vb, &wb)) || !(diffs = boots_diff(r, c, da, db))) {
			json_decref(da);
			json_decref(db);
			continue;
		}
		json_array_append_new(kernels, json_pack("{s:s?, s:s, s:s, s:I, s:s, s:o}", "kernel", kernel, "a_boot",
							 wa, "b_boot", wb, "count",
							 (json_int_t)json_array_size(diffs), "severity",
							 diffs_severity(diffs), "differences", diffs));
		json_decref(da);
		json_decref(db);
	}
	/* Each entry's verdict from its worst kernel. */
	json_array_foreach(entries, i, e) {
		json_t *kernels = json_object_get(e, "kernels"), *kv, *shown = NULL;
		int worst = ML_ABI_NONE;
		json_array_foreach(kernels, k, kv) {
			int s = ml_abi_severity_parse(ml_json_str(kv, "severity"));
			if (!shown || s > worst ||
			    (s == worst && ml_json_int(kv, "count", 0) > ml_json_int(shown, "count", 0))) {
				shown = kv;
				worst = s > worst ? s : worst;
			}
		}
		if (!shown) {
			ml_json_set_str(e, "verdict", "unknown");
			ml_json_set_str(e, "text", "no fresh boot of both builds with this machine type to compare");
			continue;
		}
		{
			json_t *diffs = json_object_get(shown, "differences");
			const json_t *w = ml_judge_abi_worst(diffs);
			const char *verdict = worst >= ML_ABI_ERROR ? "break"
					      : worst == ML_ABI_WARN ? "warn"
					      : worst == ML_ABI_INFO ? "info"
								     : "same";
			ml_autofree char *summary = ml_abi_diff_json_to_text(diffs);
			ml_autofree char *text = NULL;
			ml_json_set_str(e, "verdict", verdict);
			ml_json_set_str(e, "severity", ml_abi_severity_name((enum ml_abi_severity)worst));
			ml_json_set(e, "kinds", ml_abi_kinds_count(diffs));
			ml_json_set_int(e, "count", ml_json_int(shown, "count", 0));
			ml_json_set(e, "differences", json_incref(diffs));
			ml_json_set_str(e, "summary", summary);
			ml_json_set_str(e, "shown_kernel", ml_json_str(shown, "kernel"));
			text = w ? ml_strdup_printf("%s: %s (QEMU %s) and %s (QEMU %s) boot %s differently: %lld "
						    "difference(s), the worst %s (%s): %s %s: %s -> %s",
						    !strcmp(verdict, "break") ? "machine-type ABI break" : "machine-type ABI change",
						    ml_json_str(json_object_get(e, "a"), "provider"),
						    ml_json_str(json_object_get(e, "a"), "version"),
						    ml_json_str(json_object_get(e, "b"), "provider"),
						    ml_json_str(json_object_get(e, "b"), "version"), ml_json_str(e, "machine"),
						    ml_json_int(shown, "count", 0), ml_json_str(w, "severity"),
						    ml_json_str(w, "kind"), ml_json_str(w, "section"), ml_json_str(w, "key"),
						    ml_json_str(w, "before") ? ml_json_str(w, "before") : "absent",
						    ml_json_str(w, "after") ? ml_json_str(w, "after") : "absent")
				 : ml_strdup_printf("%s (QEMU %s) and %s (QEMU %s) boot %s to the same ABI",
						    ml_json_str(json_object_get(e, "a"), "provider"),
						    ml_json_str(json_object_get(e, "a"), "version"),
						    ml_json_str(json_object_get(e, "b"), "provider"),
						    ml_json_str(json_object_get(e, "b"), "version"), ml_json_str(e, "machine"));
			ml_json_set_str(e, "text", text);
		}
		/* The kernels' own lists stay small: counts and severities. */
		json_array_foreach(kernels, k, kv)
			json_object_del(kv, "differences");
	}
	return entries;
}

/* A failure the machine-type ABI explains: the destination refused a
 * virtqueue size ("VQ 0 vring.num 1024 exceeds allocated max 128" for device
 * "0000:00:01.0/virtio-console") that the two builds' fresh boots already
 * differ in. failure.explained_by names the entry and the difference. */
static void link_abi_explanation(json_t *doc, const json_t *entry)
{
	json_t *failure = json_object_get(doc, "failure"), *d;
	const char *ev = ml_json_str(failure, "evidence"), *p;
	const char *dev = ml_json_str(failure, "device");
	unsigned q, num, max;
	size_t i;
	char bdf[16] = "";
	json_t *list = json_object_get(failure, "explained_by");
	ml_autofree char *suffix = NULL, *vnum = NULL, *vmax = NULL;

	/* The attempt's own explanations (judge_crosscheck) stay; this one is
	 * the run's, made again on each judgement. */
	for (i = json_array_size(list); i-- > 0;)
		if (json_object_get(json_array_get(list, i), "machine_abi"))
			json_array_remove(list, i);
	if (!entry || !ev || !(p = strstr(ev, "VQ ")) ||
	    sscanf(p, "VQ %u vring.num %u exceeds allocated max %u", &q, &num, &max) != 3)
		return;
	if (dev && strlen(dev) >= 12 && dev[4] == ':' && dev[7] == ':' && dev[10] == '.')
		snprintf(bdf, sizeof(bdf), "%.12s", dev);
	suffix = ml_strdup_printf(") queue %u size", q);
	vnum = ml_strdup_printf("%u", num);
	vmax = ml_strdup_printf("%u", max);
	json_array_foreach(json_object_get(entry, "differences"), i, d) {
		const char *key = ml_json_str(d, "key");
		size_t kl = key ? strlen(key) : 0, sl = strlen(suffix);
		bool values = (ml_str_eq(ml_json_str(d, "before"), vnum) && ml_str_eq(ml_json_str(d, "after"), vmax)) ||
			      (ml_str_eq(ml_json_str(d, "before"), vmax) && ml_str_eq(ml_json_str(d, "after"), vnum));
		if (!ml_str_eq(ml_json_str(d, "kind"), "virtio-queue") || kl < sl || strcmp(key + kl - sl, suffix) ||
		    (*bdf && strncmp(key, bdf, strlen(bdf))) || !values)
			continue;
		{
			ml_autofree char *text = ml_strdup_printf(
				"explained by the machine-type ABI of %s: the builds give this virtqueue "
				"different sizes at a fresh boot (%s: %s -> %s), and the destination cannot "
				"take the source's %u entries",
				ml_json_str(entry, "machine"), key, ml_json_str(d, "before"), ml_json_str(d, "after"),
				num);
			if (!json_is_array(list)) {
				list = json_array();
				ml_json_set(failure, "explained_by", list);
			}
			json_array_append_new(list, json_pack("{s:s?, s:s?, s:O, s:s}", "machine_abi",
							      ml_json_str(entry, "id"), "key", key, "difference", d,
							      "text", text));
		}
		return;
	}
}

/* The machine-type ABI entry of a cell (NULL for a control). */
static const json_t *machine_abi_entry(const json_t *entries, const json_t *doc)
{
	const json_t *e;
	size_t i, k;
	json_t *id;

	json_array_foreach(entries, i, e)
		json_array_foreach(json_object_get(e, "cells"), k, id)
			if (ml_str_eq(json_string_value(id), ml_json_str(doc, "cell_id")))
				return e;
	return NULL;
}

void ml_judge_abi_in_run(const struct ml_judge_rules *r, json_t *cells, const char *cells_dir,
			 const json_t *machine, json_t *doc)
{
	const json_t *entry = machine_abi_entry(machine, doc);

	judge_reboot_reference(r, cells, cells_dir, doc);
	judge_baseline(r, cells_dir, doc);
	ml_judge_abi_cell(doc, entry);
	link_abi_explanation(doc, entry);
}
