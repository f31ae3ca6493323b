/* The content of miglab's guest initramfs: busybox, the kernel modules the
 * guest needs (plain .ko, busybox insmod cannot load compressed ones), the
 * probe agent and an /init script that loads the modules and runs the probe.
 *
 * Console contract (sentinel lines the runner may match, see docs/guests.md):
 *   "miglab-init: insmod <path> failed"          a module did not load; boot goes on
 *   "miglab-init: starting probe"                 just before the probe starts
 *   "miglab-init: probe exited with status <N>"   then the guest powers off */
#ifndef ML_INITRAMFS_H
#define ML_INITRAMFS_H

#include <stddef.h>

#define ML_INITRAMFS_PROBE_PATH "/sbin/miglab-probe"
#define ML_INITRAMFS_MODULE_LIST "/etc/miglab/modules"

struct ml_initramfs_spec {
	const char *kernel_release; /* modules go under /lib/modules/<release>/ */
	const char *busybox_path;   /* a static busybox binary on the host */
	const char *probe_path;     /* the static probe agent on the host */
	const char *modules_dir;    /* host directory holding the plain .ko files... */
	const char *const *modules; /* ...at these relative paths ("kernel/drivers/block/virtio_blk.ko"), in load order */
	size_t n_modules;
};

/* The /init script (the same text for every guest). */
const char *ml_initramfs_init_script(void);

/* The busybox applets the initramfs links (NULL-terminated). */
extern const char *const ml_initramfs_applets[];

/* Write the initramfs (uncompressed newc cpio) to out_path atomically. The
 * same spec and file contents always give the same bytes. */
int ml_initramfs_build(const struct ml_initramfs_spec *spec, const char *out_path);

#endif
