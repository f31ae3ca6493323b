/* Thread-local storage of the last reported error (see ml-error.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ml-error.h"
#include "ml-common.h"

#define ML_ERROR_MAX 4096

static _Thread_local char error_message[ML_ERROR_MAX];
static _Thread_local char error_origin[256];
static _Thread_local int error_set;

void ml_error_report(const char *file, const char *func, int line, int errnum,
		     const char *fmt, ...)
{
	int saved_errno = errno; /* callers still look at errno after reporting */
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(error_message, sizeof(error_message), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (errnum && (size_t)n < sizeof(error_message))
		snprintf(error_message + n, sizeof(error_message) - (size_t)n,
			 ": %s", strerror(errnum));
	snprintf(error_origin, sizeof(error_origin), "%s:%d (%s)", file, line, func);
	error_set = 1;
	if (getenv("MIGLAB_DEBUG"))
		fprintf(stderr, "miglab: debug: %s: %s\n", error_origin, error_message);
	errno = saved_errno;
}

int ml_error_context(const char *fmt, ...)
{
	char prefix[1024];
	char old[ML_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, error_set ? error_message : "unknown error",
	       error_set ? sizeof(old) : sizeof("unknown error"));
	old[sizeof(old) - 1] = '\0';
	snprintf(error_message, sizeof(error_message), "%s: %s", prefix, old);
	error_set = 1;
	return -1;
}

const char *ml_error_message(void)
{
	return error_set ? error_message : "unknown error";
}

const char *ml_error_origin(void)
{
	return error_set ? error_origin : "";
}

void ml_error_reset(void)
{
	error_set = 0;
	error_message[0] = '\0';
	error_origin[0] = '\0';
}

void ml_error_print(void)
{
	fprintf(stderr, "miglab: error: %s\n", ml_error_message());
	if (getenv("MIGLAB_DEBUG") && error_set)
		fprintf(stderr, "miglab: (reported at %s)\n", error_origin);
}
