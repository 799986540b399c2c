/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput once on each file
 * given (directories: each regular file in them), so the seed corpus and
 * every input a fuzzer once crashed on (tests/fuzz/regress/<target>/) run
 * in the ordinary suite, plain, under ASan+UBSan and under valgrind,
 * without clang or libFuzzer.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads path whole into a malloc'ed buffer the caller frees. */
static unsigned char *read_whole(const char *path, size_t *size)
{
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, got;
	FILE *f = fopen(path, "rb");

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*size = n;
	return buf;
}

static int replay_file(const char *path)
{
	size_t size;
	unsigned char *data = read_whole(path, &size);

	if (!data) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		return 1;
	}
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

/* Each regular file of dir, in name order so a failure is repeatable. */
static int replay_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	char path[4096];
	struct stat st;
	int n, i, failed = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		perror(dir);
		return 1;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			failed |= replay_file(path);
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return failed;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	struct stat st;
	int i, failed = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			/* An empty regress/ directory is not committed; skip it. */
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			failed |= replay_dir(argv[i], &count);
		} else {
			failed |= replay_file(argv[i]);
			count++;
		}
	}
	printf("replayed %u inputs\n", count);
	return failed;
}
