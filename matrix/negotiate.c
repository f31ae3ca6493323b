/* Machine-type negotiation between two builds (see negotiate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "negotiate.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-common.h"

bool ml_machine_parse(const char *name, char *family, size_t family_size,
		      struct ml_machine_version *version)
{
	struct ml_machine_version v = { .n = 0 };
	const char *fam, *dash, *s;

	if (!name || strncmp(name, "pc-", 3) != 0)
		return false;
	fam = name + 3;
	dash = strchr(fam, '-');
	if (!dash || dash == fam || (size_t)(dash - fam) >= family_size)
		return false;
	for (const char *c = fam; c < dash; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
			return false;
	s = dash + 1;
	for (;;) {
		unsigned long part = 0;
		const char *start = s;
		while (*s >= '0' && *s <= '9') {
			part = part * 10 + (unsigned long)(*s - '0');
			if (part > 100000)
				return false;
			s++;
		}
		if (s == start || v.n == ML_MACHINE_VERSION_PARTS)
			return false;
		v.part[v.n++] = (unsigned)part;
		if (*s == '\0')
			break;
		if (*s != '.')
			return false;
		s++;
	}
	if (v.n < 2)
		return false;
	memcpy(family, fam, (size_t)(dash - fam));
	family[dash - fam] = '\0';
	*version = v;
	return true;
}

int ml_machine_version_cmp(const struct ml_machine_version *a,
			   const struct ml_machine_version *b)
{
	for (unsigned i = 0; i < a->n && i < b->n; i++)
		if (a->part[i] != b->part[i])
			return a->part[i] < b->part[i] ? -1 : 1;
	return a->n == b->n ? 0 : (a->n < b->n ? -1 : 1);
}

static const char *machine_name(const json_t *m)
{
	const json_t *n = json_object_get(m, "name");
	return json_is_string(n) ? json_string_value(n) : NULL;
}

static const json_t *find_machine(const json_t *machines, const char *name)
{
	size_t i;
	const json_t *m;

	json_array_foreach(machines, i, m) {
		const char *n = machine_name(m);
		if (n && strcmp(n, name) == 0)
			return m;
	}
	return NULL;
}

const char *ml_machines_resolve(const json_t *machines, const char *name)
{
	const json_t *m = find_machine(machines, name);
	size_t i, j;
	const json_t *al;

	if (m)
		return machine_name(m);
	json_array_foreach(machines, i, m) {
		json_array_foreach(json_object_get(m, "aliases"), j, al)
			if (json_is_string(al) && strcmp(json_string_value(al), name) == 0)
				return machine_name(m);
	}
	return NULL;
}

bool ml_machines_deprecated(const json_t *machines, const char *name)
{
	const json_t *m = find_machine(machines, name);
	return m && json_is_true(json_object_get(m, "deprecated"));
}

/* A machine type of the family both builds have. */
struct common {
	const char *name; /* borrowed from src's machines */
	struct ml_machine_version version;
	bool deprecated;
};

static int common_newest_first(const void *a, const void *b)
{
	const struct common *x = a, *y = b;
	int c = ml_machine_version_cmp(&y->version, &x->version);
	return c ? c : strcmp(x->name, y->name);
}

static void add_item(struct ml_negotiation *out, const char *machine, const char *rule,
		     bool deprecated, char *skip_reason)
{
	struct ml_negotiated *items = reallocarray(out->items, out->n + 1, sizeof(*items));
	char *copy = strdup(machine);

	if (!items || !copy)
		abort();
	out->items = items;
	items[out->n++] = (struct ml_negotiated){
		.machine = copy, .rule = rule, .deprecated = deprecated, .skip_reason = skip_reason,
	};
}

