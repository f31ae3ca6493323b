/* Unit tests of module dependency resolution (guests/moddep.c): the graph on
 * the fixture tests/data/moddep/index.txt, and the file side (.modinfo of
 * small ELF modules generated here, plain, xz and zstd). */
#include <elf.h>
#include <lzma.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "moddep.h"
#include "testhelp.h"
#include "ml-common.h"

/* ---- fixture: index + depends from index.txt ---- */

struct fixture {
	struct ml_modindex idx;
	char **paths; /* parallel: path and its depends line */
	char **depends;
	size_t n;
	size_t calls[64]; /* deps callback calls per module path */
};

static void load_fixture(struct fixture *f)
{
	ml_autofree char *text = NULL;
	char *save = NULL;

	memset(f, 0, sizeof(*f));
	assert_int_equal(ml_read_file(ml_test_data("moddep/index.txt"), 1 << 20, &text, NULL), 0);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon;
		if (line[0] == '#')
			continue;
		colon = strchr(line, ':');
		assert_non_null(colon);
		*colon = '\0';
		if (strcmp(line, "builtin") == 0) {
			ml_modindex_add_builtin(&f->idx, colon + 2);
			continue;
		}
		f->paths = realloc(f->paths, (f->n + 1) * sizeof(char *));
		f->depends = realloc(f->depends, (f->n + 1) * sizeof(char *));
		f->paths[f->n] = strdup(line);
		f->depends[f->n] = strdup(colon[1] == ' ' ? colon + 2 : "");
		ml_modindex_add(&f->idx, line, line);
		f->n++;
	}
	assert_true(f->n < ML_ARRAY_SIZE(f->calls));
}

static void free_fixture(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->paths[i]);
		free(f->depends[i]);
	}
	free(f->paths);
	free(f->depends);
	ml_modindex_clear(&f->idx);
}

static int fixture_deps(void *opaque, const struct ml_modindex_entry *m, char ***deps,
			size_t *n_deps)
{
	struct fixture *f = opaque;
	for (size_t i = 0; i < f->n; i++) {
		char *copy, *save = NULL;
		char **v;
		size_t n = 0;
		if (strcmp(f->paths[i], m->path) != 0)
			continue;
		f->calls[i]++;
		copy = strdup(f->depends[i]);
		v = calloc(16, sizeof(*v));
		for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save))
			v[n++] = strdup(d);
		free(copy);
		*deps = v;
		*n_deps = n;
		return 0;
	}
	fail_msg("no fixture entry for %s", m->path);
	return -1;
}

static void assert_order(const struct ml_moddep_result *res, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	for (size_t i = 0; i < res->n_order && i < n; i++)
		assert_string_equal(res->order[i].name, want[i]);
	assert_int_equal(res->n_order, n);
}

static void test_order_and_shared_deps(void **state)
{
	struct fixture f;
	struct ml_moddep_result res;
	static const char *const req[] = { "virtio_blk", "virtio_net", "msr" };
	static const char *const want[] = { "virtio_ring", "virtio",	   "virtio_blk", "failover",
					    "net_failover", "virtio_net", "msr",	NULL };
	(void)state;

	load_fixture(&f);
	assert_int_equal(ml_moddep_resolve(&f.idx, req, 3, fixture_deps, &f, &res), 0);
	assert_order(&res, want);
	/* shared dependencies are read and listed once */
	for (size_t i = 0; i < f.n; i++)
		assert_true(f.calls[i] <= 1);
	assert_string_equal(res.order[0].path, "kernel/drivers/virtio/virtio_ring.ko.xz");
	assert_string_equal(res.order[5].path, "kernel/drivers/net/virtio_net.ko.zst");
	assert_int_equal(res.n_builtin, 0);
	ml_moddep_result_clear(&res);
	free_fixture(&f);
}

