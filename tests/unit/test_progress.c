/* test_progress.c - the build's progress line: counts, clamping, redraw in place, cleared at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

/* What was written to f, NUL-terminated (the caller frees). */
static char *contents(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = ftell(f);
	s = lk_xmalloc((size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	return s;
}

static void test_format(void **state)
{
	struct lk_progress p;
	char line[256];

	lk_progress_init(&p, stderr, "web", 23, 277 * 1024 * 1024);
	p.layers_done = 5;
	p.layers_cached = 2;
	p.bytes_done = 100 * 1024 * 1024;
	lk_progress_format(&p, p.started + 2.0, line, sizeof(line));
	assert_string_equal(line, "layerkit: web: layers 5/23 (2 cached), 100.0 MiB of 277.0 MiB, 50.0 MiB/s");
	/* No rate before there is time to divide by. */
	lk_progress_format(&p, p.started, line, sizeof(line));
	assert_string_equal(line, "layerkit: web: layers 5/23 (2 cached), 100.0 MiB of 277.0 MiB");
	p.drawn = 0;
	lk_progress_finish(&p);
}

static void test_layers_counted_and_clamped(void **state)
{
	FILE *f = tmpfile();
	struct lk_progress p;
	struct lk_progress_layer a, b;
	char *out;

	assert_non_null(f);
	lk_progress_init(&p, f, "app", 2, 1000);
	lk_progress_layer_start(&p, &a, 600);
	lk_progress_layer_start(&p, &b, 400);
	/* Tar bytes beyond a layer's file bytes (headers) are not counted. */
	lk_progress_layer_bytes(&a, 512);
	lk_progress_layer_bytes(&a, 1024);
	assert_int_equal(p.bytes_done, 600);
	lk_progress_layer_end(&a, 0);
	assert_int_equal(p.bytes_done, 600);
	assert_int_equal(p.layers_done, 1);
	/* A cached layer counts all its bytes at once. */
	lk_progress_layer_end(&b, 1);
	assert_int_equal(p.bytes_done, 1000);
	assert_int_equal(p.layers_done, 2);
	assert_int_equal(p.layers_cached, 1);
	lk_progress_finish(&p);
	out = contents(f);
	/* Drawn in place at each layer's end, then erased. */
	assert_non_null(strstr(out, "\rlayerkit: app: layers 1/2, 600 B of 1000 B"));
	assert_non_null(strstr(out, "\rlayerkit: app: layers 2/2 (1 cached), 1000 B of 1000 B"));
	assert_null(strchr(out, '\n'));
	assert_int_equal(strcmp(out + strlen(out) - 4, "\r\033[K"), 0);
	free(out);
	fclose(f);
}

static void test_off_writes_nothing(void **state)
{
	struct lk_progress p;
	struct lk_progress_layer l;

	lk_progress_init(&p, NULL, "app", 3, 300);
	lk_progress_layer_start(&p, &l, 100);
	lk_progress_layer_bytes(&l, 50);
	lk_progress_layer_end(&l, 0);
	assert_int_equal(p.layers_done, 0);
	lk_progress_finish(&p);
}

static void test_nothing_drawn_nothing_erased(void **state)
{
	FILE *f = tmpfile();
	struct lk_progress p;
	char *out;

	lk_progress_init(&p, f, "app", 0, 0);
	lk_progress_finish(&p);
	out = contents(f);
	assert_string_equal(out, "");
	free(out);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_layers_counted_and_clamped),
		cmocka_unit_test(test_off_writes_nothing),
		cmocka_unit_test(test_nothing_drawn_nothing_erased),
	};

	return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
