/* The static vmstate check: a source's `-dump-vmstate` against a
 * destination's, in the direction of a migration (see vmstate.h and
 * docs/vmstate.md). What the stream carries decides every rule here:
 *   - a section is found by its VMState name; its version_id travels with
 *     it and the destination refuses one above its version_id or below its
 *     minimum_version_id;
 *   - fields carry no names on the wire, only bytes in order: the source
 *     sends the fields whose version_id <= the section's version, and the
 *     destination reads its own fields for that version in its own order;
 *   - so fields are compared by position, whatever their names (which may
 *     repeat): the two lists are aligned, the same way in both directions,
 *     and a field of one side only is reported from that side;
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

	/* Names become JSON member names, which must be UTF-8 (jansson
	 * refuses others); QEMU's names are ASCII, so refuse the line. */
	if (!ml_utf8_valid(section, NULL) || (key && !ml_utf8_valid(key, NULL)) ||
	    (value && !ml_utf8_valid(value, NULL))) {
		snprintf(p->error, sizeof(p->error), "not valid UTF-8");
		return 0;
	}
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
	/* whether each side's dump gives array counts ("num": QEMU 10.0's
	 * dumps have them, 7.2's do not): without them a missing count says
	 * nothing */
	bool src_counts, dst_counts;
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
	long long num;      /* element count of a fixed array (VMS_ARRAY), -1: none dumped */
	bool counts_known;  /* this side's dump gives counts: no num means no fixed array */
	size_t pos;         /* position among the fields sent at this version */
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

/* Whether a dump gives array counts anywhere: newer QEMUs write "num" for
 * every fixed array (VMS_ARRAY) field (10.0.2 does, 7.2.22 does not). */
static bool dump_has_counts(const json_t *j, int depth)
{
	const char *k;
	size_t i;
	json_t *v;

	if (depth > 4 * MAX_DEPTH)
		return false;
	if (json_is_object(j)) {
		if (json_object_get(j, "field") && json_object_get(j, "num"))
			return true;
		json_object_foreach((json_t *)j, k, v)
			if (dump_has_counts(v, depth + 1))
				return true;
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (dump_has_counts(v, depth + 1))
				return true;
	}
	return false;
}

/* The fields a side puts on (or reads from) the wire at version max_version,
 * in order. counts_known: this side's dump gives array counts. */