static void negotiate_select(const struct ml_matrix_family *f,
			     const struct ml_negotiate_build *src,
			     const struct ml_negotiate_build *dst, struct ml_negotiation *out)
{
	ml_autofree struct common *common = NULL;
	size_t n = 0, i;
	const json_t *m;
	static const unsigned rules[] = { ML_SELECT_NEWEST_COMMON, ML_SELECT_OLDEST_COMMON,
					  ML_SELECT_ALL_COMMON };

	json_array_foreach(src->machines, i, m) {
		const char *name = machine_name(m);
		char family[32];
		struct ml_machine_version v;

		if (!ml_machine_parse(name, family, sizeof(family), &v) ||
		    strcmp(family, f->family) != 0 || !find_machine(dst->machines, name))
			continue;
		common = reallocarray(common, n + 1, sizeof(*common));
		if (!common)
			abort();
		common[n++] = (struct common){
			.name = name, .version = v,
			.deprecated = ml_machines_deprecated(src->machines, name) ||
				      ml_machines_deprecated(dst->machines, name),
		};
	}
	if (n == 0) {
		unsigned first = f->select & -f->select; /* lowest bit: the first rule */
		char *reason = src == dst || strcmp(src->name, dst->name) == 0
			? ml_strdup_printf("%s (%s) has no %s machine type", src->name,
					   src->provider, f->family)
			: ml_strdup_printf("no common %s machine type between %s (%s) and %s (%s)",
					   f->family, src->name, src->provider, dst->name,
					   dst->provider);
		add_item(out, f->family, ml_select_rule_name(first), false, reason);
		return;
	}
	qsort(common, n, sizeof(*common), common_newest_first);
	for (i = 0; i < n; i++) {
		for (size_t r = 0; r < ML_ARRAY_SIZE(rules); r++) {
			bool picks = (f->select & rules[r]) &&
				     (rules[r] == ML_SELECT_ALL_COMMON ||
				      (rules[r] == ML_SELECT_NEWEST_COMMON && i == 0) ||
				      (rules[r] == ML_SELECT_OLDEST_COMMON && i == n - 1));
			if (picks) {
				add_item(out, common[i].name, ml_select_rule_name(rules[r]),
					 common[i].deprecated, NULL);
				break;
			}
		}
	}
}

/* Why a list entry cannot run from src to dst, or NULL when it can. concrete
 * is what the entry means on src (NULL: src does not have it). */
static char *list_skip_reason(const char *asked, const char *concrete,
			      const struct ml_negotiate_build *src,
			      const struct ml_negotiate_build *dst, bool control)
{
	if (!concrete && !control && !ml_machines_resolve(dst->machines, asked))
		return ml_strdup_printf("machine type %s does not exist in %s (%s) nor in %s (%s)",
					asked, src->name, src->provider, dst->name, dst->provider);
	if (!concrete)
		return ml_strdup_printf("machine type %s does not exist in %s (%s)", asked,
					src->name, src->provider);
	if (find_machine(dst->machines, concrete))
		return NULL;
	if (strcmp(asked, concrete) != 0)
		return ml_strdup_printf("machine type %s (what %s means in %s) does not exist "
					"in %s (%s)", concrete, asked, src->name, dst->name,
					dst->provider);
	return ml_strdup_printf("machine type %s does not exist in %s (%s)", concrete,
				dst->name, dst->provider);
}

static void negotiate_list(const struct ml_matrix_family *f,
			   const struct ml_negotiate_build *src,
			   const struct ml_negotiate_build *dst, struct ml_negotiation *out)
{
	bool control = src == dst || strcmp(src->name, dst->name) == 0;

	for (size_t i = 0; i < f->n_list; i++) {
		const char *asked = f->list[i];
		const char *concrete = ml_machines_resolve(src->machines, asked);
		char *reason = list_skip_reason(asked, concrete, src, dst, control);
		bool seen = false;

		if (reason) {
			add_item(out, asked, "list", false, reason);
			continue;
		}
		/* Two entries meaning one machine type (q35, pc-q35-7.2 on 7.2). */
		for (size_t j = 0; j < out->n; j++)
			seen |= !out->items[j].skip_reason &&
				strcmp(out->items[j].machine, concrete) == 0;
		if (!seen)
			add_item(out, concrete, "list",
				 ml_machines_deprecated(src->machines, concrete) ||
				 ml_machines_deprecated(dst->machines, concrete), NULL);
	}
}

int ml_negotiate_family(const struct ml_matrix_family *f, const struct ml_negotiate_build *src,
			const struct ml_negotiate_build *dst, struct ml_negotiation *out)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_array(src->machines) || !json_is_array(dst->machines)) {
		const struct ml_negotiate_build *b = json_is_array(src->machines) ? dst : src;
		ml_error("build %s (%s) has no list of machine types", b->name, b->provider);
		return -1;
	}
	if (f->n_list)
		negotiate_list(f, src, dst, out);
	else
		negotiate_select(f, src, dst, out);
	return 0;
}

void ml_negotiation_clear(struct ml_negotiation *n)
{
	for (size_t i = 0; i < n->n; i++) {
		free(n->items[i].machine);
		free(n->items[i].skip_reason);
	}
	free(n->items);
	n->items = NULL;
	n->n = 0;
}
