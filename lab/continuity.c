/* Continuity readings and their comparison (see continuity.h). */
#include <stdio.h>
#include <sys/random.h>
#include <string.h>
#include <time.h>

#include "continuity.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "probe-client.h"
#include "ml-common.h"

/* How long the host looks for the console line after the probe's reply:
 * the UART has taken the bytes, QEMU writes them out at once, but its
 * 16550 FIFO is drained by a timer. */
#define CONSOLE_WAIT_MS 1000
#define CONSOLE_TAIL_BYTES (64 << 10)

/* Chosen from control cells on the lab host (docs/probe-protocol.md,
 * "continuity"): TCG, debian:trixie to itself and 7.2 to itself. */
const struct ml_continuity_tolerance ml_continuity_default_tolerance = {
	.ahead_ms = 500,
	.behind_ms = 1500,
	.rtc_ms = 1000,
};

static long long host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Does the console log of vm hold the line "miglab-probe: continuity N"? */
static bool console_has(struct ml_vm *vm, const char *line)
{
	ml_autofree char *tail = vm->ops->log_tail(vm, ML_VM_LOG_CONSOLE, CONSOLE_TAIL_BYTES);
	size_t n = strlen(line);

	for (const char *p = tail; p && (p = strstr(p, line)); p += n)
		if (p[n] == '\r' || p[n] == '\n')
			return true;
	return false;
}

int ml_continuity_read(struct ml_vm *vm, unsigned long long nonce, int timeout_ms,
		       json_t **reading)
{
	long long sent = host_ns(), received;
	json_t *ret = NULL, *console;
	char line[96];

	*reading = NULL;
	if (ml_probe_call(vm->probe, "continuity", json_pack("{s:I}", "nonce", (json_int_t)nonce),
			  timeout_ms, &ret) < 0)
		return -1;
	received = host_ns();
	ml_json_set(ret, "host", json_pack("{s:I, s:I}", "sent_ns", (json_int_t)sent,
					   "received_ns", (json_int_t)received));
	console = json_object_get(json_object_get(ret, "devices"), "console");
	if (console && ml_json_bool(console, "ok", false)) {
		long long t0 = ml_now_ms();
		bool seen;

		snprintf(line, sizeof(line), "miglab-probe: continuity %llu", nonce);
		while (!(seen = console_has(vm, line)) && ml_now_ms() - t0 < CONSOLE_WAIT_MS)
			usleep(20 * 1000);
		ml_json_set(console, "host_seen", json_boolean(seen));
		ml_json_set_int(console, "host_wait_ms", ml_now_ms() - t0);
		if (!seen) {
			ml_json_set(console, "ok", json_false());
			ml_json_set_str(console, "error",
					"the guest wrote the line but it never reached the console log");
		}
	}
	*reading = ret;
	return 0;
}

/* ---- comparison --------------------------------------------------------- */

static double num(const json_t *o, const char *key, bool *ok)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v)) {
		*ok = false;
		return 0;
	}
	return json_number_value(v);
}

struct window {
	double min_ms, max_ms; /* the host's elapsed time between the readings */
	double downtime_ms;
};

static void add_problem(json_t *problems, const char *kind, const char *what, const char *text)
{
	json_array_append_new(problems, json_pack("{s:s, s:s, s:s}", "kind", kind, "what", what,
						  "text", text));
}

/* One clock: its advance delta_ms against the window, widened by slack. */
static void judge_clock(json_t *clocks, json_t *problems, const char *name, double delta_ms,
			const struct window *w, double slack_ms,
			const struct ml_continuity_tolerance *tol)
{
	double lo = w->min_ms - w->downtime_ms - (double)tol->behind_ms - slack_ms;
	double hi = w->max_ms + (double)tol->ahead_ms + slack_ms;
	double mid = (w->min_ms + w->max_ms) / 2;
	char text[320];

	/* lag_ms: how far the clock fell behind the host; beyond_downtime_ms:
	 * the part of it the downtime does not explain (the figure the
	 * tolerances were chosen from). */
	ml_json_set(clocks, name,
		    json_pack("{s:I, s:I, s:I, s:I, s:I}", "delta_ms", (json_int_t)delta_ms, "min_ms",
			      (json_int_t)lo, "max_ms", (json_int_t)hi, "lag_ms",
			      (json_int_t)(mid - delta_ms), "beyond_downtime_ms",
			      (json_int_t)(mid - delta_ms - w->downtime_ms)));
	if (delta_ms >= 0 && delta_ms >= lo && delta_ms <= hi)
		return;
	snprintf(text, sizeof(text),
		 "the guest's %s clock %s %.0f ms while the host's advanced %.0f..%.0f ms "
		 "(downtime %.0f ms; accepted %.0f..%.0f ms)",
		 name, delta_ms < 0 ? "went back" : "advanced", delta_ms < 0 ? -delta_ms : delta_ms,
		 w->min_ms, w->max_ms, w->downtime_ms, lo, hi);
	add_problem(problems, "clock-jump", name, text);
}

