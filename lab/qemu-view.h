/* QEMU's own view of the guest-visible ABI, asked over QMP beside each probe
 * dump (docs/abi-crosscheck.md): virtio devices and their queues
 * (x-query-virtio*), PCI devices (query-pci), the vCPUs' CPUID feature words
 * (qom-get feature-words). The judging stage compares it with the guest's
 * dump (results/abi-crosscheck.h).
 *
 * Collecting never fails the cell: a command a build lacks is recorded as
 * unavailable with QEMU's error class and description, a command that would
 * crash the build's QEMU (measured once per build in a throwaway QEMU, the
 * canary) is not sent and recorded as unsafe. */
#ifndef ML_QEMU_VIEW_H
#define ML_QEMU_VIEW_H

#include <jansson.h>

#include "build.h"
#include "runner.h"

#define ML_QEMU_VIEW_SCHEMA "miglab-qemu-view/1"

/* Ask vm (a QEMU of build b running the guest with `machine`) for its view.
 * Always returns a new object (schema above): what QEMU answered, and per
 * command whether it was available. Each QMP call waits at most
 * timeout_ms. */
json_t *ml_qemu_view_collect(const struct ml_runner_ops *runner, struct ml_vm *vm,
			     const struct ml_build *b, const char *machine, int timeout_ms);

/* Run the canary of build b now (with `machine`) and keep its answer for
 * every later view of the build in this process and in the processes it
 * forks: `miglab run` calls it once per build before its cells fork, which
 * would otherwise each start a throwaway QEMU per build they view (0.3 to
 * 2.5 s a cell). Returns the time it took in ms. */
long long ml_qemu_view_prepare(const struct ml_build *b, const char *machine);

#endif
