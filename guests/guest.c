/* Guest provisioning: Debian kernel + miglab's own initramfs, cached per
 * suite and kernel release (see guest.h and docs/guests.md). */
#include <elf.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "guest.h"
#include "initramfs.h"
#include "ml-apt.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "moddep.h"
#include "vmlinux.h"
#include "ml-common.h"

#define KERNEL_META "linux-image-amd64"
#define BUSYBOX_PACKAGE "busybox-static"
#define MANIFEST "guest.json"
#define MANIFEST_LIMIT ((size_t)1 << 20)
/* a plain module file is at most this large */
#define MODULE_LIMIT ((size_t)256 << 20)
#define PROBE_LIMIT ((size_t)256 << 20)
/* a bzImage is at most this large (Debian's: 8-15 MiB) */
#define VMLINUZ_LIMIT ((size_t)128 << 20)
/* Bump when the extraction of vmlinux (guests/vmlinux.c) changes what it
 * writes or accepts: the manifest's "pvh" part is then made again. */
#define PVH_FORMAT 1

const char *const ml_guest_default_modules[] = {
	"virtio_pci", "virtio_console", "virtio_blk", "virtio_net", "virtio_rng", "msr", NULL,
};

int ml_guest_parse_provider(const char *spec, char **suite)
{
	const char *prefix = "debian:";
	size_t pl = strlen(prefix);

	if (!spec || strncmp(spec, prefix, pl) != 0 || !ml_apt_suite_valid(spec + pl)) {
		ml_error("unsupported guest kernel provider '%s': the accepted form is debian:SUITE "
			 "(e.g. debian:bookworm, debian:bookworm-backports, debian:trixie, debian:sid)",
			 spec ? spec : "");
		return -1;
	}
	if (!(*suite = strdup(spec + pl)))
		abort();
	return 0;
}

void ml_guest_clear(struct ml_guest *g)
{
	if (g->locked)
		close(g->lock_fd);
	free(g->provider);
	free(g->suite);
	free(g->kernel_package);
	free(g->kernel_package_version);
	free(g->kernel_release);
	free(g->busybox_version);
	free(g->dir);
	free(g->kernel_path);
	free(g->initrd_path);
	free(g->vmlinux_path);
	free(g->pvh_unavailable);
	for (size_t i = 0; i < g->n_modules; i++)
		free(g->modules[i]);
	free(g->modules);
	memset(g, 0, sizeof(*g));
}

json_t *ml_guest_to_json(const struct ml_guest *g)
{
	json_t *o = json_object();
	json_t *mods = json_array();

	if (!o || !mods)
		abort();
	ml_json_set_str(o, "provider", g->provider);
	ml_json_set_str(o, "suite", g->suite);
	ml_json_set_str(o, "kernel_package", g->kernel_package);
	ml_json_set_str(o, "kernel_package_version", g->kernel_package_version);
	ml_json_set_str(o, "kernel_release", g->kernel_release);
	ml_json_set_str(o, "busybox_version", g->busybox_version);
	ml_json_set_str(o, "dir", g->dir);
	ml_json_set_str(o, "kernel_path", g->kernel_path);
	ml_json_set_str(o, "initrd_path", g->initrd_path);
	ml_json_set_str(o, "kernel_sha256", g->kernel_sha256[0] ? g->kernel_sha256 : NULL);
	ml_json_set_str(o, "initrd_sha256", g->initrd_sha256[0] ? g->initrd_sha256 : NULL);
	if (g->vmlinux_path) {
		ml_autofree char *entry = ml_strdup_printf("0x%llx", g->pvh_entry);
		ml_json_set_str(o, "vmlinux_path", g->vmlinux_path);
		ml_json_set_str(o, "vmlinux_sha256", g->vmlinux_sha256);
		ml_json_set_str(o, "pvh_entry", entry);
	} else if (g->pvh_unavailable) {
		ml_json_set_str(o, "pvh_unavailable", g->pvh_unavailable);
	}
	for (size_t i = 0; i < g->n_modules; i++)
		json_array_append_new(mods, json_string(g->modules[i]));
	ml_json_set(o, "modules", mods);
	return o;
}

