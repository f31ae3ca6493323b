/* The probe's protocol core: splits the byte stream from the host into
 * request lines, dispatches each to its command and writes one reply line.
 * Every input is untrusted: a line that is not JSON, a wrong field or an
 * over-long line gets an error reply, never a crash. The agent only ever
 * answers; it sends nothing unsolicited (docs/probe-protocol.md). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>

#include "probe.h"
#include "ml-common.h"

#ifndef MIGLAB_VERSION
#define MIGLAB_VERSION "0"
#endif
#define SEED_MAX ((1ULL << 53) - 1) /* exact in a JSON number everywhere */
#define RATE_MAX 10000000u
#define WRITE_TIMEOUT_MS 5000
#define HUP_RETRY_MS 100

bool probe_quiet;

void probe_log(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (probe_quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "miglab-probe: %s\n", msg);
}

static uint64_t random_u64(void)
{
	uint64_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint64_t)probe_mono_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	return v;
}

static void read_boot_id(char *out, size_t outlen)
{
	char buf[64] = "";
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n >= 32) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(out, outlen, "%s", buf);
		return;
	}
	/* No /proc: a random id still tells one boot from the next. */
	{
		uint64_t a = random_u64(), b = random_u64();
		snprintf(out, outlen, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
			 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
			 (unsigned)((b >> 48) & 0x3fff) | 0x8000,
			 (unsigned long long)(b & 0xffffffffffffULL));
		probe_log("no /proc/sys/kernel/random/boot_id, using random boot_id %s", out);
	}
}

int probe_agent_init(struct probe_agent *a, int ram_mib_default)
{
	memset(a, 0, sizeof(*a));
	a->ram_mib_default = ram_mib_default;
	a->started_ms = probe_mono_ms();
	read_boot_id(a->boot_id, sizeof(a->boot_id));
	probe_ram_init(&a->ram);
	probe_continuity_init(&a->cont);
#ifdef MIGLAB_PROBE_DEBUG
	a->abi_debug.corrupt_page = -1;
	a->abi_debug.drop_page = -1;
#endif
	if (probe_heartbeat_start(&a->hb) < 0) {
		probe_log("cannot start the heartbeat thread: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* --- Replies ------------------------------------------------------------- */

struct cmd_error {
	const char *cls;
	char desc[512];
};

static json_t *fail(struct cmd_error *err, const char *cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static json_t *fail(struct cmd_error *err, const char *cls, const char *fmt, ...)
{
	va_list ap;
	err->cls = cls;
	va_start(ap, fmt);
	vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
	va_end(ap);
	return NULL;
}

static char *dump_or_die(json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		abort(); /* only out of memory */
	return s;
}

static char *error_reply(struct probe_agent *a, json_t *id, const char *cls, const char *desc)
{
	json_t *msg = json_pack("{s:O?, s:{s:s, s:s}}", "id", id, "error", "class", cls, "desc", desc);
	char *s;

	if (!msg)
		abort();
	s = dump_or_die(msg);
	json_decref(msg);
	a->errors++;
	return s;
}

char *probe_line_too_long_reply(struct probe_agent *a, size_t len)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "request line longer than %zu bytes (at least %zu), discarded",
		 PROBE_MAX_REQUEST, len);
	return error_reply(a, NULL, "LineTooLong", desc);
}

/* --- Argument checks ----------------------------------------------------- */

/* Refuse any key not in allowed (NULL-terminated): a typo must not be
 * silently ignored, and a host can tell an older agent by the refusal. */
static bool check_arg_names(json_t *args, const char *const *allowed, struct cmd_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v) {
		bool ok = false;
		for (size_t i = 0; allowed && allowed[i]; i++)
			ok |= !strcmp(key, allowed[i]);
		if (!ok) {
			fail(err, "InvalidArgument", "unknown argument '%.64s'", key);
			return false;
		}
	}
	return true;
}

static bool get_uint_arg(json_t *args, const char *key, uint64_t min, uint64_t max, uint64_t def,
			 uint64_t *out, struct cmd_error *err)
{
	json_t *v = json_object_get(args, key);
	json_int_t n;

	if (!v || json_is_null(v)) {
		*out = def;
		return true;
	}
	if (!json_is_integer(v)) {
		fail(err, "InvalidArgument", "'%s' must be an integer", key);
		return false;
	}
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max) {
		fail(err, "InvalidArgument", "'%s' must be between %llu and %llu, not %lld", key,
		     (unsigned long long)min, (unsigned long long)max, (long long)n);
		return false;
	}
	*out = (uint64_t)n;
	return true;
}

