/* Unit tests of the failure catalogue and the classifier: the shipped
 * catalogue loads and has the classes the lab relies on; every example line
 * of the catalogue is classified as its own class; every recorded cell in
 * tests/data/failures/ (real QEMU failures, see each README) gives the
 * classification in its expected.json; docs/failures.md is exactly what the
 * catalogue renders (regenerate both with MIGLAB_REGENERATE=1); bad
 * catalogues fail with FILE:LINE messages; priorities, filters and the
 * device/field extraction behave as documented. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

#define SOURCE_ROOT MIGLAB_TEST_DATA "/../.."

static const char *const required_classes[] = {
	"section-unknown", "version-too-new", "version-too-old", "subsection-unknown",
	"field-or-length-mismatch", "ram-block-size-mismatch", "pci-config-mismatch",
	"virtio-feature-unsupported", "unknown-machine-type", "cpu-feature-unavailable",
	"destination-crashed", "source-crashed", "destination-died-after-completed",
	"timeout-did-not-converge", "guest-hung-after-migration", "memory-corruption",
	"guest-rebooted", "qemu-failed-to-start", "abi-change", "device-dead", "clock-jump",
	"unclassified", NULL,
};

static void load_builtin(struct ml_catalogue *c)
{
	if (ml_catalogue_load(NULL, c) < 0)
		fail_msg("built-in catalogue: %s", ml_error_message());
}

static void test_builtin_has_classes(void **state)
{
	struct ml_catalogue c;
	(void)state;

	load_builtin(&c);
	for (size_t i = 0; required_classes[i]; i++) {
		const struct ml_failure_class *k = ml_catalogue_find(&c, required_classes[i]);
		if (!k)
			fail_msg("the catalogue has no class %s", required_classes[i]);
		assert_non_null(k->title);
		assert_non_null(k->meaning);
		if (strcmp(k->id, ML_CLASS_UNCLASSIFIED) != 0) {
			assert_non_null(k->investigate);
			assert_non_null(k->fix);
		}
	}
	/* Priority order is non-decreasing. */
	for (size_t i = 1; i < c.n_classes; i++)
		assert_true(c.classes[c.order[i - 1]].priority <= c.classes[c.order[i]].priority);
	ml_catalogue_clear(&c);
}

/* The built-in copy is the source file as it is now (the build is current). */
static void test_builtin_is_source(void **state)
{
	ml_autofree char *text = NULL;
	(void)state;

	assert_int_equal(ml_read_file(SOURCE_ROOT "/results/failures.ini", 1 << 20, &text, NULL), 0);
	assert_string_equal(ml_catalogue_builtin(), text);
}

/* Every example, put in the sources its class looks at, is classified as its
 * class. */
static void test_examples(void **state)
{
	struct ml_catalogue c;
	size_t n = 0;
	(void)state;

	load_builtin(&c);
	for (size_t i = 0; i < c.n_classes; i++) {
		const struct ml_failure_class *k = &c.classes[i];
		for (size_t e = 0; e < k->n_examples; e++) {
			char *texts[ML_EVIDENCE_MAX];
			struct ml_classify_facts f = {
				.verdict = k->n_verdicts ? k->verdicts[0] : "fail",
				.phase = k->n_phases ? k->phases[0] : "migrate-forward",
			};
			unsigned mask = 0;
			json_t *r;
			for (size_t p = 0; p < k->n_patterns; p++)
				mask |= k->patterns[p].sources;
			for (int s = 0; s < ML_EVIDENCE_MAX; s++)
				texts[s] = mask & (1u << s) ? (char *)k->examples[e] : NULL;
			r = ml_classify_texts(&c, texts, &f);
			if (strcmp(ml_json_str(r, "class"), k->id) != 0)
				fail_msg("example of %s is classified as %s: %s", k->id,
					 ml_json_str(r, "class"), k->examples[e]);
			json_decref(r);
			n++;
		}
	}
	assert_true(n >= 20);
	ml_catalogue_clear(&c);
}

static const char *const result_keys[] = { "class",  "family", "source", "matched", "device",
					   "field",  "oops",   "pages",  NULL };

/* Each directory of tests/data/failures/ is a recorded cell (cell.json and
 * its logs) with the expected classification beside it. Without its logs a
 * cell gets the same class, unless expected.json says otherwise in
 * "class_without_logs" (a console that explains more than the cell quotes). */
