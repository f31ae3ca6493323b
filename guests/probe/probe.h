/* The in-guest probe agent (miglab-probe): shared declarations of its parts,
 * split so the protocol core and the workloads can be tested on the host.
 * The wire protocol is documented in docs/probe-protocol.md. */
#ifndef PROBE_H
#define PROBE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROBE_AGENT_NAME "miglab-probe"
#define PROBE_PROTOCOL_VERSION 1
#define PROBE_PORT_NAME "org.miglab.probe"
/* A request line (without its newline) longer than this is refused. */
#define PROBE_MAX_REQUEST ((size_t)64 << 10)
/* No reply line is ever longer than this (the host's cap). */
#define PROBE_MAX_REPLY ((size_t)16 << 20)
#define PROBE_PAGE_SIZE 4096u
#define PROBE_RAM_MIB_DEFAULT 64
#define PROBE_RAM_MIB_MAX 65536
#define PROBE_RAM_RATE_DEFAULT 4096 /* pages per second: 16 MiB/s */
#define PROBE_HEARTBEAT_MS 10

/* --- Heartbeat (probe-heartbeat.c) -------------------------------------- */

struct probe_heartbeat {
	pthread_t thread;
	uint64_t count;       /* atomic: ticks since the agent started */
	uint64_t max_gap_ms;  /* atomic: longest time between two ticks */
	uint64_t late_ticks;  /* atomic: ticks more than 100 ms after the previous */
	bool started;
};

int probe_heartbeat_start(struct probe_heartbeat *hb);
uint64_t probe_heartbeat_count(const struct probe_heartbeat *hb);

/* --- RAM integrity workload (probe-ram.c) -------------------------------- */

/* Header at the start of every page of the region. check = hash of (seed,
 * index, generation): a header that is not ours fails it. The rest of the
 * page (the body) is a pseudo-random stream derived from the same triple. */
struct probe_page_hdr {
	uint64_t magic;
	uint64_t index;
	uint64_t generation;
	uint64_t check;
};
#define PROBE_PAGE_MAGIC 0x65676170626c676dULL /* "mglbpage" little-endian */

/* What was wrong with a page, in the order verification tests them. */
enum probe_bad_kind {
	PROBE_BAD_NONE = 0,
	PROBE_BAD_ZERO,        /* the whole page is zero: never transferred */
	PROBE_BAD_GARBAGE,     /* no valid header: overwritten by something else */
	PROBE_BAD_WRONG_INDEX, /* a valid header of another page: landed at the wrong place */
	PROBE_BAD_TORN,        /* header of one generation, body of the expected one */
	PROBE_BAD_BODY,        /* valid header, body matches no expected generation */
	PROBE_BAD_TRACKING,    /* the separate generation array disagrees with the writer cursor */
	PROBE_BAD_STALE,       /* an older generation than the last written: a lost re-send */
	PROBE_BAD_AHEAD,       /* a newer generation than recorded */
	PROBE_BAD_KIND_COUNT
};

const char *probe_bad_kind_name(enum probe_bad_kind k);

/* One bad page, as found. */
struct probe_bad_page {
	uint64_t page;
	enum probe_bad_kind kind;
	uint64_t expected_generation;
	bool magic_ok;
	bool check_ok;
	bool body_ok;
	uint64_t found_index;
	uint64_t found_generation;
};

#define PROBE_VERIFY_EXAMPLES 8

struct probe_verify_report {
	uint64_t pages;
	uint64_t bad_pages;
	uint64_t counts[PROBE_BAD_KIND_COUNT];
	size_t n_examples; /* the first bad pages, in page order */
	struct probe_bad_page examples[PROBE_VERIFY_EXAMPLES];
	uint64_t elapsed_us;
};

/* The workload's state. Everything it checks lives in guest RAM and migrates
 * with the guest: the region, the generation array, the cursor. */
