/* The static vmstate check: a source's `-dump-vmstate` against a
 * destination's, in the direction of a migration (see vmstate.h and
 * docs/vmstate.md). What the stream carries decides every rule here:
 *   - a section is found by its VMState name; its version_id travels with
 *     it and the destination refuses one above its version_id or below its
 *     minimum_version_id;
 *   - fields carry no names on the wire, only bytes in order: the source
 *     sends the fields whose version_id <= the section's version, and the
 *     destination reads its own fields for that version in its own order;
 *   - a nested structure is not versioned on the wire: each side uses its
 *     own version of the nested description;
 *   - a subsection travels with its name and version, only when the
 *     source's needed() says so; a destination that does not know its name
 *     fails the whole migration. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "vmstate.h"
#include "ml-common.h"

#define MAX_DEPTH 32
#define RENAMES_LIMIT (1 << 20)

struct ml_vmstate_renames {
	json_t *section;    /* name -> other name (both ways) */
	json_t *field;      /* "VMSD.name" -> other name (both ways) */
	json_t *subsection; /* name -> other name (both ways) */
};

/* ---- the renames file ------------------------------------------------------ */

struct renames_parse {
	struct ml_vmstate_renames *r;
	const char *what;
	char error[256];
};

/* libinih's handler; a refused line returns 0, and ini_parse_string()
 * returns that line's number. */
static int renames_line(void *user, const char *section, const char *key, const char *value)
{
	struct renames_parse *p = user;
	json_t *map = strcmp(section, "section") == 0	    ? p->r->section
		      : strcmp(section, "field") == 0	    ? p->r->field
		      : strcmp(section, "subsection") == 0 ? p->r->subsection
							    : NULL;

	if (!map) {
		snprintf(p->error, sizeof(p->error),
			 "unknown section [%s] (expected [section], [field] or [subsection])", section);
		return 0;
	}
	if (!key || !*key || !value || !*value) {
		snprintf(p->error, sizeof(p->error), "expected OLD = NEW in [%s]", section);
		return 0;
	}
	if (map == p->r->field) {
		const char *dot = strrchr(key, '.');
		if (!dot || dot == key || !dot[1]) {
			snprintf(p->error, sizeof(p->error),
				 "field rename '%s' must be VMSD.OLD = NEW (e.g. e1000.mac_reg = regs)",
				 key);
				return 0;
		}
		/* both ways: VMSD.old -> new and VMSD.new -> old */
		ml_json_set_str(map, key, value);
		ml_autofree char *back = ml_strdup_printf("%.*s.%s", (int)(dot - key), key, value);
		ml_json_set_str(map, back, dot + 1);
		return 1;
	}
	ml_json_set_str(map, key, value);
	ml_json_set_str(map, value, key);
	return 1;
}

struct ml_vmstate_renames *ml_vmstate_renames_parse(const char *text, const char *what)
{
	struct ml_vmstate_renames *r = calloc(1, sizeof(*r));
	struct renames_parse p = { .r = r, .what = what };
	int rc;

	if (!r)
		abort();
	r->section = json_object();
	r->field = json_object();
	r->subsection = json_object();
	rc = ini_parse_string(text, renames_line, &p);
	if (rc > 0 && p.error[0]) {
		ml_error("%s:%d: %s", what, rc, p.error);
		goto fail;
	}
	if (rc != 0) {
		ml_error("%s:%d: syntax error (expected [section] or OLD = NEW)", what, rc);
		goto fail;
	}
	return r;
fail:
	ml_vmstate_renames_free(r);
	return NULL;
}

struct ml_vmstate_renames *ml_vmstate_renames_load(const char *path)
{
	ml_autofree char *text = NULL;

	if (ml_read_file(path, RENAMES_LIMIT, &text, NULL) < 0)
		return NULL;
	return ml_vmstate_renames_parse(text, path);
}

void ml_vmstate_renames_free(struct ml_vmstate_renames *r)
{
	if (!r)
		return;
	json_decref(r->section);
	json_decref(r->field);
	json_decref(r->subsection);
	free(r);
}

const char *ml_vmstate_renames_default_path(void)
{
	const char *env = getenv("MIGLAB_VMSTATE_RENAMES");

	if (env && *env)
		return env;
#ifdef MIGLAB_VMSTATE_RENAMES_INSTALLED
	if (ml_path_exists(MIGLAB_VMSTATE_RENAMES_INSTALLED))
		return MIGLAB_VMSTATE_RENAMES_INSTALLED;
#endif
#ifdef MIGLAB_VMSTATE_RENAMES_SOURCE
	return MIGLAB_VMSTATE_RENAMES_SOURCE;
#else
	return "vmstate-renames.ini";
#endif
}