static void test_fixtures(void **state)
{
	struct ml_catalogue c;
	const char *root = ml_test_data("failures");
	ml_autofree char *root_copy = strdup(root);
	DIR *d = opendir(root_copy);
	struct dirent *e;
	size_t n = 0, wrong = 0;
	(void)state;

	assert_non_null(d);
	load_builtin(&c);
	while ((e = readdir(d))) {
		ml_autofree char *dir = ml_path_join(root_copy, e->d_name);
		ml_autofree char *cell_path = ml_path_join(dir, "cell.json");
		ml_autofree char *exp_path = ml_path_join(dir, "expected.json");
		json_t *cell, *got = NULL, *got_nologs = NULL, *exp = NULL;
		const char *nologs_class;

		if (e->d_name[0] == '.' || !ml_path_exists(cell_path))
			continue;
		cell = ml_json_load_file(cell_path, 1 << 20);
		assert_non_null(cell);
		assert_int_equal(ml_classify(&c, cell, dir, &got), 0);
		assert_non_null(got);
		/* Without the log files, the cell's own quotes give the same class. */
		assert_int_equal(ml_classify(&c, cell, NULL, &got_nologs), 0);
		if (ml_path_exists(exp_path)) {
			exp = ml_json_load_file(exp_path, 1 << 20);
			if (!exp)
				fail_msg("%s: %s", e->d_name, ml_error_message());
		}
		nologs_class = ml_json_str(exp, "class_without_logs");
		if (!nologs_class)
			nologs_class = ml_json_str(got, "class");
		if (strcmp(nologs_class, ml_json_str(got_nologs, "class")) != 0) {
			print_error("%s: %s without logs, expected %s\n", e->d_name,
				    ml_json_str(got_nologs, "class"), nologs_class);
			wrong++;
		}
		json_object_del(got, "title");
		/* The directory is named after its class: a regeneration cannot
		 * quietly bless a wrong class. */
		{
			const char *cls = ml_json_str(got, "class");
			size_t cl = strlen(cls);
			if (strncmp(e->d_name, cls, cl) != 0 || e->d_name[cl] != '-') {
				print_error("%s: classified as %s\n", e->d_name, cls);
				wrong++;
			}
		}
		if (ml_test_regenerate()) {
			/* class_without_logs is a decision, not an output: kept. */
			if (ml_json_str(exp, "class_without_logs"))
				ml_json_set_str(got, "class_without_logs",
						ml_json_str(exp, "class_without_logs"));
			assert_int_equal(ml_json_write_file(exp_path, got), 0);
		} else {
			if (!exp)
				fail_msg("%s: no expected.json (write it with MIGLAB_REGENERATE=1)",
					 e->d_name);
			for (size_t i = 0; result_keys[i]; i++) {
				const char *a = ml_json_str(exp, result_keys[i]);
				const char *b = ml_json_str(got, result_keys[i]);
				if ((a || b) && (!a || !b || strcmp(a, b) != 0)) {
					print_error("%s: %s expected '%s', got '%s'\n", e->d_name,
						    result_keys[i], a ? a : "(null)", b ? b : "(null)");
					wrong++;
				}
			}
		}
		json_decref(exp);
		json_decref(got);
		json_decref(got_nologs);
		json_decref(cell);
		n++;
	}
	closedir(d);
	ml_catalogue_clear(&c);
	assert_true(n >= 10);
	assert_int_equal(wrong, 0);
}

/* docs/failures.md is the catalogue rendered: they never drift apart. */
static void test_docs_in_sync(void **state)
{
	struct ml_catalogue c;
	ml_autofree char *text = NULL;
	ml_autofree char *md = NULL;
	ml_autofree char *doc = NULL;
	const char *doc_path = SOURCE_ROOT "/docs/failures.md";
	size_t len = 0;
	(void)state;

	assert_int_equal(ml_read_file(SOURCE_ROOT "/results/failures.ini", 1 << 20, &text, &len), 0);
	if (ml_catalogue_parse(text, len, "failures.ini", &c) < 0)
		fail_msg("%s", ml_error_message());
	md = ml_catalogue_markdown(&c);
	ml_catalogue_clear(&c);
	if (ml_test_regenerate()) {
		assert_int_equal(ml_write_atomic(doc_path, md, strlen(md), 0644), 0);
		return;
	}
	if (ml_read_file(doc_path, 1 << 20, &doc, NULL) < 0)
		fail_msg("%s (write it with MIGLAB_REGENERATE=1)", ml_error_message());
	if (strcmp(doc, md) != 0)
		fail_msg("docs/failures.md differs from what results/failures.ini renders: "
			 "regenerate it (MIGLAB_REGENERATE=1 tests/unit/test-classify, or "
			 "miglab failures --markdown > docs/failures.md)");
}

