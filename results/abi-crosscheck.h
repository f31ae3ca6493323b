/* The guest's view against QEMU's own (docs/abi-crosscheck.md): a probe ABI
 * dump (abi.h) and the QEMU view recorded beside it (lab/qemu-view.h,
 * schema miglab-qemu-view/1) in, the list of values they disagree on out.
 * Pure: no I/O, no QEMU. A disagreement is a probe bug or a real
 * inconsistency between what QEMU believes it exposes and what the guest
 * reads; bits that legitimately differ (set by the guest, not QEMU) are
 * masked by one documented table in abi-crosscheck.c, never ad hoc.
 *
 * Also: linking a migration failure to the ABI value that explains it (a
 * queue size the destination refuses). */
#ifndef ML_ABI_CROSSCHECK_H
#define ML_ABI_CROSSCHECK_H

#include <jansson.h>
#include <stddef.h>

#define ML_QEMU_VIEW_SCHEMA_NAME "miglab-qemu-view/1"

struct ml_xcheck_item {
	char *section; /* "virtio", "pci", "cpuid", "view" */
	char *key;     /* "0000:00:02.0 queue 0 size", "leaf 0x1.0 ECX bit 3" */
	char *guest;   /* the guest's value as text, NULL when the guest has none */
	char *qemu;    /* QEMU's value as text, NULL when QEMU has none */
	char *detail;  /* NULL or a sentence */
};

struct ml_xcheck {
	struct ml_xcheck_item *items;
	size_t n, cap;
	/* What could be compared: values checked, and sections QEMU could not
	 * answer for (a command unavailable or unsafe on the build). */
	size_t checked;
	json_t *not_compared; /* [{"section", "why"}] */
};

/* Compare dump (a validated miglab-abi/1 document) with view. out must be
 * zeroed. 0, or -1 when view is not a QEMU view (error reported). */
int ml_xcheck_compare(const json_t *dump, const json_t *view, struct ml_xcheck *out);
void ml_xcheck_clear(struct ml_xcheck *x);
/* [{"section", "key", "guest", "qemu", "detail"}] */
json_t *ml_xcheck_to_json(const struct ml_xcheck *x);
/* One line per disagreement: "SECTION key: guest G, QEMU Q". Caller frees. */
char *ml_xcheck_to_text(const struct ml_xcheck *x);

/* A migration failure whose evidence names a virtqueue size refusal
 * ("VQ 0 vring.num 1024 exceeds allocated max 128", QEMU's
 * virtio_load()), for the device `device` ("0000:00:02.0/virtio-console",
 * as the failure names it): when the source QEMU's view (src_view) shows
 * that queue of that device with that vring-num, a new object
 * {"kind": "virtio-queue-size", "device", "bdf", "queue", "source_vring_num",
 * "source_vring_num_default", "destination_max", "text"}; else NULL. */
json_t *ml_xcheck_explain_failure(const char *evidence, const char *device, const json_t *src_view);

#endif
