/* Unit tests of machine-type negotiation and plan expansion, on the real
 * `-machine help` output of Debian's QEMU builds (tests/data/machines/,
 * parsed by the lab's own parser). Plans of tests/data/matrix/plan-*.ini and
 * of the shipped matrices are compared with their .plan.txt files
 * (regenerate with MIGLAB_REGENERATE=1). */
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "matrix.h"
#include "negotiate.h"
#include "plan.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

/* debian:SUITE -> the recorded machine list of that suite's QEMU;
 * path:/NAME -> tests/data/matrix/NAME.txt (made-up lists). */
static const struct {
	const char *provider, *fixture;
} fixtures[] = {
	{ "debian:bookworm", "machines/qemu-7.2.22-debian-bookworm.txt" },
	{ "debian:bookworm-backports", "machines/qemu-10.0.2-debian-bookworm-backports.txt" },
	{ "debian:trixie", "machines/qemu-10.0.13-debian-trixie.txt" },
	{ "debian:sid", "machines/qemu-11.1.3-debian-sid.txt" },
};

static json_t *machines_of(const char *provider)
{
	ml_autofree char *rel = NULL;
	ml_autofree char *text = NULL;

	for (size_t i = 0; i < ML_ARRAY_SIZE(fixtures); i++)
		if (strcmp(fixtures[i].provider, provider) == 0)
			rel = strdup(fixtures[i].fixture);
	if (!rel && strncmp(provider, "path:/", 6) == 0)
		rel = ml_strdup_printf("matrix/%s.txt", provider + 6);
	assert_non_null(rel);
	assert_int_equal(ml_read_file(ml_test_data(rel), 1 << 20, &text, NULL), 0);
	return ml_build_parse_machine_help(text);
}

struct loaded {
	struct ml_matrix m;
	json_t **machines;
	struct ml_plan plan;
};

static void load_and_plan(const char *path, const char *file, struct loaded *l)
{
	ml_autofree char *text = NULL;
	size_t len = 0;

	assert_int_equal(ml_read_file(path, 1 << 20, &text, &len), 0);
	if (ml_matrix_parse(text, len, file, &l->m) < 0) {
		fprintf(stderr, "%s\n", ml_error_message());
		fail();
	}
	l->machines = calloc(l->m.n_builds, sizeof(*l->machines));
	for (size_t b = 0; b < l->m.n_builds; b++)
		l->machines[b] = machines_of(l->m.builds[b].provider);
	if (ml_plan_expand(&l->m, l->machines, &l->plan) < 0) {
		fprintf(stderr, "%s\n", ml_error_message());
		fail();
	}
}

static void loaded_clear(struct loaded *l)
{
	for (size_t b = 0; b < l->m.n_builds; b++)
		json_decref(l->machines[b]);
	free(l->machines);
	ml_plan_clear(&l->plan);
	ml_matrix_clear(&l->m);
}

/* Controls run first, then the rest, each in plan order, every cell once. */
static void check_run_order(const struct ml_plan *p)
{
	size_t *order = calloc(p->n + 1, sizeof(*order));
	bool *seen = calloc(p->n + 1, sizeof(*seen));
	size_t controls = 0;

	assert_non_null(order);
	assert_non_null(seen);
	for (size_t i = 0; i < p->n; i++)
		controls += p->cells[i].control;
	assert_true(controls > 0);
	ml_plan_run_order(p, order);
	for (size_t k = 0; k < p->n; k++) {
		assert_true(order[k] < p->n);
		assert_false(seen[order[k]]);
		seen[order[k]] = true;
		assert_int_equal(p->cells[order[k]].control, k < controls);
		if (k && (k < controls) == (k - 1 < controls))
			assert_true(order[k] > order[k - 1]);
	}
	free(order);
	free(seen);
}