/* --- Commands ------------------------------------------------------------ */

typedef json_t *(*cmd_fn)(struct probe_agent *a, json_t *args, struct cmd_error *err);

struct command {
	const char *name;
	cmd_fn fn;
	const char *const *args; /* accepted argument names, NULL-terminated */
};

static const struct command commands[];

static json_t *cmd_hello(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	struct utsname u;
	json_t *names = json_array();
	json_t *ret;

	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	for (size_t i = 0; commands[i].name; i++)
		json_array_append_new(names, json_string(commands[i].name));
	ret = json_pack("{s:s, s:s, s:i, s:{s:s, s:s, s:s}, s:I, s:s, s:o, s:{s:I, s:I}, s:i, s:i, s:i, s:b}",
			"agent", PROBE_AGENT_NAME, "agent_version", MIGLAB_VERSION,
			"protocol", PROBE_PROTOCOL_VERSION,
			"kernel", "release", u.release, "version", u.version, "machine", u.machine,
			"uptime_ms", (json_int_t)probe_boottime_ms(), "boot_id", a->boot_id,
			"commands", names,
			"limits", "max_request_bytes", (json_int_t)PROBE_MAX_REQUEST,
			"max_reply_bytes", (json_int_t)PROBE_MAX_REPLY,
			"heartbeat_interval_ms", PROBE_HEARTBEAT_MS, "page_size", (int)PROBE_PAGE_SIZE,
			"ram_mib_default", a->ram_mib_default,
#ifdef MIGLAB_PROBE_DEBUG
			"debug", 1
#else
			"debug", 0
#endif
	);
	if (!ret)
		abort();
	return ret;
}

static json_t *cmd_status(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	json_t *ret = json_pack("{s:s, s:I, s:I, s:{s:I, s:i, s:I, s:I}, s:o, s:I, s:I}",
				"boot_id", a->boot_id,
				"uptime_ms", (json_int_t)probe_boottime_ms(),
				"agent_uptime_ms", (json_int_t)(probe_mono_ms() - a->started_ms),
				"heartbeat",
				"count", (json_int_t)probe_heartbeat_count(&a->hb),
				"interval_ms", PROBE_HEARTBEAT_MS,
				"max_gap_ms", (json_int_t)__atomic_load_n(&a->hb.max_gap_ms, __ATOMIC_RELAXED),
				"late_ticks", (json_int_t)__atomic_load_n(&a->hb.late_ticks, __ATOMIC_RELAXED),
				"ram", probe_ram_status(&a->ram),
				"requests", (json_int_t)a->requests, "errors", (json_int_t)a->errors);
	if (!ret)
		abort();
	return ret;
}

static json_t *with_field(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, v) < 0)
		abort();
	return obj;
}