struct bad_case {
	const char *text;
	const char *error;
};

#define MINI_END "[class unclassified]\ntitle = t\nmeaning = m\n"

static void test_bad_catalogues(void **state)
{
	static const struct bad_case cases[] = {
		{ "[class a]\ntitle = t\nmeaning = m\nreason = (\n" MINI_END,
		  "bad.ini:4: bad regular expression for reason: " },
		{ "[class a]\ntitle = t\nmeaning = m\n" MINI_END,
		  "bad.ini:1: [class a] has no match rule" },
		{ "[class a]\ntitle = t\nmeaning = m\nreason = x\n[class a]\n" MINI_END,
		  "bad.ini:5: duplicate class 'a' (first at line 1)" },
		{ "[class A_b]\n", "bad.ini:1: bad class id 'A_b'" },
		{ "[klass a]\n", "bad.ini:1: unknown section [klass a]" },
		{ "[class a]\ntitle = t\nmeaning = m\nreasn = x\n",
		  "bad.ini:4: unknown key 'reasn' in [class a]" },
		{ "[class a]\ntitle = t\nmeaning = m\nreason = x\n",
		  "bad.ini: no [class unclassified]" },
		{ "[class unclassified]\ntitle = t\nmeaning = m\nreason = x\n",
		  "bad.ini:1: [class unclassified] matches what no other class does" },
		{ "[class a]\ntitle = t\nmeaning = m\nexit = dst:crash\n" MINI_END,
		  "bad.ini:4: bad exit 'dst:crash'" },
		{ "[class a]\ntitle = t\nmeaning = m\nphase = migrate\nreason = x\n" MINI_END,
		  "bad.ini:4: unknown phase 'migrate'" },
		{ "[class a]\ntitle = t\nmeaning = m\npriority = -1\nreason = x\n" MINI_END,
		  "bad.ini:4: bad priority '-1'" },
		{ "[class a]\ntitle = t\nmeaning = m\nreason = x\n  y\n" MINI_END,
		  "bad.ini:5: a pattern does not continue on the next line" },
		{ "title = t\n", "bad.ini:1: key 'title' outside a section" },
		{ "[class a]\n  continued\n", "bad.ini:2: indented line with no key before it" },
		{ "[class a]\ntitle: t\n", "bad.ini:2: syntax error" },
		{ "[class a]\nmeaning = m\nreason = x\n" MINI_END,
		  "bad.ini:1: [class a] needs a title and a meaning" },
		{ "[extract]\ndevice = (\n" MINI_END, "bad.ini:2: bad regular expression for device" },
		{ "[class a]\ntitle = t\nmeaning = m\nverdict = pass\n" MINI_END,
		  "bad.ini:4: bad verdict 'pass'" },
		{ "[class a]\ntitle = t\nmeaning = m\nfamily = Guest_State\nreason = x\n" MINI_END,
		  "bad.ini:4: bad family 'Guest_State' in [class a]" },
		{ "[class a]\ntitle = t\nmeaning = m\nfamily = f\nfamily = g\nreason = x\n" MINI_END,
		  "bad.ini:5: duplicate family in [class a]" },
		{ "[extract]\noops = (\n" MINI_END, "bad.ini:2: bad regular expression for oops" },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		struct ml_catalogue c;
		int rc = ml_catalogue_parse(cases[i].text, strlen(cases[i].text), "bad.ini", &c);
		if (rc == 0)
			fail_msg("case %zu parsed, expected: %s", i, cases[i].error);
		if (strncmp(ml_error_message(), cases[i].error, strlen(cases[i].error)) != 0)
			fail_msg("case %zu: got '%s', expected '%s...'", i, ml_error_message(),
				 cases[i].error);
	}
	{
		/* A line longer than inih's buffer is an error with its line. */
		ml_autobuf struct ml_buf b = ML_BUF_INIT(0);
		struct ml_catalogue c;
		ml_buf_puts(&b, "[class a]\ntitle = ");
		for (int i = 0; i < 300; i++)
			ml_buf_puts(&b, "x");
		ml_buf_puts(&b, "\n");
		assert_int_equal(ml_catalogue_parse(b.data, b.len, "long.ini", &c), -1);
		assert_non_null(strstr(ml_error_message(), "long.ini:2: line longer than"));
	}
}

