/* run.json, its one writer (see run-file.h). */
#include <string.h>

#include "ml-layout.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "result.h"
#include "run-file.h"
#include "ml-common.h"

static const char *const judged_keys[] = { "cells", "counts", "judgements", "unsound_builds", "machine_abi",
					   "judged_at" };

json_t *ml_run_file_load(const char *run_dir)
{
	ml_autofree char *path = ml_layout_file(run_dir, ML_LAYOUT_RUN_FILE);
	json_t *doc = ml_json_load_file(path, 64 << 20);

	if (doc && !json_is_object(doc)) {
		json_decref(doc);
		ml_error("%s is not a JSON object", path);
		return NULL;
	}
	return doc;
}

int ml_run_file_write(const char *run_dir, json_t *facts, json_t *judged)
{
	ml_autofree char *path = ml_layout_file(run_dir, ML_LAYOUT_RUN_FILE);
	json_t *old = judged ? NULL : (ml_path_exists(path) ? ml_run_file_load(run_dir) : NULL);
	json_t *doc = json_deep_copy(facts);
	int ret;

	ml_error_reset();
	if (!json_object_get(doc, "schema"))
		ml_json_set_str(doc, "schema", ML_RUN_SCHEMA);
	for (size_t i = 0; i < ML_ARRAY_SIZE(judged_keys); i++) {
		json_t *from = judged ? judged : old;
		json_t *v = from ? json_object_get(from, judged_keys[i]) : NULL;
		json_object_del(doc, judged_keys[i]);
		if (v)
			ml_json_set(doc, judged_keys[i], json_deep_copy(v));
	}
	if (!json_object_get(doc, "cells"))
		ml_json_set(doc, "cells", json_array());
	ret = ml_json_write_file(path, doc);
	json_decref(doc);
	json_decref(old);
	return ret;
}