static void sha256_mem(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		abort();
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

/* The probe runs in an initramfs without a libc: refuse a dynamic binary
 * now rather than have the guest print "not found" at boot. */
static int check_probe(const char *path, char sha[65])
{
	ml_autofree char *data = NULL;
	size_t len = 0;
	Elf64_Ehdr eh;
	struct stat st;

	if (stat(path, &st) < 0) {
		ml_error_errno(errno, "probe binary %s", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		ml_error("probe binary %s is not an executable file", path);
		return -1;
	}
	if (ml_read_file(path, PROBE_LIMIT, &data, &len) < 0)
		return -1;
	if (len < sizeof(eh) || memcmp(data, ELFMAG, SELFMAG) != 0) {
		ml_error("probe binary %s is not an ELF executable", path);
		return -1;
	}
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
		ml_error("probe binary %s is not an x86_64 executable", path);
		return -1;
	}
	if (eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phoff <= len &&
	    (len - eh.e_phoff) / sizeof(Elf64_Phdr) >= eh.e_phnum) {
		for (size_t i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type == PT_INTERP) {
				ml_error("probe binary %s is dynamically linked; the guest initramfs "
					 "has no libc, so it must be a static executable",
					 path);
				return -1;
			}
		}
	}
	sha256_mem(data, len, sha);
	return 0;
}

/* Everything that decides the bytes of a guest directory. */
struct inputs {
	const char *suite;
	const char *kernel_package;
	const char *kernel_version;
	const char *release;
	const char *busybox_version;
	char probe_sha[65];
	char init_sha[65];
	/* "initrd-<12 hex>.img": named after its own inputs (probe and /init),
	 * so miglab builds with different probes sharing one cache never
	 * replace an initrd that another run is booting. */
	char initrd_name[32];
	json_t *requested; /* array of module names */
};

/* A kernel release names a cache directory: [A-Za-z0-9.+_-]+, no "..". */
static bool release_valid(const char *r)
{
	if (!*r || strlen(r) > 128 || r[0] == '.' || strstr(r, ".."))
		return false;
	for (const char *p = r; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".+_-", *p)))
			return false;
	return true;
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool file_has_sha(const char *dir, const char *name, const char *want)
{
	ml_autofree char *path = ml_path_join(dir, name);
	char have[65];

	if (!want || !ml_path_exists(path) || ml_sha256_file(path, have) < 0) {
		ml_error_reset();
		return false;
	}
	return strcmp(have, want) == 0;
}

/* The kernel part (vmlinuz + plain modules) recorded in m is intact and was
 * made from the same kernel package and module request. */
static bool kernel_part_valid(const json_t *m, const char *dir, const struct inputs *in)
{
	json_t *mods;
	size_t i;
	json_t *v;

	if (!m || ml_json_int(m, "format", -1) != ML_GUEST_FORMAT ||
	    !str_eq(ml_json_str(m, "kernel_package"), in->kernel_package) ||
	    !str_eq(ml_json_str(m, "kernel_package_version"), in->kernel_version) ||
	    !str_eq(ml_json_str(m, "kernel_release"), in->release) ||
	    !json_equal(json_object_get(m, "requested_modules"), in->requested))
		return false;
	if (!file_has_sha(dir, "vmlinuz", ml_json_str(m, "kernel_sha256")))
		return false;
	mods = json_object_get(m, "modules");
	if (!json_is_array(mods))
		return false;
	json_array_foreach(mods, i, v) {
		const char *path = ml_json_str(v, "path");
		ml_autofree char *rel = NULL;
		if (!path || strstr(path, "..") || path[0] == '/')
			return false;
		rel = ml_path_join("modules", path);
		if (!file_has_sha(dir, rel, ml_json_str(v, "sha256")))
			return false;
	}
	return true;
}

static bool busybox_part_valid(const json_t *m, const char *dir, const struct inputs *in)
{
	return m && str_eq(ml_json_str(m, "busybox_version"), in->busybox_version) &&
	       file_has_sha(dir, "busybox", ml_json_str(m, "busybox_sha256"));
}

