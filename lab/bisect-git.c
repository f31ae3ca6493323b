/* The git side of `miglab bisect` (bisect.h): git: provider specs, running
 * git from argv arrays, resolving refs, and reading git bisect's answers. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "bisect.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-proc.h"
#include "ml-common.h"

#define GIT_PROGRAM "/usr/bin/git"
#define GIT_OUTPUT_LIMIT ((size_t)4 << 20)
/* A clone of a big repository over a slow disk; git bisect itself is quick. */
#define GIT_TIMEOUT_MS (30 * 60 * 1000)
#define GIT_MAX_ARGS 32
#define PATCH_PREFIX "+patch:"

int ml_bisect_parse_git_spec(const char *spec, struct ml_bisect_git_spec *out)
{
	const char *body, *patches, *at = NULL;

	memset(out, 0, sizeof(*out));
	/* source: is the git: provider's older name (lab/source-build.h) */
	if (strncmp(spec, "git:", 4) == 0) {
		body = spec + 4;
	} else if (strncmp(spec, "source:", 7) == 0) {
		body = spec + 7;
	} else {
		ml_error("'%s' is not a git: provider (expected git:DIR@REF[+patch:/abs/file.patch]...)",
			 spec);
		return -1;
	}
	patches = strstr(body, PATCH_PREFIX);
	if (!patches)
		patches = body + strlen(body);
	for (const char *p = body; p < patches; p++)
		if (*p == '@')
			at = p;
	if (!at || at == body || at + 1 == patches) {
		ml_error("'%s' needs a directory and a ref: git:DIR@REF", spec);
		return -1;
	}
	if (body[0] != '/') {
		ml_error("'%s': the git directory must be an absolute path", spec);
		return -1;
	}
	if (at[1] == '-') {
		ml_error("'%s': a ref cannot start with '-'", spec);
		return -1;
	}
	out->dir = strndup(body, (size_t)(at - body));
	out->ref = strndup(at + 1, (size_t)(patches - at - 1));
	out->patches = strdup(patches);
	if (!out->dir || !out->ref || !out->patches)
		abort();
	/* "/repo/" and "/repo" are one directory */
	for (size_t n = strlen(out->dir); n > 1 && out->dir[n - 1] == '/'; n--)
		out->dir[n - 1] = '\0';
	return 0;
}

void ml_bisect_git_spec_clear(struct ml_bisect_git_spec *s)
{
	free(s->dir);
	free(s->ref);
	free(s->patches);
	memset(s, 0, sizeof(*s));
}

char *ml_bisect_commit_spec(const struct ml_bisect_git_spec *s, const char *commit)
{
	return ml_strdup_printf("git:%s@%s%s", s->dir, commit, s->patches ? s->patches : "");
}

/* ---- running git ---------------------------------------------------------- */

