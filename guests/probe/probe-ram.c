/* The RAM integrity workload: a region that a thread keeps dirtying page by
 * page in a pattern that can be checked later, to catch pages a live migration
 * failed to (re-)send. Like the guest of QEMU's own migration tests, the
 * writer walks the region in order, so the pages before its cursor carry the
 * current generation and the others the previous one; unlike it, every page is
 * fully written and self-describing (magic, index, generation, check) and the
 * generation of each page is also kept in a separate array, so stale pages,
 * garbage, zero pages and misplaced pages are told apart. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "probe.h"
#include "ml-common.h"

#define BODY_WORDS ((PROBE_PAGE_SIZE - sizeof(struct probe_page_hdr)) / sizeof(uint64_t))
#define WRITER_BATCH 64
#define WRITER_STACK (256 * 1024)

static const char *const bad_kind_names[PROBE_BAD_KIND_COUNT] = {
	[PROBE_BAD_NONE] = "none",
	[PROBE_BAD_ZERO] = "zero",
	[PROBE_BAD_GARBAGE] = "garbage",
	[PROBE_BAD_WRONG_INDEX] = "wrong-index",
	[PROBE_BAD_TORN] = "torn",
	[PROBE_BAD_BODY] = "corrupt-body",
	[PROBE_BAD_TRACKING] = "tracking",
	[PROBE_BAD_STALE] = "stale",
	[PROBE_BAD_AHEAD] = "ahead",
};

const char *probe_bad_kind_name(enum probe_bad_kind k)
{
	return (unsigned)k < PROBE_BAD_KIND_COUNT ? bad_kind_names[k] : "unknown";
}

/* splitmix64's finaliser: a cheap, well-mixing 64-bit hash. */
static inline uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t page_key(uint64_t seed, uint64_t index, uint64_t gen)
{
	return mix64(seed ^ mix64(index ^ mix64(gen ^ 0x6d69676c6162ULL)));
}

static inline uint64_t page_check(uint64_t seed, uint64_t index, uint64_t gen)
{
	return mix64(page_key(seed, index, gen) ^ 0x636865636bULL);
}

void probe_page_fill(uint8_t *page, uint64_t seed, uint64_t index, uint64_t gen)
{
	struct probe_page_hdr hdr = {
		.magic = PROBE_PAGE_MAGIC,
		.index = index,
		.generation = gen,
		.check = page_check(seed, index, gen),
	};
	uint64_t *body = (uint64_t *)(page + sizeof(hdr));
	uint64_t s = page_key(seed, index, gen);

	for (size_t k = 0; k < BODY_WORDS; k++) {
		s += 0x9e3779b97f4a7c15ULL;
		body[k] = mix64(s);
	}
	/* Header last: a page caught half-written by a snapshot shows an old
	 * header over a new body ("torn"), not a valid-looking new page. */
	memcpy(page, &hdr, sizeof(hdr));
}

static bool body_matches(const uint8_t *page, uint64_t seed, uint64_t index, uint64_t gen)
{
	const uint64_t *body = (const uint64_t *)(page + sizeof(struct probe_page_hdr));
	uint64_t s = page_key(seed, index, gen);

	for (size_t k = 0; k < BODY_WORDS; k++) {
		s += 0x9e3779b97f4a7c15ULL;
		if (body[k] != mix64(s))
			return false;
	}
	return true;
}

static bool page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page;
	for (size_t k = 0; k < PROBE_PAGE_SIZE / sizeof(uint64_t); k++)
		if (w[k])
			return false;
	return true;
}

enum probe_bad_kind probe_page_check(const uint8_t *page, uint64_t seed, uint64_t index,
				     uint64_t expected_gen, struct probe_bad_page *bad)
{
	struct probe_page_hdr hdr;

	memset(bad, 0, sizeof(*bad));
	bad->page = index;
	bad->expected_generation = expected_gen;
	memcpy(&hdr, page, sizeof(hdr));
	if (hdr.magic != PROBE_PAGE_MAGIC)
		return bad->kind = page_is_zero(page) ? PROBE_BAD_ZERO : PROBE_BAD_GARBAGE;
	bad->magic_ok = true;
	bad->found_index = hdr.index;
	bad->found_generation = hdr.generation;
	if (hdr.check != page_check(seed, hdr.index, hdr.generation))
		return bad->kind = PROBE_BAD_GARBAGE;
	bad->check_ok = true;
	if (hdr.index != index)
		return bad->kind = PROBE_BAD_WRONG_INDEX;
	bad->body_ok = body_matches(page, seed, index, hdr.generation);
	if (!bad->body_ok) {
		if (hdr.generation != expected_gen && body_matches(page, seed, index, expected_gen))
			return bad->kind = PROBE_BAD_TORN;
		return bad->kind = PROBE_BAD_BODY;
	}
	if (hdr.generation < expected_gen)
		return bad->kind = PROBE_BAD_STALE;
	if (hdr.generation > expected_gen)
		return bad->kind = PROBE_BAD_AHEAD;
	return bad->kind = PROBE_BAD_NONE;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void probe_region_verify(const uint8_t *region, size_t npages, const uint64_t *gens,
			 uint64_t seed, uint64_t write_gen, size_t cursor,
			 struct probe_verify_report *rep)
{
	uint64_t t0 = mono_us();

	memset(rep, 0, sizeof(*rep));
	rep->pages = npages;
	for (size_t i = 0; i < npages; i++) {
		/* The writer's cursor says which generation the array must hold. */
		uint64_t model = i < cursor ? write_gen : write_gen - 1;
		struct probe_bad_page bad;
		enum probe_bad_kind kind;

		if (gens[i] != model) {
			probe_page_check(region + i * PROBE_PAGE_SIZE, seed, i, model, &bad);
			kind = bad.kind = PROBE_BAD_TRACKING;
		} else {
			kind = probe_page_check(region + i * PROBE_PAGE_SIZE, seed, i, gens[i], &bad);
		}
		if (kind == PROBE_BAD_NONE)
			continue;
		rep->bad_pages++;
		rep->counts[kind]++;
		if (rep->n_examples < PROBE_VERIFY_EXAMPLES)
			rep->examples[rep->n_examples++] = bad;
	}
	rep->elapsed_us = mono_us() - t0;
}

void probe_ram_init(struct probe_ram *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->resume, NULL);
}