static const char mini[] =
	"[extract]\n"
	"device = of device '([^']+)'\n"
	"field = Failed to load ([^ ]+)\n"
	"[class late]\n"
	"title = Late\n"
	"meaning = generic\n"
	"priority = 50\n"
	"stderr = load failed\n"
	"[class early]\n"
	"family = early-ones\n"
	"title = Early\n"
	"  continued\n"
	"meaning = specific\n"
	"priority = 10\n"
	"dst_stderr = Unknown thing '([^']+)'\n"
	"device = Unknown thing '([^']+)'\n"
	"[class only-back]\n"
	"title = Back\n"
	"meaning = m\n"
	"phase = migrate-back\n"
	"reason = the migration failed\n"
	"[class crash]\n"
	"title = Crash\n"
	"meaning = m\n"
	"priority = 5\n"
	"exit = dst+back:signal\n"
	"[class labfail]\n"
	"title = Lab\n"
	"meaning = m\n"
	"priority = 1\n"
	"verdict = error\n"
	"[class unclassified]\n"
	"title = U\n"
	"meaning = m\n";

static json_t *classify_texts(const struct ml_catalogue *c, const char *dst, const char *reason,
			      const struct ml_classify_facts *f)
{
	char *texts[ML_EVIDENCE_MAX] = { NULL };

	texts[ML_EVIDENCE_DST_STDERR] = (char *)dst;
	texts[ML_EVIDENCE_REASON] = (char *)reason;
	return ml_classify_texts(c, texts, f);
}

static void test_rules(void **state)
{
	struct ml_catalogue c;
	struct ml_classify_facts f = { .verdict = "fail", .phase = "migrate-forward" };
	json_t *r;
	(void)state;

	if (ml_catalogue_parse(mini, strlen(mini), "mini.ini", &c) < 0)
		fail_msg("%s", ml_error_message());
	assert_string_equal(ml_catalogue_find(&c, "early")->title, "Early\ncontinued");
	assert_string_equal(c.classes[c.order[0]].id, "labfail");
	assert_string_equal(ml_class_family(ml_catalogue_find(&c, "early")), "early-ones");
	assert_string_equal(ml_class_family(ml_catalogue_find(&c, "late")), "late");

	/* Priority: both match, the lower priority wins; the class's own device
	 * expression beats [extract]; the quote names the source and the line. */
	r = classify_texts(&c, "noise\nqemu: Unknown thing 'dev0'\nqemu: load failed of device 'x'\n"
			       "qemu: Failed to load a:b\n", NULL, &f);
	assert_string_equal(ml_json_str(r, "class"), "early");
	assert_string_equal(ml_json_str(r, "source"), "dst_stderr");
	assert_string_equal(ml_json_str(r, "matched"), "dst stderr: qemu: Unknown thing 'dev0'");
	assert_string_equal(ml_json_str(r, "device"), "dev0");
	assert_string_equal(ml_json_str(r, "field"), "a:b");
	assert_string_equal(ml_json_str(r, "family"), "early-ones");
	assert_null(ml_json_str(r, "oops"));
	assert_null(ml_json_str(r, "pages"));
	json_decref(r);

	r = classify_texts(&c, "qemu: load failed of device 'x'\n", NULL, &f);
	assert_string_equal(ml_json_str(r, "class"), "late");
	assert_string_equal(ml_json_str(r, "device"), "x");
	assert_null(ml_json_str(r, "field"));
	json_decref(r);

	/* Case-insensitive. */
	r = classify_texts(&c, "QEMU: LOAD FAILED\n", NULL, &f);
	assert_string_equal(ml_json_str(r, "class"), "late");
	json_decref(r);

	/* Phase filter. */
	r = classify_texts(&c, NULL, "the migration failed", &f);
	assert_string_equal(ml_json_str(r, "class"), ML_CLASS_UNCLASSIFIED);
	assert_null(ml_json_str(r, "matched"));
	json_decref(r);
	f.phase = "migrate-back";
	r = classify_texts(&c, NULL, "the migration failed", &f);
	assert_string_equal(ml_json_str(r, "class"), "only-back");
	assert_string_equal(ml_json_str(r, "matched"), "reason: the migration failed");
	json_decref(r);

	/* Exit filter: SIGKILL is the lab's own, not a crash. */
	f.exits[2] = "killed by signal 9 (Killed)";
	r = classify_texts(&c, NULL, NULL, &f);
	assert_string_equal(ml_json_str(r, "class"), ML_CLASS_UNCLASSIFIED);
	json_decref(r);
	f.exits[2] = "killed by signal 6 (Aborted), core dumped";
	r = classify_texts(&c, "qemu: load failed\n", NULL, &f);
	assert_string_equal(ml_json_str(r, "class"), "crash");
	assert_string_equal(ml_json_str(r, "matched"), "back exit: killed by signal 6 (Aborted), core dumped");
	json_decref(r);

	/* Verdict filter. */
	f.verdict = "error";
	r = classify_texts(&c, "qemu: load failed\n", NULL, &f);
	assert_string_equal(ml_json_str(r, "class"), "labfail");
	json_decref(r);
	ml_catalogue_clear(&c);
}