static void compare_clocks(const json_t *cb, const json_t *ca, const struct window *w,
			   const struct ml_continuity_tolerance *tol, json_t *clocks,
			   json_t *problems)
{
	static const struct {
		const char *name, *key;
	} ns_clocks[] = {
		{ "monotonic", "monotonic_ns" },
		{ "realtime", "realtime_ns" },
		{ "boottime", "boottime_ns" },
	};
	const json_t *hb = json_object_get(cb, "hpet"), *ha = json_object_get(ca, "hpet");
	const json_t *rb = json_object_get(cb, "rtc"), *ra = json_object_get(ca, "rtc");
	bool ok = true;
	double hz;

	for (size_t i = 0; i < ML_ARRAY_SIZE(ns_clocks); i++) {
		double d;
		ok = true;
		d = (num(ca, ns_clocks[i].key, &ok) - num(cb, ns_clocks[i].key, &ok)) / 1e6;
		if (ok)
			judge_clock(clocks, problems, ns_clocks[i].name, d, w, 0, tol);
	}
	ok = true;
	hz = num(cb, "tsc_hz", &ok);
	if (ok && hz > 0) {
		double d = (num(ca, "tsc", &ok) - num(cb, "tsc", &ok)) * 1000.0 / hz;
		if (ok)
			judge_clock(clocks, problems, "tsc", d, w, 0, tol);
	}
	/* The HPET counts only while enabled; a disabled one is not a clock. */
	ok = true;
	if (ml_json_bool(hb, "enabled", false) && ml_json_bool(ha, "enabled", false)) {
		double period_fs = num(hb, "period_fs", &ok);
		double d = (num(ha, "counter", &ok) - num(hb, "counter", &ok)) * period_fs / 1e12;
		if (ok && period_fs > 0)
			judge_clock(clocks, problems, "hpet", d, w, 0, tol);
	}
	ok = true;
	{
		double d = (num(ra, "epoch_s", &ok) - num(rb, "epoch_s", &ok)) * 1000.0;
		if (ok)
			judge_clock(clocks, problems, "rtc", d, w, (double)tol->rtc_ms, tol);
	}
}

static void compare_devices(const json_t *db, const json_t *da, json_t *problems,
			    json_t *not_before)
{
	const char *name;
	json_t *b;

	json_object_foreach((json_t *)db, name, b) {
		json_t *a = json_object_get(da, name);
		const char *err = ml_json_str(a, "error");
		const char *virtio = ml_json_str(b, "virtio");
		char text[512];

		if (!ml_json_bool(b, "ok", false)) {
			json_array_append_new(not_before,
					      json_pack("{s:s, s:s?}", "device", name, "error",
							ml_json_str(b, "error")));
			continue;
		}
		if (ml_json_bool(a, "ok", false))
			continue;
		snprintf(text, sizeof(text), "%s%s%s%s: %s", name, virtio ? " (" : "",
			 virtio ? virtio : "", virtio ? ")" : "",
			 !a ? "no result after the migration" : err ? err : "not ok");
		add_problem(problems, "device-dead", name, text);
	}
}