static const char *rename_of(const json_t *map, const char *name)
{
	return map ? ml_json_str(map, name) : NULL;
}

/* ---- findings ---------------------------------------------------------------- */

struct cmp {
	const struct ml_vmstate_options *o;
	json_t *findings; /* in discovery order */
	json_t *index;    /* dedup key -> finding (borrowed from findings) */
	const char *device;
	const char *section;
	bool guest;
};

static bool in_list(const json_t *list, const char *type)
{
	size_t i;
	json_t *t;

	if (!list)
		return false;
	json_array_foreach(list, i, t)
		if (json_is_string(t) && strcmp(json_string_value(t), type) == 0)
			return true;
	return false;
}

/* Record a finding; the same difference in a description shared by several
 * device types (PCIDevice, a common base) is recorded once with every
 * device listed. */
static void __attribute__((format(printf, 8, 9)))
finding(struct cmp *c, const char *severity, const char *path, const char *field, const char *what,
	const char *src, const char *dst, const char *fmt, ...)
{
	struct ml_buf b = ML_BUF_INIT(0);
	ml_autofree char *key = ml_strdup_printf("%s|%s|%s|%s|%s", what, path, field ? field : "",
						 src ? src : "", dst ? dst : "");
	json_t *f = json_object_get(c->index, key);
	va_list ap;

	if (f) {
		json_t *devs = json_object_get(f, "devices");
		json_array_append_new(devs, json_string(c->device));
		if (c->guest && !json_is_true(json_object_get(f, "guest_device"))) {
			ml_json_set(f, "guest_device", json_true());
			ml_json_set_str(f, "device", c->device);
			ml_json_set_str(f, "section", c->section);
		}
		return;
	}
	va_start(ap, fmt);
	ml_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	f = json_object();
	ml_json_set_str(f, "severity", severity);
	ml_json_set_str(f, "device", c->device);
	ml_json_set(f, "devices", json_pack("[s]", c->device));
	ml_json_set_str(f, "section", c->section);
	ml_json_set_str(f, "path", path);
	if (field)
		ml_json_set_str(f, "field", field);
	ml_json_set_str(f, "what", what);
	ml_json_set_str(f, "src", src);
	ml_json_set_str(f, "dst", dst);
	ml_json_set(f, "guest_device", json_boolean(c->guest));
	ml_json_set_str(f, "explanation", b.data ? b.data : "");
	ml_buf_free(&b);
	json_array_append_new(c->findings, f);
	json_object_set(c->index, key, f);
}

/* ---- reading a dump (untrusted) --------------------------------------------- */

struct fld {
	const char *name;
	long long size;
	long long version;
	bool cond; /* field_exists: a test decides at run time */
	const json_t *desc; /* nested VMSD of a structure, or NULL */
	size_t pos;  /* position among the fields sent at this version */
};

static int vmsd_check(const json_t *vmsd, const char *where)
{
	if (!json_is_object(vmsd) || !json_is_string(json_object_get(vmsd, "name")) ||
	    !json_is_integer(json_object_get(vmsd, "version_id")) ||
	    !json_is_integer(json_object_get(vmsd, "minimum_version_id"))) {
		ml_error("malformed vmstate dump: %s: a description needs name, version_id and "
			 "minimum_version_id", where);
		return -1;
	}
	return 0;
}