static void test_builtin_satisfied(void **state)
{
	struct fixture f;
	struct ml_moddep_result res;
	/* names as a user may spell them: '-' and '_' are the same */
	static const char *const req[] = { "virtio-pci", "virtio_console", "virtio-rng" };
	static const char *const want[] = { "virtio_ring", "virtio", "virtio_rng", NULL };
	(void)state;

	load_fixture(&f);
	assert_int_equal(ml_moddep_resolve(&f.idx, req, 3, fixture_deps, &f, &res), 0);
	assert_order(&res, want);
	assert_int_equal(res.n_builtin, 3);
	assert_string_equal(res.builtin[0], "virtio_pci");
	assert_string_equal(res.builtin[1], "virtio_console");
	assert_string_equal(res.builtin[2], "rng_core");
	ml_moddep_result_clear(&res);
	free_fixture(&f);
}

static void test_missing_module(void **state)
{
	struct fixture f;
	struct ml_moddep_result res;
	static const char *const req[] = { "msr", "needs_ghost" };
	static const char *const req2[] = { "no_such_module" };
	(void)state;

	load_fixture(&f);
	assert_int_equal(ml_moddep_resolve(&f.idx, req, 2, fixture_deps, &f, &res), -1);
	assert_non_null(strstr(ml_error_message(), "module 'ghost' (needed by 'needs_ghost')"));
	assert_int_equal(res.n_order, 0);
	assert_int_equal(ml_moddep_resolve(&f.idx, req2, 1, fixture_deps, &f, &res), -1);
	assert_non_null(strstr(ml_error_message(), "module 'no_such_module' (requested)"));
	free_fixture(&f);
}

static void test_cycle(void **state)
{
	struct fixture f;
	struct ml_moddep_result res;
	static const char *const req[] = { "virtio_blk", "cyc_b" };
	(void)state;

	load_fixture(&f);
	assert_int_equal(ml_moddep_resolve(&f.idx, req, 2, fixture_deps, &f, &res), -1);
	assert_non_null(strstr(ml_error_message(), "cycle: cyc_b -> cyc_c -> cyc_a -> cyc_b"));
	free_fixture(&f);
}

static void test_normalize(void **state)
{
	static const char *const cases[][2] = {
		{ "kernel/drivers/char/hw_random/virtio-rng.ko.xz", "virtio_rng" },
		{ "virtio_net.ko.zst", "virtio_net" },
		{ "msr.ko", "msr" },
		{ "foo.ko.gz", "foo" },
		{ "snd-hda-intel", "snd_hda_intel" },
		{ "kernel/x/readme.txt", "readme.txt" },
	};
	(void)state;
	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		ml_autofree char *n = ml_moddep_normalize(cases[i][0]);
		assert_string_equal(n, cases[i][1]);
	}
}

/* ---- file side: tiny ELF modules ---- */

/* An ELF64 relocatable with sections: null, .modinfo (the given NUL-separated
 * strings), .shstrtab. Caller frees. */
static unsigned char *make_elf(const char *modinfo, size_t modinfo_len, size_t *len)
{
	static const char shstr[] = "\0.modinfo\0.shstrtab";
	size_t off_info = sizeof(Elf64_Ehdr);
	size_t off_str = off_info + modinfo_len;
	size_t off_sh = (off_str + sizeof(shstr) + 7) & ~(size_t)7;
	size_t total = off_sh + 3 * sizeof(Elf64_Shdr);
	unsigned char *p = calloc(1, total);
	Elf64_Ehdr eh = { 0 };
	Elf64_Shdr sh[3] = { { 0 } };

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_REL;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 3;
	eh.e_shoff = off_sh;
	eh.e_shstrndx = 2;
	sh[1].sh_name = 1;
	sh[1].sh_type = SHT_PROGBITS;
	sh[1].sh_offset = off_info;
	sh[1].sh_size = modinfo_len;
	sh[2].sh_name = 10;
	sh[2].sh_type = SHT_STRTAB;
	sh[2].sh_offset = off_str;
	sh[2].sh_size = sizeof(shstr);
	memcpy(p, &eh, sizeof(eh));
	memcpy(p + off_info, modinfo, modinfo_len);
	memcpy(p + off_str, shstr, sizeof(shstr));
	memcpy(p + off_sh, sh, sizeof(sh));
	*len = total;
	return p;
}

