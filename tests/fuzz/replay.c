/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring fuzzing: run a harness over corpus files (no libFuzzer). */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/*
 * The ctest replay: each argument is a file or a directory of files; each
 * file goes through the harness's LLVMFuzzerTestOneInput once, built with
 * the normal compiler (and the CI's sanitizers). A violated property
 * aborts, which fails the test; the input's name is printed first.
 */

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		goto err;
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		goto err;
	fclose(f);
	fprintf(stderr, "replay %s (%ld bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
err:
	fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
	if (f)
		fclose(f);
	free(buf);
	return -1;
}

static int replay_dir(const char *dir, unsigned int *n)
{
	struct dirent **names;
	char path[4096];
	int i, count, ret = 0;

	count = scandir(dir, &names, NULL, alphasort);
	if (count < 0) {
		fprintf(stderr, "replay: cannot list %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir,
				 names[i]->d_name);
			if (replay_file(path))
				ret = -1;
			(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned int n = 0;
	struct stat st;
	int i, ret = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st)) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			ret = 1;
		} else if (S_ISDIR(st.st_mode)) {
			ret |= replay_dir(argv[i], &n) ? 1 : 0;
		} else {
			ret |= replay_file(argv[i]) ? 1 : 0;
			n++;
		}
	}
	printf("replayed %u inputs\n", n);
	return ret || !n;
}
