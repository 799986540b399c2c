/* test_compress.c - compressors: round trips, thread-count independence, readers that must accept gzip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"

struct membuf {
	unsigned char *data;
	size_t len, cap;
	size_t fail_after;	/* fail once this many bytes arrived (0 = never) */
};

static int mem_sink(void *opaque, const void *data, size_t len, struct lk_error *err)
{
	struct membuf *m = opaque;

	if (m->fail_after && m->len + len > m->fail_after)
		return lk_error_set(err, LK_EXIT_BUILD, "test sink: disk full");
	lk_grow((void **)&m->data, &m->cap, m->len + len, 1);
	memcpy(m->data + m->len, data, len);
	m->len += len;
	return LK_OK;
}

/* Compressible, source-like bytes (words and newlines), reproducible. */
static unsigned char *sample_data(size_t size)
{
	static const char *const words[] = {
		"def ", "return ", "self", ".", "import ", "os", "\n", "    ", "(", ")", ":",
		"class ", "None", " = ", "if ", "else", "for ", "in ", "range", "0x7f", "'utf-8'",
	};
	unsigned char *p = lk_xmalloc(size ? size : 1);
	uint32_t x = 2463534242u;
	size_t i = 0;

	while (i < size) {
		const char *w;
		size_t n;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if ((x & 31) == 0) {	/* some noise, like binary files in a tree */
			p[i++] = (unsigned char)(x >> 8);
			continue;
		}
		w = words[x % (sizeof(words) / sizeof(words[0]))];
		n = strlen(w);
		if (n > size - i)
			n = size - i;
		memcpy(p + i, w, n);
		i += n;
	}
	return p;
}

/* Compresses data fed in pieces of chunk bytes. */
static void compress_buf(enum lk_compression c, int level, unsigned threads, const unsigned char *data,
			 size_t size, size_t chunk, struct membuf *out)
{
	struct lk_compressor comp;
	struct lk_error err;

	memset(out, 0, sizeof(*out));
	assert_int_equal(lk_compressor_open(&comp, c, level, threads, mem_sink, out, &err), LK_OK);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		assert_int_equal(lk_compressor_write(&comp, data + off, n, &err), LK_OK);
	}
	assert_int_equal(lk_compressor_finish(&comp, &err), LK_OK);
	assert_int_equal(comp.bytes_in, size);
	assert_int_equal(comp.bytes_out, out->len);
	lk_compressor_release(&comp);
}

static char *write_temp(const struct membuf *m, const char *suffix)
{
	char *path = lk_xasprintf("%s/lk-compress-XXXXXX%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
				  suffix);
	int fd = mkstemps(path, (int)strlen(suffix));

	assert_true(fd >= 0);
	assert_int_equal(write(fd, m->data, m->len), (ssize_t)m->len);
	close(fd);
	return path;
}

/* Decompresses with zlib's gzread, which reads concatenated members. */
static void gunzip_zlib(const struct membuf *gz, struct membuf *out)
{
	char *path = write_temp(gz, ".gz");
	gzFile f = gzopen(path, "rb");
	unsigned char buf[65536];
	int n;

	assert_non_null(f);
	memset(out, 0, sizeof(*out));
	while ((n = gzread(f, buf, sizeof(buf))) > 0)
		assert_int_equal(mem_sink(out, buf, (size_t)n, NULL), LK_OK);
	assert_int_equal(n, 0);
	assert_int_equal(gzclose(f), Z_OK);
	unlink(path);
	free(path);
}

static void unzstd(const struct membuf *z, struct membuf *out)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer in = { z->data, z->len, 0 };
	unsigned char buf[65536];
	size_t r = 1;

	memset(out, 0, sizeof(*out));
	while (in.pos < in.size || r != 0) {
		ZSTD_outBuffer o = { buf, sizeof(buf), 0 };

		r = ZSTD_decompressStream(d, &o, &in);
		assert_false(ZSTD_isError(r));
		if (o.pos)
			assert_int_equal(mem_sink(out, buf, o.pos, NULL), LK_OK);
		if (in.pos == in.size && o.pos == 0 && r != 0)
			fail_msg("truncated zstd frame");
	}
	ZSTD_freeDStream(d);
}