struct probe_ram {
	pthread_mutex_t lock;
	pthread_cond_t resume;
	pthread_t thread;
	bool running;         /* a region exists and the writer thread runs */
	bool stop_req;        /* under lock */
	int pause_req;        /* under lock: the writer waits while > 0 */
	bool held;            /* debug-corrupt keeps the writer paused until ram-verify */

	uint8_t *region;
	size_t npages;
	uint64_t *gens;       /* the generation last written to each page */
	uint64_t seed;
	uint64_t write_gen;   /* pages before cursor carry write_gen, the others write_gen - 1 */
	size_t cursor;
	uint64_t passes;      /* complete passes of the writer */
	uint64_t writes;      /* pages written since ram-start (initial fill included) */
	uint64_t verifies;
	uint64_t verify_failures;
	unsigned rate;        /* pages per second, 0: as fast as possible */
	bool locked;          /* mlock succeeded */
};

void probe_ram_init(struct probe_ram *r);
/* Allocate and fill the region (generation 1), start the writer. -1 with
 * msg set (errno-style text) on failure. */
int probe_ram_start(struct probe_ram *r, size_t mib, unsigned rate, uint64_t seed, char *msg,
		    size_t msglen);
void probe_ram_stop(struct probe_ram *r);
/* Pause the writer, check every page, resume. */
void probe_ram_verify(struct probe_ram *r, struct probe_verify_report *rep);
/* Snapshot of the counters as a JSON object (taken under the lock). */
json_t *probe_ram_status(struct probe_ram *r);

/* Pure helpers, exposed for unit tests: fill one page of generation gen,
 * and check one page against the expected generation. */
void probe_page_fill(uint8_t *page, uint64_t seed, uint64_t index, uint64_t gen);
enum probe_bad_kind probe_page_check(const uint8_t *page, uint64_t seed, uint64_t index,
				     uint64_t expected_gen, struct probe_bad_page *bad);
/* Verify a bare region (no thread) against gens[] and the cursor model. */
void probe_region_verify(const uint8_t *region, size_t npages, const uint64_t *gens,
			 uint64_t seed, uint64_t write_gen, size_t cursor,
			 struct probe_verify_report *rep);

#ifdef MIGLAB_PROBE_DEBUG
/* Test-only: damage page `page` the way `mode` says (see debug-corrupt in
 * docs/probe-protocol.md); the writer stays paused until the next verify. */
int probe_ram_debug_corrupt(struct probe_ram *r, uint64_t page, const char *mode, char *msg,
			    size_t msglen);
#endif

/* --- Guest-visible ABI dump (probe-abi.c, schema in docs/abi.md) -------- */

#define PROBE_ABI_SCHEMA "miglab-abi/1"
/* abi-dump pages carry at most this many bytes of the snapshot text. */
#define PROBE_ABI_PAGE_BYTES ((size_t)256 << 10)

/* Options of one collection. */
struct probe_abi_opts {
	const char *boot_id;
	/* Read virtio-pci common configuration through the device BARs (writes
	 * the select registers, restored afterwards). Off only in the unit tests,
	 * which run on a real host whose devices must not be touched. */
	bool virtio_bar_access;
};

/* Collect the whole document (every section present; a section that could
 * not be read carries "error"). Never NULL (aborts on out of memory). */
json_t *probe_abi_collect(const struct probe_abi_opts *o);

/* The current snapshot: the serialised document, kept for paging. */
struct probe_abi_snapshot {
	uint64_t id;           /* 0: none yet */
	char *text;            /* compact, sorted keys, ASCII-only JSON */
	size_t len;
	char sha256[65];
	long long collect_ms;
};

/* Lower-case hex SHA-256 of data (probe-sha256.c). */
void probe_sha256_hex(const void *data, size_t len, char out[65]);