static json_t *cmd_ram_start(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	uint64_t mib, rate, seed;
	char msg[256];

	if (!get_uint_arg(args, "mib", 1, PROBE_RAM_MIB_MAX, (uint64_t)a->ram_mib_default, &mib, err) ||
	    !get_uint_arg(args, "pages_per_sec", 0, RATE_MAX, PROBE_RAM_RATE_DEFAULT, &rate, err) ||
	    !get_uint_arg(args, "seed", 0, SEED_MAX, random_u64() & SEED_MAX, &seed, err))
		return NULL;
	if (a->ram.running) {
		/* A retried ram-start (its reply was lost) is not an error. */
		bool seed_given = json_object_get(args, "seed") != NULL;
		if (a->ram.npages != (mib << 20) / PROBE_PAGE_SIZE || a->ram.rate != rate ||
		    (seed_given && a->ram.seed != seed))
			return fail(err, "InvalidState",
				    "the RAM workload already runs with other parameters "
				    "(%zu MiB, %u pages/s); ram-stop first",
				    a->ram.npages * PROBE_PAGE_SIZE >> 20, a->ram.rate);
		return with_field(probe_ram_status(&a->ram), "started", json_false());
	}
	if (probe_ram_start(&a->ram, mib, (unsigned)rate, seed, msg, sizeof(msg)) < 0)
		return fail(err, "ResourceError", "cannot start the RAM workload: %s", msg);
	probe_log("ram workload started: %llu MiB, %llu pages/s, locked=%s",
		  (unsigned long long)mib, (unsigned long long)rate, a->ram.locked ? "yes" : "no");
	return with_field(probe_ram_status(&a->ram), "started", json_true());
}

static json_t *bad_page_json(const struct probe_bad_page *b)
{
	json_t *o = json_pack("{s:I, s:s, s:{s:I, s:I}, s:{s:b, s:b, s:b}}",
			      "page", (json_int_t)b->page, "kind", probe_bad_kind_name(b->kind),
			      "expected", "index", (json_int_t)b->page,
			      "generation", (json_int_t)b->expected_generation,
			      "found", "magic_ok", b->magic_ok, "check_ok", b->check_ok,
			      "body_ok", b->body_ok);
	if (!o)
		abort();
	/* Header fields only mean something if the header is ours. */
	if (b->magic_ok && b->check_ok) {
		json_t *found = json_object_get(o, "found");
		json_object_set_new(found, "index", json_integer((json_int_t)b->found_index));
		json_object_set_new(found, "generation", json_integer((json_int_t)b->found_generation));
	}
	return o;
}

static json_t *cmd_ram_verify(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	struct probe_verify_report rep;
	json_t *ret, *counts, *examples;

	if (!a->ram.running)
		return fail(err, "InvalidState", "the RAM workload is not running (ram-start first)");
	probe_ram_verify(&a->ram, &rep);
	ret = json_pack("{s:b, s:I, s:I, s:I}", "ok", rep.bad_pages == 0,
			"pages", (json_int_t)rep.pages, "bad_pages", (json_int_t)rep.bad_pages,
			"elapsed_us", (json_int_t)rep.elapsed_us);
	if (!ret)
		abort();
	if (!rep.bad_pages)
		return ret;

	counts = json_object();
	for (int k = 1; k < PROBE_BAD_KIND_COUNT; k++)
		if (rep.counts[k])
			json_object_set_new(counts, probe_bad_kind_name(k),
					    json_integer((json_int_t)rep.counts[k]));
	examples = json_array();
	for (size_t i = 0; i < rep.n_examples; i++)
		json_array_append_new(examples, bad_page_json(&rep.examples[i]));
	{
		json_t *first = bad_page_json(&rep.examples[0]);
		json_object_set(ret, "first_bad_page", json_object_get(first, "page"));
		json_object_set(ret, "kind", json_object_get(first, "kind"));
		json_object_set(ret, "expected", json_object_get(first, "expected"));
		json_object_set(ret, "found", json_object_get(first, "found"));
		json_decref(first);
	}
	json_object_set_new(ret, "counts", counts);
	json_object_set_new(ret, "examples", examples);
	probe_log("ram-verify FAILED: %llu bad pages of %llu, first %llu (%s)",
		  (unsigned long long)rep.bad_pages, (unsigned long long)rep.pages,
		  (unsigned long long)rep.examples[0].page, probe_bad_kind_name(rep.examples[0].kind));
	return ret;
}

static json_t *cmd_ram_stop(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	json_t *last;
	bool was = a->ram.running;

	if (!was)
		return with_field(probe_ram_status(&a->ram), "stopped", json_false());
	last = probe_ram_status(&a->ram);
	probe_ram_stop(&a->ram);
	probe_log("ram workload stopped");
	with_field(last, "running", json_false());
	with_field(last, "state", json_string("stopped"));
	return with_field(last, "stopped", json_true());
}

