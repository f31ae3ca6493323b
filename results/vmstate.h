/* The static vmstate check: compare what a source QEMU would send (its
 * `-dump-vmstate` description of every device's VMState) with what a
 * destination QEMU can load, for one machine type, in the direction of a
 * migration, without booting a guest. See docs/vmstate.md.
 *
 * A dump is the JSON object QEMU writes for `-dump-vmstate FILE`:
 *   { "vmschkmachine": { "Name": machine },
 *     "<QOM type>": { "Name", "version_id", "minimum_version_id",
 *                     "Description": VMSD } ... }
 *   VMSD   = { "name", "version_id", "minimum_version_id",
 *              "Fields": [ FIELD ], "Subsections": [ VMSD ] }
 *   FIELD  = { "field", "version_id", "field_exists", "num"?, "size", "Description"? }
 *   ("num": the count of a fixed array, in newer QEMUs' dumps only; a
 *   subsection's needed() is not in the dump at all)
 * Dumps are untrusted input: every member is checked before use.
 *
 * A finding is a JSON object:
 *   severity     "error" (the destination refuses or misreads the stream),
 *                "warning" (it may fail, depending on the guest's state), or
 *                "info" (a difference QEMU copes with)
 *   device       the QOM type the finding is reported for (the first guest
 *                device when several types share the state description)
 *   devices      every QOM type whose state description has the difference
 *   section      the VMState name of the top-level description
 *   path         where in it: "virtio-net", "PCIDevice.config", "e1000/tso_state"
 *   field        the field name, when the finding is about a field
 *   what         a code: section-missing, section-not-dumped, section-renamed,
 *                section-name, section-empty,
 *                version-too-new, version-too-old, field-size, field-count,
 *                field-missing, field-extra, field-order, field-renamed, field-type,
 *                field-unused, subsection-src-only, subsection-dst-only
 *   src, dst     the values on each side (strings; null when absent)
 *   explanation  a sentence for a QEMU migration maintainer
 *   guest_device true when one of `devices` is in the guest's device list */
#ifndef ML_VMSTATE_H
#define ML_VMSTATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Known renames that QEMU maps (results/vmstate-renames.ini). Opaque. */
struct ml_vmstate_renames;

/* Parse the renames file format from text; what names it in errors.
 * Sections:
 *   [section]     OLD = NEW   a QOM type or VMState section name
 *   [field]       VMSD.OLD = NEW   a field of the VMState description VMSD
 *   [subsection]  OLD = NEW   a subsection name
 * Each pair is symmetric (it also maps NEW to OLD for backward migrations). */
struct ml_vmstate_renames *ml_vmstate_renames_parse(const char *text, const char *what);
/* Load a renames file (at most 1 MiB). */
struct ml_vmstate_renames *ml_vmstate_renames_load(const char *path);
void ml_vmstate_renames_free(struct ml_vmstate_renames *r);
/* Where the shipped renames file is: $MIGLAB_VMSTATE_RENAMES, else the
 * installed data file, else the one in the source tree. */
const char *ml_vmstate_renames_default_path(void);

struct ml_vmstate_options {
	const struct ml_vmstate_renames *renames; /* NULL: none */
	/* QOM types the guest has (array of strings), from the source QEMU;
	 * NULL: unknown (no finding is marked guest_device). */
	const json_t *guest_types;
	/* Every device type of the destination's binary (array of strings);
	 * a dump lists only types whose class has a VMState description, so
	 * this tells a type the destination lacks from one its dump cannot
	 * show. NULL: unknown (a type absent from the dump counts as absent). */
	const json_t *dst_device_types;
	bool guest_only; /* report only findings about guest devices */
};

/* Compare src's dump against dst's for a migration src -> dst. Fields are
 * compared by position (names may repeat); comparing dst -> src pairs the
 * same fields, so a field of one side only is field-extra one way and
 * field-missing the other, at the same severity. Returns a new
 * array of findings, sorted: errors first, then warnings, then info; within
 * a severity guest devices first, then by device name. NULL (reported) when
 * a dump is malformed. Identical dumps give an empty array, unless a
 * description's version_id is below its own minimum_version_id: that is
 * version-too-old even against itself (QEMU could not load it either). */
json_t *ml_vmstate_compare(const json_t *src_dump, const json_t *dst_dump,
			   const struct ml_vmstate_options *opts);

/* Findings of a severity ("error", "warning", "info"). */
size_t ml_vmstate_count(const json_t *findings, const char *severity);

/* The machine type a dump was made for ("vmschkmachine"), or NULL. */
const char *ml_vmstate_dump_machine(const json_t *dump);

#endif