/* The continuity check's reasons (lab/continuity.c) name the device or
 * the clock, and the classification carries the name. */
static void test_continuity_naming(void **state)
{
	struct ml_catalogue c;
	struct ml_classify_facts f = { .verdict = "fail", .phase = "migrate-forward" };
	json_t *r;
	(void)state;

	load_builtin(&c);
	r = classify_texts(&c, NULL, "device stopped working after migration: block (virtio3): "
				     "read back differs from what was written at byte 40", &f);
	assert_string_equal(ml_json_str(r, "class"), "device-dead");
	assert_string_equal(ml_json_str(r, "device"), "block");
	json_decref(r);
	r = classify_texts(&c, NULL, "clock jump after migration: the guest's hpet clock advanced "
				     "0 ms while the host's advanced 2347..2422 ms (downtime 54 ms; "
				     "accepted 793..2922 ms)", &f);
	assert_string_equal(ml_json_str(r, "class"), "clock-jump");
	assert_string_equal(ml_json_str(r, "field"), "hpet");
	json_decref(r);
	ml_catalogue_clear(&c);
}

/* A whole cell: pass cells are not classified, logs are read from the cell
 * directory (only names without '/'), quotes are cut and made printable. */
static void test_cell(void **state)
{
	struct ml_catalogue c;
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *stderr_path = ml_path_join(dir, "qemu-dst.stderr");
	ml_autofree char *qmp_path = ml_path_join(dir, "qmp-src.log");
	ml_autobuf struct ml_buf b = ML_BUF_INIT(0);
	json_t *cell, *r = NULL;
	(void)state;

	load_builtin(&c);
	cell = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:{s:s}}]}",
			 "verdict", "pass", "reason", "forward and back migrations passed",
			 "failure", "phase", "migrate-forward", "evidence", "x",
			 "logs", "qemu_stderr_dst", "qemu-dst.stderr", "qmp_src", "qmp-src.log",
			 "qemu_stderr_src", "../../etc/passwd",
			 "phases", "name", "migrate-forward", "figures", "error-desc",
			 "Unable to write to socket: Broken pipe");
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_null(r);

	ml_json_set_str(cell, "verdict", "fail");
	ml_json_set_str(cell, "reason", "the migration failed");
	ml_buf_puts(&b, "qemu-system-x86_64: warning: something\nqemu-system-x86_64: Features 0x1 "
			"unsupported. Allowed features: 0x0 \x01");
	for (int i = 0; i < 600; i++)
		ml_buf_puts(&b, "y");
	ml_buf_puts(&b, "\n");
	assert_int_equal(ml_write_atomic(stderr_path, b.data, b.len, 0644), 0);
	assert_int_equal(ml_write_atomic(qmp_path, "+0.1 > {\"execute\":\"migrate\"}\n", 29, 0644), 0);
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "virtio-feature-unsupported");
	assert_string_equal(ml_json_str(r, "source"), "dst_stderr");
	assert_true(strlen(ml_json_str(r, "matched")) <= strlen("dst stderr: ") + ML_CLASSIFY_QUOTE_MAX + 3);
	assert_non_null(strstr(ml_json_str(r, "matched"), "0x0 ?yyy"));
	json_decref(r);

	/* Without the stderr, the query-migrate error-desc still explains it. */
	unlink(stderr_path);
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "destination-rejected-stream");
	assert_string_equal(ml_json_str(r, "source"), "migrate_error");
	json_decref(r);

	/* QMP error replies are a source of their own. */
	{
		const char *log = "+0.1 < {\"error\": {\"class\": \"GenericError\", \"desc\": "
				  "\"State blocked by non-migratable device 'x'\"}, \"id\": 4}\n";
		assert_int_equal(ml_write_atomic(qmp_path, log, strlen(log), 0644), 0);
		ml_json_set_str(cell, "reason", "the source refused to start the migration");
		assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
		assert_string_equal(ml_json_str(r, "class"), "migration-blocked");
		json_decref(r);
		json_object_del(cell, "phases");
		ml_json_set_str(cell, "reason", "x");
		assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
		assert_string_equal(ml_json_str(r, "class"), "migration-blocked");
		assert_string_equal(ml_json_str(r, "source"), "qmp_error");
		assert_string_equal(ml_json_str(r, "matched"),
				    "qmp error: src: GenericError: State blocked by non-migratable "
				    "device 'x'");
		assert_string_equal(ml_json_str(r, "device"), "x");
		json_decref(r);
	}
	json_decref(cell);
	cell = json_string("x");
	assert_int_equal(ml_classify(&c, cell, dir, &r), -1);
	json_decref(cell);
	ml_test_rmtree(dir);
	ml_catalogue_clear(&c);
}