static void assert_same(const struct membuf *a, const unsigned char *data, size_t size)
{
	assert_int_equal(a->len, size);
	if (size)
		assert_memory_equal(a->data, data, size);
}

static const size_t sizes[] = {
	0, 1, 1000, LK_GZIP_BLOCK_SIZE - 1, LK_GZIP_BLOCK_SIZE, LK_GZIP_BLOCK_SIZE + 1,
	5 * LK_GZIP_BLOCK_SIZE + LK_GZIP_BLOCK_SIZE / 2,
};

static void test_none_passthrough(void **state)
{
	unsigned char *data = sample_data(3 * 1000 * 1000);
	struct membuf out;

	compress_buf(LK_COMPRESS_NONE, -1, 4, data, 3 * 1000 * 1000, 77777, &out);
	assert_same(&out, data, 3 * 1000 * 1000);
	free(out.data);
	free(data);
}

static void test_gzip_round_trip(void **state)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *data = sample_data(sizes[i]);
		struct membuf gz, back;

		compress_buf(LK_COMPRESS_GZIP, -1, 2, data, sizes[i], 65536, &gz);
		/* Fixed header: magic, deflate, no flags (no name), MTIME 0. */
		assert_true(gz.len >= 18);
		assert_int_equal(gz.data[0], 0x1f);
		assert_int_equal(gz.data[1], 0x8b);
		assert_int_equal(gz.data[2], 8);
		assert_int_equal(gz.data[3], 0);
		assert_int_equal(gz.data[4] | gz.data[5] | gz.data[6] | gz.data[7], 0);
		if (sizes[i] > 1000)
			assert_true(gz.len < sizes[i] / 2);
		gunzip_zlib(&gz, &back);
		assert_same(&back, data, sizes[i]);
		free(back.data);
		free(gz.data);
		free(data);
	}
}

static void test_zstd_round_trip(void **state)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *data = sample_data(sizes[i]);
		struct membuf z, back;

		compress_buf(LK_COMPRESS_ZSTD, -1, 2, data, sizes[i], 65536, &z);
		assert_int_equal(z.data[0], 0x28);	/* zstd frame magic 0xFD2FB528 (LE) */
		assert_int_equal(z.data[3], 0xfd);
		unzstd(&z, &back);
		assert_same(&back, data, sizes[i]);
		free(back.data);
		free(z.data);
		free(data);
	}
}

/*
 * The digest of a layer must not depend on the machine: the same bytes for
 * any thread count, and for any way the stream is cut into writes.
 */
static void check_independent(enum lk_compression c, int level, size_t size)
{
	static const unsigned threads[] = { 1, 2, 3, 4, 8 };
	static const size_t chunks[] = { 65536, 1000003, 4096 };
	unsigned char *data = sample_data(size);
	struct membuf ref, other;

	compress_buf(c, level, 1, data, size, 1 << 20, &ref);
	for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			compress_buf(c, level, threads[t], data, size, chunks[k], &other);
			assert_int_equal(other.len, ref.len);
			assert_memory_equal(other.data, ref.data, ref.len);
			free(other.data);
		}
	}
	free(ref.data);
	free(data);
}

static void test_gzip_thread_independent(void **state)
{
	check_independent(LK_COMPRESS_GZIP, -1, 7 * LK_GZIP_BLOCK_SIZE + 4321);
	check_independent(LK_COMPRESS_GZIP, 1, 3 * LK_GZIP_BLOCK_SIZE);
	/* Under one block no worker starts; exactly one starts them at the end. */
	check_independent(LK_COMPRESS_GZIP, -1, 100000);
	check_independent(LK_COMPRESS_GZIP, -1, LK_GZIP_BLOCK_SIZE);
}

static void test_zstd_thread_independent(void **state)
{
	/* More than two jobs, so workers really run in parallel. */
	check_independent(LK_COMPRESS_ZSTD, -1, 3 * LK_ZSTD_JOB_SIZE + 4321);
	check_independent(LK_COMPRESS_ZSTD, 1, 100000);
}