/* The PVH part ("pvh": vmlinux extracted from vmlinuz, or why it could not
 * be) was made by this extraction from the vmlinuz recorded in m. A record
 * of a kernel without PVH is valid as well: the answer depends on the
 * vmlinuz bytes only. */
static bool pvh_part_valid(const json_t *m, const char *dir)
{
	const json_t *p = json_object_get(m, "pvh");

	if (!json_is_object(p) || ml_json_int(p, "format", -1) != PVH_FORMAT ||
	    !str_eq(ml_json_str(p, "of_kernel_sha256"), ml_json_str(m, "kernel_sha256")))
		return false;
	if (!ml_json_str(p, "vmlinux"))
		return ml_json_str(p, "unavailable") != NULL;
	return str_eq(ml_json_str(p, "vmlinux"), "vmlinux") && ml_json_str(p, "entry") &&
	       file_has_sha(dir, "vmlinux", ml_json_str(p, "sha256"));
}

static bool initrd_part_valid(const json_t *m, const char *dir, const struct inputs *in)
{
	return m && str_eq(ml_json_str(m, "probe_sha256"), in->probe_sha) &&
	       str_eq(ml_json_str(m, "init_sha256"), in->init_sha) &&
	       str_eq(ml_json_str(m, "initrd"), in->initrd_name) &&
	       file_has_sha(dir, in->initrd_name, ml_json_str(m, "initrd_sha256"));
}

static bool whole_guest_valid(const json_t *m, const char *dir, const struct inputs *in)
{
	return kernel_part_valid(m, dir, in) && busybox_part_valid(m, dir, in) &&
	       pvh_part_valid(m, dir) && initrd_part_valid(m, dir, in);
}

/* Names of the packages that make up the kernel: the linux-image-<release>
 * package and, where it is only a meta package (Debian >= 7.x splits it),
 * the linux-*-<release> packages it depends on (linux-binary-, linux-modules-,
 * linux-base-). */
static int kernel_packages(struct ml_apt *apt, const char *kpkg, const char *release,
			   char ***pkgs, size_t *n_pkgs)
{
	ml_autofree char *stanza = NULL;
	ml_autofree char *depends = NULL;
	ml_autofree char *suffix = NULL;
	char **deps;
	size_t n = 0, out = 0;
	char **v;

	if (ml_apt_show(apt, kpkg, &stanza) < 0)
		return -1;
	depends = ml_apt_stanza_field(stanza, "Depends");
	deps = ml_apt_parse_depends(depends, &n);
	if (asprintf(&suffix, "-%s", release) < 0)
		abort();
	v = calloc(n + 2, sizeof(*v));
	if (!v || !(v[out++] = strdup(kpkg)))
		abort();
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(deps[i]), sl = strlen(suffix);
		bool dup = false;
		if (strncmp(deps[i], "linux-", 6) != 0 || l <= sl ||
		    strcmp(deps[i] + l - sl, suffix) != 0)
			continue;
		for (size_t k = 0; k < out; k++)
			dup = dup || strcmp(v[k], deps[i]) == 0;
		if (!dup && !(v[out++] = strdup(deps[i])))
			abort();
	}
	ml_apt_strv_free(deps);
	*pkgs = v;
	*n_pkgs = out;
	return 0;
}

/* "kernel/x/virtio_blk.ko.xz" -> "kernel/x/virtio_blk.ko" */
static char *plain_module_path(const char *path)
{
	const char *ko = strstr(path, ".ko");
	size_t l = ko ? (size_t)(ko - path) + 3 : strlen(path);
	char *p;

	while (ko && strstr(ko + 3, ".ko")) {
		ko = strstr(ko + 3, ".ko");
		l = (size_t)(ko - path) + 3;
	}
	if (!(p = strndup(path, l)))
		abort();
	return p;
}

