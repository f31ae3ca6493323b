/* The guest's ABI dump against QEMU's own view (abi-crosscheck.h,
 * docs/abi-crosscheck.md). */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi-crosscheck.h"
#include "abi-tables.h"
#include "abi.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-common.h"

/* ---- the masks: bits that legitimately differ, with why ---------------------
 * Each one measured on control cells of every build (docs/abi-crosscheck.md
 * lists the measurements); nothing else is masked. */

/* CPUID bits QEMU's feature words hold but the CPU computes from the guest's
 * own state when the guest executes CPUID (target/i386/cpu.c cpu_x86_cpuid). */
static const struct {
	uint32_t leaf, subleaf;
	const char *reg;
	uint32_t mask;
	const char *why;
} cpuid_masks[] = {
	{ 0x1, 0, "ECX", 1u << 27,
	  "OSXSAVE: a copy of CR4.OSXSAVE, set by the guest kernel; the feature word does not hold it" },
	{ 0x1, 0, "EDX", 1u << 9,
	  "APIC: cleared while the guest has its local APIC disabled (IA32_APIC_BASE bit 11)" },
	{ 0x7, 0, "ECX", 1u << 4,
	  "OSPKE: a copy of CR4.PKE, set by the guest kernel" },
};

/* virtio-pci's modern interface never offers the legacy-only transport bits
 * (hw/virtio/virtio-pci.c reads device_feature as host_features without the
 * device class's legacy_features: VIRTIO_F_NOTIFY_ON_EMPTY 24,
 * VIRTIO_F_ANY_LAYOUT 27, VIRTIO_F_BAD_FEATURE 30, the last also being
 * VHOST_USER_F_PROTOCOL_FEATURES in QEMU's naming). */
#define VIRTIO_MODERN_HIDDEN ((1ull << 24) | (1ull << 27) | (1ull << 30))

/* Device classes add their own legacy-only bits to legacy_features. */
static const struct {
	uint32_t device_id;
	uint64_t bits;
	const char *why;
} virtio_modern_hidden_dev[] = {
	{ 1, 1ull << 6, "VIRTIO_NET_F_GSO: legacy only (virtio 1.x reserves bit 6); virtio-net's "
			"class puts it in legacy_features" },
};

static uint64_t modern_hidden(uint32_t device_id)
{
	uint64_t m = VIRTIO_MODERN_HIDDEN;

	for (size_t i = 0; i < ML_ARRAY_SIZE(virtio_modern_hidden_dev); i++)
		if (virtio_modern_hidden_dev[i].device_id == device_id)
			m |= virtio_modern_hidden_dev[i].bits;
	return m;
}

/* QEMU's names for feature bits that the spec (abi-tables.c) names otherwise. */
static const struct {
	const char *name;
	uint8_t bit;
} qemu_feature_aliases[] = {
	{ "VIRTIO_F_IOMMU_PLATFORM", 33 },
	{ "VHOST_USER_F_PROTOCOL_FEATURES", 30 },
	{ "VHOST_F_LOG_ALL", 26 },
};

/* ---- output -------------------------------------------------------------------- */

static void add(struct ml_xcheck *x, const char *section, const char *key, const char *guest,
		const char *qemu, const char *detail_fmt, ...) __attribute__((format(printf, 6, 7)));

static void add(struct ml_xcheck *x, const char *section, const char *key, const char *guest,
		const char *qemu, const char *detail_fmt, ...)
{
	struct ml_xcheck_item *it;

	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 16;
		x->items = realloc(x->items, x->cap * sizeof(*x->items));
		if (!x->items)
			abort();
	}
	it = &x->items[x->n++];
	memset(it, 0, sizeof(*it));
	it->section = strdup(section);
	it->key = strdup(key);
	it->guest = guest ? strdup(guest) : NULL;
	it->qemu = qemu ? strdup(qemu) : NULL;
	if (detail_fmt) {
		va_list ap;
		va_start(ap, detail_fmt);
		if (vasprintf(&it->detail, detail_fmt, ap) < 0)
			abort();
		va_end(ap);
	}
}

static void not_compared(struct ml_xcheck *x, const char *section, const char *why)
{
	json_array_append_new(x->not_compared, json_pack("{s:s, s:s}", "section", section, "why", why));
}

