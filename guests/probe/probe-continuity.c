/* The probe's continuity reading (docs/probe-protocol.md, "continuity"): the
 * guest's clocks read together (monotonic, realtime, boottime, the TSC, the
 * HPET main counter and the RTC), then one exercise per device the guest
 * has: a block write and O_DIRECT read-back on the virtio disk, a read of
 * the virtio hwrng, an ARP request to slirp's gateway through the virtio
 * NIC, a line on the serial console, each with the interrupts its virtio
 * device delivered meanwhile. The host takes a reading before and after a
 * migration and compares them (lab/continuity.c).
 *
 * Every exercise is bounded: a device that stopped working must cost an
 * error in the reply, not a hung agent. Block and rng reads can sleep in
 * the kernel without a timeout, so they run in a helper thread the command
 * waits for with a deadline; a thread that never comes back stays blocked
 * and the device is reported busy on later calls instead of piling up
 * threads. The NIC and the console are non-blocking with poll deadlines. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <linux/rtc.h>
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <x86intrin.h>

#include "probe.h"
#include "ml-common.h"

#define VIRTIO_DEVICES "/sys/bus/virtio/devices"
#define HPET_BASE_DEFAULT 0xfed00000UL
#define HPET_MAP_BYTES 1024
#define HPET_CAP 0x000
#define HPET_CONFIG 0x010
#define HPET_COUNTER 0x0f0
#define BLOCK_BYTES 4096
#define RNG_BYTES 256
/* slirp's default network (QEMU-internal): the guest's usual address and
 * the gateway slirp answers ARP for. */
#define SLIRP_GUEST_IP "10.0.2.15"
#define SLIRP_GATEWAY_IP "10.0.2.2"
#define ARP_RESEND_MS 200

/* --- helpers ------------------------------------------------------------- */

static long long now_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int probe_read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The virtio device ("virtio3") bound to driver, or -1. */
static int find_virtio(const char *driver, char *name, size_t len)
{
	DIR *d = opendir(VIRTIO_DEVICES);
	struct dirent *e;
	int ret = -1;

	while (d && (e = readdir(d))) {
		char link[PATH_MAX], path[512];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), VIRTIO_DEVICES "/%s/driver", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(strrchr(link, '/') ? strrchr(link, '/') + 1 : link, driver) == 0) {
			snprintf(name, len, "%s", e->d_name);
			ret = 0;
			break;
		}
	}
	if (d)
		closedir(d);
	return ret;
}

/* The first entry of VIRTIO_DEVICES/<dev>/<sub>/ ("vda", "eth0"), or -1. */
static int virtio_child(const char *dev, const char *sub, char *name, size_t len)
{
	char path[512];
	DIR *d;
	struct dirent *e;
	int ret = -1;

	snprintf(path, sizeof(path), VIRTIO_DEVICES "/%s/%s", dev, sub);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(name, len, "%s", e->d_name);
		ret = 0;
		break;
	}
	if (d)
		closedir(d);
	return ret;
}

/* Interrupts delivered so far to the IRQ lines one of whose names is
 * `name` or starts with "<name>-" (MSI-X vectors are "virtio3-req.0",
 * shared INTx lines "virtio1, virtio3"), summed over the CPUs; -1 when no
 * line names it. */
long long probe_irq_count(const char *proc_interrupts, const char *name)
{
	FILE *f = fopen(proc_interrupts, "re");
	char line[1024];
	int ncpu = 0;
	long long total = -1;
	size_t nl = strlen(name);

	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f))
		for (char *p = strstr(line, "CPU"); p; p = strstr(p + 3, "CPU"))
			ncpu++;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':'), *end, *tok, *save = NULL;
		long long sum = 0;
		bool match = false;

		if (!p)
			continue;
		p++;
		for (int i = 0; i < ncpu; i++) {
			long long v = strtoll(p, &end, 10);
			if (end == p)
				break;
			sum += v;
			p = end;
		}
		for (tok = strtok_r(p, " \t,\n", &save); tok; tok = strtok_r(NULL, " \t,\n", &save))
			if (strncmp(tok, name, nl) == 0 && (tok[nl] == '\0' || tok[nl] == '-'))
				match = true;
		if (match)
			total = (total < 0 ? 0 : total) + sum;
	}
	fclose(f);
	return total;
}

/* --- clocks -------------------------------------------------------------- */

