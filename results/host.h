/* The host fingerprint recorded in every run.json ("host"): which CPU (vendor,
 * family, model, stepping, microcode, flags), which kernel and accelerator a
 * run had, and the comparison of two fingerprints, so that a result that
 * changes between two runs can be told apart from a change of host.
 * Field names and meanings: docs/results.md, "run.json: host". */
#ifndef ML_HOST_H
#define ML_HOST_H

#include <jansson.h>

/* The CPU part of the fingerprint from the text of /proc/cpuinfo; only the
 * first processor block is read (all CPUs of a host are taken to be alike).
 * Returns a new object with cpu_vendor, cpu_family, cpu_model_number,
 * cpu_stepping, cpu_model, cpu_microcode and cpu_flags (sorted, no
 * duplicates); a field the text lacks (microcode in most VMs, everything
 * x86-specific on other architectures) is null, and a number that does not
 * parse ("unknown") is null too. NULL with an error only when the text holds
 * no "key : value" line at all. */
json_t *ml_host_parse_cpuinfo(const char *text);

/* Facts about this host: the CPU fields above from /proc/cpuinfo, plus
 * kernel (uname -r), arch, hostname, cpus (online), memory (MemTotal as in
 * /proc/meminfo) and kvm_device (whether /dev/kvm opens read-write). Never
 * NULL: a fact that cannot be read is null, since a run should not stop for
 * want of its description. */
json_t *ml_host_facts(void);

/* The fingerprint a run records: ml_host_facts() plus "accel", the
 * accelerator the run asked for ("tcg", "kvm"; null if accel is NULL). The
 * host alone cannot know it: callers pass the one their cells use. */
json_t *ml_host_fingerprint(const char *accel);

/* What differs between two fingerprints (borrowed; neither is changed):
 *   {"same": bool,
 *    "differences": [{"key", "a", "b", "significant"}...],  (sorted by key)
 *    "flags_only_a": [...], "flags_only_b": [...]}           (sorted)
 * Every key but cpu_flags is compared as a whole value; a key missing on one
 * side compares as null. cpu_flags are compared as sets; when either side has
 * no flags array, cpu_flags is reported as a difference instead. "same" is
 * true when nothing significant differs: hostname and memory differences are
 * reported (significant false) but do not make two hosts different, since
 * neither changes what a guest sees of the CPU or what QEMU may do.
 * NULL with an error if a or b is not an object. */
json_t *ml_host_compare(json_t *a, json_t *b);

#endif