/* The fields a side puts on (or reads from) the wire at version max_version. */
static int collect_fields(const json_t *vmsd, long long max_version, struct fld **out, size_t *n)
{
	const json_t *fields = json_object_get(vmsd, "Fields");
	size_t i, k = 0;
	json_t *f;

	*out = NULL;
	*n = 0;
	if (!fields)
		return 0;
	if (!json_is_array(fields)) {
		ml_error("malformed vmstate dump: Fields of '%s' is not an array",
			 ml_json_str(vmsd, "name"));
		return -1;
	}
	*out = calloc(json_array_size(fields) + 1, sizeof(**out));
	if (!*out)
		abort();
	json_array_foreach(fields, i, f) {
		const json_t *d = json_object_get(f, "Description");
		struct fld x;

		if (!json_is_object(f) || !json_is_string(json_object_get(f, "field")) ||
		    !json_is_integer(json_object_get(f, "version_id")) ||
		    !json_is_integer(json_object_get(f, "size"))) {
			ml_error("malformed vmstate dump: field %zu of '%s' needs field, version_id "
				 "and size", i, ml_json_str(vmsd, "name"));
			free(*out);
			*out = NULL;
			return -1;
		}
		if (d && vmsd_check(d, ml_json_str(f, "field")) < 0) {
			free(*out);
			*out = NULL;
			return -1;
		}
		x.name = ml_json_str(f, "field");
		x.size = ml_json_int(f, "size", 0);
		x.version = ml_json_int(f, "version_id", 0);
		x.cond = ml_json_bool(f, "field_exists", false);
		x.desc = d;
		if (x.version > max_version)
			continue; /* not sent / not read at this version */
		x.pos = k;
		(*out)[k++] = x;
	}
	*n = k;
	return 0;
}

/* ---- comparison ---------------------------------------------------------------- */

static int compare_vmsd(struct cmp *c, const char *path, const json_t *s, const json_t *d,
			long long s_version, long long d_version, int depth);

static bool is_unused(const struct fld *f)
{
	return strcmp(f->name, "unused") == 0 && !f->desc;
}

/* A VMSTATE_VALIDATE check: no bytes on the wire, a condition, size 0. */
static bool is_check(const struct fld *f)
{
	return f->size == 0 && f->cond && !f->desc;
}

static bool same_field(const struct cmp *c, const char *vmsd, const char *a, const char *b)
{
	ml_autofree char *key = NULL;
	const char *r;

	if (strcmp(a, b) == 0)
		return true;
	if (!c->o->renames)
		return false;
	key = ml_strdup_printf("%s.%s", vmsd, a);
	r = rename_of(c->o->renames->field, key);
	return r && strcmp(r, b) == 0;
}

static ssize_t find_field(const struct cmp *c, const char *vmsd, const struct fld *v, size_t from,
			  size_t n, const char *name)
{
	for (size_t k = from; k < n; k++)
		if (same_field(c, vmsd, name, v[k].name))
			return (ssize_t)k;
	return -1;
}

static char *size_str(const struct fld *f)
{
	if (f->desc)
		return ml_strdup_printf("structure %s", ml_json_str(f->desc, "name"));
	if (f->size == 0 && !f->cond)
		return ml_strdup_printf("custom-coded, size not in the dump, at position %zu", f->pos);
	return ml_strdup_printf("%lld bytes at position %zu", f->size, f->pos);
}

static void field_one_side(struct cmp *c, const char *path, const char *vmsd, long long version,
			   const struct fld *f, bool on_src)
{
	ml_autofree char *sz = size_str(f);
	/* subsections are named "parent/what": only sent when needed() */
	const char *sub = strchr(vmsd, '/') ? " This is inside a subsection, which travels only "
					      "when the source's needed() is true."
					    : "";

	if (is_check(f)) {
		finding(c, "info", path, f->name, on_src ? "field-extra" : "field-missing",
			on_src ? sz : NULL, on_src ? NULL : sz,
			"'%s' is a load-time check (VMSTATE_VALIDATE, no bytes on the wire) that "
			"only the %s has.", f->name, on_src ? "source" : "destination");
		return;
	}
	if (on_src)
		finding(c, f->cond ? "warning" : "error", path, f->name, "field-extra", sz, NULL,
			"The source sends field '%s' of '%s' (version %lld) and the destination "
			"does not read it there: it takes those bytes for its next field, and "
			"the section fails to load or loads wrong values%s.%s", f->name, vmsd, version,
			f->cond ? " - if the field's condition (field_exists) holds on the source; "
				  "QEMU usually ties it to a compat property of old machine types"
				: "", sub);
	else
		finding(c, f->cond ? "warning" : "error", path, f->name, "field-missing", NULL, sz,
			"The destination reads field '%s' of '%s' (version %lld) that the source "
			"does not send: it takes the bytes that follow in the stream for it, and "
			"the section fails to load or loads wrong values%s.%s", f->name, vmsd, version,
			f->cond ? " - if the field's condition (field_exists) holds on the "
				  "destination; QEMU usually ties it to a compat property of old "
				  "machine types"
				: "", sub);
}

