/* Unit tests of the guest-vs-QEMU cross-check (results/abi-crosscheck.h) on a
 * real probe dump and the QEMU view recorded beside it in the same phase
 * (tests/data/abi-crosscheck/, README there): the two agree, and every
 * hand-made change to one side is named exactly. Also the linking of a
 * queue size refusal to the source QEMU's view. */
#include <string.h>

#include "abi-crosscheck.h"
#include "abi.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

struct pair {
	json_t *dump, *view;
};

static void load_pair(struct pair *p)
{
	ml_autofree char *dpath = strdup(ml_test_data("abi-crosscheck/trixie-pc-q35-10.0-abi.json"));
	ml_autofree char *vpath = strdup(ml_test_data("abi-crosscheck/trixie-pc-q35-10.0-qemu.json"));

	p->dump = ml_abi_load(dpath);
	p->view = ml_json_load_file(vpath, 1 << 20);
	assert_non_null(p->dump);
	assert_non_null(p->view);
}

static void free_pair(struct pair *p)
{
	json_decref(p->dump);
	json_decref(p->view);
}

/* Compare and expect exactly one disagreement with these fields. */
static void expect_one(const struct pair *p, const char *section, const char *key, const char *guest,
		       const char *qemu)
{
	struct ml_xcheck x = { 0 };

	assert_int_equal(ml_xcheck_compare(p->dump, p->view, &x), 0);
	if (x.n != 1) {
		ml_autofree char *t = ml_xcheck_to_text(&x);
		fail_msg("expected 1 disagreement, got %zu:\n%s", x.n, t);
	}
	assert_string_equal(x.items[0].section, section);
	assert_string_equal(x.items[0].key, key);
	if (guest)
		assert_string_equal(x.items[0].guest, guest);
	else
		assert_null(x.items[0].guest);
	if (qemu)
		assert_string_equal(x.items[0].qemu, qemu);
	else
		assert_null(x.items[0].qemu);
	ml_xcheck_clear(&x);
}

static json_t *virtio_of(json_t *view, const char *bdf)
{
	size_t i;
	json_t *d;

	json_array_foreach(json_object_get(view, "virtio"), i, d)
		if (strcmp(ml_json_str(d, "bdf"), bdf) == 0)
			return d;
	fail_msg("no virtio device %s in the view", bdf);
	return NULL;
}

static json_t *pci_of(json_t *dump, const char *bdf)
{
	size_t i;
	json_t *d;

	json_array_foreach(json_object_get(json_object_get(dump, "pci"), "devices"), i, d)
		if (strcmp(ml_json_str(d, "bdf"), bdf) == 0)
			return d;
	fail_msg("no PCI device %s in the dump", bdf);
	return NULL;
}

/* The real control: the guest and QEMU agree on every value compared. */
static void test_real_control_agrees(void **state)
{
	struct pair p;
	struct ml_xcheck x = { 0 };

	(void)state;
	load_pair(&p);
	assert_int_equal(ml_xcheck_compare(p.dump, p.view, &x), 0);
	if (x.n) {
		ml_autofree char *t = ml_xcheck_to_text(&x);
		fail_msg("%zu disagreements on a control:\n%s", x.n, t);
	}
	/* 4 virtio devices (64 + 1 + 3 + 1 queues), 8 PCI devices, 36 CPUID
	 * words: zero is not an empty comparison. */
	assert_true(x.checked > 200);
	assert_int_equal(json_array_size(x.not_compared), 0);
	ml_xcheck_clear(&x);
	free_pair(&p);
}

/* QEMU's vring-num of a queue differs from the size the guest reads. */
static void test_queue_size(void **state)
{
	struct pair p;
	json_t *q;

	(void)state;
	load_pair(&p);
	q = json_array_get(json_object_get(virtio_of(p.view, "0000:00:03.0"), "queues"), 1);
	assert_int_equal(ml_json_int(q, "vring-num", -1), 1024);
	ml_json_set_int(q, "vring-num", 256);
	expect_one(&p, "virtio", "0000:00:03.0 queue 1 size", "1024", "256");
	free_pair(&p);
}

/* The guest reads another interrupt pin than QEMU's query-pci reports. */
static void test_interrupt_pin(void **state)
{
	struct pair p;
	json_t *dev;
	char *cfg;

	(void)state;
	load_pair(&p);
	dev = pci_of(p.dump, "0000:00:02.0");
	cfg = strdup(ml_json_str(dev, "config"));
	/* config byte 0x3d is hex characters 0x7a..0x7b: INTA (01) -> INTB (02) */
	assert_memory_equal(cfg + 2 * 0x3d, "01", 2);
	memcpy(cfg + 2 * 0x3d, "02", 2);
	ml_json_set_str(dev, "config", cfg);
	free(cfg);
	expect_one(&p, "pci", "0000:00:02.0 interrupt pin", "2", "1");
	free_pair(&p);
}