#ifdef MIGLAB_PROBE_DEBUG
/* Test-only knobs of abi-dump (the debug-abi command). */
struct probe_abi_debug {
	size_t page_bytes;      /* 0: PROBE_ABI_PAGE_BYTES */
	long long corrupt_page; /* -1: none; else flip a byte of this page's data, always */
	long long drop_page;    /* -1: none; else send no reply the first time it is asked */
	size_t truncate;        /* the last page stops this many bytes early */
	bool virtio_bar_access; /* default false in the test build */
	uint64_t dropped;       /* replies dropped so far */
};
#endif

/* --- Continuity reading (probe-continuity.c) ------------------------------ */

#define PROBE_CONTINUITY_TIMEOUT_MS 2000 /* default bound of each device exercise */

/* What the continuity command keeps between calls. */
struct probe_continuity {
	double tsc_hz;          /* measured on the first call */
	void *hpet;             /* the HPET's registers, mapped on the first call */
	char hpet_via[16];
	char hpet_error[256];   /* why they could not be mapped */
	int console_fd;         /* /dev/ttyS0, kept open (see exercise_console) */
	bool block_busy;        /* an exercise thread of the device never came back */
	bool rng_busy;
	bool devices;           /* exercise the devices (off in the test build) */
};

void probe_continuity_init(struct probe_continuity *pc);
/* The clocks, then each device exercised (each bounded by timeout_ms). The
 * reply object of the continuity command; never NULL. */
json_t *probe_continuity(struct probe_continuity *pc, const char *boot_id, uint64_t nonce,
			 int timeout_ms);
/* Interrupts delivered to the lines named `name` or "<name>-..." in a file
 * of /proc/interrupts' format, over all CPUs; -1 if no line names it. */
long long probe_irq_count(const char *proc_interrupts, const char *name);

/* --- Protocol core (probe-proto.c) --------------------------------------- */

struct probe_agent {
	char boot_id[40];
	int ram_mib_default;
	long long started_ms;      /* CLOCK_MONOTONIC when the agent started */
	struct probe_heartbeat hb;
	struct probe_ram ram;
	uint64_t requests;
	uint64_t errors;
	struct probe_abi_snapshot abi;
	struct probe_continuity cont;
#ifdef MIGLAB_PROBE_DEBUG
	struct probe_abi_debug abi_debug;
	bool drop_reply;           /* the command asked for its reply not to be sent */
#endif
};

/* Fill boot_id and defaults; start the heartbeat. -1 on failure (printed). */
int probe_agent_init(struct probe_agent *a, int ram_mib_default);

/* Handle one request line (without newline). Returns a malloc'd reply
 * (without newline), never NULL. */
char *probe_handle_line(struct probe_agent *a, const char *line, size_t len);
/* The error reply for an over-long request line. */
char *probe_line_too_long_reply(struct probe_agent *a, size_t len);

/* Splits a byte stream into request lines; a line over PROBE_MAX_REQUEST is
 * dropped up to its newline and reported once. */
struct probe_lines {
	char *buf;       /* PROBE_MAX_REQUEST + 1 bytes */
	size_t len;
	size_t dropped;  /* bytes dropped of the over-long line in progress, 0 if none */
};

int probe_lines_init(struct probe_lines *l);
void probe_lines_reset(struct probe_lines *l);
void probe_lines_free(struct probe_lines *l);

enum probe_serve_end {
	PROBE_SERVE_EOF,   /* the peer closed (socket) */
	PROBE_SERVE_ERROR, /* read/write failed: reopen */
};

/* Serve requests from fd until it ends. For a character device (the
 * virtio-serial port) a hang-up means "host not connected": it waits and goes
 * on, and returns only on a read error. */
enum probe_serve_end probe_serve(struct probe_agent *a, int fd, bool is_socket);

/* Console status line: "miglab-probe: ..." on stderr, unless probe_quiet. */
extern bool probe_quiet;
void probe_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

long long probe_mono_ms(void);
long long probe_boottime_ms(void);

/* Read a small sysfs or proc file into buf (len bytes with the NUL), up to
 * its first newline. 0, or -1 when it cannot be opened or read. */
int probe_read_line(const char *path, char *buf, size_t len);

#endif