/* continuity: the clocks and a working check of every device, for the
 * host to compare across a migration (probe-continuity.c). */
static json_t *cmd_continuity(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	uint64_t nonce, timeout;

	if (!get_uint_arg(args, "nonce", 0, SEED_MAX, random_u64() & SEED_MAX, &nonce, err) ||
	    !get_uint_arg(args, "timeout_ms", 100, 30000, PROBE_CONTINUITY_TIMEOUT_MS, &timeout, err))
		return NULL;
	return probe_continuity(&a->cont, a->boot_id, nonce, (int)timeout);
}

#ifdef MIGLAB_PROBE_DEBUG
static json_t *cmd_debug_corrupt(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	const char *mode = json_string_value(json_object_get(args, "mode"));
	uint64_t page;
	char msg[256];

	if (!a->ram.running)
		return fail(err, "InvalidState", "the RAM workload is not running");
	if (!get_uint_arg(args, "page", 0, UINT32_MAX, 0, &page, err))
		return NULL;
	if (!mode)
		return fail(err, "InvalidArgument", "'mode' must be a string");
	if (probe_ram_debug_corrupt(&a->ram, page, mode, msg, sizeof(msg)) < 0)
		return fail(err, "InvalidArgument", "%s", msg);
	return json_pack("{s:I, s:s}", "page", (json_int_t)page, "mode", mode);
}
#endif

/* abi-dump (docs/abi.md, "Transport"): without arguments, a new snapshot
 * and its first page; with snapshot and cursor, the page at that offset. */
static void abi_new_snapshot(struct probe_agent *a)
{
	struct probe_abi_opts o = { .boot_id = a->boot_id, .virtio_bar_access = true };
	long long t0 = probe_mono_ms();
	json_t *doc;
	char *text;

#ifdef MIGLAB_PROBE_DEBUG
	o.virtio_bar_access = a->abi_debug.virtio_bar_access;
#endif
	/* The guest may have little memory: drop the old text first, and keep
	 * only the new text, not the tree. */
	free(a->abi.text);
	a->abi.text = NULL;
	doc = probe_abi_collect(&o);
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (!text)
		abort(); /* only out of memory */
	a->abi.text = text;
	a->abi.len = strlen(text);
	probe_sha256_hex(text, a->abi.len, a->abi.sha256);
	/* Ids differ between agent lifetimes (a reboot), so a cursor of the
	 * previous boot's snapshot is refused, not served from another text. */
	a->abi.id = a->abi.id ? a->abi.id + 1 : (random_u64() & 0x3fffffff) + 1;
	a->abi.collect_ms = probe_mono_ms() - t0;
	probe_log("abi-dump: snapshot %llu, %zu bytes, collected in %lld ms",
		  (unsigned long long)a->abi.id, a->abi.len, a->abi.collect_ms);
}

