/* `miglab abi-diff A.json B.json`: the semantic diff of two guest ABI dumps
 * (results/abi-diff.h). Exit 0 when they do not differ, 1 when they do, 2 on
 * bad input. */
#include <stdio.h>
#include <string.h>

#include "abi-diff.h"
#include "cli.h"
#include "ml-error.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab abi-diff [OPTIONS] BEFORE.json AFTER.json\n\n"
	       "Compare two guest ABI dumps (schema miglab-abi/1, docs/abi.md) and print every\n"
	       "difference the guest can see, named: CPUID bits, PCI registers and capabilities,\n"
	       "ACPI tables (disassembled with iasl when it is installed), SMBIOS fields,\n"
	       "virtio feature bits, memory map, cpu flags, MSRs. Values of the volatile list\n"
	       "(results/abi-volatile.txt) are ignored. See docs/abi-diff.md.\n\n"
	       "options:\n"
	       "  --json              print the differences as a JSON array\n"
	       "  --volatile FILE     use this volatile list (default: $MIGLAB_ABI_VOLATILE, the\n"
	       "                      source tree's results/abi-volatile.txt, the built-in copy)\n"
	       "  --no-iasl           do not disassemble ACPI tables (byte offsets only)\n"
	       "  -h, --help          this help\n\n"
	       "exit status: 0 no difference, 1 differences, 2 bad input or usage\n");
}

int cmd_abi_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "volatile", required_argument, NULL, 'v' },
		{ "no-iasl", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *volatile_path = NULL;
	bool json = false, no_iasl = false;
	struct ml_abi_volatile *vol = NULL;
	json_t *a = NULL, *b = NULL;
	struct ml_abi_diff d = { 0 };
	struct ml_abi_diff_options o = { 0 };
	ml_autofree char *iasl = NULL;
	int opt, rc = ML_EXIT_LAB;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'v':
			volatile_path = optarg;
			break;
		case 'n':
			no_iasl = true;
			break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("abi-diff", "bad option");
		}
	}
	if (argc - optind != 2)
		return ml_cli_usage_error("abi-diff", "name two dumps: BEFORE.json AFTER.json");
	vol = volatile_path ? ml_abi_volatile_load(volatile_path) : ml_abi_volatile_default();
	if (!vol || !(a = ml_abi_load(argv[optind])) || !(b = ml_abi_load(argv[optind + 1])))
		goto out;
	if (!no_iasl)
		iasl = ml_abi_find_iasl();
	o.iasl = iasl;
	if (ml_abi_diff_dumps(a, b, vol, &o, &d) < 0)
		goto out;
	if (json) {
		json_t *arr = ml_abi_diff_to_json(&d);
		char *text = json_dumps(arr, JSON_INDENT(2));
		printf("%s\n", text ? text : "[]");
		free(text);
		json_decref(arr);
	} else {
		char *text = ml_abi_diff_to_text(&d);
		fputs(text, stdout);
		free(text);
		if (d.n)
			printf("%zu difference%s\n", d.n, d.n == 1 ? "" : "s");
	}
	rc = d.n ? ML_EXIT_FAIL : ML_EXIT_OK;
out:
	if (rc == ML_EXIT_LAB)
		ml_error_print();
	ml_abi_diff_clear(&d);
	json_decref(a);
	json_decref(b);
	ml_abi_volatile_free(vol);
	return rc;
}