/* A field of one side the walk could not pair. One present elsewhere on the
 * other side has moved: reported once, from the destination's side. */
static void unmatched(struct cmp *c, const char *path, const char *vmsd, long long version,
		      const struct fld *f, bool on_src, const struct fld *other, size_t n_other)
{
	ssize_t at = is_check(f) ? -1 : find_field(c, vmsd, other, 0, n_other, f->name);

	if (at < 0) {
		field_one_side(c, path, vmsd, version, f, on_src);
		return;
	}
	if (on_src)
		return;
	ml_autofree char *ss = ml_strdup_printf("position %zu", other[at].pos);
	ml_autofree char *ds = ml_strdup_printf("position %zu", f->pos);
	finding(c, "error", path, f->name, "field-order", ss, ds,
		"Field '%s' of '%s' (version %lld) is at %s on the source and %s on the "
		"destination: fields carry no names on the wire, so the destination reads "
		"other bytes for it.", f->name, vmsd, version, ss, ds);
}

/* Walk both field lists in wire order. */
static int compare_fields(struct cmp *c, const char *path, const char *vmsd, long long version,
			  const struct fld *s, size_t ns, const struct fld *d, size_t nd, int depth)
{
	size_t i = 0, j = 0;

	while (i < ns || j < nd) {
		const struct fld *a = i < ns ? &s[i] : NULL;
		const struct fld *b = j < nd ? &d[j] : NULL;

		if (a && is_check(a) && !(b && same_field(c, vmsd, a->name, b->name))) {
			if (find_field(c, vmsd, d, 0, nd, a->name) < 0)
				field_one_side(c, path, vmsd, version, a, true);
			i++;
			continue;
		}
		if (b && is_check(b) && !(a && same_field(c, vmsd, a->name, b->name))) {
			if (find_field(c, vmsd, s, 0, ns, b->name) < 0)
				field_one_side(c, path, vmsd, version, b, false);
			j++;
			continue;
		}
		if (!b) {
			unmatched(c, path, vmsd, version, a, true, d, nd);
			i++;
			continue;
		}
		if (!a) {
			unmatched(c, path, vmsd, version, b, false, s, ns);
			j++;
			continue;
		}
		if (same_field(c, vmsd, a->name, b->name)) {
			if (a->desc && b->desc) {
				const json_t *sd = a->desc, *dd = b->desc;
				if (compare_vmsd(c, ml_json_str(sd, "name"), sd, dd,
						 ml_json_int(sd, "version_id", 0),
						 ml_json_int(dd, "version_id", 0), depth + 1) < 0)
					return -1;
			} else if (a->desc || b->desc) {
				ml_autofree char *ss = size_str(a);
				ml_autofree char *ds = size_str(b);
				finding(c, "error", path, a->name, "field-type", ss, ds,
					"Field '%s' of '%s' is %s on the source and %s on the "
					"destination: the bytes on the wire differ in layout.",
					a->name, vmsd, ss, ds);
			} else if (a->size != b->size) {
				ml_autofree char *ss = ml_strdup_printf("%lld", a->size);
				ml_autofree char *ds = ml_strdup_printf("%lld", b->size);
				finding(c, "error", path, a->name, "field-size", ss, ds,
					"Field '%s' of '%s' (version %lld) is %lld bytes on the source "
					"and %lld on the destination: the destination reads a "
					"different number of bytes than were sent, and everything "
					"after it in the section is misread.",
					a->name, vmsd, version, a->size, b->size);
			}
			i++;
			j++;
			continue;
		}
		/* Padding: VMSTATE_UNUSED on one side standing for fields of the same
		 * total size on the other is the way QEMU retires a field. */
		if (is_unused(a) || is_unused(b)) {
			const struct fld *u = is_unused(a) ? a : b;
			const struct fld *own = u == a ? s : d, *o = u == a ? d : s;
			size_t own_n = u == a ? ns : nd, on = u == a ? nd : ns;
			size_t *oi = u == a ? &j : &i, ui = u == a ? i : j, k = on;
			long long bytes = 0;
			bool structs = false;
			/* the fields the padding replaces: up to where the field after
			 * it on its own side is found again on the other side */
			if (ui + 1 < own_n) {
				ssize_t r = find_field(c, vmsd, o, *oi, on, own[ui + 1].name);
				k = r >= 0 ? (size_t)r : *oi;
			}
			for (size_t q = *oi; q < k; q++) {
				bytes += o[q].size;
				structs |= o[q].desc != NULL;
			}
			if (k > *oi) {
				struct ml_buf nb = ML_BUF_INIT(0);
				for (size_t q = *oi; q < k; q++)
					ml_buf_printf(&nb, "%s%s", q > *oi ? ", " : "", o[q].name);
				ml_autofree char *names = ml_buf_steal(&nb);
				ml_autofree char *us = ml_strdup_printf("unused (%lld bytes)", u->size);
				const char *side = u == a ? "source" : "destination";
				const char *other = u == a ? "destination" : "source";
				bool array = k - *oi == 1 && bytes > 0 && u->size % bytes == 0;
				if (bytes == u->size && !structs)
					finding(c, "info", path, names, "field-unused", u == a ? us : names,
						u == a ? names : us,
						"'%s' retired: the %s has %lld bytes of padding "
						"(VMSTATE_UNUSED) where the %s has it, the same bytes on "
						"the wire; %s.", names, side, u->size, other,
						u == a ? "the source sends zeros there, which the destination "
							 "loads into it"
						       : "the destination ignores their value");
				else if (array && !structs)
					finding(c, "info", path, names, "field-unused", u == a ? us : names,
						u == a ? names : us,
						"'%s' retired: the %s has %lld bytes of padding "
						"(VMSTATE_UNUSED) where the %s has '%s', whose elements are "
						"%lld bytes; the dump gives element sizes only, so this is "
						"the same on the wire if '%s' is an array of %lld elements "
						"there (%s).", names, side, u->size, other, names, bytes, names,
						u->size / bytes,
						u == a ? "the source sends zeros, which the destination "
							 "loads into it"
						       : "the destination ignores their value");
				else
					finding(c, "warning", path, names, "field-unused",
						u == a ? us : names, u == a ? names : us,
						"The %s has %lld bytes of padding (VMSTATE_UNUSED) where the "
						"%s has '%s' (%lld bytes by the dump's sizes%s): if the sizes "
						"really differ, everything after it in '%s' is misread. "
						"Array lengths are not in the dump; check the sources.",
						side, u->size, other, names, bytes,
						structs ? ", with a structure whose size on the wire is unknown"
							: "",
						vmsd);
				*oi = k;
				if (u == a)
					i++;
				else
					j++;
				continue;
			}
		}
		/* Names differ: a field inserted on one side, one moved, or a rename. */
		ssize_t k = find_field(c, vmsd, d, j + 1, nd, a->name);
		ssize_t l = find_field(c, vmsd, s, i + 1, ns, b->name);
		if (k >= 0 && (l < 0 || (size_t)k - j <= (size_t)l - i)) {
			for (; j < (size_t)k; j++)
				unmatched(c, path, vmsd, version, &d[j], false, s, ns);
			continue;
		}
		if (l >= 0) {
			for (; i < (size_t)l; i++)
				unmatched(c, path, vmsd, version, &s[i], true, d, nd);
			continue;
		}
		if (a->size == b->size && !a->desc && !b->desc) {
			ml_autofree char *ss = ml_strdup_printf("%s (%lld bytes)", a->name, a->size);
			ml_autofree char *ds = ml_strdup_printf("%s (%lld bytes)", b->name, b->size);
			finding(c, "warning", path, a->name, "field-renamed", ss, ds,
				"Position %zu of '%s' (version %lld) is '%s' on the source and '%s' on "
				"the destination, both %lld bytes: the stream loads, and if QEMU "
				"renamed the field nothing changes; if it is another field, the "
				"destination puts the value of '%s' into '%s'. A known rename "
				"belongs in vmstate-renames.ini as %s.%s = %s.",
				a->pos, vmsd, version, a->name, b->name, a->size, a->name, b->name,
				vmsd, a->name, b->name);
		} else {
			ml_autofree char *ss = size_str(a);
			ml_autofree char *ds = size_str(b);
			finding(c, "error", path, a->name, "field-type", ss, ds,
				"Position %zu of '%s' (version %lld) is '%s' (%s) on the source and "
				"'%s' (%s) on the destination: the destination reads other bytes "
				"than were sent.", a->pos, vmsd, version, a->name, ss, b->name, ds);
		}
		i++;
		j++;
	}
	return 0;
}