static json_t *cmd_abi_dump(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	json_t *js = json_object_get(args, "snapshot"), *jc = json_object_get(args, "cursor");
	bool has_s = js && !json_is_null(js), has_c = jc && !json_is_null(jc);
	uint64_t snap = 0, cursor = 0;
	size_t page = PROBE_ABI_PAGE_BYTES, len, n;
	json_t *data, *ret;

	if (has_s != has_c)
		return fail(err, "InvalidArgument", "'snapshot' and 'cursor' go together");
	if (has_s) {
		if (!get_uint_arg(args, "snapshot", 1, SEED_MAX, 0, &snap, err) ||
		    !get_uint_arg(args, "cursor", 0, SEED_MAX, 0, &cursor, err))
			return NULL;
		if (!a->abi.text || snap != a->abi.id)
			return fail(err, "InvalidState",
				    "snapshot %llu is not the current one (%llu): start again",
				    (unsigned long long)snap, (unsigned long long)a->abi.id);
		if (cursor > a->abi.len)
			return fail(err, "InvalidArgument", "cursor %llu is past the end (%zu)",
				    (unsigned long long)cursor, a->abi.len);
	} else {
		abi_new_snapshot(a);
	}
	len = a->abi.len;
#ifdef MIGLAB_PROBE_DEBUG
	if (a->abi_debug.page_bytes)
		page = a->abi_debug.page_bytes;
	len -= a->abi_debug.truncate < len ? a->abi_debug.truncate : len;
	if (cursor > len)
		cursor = len;
#endif
	n = len - cursor < page ? len - cursor : page;
	data = json_stringn(a->abi.text + cursor, n);
	if (!data)
		abort();
#ifdef MIGLAB_PROBE_DEBUG
	{
		long long index = (long long)(cursor / page);
		if (index == a->abi_debug.corrupt_page && n) {
			char *bad = strndup(a->abi.text + cursor, n);
			if (!bad)
				abort();
			bad[n / 2] = bad[n / 2] == '0' ? '1' : '0';
			json_decref(data);
			data = json_stringn(bad, n);
			free(bad);
		}
		if (index == a->abi_debug.drop_page) {
			a->abi_debug.drop_page = -1;
			a->abi_debug.dropped++;
			a->drop_reply = true;
		}
	}
#endif
	ret = json_pack("{s:I, s:I, s:o, s:o, s:I, s:s, s:I}", "snapshot", (json_int_t)a->abi.id,
			"offset", (json_int_t)cursor, "data", data, "next_cursor",
			cursor + n < len ? json_integer((json_int_t)(cursor + n)) : json_null(),
			"total", (json_int_t)a->abi.len, "sha256", a->abi.sha256,
			"collect_ms", (json_int_t)a->abi.collect_ms);
	if (!ret)
		abort();
	return ret;
}