static int collect_fields(const json_t *vmsd, long long max_version, bool counts_known,
			  struct fld **out, size_t *n)
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
		    !json_is_integer(json_object_get(f, "size")) ||
		    (json_object_get(f, "num") && !json_is_integer(json_object_get(f, "num")))) {
			ml_error("malformed vmstate dump: field %zu of '%s' needs field, version_id "
				 "and size (and num an integer)", i, ml_json_str(vmsd, "name"));
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
		x.num = json_object_get(f, "num") ? ml_json_int(f, "num", 0) : -1;
		x.counts_known = counts_known;
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

/* Fields on one side whose name (or a known rename of it) is `name`, other
 * than position skip: where a field of that name sits there, or -1. Used
 * to explain a difference, never to pair fields (names can repeat). */
static ssize_t name_elsewhere(const struct cmp *c, const char *vmsd, const struct fld *v,
			      size_t n, const char *name, ssize_t skip)
{
	for (size_t k = 0; k < n; k++)
		if ((ssize_t)k != skip && same_field(c, vmsd, name, v[k].name))
			return (ssize_t)k;
	return -1;
}

static char *size_str(const struct fld *f)
{
	if (f->desc && f->num >= 0)
		return ml_strdup_printf("structure %s x %lld", ml_json_str(f->desc, "name"), f->num);
	if (f->desc)
		return ml_strdup_printf("structure %s", ml_json_str(f->desc, "name"));
	if (f->size == 0 && !f->cond)
		return ml_strdup_printf("custom-coded, size not in the dump, at position %zu", f->pos);
	if (f->num >= 0)
		return ml_strdup_printf("%lld bytes x %lld at position %zu", f->size, f->num, f->pos);
	return ml_strdup_printf("%lld bytes at position %zu", f->size, f->pos);
}

/* Bytes of a scalar field on the wire, as far as the dump tells. */
static long long wire_bytes(const struct fld *f)
{
	return f->num >= 0 ? f->size * f->num : f->size;
}

enum count_rel {
	COUNT_SAME,      /* same count, or neither side dumps one */
	COUNT_DIFFERENT, /* both dump a count and they differ */
	COUNT_UNSURE,    /* one is a fixed array, the other's dump gives counts but not
			  * here: one element, or a variable-length array (VMS_VARRAY) */
};

static enum count_rel count_rel(const struct fld *a, const struct fld *b)
{
	const struct fld *none;

	if (a->num >= 0 && b->num >= 0)
		return a->num == b->num ? COUNT_SAME : COUNT_DIFFERENT;
	if (a->num < 0 && b->num < 0)
		return COUNT_SAME;
	none = a->num < 0 ? a : b;
	/* a dump made before QEMU dumped counts says nothing */
	return none->counts_known ? COUNT_UNSURE : COUNT_SAME;
}

/* The same layout on the wire as far as the dump tells: both structures (C
 * sizes of structures are not on the wire) or scalars of one size, and the
 * same count. */
static bool same_shape(const struct fld *a, const struct fld *b)
{
	if (!a->desc != !b->desc)
		return false;
	if (!a->desc && a->size != b->size)
		return false;
	return count_rel(a, b) == COUNT_SAME;
}

static void field_one_side(struct cmp *c, const char *path, const char *vmsd, long long version,
			   const struct fld *f, bool on_src, const char *hint)
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
			"the section fails to load or loads wrong values%s.%s%s", f->name, vmsd,
			version,
			f->cond ? " - if the field's condition (field_exists) holds on the source; "
				  "QEMU usually ties it to a compat property of old machine types"
				: "", sub, hint);
	else
		finding(c, f->cond ? "warning" : "error", path, f->name, "field-missing", NULL, sz,
			"The destination reads field '%s' of '%s' (version %lld) that the source "
			"does not send: it takes the bytes that follow in the stream for it, and "
			"the section fails to load or loads wrong values%s.%s%s", f->name, vmsd,
			version,
			f->cond ? " - if the field's condition (field_exists) holds on the "
				  "destination; QEMU usually ties it to a compat property of old "
				  "machine types"
				: "", sub, hint);
}

/* ---- aligning two field lists ------------------------------------------------ */

/* One step of an alignment: a source field against a destination field, or
 * a field of one side only (-1 on the other). */
struct step {
	ssize_t s, d;
};

/* The cost of putting two fields at the same place: 0 the same field, 1 a
 * different name or a different layout, 2 both. Symmetric. */
static unsigned pair_cost(const struct cmp *c, const char *vmsd, const struct fld *a,
			  const struct fld *b)
{
	return (same_field(c, vmsd, a->name, b->name) ? 0u : 1u) + (same_shape(a, b) ? 0u : 1u);
}

/* Lexicographic order of two field lists (name, size, count, structure),
 * to align a pair the same way whichever side is the source. */
static int list_order(const struct fld *x, size_t nx, const struct fld *y, size_t ny)
{
	for (size_t k = 0; k < nx && k < ny; k++) {
		int r = strcmp(x[k].name, y[k].name);
		if (r)
			return r;
		if (x[k].size != y[k].size)
			return x[k].size < y[k].size ? -1 : 1;
		if (x[k].num != y[k].num)
			return x[k].num < y[k].num ? -1 : 1;
		if (!x[k].desc != !y[k].desc)
			return x[k].desc ? 1 : -1;
	}
	return nx == ny ? 0 : nx < ny ? -1 : 1;
}

#define ALIGN_CELLS_MAX ((size_t)1 << 22)

/* A least-cost alignment of x against y (each step: a pair at pair_cost,
 * or a field of one list only at cost 1), in wire order, into steps (room
 * for nx + ny); steps[].s indexes x, .d indexes y. Ties go to a pair, then
 * to a field of x only, so the result depends only on (x, y). */