/* Compare two numbers; a disagreement names both. */
static void check_int(struct ml_xcheck *x, const char *section, const char *key, long long guest,
		      long long qemu)
{
	char g[32], q[32];

	x->checked++;
	if (guest == qemu)
		return;
	snprintf(g, sizeof(g), "%lld", guest);
	snprintf(q, sizeof(q), "%lld", qemu);
	add(x, section, key, g, q, NULL);
}

/* A command's record in the view: why QEMU could not answer, or NULL. */
static char *unanswered(const json_t *view, const char *cmd)
{
	const json_t *rec = json_object_get(json_object_get(view, "commands"), cmd);

	if (!rec)
		return ml_strdup_printf("%s was not asked", cmd);
	if (ml_json_bool(rec, "unsafe", false))
		return ml_strdup_printf("%s aborts this build's QEMU (canary), not asked", cmd);
	if (!ml_json_bool(rec, "available", true))
		return ml_strdup_printf("%s: %s: %s", cmd, ml_json_str(rec, "class") ? ml_json_str(rec, "class") : "?",
					ml_json_str(rec, "desc") ? ml_json_str(rec, "desc") : "?");
	if (ml_json_str(rec, "error"))
		return ml_strdup_printf("%s: %s", cmd, ml_json_str(rec, "error"));
	return NULL;
}

/* ---- virtio -------------------------------------------------------------------- */

static int feature_bit(uint32_t device_id, const char *name, size_t len)
{
	for (size_t i = 0; i < ml_virtio_features_count; i++) {
		const struct ml_virtio_feature *f = &ml_virtio_features[i];
		if ((f->device_id == device_id || f->device_id == 0) && strlen(f->name) == len &&
		    strncmp(f->name, name, len) == 0)
			return f->bit;
	}
	for (size_t i = 0; i < ML_ARRAY_SIZE(qemu_feature_aliases); i++)
		if (strlen(qemu_feature_aliases[i].name) == len &&
		    strncmp(qemu_feature_aliases[i].name, name, len) == 0)
			return qemu_feature_aliases[i].bit;
	return -1;
}

/* QEMU's decoded VirtioDeviceFeatures ("NAME: description" strings and the
 * raw bits it has no name for) back to a bitmap. An unknown name is a
 * disagreement of its own: the comparison would be blind to that bit. */
static uint64_t features_of(struct ml_xcheck *x, const char *bdf, uint32_t device_id, const json_t *f)
{
	static const char *const lists[] = { "transports", "dev-features" };
	uint64_t bits = 0;

	for (size_t l = 0; l < ML_ARRAY_SIZE(lists); l++) {
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(f, lists[l]), i, s) {
			const char *text = json_string_value(s);
			const char *colon = text ? strchr(text, ':') : NULL;
			size_t len = colon ? (size_t)(colon - text) : text ? strlen(text) : 0;
			int bit = text ? feature_bit(device_id, text, len) : -1;
			if (bit < 0) {
				ml_autofree char *key = ml_strdup_printf("%s feature name", bdf);
				add(x, "view", key, NULL, text ? text : "(not a string)",
				    "a feature QEMU names that miglab cannot map to a bit");
				continue;
			}
			bits |= 1ull << bit;
		}
	}
	/* unknown-dev-features: the bits QEMU has no name for (raw). */
	bits |= (uint64_t)ml_json_int(f, "unknown-dev-features", 0);
	return bits;
}

static void check_features(struct ml_xcheck *x, const char *bdf, const char *what, const char *guest_hex,
			   uint64_t qemu, uint64_t mask)
{
	uint64_t g;
	char gq[24], qq[24];
	ml_autofree char *key = ml_strdup_printf("%s %s", bdf, what);

	x->checked++;
	if (!guest_hex || !ml_abi_parse_hex64(guest_hex, &g)) {
		snprintf(qq, sizeof(qq), "0x%016" PRIx64, qemu);
		add(x, "virtio", key, guest_hex, qq, "the guest could not read it");
		return;
	}
	if ((g & ~mask) == (qemu & ~mask))
		return;
	snprintf(gq, sizeof(gq), "0x%016" PRIx64, g & ~mask);
	snprintf(qq, sizeof(qq), "0x%016" PRIx64, qemu & ~mask);
	add(x, "virtio", key, gq, qq, "bits only the guest sees: 0x%" PRIx64 ", only QEMU: 0x%" PRIx64,
	    (g & ~qemu) & ~mask, (qemu & ~g) & ~mask);
}