#ifdef MIGLAB_PROBE_DEBUG
/* Test-only knobs of abi-dump: small pages, a damaged page, a lost reply. */
static bool get_page_index_arg(json_t *args, const char *key, long long *out,
			       struct cmd_error *err)
{
	json_t *v = json_object_get(args, key);

	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < -1) {
		fail(err, "InvalidArgument", "'%s' must be a page index or -1", key);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static json_t *cmd_debug_abi(struct probe_agent *a, json_t *args, struct cmd_error *err)
{
	struct probe_abi_debug *d = &a->abi_debug;
	uint64_t page = d->page_bytes, trunc = d->truncate;
	json_t *bar = json_object_get(args, "virtio_bar_access");

	if (!get_uint_arg(args, "page_bytes", 0, PROBE_ABI_PAGE_BYTES, d->page_bytes, &page, err) ||
	    !get_uint_arg(args, "truncate", 0, UINT32_MAX, d->truncate, &trunc, err) ||
	    !get_page_index_arg(args, "corrupt_page", &d->corrupt_page, err) ||
	    !get_page_index_arg(args, "drop_page", &d->drop_page, err))
		return NULL;
	if (bar && !json_is_boolean(bar))
		return fail(err, "InvalidArgument", "'virtio_bar_access' must be a boolean");
	if (bar)
		d->virtio_bar_access = json_is_true(bar);
	d->page_bytes = page;
	d->truncate = trunc;
	return json_pack("{s:I, s:I, s:I, s:I, s:b, s:I}", "page_bytes", (json_int_t)d->page_bytes,
			 "corrupt_page", (json_int_t)d->corrupt_page, "drop_page",
			 (json_int_t)d->drop_page, "truncate", (json_int_t)d->truncate,
			 "virtio_bar_access", d->virtio_bar_access, "dropped", (json_int_t)d->dropped);
}
#endif

static const char *const no_args[] = { NULL };
static const char *const abi_dump_args[] = { "snapshot", "cursor", NULL };
static const char *const ram_start_args[] = { "mib", "pages_per_sec", "seed", NULL };
static const char *const continuity_args[] = { "nonce", "timeout_ms", NULL };
#ifdef MIGLAB_PROBE_DEBUG
static const char *const debug_corrupt_args[] = { "page", "mode", NULL };
static const char *const debug_abi_args[] = { "page_bytes", "corrupt_page", "drop_page",
					       "truncate", "virtio_bar_access", NULL };
#endif

static const struct command commands[] = {
	{ "hello", cmd_hello, no_args },
	{ "status", cmd_status, no_args },
	{ "ram-start", cmd_ram_start, ram_start_args },
	{ "ram-verify", cmd_ram_verify, no_args },
	{ "ram-stop", cmd_ram_stop, no_args },
	{ "abi-dump", cmd_abi_dump, abi_dump_args },
	{ "continuity", cmd_continuity, continuity_args },
#ifdef MIGLAB_PROBE_DEBUG
	{ "debug-corrupt", cmd_debug_corrupt, debug_corrupt_args },
	{ "debug-abi", cmd_debug_abi, debug_abi_args },
#endif
	{ NULL, NULL, NULL },
};

/* --- Dispatch ------------------------------------------------------------ */

static char *dispatch(struct probe_agent *a, json_t *req)
{
	json_t *id = json_object_get(req, "id");
	json_t *args = json_object_get(req, "args");
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	struct cmd_error err = { NULL, "" };
	json_t *ret = NULL, *reply;
	const struct command *c;
	json_auto_t *empty = json_object();
	char *text;

	if (!id || !json_is_integer(id) || json_integer_value(id) < 0)
		return error_reply(a, NULL, "InvalidRequest", "'id' must be a non-negative integer");
	if (!cmd)
		return error_reply(a, id, "InvalidRequest", "'cmd' must be a string");
	if (args && json_is_null(args))
		args = NULL;
	if (args && !json_is_object(args))
		return error_reply(a, id, "InvalidRequest", "'args' must be an object");
	if (!args)
		args = empty;
	for (c = commands; c->name; c++)
		if (!strcmp(c->name, cmd))
			break;
	if (!c->name) {
		char desc[160];
		snprintf(desc, sizeof(desc), "unknown command '%.64s'", cmd);
		return error_reply(a, id, "CommandNotFound", desc);
	}
	if (check_arg_names(args, c->args, &err))
		ret = c->fn(a, args, &err);
	if (!ret)
		return error_reply(a, id, err.cls ? err.cls : "InternalError",
				   err.cls ? err.desc : "command failed");
	reply = json_pack("{s:O, s:o}", "id", id, "return", ret);
	if (!reply)
		abort();
	text = dump_or_die(reply);
	json_decref(reply);
	if (strlen(text) + 1 > PROBE_MAX_REPLY) {
		free(text);
		return error_reply(a, id, "ReplyTooLarge", "the reply passes the 16 MiB line limit");
	}
	return text;
}

char *probe_handle_line(struct probe_agent *a, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req;
	char *reply;

	a->requests++;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		char desc[256];
		snprintf(desc, sizeof(desc), "not JSON: %s (column %d)", jerr.text, jerr.column);
		return error_reply(a, NULL, "ParseError", desc);
	}
	if (!json_is_object(req)) {
		json_decref(req);
		return error_reply(a, NULL, "InvalidRequest", "a request must be a JSON object");
	}
	reply = dispatch(a, req);
	json_decref(req);
	return reply;
}

/* --- Line splitting and the serve loop ------------------------------------ */

int probe_lines_init(struct probe_lines *l)
{
	memset(l, 0, sizeof(*l));
	l->buf = malloc(PROBE_MAX_REQUEST + 1);
	return l->buf ? 0 : -1;
}

void probe_lines_reset(struct probe_lines *l)
{
	l->len = 0;
	l->dropped = 0;
}

void probe_lines_free(struct probe_lines *l)
{
	free(l->buf);
	l->buf = NULL;
}

struct conn {
	struct probe_agent *a;
	int fd;
	bool is_socket;
	bool need_newline; /* a reply was cut: end the fragment before the next */
	bool broken;       /* writing failed on a socket: give up on it */
};

static bool wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r;

	do
		r = poll(&p, 1, WRITE_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	return r > 0 && (p.revents & POLLOUT);
}

/* Write the reply as one line. If the host is gone (or stops reading) the
 * reply is dropped: the host retries with a new id. */