static json_t *load_fixture(const char *name, char **dir)
{
	ml_autofree char *cell_path = NULL;
	json_t *cell;

	*dir = ml_path_join(ml_test_data("failures"), name);
	cell_path = ml_path_join(*dir, "cell.json");
	cell = ml_json_load_file(cell_path, 1 << 20);
	if (!cell)
		fail_msg("%s: %s", name, ml_error_message());
	return cell;
}

/* A panic on the console of the VM the guest was on explains a failure the
 * lab saw as a reboot, with the first oops lines; the console of another VM
 * is not read. */
static void test_console_panic(void **state)
{
	struct ml_catalogue c;
	ml_autofree char *dir = NULL;
	json_t *cell, *r = NULL;
	const char *oops;
	(void)state;

	load_builtin(&c);
	cell = load_fixture("guest-panicked-console", &dir);
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "guest-panicked");
	assert_string_equal(ml_json_str(r, "family"), "guest-state-lost");
	assert_string_equal(ml_json_str(r, "source"), "dst_console");
	/* "matched" is one line, the earliest of the oops. */
	assert_string_equal(ml_json_str(r, "matched"),
			    "dst console: [   13.581200] BUG: kernel NULL pointer dereference, "
			    "address: 0000000000000008");
	oops = ml_json_str(r, "oops");
	assert_non_null(oops);
	assert_true(strncmp(oops, "BUG: kernel NULL pointer dereference, address: "
				  "0000000000000008\n", 64) == 0);
	assert_non_null(strstr(oops, "\nRIP: 0010:rb_next+0x1a/0x50\n"));
	assert_non_null(strstr(oops, "\nCall Trace:\n"));
	assert_null(strstr(oops, "[   13."));  /* timestamps removed */
	assert_null(strstr(oops, "RAX:"));     /* the register dump left out */
	assert_null(strchr(oops, '\r'));
	assert_true(strlen(oops) <= ML_CLASSIFY_OOPS_MAX);
	json_decref(r);

	/* The same cell failing after the migration back: the guest was on the
	 * back VM, whose console has nothing; the destination's panic, which
	 * that boot survived, does not count. */
	ml_json_set_str(json_object_get(cell, "failure"), "phase", "migrate-back");
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "guest-rebooted");
	assert_string_equal(ml_json_str(r, "family"), "guest-state-lost");
	assert_null(ml_json_str(r, "oops"));
	json_decref(r);
	json_decref(cell);
	ml_catalogue_clear(&c);
}