/* One line per cell: "k=KERNEL SRC -> DST FAMILY MACHINE RULE [flags] [skip: why]". */
static char *plan_text(const struct ml_matrix *m, const struct ml_plan *p)
{
	ml_autobuf struct ml_buf b = ML_BUF_INIT(0);

	ml_buf_printf(&b, "# %s: %zu cells, %zu planned skips\n", m->name, p->n,
		      ml_plan_count_skips(p));
	for (size_t i = 0; i < p->n; i++) {
		const struct ml_plan_cell *c = &p->cells[i];
		ml_buf_printf(&b, "%zu k=%s %s -> %s %s %s %s%s%s", i, m->kernels[c->kernel].name,
			      m->builds[c->src].name, m->builds[c->dst].name, c->family,
			      c->machine, c->rule, c->control ? " control" : "",
			      c->deprecated ? " deprecated" : "");
		if (c->skip_reason)
			ml_buf_printf(&b, " SKIP: %s", c->skip_reason);
		ml_buf_puts(&b, "\n");
	}
	return ml_buf_steal(&b);
}

static void check_plan_file(const struct loaded *l, const char *expected_rel)
{
	ml_autofree char *got = plan_text(&l->m, &l->plan);
	ml_autofree char *expected = NULL;

	if (ml_test_regenerate()) {
		assert_int_equal(ml_write_atomic(ml_test_data(expected_rel), got, strlen(got),
						 0644), 0);
		return;
	}
	if (ml_read_file(ml_test_data(expected_rel), 1 << 20, &expected, NULL) < 0) {
		fprintf(stderr, "%s missing (MIGLAB_REGENERATE=1 writes it)\n", expected_rel);
		fail();
	}
	if (strcmp(expected, got) != 0)
		fprintf(stderr, "%s differs; got:\n%s", expected_rel, got);
	assert_string_equal(expected, got);
}

static void test_machine_parse(void **state)
{
	static const struct {
		const char *name, *family;
		unsigned n, part[4];
	} good[] = {
		{ "pc-q35-7.2", "q35", 2, { 7, 2 } },
		{ "pc-q35-10.0", "q35", 2, { 10, 0 } },
		{ "pc-i440fx-2.12", "i440fx", 2, { 2, 12 } },
		{ "pc-q35-4.0.1", "q35", 3, { 4, 0, 1 } },
	};
	static const char *const bad[] = {
		"q35", "pc", "microvm", "none", "pc-q35", "pc-q35-", "pc-q35-7", "pc-q35-7.",
		"pc-q35-.2", "pc-q35-7..2", "pc-q35-a.b", "pc--7.2", "pc-Q35-7.2",
		"pc-q35-1.2.3.4.5", "pc-q35-99999999999.0", "x-pc-q35-7.2",
	};
	char family[32];
	struct ml_machine_version v;
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(good); i++) {
		assert_true(ml_machine_parse(good[i].name, family, sizeof(family), &v));
		assert_string_equal(family, good[i].family);
		assert_int_equal(v.n, good[i].n);
		for (unsigned p = 0; p < v.n; p++)
			assert_int_equal(v.part[p], good[i].part[p]);
	}
	for (size_t i = 0; i < ML_ARRAY_SIZE(bad); i++) {
		if (ml_machine_parse(bad[i], family, sizeof(family), &v))
			fprintf(stderr, "'%s' parsed\n", bad[i]);
		assert_false(ml_machine_parse(bad[i], family, sizeof(family), &v));
	}
	assert_false(ml_machine_parse("pc-i440fx-7.2", family, 4, &v)); /* family too long */
}

static int cmp_names(const char *a, const char *b)
{
	char fa[32], fb[32];
	struct ml_machine_version va, vb;

	assert_true(ml_machine_parse(a, fa, sizeof(fa), &va));
	assert_true(ml_machine_parse(b, fb, sizeof(fb), &vb));
	return ml_machine_version_cmp(&va, &vb);
}