/* The readers the container runtimes use must accept the multi-member gzip. */
static void test_gzip_external_readers(void **state)
{
	const size_t size = 3 * LK_GZIP_BLOCK_SIZE + 999;
	unsigned char *data = sample_data(size);
	struct membuf gz, raw = { data, size, size, 0 };
	char *gz_path, *raw_path, *cmd;

	compress_buf(LK_COMPRESS_GZIP, -1, 2, data, size, 1 << 20, &gz);
	gz_path = write_temp(&gz, ".gz");
	raw_path = write_temp(&raw, ".raw");

	if (system("command -v gzip >/dev/null 2>&1") == 0) {
		cmd = lk_xasprintf("gzip -t '%s'", gz_path);
		assert_int_equal(system(cmd), 0);
		free(cmd);
		cmd = lk_xasprintf("gzip -dc '%s' | cmp -s - '%s'", gz_path, raw_path);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	} else {
		print_message("gzip not on PATH: skipped gzip -t\n");
	}
	if (system("command -v python3 >/dev/null 2>&1") == 0) {
		cmd = lk_xasprintf("python3 -c \"import gzip,sys; "
				   "sys.exit(gzip.open(sys.argv[1]).read() != open(sys.argv[2],'rb').read())\" "
				   "'%s' '%s'", gz_path, raw_path);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	} else {
		print_message("python3 not on PATH: skipped its gzip module\n");
	}
	if (system("command -v pigz >/dev/null 2>&1") == 0) {
		cmd = lk_xasprintf("pigz -t '%s'", gz_path);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	unlink(gz_path);
	unlink(raw_path);
	free(gz_path);
	free(raw_path);
	free(gz.data);
	free(data);
}

static void test_zstd_external_reader(void **state)
{
	const size_t size = 2 * LK_ZSTD_JOB_SIZE + 999;
	unsigned char *data = sample_data(size);
	struct membuf z, raw = { data, size, size, 0 };
	char *z_path, *raw_path, *cmd;

	if (system("command -v zstd >/dev/null 2>&1") != 0) {
		free(data);
		skip();
	}
	compress_buf(LK_COMPRESS_ZSTD, -1, 2, data, size, 1 << 20, &z);
	z_path = write_temp(&z, ".zst");
	raw_path = write_temp(&raw, ".raw");
	cmd = lk_xasprintf("zstd -q -dc '%s' | cmp -s - '%s'", z_path, raw_path);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	unlink(z_path);
	unlink(raw_path);
	free(z_path);
	free(raw_path);
	free(z.data);
	free(data);
}

static void test_levels(void **state)
{
	struct lk_compressor comp;
	struct membuf out = { 0 };
	struct lk_error err;
	unsigned char *data = sample_data(200000);
	struct membuf l1, l9;

	assert_int_equal(lk_compressor_open(&comp, LK_COMPRESS_GZIP, 13, 1, mem_sink, &out, &err),
			 LK_FAILED);
	assert_non_null(strstr(err.msg, "1 to 12"));
	assert_int_equal(lk_compressor_open(&comp, LK_COMPRESS_ZSTD, 0, 1, mem_sink, &out, &err),
			 LK_FAILED);
	assert_non_null(strstr(err.msg, "zstd"));
	assert_int_equal(lk_compressor_open(&comp, (enum lk_compression)7, -1, 1, mem_sink, &out, &err),
			 LK_FAILED);
	lk_compressor_release(&comp);	/* harmless after a failed open */
	assert_null(lk_compressor_ops_of((enum lk_compression)7));
	assert_string_equal(lk_compressor_ops_of(LK_COMPRESS_GZIP)->media_suffix, "+gzip");
	assert_string_equal(lk_compressor_ops_of(LK_COMPRESS_ZSTD)->media_suffix, "+zstd");
	assert_string_equal(lk_compressor_ops_of(LK_COMPRESS_NONE)->media_suffix, "");

	/* The level is used: a higher one gives smaller output here. */
	compress_buf(LK_COMPRESS_GZIP, 1, 1, data, 200000, 1 << 20, &l1);
	compress_buf(LK_COMPRESS_GZIP, 9, 1, data, 200000, 1 << 20, &l9);
	assert_true(l9.len < l1.len);
	free(l1.data);
	free(l9.data);
	free(data);
}

static void test_settings_string(void **state)
{
	char a[128], b[128];

	lk_compress_settings(LK_COMPRESS_GZIP, -1, a, sizeof(a));
	lk_compress_settings(LK_COMPRESS_GZIP, 6, b, sizeof(b));
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "libdeflate"));
	assert_non_null(strstr(a, "level=6"));
	lk_compress_settings(LK_COMPRESS_GZIP, 9, b, sizeof(b));
	assert_string_not_equal(a, b);
	lk_compress_settings(LK_COMPRESS_ZSTD, -1, a, sizeof(a));
	assert_non_null(strstr(a, "level=3"));
	assert_non_null(strstr(a, ZSTD_versionString()));
	lk_compress_settings(LK_COMPRESS_NONE, -1, a, sizeof(a));
	assert_string_equal(a, "none");
}