/* A program killed by an invalid opcode after the move is cpu-feature-lost,
 * before the panic of init that follows it, and also when the lab recorded
 * an error because the probe vanished. */
static void test_console_cpu_feature_lost(void **state)
{
	static const char console[] =
		"miglab-init: starting probe\r\n"
		"[   15.120344] traps: miglab-probe[93] trap invalid opcode ip:4a2f31 "
		"sp:7ffc8e5d1e28 error:0 in miglab-probe[401000+c2000]\r\n"
		"miglab-init: probe exited with status 132\r\n"
		"[   15.300000] Kernel panic - not syncing: Attempted to kill init! "
		"exitcode=0x00000100\r\n";
	struct ml_catalogue c;
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(dir, "console-dst.log");
	json_t *cell, *r = NULL;
	(void)state;

	load_builtin(&c);
	assert_int_equal(ml_write_atomic(path, console, strlen(console), 0644), 0);
	cell = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "verdict", "fail", "reason",
			 "the probe stopped answering after migration", "failure", "phase",
			 "live-dst", "evidence", "probe in dst: connection closed", "logs",
			 "console_dst", "console-dst.log");
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "cpu-feature-lost");
	assert_string_equal(ml_json_str(r, "family"), "cpu-model");
	assert_string_equal(ml_json_str(r, "source"), "dst_console");
	assert_non_null(strstr(ml_json_str(r, "matched"), "trap invalid opcode"));
	/* The panic of init that followed is quoted as the oops. */
	assert_string_equal(ml_json_str(r, "oops"),
			    "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100");
	json_decref(r);

	ml_json_set_str(cell, "verdict", "error");
	ml_json_set_str(cell, "reason", "the probe agent could not dump the guest-visible ABI: x");
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "cpu-feature-lost");
	json_decref(r);

	/* After a reboot on the destination, the guest chose its code by the
	 * destination's CPUID: not a lost feature. */
	ml_json_set_str(cell, "verdict", "fail");
	ml_json_set_str(json_object_get(cell, "failure"), "phase", "reboot-dst");
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "guest-panicked");
	json_decref(r);
	json_decref(cell);
	ml_test_rmtree(dir);
	ml_catalogue_clear(&c);
}

/* The probe's ram-verify reply in the evidence names the bad pages. */
static void test_bad_pages(void **state)
{
	struct ml_catalogue c;
	ml_autofree char *dir = NULL;
	json_t *cell, *r = NULL;
	char *texts[ML_EVIDENCE_MAX] = { NULL };
	(void)state;

	load_builtin(&c);
	cell = load_fixture("memory-corruption-pages", &dir);
	assert_int_equal(ml_classify(&c, cell, dir, &r), 0);
	assert_string_equal(ml_json_str(r, "class"), "memory-corruption");
	assert_string_equal(ml_json_str(r, "family"), "guest-state-lost");
	assert_string_equal(ml_json_str(r, "pages"),
			    "3 of 16384 pages bad (stale 2, zero 1): page 418 stale (gen 5, "
			    "expected 7), page 419 stale (gen 6, expected 7), page 9001 zero "
			    "(expected gen 6)");
	json_decref(r);
	json_decref(cell);

	/* An older reply without examples: the first bad page. */
	texts[ML_EVIDENCE_REASON] = (char *)"memory corruption: the RAM workload does not verify";
	texts[ML_EVIDENCE_EVIDENCE] =
		(char *)"{\"bad_pages\":1,\"expected\":{\"generation\":29,\"index\":7},"
			"\"first_bad_page\":7,\"found\":{\"generation\":28,\"index\":7},"
			"\"kind\":\"stale\",\"ok\":false,\"pages\":16384}";
	r = ml_classify_texts(&c, texts, NULL);
	assert_string_equal(ml_json_str(r, "pages"),
			    "1 of 16384 pages bad: page 7 stale (gen 28, expected 29)");
	json_decref(r);
	ml_catalogue_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_has_classes),
		cmocka_unit_test(test_builtin_is_source),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_continuity_naming),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_docs_in_sync),
		cmocka_unit_test(test_bad_catalogues),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_cell),
		cmocka_unit_test(test_console_panic),
		cmocka_unit_test(test_console_cpu_feature_lost),
		cmocka_unit_test(test_bad_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