static int copy_atomic(const char *src, const char *dst)
{
	ml_autofree char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", dst) < 0)
		abort();
	if (ml_copy_file(src, tmp) < 0)
		return -1;
	if (rename(tmp, dst) < 0) {
		ml_error_errno(errno, "cannot rename %s to %s", tmp, dst);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Download the kernel packages, copy vmlinuz and the resolved modules (plain
 * .ko) into dir, fill the kernel part of manifest m, delete the rest. */
static int fetch_kernel(struct ml_apt *apt, const char *dir, const struct inputs *in,
			json_t *m)
{
	ml_autofree char *work = ml_path_join(dir, ".work");
	ml_autofree char *root = ml_path_join(work, "kernel");
	ml_autofree char *debdir = ml_path_join(apt->root, "debs");
	ml_autofree char *moddir = NULL;
	ml_autofree char *vmlinuz = NULL;
	ml_autofree char *dest_mods = ml_path_join(dir, "modules");
	ml_autofree char *kdst = ml_path_join(dir, "vmlinuz");
	struct ml_modindex idx = ML_MODINDEX_INIT;
	struct ml_moddep_result res = { 0 };
	char **pkgs = NULL, **debs = NULL;
	size_t n_pkgs = 0;
	const char **requested = NULL;
	json_t *debs_json = json_array(), *mods_json = json_array(), *builtin_json = json_array();
	size_t n_req = json_array_size(in->requested);
	char sha[65];
	long long t0 = ml_now_ms();
	int ret = -1;

	if (ml_rm_rf(work) < 0 || ml_rm_rf(dest_mods) < 0 || ml_mkdir_p(root, 0755) < 0)
		goto out;
	unlink(kdst);

	if (kernel_packages(apt, in->kernel_package, in->release, &pkgs, &n_pkgs) < 0)
		goto out;
	debs = calloc(n_pkgs + 1, sizeof(*debs));
	if (!debs)
		abort();
	for (size_t i = 0; i < n_pkgs; i++) {
		ml_autofree char *ver = NULL;
		if (ml_apt_candidate(apt, pkgs[i], &ver) < 0 ||
		    ml_apt_download(apt, pkgs[i], debdir, &debs[i]) < 0 ||
		    ml_sha256_file(debs[i], sha) < 0)
			goto out;
		json_array_append_new(debs_json, json_pack("{s:s, s:s, s:s}", "package", pkgs[i],
							   "version", ver, "sha256", sha));
	}
	fprintf(stderr, "miglab: downloaded %zu kernel package(s) of %s in %.1f s\n", n_pkgs,
		apt->suite, (double)(ml_now_ms() - t0) / 1000.0);
	for (size_t i = 0; i < n_pkgs; i++)
		if (ml_apt_extract(debs[i], root) < 0)
			goto out;

	/* vmlinuz: /boot/vmlinuz-<release>, or /usr/lib/modules/<release>/vmlinuz
	 * in the split packages of newer kernels */
	if (asprintf(&vmlinuz, "%s/boot/vmlinuz-%s", root, in->release) < 0)
		abort();
	if (!ml_path_exists(vmlinuz)) {
		ml_autofree char *md = NULL;
		free(vmlinuz);
		vmlinuz = NULL;
		if (ml_moddep_find_moddir(root, in->release, &md) == 0)
			vmlinuz = ml_path_join(md, "vmlinuz");
		if (!vmlinuz || !ml_path_exists(vmlinuz)) {
			ml_error("kernel package %s %s of Debian suite '%s' has no vmlinuz (looked "
				 "in /boot and the modules directory)",
				 in->kernel_package, in->kernel_version, apt->suite);
			goto out;
		}
	}
	if (copy_atomic(vmlinuz, kdst) < 0 || ml_sha256_file(kdst, sha) < 0)
		goto out;
	ml_json_set_str(m, "kernel_sha256", sha);

	if (ml_moddep_find_moddir(root, in->release, &moddir) < 0 ||
	    ml_modindex_scan(&idx, moddir) < 0)
		goto out;
	requested = calloc(n_req + 1, sizeof(*requested));
	if (!requested)
		abort();
	for (size_t i = 0; i < n_req; i++)
		requested[i] = json_string_value(json_array_get(in->requested, i));
	if (ml_moddep_resolve(&idx, requested, n_req, ml_moddep_deps_from_files, moddir, &res) < 0) {
		ml_error_context("resolving the guest's modules in kernel %s of Debian suite '%s'",
				 in->release, apt->suite);
		goto out;
	}
	for (size_t i = 0; i < res.n_order; i++) {
		ml_autofree char *src = ml_path_join(moddir, res.order[i].path);
		ml_autofree char *plain = plain_module_path(res.order[i].path);
		ml_autofree char *dst = ml_path_join(dest_mods, plain);
		ml_autofree char *dst_dir = strdup(dst);
		ml_autofree unsigned char *elf = NULL;
		size_t len = 0;

		*strrchr(dst_dir, '/') = '\0';
		if (ml_module_read(src, MODULE_LIMIT, &elf, &len) < 0 ||
		    ml_mkdir_p(dst_dir, 0755) < 0 || ml_write_atomic(dst, elf, len, 0644) < 0)
			goto out;
		sha256_mem(elf, len, sha);
		json_array_append_new(mods_json, json_pack("{s:s, s:s, s:s}", "name",
							   res.order[i].name, "path", plain,
							   "sha256", sha));
	}
	for (size_t i = 0; i < res.n_builtin; i++)
		json_array_append_new(builtin_json, json_string(res.builtin[i]));
	ml_json_set(m, "kernel_debs", json_incref(debs_json));
	ml_json_set(m, "modules", json_incref(mods_json));
	ml_json_set(m, "builtin_modules", json_incref(builtin_json));
	ret = 0;
out:
	if (ret < 0)
		ml_error_context("fetching the kernel of Debian suite '%s'", apt->suite);
	/* keep no more than needed: the extracted tree and the .debs go */
	ml_rm_rf(work);
	for (size_t i = 0; debs && i < n_pkgs; i++)
		if (debs[i])
			unlink(debs[i]);
	ml_apt_strv_free(debs);
	ml_apt_strv_free(pkgs);
	free(requested);
	ml_moddep_result_clear(&res);
	ml_modindex_clear(&idx);
	json_decref(debs_json);
	json_decref(mods_json);
	json_decref(builtin_json);
	return ret;
}

static int fetch_busybox(struct ml_apt *apt, const char *dir, json_t *m)
{
	ml_autofree char *work = ml_path_join(dir, ".work");
	ml_autofree char *root = ml_path_join(work, "busybox");
	ml_autofree char *debdir = ml_path_join(apt->root, "debs");
	ml_autofree char *src = ml_path_join(root, "bin/busybox");
	ml_autofree char *dst = ml_path_join(dir, "busybox");
	ml_autofree char *deb = NULL;
	char sha[65];
	int ret = -1;

	if (ml_rm_rf(root) < 0 || ml_apt_download(apt, BUSYBOX_PACKAGE, debdir, &deb) < 0 ||
	    ml_apt_extract(deb, root) < 0)
		goto out;
	if (!ml_path_exists(src)) {
		/* merged-/usr packages (trixie and later) ship /usr/bin/busybox */
		free(src);
		src = ml_path_join(root, "usr/bin/busybox");
	}
	if (!ml_path_exists(src)) {
		ml_error("%s of Debian suite '%s' has neither /bin/busybox nor /usr/bin/busybox",
			 BUSYBOX_PACKAGE, apt->suite);
		goto out;
	}
	if (copy_atomic(src, dst) < 0 || ml_sha256_file(dst, sha) < 0)
		goto out;
	ml_json_set_str(m, "busybox_sha256", sha);
	ret = 0;
out:
	ml_rm_rf(work);
	if (deb)
		unlink(deb);
	return ret;
}

/* The "pvh" part of manifest m: extract the ELF kernel from dir/vmlinuz
 * into dir/vmlinux (atomically) when it has the PVH entry note, or record
 * why the kernel cannot boot that way. Only an I/O error fails: a kernel
 * without PVH still boots as a bzImage. */
static int make_pvh(const char *dir, json_t *m)
{
	ml_autofree char *vmlinuz = ml_path_join(dir, "vmlinuz");
	ml_autofree char *vmlinux = ml_path_join(dir, "vmlinux");
	ml_autofree char *bz = NULL;
	ml_autofree unsigned char *elf = NULL;
	const char *compression = NULL;
	size_t len = 0, elf_len = 0;
	uint64_t entry = 0;
	json_t *p = json_object();
	char sha[65];
	long long t0 = ml_now_ms();
	int r;

	ml_json_set_int(p, "format", PVH_FORMAT);
	ml_json_set_str(p, "of_kernel_sha256", ml_json_str(m, "kernel_sha256"));
	ml_json_set(m, "pvh", p); /* m owns p */
	if (unlink(vmlinux) < 0 && errno != ENOENT) {
		ml_error_errno(errno, "cannot remove %s", vmlinux);
		return -1;
	}
	if (ml_read_file(vmlinuz, VMLINUZ_LIMIT, &bz, &len) < 0)
		return -1;
	if (ml_vmlinux_extract((unsigned char *)bz, len, vmlinuz, &elf, &elf_len, &compression) < 0 ||
	    (r = ml_vmlinux_pvh_entry(elf, elf_len, vmlinuz, &entry)) < 0) {
		ml_json_set_str(p, "unavailable", ml_error_message());
		ml_error_reset();
		return 0;
	}
	ml_json_set_str(p, "compression", compression);
	if (r == 0) {
		ml_autofree char *why = ml_strdup_printf(
			"%s has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): the kernel "
			"was built without CONFIG_PVH", vmlinuz);
		ml_json_set_str(p, "unavailable", why);
		return 0;
	}
	if (ml_write_atomic(vmlinux, elf, elf_len, 0644) < 0)
		return -1;
	sha256_mem(elf, elf_len, sha);
	{
		ml_autofree char *hex = ml_strdup_printf("0x%llx", (unsigned long long)entry);
		ml_json_set_str(p, "vmlinux", "vmlinux");
		ml_json_set_str(p, "sha256", sha);
		ml_json_set_str(p, "entry", hex);
	}
	fprintf(stderr, "miglab: extracted the PVH kernel of %s (%s, %zu bytes) in %.1f s\n",
		vmlinuz, compression, elf_len, (double)(ml_now_ms() - t0) / 1000.0);
	return 0;
}

static int build_initrd(const char *dir, const struct inputs *in, json_t *m)
{
	ml_autofree char *busybox = ml_path_join(dir, "busybox");
	ml_autofree char *mods = ml_path_join(dir, "modules");
	ml_autofree char *initrd = ml_path_join(dir, in->initrd_name);
	json_t *list = json_object_get(m, "modules");
	size_t n = json_array_size(list);
	const char **paths = calloc(n + 1, sizeof(*paths));
	struct ml_initramfs_spec spec = {
		.kernel_release = in->release,
		.busybox_path = busybox,
		.modules_dir = mods,
		.modules = paths,
		.n_modules = n,
	};
	char sha[65];
	int ret = -1;

	if (!paths)
		abort();
	for (size_t i = 0; i < n; i++)
		paths[i] = ml_json_str(json_array_get(list, i), "path");
	spec.probe_path = ml_json_str(m, "probe_path");
	if (ml_initramfs_build(&spec, initrd) == 0 && ml_sha256_file(initrd, sha) == 0) {
		ml_json_set_str(m, "initrd_sha256", sha);
		ret = 0;
	}
	free(paths);
	return ret;
}

static char *manifest_strdup(const json_t *m, const char *key)
{
	const char *s = ml_json_str(m, key);
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

static void fill_guest(struct ml_guest *g, const char *spec, const char *dir, const json_t *m)
{
	json_t *mods = json_object_get(m, "modules");
	size_t i;
	json_t *v;

	g->provider = strdup(spec);
	g->suite = manifest_strdup(m, "suite");
	g->kernel_package = manifest_strdup(m, "kernel_package");
	g->kernel_package_version = manifest_strdup(m, "kernel_package_version");
	g->kernel_release = manifest_strdup(m, "kernel_release");
	g->busybox_version = manifest_strdup(m, "busybox_version");
	g->dir = strdup(dir);
	g->kernel_path = ml_path_join(dir, "vmlinuz");
	g->initrd_path = ml_path_join(dir, ml_json_str(m, "initrd") ? ml_json_str(m, "initrd") : "initrd.img");
	snprintf(g->kernel_sha256, sizeof(g->kernel_sha256), "%s",
		 ml_json_str(m, "kernel_sha256") ? ml_json_str(m, "kernel_sha256") : "");
	snprintf(g->initrd_sha256, sizeof(g->initrd_sha256), "%s",
		 ml_json_str(m, "initrd_sha256") ? ml_json_str(m, "initrd_sha256") : "");
	{
		const json_t *p = json_object_get(m, "pvh");
		const char *entry = ml_json_str(p, "entry");
		if (ml_json_str(p, "vmlinux") && entry) {
			g->vmlinux_path = ml_path_join(dir, "vmlinux");
			snprintf(g->vmlinux_sha256, sizeof(g->vmlinux_sha256), "%s",
				 ml_json_str(p, "sha256"));
			g->pvh_entry = strtoull(entry, NULL, 16);
		} else {
			g->pvh_unavailable = manifest_strdup(p, "unavailable");
		}
	}
	g->n_modules = json_array_size(mods);
	g->modules = calloc(g->n_modules + 1, sizeof(*g->modules));
	if (!g->provider || !g->dir || !g->modules)
		abort();
	json_array_foreach(mods, i, v) {
		g->modules[i] = manifest_strdup(v, "name");
	}
}

int ml_guest_provision(const char *cache_dir, const char *spec, const char *probe_binary,
		       const char *mirror, struct ml_guest *out)
{
	struct ml_apt apt = { .lock_fd = -1 };
	ml_autofree char *lockpath = NULL;
	ml_autofree char *what = NULL;
	ml_autoclose int lockfd = -1;
	ml_autofree char *suite = NULL;
	ml_autofree char *kpkg = NULL;
	ml_autofree char *kver = NULL;
	ml_autofree char *release = NULL;
	ml_autofree char *bbver = NULL;
	ml_autofree char *dir = NULL;
	ml_autofree char *manifest_path = NULL;
	ml_autofree char *probe_abs = NULL;
	struct inputs in = { 0 };
	json_t *old = NULL, *m = NULL;
	bool kernel_ok, busybox_ok, pvh_ok, initrd_ok;
	const char *init = ml_initramfs_init_script();
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (ml_guest_parse_provider(spec, &suite) < 0)
		return -1;
	if (check_probe(probe_binary, in.probe_sha) < 0)
		return ml_error_context("provisioning guest %s", spec);
	probe_abs = realpath(probe_binary, NULL);
	if (!probe_abs) {
		ml_error_errno(errno, "cannot resolve %s", probe_binary);
		return -1;
	}
	sha256_mem(init, strlen(init), in.init_sha);
	{
		char both[2 * 65 + 1], sha[65];
		snprintf(both, sizeof(both), "%s%s", in.probe_sha, in.init_sha);
		sha256_mem(both, strlen(both), sha);
		snprintf(in.initrd_name, sizeof(in.initrd_name), "initrd-%.12s.img", sha);
	}
	in.requested = json_array();
	for (size_t i = 0; ml_guest_default_modules[i]; i++)
		json_array_append_new(in.requested, json_string(ml_guest_default_modules[i]));

	if (ml_apt_open(cache_dir, suite, mirror, &apt) < 0 || ml_apt_update(&apt, false) < 0 ||
	    ml_apt_resolve_kernel(&apt, KERNEL_META, &kpkg, &kver, &release) < 0 ||
	    ml_apt_candidate(&apt, BUSYBOX_PACKAGE, &bbver) < 0)
		goto out;
	if (!release_valid(release)) { /* it names a directory */
		ml_error("unexpected kernel release '%s' in Debian suite '%s'", release, suite);
		goto out;
	}
	in.suite = suite;
	in.kernel_package = kpkg;
	in.kernel_version = kver;
	in.release = release;
	in.busybox_version = bbver;

	if (asprintf(&dir, "%s/guests/%s/%s", cache_dir, suite, release) < 0)
		abort();
	manifest_path = ml_path_join(dir, MANIFEST);
	if (ml_mkdir_p(dir, 0755) < 0)
		goto out;
	/* The cache's lock discipline (as for Debian roots): a guest is used
	 * under a shared lock, made or replaced under an exclusive one. */
	lockpath = ml_strdup_printf("%s.lock", dir);
	what = ml_strdup_printf("the guest kernel of %s (%s)", spec, dir);
	lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd < 0) {
		ml_error_errno(errno, "cannot open %s", lockpath);
		goto out;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (ml_flock_wait(lockfd, pass ? LOCK_EX : LOCK_SH, what, -1) < 0)
			goto out;
		json_decref(old);
		old = NULL;
		if (ml_path_exists(manifest_path)) {
			old = ml_json_load_file(manifest_path, MANIFEST_LIMIT);
			if (!old)
				ml_error_reset(); /* a broken manifest is a partial guest */
		}
		if (whole_guest_valid(old, dir, &in)) {
			fill_guest(out, spec, dir, old);
			ret = 0;
			goto out;
		}
		/* Never convert a shared lock in place (two processes would wait
		 * for each other). */
		if (pass == 0)
			flock(lockfd, LOCK_UN);
	}

	/* from here on the directory is partial until the manifest is rewritten */
	if (unlink(manifest_path) < 0 && errno != ENOENT) {
		ml_error_errno(errno, "cannot remove %s", manifest_path);
		goto out;
	}
	kernel_ok = kernel_part_valid(old, dir, &in);
	busybox_ok = busybox_part_valid(old, dir, &in);
	pvh_ok = kernel_ok && pvh_part_valid(old, dir);
	initrd_ok = kernel_ok && busybox_ok && initrd_part_valid(old, dir, &in);
	m = json_object();
	ml_json_set_int(m, "format", ML_GUEST_FORMAT);
	ml_json_set_str(m, "provider", spec);
	ml_json_set_str(m, "suite", suite);
	ml_json_set_str(m, "mirror", apt.mirror);
	ml_json_set_str(m, "kernel_package", kpkg);
	ml_json_set_str(m, "kernel_package_version", kver);
	ml_json_set_str(m, "kernel_release", release);
	ml_json_set(m, "requested_modules", json_incref(in.requested));
	ml_json_set_str(m, "busybox_package", BUSYBOX_PACKAGE);
	ml_json_set_str(m, "busybox_version", bbver);
	ml_json_set_str(m, "probe_sha256", in.probe_sha);
	ml_json_set_str(m, "probe_path", probe_abs);
	ml_json_set_str(m, "init_sha256", in.init_sha);
	ml_json_set_str(m, "kernel", "vmlinuz");
	ml_json_set_str(m, "initrd", in.initrd_name);

	if (kernel_ok) {
		static const char *const keep[] = { "kernel_sha256", "kernel_debs", "modules",
						    "builtin_modules" };
		for (size_t i = 0; i < ML_ARRAY_SIZE(keep); i++)
			ml_json_set(m, keep[i], json_incref(json_object_get(old, keep[i])));
	} else if (fetch_kernel(&apt, dir, &in, m) < 0) {
		goto out;
	}
	if (pvh_ok)
		ml_json_set(m, "pvh", json_incref(json_object_get(old, "pvh")));
	else if (make_pvh(dir, m) < 0)
		goto out;
	if (busybox_ok)
		ml_json_set_str(m, "busybox_sha256", ml_json_str(old, "busybox_sha256"));
	else if (fetch_busybox(&apt, dir, m) < 0)
		goto out;
	/* The initrd is made again only when something it holds changed (an
	 * older manifest without the "pvh" part keeps its initrd). */
	if (initrd_ok)
		ml_json_set_str(m, "initrd_sha256", ml_json_str(old, "initrd_sha256"));
	else if (build_initrd(dir, &in, m) < 0)
		goto out;
	if (ml_json_write_file(manifest_path, m) < 0)
		goto out;
	fill_guest(out, spec, dir, m);
	ret = 0;
out:
	if (ret == 0 && lockfd >= 0 && flock(lockfd, LOCK_SH) == 0) {
		out->lock_fd = lockfd;
		out->locked = true;
		lockfd = -1;
	} else if (ret == 0) {
		ml_error_errno(errno, "cannot lock %s", lockpath);
		ret = -1;
	}
	if (ret < 0) {
		ml_error_context("provisioning guest %s", spec);
		ml_guest_clear(out);
	}
	json_decref(in.requested);
	json_decref(old);
	json_decref(m);
	ml_apt_close(&apt);
	return ret;
}