static int align_lists(const struct cmp *c, const char *vmsd, const struct fld *x, size_t nx,
		       const struct fld *y, size_t ny, struct step *steps, size_t *n_steps)
{
	size_t w = ny + 1, i, j, k = 0;
	unsigned *cost;

	if ((nx + 1) > ALIGN_CELLS_MAX / w) {
		ml_error("malformed vmstate dump: '%s' has %zu and %zu fields, too many to compare",
			 vmsd, nx, ny);
		return -1;
	}
	cost = calloc((nx + 1) * w, sizeof(*cost));
	if (!cost)
		abort();
	/* cost[i * w + j]: the least cost of aligning x[i..] with y[j..] */
	for (i = nx + 1; i-- > 0;)
		for (j = ny + 1; j-- > 0;) {
			unsigned best;
			if (i == nx)
				best = (unsigned)(ny - j);
			else if (j == ny)
				best = (unsigned)(nx - i);
			else {
				unsigned p = pair_cost(c, vmsd, &x[i], &y[j]) + cost[(i + 1) * w + j + 1];
				unsigned a = 1 + cost[(i + 1) * w + j], b = 1 + cost[i * w + j + 1];
				best = p < a ? p : a;
				best = best < b ? best : b;
			}
			cost[i * w + j] = best;
		}
	i = j = 0;
	while (i < nx || j < ny) {
		unsigned here = cost[i * w + j];
		if (i < nx && j < ny &&
		    here == pair_cost(c, vmsd, &x[i], &y[j]) + cost[(i + 1) * w + j + 1])
			steps[k++] = (struct step){ (ssize_t)i++, (ssize_t)j++ };
		else if (i < nx && (j == ny || here == 1 + cost[(i + 1) * w + j]))
			steps[k++] = (struct step){ (ssize_t)i++, -1 };
		else
			steps[k++] = (struct step){ -1, (ssize_t)j++ };
	}
	free(cost);
	*n_steps = k;
	return 0;
}

/* ---- comparing aligned fields ------------------------------------------------- */

struct walk {
	struct cmp *c;
	const char *path, *vmsd;
	long long version;
	const struct fld *s, *d; /* the fields with bytes on the wire */
	size_t ns, nd;
	int depth;
};

static int compare_nested(struct walk *w, const struct fld *a, const struct fld *b)
{
	const json_t *sd = a->desc, *dd = b->desc;

	return compare_vmsd(w->c, ml_json_str(sd, "name"), sd, dd, ml_json_int(sd, "version_id", 0),
			    ml_json_int(dd, "version_id", 0), w->depth + 1);
}

/* A source and a destination field at the same place that are not the same
 * field: what the destination makes of the bytes. */
