/* Guests: a Debian linux-image kernel of a suite plus an initramfs miglab
 * assembles itself around the probe agent, cached and reproducible (the same
 * inputs give the same bytes).
 *
 * Cache layout (see docs/guests.md):
 *   <cache>/apt/<suite>/                        the suite's apt sandbox (ml-apt.h)
 *   <cache>/guests/<suite>/<kernel_release>/    one guest:
 *       vmlinuz, busybox, modules/kernel/... (plain .ko files), initrd-<hash>.img,
 *       vmlinux      the ELF inside vmlinuz, for PVH boot (guests/vmlinux.h),
 *                    when the kernel has the PVH entry note
 *       guest.json   the manifest, written atomically LAST: a directory without it,
 *                    or whose recorded sha256s do not match the files, is partial
 *                    and gets rebuilt. */
#ifndef ML_GUEST_H
#define ML_GUEST_H

#include <jansson.h>
#include <stddef.h>

/* Bump when the layout of a guest directory or of the initramfs changes in a
 * way the recorded inputs do not capture. */
#define ML_GUEST_FORMAT 1

struct ml_guest {
	char *provider;               /* "debian:bookworm" */
	char *suite;                  /* "bookworm" */
	char *kernel_package;         /* "linux-image-6.1.0-41-amd64" */
	char *kernel_package_version; /* "6.1.158-1" */
	char *kernel_release;         /* uname -r: "6.1.0-41-amd64" */
	char *busybox_version;
	char *dir;                    /* cache directory of this guest */
	char *kernel_path;            /* <dir>/vmlinuz */
	char *initrd_path;            /* <dir>/initrd.img */
	char kernel_sha256[65];
	char initrd_sha256[65];
	/* PVH boot: <dir>/vmlinux, the ELF kernel inside vmlinuz, and its
	 * XEN_ELFNOTE_PHYS32_ENTRY; NULL when the kernel cannot boot that way,
	 * pvh_unavailable then saying why ("compressed with gzip", "no PVH
	 * entry note"). */
	char *vmlinux_path;
	char vmlinux_sha256[65];
	unsigned long long pvh_entry;
	char *pvh_unavailable;
	char **modules; size_t n_modules; /* load order actually included */
	/* The cache lock of dir, held shared while this guest is in use (so
	 * another process does not replace its kernel under a run); released
	 * by ml_guest_clear. */
	bool locked;
	int lock_fd;
};

/* The modules every guest asks for; those the kernel has built in are
 * simply satisfied (NULL-terminated). */
extern const char *const ml_guest_default_modules[];

/* "debian:SUITE" -> suite (caller frees); anything else is an error naming the accepted forms. */
int ml_guest_parse_provider(const char *spec, char **suite);

/* Fetch (or reuse from cache) the kernel of the suite and build (or reuse) the initramfs
 * around probe_binary. cache_dir is miglab's cache root; mirror may be NULL.
 * probe_binary must be a static executable (the initramfs has no libc). */
int ml_guest_provision(const char *cache_dir, const char *spec, const char *probe_binary,
		       const char *mirror, struct ml_guest *out);
void ml_guest_clear(struct ml_guest *g);
json_t *ml_guest_to_json(const struct ml_guest *g); /* for manifests and cell.json */

#endif
