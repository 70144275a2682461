/*
 * fuzz_unpack.c — libFuzzer target for unpack_package(): each input is a
 * package (any bytes).  Whatever it holds, unpacking must end with
 * findings or files inside the work folder, never a crash, a leak or a
 * write outside it.  Seeds: tests/fuzz/seeds_unpack/ (made by
 * tests/fuzz/make_unpack_seeds.sh with tar, gzip, zstd and zip).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest.h"

static char fuzz_dir[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/sailo-fuzz-unpack-XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unpack_limits lim = { 64, 4 << 20, 200 };
	struct unpack_result res;
	struct findings f;
	char pkg[128], work[128], err[256];
	FILE *fp;

	snprintf(pkg, sizeof(pkg), "%s/package", fuzz_dir);
	snprintf(work, sizeof(work), "%s/work", fuzz_dir);
	if ((fp = fopen(pkg, "wb")) == NULL)
		return 0;
	fwrite(data, 1, size, fp);
	fclose(fp);
	findings_init(&f);
	(void)unpack_package(&res, pkg, work, &lim, &f, err, sizeof(err));
	unpack_result_free(&res);
	findings_free(&f);
	unpack_remove(work);
	unlink(pkg);
	return 0;
}