json_t *ml_continuity_compare(const json_t *before, const json_t *after, long long downtime_ms,
			      const struct ml_continuity_tolerance *tol)
{
	json_t *out = json_pack("{s:o, s:o, s:o}", "clocks", json_object(), "problems", json_array(),
				"not_working_before", json_array());
	const json_t *hb = json_object_get(before, "host"), *ha = json_object_get(after, "host");
	struct window w = { .downtime_ms = downtime_ms > 0 ? (double)downtime_ms : 0 };
	bool ok = true;
	/* Each guest reading lies between its request and its reply less the
	 * time the probe spent after reading the clocks. */
	double s1 = num(hb, "sent_ns", &ok) / 1e6, r1 = num(hb, "received_ns", &ok) / 1e6;
	double s2 = num(ha, "sent_ns", &ok) / 1e6, r2 = num(ha, "received_ns", &ok) / 1e6;
	double age1 = num(before, "clocks_age_us", &ok) / 1e3;
	double age2 = num(after, "clocks_age_us", &ok) / 1e3;
	double g1_hi = r1 - age1 > s1 ? r1 - age1 : s1, g2_hi = r2 - age2 > s2 ? r2 - age2 : s2;

	if (!ok) {
		add_problem(json_object_get(out, "problems"), "clock-jump", "host",
			    "a reading lacks the host's times or the probe's clock age");
		return out;
	}
	w.min_ms = s2 - g1_hi;
	w.max_ms = g2_hi - s1;
	ml_json_set(out, "host_elapsed_ms", json_pack("[I, I]", (json_int_t)w.min_ms,
						      (json_int_t)w.max_ms));
	compare_clocks(json_object_get(before, "clocks"), json_object_get(after, "clocks"), &w, tol,
		       json_object_get(out, "clocks"), json_object_get(out, "problems"));
	compare_devices(json_object_get(before, "devices"), json_object_get(after, "devices"),
			json_object_get(out, "problems"), json_object_get(out, "not_working_before"));
	return out;
}

/* ---- the cell's hooks ---------------------------------------------------- */

static json_t *continuity_fig(json_t *fig)
{
	json_t *c = json_object_get(fig, "continuity");

	if (!c) {
		c = json_object();
		ml_json_set(fig, "continuity", c);
	}
	return c;
}

static unsigned long long fresh_nonce(void)
{
	unsigned long long v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (unsigned long long)host_ns() * 0x9e3779b97f4a7c15ULL;
	return v & ((1ULL << 53) - 1);
}

int ml_continuity_before(struct ml_vm *vm, int timeout_ms, json_t *fig, json_t **before)
{
	json_t *cf = continuity_fig(fig);
	long long t0 = ml_now_ms();

	if (ml_continuity_read(vm, fresh_nonce(), timeout_ms, before) < 0)
		return -1;
	ml_json_set(cf, "before", json_incref(*before));
	ml_json_set_int(cf, "before_ms", ml_now_ms() - t0);
	return 0;
}

int ml_continuity_after(struct ml_vm *vm, const json_t *before, long long downtime_ms,
			int timeout_ms, json_t *fig, json_t *findings, char **reason,
			char **evidence)
{
	json_t *cf = continuity_fig(fig);
	json_t *after = NULL, *cmp, *problems, *p, *first = NULL, *nb;
	long long t0 = ml_now_ms();
	struct ml_buf ev = ML_BUF_INIT(0);
	size_t i;

	*reason = *evidence = NULL;
	if (ml_continuity_read(vm, fresh_nonce(), timeout_ms, &after) < 0)
		return -1;
	ml_json_set_int(cf, "after_ms", ml_now_ms() - t0);
	cmp = ml_continuity_compare(before, after, downtime_ms, &ml_continuity_default_tolerance);
	ml_json_set(cf, "after", after);
	ml_json_set(cf, "compare", cmp);
	json_array_foreach(json_object_get(cmp, "not_working_before"), i, nb)
		json_array_append_new(findings,
				      json_pack("{s:s, s:s, s:s, s:s?}", "kind", "continuity",
						"severity", "warn", "device",
						ml_json_str(nb, "device"), "error",
						ml_json_str(nb, "error")));
	problems = json_object_get(cmp, "problems");
	if (!json_array_size(problems))
		return 0;
	json_array_foreach(problems, i, p) {
		if (!first || (strcmp(ml_json_str(p, "kind"), "device-dead") == 0 &&
			       strcmp(ml_json_str(first, "kind"), "device-dead") != 0))
			first = p;
		ml_buf_printf(&ev, "%s%s: %s", i ? "\n" : "", ml_json_str(p, "kind"),
			      ml_json_str(p, "text"));
	}
	*reason = ml_strdup_printf("%s after migration: %s",
				   strcmp(ml_json_str(first, "kind"), "device-dead") == 0
					   ? "device stopped working"
					   : "clock jump",
				   ml_json_str(first, "text"));
	*evidence = ev.data;
	return 1;
}