static const json_t *find_by_bdf(const json_t *list, const char *bdf)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		if (ml_json_str(e, "bdf") && strcmp(ml_json_str(e, "bdf"), bdf) == 0)
			return e;
	return NULL;
}

static void check_virtio_device(struct ml_xcheck *x, const json_t *g, const json_t *q, bool have_status)
{
	const char *bdf = ml_json_str(g, "bdf");
	const json_t *st = json_object_get(q, "status");
	const json_t *gq = json_object_get(g, "queues"), *qq = json_object_get(q, "queues");
	uint32_t id = (uint32_t)ml_json_int(g, "device_id", 0);
	size_t i;
	json_t *e;

	if (have_status && st) {
		bool modern = ml_json_str(g, "transport") && strcmp(ml_json_str(g, "transport"), "modern") == 0;
		ml_autofree char *k = ml_strdup_printf("%s device id", bdf);
		check_int(x, "virtio", k, id, ml_json_int(st, "device-id", -1));
		/* offered: what the modern interface shows of host-features */
		if (json_object_get(g, "features_offered") && !json_is_null(json_object_get(g, "features_offered")))
			check_features(x, bdf, "features offered (host-features)",
				       ml_json_str(g, "features_offered"),
				       features_of(x, bdf, id, json_object_get(st, "host-features")),
				       modern ? modern_hidden(id) : 0);
		check_features(x, bdf, "features negotiated (guest-features)", ml_json_str(g, "features_negotiated"),
			       features_of(x, bdf, id, json_object_get(st, "guest-features")), 0);
		free(k);
		k = NULL;
		/* A legacy (virtio 0.9) device has no common configuration: the
		 * probe reads no number of queues (old machine types, e.g.
		 * pc-*-2.4, make their virtio devices legacy). */
		if (json_is_integer(json_object_get(g, "num_queues"))) {
			k = ml_strdup_printf("%s number of queues", bdf);
			check_int(x, "virtio", k, ml_json_int(g, "num_queues", -1), ml_json_int(st, "num-vqs", -1));
		} else {
			k = ml_strdup_printf("%s: %s transport, no common configuration: its number of queues, "
					     "queue sizes and offered features are not in the dump",
					     bdf, ml_json_str(g, "transport") ? ml_json_str(g, "transport") : "legacy");
			not_compared(x, "virtio queues", k);
		}
	} else if (json_is_array(gq) && json_is_integer(json_object_get(g, "num_queues"))) {
		/* Without a status, QEMU's queues are those it answered for. */
		ml_autofree char *k = ml_strdup_printf("%s number of queues", bdf);
		check_int(x, "virtio", k, ml_json_int(g, "num_queues", -1), (long long)json_array_size(qq));
	}
	json_array_foreach(gq, i, e) {
		long long idx = ml_json_int(e, "index", -1);
		const json_t *qs = NULL, *c;
		size_t j;
		ml_autofree char *k = ml_strdup_printf("%s queue %lld size", bdf, idx);

		json_array_foreach(qq, j, c)
			if (ml_json_int(c, "queue-index", -1) == idx)
				qs = c;
		if (!qs) {
			char gs[32];
			snprintf(gs, sizeof(gs), "%lld", ml_json_int(e, "size", -1));
			if (!have_status && json_array_size(qq) <= (size_t)idx)
				continue; /* counted above */
			add(x, "virtio", k, gs, NULL, "QEMU did not answer for this queue");
			continue;
		}
		check_int(x, "virtio", k, ml_json_int(e, "size", -1), ml_json_int(qs, "vring-num", -1));
	}
}