static int report_pair(struct walk *w, size_t i, size_t j)
{
	struct cmp *c = w->c;
	const struct fld *a = &w->s[i], *b = &w->d[j];
	const char *vmsd = w->vmsd, *path = w->path;
	long long version = w->version;

	if (!same_field(c, vmsd, a->name, b->name)) {
		ssize_t at_d = name_elsewhere(c, vmsd, w->d, w->nd, a->name, (ssize_t)j);
		ssize_t at_s = name_elsewhere(c, vmsd, w->s, w->ns, b->name, (ssize_t)i);
		if (at_d >= 0 || at_s >= 0) {
			ml_autofree char *ss = ml_strdup_printf("%s at position %zu", a->name, a->pos);
			ml_autofree char *ds = ml_strdup_printf("%s at position %zu", b->name, b->pos);
			finding(c, "error", path, a->name, "field-order", ss, ds,
				"Position %zu of '%s' (version %lld) is '%s' on the source and '%s' "
				"on the destination, and %s: fields carry no names on the wire, so "
				"the destination loads the bytes of one field into another.",
				a->pos, vmsd, version, a->name, b->name,
				at_d >= 0 ? "the destination has a field of the source's name at "
					    "another position"
					  : "the source has a field of the destination's name at "
					    "another position");
			return 0;
		}
		if (same_shape(a, b)) {
			ml_autofree char *ss = NULL, *ds = NULL;
			if (a->desc) {
				ss = ml_strdup_printf("%s (structure %s)", a->name,
						      ml_json_str(a->desc, "name"));
				ds = ml_strdup_printf("%s (structure %s)", b->name,
						      ml_json_str(b->desc, "name"));
			} else {
				ss = ml_strdup_printf("%s (%lld bytes)", a->name, wire_bytes(a));
				ds = ml_strdup_printf("%s (%lld bytes)", b->name, wire_bytes(b));
			}
			finding(c, "warning", path, a->name, "field-renamed", ss, ds,
				"Position %zu of '%s' (version %lld) is '%s' on the source and '%s' on "
				"the destination, of the same layout: the stream loads, and if QEMU "
				"renamed the field nothing changes; if it is another field, the "
				"destination puts the value of '%s' into '%s'. A known rename "
				"belongs in vmstate-renames.ini as %s.%s = %s.",
				a->pos, vmsd, version, a->name, b->name, a->name, b->name, vmsd,
				a->name, b->name);
			return a->desc ? compare_nested(w, a, b) : 0;
		}
		ml_autofree char *ss = size_str(a);
		ml_autofree char *ds = size_str(b);
		finding(c, "error", path, a->name, "field-type", ss, ds,
			"Position %zu of '%s' (version %lld) is '%s' (%s) on the source and "
			"'%s' (%s) on the destination: the destination reads other bytes "
			"than were sent.", a->pos, vmsd, version, a->name, ss, b->name, ds);
		return 0;
	}
	if (!a->desc != !b->desc) {
		ml_autofree char *ss = size_str(a);
		ml_autofree char *ds = size_str(b);
		finding(c, "error", path, a->name, "field-type", ss, ds,
			"Field '%s' of '%s' is %s on the source and %s on the "
			"destination: the bytes on the wire differ in layout.",
			a->name, vmsd, ss, ds);
		return 0;
	}
	if (count_rel(a, b) != COUNT_SAME) {
		bool sure = count_rel(a, b) == COUNT_DIFFERENT;
		ml_autofree char *ss = a->num >= 0 ? ml_strdup_printf("%lld elements", a->num)
						   : strdup("no fixed count");
		ml_autofree char *ds = b->num >= 0 ? ml_strdup_printf("%lld elements", b->num)
						   : strdup("no fixed count");
		if (!ss || !ds)
			abort();
		finding(c, sure ? "error" : "warning", path, a->name, "field-count", ss, ds,
			"Field '%s' of '%s' (version %lld) is an array of %s on the source and "
			"of %s on the destination%s.", a->name, vmsd, version, ss, ds,
			sure ? ": the destination reads a different number of elements than were "
			       "sent, and everything after it in the section is misread"
			     : " (the dump gives counts of fixed arrays only: the other side has "
			       "one element, or a length decided at run time); if the lengths "
			       "differ, everything after it in the section is misread");
		return a->desc ? compare_nested(w, a, b) : 0;
	}
	/* same name, both scalars, sizes differ */
	ml_autofree char *ss = ml_strdup_printf("%lld", a->size);
	ml_autofree char *ds = ml_strdup_printf("%lld", b->size);
	finding(c, "error", path, a->name, "field-size", ss, ds,
		"Field '%s' of '%s' (version %lld) is %lld bytes on the source "
		"and %lld on the destination: the destination reads a "
		"different number of bytes than were sent, and everything "
		"after it in the section is misread.",
		a->name, vmsd, version, a->size, b->size);
	return 0;
}

/* A field of one side only. */
static void report_one_side(struct walk *w, const struct fld *f, bool on_src)
{
	const struct fld *other = on_src ? w->d : w->s;
	size_t n_other = on_src ? w->nd : w->ns;
	ssize_t at = name_elsewhere(w->c, w->vmsd, other, n_other, f->name, -1);
	ml_autofree char *hint = at < 0 ? strdup("")
				 : ml_strdup_printf(" The %s has a field '%s' at position %zu: if it "
						    "is this one, it moved, and is misread there too.",
						    on_src ? "destination" : "source", other[at].name,
						    other[at].pos);

	if (!hint)
		abort();
	field_one_side(w->c, w->path, w->vmsd, w->version, f, on_src, hint);
}