/* A failing sink stops the stream with its message, without hanging workers. */
static void check_sink_failure(enum lk_compression c, unsigned threads)
{
	const size_t size = 6 * LK_ZSTD_JOB_SIZE;
	unsigned char *data = sample_data(size);
	struct lk_compressor comp;
	struct membuf out = { .fail_after = 1000 };
	struct lk_error err;
	int rc = LK_OK;

	lk_error_clear(&err);
	assert_int_equal(lk_compressor_open(&comp, c, -1, threads, mem_sink, &out, &err), LK_OK);
	for (size_t off = 0; off < size && rc == LK_OK; off += 1 << 20)
		rc = lk_compressor_write(&comp, data + off, 1 << 20, &err);
	if (rc == LK_OK)
		rc = lk_compressor_finish(&comp, &err);
	assert_int_equal(rc, LK_FAILED);
	assert_string_equal(err.msg, "test sink: disk full");
	lk_compressor_release(&comp);
	free(out.data);
	free(data);
}

static void test_sink_failure(void **state)
{
	check_sink_failure(LK_COMPRESS_GZIP, 1);
	check_sink_failure(LK_COMPRESS_GZIP, 3);
	check_sink_failure(LK_COMPRESS_ZSTD, 2);
	check_sink_failure(LK_COMPRESS_NONE, 1);
}

/* Abandoning a stream mid-way (another layer failed) releases everything. */
static void test_abandon(void **state)
{
	unsigned char *data = sample_data(3 * LK_GZIP_BLOCK_SIZE);
	struct lk_compressor comp;
	struct membuf out = { 0 };
	struct lk_error err;

	assert_int_equal(lk_compressor_open(&comp, LK_COMPRESS_GZIP, -1, 4, mem_sink, &out, &err), LK_OK);
	assert_int_equal(lk_compressor_write(&comp, data, 3 * LK_GZIP_BLOCK_SIZE, &err), LK_OK);
	lk_compressor_release(&comp);
	assert_int_equal(lk_compressor_open(&comp, LK_COMPRESS_ZSTD, -1, 2, mem_sink, &out, &err), LK_OK);
	assert_int_equal(lk_compressor_write(&comp, data, 3 * LK_GZIP_BLOCK_SIZE, &err), LK_OK);
	lk_compressor_release(&comp);
	free(out.data);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none_passthrough),
		cmocka_unit_test(test_gzip_round_trip),
		cmocka_unit_test(test_zstd_round_trip),
		cmocka_unit_test(test_gzip_thread_independent),
		cmocka_unit_test(test_zstd_thread_independent),
		cmocka_unit_test(test_gzip_external_readers),
		cmocka_unit_test(test_zstd_external_reader),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_settings_string),
		cmocka_unit_test(test_sink_failure),
		cmocka_unit_test(test_abandon),
	};

	return cmocka_run_group_tests_name("compress", tests, NULL, NULL);
}