static const json_t *find_subsection(const struct cmp *c, const json_t *subs, const char *name)
{
	const char *alias = rename_of(c->o->renames ? c->o->renames->subsection : NULL, name);
	size_t i;
	json_t *x;

	json_array_foreach(subs, i, x) {
		const char *n = ml_json_str(x, "name");
		if (n && (strcmp(n, name) == 0 || (alias && strcmp(n, alias) == 0)))
			return x;
	}
	return NULL;
}

/* A version check as the destination's vmstate_load_state() does it. */
static bool version_loads(struct cmp *c, const char *path, const char *name, bool subsection,
			  long long sent, const json_t *d)
{
	long long dv = ml_json_int(d, "version_id", 0), dmin = ml_json_int(d, "minimum_version_id", 0);
	ml_autofree char *ss = ml_strdup_printf("version_id %lld", sent);
	ml_autofree char *ds = ml_strdup_printf("version_id %lld, minimum_version_id %lld", dv, dmin);
	const char *kind = subsection ? "subsection" : "section";

	if (sent > dv) {
		finding(c, "error", path, NULL, "version-too-new", ss, ds,
			"The source saves %s '%s' at version %lld, above the destination's "
			"version_id %lld: the destination refuses it (\"unsupported version %lld "
			"for '%s' v%lld\")%s.", kind, name, sent, dv, sent, name, dv,
			subsection ? ", if the source sends this subsection (its needed() is true)"
				   : " and the migration fails");
		return false;
	}
	if (sent < dmin) {
		finding(c, "error", path, NULL, "version-too-old", ss, ds,
			"The source saves %s '%s' at version %lld, below the destination's "
			"minimum_version_id %lld: the destination can no longer load that version%s.",
			kind, name, sent, dmin,
			subsection ? ", if the source sends this subsection (its needed() is true)"
				   : " and the migration fails");
		return false;
	}
	return true;
}