/* VMSTATE_UNUSED padding (u, alone on its side between two matching
 * fields) where the other side has fields o[0..n): how QEMU retires a field. */
static void report_padding(struct walk *w, const struct fld *u, bool u_on_src,
			   const struct fld *const *o, size_t n)
{
	struct ml_buf nb = ML_BUF_INIT(0);
	long long bytes = 0;
	bool structs = false, guess_array;
	const char *side = u_on_src ? "source" : "destination";
	const char *other = u_on_src ? "destination" : "source";
	const char *load = u_on_src ? "the source sends zeros there, which the destination "
				      "loads into it"
				    : "the destination ignores their value";

	for (size_t q = 0; q < n; q++) {
		bytes += wire_bytes(o[q]);
		structs |= o[q]->desc != NULL;
		ml_buf_printf(&nb, "%s%s", q ? ", " : "", o[q]->name);
	}
	ml_autofree char *names = ml_buf_steal(&nb);
	ml_autofree char *us = ml_strdup_printf("unused (%lld bytes)", u->size);
	const char *src = u_on_src ? us : names, *dst = u_on_src ? names : us;
	/* without counts in the dump, one field's size is its element's */
	guess_array = n == 1 && !structs && o[0]->num < 0 && !o[0]->counts_known && bytes > 0 &&
		      u->size % bytes == 0;

	if (bytes == u->size && !structs)
		finding(w->c, "info", w->path, names, "field-unused", src, dst,
			"'%s' retired: the %s has %lld bytes of padding (VMSTATE_UNUSED) where "
			"the %s has it, the same bytes on the wire; %s.", names, side, u->size,
			other, load);
	else if (guess_array)
		finding(w->c, "info", w->path, names, "field-unused", src, dst,
			"'%s' retired: the %s has %lld bytes of padding (VMSTATE_UNUSED) where "
			"the %s has '%s', whose elements are %lld bytes; this dump gives element "
			"sizes only, so this is the same on the wire if '%s' is an array of %lld "
			"elements there (%s).", names, side, u->size, other, names, bytes, names,
			u->size / bytes, load);
	else
		finding(w->c, "warning", w->path, names, "field-unused", src, dst,
			"The %s has %lld bytes of padding (VMSTATE_UNUSED) where the %s has '%s' "
			"(%lld bytes by the dump's sizes%s): if the sizes really differ, "
			"everything after it in '%s' is misread.%s", side, u->size, other, names,
			bytes,
			structs ? ", with a structure whose size on the wire is unknown" : "",
			w->vmsd,
			o[0]->counts_known ? "" : " Array lengths are not in this dump; check the "
						  "sources.");
}

/* The steps between two matching fields: padding against retired fields,
 * else each step on its own. */
static int report_region(struct walk *w, const struct step *st, size_t n)
{
	const struct fld **src = calloc(n + 1, sizeof(*src)), **dst = calloc(n + 1, sizeof(*dst));
	size_t n_src = 0, n_dst = 0, k;
	int rc = 0;

	if (!src || !dst)
		abort();
	for (k = 0; k < n; k++) {
		if (st[k].s >= 0)
			src[n_src++] = &w->s[st[k].s];
		if (st[k].d >= 0)
			dst[n_dst++] = &w->d[st[k].d];
	}
	if (n_src == 1 && is_unused(src[0]) && n_dst > 0) {
		bool other_unused = false;
		for (k = 0; k < n_dst; k++)
			other_unused |= is_unused(dst[k]);
		if (!other_unused) {
			report_padding(w, src[0], true, dst, n_dst);
			goto out;
		}
	}
	if (n_dst == 1 && is_unused(dst[0]) && n_src > 0) {
		bool other_unused = false;
		for (k = 0; k < n_src; k++)
			other_unused |= is_unused(src[k]);
		if (!other_unused) {
			report_padding(w, dst[0], false, src, n_src);
			goto out;
		}
	}
	for (k = 0; k < n && rc == 0; k++) {
		if (st[k].s >= 0 && st[k].d >= 0)
			rc = report_pair(w, (size_t)st[k].s, (size_t)st[k].d);
		else if (st[k].s >= 0)
			report_one_side(w, &w->s[st[k].s], true);
		else
			report_one_side(w, &w->d[st[k].d], false);
	}
out:
	free(src);
	free(dst);
	return rc;
}