int ml_bisect_git(const char *dir, const char *const *args, char **out, char **err_out)
{
	const char *argv[GIT_MAX_ARGS + 4] = { GIT_PROGRAM, "-C", dir };
	/* English messages to parse; no prompt for credentials; HOME for the
	 * user's safe.directory and identity settings. */
	ml_autofree char *home = ml_strdup_printf("HOME=%s", getenv("HOME") ? getenv("HOME") : "/");
	const char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "GIT_TERMINAL_PROMPT=0",
			       home, NULL };
	struct ml_buf o = ML_BUF_INIT(GIT_OUTPUT_LIMIT), e = ML_BUF_INIT(GIT_OUTPUT_LIMIT);
	struct ml_proc_spec spec = { .argv = argv, .envp = envp, .stdin_fd = -1 };
	size_t n = 3;
	int status;

	for (size_t i = 0; args[i]; i++) {
		if (n == GIT_MAX_ARGS + 3) {
			ml_error("too many arguments for git");
			return -1;
		}
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	if (ml_proc_run(&spec, GIT_TIMEOUT_MS, &o, &e, &status) < 0) {
		ml_buf_free(&o);
		ml_buf_free(&e);
		return ml_error_context("running git %s", args[0]);
	}
	if (out)
		*out = ml_buf_steal(&o);
	if (err_out)
		*err_out = ml_buf_steal(&e);
	ml_buf_free(&o);
	ml_buf_free(&e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The first line of git's stderr, for an error message. */
static const char *first_line(char *text)
{
	char *nl = text ? strchr(text, '\n') : NULL;
	if (nl)
		*nl = '\0';
	return text && *text ? text : "no message";
}

static bool is_hex_commit(const char *s, size_t len)
{
	if (len != 40 && len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

int ml_bisect_resolve(const char *dir, const char *ref, char sha[65])
{
	ml_autofree char *arg = ml_strdup_printf("%s^{commit}", ref);
	const char *args[] = { "rev-parse", "--verify", "--quiet", "--end-of-options", arg, NULL };
	ml_autofree char *out = NULL;
	ml_autofree char *err = NULL;
	size_t len;
	int rc;

	sha[0] = '\0';
	rc = ml_bisect_git(dir, args, &out, &err);
	if (rc < 0)
		return -1;
	if (rc == 128) {
		ml_error("%s is not a git repository: %s", dir, first_line(err));
		return -1;
	}
	len = strcspn(out, "\n");
	if (rc != 0 || !is_hex_commit(out, len)) {
		ml_error("'%s' names no commit in %s", ref, dir);
		return -1;
	}
	memcpy(sha, out, len);
	sha[len] = '\0';
	return 0;
}

int ml_bisect_is_ancestor(const char *dir, const char *a, const char *b)
{
	const char *args[] = { "merge-base", "--is-ancestor", a, b, NULL };
	ml_autofree char *err = NULL;
	int rc = ml_bisect_git(dir, args, NULL, &err);

	if (rc == 0 || rc == 1)
		return rc == 0;
	if (rc > 1)
		ml_error("git merge-base --is-ancestor %s %s in %s: %s", a, b, dir, first_line(err));
	return -1;
}

/* ---- git bisect's answers ------------------------------------------------ */

/* The commit id at the start of line, its length (0 when there is none). */
static size_t commit_at(const char *line)
{
	size_t n = 0;
	while (isxdigit((unsigned char)line[n]) && !isupper((unsigned char)line[n]))
		n++;
	return is_hex_commit(line, n) ? n : 0;
}

static void add_candidate(struct ml_bisect_answer *a, const char *line, size_t n)
{
	a->candidates = realloc(a->candidates, (a->n_candidates + 1) * sizeof(*a->candidates));
	if (!a->candidates)
		abort();
	memcpy(a->candidates[a->n_candidates], line, n);
	a->candidates[a->n_candidates++][n] = '\0';
}

/* After "The first bad commit could be any of:", one commit per line until
 * "We cannot bisect more!". */
static void parse_candidates(const char *text, struct ml_bisect_answer *a)
{
	const char *p = strstr(text, "could be any of:");

	p = p ? strchr(p, '\n') : NULL;
	while (p && *p) {
		size_t n;
		p++;
		n = commit_at(p);
		if (!n)
			break;
		add_candidate(a, p, n);
		p = strchr(p, '\n');
	}
}

int ml_bisect_parse_answer(const char *text, struct ml_bisect_answer *out)
{
	const char *found;

	memset(out, 0, sizeof(*out));
	if (!text)
		text = "";
	/* "<commit> is the first bad commit" starts a line */
	for (found = strstr(text, " is the first bad commit"); found;
	     found = strstr(found + 1, " is the first bad commit")) {
		const char *line = found;
		while (line > text && line[-1] != '\n')
			line--;
		if (commit_at(line) == (size_t)(found - line)) {
			memcpy(out->first_bad, line, (size_t)(found - line));
			out->first_bad[found - line] = '\0';
			out->status = ML_BISECT_FOUND;
			return 0;
		}
	}
	if (strstr(text, "There are only 'skip'ped commits left to test.")) {
		out->status = ML_BISECT_ONLY_SKIPPED;
		parse_candidates(text, out);
		if (out->n_candidates)
			return 0;
		ml_bisect_answer_clear(out);
		ml_error("git bisect says only skipped commits are left but names none:\n%s", text);
		return -1;
	}
	if (strncmp(text, "Bisecting: ", 11) == 0 || strstr(text, "\nBisecting: ")) {
		out->status = ML_BISECT_CONTINUE;
		return 0;
	}
	ml_error("unexpected answer from git bisect:\n%s", text);
	return -1;
}

void ml_bisect_answer_clear(struct ml_bisect_answer *a)
{
	free(a->candidates);
	memset(a, 0, sizeof(*a));
}
