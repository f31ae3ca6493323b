/* Expanding a matrix into planned cells, and sharding the plan (see plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "negotiate.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-common.h"

static char *xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		abort();
	return d;
}

static struct ml_plan_cell *append_cell(struct ml_plan *p)
{
	struct ml_plan_cell *cells = reallocarray(p->cells, p->n + 1, sizeof(*cells));
	if (!cells)
		abort();
	p->cells = cells;
	memset(&cells[p->n], 0, sizeof(cells[p->n]));
	return &cells[p->n++];
}

/* Whether the pair (src, dst) is tested at all. */
static bool pair_wanted(const struct ml_matrix *m, size_t src, size_t dst)
{
	bool in_a_pair = false;

	if (m->pairs == ML_PAIRS_ALL)
		return src != dst || m->control;
	for (size_t i = 0; i < m->n_pairs; i++) {
		const struct ml_matrix_pair *pr = &m->pairs_list[i];
		if (pr->src == src && pr->dst == dst)
			return true;
		in_a_pair |= pr->src == src || pr->dst == src;
	}
	return src == dst && m->control && in_a_pair;
}

/* The cells of one (kernel, src, dst): every family's negotiated machine types. */
static int plan_pair(const struct ml_matrix *m, json_t *const *machines, size_t k, size_t s,
		     size_t d, struct ml_plan *out)
{
	struct ml_negotiate_build src = { m->builds[s].name, m->builds[s].provider, machines[s] };
	struct ml_negotiate_build dst = { m->builds[d].name, m->builds[d].provider, machines[d] };

	for (size_t f = 0; f < m->n_families; f++) {
		struct ml_negotiation neg;

		if (ml_negotiate_family(&m->families[f], &src, s == d ? &src : &dst, &neg) < 0)
			return -1;
		for (size_t i = 0; i < neg.n; i++) {
			struct ml_plan_cell *c = append_cell(out);
			c->src = s;
			c->dst = d;
			c->kernel = k;
			c->family = xstrdup(m->families[f].family);
			c->machine = ml_steal_pointer(&neg.items[i].machine);
			c->rule = neg.items[i].rule;
			c->control = s == d;
			c->deprecated = neg.items[i].deprecated;
			c->skip_reason = ml_steal_pointer(&neg.items[i].skip_reason);
		}
		ml_negotiation_clear(&neg);
	}
	return 0;
}

int ml_plan_expand(const struct ml_matrix *m, json_t *const *machines_per_build,
		   struct ml_plan *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t b = 0; b < m->n_builds; b++) {
		if (!machines_per_build || !json_is_array(machines_per_build[b])) {
			ml_error("build %s (%s) has no list of machine types", m->builds[b].name,
				 m->builds[b].provider);
			return ml_error_context("planning matrix %s", m->name);
		}
	}
	for (size_t k = 0; k < m->n_kernels; k++) {
		for (size_t s = 0; s < m->n_builds; s++) {
			for (size_t d = 0; d < m->n_builds; d++) {
				if (!pair_wanted(m, s, d))
					continue;
				if (plan_pair(m, machines_per_build, k, s, d, out) < 0) {
					ml_plan_clear(out);
					return ml_error_context("planning matrix %s", m->name);
				}
			}
		}
	}
	return 0;
}

void ml_plan_clear(struct ml_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->cells[i].family);
		free(p->cells[i].machine);
		free(p->cells[i].skip_reason);
	}
	free(p->cells);
	p->cells = NULL;
	p->n = 0;
}

int ml_plan_shard(const struct ml_plan *in, unsigned index, unsigned total, struct ml_plan *out)
{
	memset(out, 0, sizeof(*out));
	if (total == 0 || total > ML_SHARD_MAX || index < 1 || index > total) {
		ml_error("bad shard %u/%u (expected I/N with 1 <= I <= N <= %d)", index, total,
			 ML_SHARD_MAX);
		return -1;
	}
	for (size_t k = index - 1; k < in->n; k += total) {
		struct ml_plan_cell *c = append_cell(out);
		*c = in->cells[k];
		c->family = xstrdup(in->cells[k].family);
		c->machine = xstrdup(in->cells[k].machine);
		c->skip_reason = xstrdup(in->cells[k].skip_reason);
	}
	return 0;
}

/* A whole number of at most 5 digits, nothing else. */
static bool parse_small(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

int ml_shard_parse(const char *s, unsigned *index, unsigned *total)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	unsigned i, n;

	if (!s || !*s) {
		ml_error("empty shard (expected I/N, e.g. 2/4)");
		return -1;
	}
	if (!slash || !parse_small(s, (size_t)(slash - s), &i) ||
	    !parse_small(slash + 1, strlen(slash + 1), &n)) {
		ml_error("bad shard '%s' (expected I/N with whole numbers, e.g. 2/4)", s);
		return -1;
	}
	if (n == 0 || n > ML_SHARD_MAX) {
		ml_error("bad shard '%s': N must be from 1 to %d", s, ML_SHARD_MAX);
		return -1;
	}
	if (i == 0 || i > n) {
		ml_error("bad shard '%s': I must be from 1 to %u", s, n);
		return -1;
	}
	*index = i;
	*total = n;
	return 0;
}

size_t ml_plan_count_skips(const struct ml_plan *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->cells[i].skip_reason != NULL;
	return n;
}

json_t *ml_plan_to_json(const struct ml_matrix *m, const struct ml_plan *p)
{
	json_t *cells = json_array();

	if (!cells)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const struct ml_plan_cell *c = &p->cells[i];
		json_t *o = json_object();

		if (!o)
			abort();
		ml_json_set_str(o, "src", m->builds[c->src].name);
		ml_json_set_str(o, "dst", m->builds[c->dst].name);
		ml_json_set_str(o, "kernel", m->kernels[c->kernel].name);
		ml_json_set_str(o, "family", c->family);
		ml_json_set_str(o, "machine", c->machine);
		ml_json_set_str(o, "rule", c->rule);
		ml_json_set(o, "control", json_boolean(c->control));
		ml_json_set(o, "deprecated", json_boolean(c->deprecated));
		if (c->skip_reason)
			ml_json_set_str(o, "skip_reason", c->skip_reason);
		json_array_append_new(cells, o);
	}
	return cells;
}

void ml_plan_run_order(const struct ml_plan *p, size_t *order)
{
	size_t k = 0;

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < p->n; i++)
			if (p->cells[i].control == (pass == 0))
				order[k++] = i;
}