/* Write the page under the cursor and advance; called with the lock held. */
static void writer_step(struct probe_ram *r)
{
	size_t i = r->cursor;

	probe_page_fill(r->region + i * PROBE_PAGE_SIZE, r->seed, i, r->write_gen);
	r->gens[i] = r->write_gen;
	r->writes++;
	if (++r->cursor == r->npages) {
		r->cursor = 0;
		r->passes++;
		r->write_gen++;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *writer_thread(void *opaque)
{
	struct probe_ram *r = opaque;
	uint64_t t0 = mono_us(), done = 0;

	pthread_mutex_lock(&r->lock);
	while (!r->stop_req) {
		uint64_t n = WRITER_BATCH;

		while (__atomic_load_n(&r->pause_req, __ATOMIC_SEQ_CST) > 0 && !r->stop_req)
			pthread_cond_wait(&r->resume, &r->lock);
		if (r->stop_req)
			break;
		if (r->rate) {
			uint64_t now = mono_us();
			uint64_t due = (now - t0) * r->rate / 1000000u;
			/* More than a second behind (the guest was paused, or a
			 * verify ran): start over rather than burst. */
			if (due > done + r->rate) {
				t0 = now;
				done = 0;
				due = 0;
			}
			n = due > done ? due - done : 0;
			if (n > WRITER_BATCH)
				n = WRITER_BATCH;
		}
		for (uint64_t k = 0; k < n; k++)
			writer_step(r);
		done += n;
		pthread_mutex_unlock(&r->lock);
		if (n == 0)
			sleep_ms(2);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static uint64_t available_bytes(void)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return UINT64_MAX;
	return ((uint64_t)si.freeram + si.bufferram) * si.mem_unit;
}

int probe_ram_start(struct probe_ram *r, size_t mib, unsigned rate, uint64_t seed, char *msg,
		    size_t msglen)
{
	size_t bytes = mib << 20;
	uint64_t avail = available_bytes();
	pthread_attr_t attr;
	uint8_t *region;
	uint64_t *gens;
	int err;

	/* Leave the guest room to breathe (and to answer). */
	if ((uint64_t)bytes + (16u << 20) > avail) {
		snprintf(msg, msglen, "%zu MiB requested, only %llu MiB free", mib,
			 (unsigned long long)(avail >> 20));
		return -1;
	}
	region = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		snprintf(msg, msglen, "cannot map %zu MiB: %s", mib, strerror(errno));
		return -1;
	}
	gens = calloc(bytes / PROBE_PAGE_SIZE, sizeof(*gens));
	if (!gens) {
		munmap(region, bytes);
		snprintf(msg, msglen, "cannot allocate the generation array");
		return -1;
	}

	pthread_mutex_lock(&r->lock);
	r->locked = mlock(region, bytes) == 0;
	r->region = region;
	r->gens = gens;
	r->npages = bytes / PROBE_PAGE_SIZE;
	r->seed = seed;
	r->rate = rate;
	r->stop_req = false;
	__atomic_store_n(&r->pause_req, 0, __ATOMIC_SEQ_CST);
	r->held = false;
	r->passes = 0;
	r->writes = 0;
	r->verifies = 0;
	r->verify_failures = 0;
	/* Generation 1 everywhere, then the writer starts its pass with 2. */
	r->write_gen = 1;
	for (r->cursor = 0; r->cursor < r->npages;) {
		probe_page_fill(r->region + r->cursor * PROBE_PAGE_SIZE, seed, r->cursor, 1);
		r->gens[r->cursor++] = 1;
	}
	r->writes = r->npages;
	r->write_gen = 2;
	r->cursor = 0;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WRITER_STACK);
	err = pthread_create(&r->thread, &attr, writer_thread, r);
	pthread_attr_destroy(&attr);
	if (err) {
		if (r->locked)
			munlock(region, bytes);
		munmap(region, bytes);
		free(gens);
		r->region = NULL;
		r->gens = NULL;
		r->npages = 0;
		pthread_mutex_unlock(&r->lock);
		snprintf(msg, msglen, "cannot start the writer thread: %s", strerror(err));
		return -1;
	}
	r->running = true;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void probe_ram_stop(struct probe_ram *r)
{
	size_t bytes;

	if (!r->running)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop_req = true;
	pthread_cond_broadcast(&r->resume);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);

	pthread_mutex_lock(&r->lock);
	bytes = r->npages * PROBE_PAGE_SIZE;
	if (r->locked)
		munlock(r->region, bytes);
	munmap(r->region, bytes);
	free(r->gens);
	r->region = NULL;
	r->gens = NULL;
	r->npages = 0;
	r->running = false;
	r->held = false;
	__atomic_store_n(&r->pause_req, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&r->lock);
}

void probe_ram_verify(struct probe_ram *r, struct probe_verify_report *rep)
{
	/* Announce the pause before taking the lock, so a writer that releases
	 * and retakes it in a tight loop cannot starve us. */
	__atomic_add_fetch(&r->pause_req, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&r->lock);
	probe_region_verify(r->region, r->npages, r->gens, r->seed, r->write_gen, r->cursor, rep);
	r->verifies++;
	if (rep->bad_pages)
		r->verify_failures++;
	if (r->held) {
		r->held = false;
		__atomic_sub_fetch(&r->pause_req, 1, __ATOMIC_SEQ_CST);
	}
	__atomic_sub_fetch(&r->pause_req, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&r->resume);
	pthread_mutex_unlock(&r->lock);
}

json_t *probe_ram_status(struct probe_ram *r)
{
	json_t *o;

	pthread_mutex_lock(&r->lock);
	o = json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b}",
		      "running", r->running, "state", r->running ? (r->held ? "held" : "running") : "stopped",
		      "mib", (json_int_t)(r->npages * PROBE_PAGE_SIZE >> 20),
		      "pages", (json_int_t)r->npages, "seed", (json_int_t)r->seed,
		      "generation", (json_int_t)r->write_gen, "cursor", (json_int_t)r->cursor,
		      "passes", (json_int_t)r->passes, "writes", (json_int_t)r->writes,
		      "rate_pages_per_sec", (json_int_t)r->rate, "verifies", (json_int_t)r->verifies,
		      "verify_failures", (json_int_t)r->verify_failures, "locked", r->locked,
		      "held", r->held);
	pthread_mutex_unlock(&r->lock);
	if (!o)
		abort();
	return o;
}