static void check_virtio(struct ml_xcheck *x, const json_t *dump, const json_t *view)
{
	const json_t *gdevs = json_object_get(json_object_get(dump, "virtio"), "devices");
	const json_t *qdevs = json_object_get(view, "virtio");
	ml_autofree char *why = unanswered(view, "x-query-virtio");
	ml_autofree char *why_st = NULL;
	ml_autofree char *why_q = NULL;
	size_t i;
	json_t *e;

	if (why) {
		not_compared(x, "virtio", why);
		return;
	}
	why_st = unanswered(view, "x-query-virtio-status");
	if (why_st)
		not_compared(x, "virtio features", why_st);
	why_q = unanswered(view, "x-query-virtio-queue-status");
	if (why_q)
		not_compared(x, "virtio queues", why_q);
	json_array_foreach(gdevs, i, e) {
		const char *bdf = ml_json_str(e, "bdf");
		const json_t *q;
		if (!bdf)
			continue; /* not a PCI device: QEMU's list has no address to match */
		q = find_by_bdf(qdevs, bdf);
		x->checked++;
		if (!q) {
			ml_autofree char *k = ml_strdup_printf("%s device", bdf);
			add(x, "virtio", k, ml_json_str(e, "type") ? ml_json_str(e, "type") : "?", NULL,
			    "the guest sees a virtio device that QEMU does not list");
			continue;
		}
		check_virtio_device(x, e, q, !why_st);
	}
	json_array_foreach(qdevs, i, e) {
		const char *bdf = ml_json_str(e, "bdf");
		x->checked++;
		if (!bdf || !find_by_bdf(gdevs, bdf)) {
			ml_autofree char *k = ml_strdup_printf("%s device", bdf ? bdf : ml_json_str(e, "path"));
			add(x, "virtio", k, NULL, ml_json_str(e, "name") ? ml_json_str(e, "name") : "?",
			    bdf ? "QEMU lists a virtio device the guest does not see"
				: "QEMU lists a virtio device whose PCI address miglab could not find");
		}
	}
}

/* ---- PCI ----------------------------------------------------------------------- */

static int config_byte(const json_t *g, size_t off)
{
	const char *hex = ml_json_str(g, "config");
	unsigned v;

	if (!hex || strlen(hex) < 2 * (off + 1) || sscanf(hex + 2 * off, "%2x", &v) != 1)
		return -1;
	return (int)v;
}


/* An IDE controller (class 0x0101) with a channel in compatibility mode
 * (programming interface bit 0 for the primary channel, bit 2 for the
 * secondary, clear) decodes the legacy ports 0x1f0/0x3f6 and 0x170/0x376:
 * the guest kernel lists them as BARs 0-1 and 2-3 (its legacy IDE quirk)
 * although the device has no such BARs, and QEMU lists none (the PIIX IDE
 * of pc machine types). Such a BAR is not a disagreement. */
static bool legacy_ide_bar(const json_t *g, long long bar)
{
	long long cls = ml_json_int(g, "class", -1);

	if (cls < 0 || (cls >> 8) != 0x0101 || bar < 0 || bar > 3)
		return false;
	return !(cls & (bar < 2 ? 0x01 : 0x04));
}

