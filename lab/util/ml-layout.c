/* The results layout (see layout.h). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ml-layout.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-common.h"

bool ml_layout_valid_cell_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > ML_LAYOUT_CELL_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '+' || ch == '-'))
			return false;
	}
	return true;
}

char *ml_layout_cell_dir(const char *run_dir, const char *cell_id)
{
	return ml_strdup_printf("%s/" ML_LAYOUT_CELLS_DIR "/%s", run_dir, cell_id);
}

char *ml_layout_attempt_dir(const char *cell_dir, int n)
{
	return ml_strdup_printf("%s/" ML_LAYOUT_ATTEMPTS_DIR "/%d", cell_dir, n);
}

char *ml_layout_file(const char *dir, const char *file)
{
	return ml_path_join(dir, file);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int ml_layout_list_attempts(const char *cell_dir, int **numbers, size_t *n)
{
	ml_autofree char *dir = ml_path_join(cell_dir, ML_LAYOUT_ATTEMPTS_DIR);
	DIR *d = opendir(dir);
	struct dirent *e;
	int *v = NULL;
	size_t k = 0;

	*numbers = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		ml_error_errno(errno, "cannot read %s", dir);
		return -1;
	}
	while ((e = readdir(d))) {
		char *end;
		long num = strtol(e->d_name, &end, 10);
		if (e->d_name[0] < '1' || e->d_name[0] > '9' || *end || num > ML_LAYOUT_MAX_ATTEMPTS)
			continue;
		if (k == ML_LAYOUT_MAX_ATTEMPTS)
			break;
		if (!v && !(v = calloc(ML_LAYOUT_MAX_ATTEMPTS, sizeof(*v))))
			abort();
		v[k++] = (int)num;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof(*v), cmp_int);
	*numbers = v;
	*n = k;
	return 0;
}

char *ml_layout_evidence_dir(const char *cell_dir, const json_t *cell_doc)
{
	const char *rel = ml_json_str(cell_doc, "evidence_dir");

	/* Only "attempts/<N>": never a path that leaves the cell directory. */
	if (rel && strncmp(rel, ML_LAYOUT_ATTEMPTS_DIR "/", sizeof(ML_LAYOUT_ATTEMPTS_DIR)) == 0 &&
	    rel[sizeof(ML_LAYOUT_ATTEMPTS_DIR)] >= '1' && rel[sizeof(ML_LAYOUT_ATTEMPTS_DIR)] <= '9' &&
	    strspn(rel + sizeof(ML_LAYOUT_ATTEMPTS_DIR), "0123456789") ==
		    strlen(rel + sizeof(ML_LAYOUT_ATTEMPTS_DIR)))
		return ml_path_join(cell_dir, rel);
	return strdup(cell_dir);
}