/* TSC ticks per second, measured once against CLOCK_MONOTONIC over 50 ms
 * (the TSC is not the guest's business to know otherwise). */
static double tsc_hz(struct probe_continuity *pc)
{
	if (pc->tsc_hz <= 0) {
		struct timespec ts = { 0, 50 * 1000000L };
		long long m0 = now_ns(CLOCK_MONOTONIC);
		unsigned long long t0 = __rdtsc();
		long long m1;
		unsigned long long t1;

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		t1 = __rdtsc();
		m1 = now_ns(CLOCK_MONOTONIC);
		if (m1 > m0 && t1 > t0)
			pc->tsc_hz = (double)(t1 - t0) * 1e9 / (double)(m1 - m0);
	}
	return pc->tsc_hz;
}

/* The physical address of the HPET from /proc/iomem ("fed00000-fed003ff :
 * HPET 0"), else the PC's usual one. */
static unsigned long hpet_phys(void)
{
	FILE *f = fopen("/proc/iomem", "re");
	char line[256];
	unsigned long base = HPET_BASE_DEFAULT;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, ": HPET")) {
			base = strtoul(line, NULL, 16);
			break;
		}
	if (f)
		fclose(f);
	return base;
}

/* Map the HPET's registers once: /dev/hpet (needs the kernel's hpet_mmap),
 * else /dev/mem (needs a kernel that lets it map the region). The reason of
 * each refusal is kept for the reply. */