static void check_pci_device(struct ml_xcheck *x, const json_t *g, const json_t *q)
{
	const char *bdf = ml_json_str(g, "bdf");
	const json_t *id = json_object_get(q, "id");
	const json_t *gbars = json_object_get(g, "bars"), *regions = json_object_get(q, "regions");
	const struct {
		const char *name, *gkey, *qkey;
	} ids[] = {
		{ "vendor", "vendor", "vendor" },
		{ "device", "device", "device" },
		{ "subsystem vendor", "subsystem_vendor", "subsystem-vendor" },
		{ "subsystem", "subsystem_device", "subsystem" },
	};
	size_t i, j;
	json_t *e, *r;

	for (i = 0; i < ML_ARRAY_SIZE(ids); i++) {
		ml_autofree char *k = ml_strdup_printf("%s %s id", bdf, ids[i].name);
		const json_t *gv = json_object_get(g, ids[i].gkey);
		if (!json_object_get(id, ids[i].qkey) && (!gv || json_is_null(gv)))
			continue; /* bridges: neither has subsystem ids */
		check_int(x, "pci", k, json_is_integer(gv) ? json_integer_value(gv) : -1,
			  ml_json_int(id, ids[i].qkey, -1));
	}
	{
		/* QEMU's class_info.class is base class and subclass; the dump's
		 * class is the 24-bit code with the programming interface. */
		ml_autofree char *k = ml_strdup_printf("%s class", bdf);
		check_int(x, "pci", k, ml_json_int(g, "class", -1) >> 8,
			  ml_json_int(json_object_get(q, "class_info"), "class", -1));
	}
	if (json_object_get(q, "irq_pin")) {
		ml_autofree char *k = ml_strdup_printf("%s interrupt pin", bdf);
		check_int(x, "pci", k, config_byte(g, 0x3d), ml_json_int(q, "irq_pin", -1));
	}
	/* BARs: matched by index; QEMU lists what the device registered, the
	 * guest what the kernel sized (unused BARs are in neither). */
	json_array_foreach(gbars, i, e) {
		long long bar = ml_json_int(e, "index", -1);
		const json_t *reg = NULL;
		ml_autofree char *k = ml_strdup_printf("%s BAR%lld", bdf, bar);
		json_array_foreach(regions, j, r)
			if (ml_json_int(r, "bar", -2) == bar)
				reg = r;
		if (!reg && legacy_ide_bar(g, bar))
			continue;
		x->checked++;
		if (!reg) {
			char gs[48];
			snprintf(gs, sizeof(gs), "%s %lld bytes", ml_json_str(e, "type") ? ml_json_str(e, "type") : "?",
				 ml_json_int(e, "size", 0));
			add(x, "pci", k, gs, NULL, "QEMU lists no such region");
			continue;
		}
		{
			ml_autofree char *ks = ml_strdup_printf("%s BAR%lld size", bdf, bar);
			ml_autofree char *kt = ml_strdup_printf("%s BAR%lld type", bdf, bar);
			const char *gt = ml_json_str(e, "type") ? ml_json_str(e, "type") : "?";
			const char *qt = ml_json_str(reg, "type") && strcmp(ml_json_str(reg, "type"), "io") == 0
						 ? "io"
					 : ml_json_bool(reg, "mem_type_64", false) ? "mem64"
										   : "mem32";
			check_int(x, "pci", ks, ml_json_int(e, "size", -1), ml_json_int(reg, "size", -1));
			x->checked++;
			if (strcmp(gt, qt) != 0)
				add(x, "pci", kt, gt, qt, NULL);
			if (strcmp(qt, "io") != 0) {
				ml_autofree char *kp = ml_strdup_printf("%s BAR%lld prefetchable", bdf, bar);
				check_int(x, "pci", kp, ml_json_bool(e, "prefetchable", false),
					  ml_json_bool(reg, "prefetch", false));
			}
		}
	}
	json_array_foreach(regions, j, r) {
		long long bar = ml_json_int(r, "bar", -1);
		bool seen = false;
		json_array_foreach(gbars, i, e)
			if (ml_json_int(e, "index", -2) == bar)
				seen = true;
		if (!seen && bar >= 0 && bar < 6 && ml_json_int(r, "size", 0) > 0) {
			ml_autofree char *k = ml_strdup_printf("%s BAR%lld", bdf, bar);
			char qs[48];
			snprintf(qs, sizeof(qs), "%lld bytes", ml_json_int(r, "size", 0));
			x->checked++;
			add(x, "pci", k, NULL, qs, "the guest sees no such BAR");
		}
	}
}

static void check_pci(struct ml_xcheck *x, const json_t *dump, const json_t *view)
{
	const json_t *gdevs = json_object_get(json_object_get(dump, "pci"), "devices");
	const json_t *qdevs = json_object_get(view, "pci");
	ml_autofree char *why = unanswered(view, "query-pci");
	size_t i, j;
	json_t *g, *q;

	if (why) {
		not_compared(x, "pci", why);
		return;
	}
	json_array_foreach(gdevs, i, g) {
		const char *bdf = ml_json_str(g, "bdf");
		const json_t *match = NULL;
		json_array_foreach(qdevs, j, q) {
			char qb[16];
			snprintf(qb, sizeof(qb), "0000:%02llx:%02llx.%llx", ml_json_int(q, "bus", 0) & 0xff,
				 ml_json_int(q, "slot", 0) & 0x1f, ml_json_int(q, "function", 0) & 7);
			if (bdf && strcmp(qb, bdf) == 0)
				match = q;
		}
		x->checked++;
		if (!match) {
			ml_autofree char *k = ml_strdup_printf("%s device", bdf ? bdf : "?");
			add(x, "pci", k, "present", NULL, "the guest sees a PCI device QEMU does not list");
			continue;
		}
		check_pci_device(x, g, match);
	}
	json_array_foreach(qdevs, j, q) {
		char qb[16];
		bool seen = false;
		snprintf(qb, sizeof(qb), "0000:%02llx:%02llx.%llx", ml_json_int(q, "bus", 0) & 0xff,
			 ml_json_int(q, "slot", 0) & 0x1f, ml_json_int(q, "function", 0) & 7);
		json_array_foreach(gdevs, i, g)
			if (ml_json_str(g, "bdf") && strcmp(ml_json_str(g, "bdf"), qb) == 0)
				seen = true;
		x->checked++;
		if (!seen) {
			ml_autofree char *k = ml_strdup_printf("%s device", qb);
			add(x, "pci", k, NULL, "present", "QEMU lists a PCI device the guest does not see");
		}
	}
}

