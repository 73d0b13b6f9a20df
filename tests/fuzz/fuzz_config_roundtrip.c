// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Write then load gives the same settings. One setting of every value type
 * is set from fuzzed text (or, for the map, fuzzed entries), written as YAML
 * by the settings writer (cfg_option_format, the one behind the example file
 * and the reload log), and read back by the loader. Every value that could
 * be set must load back unchanged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_map.h"
#include "config_yaml.h"
#include "filter_types.h"
#include "fuzz_util.h"
#include "log.h"
#include "utf8.h"

struct sample {
	char *word, *text, *maybe;
	bool flag;
	uint32_t count;
	uint64_t size;
	uint32_t wait_ms;
	double fraction;
	int mode;
	struct cfg_list ports, cidrs, names, ids;
	uint32_t states;
	struct kv_list map;
};

#define F(f)       .offset = offsetof(struct sample, f), .size = sizeof(((struct sample *)0)->f)
#define L(f, item) .offset = offsetof(struct sample, f), .size = sizeof(item)

static const char *const words[] = {"alpha", "beta", "gamma", NULL};
static const char *const modes[] = {"off", "on", "auto", NULL};
static const int mode_values[] = {0, 1, 7};

static const struct cfg_option opts[] = {
    {.key = "word", .type = &cfg_type_string, .def = "alpha", F(word), .names = words},
    {.key = "text", .type = &cfg_type_string, .def = "x", F(text)},
    {.key = "maybe", .type = &cfg_type_string, .def = "", F(maybe), .flags = CFG_F_NULLABLE},
    {.key = "flag", .type = &cfg_type_bool, .def = "false", F(flag)},
    {.key = "count", .type = &cfg_type_uint, .def = "1", F(count), .min = 0, .max = UINT32_MAX},
    {.key = "size", .type = &cfg_type_size, .def = "1MiB", F(size), .min = 0, .max = UINT64_MAX},
    {.key = "wait",
     .type = &cfg_type_duration_ms,
     .def = "1s",
     F(wait_ms),
     .min = 0,
     .max = UINT32_MAX},
    {.key = "fraction",
     .type = &cfg_type_fraction,
     .def = "0.5",
     F(fraction),
     .fmin = 0,
     .fmax = 1},
    {.key = "mode",
     .type = &cfg_type_enum,
     .def = "off",
     F(mode),
     .names = modes,
     .values = mode_values},
    {.key = "ports", .type = &filter_type_ports, .def = "", F(ports)},
    {.key = "cidrs", .type = &filter_type_cidrs, .def = "", F(cidrs)},
    {.key = "names", .type = &filter_type_comm, .def = "", F(names), .max = 4096},
    {.key = "ids",
     .type = &filter_type_ids,
     .def = "",
     L(ids, uint32_t),
     .min = 0,
     .max = UINT32_MAX},
    {.key = "states", .type = &filter_type_states, .def = "", F(states)},
    {.key = "map", .type = &cfg_type_map, .def = "", F(map)},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void sample_init(struct sample *s)
{
	char msg[256];

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < NOPTS; i++) {
		if (cfg_option_set(&opts[i], s, opts[i].def, msg, sizeof(msg)))
			fuzz_fail("bad default for %s: %s", opts[i].key, msg);
	}
}

static void sample_free(struct sample *s)
{
	for (size_t i = 0; i < NOPTS; i++)
		cfg_option_free(&opts[i], s);
}

static char *format(const struct cfg_option *o, const struct sample *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		fuzz_fail("open_memstream failed");
	cfg_option_format(o, s, f);
	if (fclose(f))
		fuzz_fail("writing to memory failed");
	return text;
}

/*
 * Text the loader can hold: a file must be valid UTF-8. (The CLI's --set
 * takes any bytes; the encoder cleans them up on the way out.)
 */
static bool loadable(const char *text)
{
	size_t n = strlen(text);

	return utf8_find_invalid((const unsigned char *)text, n) == n;
}

/* Sets the map from fuzzed entries; the rest from one fuzzed text each. */
static void fill(struct sample *s, struct fuzz_input *in)
{
	char msg[512];

	for (size_t i = 0; i < NOPTS && in->len; i++) {
		const struct cfg_option *o = &opts[i];

		if (o->type == &cfg_type_map) {
			unsigned int n = fi_u8(in) % 4;

			for (unsigned int k = 0; k < n; k++) {
				char *key = fi_string(in, 1200), *value = fi_string(in, 256);

				if (loadable(key) && loadable(value))
					cfg_option_set_map_entry(o, s, key, value, msg,
					                         sizeof(msg));
				free(key);
				free(value);
			}
			continue;
		}
		char *text = fi_string(in, 256);

		if (loadable(text))
			cfg_option_set(o, s, text, msg, sizeof(msg));
		free(text);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	static char path[4096];
	struct sample written, loaded;
	char err[1024];
	struct cfg_yaml_report r = {.path = path, .err = err, .errlen = sizeof(err)};
	int set_line[NOPTS] = {0};
	struct ynode *root = NULL;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "%s/roundtrip.yaml", fuzz_scratch_dir());
	sample_init(&written);
	fill(&written, &in);

	f = fopen(path, "w");
	if (!f)
		fuzz_fail("cannot write %s", path);
	for (size_t i = 0; i < NOPTS; i++) {
		fprintf(f, "%s: ", opts[i].key);
		cfg_option_format(&opts[i], &written, f);
		fputc('\n', f);
	}
	if (fclose(f))
		fuzz_fail("cannot write %s", path);

	sample_init(&loaded);
	if (cfg_yaml_read(&r, &root) || cfg_yaml_apply(&r, root, opts, NOPTS, &loaded, set_line))
		fuzz_fail("what the writer wrote does not load: %s", err);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct cfg_option *o = &opts[i];
		char *a = format(o, &written), *b = format(o, &loaded);

		if (strcmp(a, b) != 0)
			fuzz_fail("%s: wrote %s, loaded back %s", o->key, a, b);
		free(a);
		free(b);
	}
	if (!kv_list_equal(&written.map, &loaded.map))
		fuzz_fail("map: entries differ after loading back");
	if (written.fraction != loaded.fraction)
		fuzz_fail("fraction: wrote %.17g, loaded back %.17g", written.fraction,
		          loaded.fraction);
	if ((written.text && strcmp(written.text, loaded.text)) ||
	    (!written.maybe != !loaded.maybe) ||
	    (written.maybe && strcmp(written.maybe, loaded.maybe)))
		fuzz_fail("a string changed after loading back");

	cfg_yaml_free(root);
	sample_free(&loaded);
	sample_free(&written);
	return 0;
}
