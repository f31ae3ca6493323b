/* libFuzzer target: the matrix file parser (matrix/matrix.c,
 * ml_matrix_parse on the bytes as the text of a .ini file), then the
 * lookups on what it accepted. Any crash, leak or sanitizer report is a
 * parser bug. */
#include <stddef.h>
#include <stdint.h>

#include "matrix.h"
#include "ml-error.h"
#include "ml-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ml_matrix m;

	if (ml_matrix_parse((const char *)data, size, "fuzz.ini", &m) == 0) {
		for (size_t i = 0; i < m.n_builds; i++)
			if (ml_matrix_find_build(&m, m.builds[i].name) != (long)i)
				abort(); /* names are unique once accepted */
		for (size_t i = 0; i < m.n_kernels; i++)
			(void)ml_matrix_find_kernel(&m, m.kernels[i].name);
		(void)ml_matrix_find_build(&m, "no-such-build");
		for (unsigned bit = 0; bit < 32; bit++)
			(void)ml_select_rule_name(1u << bit);
		ml_matrix_clear(&m);
	}
	ml_error_reset();
	return 0;
}