static void hpet_map(struct probe_continuity *pc)
{
	int fd;
	void *p;
	char why_hpet[96] = "", why_mem[96] = "";

	if (pc->hpet || pc->hpet_error[0])
		return;
	if (!pc->devices) {
		/* The test build runs on a real host: its HPET is not ours. */
		snprintf(pc->hpet_error, sizeof(pc->hpet_error), "test build: not mapped");
		return;
	}
	fd = open("/dev/hpet", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		snprintf(why_hpet, sizeof(why_hpet), "open /dev/hpet: %s", strerror(errno));
	else {
		p = mmap(NULL, HPET_MAP_BYTES, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (p != MAP_FAILED) {
			pc->hpet = p;
			snprintf(pc->hpet_via, sizeof(pc->hpet_via), "/dev/hpet");
			return;
		}
		snprintf(why_hpet, sizeof(why_hpet), "mmap /dev/hpet: %s", strerror(errno));
	}
	fd = open("/dev/mem", O_RDONLY | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		snprintf(why_mem, sizeof(why_mem), "open /dev/mem: %s", strerror(errno));
	else {
		p = mmap(NULL, HPET_MAP_BYTES, PROT_READ, MAP_SHARED, fd, (off_t)hpet_phys());
		close(fd);
		if (p != MAP_FAILED) {
			pc->hpet = p;
			snprintf(pc->hpet_via, sizeof(pc->hpet_via), "/dev/mem");
			return;
		}
		snprintf(why_mem, sizeof(why_mem), "mmap /dev/mem at 0x%lx: %s", hpet_phys(),
			 strerror(errno));
	}
	snprintf(pc->hpet_error, sizeof(pc->hpet_error), "%s; %s", why_hpet, why_mem);
}

static json_t *read_rtc(void)
{
	struct rtc_time rt;
	struct tm tm = { 0 };
	long long m0, m1;
	int fd = open("/dev/rtc0", O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return json_pack("{s:s+}", "error", "open /dev/rtc0: ", strerror(errno));
	m0 = now_ns(CLOCK_MONOTONIC);
	r = ioctl(fd, RTC_RD_TIME, &rt);
	m1 = now_ns(CLOCK_MONOTONIC);
	close(fd);
	if (r < 0)
		return json_pack("{s:s+}", "error", "RTC_RD_TIME: ", strerror(errno));
	tm.tm_sec = rt.tm_sec;
	tm.tm_min = rt.tm_min;
	tm.tm_hour = rt.tm_hour;
	tm.tm_mday = rt.tm_mday;
	tm.tm_mon = rt.tm_mon;
	tm.tm_year = rt.tm_year;
	return json_pack("{s:I, s:I}", "epoch_s", (json_int_t)timegm(&tm), "read_us",
			 (json_int_t)((m1 - m0) / 1000));
}

static json_t *read_clocks(struct probe_continuity *pc)
{
	char cs[64] = "";
	double hz = tsc_hz(pc);
	long long mono, real, boot;
	unsigned long long tsc;
	json_t *clocks, *hpet;

	hpet_map(pc);
	/* The four together first: their deltas are compared with each other's. */
	mono = now_ns(CLOCK_MONOTONIC);
	real = now_ns(CLOCK_REALTIME);
	boot = now_ns(CLOCK_BOOTTIME);
	tsc = __rdtsc();
	if (pc->hpet) {
		const volatile uint8_t *h = pc->hpet;
		uint64_t cap = *(const volatile uint64_t *)(h + HPET_CAP);
		uint64_t cfg = *(const volatile uint64_t *)(h + HPET_CONFIG);
		uint64_t cnt = *(const volatile uint64_t *)(h + HPET_COUNTER);
		hpet = json_pack("{s:I, s:I, s:b, s:s}", "counter", (json_int_t)(cnt & ((1ULL << 53) - 1)),
				 "period_fs", (json_int_t)(cap >> 32), "enabled", (int)(cfg & 1),
				 "via", pc->hpet_via);
	} else {
		hpet = json_pack("{s:s}", "error", pc->hpet_error);
	}
	probe_read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource", cs,
		       sizeof(cs));
	clocks = json_pack("{s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:s}", "monotonic_ns", (json_int_t)mono,
			   "realtime_ns", (json_int_t)real, "boottime_ns", (json_int_t)boot,
			   /* 2^53 cycles are 35 days at 3 GHz: exact in JSON for a guest's life */
			   "tsc", (json_int_t)(tsc & ((1ULL << 53) - 1)), "tsc_hz", hz, "hpet", hpet,
			   "rtc", read_rtc(), "clocksource", cs);
	if (!clocks)
		abort();
	return clocks;
}

/* --- bounded jobs -------------------------------------------------------- */

/* One exercise run in a helper thread. Owned by both the thread and the
 * waiter (refs); the last to let go frees it. */
struct cont_job {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	int refs;
	bool done;
	int (*fn)(struct cont_job *j);
	bool *busy;             /* the device's busy flag, cleared when the job ends */
	char path[64];
	uint64_t nonce;
	char boot_id[40];
	char msg[256];          /* the error, when fn returns -1 */
};

static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;

static void job_put(struct cont_job *j)
{
	bool last;

	pthread_mutex_lock(&j->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (last) {
		pthread_mutex_destroy(&j->lock);
		pthread_cond_destroy(&j->done_cv);
		free(j);
	}
}

static void *job_thread(void *opaque)
{
	struct cont_job *j = opaque;
	int r = j->fn(j);

	pthread_mutex_lock(&busy_lock);
	*j->busy = false;
	pthread_mutex_unlock(&busy_lock);
	pthread_mutex_lock(&j->lock);
	j->done = true;
	if (r == 0)
		j->msg[0] = '\0';
	pthread_cond_signal(&j->done_cv);
	pthread_mutex_unlock(&j->lock);
	job_put(j);
	return NULL;
}

/* Run j->fn with a deadline. 0: it succeeded; -1: it failed or did not end
 * in time (msg says which). */
static int job_run(struct cont_job *j, int timeout_ms, char *msg, size_t msglen)
{
	struct timespec until;
	pthread_t t;
	pthread_attr_t attr;
	int ret;

	pthread_mutex_lock(&busy_lock);
	if (*j->busy) {
		pthread_mutex_unlock(&busy_lock);
		snprintf(msg, msglen, "an earlier exercise of this device never completed");
		free(j);
		return -1;
	}
	*j->busy = true;
	pthread_mutex_unlock(&busy_lock);
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->done_cv, NULL);
	j->refs = 2;
	snprintf(j->msg, sizeof(j->msg), "failed");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	if (pthread_create(&t, &attr, job_thread, j) != 0) {
		pthread_attr_destroy(&attr);
		snprintf(msg, msglen, "cannot start a thread");
		pthread_mutex_lock(&busy_lock);
		*j->busy = false;
		pthread_mutex_unlock(&busy_lock);
		j->refs = 1;
		job_put(j);
		return -1;
	}
	pthread_attr_destroy(&attr);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->done)
		if (pthread_cond_timedwait(&j->done_cv, &j->lock, &until) == ETIMEDOUT)
			break;
	if (!j->done)
		snprintf(msg, msglen, "no completion within %d ms (the thread stays blocked)",
			 timeout_ms);
	else
		snprintf(msg, msglen, "%s", j->msg);
	ret = j->done && !j->msg[0] ? 0 : -1;
	pthread_mutex_unlock(&j->lock);
	job_put(j);
	return ret;
}

static int job_fail(struct cont_job *j, const char *what)
{
	snprintf(j->msg, sizeof(j->msg), "%s: %s", what, strerror(errno));
	return -1;
}

/* Write a block of the nonce to the disk's last 4 KiB, flush, read it back
 * past the page cache (O_DIRECT) and compare. */
static int block_job(struct cont_job *j)
{
	uint8_t *w = NULL, *r = NULL;
	struct stat st;
	off_t size;
	int fd, ret = -1;

	fd = open(j->path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return job_fail(j, "open");
	if (fstat(fd, &st) < 0 || (size = lseek(fd, 0, SEEK_END)) < 0) {
		ret = job_fail(j, "size");
		goto out;
	}
	if (size < BLOCK_BYTES) {
		snprintf(j->msg, sizeof(j->msg), "the disk has only %lld bytes", (long long)size);
		goto out;
	}
	if (posix_memalign((void **)&w, BLOCK_BYTES, BLOCK_BYTES) ||
	    posix_memalign((void **)&r, BLOCK_BYTES, BLOCK_BYTES)) {
		snprintf(j->msg, sizeof(j->msg), "out of memory");
		goto out;
	}
	for (size_t i = 0; i < BLOCK_BYTES; i += 8) {
		uint64_t v = (j->nonce + i) * 0x9e3779b97f4a7c15ULL;
		memcpy(w + i, &v, 8);
	}
	snprintf((char *)w, 96, "miglab-continuity nonce %llu boot %s\n",
		 (unsigned long long)j->nonce, j->boot_id);
	if (pwrite(fd, w, BLOCK_BYTES, size - BLOCK_BYTES) != BLOCK_BYTES) {
		ret = job_fail(j, "write");
		goto out;
	}
	if (fdatasync(fd) < 0) {
		ret = job_fail(j, "fdatasync");
		goto out;
	}
	memset(r, 0, BLOCK_BYTES);
	if (pread(fd, r, BLOCK_BYTES, size - BLOCK_BYTES) != BLOCK_BYTES) {
		ret = job_fail(j, "read back");
		goto out;
	}
	if (memcmp(w, r, BLOCK_BYTES) != 0) {
		size_t k = 0;
		while (w[k] == r[k])
			k++;
		snprintf(j->msg, sizeof(j->msg), "read back differs from what was written at byte %zu",
			 k);
		goto out;
	}
	ret = 0;
out:
	free(w);
	free(r);
	close(fd);
	return ret;
}

static int rng_job(struct cont_job *j)
{
	uint8_t buf[RNG_BYTES];
	size_t got = 0;
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);
	bool zero = true;

	if (fd < 0)
		return job_fail(j, "open");
	while (got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;
			close(fd);
			errno = err;
			return job_fail(j, "read");
		}
		got += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; i < sizeof(buf); i++)
		zero &= buf[i] == 0;
	if (zero) {
		snprintf(j->msg, sizeof(j->msg), "%d bytes read, all zero", RNG_BYTES);
		return -1;
	}
	return 0;
}

/* --- the exercises ------------------------------------------------------- */

/* The device node of a block device, made from sysfs if devtmpfs has none. */
static void ensure_node(const char *node, const char *sysfs_dev)
{
	char val[32];
	unsigned maj, min;

	if (access(node, F_OK) == 0)
		return;
	if (probe_read_line(sysfs_dev, val, sizeof(val)) == 0 && sscanf(val, "%u:%u", &maj, &min) == 2)
		mknod(node, S_IFBLK | 0600, makedev(maj, min));
}

/* A device's entry: ok or error, ms, its virtio device and interrupts. */
static json_t *exercise_result(const char *virtio, int r, const char *msg, long long t0,
			       long long irq0)
{
	long long irq1 = virtio ? probe_irq_count("/proc/interrupts", virtio) : -1;
	json_t *o = json_pack("{s:b, s:I}", "ok", r == 0,
			      "ms", (json_int_t)((now_ns(CLOCK_MONOTONIC) - t0) / 1000000));

	if (!o)
		abort();
	if (virtio) {
		json_object_set_new(o, "virtio", json_string(virtio));
		json_object_set_new(o, "irq_before", json_integer(irq0));
		json_object_set_new(o, "irq_after", json_integer(irq1));
	}
	if (r == 0 && virtio && irq1 <= irq0) {
		/* It worked, but not through an interrupt of its own: that is
		 * not the device working as the guest relies on it. */
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "error",
				    irq0 < 0 ? json_string("no interrupt line of this device in /proc/interrupts")
					     : json_string("no interrupt delivered during the exercise"));
	} else if (r != 0) {
		json_object_set_new(o, "error", json_string(msg));
	}
	return o;
}