static int compare_subsections(struct cmp *c, const char *path, const json_t *s, const json_t *d,
			       int depth)
{
	const json_t *ss = json_object_get(s, "Subsections");
	const json_t *ds = json_object_get(d, "Subsections");
	size_t i;
	json_t *x;

	if ((ss && !json_is_array(ss)) || (ds && !json_is_array(ds))) {
		ml_error("malformed vmstate dump: Subsections of '%s' is not an array", path);
		return -1;
	}
	json_array_foreach(ss, i, x) {
		const char *name;
		const json_t *y;
		if (vmsd_check(x, path) < 0)
			return -1;
		name = ml_json_str(x, "name");
		y = ds ? find_subsection(c, ds, name) : NULL;
		if (!y) {
			ml_autofree char *sv = ml_strdup_printf("version_id %lld",
								ml_json_int(x, "version_id", 0));
			finding(c, "warning", name, NULL, "subsection-src-only", sv, NULL,
				"The source has subsection '%s' of '%s' and the destination does "
				"not know it: the migration may fail if needed() is true on the "
				"source (the destination stops at the unknown subsection); when "
				"needed() is false it is not sent and nothing happens.", name,
				ml_json_str(s, "name"));
			continue;
		}
		if (vmsd_check(y, path) < 0)
			return -1;
		if (!version_loads(c, name, name, true, ml_json_int(x, "version_id", 0), y))
			continue;
		if (compare_vmsd(c, name, x, y, ml_json_int(x, "version_id", 0),
				 ml_json_int(x, "version_id", 0), depth + 1) < 0)
			return -1;
	}
	json_array_foreach(ds, i, x) {
		const char *name;
		if (vmsd_check(x, path) < 0)
			return -1;
		name = ml_json_str(x, "name");
		if (!ss || !find_subsection(c, ss, name)) {
			ml_autofree char *dv = ml_strdup_printf("version_id %lld",
								ml_json_int(x, "version_id", 0));
			finding(c, "info", name, NULL, "subsection-dst-only", NULL, dv,
				"Only the destination has subsection '%s' of '%s': the source never "
				"sends it, and the destination keeps the state it describes at its "
				"defaults (subsections are optional on load).", name,
				ml_json_str(d, "name"));
		}
	}
	return 0;
}

