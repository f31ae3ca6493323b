/* The heartbeat: a thread that counts 10 ms ticks. The host reads the count
 * before and after a migration: it must keep increasing on the destination,
 * and it restarts from 0 (with a new boot_id) only if the guest rebooted.
 * Sleeps are relative, so the count follows the time the guest actually ran
 * and does not burst to catch up after a pause. */
#include <errno.h>
#include <time.h>

#include "probe.h"
#include "ml-common.h"

#define HEARTBEAT_STACK (64 * 1024)
#define LATE_MS 100

/* The agent's clocks live with the heartbeat, which is their main user. */
static long long clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long probe_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

long long probe_boottime_ms(void)
{
	return clock_ms(CLOCK_BOOTTIME);
}

static void *heartbeat_thread(void *opaque)
{
	struct probe_heartbeat *hb = opaque;
	long long prev = probe_mono_ms();

	for (;;) {
		struct timespec ts = { 0, PROBE_HEARTBEAT_MS * 1000000L };
		long long now, gap;

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		now = probe_mono_ms();
		gap = now - prev;
		prev = now;
		if (gap > 0 && (uint64_t)gap > __atomic_load_n(&hb->max_gap_ms, __ATOMIC_RELAXED))
			__atomic_store_n(&hb->max_gap_ms, (uint64_t)gap, __ATOMIC_RELAXED);
		if (gap > LATE_MS)
			__atomic_add_fetch(&hb->late_ticks, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&hb->count, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

int probe_heartbeat_start(struct probe_heartbeat *hb)
{
	pthread_attr_t attr;
	int err;

	hb->count = 0;
	hb->max_gap_ms = 0;
	hb->late_ticks = 0;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, HEARTBEAT_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&hb->thread, &attr, heartbeat_thread, hb);
	pthread_attr_destroy(&attr);
	if (err) {
		errno = err;
		return -1;
	}
	hb->started = true;
	return 0;
}

uint64_t probe_heartbeat_count(const struct probe_heartbeat *hb)
{
	return __atomic_load_n(&hb->count, __ATOMIC_SEQ_CST);
}