/* Integer tuples, never strings. */
static void test_version_order(void **state)
{
	(void)state;
	assert_true(cmp_names("pc-q35-10.0", "pc-q35-9.2") > 0);
	assert_true(cmp_names("pc-q35-9.2", "pc-q35-10.0") < 0);
	assert_true(cmp_names("pc-i440fx-2.12", "pc-i440fx-2.9") > 0);
	assert_true(cmp_names("pc-q35-4.0.1", "pc-q35-4.0") > 0);
	assert_true(cmp_names("pc-q35-4.0.1", "pc-q35-4.1") < 0);
	assert_true(cmp_names("pc-q35-11.1", "pc-q35-11.1") == 0);
	assert_true(cmp_names("pc-q35-7.10", "pc-q35-7.2") > 0);
}

static void test_resolve(void **state)
{
	json_auto_t *bw = machines_of("debian:bookworm");
	json_auto_t *sid = machines_of("debian:sid");
	(void)state;

	assert_string_equal(ml_machines_resolve(bw, "q35"), "pc-q35-7.2");
	assert_string_equal(ml_machines_resolve(bw, "pc"), "pc-i440fx-7.2");
	assert_string_equal(ml_machines_resolve(sid, "q35"), "pc-q35-11.1");
	assert_string_equal(ml_machines_resolve(sid, "pc-q35-5.2"), "pc-q35-5.2");
	assert_null(ml_machines_resolve(bw, "pc-q35-11.1"));
	assert_true(ml_machines_deprecated(sid, "pc-q35-7.2"));
	assert_false(ml_machines_deprecated(bw, "pc-q35-7.2"));
	assert_false(ml_machines_deprecated(sid, "pc-q35-11.1"));
}

static struct ml_negotiation negotiate(const char *src_provider, const char *dst_provider,
				       const char *family, unsigned select,
				       const char *const *list, size_t n_list)
{
	json_auto_t *sm = machines_of(src_provider);
	json_auto_t *dm = machines_of(dst_provider);
	struct ml_matrix_family f = {
		.family = (char *)family, .select = select, .list = (char **)list, .n_list = n_list,
	};
	/* Named after the suite or the file: debian:sid -> sid, path:/x -> x. */
	struct ml_negotiate_build src = { strrchr(src_provider, ':') + 1, src_provider, sm };
	struct ml_negotiate_build dst = { strrchr(dst_provider, ':') + 1, dst_provider, dm };

	if (*src.name == '/')
		src.name++;
	if (*dst.name == '/')
		dst.name++;
	struct ml_negotiation out;

	assert_int_equal(ml_negotiate_family(&f, &src, &dst, &out), 0);
	return out;
}

static void assert_item(const struct ml_negotiated *it, const char *machine, const char *rule,
			bool deprecated, const char *skip)
{
	assert_string_equal(it->machine, machine);
	assert_string_equal(it->rule, rule);
	assert_int_equal(it->deprecated, deprecated);
	if (skip)
		assert_string_equal(it->skip_reason, skip);
	else
		assert_null(it->skip_reason);
}