static int compare_vmsd(struct cmp *c, const char *path, const json_t *s, const json_t *d,
			long long s_version, long long d_version, int depth)
{
	struct fld *sf = NULL, *df = NULL;
	size_t ns = 0, nd = 0;
	int rc = -1;

	if (depth > MAX_DEPTH) {
		ml_error("malformed vmstate dump: descriptions nested deeper than %d at '%s'",
			 MAX_DEPTH, path);
		return -1;
	}
	if (collect_fields(s, s_version, &sf, &ns) < 0 || collect_fields(d, d_version, &df, &nd) < 0)
		goto out;
	if (compare_fields(c, path, ml_json_str(s, "name"), s_version, sf, ns, df, nd, depth) < 0)
		goto out;
	rc = compare_subsections(c, path, s, d, depth);
out:
	free(sf);
	free(df);
	return rc;
}

/* The destination's entry for a source type: same QOM type, a known rename,
 * or another type with the same VMState name. *how says which. */
static const json_t *find_section(const struct cmp *c, const json_t *src, const json_t *dst,
				  const char *type, const char *vmsd_name, const char **how,
				  const char **dst_type)
{
	const json_t *found = NULL;
	size_t candidates = 0;
	const json_t *e = json_object_get(dst, type);
	const char *r;
	const char *k;
	json_t *v;

	*how = "same";
	*dst_type = type;
	if (e)
		return e;
	r = rename_of(c->o->renames ? c->o->renames->section : NULL, type);
	if (r && (e = json_object_get(dst, r))) {
		*how = "renames-file";
		*dst_type = r;
		return e;
	}
	/* A QOM type renamed with its state kept: the type is gone from the
	 * destination, and exactly one type new in the destination has the same
	 * VMState name (several would be a guess). */
	if (c->o->dst_device_types && in_list(c->o->dst_device_types, type))
		return NULL;
	json_object_foreach((json_t *)dst, k, v) {
		const json_t *desc = json_object_get(v, "Description");
		if (strcmp(k, "vmschkmachine") != 0 && !json_object_get(src, k) &&
		    json_is_object(desc) && ml_json_str(desc, "name") &&
		    strcmp(ml_json_str(desc, "name"), vmsd_name) == 0) {
			found = v;
			*dst_type = k;
			candidates++;
		}
	}
	if (candidates != 1) {
		*dst_type = type;
		return NULL;
	}
	*how = "vmsd-name";
	return found;
}

static bool vmsd_is_empty(const json_t *vmsd)
{
	return json_array_size(json_object_get(vmsd, "Fields")) == 0 &&
	       json_array_size(json_object_get(vmsd, "Subsections")) == 0;
}

static int compare_section(struct cmp *c, const char *type, const json_t *se, const json_t *src,
			   const json_t *dst)
{
	const json_t *s = json_object_get(se, "Description");
	const json_t *de, *d;
	const char *how, *dtype, *sname, *dname;

	if (vmsd_check(s, type) < 0)
		return -1;
	c->device = type;
	c->guest = in_list(c->o->guest_types, type);
	sname = ml_json_str(s, "name");
	c->section = sname;
	de = find_section(c, src, dst, type, sname, &how, &dtype);
	if (!de && in_list(c->o->dst_device_types, type)) {
		ml_autofree char *sv = ml_strdup_printf("%s, version_id %lld", sname,
							ml_json_int(s, "version_id", 0));
		finding(c, "info", sname, NULL, "section-not-dumped", sv, NULL,
			"The destination's QEMU has device type '%s' but its -dump-vmstate has no "
			"description for it (the state is registered when the device is realized, "
			"or the type lives in a module the dump did not load): it cannot be "
			"compared statically.", type);
		return 0;
	}
	if (!de) {
		ml_autofree char *sv = ml_strdup_printf("%s, version_id %lld", sname,
							ml_json_int(s, "version_id", 0));
		finding(c, c->guest ? "error" : "warning", sname, NULL, "section-missing", sv, NULL,
			"The source's QEMU has device type '%s' (state '%s'); the destination's "
			"QEMU does not know it at all, so a guest with this device cannot migrate "
			"there (the destination cannot even be started with the same devices)%s.",
			type, sname,
			c->guest ? "" : "; miglab's guests do not have it, hence a warning");
		return 0;
	}
	d = json_object_get(de, "Description");
	if (vmsd_check(d, dtype) < 0)
		return -1;
	dname = ml_json_str(d, "name");
	if (strcmp(how, "vmsd-name") == 0)
		finding(c, "info", sname, NULL, "section-renamed", type, dtype,
			"Device type '%s' is called '%s' in the destination's QEMU; its state "
			"keeps the name '%s' on the wire, so the stream still finds it.", type, dtype,
			sname);
	if (strcmp(sname, dname) != 0) {
		const char *r = rename_of(c->o->renames ? c->o->renames->section : NULL, sname);
		if (!r || strcmp(r, dname) != 0) {
			finding(c, "error", sname, NULL, "section-name", sname, dname,
				"The stream names the state of '%s' '%s', the destination's QEMU "
				"expects '%s': it does not find the section (\"Unknown savevm section "
				"or instance\") and the migration fails.", type, sname, dname);
			return 0;
		}
	}
	if (vmsd_is_empty(s) && !vmsd_is_empty(d)) {
		finding(c, "warning", sname, NULL, "section-empty", "no fields, no subsections",
			"fields", "The source's description of '%s' is empty, which is how a device "
			"marked .unmigratable looks in a dump (the flag itself is not dumped): "
			"then the source refuses to migrate a guest with it and nothing is sent. "
			"If the device simply has no state there, the destination reads fields "
			"that are not sent and the migration fails.", sname);
		return 0;
	}
	if (!version_loads(c, sname, sname, false, ml_json_int(s, "version_id", 0), d))
		return 0;
	return compare_vmsd(c, sname, s, d, ml_json_int(s, "version_id", 0),
			    ml_json_int(s, "version_id", 0), 0);
}