static json_t *exercise_block(struct probe_continuity *pc, const char *boot_id, uint64_t nonce,
			      int timeout_ms)
{
	char virtio[32], dev[64], sysdev[160], msg[256] = "";
	long long t0 = now_ns(CLOCK_MONOTONIC), irq0;
	struct cont_job *j;
	json_t *o;
	int r;

	if (find_virtio("virtio_blk", virtio, sizeof(virtio)) < 0)
		return json_pack("{s:b, s:s, s:i}", "ok", 0, "error", "no virtio_blk device", "ms", 0);
	if (virtio_child(virtio, "block", dev, sizeof(dev)) < 0)
		return json_pack("{s:b, s:s, s:s, s:i}", "ok", 0, "virtio", virtio, "error",
				 "the virtio_blk device has no block device", "ms", 0);
	snprintf(sysdev, sizeof(sysdev), "/sys/block/%s/dev", dev);
	j = calloc(1, sizeof(*j));
	if (!j)
		abort();
	snprintf(j->path, sizeof(j->path), "/dev/%s", dev);
	ensure_node(j->path, sysdev);
	j->fn = block_job;
	j->busy = &pc->block_busy;
	j->nonce = nonce;
	snprintf(j->boot_id, sizeof(j->boot_id), "%s", boot_id);
	irq0 = probe_irq_count("/proc/interrupts", virtio);
	r = job_run(j, timeout_ms, msg, sizeof(msg));
	o = exercise_result(virtio, r, msg, t0, irq0);
	json_object_set_new(o, "device", json_string(dev));
	return o;
}