/* ---- CPUID --------------------------------------------------------------------- */

static const char *const reg_names[] = { "EAX", "EBX", "ECX", "EDX" };

static void check_cpuid(struct ml_xcheck *x, const json_t *dump, const json_t *view)
{
	const json_t *leaves = json_object_get(json_object_get(dump, "cpuid"), "leaves");
	const json_t *cpu0 = json_array_get(json_object_get(view, "cpus"), 0);
	const json_t *words = json_object_get(cpu0, "feature-words");
	ml_autofree char *why = unanswered(view, "query-cpus-fast");
	size_t i, j;
	json_t *w, *l;

	if (why || !json_is_array(words)) {
		not_compared(x, "cpuid", why ? why : "qom-get feature-words gave no answer for CPU 0");
		return;
	}
	json_array_foreach(words, i, w) {
		uint32_t leaf = (uint32_t)ml_json_int(w, "cpuid-input-eax", 0);
		const json_t *sub = json_object_get(w, "cpuid-input-ecx");
		uint32_t subleaf = json_is_integer(sub) ? (uint32_t)json_integer_value(sub) : 0;
		const char *reg = ml_json_str(w, "cpuid-register");
		uint32_t q = (uint32_t)ml_json_int(w, "features", 0), g = 0, mask = 0, diff;
		const json_t *gl = NULL;
		int r = -1;

		for (size_t k = 0; reg && k < ML_ARRAY_SIZE(reg_names); k++)
			if (strcmp(reg, reg_names[k]) == 0)
				r = (int)k;
		if (r < 0)
			continue;
		json_array_foreach(leaves, j, l)
			if ((uint32_t)ml_json_int(l, "leaf", -1) == leaf &&
			    (uint32_t)ml_json_int(l, "subleaf", -1) == subleaf)
				gl = l;
		if (gl) {
			char lower[4] = { (char)tolower(reg[0]), (char)tolower(reg[1]), (char)tolower(reg[2]), 0 };
			g = (uint32_t)ml_json_int(gl, lower, 0);
		}
		for (size_t k = 0; k < ML_ARRAY_SIZE(cpuid_masks); k++)
			if (cpuid_masks[k].leaf == leaf && cpuid_masks[k].subleaf == subleaf &&
			    strcmp(cpuid_masks[k].reg, reg) == 0)
				mask |= cpuid_masks[k].mask;
		x->checked++;
		/* A leaf the guest does not list reads as zeros (past its maximum). */
		diff = (g ^ q) & ~mask;
		for (int bit = 0; bit < 32; bit++) {
			char key[96], gs[8], qs[8];
			const char *name = NULL;
			if (!(diff >> bit & 1))
				continue;
			for (size_t k = 0; k < ml_cpuid_fields_count; k++) {
				const struct ml_cpuid_field *f = &ml_cpuid_fields[k];
				if (f->leaf == leaf && f->reg == r && f->f.width == 1 && f->f.lo == bit &&
				    (f->subleaf == ML_CPUID_ANY_SUB || f->subleaf == (int32_t)subleaf))
					name = f->f.name;
			}
			snprintf(key, sizeof(key), "leaf 0x%" PRIx32 ".%" PRIu32 " %s bit %d%s%s%s", leaf, subleaf, reg,
				 bit, name ? " (" : "", name ? name : "", name ? ")" : "");
			snprintf(gs, sizeof(gs), "%u", (unsigned)(g >> bit & 1));
			snprintf(qs, sizeof(qs), "%u", (unsigned)(q >> bit & 1));
			add(x, "cpuid", key, gs, qs, gl ? NULL : "the guest's dump has no such leaf");
		}
	}
}

/* ---- entry points -------------------------------------------------------------- */

