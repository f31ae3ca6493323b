/* Kernel module dependency resolution without depmod: Debian's kernel
 * packages ship no modules.dep, so miglab indexes the module files itself,
 * reads each needed module's ELF .modinfo "depends=" and orders them.
 *
 * The graph logic (ml_moddep_resolve) does no I/O: it gets an index and a
 * callback that yields a module's direct dependencies, so it is tested with
 * a fixture. The file side (scan, decompress, .modinfo) is below it. */
#ifndef ML_MODDEP_H
#define ML_MODDEP_H

#include <stdbool.h>
#include <stddef.h>

/* One module file. name is normalised (basename without .ko[.xz|.zst|.gz],
 * '-' -> '_'); path is relative to the modules directory
 * ("kernel/drivers/block/virtio_blk.ko.xz"). */
struct ml_modindex_entry {
	char *name;
	char *path;
};

/* Module files and built-in module names of one kernel release. */
struct ml_modindex {
	struct ml_modindex_entry *mods;
	size_t n_mods;
	char **builtin;
	size_t n_builtin;
};

#define ML_MODINDEX_INIT { NULL, 0, NULL, 0 }

/* Normalised module name of a name or path: "kernel/x/virtio-rng.ko.xz" ->
 * "virtio_rng". Caller frees. */
char *ml_moddep_normalize(const char *name_or_path);

/* Add a module file (first one wins for a name: callers add in path order). */
void ml_modindex_add(struct ml_modindex *idx, const char *name, const char *path);
void ml_modindex_add_builtin(struct ml_modindex *idx, const char *name);
const struct ml_modindex_entry *ml_modindex_find(const struct ml_modindex *idx,
						 const char *name);
bool ml_modindex_is_builtin(const struct ml_modindex *idx, const char *name);
void ml_modindex_clear(struct ml_modindex *idx);

/* Direct dependencies of module m (normalised names or not; NULL-terminated
 * array the resolver frees with free() per element and for the array). */
typedef int (*ml_moddep_deps_fn)(void *opaque, const struct ml_modindex_entry *m,
				 char ***deps, size_t *n_deps);

struct ml_moddep_result {
	struct ml_modindex_entry *order; /* modules to load, dependencies first, each once */
	size_t n_order;
	char **builtin; /* requested or needed names the kernel has built in */
	size_t n_builtin;
};

/* Resolve requested module names to a load order. Errors: a module that is
 * neither a file nor built in (naming it and the module that needed it, or
 * "requested"), a dependency cycle (naming the chain). */
int ml_moddep_resolve(const struct ml_modindex *idx, const char *const *requested,
		      size_t n_requested, ml_moddep_deps_fn deps, void *opaque,
		      struct ml_moddep_result *res);
void ml_moddep_result_clear(struct ml_moddep_result *res);

/* ---- file side ---- */

/* The modules directory of release under an extracted package tree:
 * <root>/usr/lib/modules/<release> or (older packages) <root>/lib/modules/<release>. */
int ml_moddep_find_moddir(const char *root, const char *release, char **moddir);

/* Index every module file under <moddir>/kernel and the names listed in
 * <moddir>/modules.builtin (absent file: none built in). */
int ml_modindex_scan(struct ml_modindex *idx, const char *moddir);

/* Read a module file, decompressing xz or zstd (recognised by their magic),
 * into a plain ELF image of at most limit bytes. Caller frees *data. */
int ml_module_read(const char *path, size_t limit, unsigned char **data, size_t *len);

/* The "depends=" of an ELF module image's .modinfo section, split and
 * normalised (empty when it has none). what names the module in errors. */
int ml_modinfo_depends(const unsigned char *elf, size_t len, const char *what, char ***deps,
		       size_t *n_deps);

/* An ml_moddep_deps_fn reading module files: opaque is the modules directory. */
int ml_moddep_deps_from_files(void *opaque, const struct ml_modindex_entry *m, char ***deps,
			      size_t *n_deps);

#endif