static json_t *exercise_rng(struct probe_continuity *pc, int timeout_ms)
{
	char virtio[32], cur[64] = "", msg[256] = "";
	long long t0 = now_ns(CLOCK_MONOTONIC), irq0;
	struct cont_job *j;
	json_t *o;
	int r;

	if (find_virtio("virtio_rng", virtio, sizeof(virtio)) < 0)
		return json_pack("{s:b, s:s, s:i}", "ok", 0, "error", "no virtio_rng device", "ms", 0);
	/* /dev/hwrng reads whichever source the kernel chose: it must be ours. */
	probe_read_line("/sys/class/misc/hw_random/rng_current", cur, sizeof(cur));
	if (strncmp(cur, "virtio_rng", 10) != 0)
		return json_pack("{s:b, s:s, s:s+, s:i}", "ok", 0, "virtio", virtio, "error",
				 "the kernel's current hwrng is not virtio: ", cur[0] ? cur : "(none)",
				 "ms", 0);
	j = calloc(1, sizeof(*j));
	if (!j)
		abort();
	snprintf(j->path, sizeof(j->path), "/dev/hwrng");
	j->fn = rng_job;
	j->busy = &pc->rng_busy;
	irq0 = probe_irq_count("/proc/interrupts", virtio);
	r = job_run(j, timeout_ms, msg, sizeof(msg));
	o = exercise_result(virtio, r, msg, t0, irq0);
	json_object_set_new(o, "source", json_string(cur));
	json_object_set_new(o, "bytes", json_integer(RNG_BYTES));
	return o;
}

/* Bring the interface up and ask slirp's gateway for its MAC address from
 * a packet socket: one frame out through the NIC, one back in. */
