/* Unit tests of the known-issue list: version tuples and ranges, parsing
 * (with FILE:LINE errors for every mistake), matching cells (builds by
 * version or provider, machine globs, classes, direction, and passed cells
 * for XPASS), and the shipped list against the shipped catalogue. */
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "known.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

static void test_versions(void **state)
{
	int v[ML_VERSION_PARTS];
	struct ml_version_range r = { .lo = { 7, 2 }, .n_lo = 2, .hi = { 8, 1 }, .n_hi = 2 };
	(void)state;

	assert_int_equal(ml_version_parse("10.0.13", v), 3);
	assert_int_equal(v[0], 10);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 13);
	assert_int_equal(ml_version_parse("9.2.0-rc1", v), 3);
	assert_int_equal(ml_version_parse("x", v), 0);
	assert_int_equal(ml_version_parse(NULL, v), 0);

	/* Tuples, not strings: 10.0 is above 8.1, 7.10 above 7.2. */
	ml_version_parse("7.2.22", v);
	assert_true(ml_version_in_range(v, 3, &r));
	ml_version_parse("8.1.5", v);
	assert_true(ml_version_in_range(v, 3, &r));
	ml_version_parse("7.10.0", v);
	assert_true(ml_version_in_range(v, 3, &r));
	ml_version_parse("7.1.9", v);
	assert_false(ml_version_in_range(v, 3, &r));
	ml_version_parse("10.0.2", v);
	assert_false(ml_version_in_range(v, 3, &r));
	ml_version_parse("8.2", v);
	assert_false(ml_version_in_range(v, 2, &r));
	assert_false(ml_version_in_range(v, 0, &r));
}

static const char good[] =
	"; a comment\n"
	"[issue uso]\n"
	"src = 10.0..\n"
	"dst = ..7.2\n"
	"machine = pc-q35-7.*, pc-i440fx-7.*\n"
	"class = virtio-feature-unsupported, field-or-length-mismatch\n"
	"direction = forward\n"
	"note = USO on the new side\n"
	"  and not on the old one\n"
	"link = https://example.org/1\n"
	"fixup = -global virtio-net-pci.host_uso=off  -global virtio-net-pci.guest_uso4=off\n"
	"\n"
	"[issue by-provider]\n"
	"src = debian:trixie\n"
	"dst = debian:sid, 11.1.3\n"
	"note = a provider or an exact version\n"
	"\n"
	"[issue anything]\n"
	"src = *\n"
	"dst = 5\n"
	"class = section-unknown\n"
	"direction = back\n"
	"note = any source, any 5.x destination, failing back\n";

static json_t *cell(const char *src_p, const char *src_v, const char *dst_p, const char *dst_v,
		    const char *machine, const char *phase)
{
	return json_pack("{s:{s:{s:s, s:s}, s:{s:s, s:s}, s:s}, s:s, s:{s:s}}",
			 "inputs", "src", "provider", src_p, "version", src_v,
			 "dst", "provider", dst_p, "version", dst_v, "machine", machine,
			 "machine", machine, "failure", "phase", phase);
}

static const char *match_id(const struct ml_known *k, json_t *c, const char *cls)
{
	json_t *cl = cls ? json_pack("{s:s}", "class", cls) : NULL;
	const struct ml_known_issue *i = ml_known_match(k, c, cl);
	json_decref(cl);
	json_decref(c);
	return i ? i->id : "none";
}

static void test_parse_and_match(void **state)
{
	struct ml_known k;
	const struct ml_known_issue *i;
	(void)state;

	if (ml_known_parse(good, strlen(good), "good.ini", &k) < 0)
		fail_msg("%s", ml_error_message());
	assert_int_equal(k.n_issues, 3);
	i = &k.issues[0];
	assert_string_equal(i->id, "uso");
	assert_int_equal(i->line, 2);
	assert_string_equal(i->note, "USO on the new side\nand not on the old one");
	assert_string_equal(i->link, "https://example.org/1");
	assert_int_equal(i->n_fixup, 4);
	assert_string_equal(i->fixup_argv[0], "-global");
	assert_string_equal(i->fixup_argv[3], "virtio-net-pci.guest_uso4=off");
	assert_null(i->fixup_argv[4]);
	assert_int_equal(i->direction, ML_KNOWN_FORWARD);
	assert_int_equal(i->n_machines, 2);

	/* Version ranges, machine glob, class, direction. */
	assert_string_equal(match_id(&k, cell("debian:trixie", "10.0.13", "debian:bookworm", "7.2.22",
					      "pc-q35-7.2", "migrate-forward"),
				     "virtio-feature-unsupported"), "uso");
	assert_string_equal(match_id(&k, cell("debian:trixie", "10.0.13", "debian:bookworm", "7.2.22",
					      "pc-q35-7.2", "migrate-back"),
				     "virtio-feature-unsupported"), "none");
	assert_string_equal(match_id(&k, cell("debian:trixie", "10.0.13", "debian:bookworm", "7.2.22",
					      "pc-q35-8.0", "migrate-forward"),
				     "virtio-feature-unsupported"), "none");
	assert_string_equal(match_id(&k, cell("debian:trixie", "10.0.13", "debian:bookworm", "7.2.22",
					      "pc-q35-7.2", "migrate-forward"),
				     "section-unknown"), "none");
	assert_string_equal(match_id(&k, cell("x", "9.2.0", "debian:bookworm", "7.2.22",
					      "pc-q35-7.2", "migrate-forward"),
				     "virtio-feature-unsupported"), "none");
	/* A passed cell (no classification) matches on builds and machine: XPASS. */
	assert_string_equal(match_id(&k, cell("debian:trixie", "10.0.13", "debian:bookworm", "7.2.22",
					      "pc-i440fx-7.2", "migrate-back"), NULL), "uso");
	/* Providers; an exact version as an alternative; no classes = any class. */
	assert_string_equal(match_id(&k, cell("debian:trixie", "10.0.13", "path:/x", "11.1.3",
					      "pc-q35-10.0", "migrate-forward"), "unclassified"),
			    "by-provider");
	assert_string_equal(match_id(&k, cell("debian:trixie", "10.0.13", "path:/x", "11.1.4",
					      "pc-q35-10.0", "migrate-forward"), "unclassified"),
			    "none");
	/* "*" and a one-part version. */
	assert_string_equal(match_id(&k, cell("path:/q", "3.0.0", "path:/r", "5.2.0",
					      "pc-i440fx-5.2", "migrate-back"), "section-unknown"),
			    "anything");
	assert_string_equal(match_id(&k, cell("path:/q", "3.0.0", "path:/r", "6.0.0",
					      "pc-i440fx-5.2", "migrate-back"), "section-unknown"),
			    "none");
	{
		json_t *o = ml_known_issue_to_json(&k.issues[0]);
		assert_string_equal(ml_json_str(o, "fixup"), k.issues[0].fixup);
		json_decref(o);
	}
	assert_null(ml_known_match(NULL, NULL, NULL));
	ml_known_clear(&k);
}

