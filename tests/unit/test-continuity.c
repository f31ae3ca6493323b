/* The continuity comparison (lab/continuity.h): two readings in the shape
 * of the probe's continuity reply (docs/probe-protocol.md) plus the host's
 * times, judged against the host's elapsed time and the downtime. */
#include <string.h>

#include <jansson.h>

#include "continuity.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

#define MS 1000000LL /* ns */
#define TSC_HZ 2000000000.0

/* A reading whose guest clocks stand at guest_ms (monotonic; realtime and
 * boottime offset from it), taken by a request sent at host_ms and
 * answered 10 ms later; the HPET counts 10 ns ticks, the RTC whole
 * seconds. Devices all ok. */
static json_t *reading(long long host_ms, long long guest_ms)
{
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:f, s:{s:I, s:I, s:b}, s:{s:I}}, s:I,"
			 " s:{s:{s:b, s:s}, s:{s:b, s:s}, s:{s:b}}, s:{s:I, s:I}}",
			 "clocks", "monotonic_ns", (json_int_t)(guest_ms * MS),
			 "realtime_ns", (json_int_t)(1700000000000LL * MS + guest_ms * MS),
			 "boottime_ns", (json_int_t)(guest_ms * MS + 5 * MS),
			 "tsc", (json_int_t)((double)guest_ms * TSC_HZ / 1000.0), "tsc_hz", TSC_HZ,
			 "hpet", "counter", (json_int_t)(guest_ms * 100000), "period_fs",
			 (json_int_t)10000000, "enabled", 1,
			 "rtc", "epoch_s", (json_int_t)(1700000000LL + (guest_ms + 400) / 1000),
			 "clocks_age_us", (json_int_t)2000,
			 "devices", "block", "ok", 1, "virtio", "virtio3", "rng", "ok", 1, "virtio",
			 "virtio1", "console", "ok", 1,
			 "host", "sent_ns", (json_int_t)(host_ms * MS), "received_ns",
			 (json_int_t)(host_ms * MS + 10 * MS));
}

static json_t *clocks_of(json_t *r)
{
	return json_object_get(r, "clocks");
}

static json_t *compare(const json_t *b, const json_t *a, long long downtime)
{
	json_t *out = ml_continuity_compare(b, a, downtime, &ml_continuity_default_tolerance);
	assert_non_null(out);
	return out;
}

/* The problems as "kind:what" joined by spaces. */
static char *problem_list(const json_t *out)
{
	char buf[512] = "";
	size_t i, used = 0;
	json_t *p;

	json_array_foreach(json_object_get(out, "problems"), i, p)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s:%s", i ? " " : "",
					 ml_json_str(p, "kind"), ml_json_str(p, "what"));
	return strdup(buf);
}

/* What a control cell shows under TCG: the guest's clocks paused for the
 * downtime and a little more; the RTC, which follows the host, did not. */
static void test_continuous(void **state)
{
	json_auto_t *b = reading(10000, 5000);
	json_auto_t *a = reading(17500, 5000 + 7500 - 230);
	json_auto_t *out = NULL;
	ml_autofree char *probs = NULL;
	json_t *mono;
	(void)state;

	json_object_set_new(clocks_of(a), "rtc", json_pack("{s:I}", "epoch_s",
							   (json_int_t)(1700000000LL + 13)));
	out = compare(b, a, 180);
	probs = problem_list(out);
	assert_string_equal(probs, "");
	mono = json_object_get(json_object_get(out, "clocks"), "monotonic");
	assert_int_equal(ml_json_int(mono, "delta_ms", -1), 7270);
	/* The host: from the first reply (less the clock age) to the second
	 * request, and from the first request to the second reply. */
	assert_int_equal(json_integer_value(json_array_get(json_object_get(out, "host_elapsed_ms"), 0)),
			 7492);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(out, "host_elapsed_ms"), 1)),
			 7508);
	assert_int_equal(ml_json_int(mono, "beyond_downtime_ms", -1), 50);
	/* Every clock was judged. */
	assert_int_equal(json_object_size(json_object_get(out, "clocks")), 6);
}

static void test_clock_backwards(void **state)
{
	json_auto_t *b = reading(10000, 5000);
	json_auto_t *a = reading(12000, 7000);
	json_auto_t *out = NULL;
	ml_autofree char *probs = NULL;
	(void)state;

	/* realtime stepped back one second in the guest. */
	json_object_set_new(clocks_of(a), "realtime_ns",
			    json_integer((json_int_t)(1700000000000LL * MS + 4000 * MS)));
	out = compare(b, a, 100);
	probs = problem_list(out);
	assert_string_equal(probs, "clock-jump:realtime");
	assert_non_null(strstr(ml_json_str(json_array_get(json_object_get(out, "problems"), 0), "text"),
			       "the guest's realtime clock went back 1000 ms"));
}

/* A TSC that jumped ahead (an offset lost), an HPET that stood still (a
 * counter that did not migrate), a monotonic clock that lagged far beyond
 * the downtime. */