/* Load-time checks (VMSTATE_VALIDATE) put no bytes on the wire: the k-th
 * check of a name on one side stands against the k-th of that name on the
 * other; one without a counterpart is reported (info). */
static void compare_checks(struct cmp *c, const char *path, const char *vmsd, long long version,
			   const struct fld *x, size_t nx, const struct fld *y, size_t ny,
			   bool x_is_src)
{
	for (size_t i = 0; i < nx; i++) {
		size_t rank = 0, there = 0;
		if (!is_check(&x[i]))
			continue;
		for (size_t k = 0; k < i; k++)
			rank += is_check(&x[k]) && same_field(c, vmsd, x[i].name, x[k].name);
		for (size_t k = 0; k < ny; k++)
			there += is_check(&y[k]) && same_field(c, vmsd, x[i].name, y[k].name);
		if (there <= rank)
			field_one_side(c, path, vmsd, version, &x[i], x_is_src, "");
	}
}

/* Compare two field lists by position: fields carry no names on the wire,
 * only bytes in order. The lists are aligned at least cost (the same field
 * at the same place costs nothing; a different name or a different layout
 * costs one each; a field of one side only costs one), the same alignment
 * whichever side is the source; names only weigh the alignment and explain
 * findings, so fields whose names repeat are compared like any others. */
static int compare_fields(struct cmp *c, const char *path, const char *vmsd, long long version,
			  const struct fld *s, size_t ns, const struct fld *d, size_t nd, int depth)
{
	struct fld *ws = calloc(ns + 1, sizeof(*ws)), *wd = calloc(nd + 1, sizeof(*wd));
	struct step *st = calloc(ns + nd + 1, sizeof(*st));
	struct walk w = { .c = c, .path = path, .vmsd = vmsd, .version = version, .depth = depth };
	size_t n = 0, k, e;
	int rc = -1;

	if (!ws || !wd || !st)
		abort();
	compare_checks(c, path, vmsd, version, s, ns, d, nd, true);
	compare_checks(c, path, vmsd, version, d, nd, s, ns, false);
	for (k = 0; k < ns; k++)
		if (!is_check(&s[k]))
			ws[w.ns++] = s[k];
	for (k = 0; k < nd; k++)
		if (!is_check(&d[k]))
			wd[w.nd++] = d[k];
	w.s = ws;
	w.d = wd;
	if (list_order(ws, w.ns, wd, w.nd) <= 0) {
		if (align_lists(c, vmsd, ws, w.ns, wd, w.nd, st, &n) < 0)
			goto out;
	} else {
		/* align as if the destination were the source, then swap back */
		if (align_lists(c, vmsd, wd, w.nd, ws, w.ns, st, &n) < 0)
			goto out;
		for (k = 0; k < n; k++)
			st[k] = (struct step){ st[k].d, st[k].s };
	}
	rc = 0;
	for (k = 0; k < n && rc == 0; k = e) {
		const struct step *x = &st[k];
		if (x->s >= 0 && x->d >= 0 && pair_cost(c, vmsd, &ws[x->s], &wd[x->d]) == 0) {
			if (ws[x->s].desc)
				rc = compare_nested(&w, &ws[x->s], &wd[x->d]);
			e = k + 1;
			continue;
		}
		for (e = k; e < n; e++)
			if (st[e].s >= 0 && st[e].d >= 0 &&
			    pair_cost(c, vmsd, &ws[st[e].s], &wd[st[e].d]) == 0)
				break;
		rc = report_region(&w, &st[k], e - k);
	}
out:
	free(ws);
	free(wd);
	free(st);
	return rc;
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
	if (collect_fields(s, s_version, c->src_counts, &sf, &ns) < 0 ||
	    collect_fields(d, d_version, c->dst_counts, &df, &nd) < 0)
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
	c.src_counts = dump_has_counts(src_dump, 0);
	c.dst_counts = dump_has_counts(dst_dump, 0);
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