static void test_negotiate_select(void **state)
{
	struct ml_negotiation n;
	(void)state;

	/* 7.2 -> 10.0.2: bookworm-backports still has pc-q35-7.1 .. older ones. */
	n = negotiate("debian:bookworm", "debian:bookworm-backports", "q35",
		      ML_SELECT_NEWEST_COMMON | ML_SELECT_OLDEST_COMMON, NULL, 0);
	assert_int_equal(n.n, 2);
	assert_item(&n.items[0], "pc-q35-7.2", "newest-common", false, NULL);
	assert_string_equal(n.items[1].rule, "oldest-common");
	ml_negotiation_clear(&n);

	/* 7.2 -> 11.1: pc-q35-7.2 is deprecated on sid; the oldest common is 5.2. */
	n = negotiate("debian:bookworm", "debian:sid", "q35",
		      ML_SELECT_NEWEST_COMMON | ML_SELECT_OLDEST_COMMON, NULL, 0);
	assert_int_equal(n.n, 2);
	assert_item(&n.items[0], "pc-q35-7.2", "newest-common", true, NULL);
	assert_item(&n.items[1], "pc-q35-5.2", "oldest-common", true, NULL);
	ml_negotiation_clear(&n);

	/* 11.1 -> 10.0.13: 10.0 sorts above 9.2. */
	n = negotiate("debian:sid", "debian:trixie", "i440fx", ML_SELECT_NEWEST_COMMON, NULL, 0);
	assert_int_equal(n.n, 1);
	assert_item(&n.items[0], "pc-i440fx-10.0", "newest-common", false, NULL);
	ml_negotiation_clear(&n);

	/* all-common, newest first, labelled by the first rule picking each. */
	n = negotiate("debian:bookworm", "debian:sid", "q35",
		      ML_SELECT_ALL_COMMON | ML_SELECT_NEWEST_COMMON, NULL, 0);
	assert_int_equal(n.n, 7); /* 7.2 7.1 7.0 6.2 6.1 6.0 5.2 */
	assert_item(&n.items[0], "pc-q35-7.2", "newest-common", true, NULL);
	assert_item(&n.items[1], "pc-q35-7.1", "all-common", true, NULL);
	assert_item(&n.items[6], "pc-q35-5.2", "all-common", true, NULL);
	ml_negotiation_clear(&n);

	/* A control: every machine type of the build, pc-q35-4.0.1 included. */
	n = negotiate("debian:bookworm", "debian:bookworm", "q35", ML_SELECT_ALL_COMMON, NULL, 0);
	assert_int_equal(n.n, 24);
	assert_item(&n.items[0], "pc-q35-7.2", "all-common", false, NULL);
	assert_item(&n.items[11], "pc-q35-4.0.1", "all-common", false, NULL);
	assert_item(&n.items[12], "pc-q35-4.0", "all-common", false, NULL);
	assert_item(&n.items[15], "pc-q35-2.12", "all-common", false, NULL);
	assert_item(&n.items[18], "pc-q35-2.9", "all-common", false, NULL);
	assert_item(&n.items[23], "pc-q35-2.4", "all-common", false, NULL);
	ml_negotiation_clear(&n);

	/* Nothing in common: one skip. */
	n = negotiate("path:/machines-ancient", "debian:sid", "q35",
		      ML_SELECT_OLDEST_COMMON | ML_SELECT_ALL_COMMON, NULL, 0);
	assert_int_equal(n.n, 1);
	assert_item(&n.items[0], "q35", "oldest-common", false,
		    "no common q35 machine type between machines-ancient "
		    "(path:/machines-ancient) and sid (debian:sid)");
	ml_negotiation_clear(&n);

	n = negotiate("path:/machines-ancient", "path:/machines-ancient", "i440fx",
		      ML_SELECT_NEWEST_COMMON, NULL, 0);
	assert_int_equal(n.n, 1);
	assert_item(&n.items[0], "i440fx", "newest-common", false,
		    "machines-ancient (path:/machines-ancient) has no i440fx machine type");
	ml_negotiation_clear(&n);
}