struct bad_case {
	const char *text;
	const char *error;
};

static void test_bad(void **state)
{
	static const struct bad_case cases[] = {
		{ "[issue a]\nsrc = 7.2\nnote = n\n", "bad.ini:1: [issue a] needs src and dst" },
		{ "[issue a]\nsrc = 7.2\ndst = 8\n", "bad.ini:1: [issue a] needs a note" },
		{ "[issue a]\nsrc = 7.x\n", "bad.ini:2: bad build '7.x' in src" },
		{ "[issue a]\nsrc = 8..7\n", "bad.ini:2: empty version range '8..7' in src" },
		{ "[issue a]\nsrc = ..\n", "bad.ini:2: bad version range '..' in src" },
		{ "[issue a]\nsrc = 1.2.3.4.5\n", "bad.ini:2: bad build '1.2.3.4.5' in src" },
		{ "[issue a]\nsrc = rpm:x\n", "bad.ini:2: bad build 'rpm:x' in src" },
		{ "[issue a]\nsrc = 7.2,\n", "bad.ini:2: empty item in src = 7.2," },
		{ "[issue a]\nsrc = 7\nsrc = 8\n", "bad.ini:3: duplicate src in [issue a] (first at line 2)" },
		{ "[issue a]\ndirection = sideways\n", "bad.ini:2: bad direction 'sideways'" },
		{ "[issue a]\nlink = gitlab\n", "bad.ini:2: bad link 'gitlab'" },
		{ "[issue a]\nfixup = global x\n", "bad.ini:2: bad fixup 'global x'" },
		{ "[issue a]\ncolour = red\n", "bad.ini:2: unknown key 'colour' in [issue a]" },
		{ "[issue a]\nsrc = 7\n  8\n", "bad.ini:3: only note continues" },
		{ "[bug a]\n", "bad.ini:1: unknown section [bug a]" },
		{ "[issue]\n", "bad.ini:1: section [issue] needs an id" },
		{ "[issue a b]\n", "bad.ini:1: section [issue ...] has more than one id" },
		{ "[issue -a]\n", "bad.ini:1: bad issue id '-a'" },
		{ "src = 7\n", "bad.ini:1: key 'src' outside a section" },
		{ "[issue a]\nsrc = 7\ndst = 7\nnote = n\n[issue a]\n",
		  "bad.ini:5: duplicate issue 'a' (first at line 1)" },
		{ "[issue a]\nsrc 7\n", "bad.ini:2: syntax error" },
		{ "[issue a\n", "bad.ini:1: section header without ']'" },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		struct ml_known k;
		if (ml_known_parse(cases[i].text, strlen(cases[i].text), "bad.ini", &k) == 0)
			fail_msg("case %zu parsed, expected: %s", i, cases[i].error);
		if (strncmp(ml_error_message(), cases[i].error, strlen(cases[i].error)) != 0)
			fail_msg("case %zu: got '%s', expected '%s...'", i, ml_error_message(),
				 cases[i].error);
	}
}

/* The shipped list loads (built in and from the source tree) and names only
 * classes of the shipped catalogue; a class that does not exist is caught. */
static void test_shipped(void **state)
{
	struct ml_known k;
	struct ml_catalogue c;
	const char *bad = "[issue a]\nsrc = *\ndst = *\nclass = no-such-class\nnote = n\n";
	ml_autofree char *text = NULL;
	(void)state;

	if (ml_known_load(NULL, &k) < 0 || ml_catalogue_load(NULL, &c) < 0)
		fail_msg("%s", ml_error_message());
	assert_int_equal(ml_known_check_classes(&k, &c), 0);
	assert_int_equal(ml_read_file(MIGLAB_TEST_DATA "/../../matrix/known-issues.ini", 1 << 20,
				      &text, NULL), 0);
	assert_string_equal(ml_known_builtin(), text);
	ml_known_clear(&k);

	assert_int_equal(ml_known_parse(bad, strlen(bad), "k.ini", &k), 0);
	assert_int_equal(ml_known_check_classes(&k, &c), -1);
	assert_non_null(strstr(ml_error_message(), "k.ini:1: [issue a] names the failure class "
					     "'no-such-class'"));
	ml_known_clear(&k);
	ml_catalogue_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_parse_and_match),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_shipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