/* One feature bit offered by the device that QEMU says it does not have. */
static void test_feature_bit(void **state)
{
	struct pair p;
	json_t *dev = NULL;
	size_t i;
	json_t *d;
	uint64_t v;
	char hex[24];

	(void)state;
	load_pair(&p);
	json_array_foreach(json_object_get(json_object_get(p.dump, "virtio"), "devices"), i, d)
		if (strcmp(ml_json_str(d, "bdf"), "0000:00:04.0") == 0)
			dev = d;
	assert_non_null(dev);
	assert_true(ml_abi_parse_hex64(ml_json_str(dev, "features_offered"), &v));
	/* VIRTIO_BLK_F_RO (bit 5): not offered by this disk */
	assert_false(v >> 5 & 1);
	snprintf(hex, sizeof(hex), "0x%016llx", (unsigned long long)(v | 1ull << 5));
	ml_json_set_str(dev, "features_offered", hex);
	{
		struct ml_xcheck x = { 0 };
		assert_int_equal(ml_xcheck_compare(p.dump, p.view, &x), 0);
		assert_int_equal(x.n, 1);
		assert_string_equal(x.items[0].key, "0000:00:04.0 features offered (host-features)");
		assert_non_null(strstr(x.items[0].detail, "bits only the guest sees: 0x20,"));
		ml_xcheck_clear(&x);
	}
	free_pair(&p);
}

/* A CPUID bit: named; and the documented masks hold (OSXSAVE differs
 * between the guest, whose kernel set CR4.OSXSAVE, and the feature word). */
static void test_cpuid(void **state)
{
	struct pair p;
	json_t *w = NULL, *words;
	size_t i;

	(void)state;
	load_pair(&p);
	words = json_object_get(json_array_get(json_object_get(p.view, "cpus"), 0), "feature-words");
	json_array_foreach(words, i, w)
		if (ml_json_int(w, "cpuid-input-eax", -1) == 1 && strcmp(ml_json_str(w, "cpuid-register"), "ECX") == 0)
			break;
	assert_non_null(w);
	/* Flip OSXSAVE (masked: the guest kernel sets it): still agrees. */
	ml_json_set_int(w, "features", ml_json_int(w, "features", 0) ^ (1 << 27));
	{
		struct ml_xcheck x = { 0 };
		assert_int_equal(ml_xcheck_compare(p.dump, p.view, &x), 0);
		assert_int_equal(x.n, 0);
		ml_xcheck_clear(&x);
	}
	/* SSE3 (bit 0), which the guest sees, gone from QEMU's word. */
	assert_true(ml_json_int(w, "features", 0) & 1);
	ml_json_set_int(w, "features", ml_json_int(w, "features", 0) & ~1LL);
	expect_one(&p, "cpuid", "leaf 0x1.0 ECX bit 0 (pni)", "1", "0");
	free_pair(&p);
}

/* A queue size refusal is explained by the source QEMU's view. */
static void test_explain_queue_refusal(void **state)
{
	struct pair p;
	json_t *why;
	const char *ev = "source: migration failed: Unable to write to socket: Broken pipe\n"
			 "QEMU (dst) exited with status 1; stderr:\n"
			 "qemu-system-x86_64: VQ 0 vring.num 1024 exceeds allocated max 128\n"
			 "qemu-system-x86_64: error while loading state for instance 0x0 of device "
			 "'0000:00:01.0/virtio-console'\n";

	(void)state;
	load_pair(&p);
	why = ml_xcheck_explain_failure(ev, "0000:00:01.0/virtio-console", p.view);
	assert_non_null(why);
	assert_string_equal(ml_json_str(why, "kind"), "virtio-queue-size");
	assert_string_equal(ml_json_str(why, "bdf"), "0000:00:01.0");
	assert_int_equal(ml_json_int(why, "queue", -1), 0);
	assert_int_equal(ml_json_int(why, "source_vring_num", -1), 1024);
	assert_int_equal(ml_json_int(why, "source_vring_num_default", -1), 1024);
	assert_int_equal(ml_json_int(why, "destination_max", -1), 128);
	json_decref(why);
	/* Not when the view says otherwise, another device, or another error. */
	assert_null(ml_xcheck_explain_failure(
		"VQ 0 vring.num 256 exceeds allocated max 128", "0000:00:01.0/virtio-console", p.view));
	assert_null(ml_xcheck_explain_failure(ev, "0000:00:07.0/virtio-console", p.view));
	assert_null(ml_xcheck_explain_failure("Features 0x10 unsupported", "0000:00:01.0/virtio-console",
					      p.view));
	assert_null(ml_xcheck_explain_failure(ev, "ram", p.view));
	free_pair(&p);
}