static void test_negotiate_list(void **state)
{
	static const char *const list[] = {
		"q35", "pc-q35-7.2", "pc-q35-11.0", "pc-q35-12.0", "pc-q35-5.2",
	};
	struct ml_negotiation n;
	(void)state;

	/* bookworm -> sid: q35 means pc-q35-7.2 on bookworm; the repeat is dropped. */
	n = negotiate("debian:bookworm", "debian:sid", "q35", 0, list, ML_ARRAY_SIZE(list));
	assert_int_equal(n.n, 4);
	assert_item(&n.items[0], "pc-q35-7.2", "list", true, NULL);
	assert_item(&n.items[1], "pc-q35-11.0", "list", false,
		    "machine type pc-q35-11.0 does not exist in bookworm (debian:bookworm)");
	assert_item(&n.items[2], "pc-q35-12.0", "list", false,
		    "machine type pc-q35-12.0 does not exist in bookworm (debian:bookworm) "
		    "nor in sid (debian:sid)");
	assert_item(&n.items[3], "pc-q35-5.2", "list", true, NULL);
	ml_negotiation_clear(&n);

	/* sid -> bookworm: q35 resolves on the source, to pc-q35-11.1. */
	n = negotiate("debian:sid", "debian:bookworm", "q35", 0, list, ML_ARRAY_SIZE(list));
	assert_int_equal(n.n, 5);
	assert_item(&n.items[0], "q35", "list", false,
		    "machine type pc-q35-11.1 (what q35 means in sid) does not exist in "
		    "bookworm (debian:bookworm)");
	assert_item(&n.items[1], "pc-q35-7.2", "list", true, NULL);
	assert_item(&n.items[2], "pc-q35-11.0", "list", false,
		    "machine type pc-q35-11.0 does not exist in bookworm (debian:bookworm)");
	ml_negotiation_clear(&n);
}

static void test_negotiate_no_machines(void **state)
{
	struct ml_matrix_family f = { .family = "q35", .select = ML_SELECT_NEWEST_COMMON };
	json_auto_t *sm = machines_of("debian:sid");
	struct ml_negotiate_build src = { "sid", "debian:sid", sm };
	struct ml_negotiate_build dst = { "x", "path:/x", NULL };
	struct ml_negotiation n;
	(void)state;

	assert_int_equal(ml_negotiate_family(&f, &src, &dst, &n), -1);
	assert_string_equal(ml_error_message(), "build x (path:/x) has no list of machine types");
	assert_int_equal(n.n, 0);
}

static void test_plan_files(void **state)
{
	static const char *const files[] = {
		"plan-list", "plan-pairs", "plan-nocommon",
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(files); i++) {
		ml_autofree char *ini = ml_strdup_printf("matrix/%s.ini", files[i]);
		ml_autofree char *exp = ml_strdup_printf("matrix/%s.plan.txt", files[i]);
		ml_autofree char *base = ml_strdup_printf("%s.ini", files[i]);
		struct loaded l = { 0 };

		load_and_plan(ml_test_data(ini), base, &l);
		check_plan_file(&l, exp);
		loaded_clear(&l);
	}
}

/* Every cell of the plan in exactly one shard, for N = 1..7. */
static void check_shards(const struct ml_plan *plan)
{
	for (unsigned total = 1; total <= 7; total++) {
		size_t sum = 0;
		for (unsigned index = 1; index <= total; index++) {
			struct ml_plan shard;
			assert_int_equal(ml_plan_shard(plan, index, total, &shard), 0);
			for (size_t j = 0; j < shard.n; j++) {
				const struct ml_plan_cell *a = &shard.cells[j];
				const struct ml_plan_cell *b = &plan->cells[(index - 1) + j * total];
				assert_int_equal(a->src, b->src);
				assert_int_equal(a->dst, b->dst);
				assert_int_equal(a->kernel, b->kernel);
				assert_string_equal(a->family, b->family);
				assert_string_equal(a->machine, b->machine);
				assert_ptr_equal(a->rule, b->rule);
				assert_int_equal(a->deprecated, b->deprecated);
				assert_true((a->skip_reason == NULL) == (b->skip_reason == NULL));
				assert_true(a->machine != b->machine); /* a copy */
			}
			sum += shard.n;
			ml_plan_clear(&shard);
		}
		assert_int_equal(sum, plan->n);
	}
}

/* The shipped matrices plan with the recorded machine lists; their plans are
 * kept in tests/data/matrix/shipped-*.plan.txt for review. */
