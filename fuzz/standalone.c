/* Runs a fuzz target without libFuzzer (any compiler): on each file given,
 * then on `ROUNDS` deterministic mutations of it (bytes flipped, set to
 * 0x00/0xff/0x80, the file cut short), so that the normal build and its
 * sanitizer run exercise the parsers on hostile variants of real images.
 * Usage: standalone [-r ROUNDS] FILE... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t state = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

int main(int argc, char **argv)
{
	int rounds = 0, first = 1;
	if (argc > 2 && strcmp(argv[1], "-r") == 0) {
		rounds = atoi(argv[2]);
		first = 3;
	}
	for (int i = first; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		rewind(f);
		uint8_t *data = malloc(size ? (size_t)size : 1), *copy = malloc(size ? (size_t)size : 1);
		if (!data || !copy || fread(data, 1, (size_t)size, f) != (size_t)size) {
			fprintf(stderr, "%s: read failed\n", argv[i]);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(data, (size_t)size);
		for (int r = 0; r < rounds && size > 0; r++) {
			memcpy(copy, data, (size_t)size);
			size_t len = (size_t)size;
			int edits = 1 + (int)(next() % 4);
			for (int e = 0; e < edits; e++) {
				/* Mostly the header and the first tables. */
				size_t at = (size_t)(next() % (next() % 2 ? (len < 4096 ? len : 4096) : len));
				static const uint8_t values[] = {0x00, 0xff, 0x80, 0x01, 0x7f};
				copy[at] = next() % 2 ? (uint8_t)(copy[at] ^ (1u << (next() % 8)))
						      : values[next() % sizeof(values)];
			}
			if (next() % 8 == 0)
				len = (size_t)(next() % len);
			LLVMFuzzerTestOneInput(copy, len);
		}
		free(data);
		free(copy);
		printf("%s: %d mutations\n", argv[i], rounds);
	}
	return 0;
}