int ml_xcheck_compare(const json_t *dump, const json_t *view, struct ml_xcheck *out)
{
	const char *schema = ml_json_str(view, "schema");

	if (!schema || strcmp(schema, ML_QEMU_VIEW_SCHEMA_NAME) != 0) {
		ml_error("not a QEMU view (schema %s, expected %s)", schema ? schema : "missing",
			 ML_QEMU_VIEW_SCHEMA_NAME);
		return -1;
	}
	out->not_compared = json_array();
	check_cpuid(out, dump, view);
	check_pci(out, dump, view);
	check_virtio(out, dump, view);
	return 0;
}

void ml_xcheck_clear(struct ml_xcheck *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->items[i].section);
		free(x->items[i].key);
		free(x->items[i].guest);
		free(x->items[i].qemu);
		free(x->items[i].detail);
	}
	free(x->items);
	json_decref(x->not_compared);
	memset(x, 0, sizeof(*x));
}

json_t *ml_xcheck_to_json(const struct ml_xcheck *x)
{
	json_t *a = json_array();

	for (size_t i = 0; i < x->n; i++) {
		const struct ml_xcheck_item *it = &x->items[i];
		json_t *o = json_object();
		ml_json_set_str(o, "section", it->section);
		ml_json_set_str(o, "key", it->key);
		ml_json_set(o, "guest", it->guest ? ml_json_string_text(it->guest) : json_null());
		ml_json_set(o, "qemu", it->qemu ? ml_json_string_text(it->qemu) : json_null());
		ml_json_set(o, "detail", it->detail ? ml_json_string_text(it->detail) : json_null());
		json_array_append_new(a, o);
	}
	return a;
}

char *ml_xcheck_to_text(const struct ml_xcheck *x)
{
	struct ml_buf b = ML_BUF_INIT(0);

	for (size_t i = 0; i < x->n; i++) {
		const struct ml_xcheck_item *it = &x->items[i];
		ml_buf_printf(&b, "%s %s: guest %s, QEMU %s%s%s%s\n", it->section, it->key,
			      it->guest ? it->guest : "absent", it->qemu ? it->qemu : "absent",
			      it->detail ? " (" : "", it->detail ? it->detail : "", it->detail ? ")" : "");
	}
	if (!b.data)
		return strdup("");
	return b.data;
}

/* ---- failure linking ----------------------------------------------------------- */

/* The first "VQ N vring.num X exceeds allocated max Y" (virtio_load) or
 * "vq[N] vring num X exceeds max Y" in text. */
static bool parse_refusal(const char *text, long long *vq, long long *num, long long *max)
{
	for (const char *p = text; p && *p; p++) {
		if (sscanf(p, "VQ %lld vring.num %lld exceeds allocated max %lld", vq, num, max) == 3 ||
		    sscanf(p, "vq[%lld] vring num %lld exceeds max %lld", vq, num, max) == 3)
			return true;
	}
	return false;
}

json_t *ml_xcheck_explain_failure(const char *evidence, const char *device, const json_t *src_view)
{
	long long vq, num, max;
	char bdf[16];
	const json_t *dev, *q, *qs = NULL;
	size_t i;

	if (!evidence || !device || !parse_refusal(evidence, &vq, &num, &max))
		return NULL;
	/* The failure names the device by its vmstate id: "0000:00:02.0/virtio-console". */
	if (strlen(device) < 12 || (device[12] != '/' && device[12] != '\0'))
		return NULL;
	snprintf(bdf, sizeof(bdf), "%.12s", device);
	dev = find_by_bdf(json_object_get(src_view, "virtio"), bdf);
	json_array_foreach(json_object_get(dev, "queues"), i, q)
		if (ml_json_int(q, "queue-index", -1) == vq)
			qs = q;
	if (!qs || ml_json_int(qs, "vring-num", -1) != num)
		return NULL;
	{
		ml_autofree char *text = ml_strdup_printf(
			"the source QEMU gives %s (%s) queue %lld %lld entries (its default %lld); the "
			"destination allocates at most %lld: the queue size default differs between the builds",
			bdf, ml_json_str(dev, "name") ? ml_json_str(dev, "name") : "?", vq, num,
			ml_json_int(qs, "vring-num-default", -1), max);
		return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "kind", "virtio-queue-size",
				 "device", device, "bdf", bdf, "queue", (json_int_t)vq, "source_vring_num",
				 (json_int_t)num, "source_vring_num_default",
				 (json_int_t)ml_json_int(qs, "vring-num-default", -1), "destination_max",
				 (json_int_t)max, "text", text);
	}
}