static void test_shipped_plans(void **state)
{
	static const struct {
		const char *name;
		size_t cells;
	} shipped[] = {
		{ "debian", 0 }, { "quick", 4 }, { "backport", 0 },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(shipped); i++) {
		ml_autofree char *ini = ml_strdup_printf("../../matrix/%s.ini", shipped[i].name);
		ml_autofree char *base = ml_strdup_printf("%s.ini", shipped[i].name);
		ml_autofree char *exp = ml_strdup_printf("matrix/shipped-%s.plan.txt",
							 shipped[i].name);
		struct loaded l = { 0 };

		load_and_plan(ml_test_data(ini), base, &l);
		if (shipped[i].cells)
			assert_int_equal(l.plan.n, shipped[i].cells);
		assert_int_equal(ml_plan_count_skips(&l.plan), 0);
		check_plan_file(&l, exp);
		check_shards(&l.plan);
		check_run_order(&l.plan);
		loaded_clear(&l);
	}
}

static void test_shard_errors(void **state)
{
	struct ml_plan empty = { 0 }, out;
	(void)state;

	assert_int_equal(ml_plan_shard(&empty, 0, 3, &out), -1);
	assert_int_equal(ml_plan_shard(&empty, 4, 3, &out), -1);
	assert_int_equal(ml_plan_shard(&empty, 1, 0, &out), -1);
	assert_string_equal(ml_error_message(),
			    "bad shard 1/0 (expected I/N with 1 <= I <= N <= 10000)");
	assert_int_equal(ml_plan_shard(&empty, 3, 3, &out), 0);
	assert_int_equal(out.n, 0);
	ml_plan_clear(&out);
}

static void test_plan_json(void **state)
{
	struct loaded l = { 0 };
	json_auto_t *j = NULL;
	json_t *c;
	(void)state;

	load_and_plan(ml_test_data("../../matrix/quick.ini"), "quick.ini", &l);
	j = ml_plan_to_json(&l.m, &l.plan);
	assert_int_equal(json_array_size(j), 4);
	c = json_array_get(j, 1);
	assert_string_equal(ml_json_str(c, "src"), "bookworm");
	assert_string_equal(ml_json_str(c, "dst"), "bookworm-backports");
	assert_string_equal(ml_json_str(c, "kernel"), "bookworm");
	assert_string_equal(ml_json_str(c, "family"), "q35");
	assert_string_equal(ml_json_str(c, "machine"), "pc-q35-7.2");
	assert_string_equal(ml_json_str(c, "rule"), "newest-common");
	assert_false(ml_json_bool(c, "control", true));
	assert_false(ml_json_bool(c, "deprecated", true));
	assert_null(json_object_get(c, "skip_reason"));
	assert_true(ml_json_bool(json_array_get(j, 0), "control", false));
	loaded_clear(&l);
}

static void test_plan_missing_machines(void **state)
{
	struct loaded l = { 0 };
	json_t *machines[2] = { NULL, NULL };
	struct ml_plan p;
	(void)state;

	load_and_plan(ml_test_data("../../matrix/quick.ini"), "quick.ini", &l);
	machines[0] = l.machines[0];
	assert_int_equal(ml_plan_expand(&l.m, machines, &p), -1);
	assert_string_equal(ml_error_message(), "planning matrix quick: build bookworm-backports "
			    "(debian:bookworm-backports) has no list of machine types");
	assert_int_equal(p.n, 0);
	loaded_clear(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_machine_parse),
		cmocka_unit_test(test_version_order),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_negotiate_select),
		cmocka_unit_test(test_negotiate_list),
		cmocka_unit_test(test_negotiate_no_machines),
		cmocka_unit_test(test_plan_files),
		cmocka_unit_test(test_shipped_plans),
		cmocka_unit_test(test_shard_errors),
		cmocka_unit_test(test_plan_json),
		cmocka_unit_test(test_plan_missing_machines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
