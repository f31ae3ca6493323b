/* Common helpers every miglab source file includes last: cleanup attributes,
 * ownership transfer, and the list of banned unsafe functions. */
#ifndef ML_COMMON_H
#define ML_COMMON_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ML_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Return *pp and set it to NULL: hands ownership to the caller explicitly. */
#define ml_steal_pointer(pp)                                                   \
	({                                                                     \
		__typeof__(*(pp)) ml_tmp_ = *(pp);                             \
		*(pp) = NULL;                                                  \
		ml_tmp_;                                                       \
	})

/* Return *fdp and set it to -1. */
static inline int ml_steal_fd(int *fdp)
{
	int fd = *fdp;
	*fdp = -1;
	return fd;
}

static inline void ml_freep(void *p)
{
	free(*(void **)p);
}

static inline void ml_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* Two strings equal, and neither NULL (a missing JSON member is not equal
 * to anything). */
static inline bool ml_str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

#define ml_autofree __attribute__((cleanup(ml_freep)))
#define ml_autoclose __attribute__((cleanup(ml_closep)))

/* Banned functions (as git does): unbounded copies and formats, a tokenizer
 * with hidden state, and shell command lines. Use snprintf/ml_buf, strtok_r,
 * and argv arrays through ml_proc instead. */
#define ML_BANNED(func) sorry_##func##_is_banned_in_miglab
#undef strcpy
#define strcpy(x, y) ML_BANNED(strcpy)
#undef strcat
#define strcat(x, y) ML_BANNED(strcat)
#undef sprintf
#define sprintf(...) ML_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) ML_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) ML_BANNED(strtok)
#undef system
#define system(x) ML_BANNED(system)
#undef gets
#define gets(x) ML_BANNED(gets)

#endif