static int arp_gateway(const char *ifname, int timeout_ms, char *mac_out, size_t maclen,
		       char *msg, size_t msglen)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP) };
	uint8_t frame[ETH_ZLEN] = { 0 };
	struct ether_header *eh = (struct ether_header *)frame;
	struct ether_arp *arp = (struct ether_arp *)(frame + sizeof(*eh));
	struct in_addr me, gw;
	uint8_t mac[ETH_ALEN];
	long long deadline = now_ns(CLOCK_MONOTONIC) + (long long)timeout_ms * 1000000LL, next_send = 0;
	ml_autoclose int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
				     htons(ETH_P_ARP));

	if (fd < 0) {
		snprintf(msg, msglen, "packet socket: %s", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		snprintf(msg, msglen, "SIOCGIFFLAGS %s: %s", ifname, strerror(errno));
		return -1;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
			snprintf(msg, msglen, "bringing %s up: %s", ifname, strerror(errno));
			return -1;
		}
	}
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		snprintf(msg, msglen, "SIOCGIFHWADDR %s: %s", ifname, strerror(errno));
		return -1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		snprintf(msg, msglen, "bind to %s: %s", ifname, strerror(errno));
		return -1;
	}
	inet_aton(SLIRP_GUEST_IP, &me);
	inet_aton(SLIRP_GATEWAY_IP, &gw);
	memset(eh->ether_dhost, 0xff, ETH_ALEN);
	memcpy(eh->ether_shost, mac, ETH_ALEN);
	eh->ether_type = htons(ETHERTYPE_ARP);
	arp->arp_hrd = htons(ARPHRD_ETHER);
	arp->arp_pro = htons(ETHERTYPE_IP);
	arp->arp_hln = ETH_ALEN;
	arp->arp_pln = 4;
	arp->arp_op = htons(ARPOP_REQUEST);
	memcpy(arp->arp_sha, mac, ETH_ALEN);
	memcpy(arp->arp_spa, &me, 4);
	memcpy(arp->arp_tpa, &gw, 4);
	sll.sll_halen = ETH_ALEN;
	memset(sll.sll_addr, 0xff, ETH_ALEN);
	for (;;) {
		long long now = now_ns(CLOCK_MONOTONIC);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint8_t in[1600];
		ssize_t n;

		if (now >= deadline) {
			snprintf(msg, msglen, "no ARP reply from %s within %d ms", SLIRP_GATEWAY_IP,
				 timeout_ms);
			return -1;
		}
		/* A frame may be lost while the link comes up: ask again. */
		if (now >= next_send) {
			if (sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll)) < 0 &&
			    errno != EAGAIN) {
				snprintf(msg, msglen, "send: %s", strerror(errno));
				return -1;
			}
			next_send = now + ARP_RESEND_MS * 1000000LL;
		}
		if (poll(&p, 1, ARP_RESEND_MS) <= 0)
			continue;
		while ((n = recv(fd, in, sizeof(in), 0)) > 0) {
			const struct ether_arp *a = (const struct ether_arp *)(in + sizeof(*eh));
			if ((size_t)n < sizeof(*eh) + sizeof(*a) || ntohs(a->arp_op) != ARPOP_REPLY ||
			    memcmp(a->arp_spa, &gw, 4) != 0 || memcmp(a->arp_tha, mac, ETH_ALEN) != 0)
				continue;
			snprintf(mac_out, maclen, "%02x:%02x:%02x:%02x:%02x:%02x", a->arp_sha[0],
				 a->arp_sha[1], a->arp_sha[2], a->arp_sha[3], a->arp_sha[4], a->arp_sha[5]);
			return 0;
		}
	}
}

static json_t *exercise_net(int timeout_ms)
{
	char virtio[32], ifname[IFNAMSIZ + 1], mac[32] = "", msg[256] = "";
	long long t0 = now_ns(CLOCK_MONOTONIC), irq0;
	json_t *o;
	int r;

	if (find_virtio("virtio_net", virtio, sizeof(virtio)) < 0)
		return json_pack("{s:b, s:s, s:i}", "ok", 0, "error", "no virtio_net device", "ms", 0);
	if (virtio_child(virtio, "net", ifname, sizeof(ifname)) < 0)
		return json_pack("{s:b, s:s, s:s, s:i}", "ok", 0, "virtio", virtio, "error",
				 "the virtio_net device has no interface", "ms", 0);
	irq0 = probe_irq_count("/proc/interrupts", virtio);
	r = arp_gateway(ifname, timeout_ms, mac, sizeof(mac), msg, sizeof(msg));
	o = exercise_result(virtio, r, msg, t0, irq0);
	json_object_set_new(o, "interface", json_string(ifname));
	if (r == 0)
		json_object_set_new(o, "gateway_mac", json_string(mac));
	return o;
}

/* Write the nonce line on the serial console and wait until the UART has
 * taken every byte (TIOCOUTQ 0). The port stays open: closing a tty waits
 * for its output to drain, unbounded when the UART is dead. The host finds
 * the line in the console log. */