/* A build's unavailable command is reported, not a disagreement. */
static void test_unavailable_is_not_compared(void **state)
{
	struct pair p;
	struct ml_xcheck x = { 0 };

	(void)state;
	load_pair(&p);
	ml_json_set(json_object_get(p.view, "commands"), "x-query-virtio-status",
		    json_pack("{s:b, s:b, s:s}", "available", 0, "unsafe", 1, "desc", "aborts"));
	assert_int_equal(ml_xcheck_compare(p.dump, p.view, &x), 0);
	assert_int_equal(x.n, 0);
	assert_int_equal(json_array_size(x.not_compared), 1);
	assert_string_equal(ml_json_str(json_array_get(x.not_compared, 0), "section"), "virtio features");
	ml_xcheck_clear(&x);
	/* Not a view at all. */
	assert_int_equal(ml_xcheck_compare(p.dump, p.dump, &x), -1);
	free_pair(&p);
}

/* Old machine types (pc-*-2.4) make virtio devices legacy: the guest has no
 * common configuration, so no number of queues, queue sizes or offered
 * features. That is said, never a disagreement. */
static void test_legacy_virtio_not_compared(void **state)
{
	struct pair p;
	struct ml_xcheck x = { 0 };
	json_t *dev = NULL, *d, *nc;
	size_t i;
	bool said = false;

	(void)state;
	load_pair(&p);
	json_array_foreach(json_object_get(json_object_get(p.dump, "virtio"), "devices"), i, d)
		if (strcmp(ml_json_str(d, "bdf"), "0000:00:03.0") == 0)
			dev = d;
	assert_non_null(dev);
	ml_json_set_str(dev, "transport", "legacy");
	json_object_del(dev, "num_queues");
	ml_json_set(dev, "queues", json_null());
	ml_json_set(dev, "features_offered", json_null());
	assert_int_equal(ml_xcheck_compare(p.dump, p.view, &x), 0);
	if (x.n) {
		ml_autofree char *t = ml_xcheck_to_text(&x);
		fail_msg("a legacy device gave disagreements:\n%s", t);
	}
	json_array_foreach(x.not_compared, i, nc)
		said |= strstr(ml_json_str(nc, "why"), "0000:00:03.0: legacy transport") != NULL;
	assert_true(said);
	ml_xcheck_clear(&x);
	free_pair(&p);
}

/* An IDE controller in compatibility mode: the guest kernel lists the legacy
 * ports as BARs 0-3, QEMU lists no such regions; not a disagreement. The
 * same controller in native mode must have them. */
static void test_legacy_ide_bars(void **state)
{
	static const long long sizes[] = { 8, 1, 8, 1 };
	struct pair p;
	struct ml_xcheck x = { 0 };
	json_t *dev, *bars, *q = NULL, *d;
	size_t i;

	(void)state;
	for (int native = 0; native < 2; native++) {
		load_pair(&p);
		dev = pci_of(p.dump, "0000:00:1f.2");
		ml_json_set_int(dev, "class", native ? 0x010185 : 0x010180);
		bars = json_object_get(dev, "bars");
		for (int b = 0; b < 4; b++)
			json_array_insert_new(bars, (size_t)b,
					      json_pack("{s:i, s:b, s:I, s:s}", "index", b, "prefetchable", 0, "size",
							(json_int_t)sizes[b], "type", "io"));
		json_array_foreach(json_object_get(p.view, "pci"), i, d)
			if (ml_json_int(d, "slot", -1) == 31 && ml_json_int(d, "function", -1) == 2)
				q = d;
		assert_non_null(q);
		ml_json_set_int(json_object_get(q, "class_info"), "class", 0x0101);
		assert_int_equal(ml_xcheck_compare(p.dump, p.view, &x), 0);
		assert_int_equal(x.n, native ? 4 : 0);
		ml_xcheck_clear(&x);
		free_pair(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_control_agrees),
		cmocka_unit_test(test_queue_size),
		cmocka_unit_test(test_interrupt_pin),
		cmocka_unit_test(test_feature_bit),
		cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_explain_queue_refusal),
		cmocka_unit_test(test_unavailable_is_not_compared),
		cmocka_unit_test(test_legacy_virtio_not_compared),
		cmocka_unit_test(test_legacy_ide_bars),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
