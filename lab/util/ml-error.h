/* miglab's one error convention (after libvirt): a function that fails reports
 * the error where it happens with ml_error()/ml_error_errno() and returns -1;
 * callers add context with ml_error_context() or pass -1 up. The last report
 * of the calling thread is kept with its file, function and line. */
#ifndef ML_ERROR_H
#define ML_ERROR_H

#include <stdarg.h>

void ml_error_report(const char *file, const char *func, int line, int errnum,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define ml_error(...) ml_error_report(__FILE__, __func__, __LINE__, 0, __VA_ARGS__)
/* Appends ": strerror(err)" to the message. */
#define ml_error_errno(err, ...)                                               \
	ml_error_report(__FILE__, __func__, __LINE__, (err), __VA_ARGS__)

/* Prefix the last error with "<context>: ". Returns -1 for tail calls:
 * `return ml_error_context("reading %s", path);` */
int ml_error_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The message of the last report on this thread, or "unknown error". */
const char *ml_error_message(void);
/* "file:line (func)" of the last report, or "". */
const char *ml_error_origin(void);
void ml_error_reset(void);

/* Print the last error as "miglab: <message>" on stderr (and its origin when
 * MIGLAB_DEBUG is set). */
void ml_error_print(void);

#endif