static json_t *exercise_console(struct probe_continuity *pc, uint64_t nonce, int timeout_ms)
{
	char line[96], msg[160] = "";
	long long t0 = now_ns(CLOCK_MONOTONIC);
	long long deadline = t0 + (long long)timeout_ms * 1000000LL;
	long long irq0 = probe_irq_count("/proc/interrupts", "ttyS0");
	int len = snprintf(line, sizeof(line), "miglab-probe: continuity %llu\n",
			   (unsigned long long)nonce), done = 0, r = -1;
	json_t *o;

	if (pc->console_fd < 0)
		pc->console_fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (pc->console_fd < 0) {
		snprintf(msg, sizeof(msg), "open /dev/ttyS0: %s", strerror(errno));
		goto out;
	}
	while (done < len) {
		ssize_t n = write(pc->console_fd, line + done, (size_t)(len - done));
		struct pollfd p = { .fd = pc->console_fd, .events = POLLOUT };

		if (n > 0) {
			done += (int)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(msg, sizeof(msg), "write: %s", strerror(errno));
			goto out;
		}
		if (now_ns(CLOCK_MONOTONIC) >= deadline) {
			snprintf(msg, sizeof(msg), "the console took %d of %d bytes in %d ms", done, len,
				 timeout_ms);
			goto out;
		}
		poll(&p, 1, 10);
	}
	for (;;) {
		int queued = 0;
		struct timespec ts = { 0, 2 * 1000000L };

		if (ioctl(pc->console_fd, TIOCOUTQ, &queued) < 0) {
			snprintf(msg, sizeof(msg), "TIOCOUTQ: %s", strerror(errno));
			goto out;
		}
		if (queued == 0)
			break;
		if (now_ns(CLOCK_MONOTONIC) >= deadline) {
			snprintf(msg, sizeof(msg), "%d bytes still queued for the UART after %d ms",
				 queued, timeout_ms);
			goto out;
		}
		nanosleep(&ts, NULL);
	}
	r = 0;
out:
	o = json_pack("{s:b, s:I, s:s#}", "ok", r == 0,
		      "ms", (json_int_t)((now_ns(CLOCK_MONOTONIC) - t0) / 1000000), "line", line,
		      (int)(len - 1));
	if (!o)
		abort();
	if (r != 0)
		json_object_set_new(o, "error", json_string(msg));
	/* The UART's line in /proc/interrupts is informative only: the 8250
	 * may send without its interrupt (the console path polls). */
	json_object_set_new(o, "irq_before", json_integer(irq0));
	json_object_set_new(o, "irq_after", json_integer(probe_irq_count("/proc/interrupts", "ttyS0")));
	return o;
}

/* --- the command --------------------------------------------------------- */

static long long int_field(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

void probe_continuity_init(struct probe_continuity *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->console_fd = -1;
#ifndef MIGLAB_PROBE_DEBUG
	pc->devices = true;
#endif
}

json_t *probe_continuity(struct probe_continuity *pc, const char *boot_id, uint64_t nonce,
			 int timeout_ms)
{
	long long t0 = now_ns(CLOCK_MONOTONIC), t1;
	json_t *ret, *devices = json_object();

	ret = json_pack("{s:o, s:I}", "clocks", read_clocks(pc), "nonce", (json_int_t)nonce);
	if (!ret || !devices)
		abort();
	t1 = now_ns(CLOCK_MONOTONIC);
	if (pc->devices) {
		json_object_set_new(devices, "block", exercise_block(pc, boot_id, nonce, timeout_ms));
		json_object_set_new(devices, "rng", exercise_rng(pc, timeout_ms));
		json_object_set_new(devices, "net", exercise_net(timeout_ms));
		json_object_set_new(devices, "console", exercise_console(pc, nonce, timeout_ms));
	} else {
		/* The test build runs on a real host: its devices are not ours. */
		json_object_set_new(ret, "devices_skipped",
				    json_string("test build: the host's devices are not touched"));
	}
	json_object_set_new(ret, "devices", devices);
	json_object_set_new(ret, "clocks_ms", json_integer((t1 - t0) / 1000000));
	/* How long before the reply the clocks were read: the host places the
	 * reading between its request and (its reply minus this). */
	json_object_set_new(ret, "clocks_age_us",
			    json_integer((now_ns(CLOCK_MONOTONIC) -
					  int_field(json_object_get(ret, "clocks"), "monotonic_ns")) /
					 1000));
	return ret;
}