static void send_reply(struct conn *c, char *text)
{
	size_t tlen = strlen(text), len = tlen + 1 + c->need_newline, done = 0;
	char *line = malloc(len);

	if (!line)
		abort();
	if (c->need_newline)
		line[0] = '\n';
	memcpy(line + c->need_newline, text, tlen);
	line[len - 1] = '\n';
	while (done < len) {
		ssize_t n = write(c->fd, line + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(c->fd))
			continue;
		if (c->is_socket)
			c->broken = true;
		break;
	}
	c->need_newline = done > 0 && done < len;
	free(line);
}

static void handle_complete_line(struct conn *c, char *line, size_t len)
{
	size_t k = 0;
	char *reply;

	if (len && line[len - 1] == '\r')
		len--;
	while (k < len && (line[k] == ' ' || line[k] == '\t'))
		k++;
	if (k == len)
		return; /* blank lines are keep-alives, not requests */
	reply = probe_handle_line(c->a, line, len);
#ifdef MIGLAB_PROBE_DEBUG
	if (c->a->drop_reply) { /* debug-abi's drop_page: a reply lost on the way */
		c->a->drop_reply = false;
		free(reply);
		return;
	}
#endif
	send_reply(c, reply);
	free(reply);
}

static void feed(struct conn *c, struct probe_lines *l, const char *data, size_t n)
{
	while (n > 0 && !c->broken) {
		const char *nl = memchr(data, '\n', n);
		size_t chunk = nl ? (size_t)(nl - data) : n;

		if (l->dropped) {
			l->dropped += chunk;
			if (nl)
				l->dropped = 0;
		} else if (l->len + chunk > PROBE_MAX_REQUEST) {
			/* Refuse at once, then skip to the end of the line. */
			char *reply = probe_line_too_long_reply(c->a, l->len + chunk);
			send_reply(c, reply);
			free(reply);
			l->dropped = nl ? 0 : l->len + chunk;
			l->len = 0;
		} else {
			memcpy(l->buf + l->len, data, chunk);
			l->len += chunk;
			if (nl) {
				l->buf[l->len] = '\0';
				handle_complete_line(c, l->buf, l->len);
				l->len = 0;
			}
		}
		if (nl)
			chunk++;
		data += chunk;
		n -= chunk;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

enum probe_serve_end probe_serve(struct probe_agent *a, int fd, bool is_socket)
{
	struct conn c = { .a = a, .fd = fd, .is_socket = is_socket };
	struct probe_lines l;
	bool host_connected = is_socket;
	enum probe_serve_end end = PROBE_SERVE_ERROR;
	char *chunk = malloc(65536);

	if (!chunk || probe_lines_init(&l) < 0) {
		free(chunk);
		probe_log("out of memory");
		return PROBE_SERVE_ERROR;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&p, 1, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			probe_log("poll on the port failed: %s", strerror(errno));
			break;
		}
		if (p.revents & POLLNVAL)
			break;
		/* Read on a hang-up too: the virtio port answers 0 while the
		 * host is away but an error once the port itself is gone. */
		n = read(fd, chunk, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!(p.revents & (POLLHUP | POLLERR)))
				continue;
			n = 0;
		}
		if (n < 0 && errno != ECONNRESET) {
			probe_log("read from the port failed: %s", strerror(errno));
			break;
		}
		if (n <= 0) {
			/* Hang-up, EOF or reset: the host is not (or no longer)
			 * connected. A socket is reopened by the caller; the
			 * virtio port stays open and is polled again. */
			if (is_socket) {
				end = PROBE_SERVE_EOF;
				break;
			}
			if (host_connected)
				probe_log("host disconnected");
			host_connected = false;
			probe_lines_reset(&l);
			c.need_newline = false;
			sleep_ms(HUP_RETRY_MS);
			continue;
		}
		if (!host_connected)
			probe_log("host connected");
		host_connected = true;
		feed(&c, &l, chunk, (size_t)n);
		if (c.broken) {
			end = PROBE_SERVE_EOF;
			break;
		}
	}
	probe_lines_free(&l);
	free(chunk);
	return end;
}