static void test_clock_jumps(void **state)
{
	json_auto_t *b = reading(10000, 5000);
	json_auto_t *a = reading(12000, 7000);
	json_auto_t *out = NULL;
	ml_autofree char *probs = NULL;
	(void)state;

	json_object_set_new(clocks_of(a), "tsc", json_integer((json_int_t)(95000.0 * TSC_HZ / 1000.0)));
	json_object_set(json_object_get(clocks_of(a), "hpet"), "counter",
			json_object_get(json_object_get(clocks_of(b), "hpet"), "counter"));
	json_object_set_new(clocks_of(a), "monotonic_ns", json_integer((json_int_t)(5100 * MS)));
	out = compare(b, a, 100);
	probs = problem_list(out);
	assert_string_equal(probs, "clock-jump:monotonic clock-jump:tsc clock-jump:hpet");
}

/* Near the edges: a lag of downtime + tolerance passes, a little more
 * does not; a lead beyond the tolerance does not. */
static void test_tolerance_edges(void **state)
{
	const struct ml_continuity_tolerance *tol = &ml_continuity_default_tolerance;
	json_auto_t *b = reading(10000, 5000);
	json_auto_t *ok = reading(20000, 5000 + 10000 - 300 - tol->behind_ms + 20);
	json_auto_t *late = reading(20000, 5000 + 10000 - 300 - tol->behind_ms - 30);
	json_auto_t *ahead = reading(20000, 5000 + 10000 + tol->ahead_ms + 30);
	json_auto_t *o1 = NULL, *o2 = NULL, *o3 = NULL;
	ml_autofree char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	(void)state;

	o1 = compare(b, ok, 300);
	o2 = compare(b, late, 300);
	o3 = compare(b, ahead, 300);
	p1 = problem_list(o1);
	p2 = problem_list(o2);
	p3 = problem_list(o3);
	assert_string_equal(p1, "");
	assert_string_equal(p2, "clock-jump:monotonic clock-jump:realtime clock-jump:boottime "
				"clock-jump:tsc clock-jump:hpet");
	assert_string_equal(p3, "clock-jump:monotonic clock-jump:realtime clock-jump:boottime "
				"clock-jump:tsc clock-jump:hpet");
}

/* A disabled HPET and a clock the guest could not read are not judged. */
static void test_unreadable_clocks(void **state)
{
	json_auto_t *b = reading(10000, 5000);
	json_auto_t *a = reading(12000, 7000);
	json_auto_t *out = NULL;
	ml_autofree char *probs = NULL;
	(void)state;

	json_object_set_new(json_object_get(clocks_of(b), "hpet"), "enabled", json_false());
	json_object_set_new(json_object_get(clocks_of(a), "hpet"), "counter", json_integer(0));
	json_object_set_new(clocks_of(a), "rtc", json_pack("{s:s}", "error", "open /dev/rtc0: ENOENT"));
	out = compare(b, a, 100);
	probs = problem_list(out);
	assert_string_equal(probs, "");
	assert_null(json_object_get(json_object_get(out, "clocks"), "hpet"));
	assert_null(json_object_get(json_object_get(out, "clocks"), "rtc"));
}

/* A device ok before and not after is dead (named with its virtio device
 * and error); one that failed before is listed, not judged; one missing
 * after is dead too. */
static void test_devices(void **state)
{
	json_auto_t *b = reading(10000, 5000);
	json_auto_t *a = reading(12000, 7000);
	json_auto_t *out = NULL;
	ml_autofree char *probs = NULL;
	json_t *devs_b = json_object_get(b, "devices"), *devs_a = json_object_get(a, "devices");
	(void)state;

	json_object_set_new(devs_a, "rng", json_pack("{s:b, s:s, s:s}", "ok", 0, "virtio", "virtio1",
						     "error", "no interrupt delivered during the exercise"));
	json_object_set_new(devs_b, "net", json_pack("{s:b, s:s}", "ok", 0, "error", "no ARP reply"));
	json_object_del(devs_a, "console");
	out = compare(b, a, 100);
	probs = problem_list(out);
	assert_string_equal(probs, "device-dead:rng device-dead:console");
	assert_string_equal(ml_json_str(json_array_get(json_object_get(out, "problems"), 0), "text"),
			    "rng (virtio1): no interrupt delivered during the exercise");
	assert_string_equal(ml_json_str(json_array_get(json_object_get(out, "problems"), 1), "text"),
			    "console: no result after the migration");
	assert_int_equal(json_array_size(json_object_get(out, "not_working_before")), 1);
	assert_string_equal(ml_json_str(json_array_get(json_object_get(out, "not_working_before"), 0),
					"device"), "net");
}

/* A reading without the host's times cannot be placed in time. */
static void test_no_host_times(void **state)
{
	json_auto_t *b = reading(10000, 5000);
	json_auto_t *a = reading(12000, 7000);
	json_auto_t *out = NULL;
	ml_autofree char *probs = NULL;
	(void)state;

	json_object_del(a, "host");
	out = compare(b, a, 100);
	probs = problem_list(out);
	assert_string_equal(probs, "clock-jump:host");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_continuous),
		cmocka_unit_test(test_clock_backwards),
		cmocka_unit_test(test_clock_jumps),
		cmocka_unit_test(test_tolerance_edges),
		cmocka_unit_test(test_unreadable_clocks),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_no_host_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