static int severity_rank(const char *s)
{
	return !s ? 3 : strcmp(s, "error") == 0 ? 0 : strcmp(s, "warning") == 0 ? 1 : 2;
}

struct sorted {
	json_t *f;
	size_t idx;
};

static int cmp_sorted(const void *pa, const void *pb)
{
	const struct sorted *a = pa, *b = pb;
	int d = severity_rank(ml_json_str(a->f, "severity")) -
		severity_rank(ml_json_str(b->f, "severity"));

	if (d)
		return d;
	d = (int)json_is_true(json_object_get(b->f, "guest_device")) -
	    (int)json_is_true(json_object_get(a->f, "guest_device"));
	if (d)
		return d;
	d = strcmp(ml_json_str(a->f, "device"), ml_json_str(b->f, "device"));
	if (d)
		return d;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *ml_vmstate_dump_machine(const json_t *dump)
{
	return ml_json_str(json_object_get(dump, "vmschkmachine"), "Name");
}

json_t *ml_vmstate_compare(const json_t *src_dump, const json_t *dst_dump,
			   const struct ml_vmstate_options *opts)
{
	static const struct ml_vmstate_options none = { 0 };
	struct cmp c = { .o = opts ? opts : &none };
	const char **keys = NULL;
	size_t n = 0, i;
	const char *k;
	json_t *v, *out = NULL, *f;
	struct sorted *sv = NULL;

	if (!json_is_object(src_dump) || !json_is_object(dst_dump)) {
		ml_error("malformed vmstate dump: not a JSON object");
		return NULL;
	}
	c.findings = json_array();
	c.index = json_object();
	keys = calloc(json_object_size(src_dump) + 1, sizeof(*keys));
	if (!keys)
		abort();
	json_object_foreach((json_t *)src_dump, k, v)
		if (strcmp(k, "vmschkmachine") != 0)
			keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str); /* deterministic order */
	for (i = 0; i < n; i++) {
		const json_t *se = json_object_get(src_dump, keys[i]);
		if (!json_is_object(se)) {
			ml_error("malformed vmstate dump: entry '%s' is not an object", keys[i]);
			goto out;
		}
		if (compare_section(&c, keys[i], se, src_dump, dst_dump) < 0) {
			ml_error_context("comparing '%s'", keys[i]);
			goto out;
		}
	}
	sv = calloc(json_array_size(c.findings) + 1, sizeof(*sv));
	if (!sv)
		abort();
	n = 0;
	json_array_foreach(c.findings, i, f) {
		if (c.o->guest_only && !json_is_true(json_object_get(f, "guest_device")))
			continue;
		sv[n].f = f;
		sv[n].idx = i;
		n++;
	}
	qsort(sv, n, sizeof(*sv), cmp_sorted);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append(out, sv[i].f);
out:
	free(sv);
	free(keys);
	json_decref(c.findings);
	json_decref(c.index);
	return out;
}

size_t ml_vmstate_count(const json_t *findings, const char *severity)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach(findings, i, f)
		if (strcmp(ml_json_str(f, "severity") ? ml_json_str(f, "severity") : "", severity) == 0)
			n++;
	return n;
}