#ifdef MIGLAB_PROBE_DEBUG
int probe_ram_debug_corrupt(struct probe_ram *r, uint64_t page, const char *mode, char *msg,
			    size_t msglen)
{
	uint8_t *p;
	uint64_t g;
	int ret = 0;

	__atomic_add_fetch(&r->pause_req, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&r->lock);
	if (page >= r->npages) {
		snprintf(msg, msglen, "page %llu out of range (%zu pages)", (unsigned long long)page,
			 r->npages);
		ret = -1;
		goto out;
	}
	p = r->region + page * PROBE_PAGE_SIZE;
	g = r->gens[page];
	if (!strcmp(mode, "stale")) {
		/* What a lost re-send leaves: the previous generation, intact. */
		probe_page_fill(p, r->seed, page, g - 1);
	} else if (!strcmp(mode, "garbage")) {
		uint64_t s = mix64(page ^ 0xbad);
		for (size_t k = 0; k < PROBE_PAGE_SIZE / 8; k++)
			((uint64_t *)p)[k] = mix64(s + k);
	} else if (!strcmp(mode, "zero")) {
		memset(p, 0, PROBE_PAGE_SIZE);
	} else if (!strcmp(mode, "wrong-index")) {
		probe_page_fill(p, r->seed, page + 1, g);
	} else if (!strcmp(mode, "torn")) {
		/* The new body under the previous header. */
		probe_page_fill(p, r->seed, page, g);
		((struct probe_page_hdr *)p)->generation = g - 1;
		((struct probe_page_hdr *)p)->check = page_check(r->seed, page, g - 1);
	} else if (!strcmp(mode, "corrupt-body")) {
		p[PROBE_PAGE_SIZE - 1] ^= 0x5a;
	} else if (!strcmp(mode, "tracking")) {
		r->gens[page] = g + 1;
	} else {
		snprintf(msg, msglen, "unknown mode '%s'", mode);
		ret = -1;
		goto out;
	}
	/* Keep the writer off the damaged page until it is verified. */
	if (!r->held) {
		r->held = true;
		__atomic_add_fetch(&r->pause_req, 1, __ATOMIC_SEQ_CST);
	}
out:
	__atomic_sub_fetch(&r->pause_req, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&r->resume);
	pthread_mutex_unlock(&r->lock);
	return ret;
}
#endif
