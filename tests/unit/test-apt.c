/* Unit tests of the text handling of the apt sandbox (lab/util/ml-apt.c):
 * suite names, package stanzas and Depends fields. Talking to a mirror is
 * exercised by provisioning guests, not here. */
#include <string.h>

#include "ml-apt.h"
#include "ml-error.h"
#include "testhelp.h"
#include "ml-common.h"

static void test_suite_valid(void **state)
{
	(void)state;
	assert_true(ml_apt_suite_valid("bookworm"));
	assert_true(ml_apt_suite_valid("bookworm-backports"));
	assert_true(ml_apt_suite_valid("sid"));
	assert_false(ml_apt_suite_valid(""));
	assert_false(ml_apt_suite_valid("../etc"));
	assert_false(ml_apt_suite_valid("a/b"));
	assert_false(ml_apt_suite_valid("trixie main"));
	assert_false(ml_apt_suite_valid("Trixie"));
	assert_false(ml_apt_suite_valid("-o"));
}

static const char stanza[] =
	"Package: linux-image-7.2.13+deb14-amd64\n"
	"Source: linux-signed-amd64 (7.2.13+1)\n"
	"Version: 7.2.13-1\n"
	"Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool,\n"
	" linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-amd64 (= 7.2.13-1),\n"
	" linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1)\n"
	"Pre-Depends: linux-base (>= 4.17~)\n"
	"Description: Linux 7.2 for 64-bit PCs (signed)\n"
	"SHA256: 28dc3dd3c1446246ced2f9e4bf4e93475aae3815d03eaedebe20b168cb944b10\n";

static void test_stanza_field(void **state)
{
	ml_autofree char *v = ml_apt_stanza_field(stanza, "Version");
	ml_autofree char *d = ml_apt_stanza_field(stanza, "depends");
	ml_autofree char *pd = ml_apt_stanza_field(stanza, "Pre-Depends");
	ml_autofree char *sha = ml_apt_stanza_field(stanza, "SHA256");
	(void)state;
	assert_string_equal(v, "7.2.13-1");
	assert_string_equal(pd, "linux-base (>= 4.17~)");
	assert_int_equal(strlen(sha), 64);
	assert_non_null(strstr(d, "linux-initramfs-tool, linux-base-7.2.13+deb14-amd64 (= 7.2.13-1)"));
	assert_null(ml_apt_stanza_field(stanza, "Recommends"));
	/* "Depends" must not match "Pre-Depends" nor a prefix of another field */
	assert_null(ml_apt_stanza_field("Pre-Depends: x\n", "Depends"));
	assert_null(ml_apt_stanza_field("Versions: 1\n", "Version"));
}

static void test_parse_depends(void **state)
{
	ml_autofree char *d = ml_apt_stanza_field(stanza, "Depends");
	size_t n = 0;
	char **v = ml_apt_parse_depends(d, &n);
	static const char *const want[] = { "dracut", "initramfs-tools", "linux-initramfs-tool",
					    "linux-base-7.2.13+deb14-amd64",
					    "linux-binary-7.2.13+deb14-amd64",
					    "linux-modules-7.2.13+deb14-amd64" };
	(void)state;
	assert_int_equal(n, ML_ARRAY_SIZE(want));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
	assert_null(v[n]);
	ml_apt_strv_free(v);

	v = ml_apt_parse_depends("libc6:amd64 (>= 2.34) [amd64], foo <!nocheck>, bar", &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "libc6");
	assert_string_equal(v[1], "foo");
	assert_string_equal(v[2], "bar");
	ml_apt_strv_free(v);

	v = ml_apt_parse_depends(NULL, &n);
	assert_int_equal(n, 0);
	assert_null(v[0]);
	ml_apt_strv_free(v);
}

static void test_open_rejects_bad_names(void **state)
{
	struct ml_apt apt;
	(void)state;
	assert_int_equal(ml_apt_open("/nonexistent", "../x", NULL, &apt), -1);
	assert_non_null(strstr(ml_error_message(), "invalid Debian suite name '../x'"));
	assert_int_equal(ml_apt_open("/nonexistent", "sid", "ftp://x y", &apt), -1);
	assert_non_null(strstr(ml_error_message(), "invalid Debian mirror"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite_valid),
		cmocka_unit_test(test_stanza_field),
		cmocka_unit_test(test_parse_depends),
		cmocka_unit_test(test_open_rejects_bad_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