static void write_module(const char *dir, const char *rel, const char *modinfo, size_t mlen,
			 char format)
{
	size_t len;
	ml_autofree unsigned char *elf = make_elf(modinfo, mlen, &len);
	ml_autofree char *path = ml_path_join(dir, rel);
	ml_autofree char *parent = strdup(path);
	ml_autofree unsigned char *out = NULL;
	size_t out_len = 0;

	*strrchr(parent, '/') = '\0';
	assert_int_equal(ml_mkdir_p(parent, 0755), 0);
	if (format == 'x') {
		size_t cap = len + 4096;
		out = malloc(cap);
		assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, elf, len, out,
							 &out_len, cap),
				 LZMA_OK);
	} else if (format == 'z') {
		size_t cap = ZSTD_compressBound(len);
		out = malloc(cap);
		out_len = ZSTD_compress(out, cap, elf, len, 3);
		assert_false(ZSTD_isError(out_len));
	} else {
		out = malloc(len);
		memcpy(out, elf, len);
		out_len = len;
	}
	assert_int_equal(ml_write_atomic(path, out, out_len, 0644), 0);
}

#define MI(s) s, sizeof(s) /* include the final NUL */

static void test_modinfo_depends(void **state)
{
	size_t len, n = 99;
	char **deps = NULL;
	unsigned char *elf;
	(void)state;

	elf = make_elf(MI("license=GPL\0depends=virtio,virtio-ring\0\0name=virtio_blk\0"), &len);
	assert_int_equal(ml_modinfo_depends(elf, len, "t", &deps, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(deps[0], "virtio");
	assert_string_equal(deps[1], "virtio_ring");
	assert_null(deps[2]);
	for (size_t i = 0; i < n; i++)
		free(deps[i]);
	free(deps);
	free(elf);

	elf = make_elf(MI("depends=\0name=msr\0"), &len);
	assert_int_equal(ml_modinfo_depends(elf, len, "t", &deps, &n), 0);
	assert_int_equal(n, 0);
	free(deps);

	/* a truncated section table is an error, not a crash */
	assert_int_equal(ml_modinfo_depends(elf, len - 8, "trunc.ko", &deps, &n), -1);
	assert_non_null(strstr(ml_error_message(), "trunc.ko"));
	/* a .modinfo offset pointing past the end */
	{
		Elf64_Ehdr eh;
		Elf64_Shdr sh;
		memcpy(&eh, elf, sizeof(eh));
		memcpy(&sh, elf + eh.e_shoff + sizeof(sh), sizeof(sh));
		sh.sh_offset = len + 100;
		memcpy(elf + eh.e_shoff + sizeof(sh), &sh, sizeof(sh));
		assert_int_equal(ml_modinfo_depends(elf, len, "bad.ko", &deps, &n), -1);
		assert_non_null(strstr(ml_error_message(), "malformed .modinfo"));
	}
	free(elf);

	assert_int_equal(ml_modinfo_depends((const unsigned char *)"hello", 5, "x", &deps, &n), -1);
}

static void test_modules_from_files(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *builtin = ml_path_join(dir, "modules.builtin");
	ml_autofree char *xz_path = ml_path_join(dir, "kernel/drivers/virtio/virtio_ring.ko.xz");
	ml_autofree char *zst_path = ml_path_join(dir, "kernel/drivers/net/virtio_net.ko.zst");
	ml_autofree unsigned char *a = NULL;
	ml_autofree unsigned char *b = NULL;
	struct ml_modindex idx = ML_MODINDEX_INIT;
	struct ml_moddep_result res;
	static const char *const req[] = { "virtio_net", "msr", "virtio_pci" };
	static const char *const want[] = { "virtio_ring", "failover", "net_failover",
					    "virtio_net", "msr", NULL };
	size_t alen, blen, elen;
	unsigned char *expect;
	(void)state;

	write_module(dir, "kernel/drivers/virtio/virtio_ring.ko.xz", MI("depends=\0"), 'x');
	write_module(dir, "kernel/drivers/net/virtio_net.ko.zst",
		     MI("alias=virtio:d00000001v*\0depends=virtio_ring,net_failover\0"), 'z');
	write_module(dir, "kernel/drivers/net/net_failover.ko.xz", MI("depends=failover\0"), 'x');
	write_module(dir, "kernel/net/core/failover.ko", MI("depends=\0"), 'p');
	write_module(dir, "kernel/arch/x86/kernel/msr.ko", MI("license=GPL\0"), 'p');
	assert_int_equal(ml_write_atomic(builtin, "kernel/drivers/virtio/virtio_pci.ko\n", 36, 0644),
			 0);

	/* decompression gives back the exact ELF image */
	expect = make_elf(MI("depends=\0"), &elen);
	assert_int_equal(ml_module_read(xz_path, 1 << 20, &a, &alen), 0);
	assert_int_equal(alen, elen);
	assert_memory_equal(a, expect, elen);
	free(expect);
	expect = make_elf(MI("alias=virtio:d00000001v*\0depends=virtio_ring,net_failover\0"), &elen);
	assert_int_equal(ml_module_read(zst_path, 1 << 20, &b, &blen), 0);
	assert_int_equal(blen, elen);
	assert_memory_equal(b, expect, elen);
	free(expect);
	/* the size limit holds for decompressed data too */
	free(a);
	a = NULL;
	assert_int_equal(ml_module_read(xz_path, 16, &a, &alen), -1);

	assert_int_equal(ml_modindex_scan(&idx, dir), 0);
	assert_int_equal(idx.n_mods, 5);
	assert_true(ml_modindex_is_builtin(&idx, "virtio_pci"));
	assert_int_equal(
		ml_moddep_resolve(&idx, req, 3, ml_moddep_deps_from_files, dir, &res), 0);
	assert_order(&res, want);
	assert_string_equal(res.order[3].path, "kernel/drivers/net/virtio_net.ko.zst");
	ml_moddep_result_clear(&res);

	/* a corrupt compressed module is reported with its path */
	assert_int_equal(ml_write_atomic(xz_path, "\xfd" "7zXZ\0garbage", 12, 0644), 0);
	assert_int_equal(
		ml_moddep_resolve(&idx, req, 1, ml_moddep_deps_from_files, dir, &res), -1);
	assert_non_null(strstr(ml_error_message(), "virtio_ring.ko.xz"));

	ml_modindex_clear(&idx);
	ml_test_rmtree(dir);
}

static void test_find_moddir(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *old = ml_path_join(dir, "lib/modules/6.1.0-41-amd64");
	ml_autofree char *new = ml_path_join(dir, "usr/lib/modules/6.12.7+deb13-amd64");
	char *found = NULL;
	(void)state;

	assert_int_equal(ml_mkdir_p(old, 0755), 0);
	assert_int_equal(ml_mkdir_p(new, 0755), 0);
	assert_int_equal(ml_moddep_find_moddir(dir, "6.1.0-41-amd64", &found), 0);
	assert_string_equal(found, old);
	free(found);
	assert_int_equal(ml_moddep_find_moddir(dir, "6.12.7+deb13-amd64", &found), 0);
	assert_string_equal(found, new);
	free(found);
	assert_int_equal(ml_moddep_find_moddir(dir, "7.0.0-amd64", &found), -1);
	assert_non_null(strstr(ml_error_message(), "7.0.0-amd64"));
	ml_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_shared_deps),
		cmocka_unit_test(test_builtin_satisfied),
		cmocka_unit_test(test_missing_module),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_modinfo_depends),
		cmocka_unit_test(test_modules_from_files),
		cmocka_unit_test(test_find_moddir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
