// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Command line. The flags of the classic tcpstates tool keep their meaning;
 * every flag becomes a dotted-key override applied after the config file, and
 * is checked against the settings table right away so the error names the
 * flag rather than a key the user never typed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "config_map.h"
#include "filter_parse.h"
#include "kv_list.h"

struct cli_flag;

struct parse_state {
	struct cli_args *args;
	struct agent_config scratch;   /* every override is tried here first */
	const struct cli_flag *family; /* -4 or -6, whichever came first */
	char *err;
	size_t errlen;
};

/* One flag: how it is spelled, its line in --help, and what it does. */
struct cli_flag {
	char short_name;  /* 0: the long form only */
	const char *name; /* the long form, without "--" */
	const char *arg;  /* what the value is, for --help; NULL: the flag takes none */
	const char *help;
	int (*apply)(struct parse_state *ps, const struct cli_flag *f, const char *flag,
	             const char *arg);
	const char *key;   /* the setting the flag stands for */
	const char *value; /* what a flag without a value sets it to */
	enum cli_action action;
};

/*
 * Records key=value after checking it against the settings table. Repeated
 * port flags add to the list, as in the original tool.
 */
static int add_override(struct parse_state *ps, const char *flag, const char *shown,
                        const char *key, const char *value, bool append)
{
	const char *prev = kv_list_find(&ps->args->overrides, key);
	char msg[512], *joined = NULL;
	int ret;

	if (append && prev && *prev) {
		size_t len = strlen(prev) + strlen(value) + 2;

		joined = malloc(len);
		if (!joined) {
			snprintf(ps->err, ps->errlen, "%s: out of memory", flag);
			return -ENOMEM;
		}
		snprintf(joined, len, "%s,%s", prev, value);
		value = joined;
	}
	ret = config_set(&ps->scratch, key, value, msg, sizeof(msg));
	if (ret) {
		snprintf(ps->err, ps->errlen, "%s %s: %s", flag, shown, msg);
		goto cleanup;
	}
	/* Overrides apply in order: a key given again moves to the end, so that
	 * "--set labels.a=b --set labels=" still ends with no labels. */
	kv_list_remove(&ps->args->overrides, key);
	ret = kv_list_set(&ps->args->overrides, key, value);
	if (ret)
		snprintf(ps->err, ps->errlen, "%s: out of memory", flag);

cleanup:
	free(joined);
	return ret;
}

/* A flag that stands for one setting. */
static int add_value(struct parse_state *ps, const char *flag, const char *key, const char *value)
{
	return add_override(ps, flag, value, key, value, false);
}

static int add_ports(struct parse_state *ps, const char *flag, const char *key, const char *value)
{
	struct port_range *items = NULL;
	size_t count = 0;
	char msg[256];
	int ret;

	/* Parsed here as well, so "" (which would clear the list) is refused. */
	ret = port_list_parse(value, &items, &count, msg, sizeof(msg));
	free(items);
	if (ret) {
		snprintf(ps->err, ps->errlen, "%s \"%s\": %s", flag, value, msg);
		return -EINVAL;
	}
	return add_override(ps, flag, value, key, value, true);
}

static int add_set(struct parse_state *ps, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[160];

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key)) {
		snprintf(ps->err, ps->errlen,
		         "--set %s: expected KEY=VALUE, e.g. kafka.topic=events", arg);
		return -EINVAL;
	}
	memcpy(key, arg, eq - arg);
	key[eq - arg] = '\0';
	return add_override(ps, "--set", arg, key, eq + 1, false);
}

/* A flag that stands for one setting, set to what was typed. */
static int apply_value(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                       const char *arg)
{
	return add_value(ps, flag, f->key, arg);
}

/* A flag without a value that sets one setting to a fixed value. */
static int apply_fixed(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                       const char *arg)
{
	return add_value(ps, flag, f->key, f->value);
}

static int apply_family(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                        const char *arg)
{
	if (ps->family && ps->family != f) {
		snprintf(ps->err, ps->errlen, "-4 and -6 cannot be used together");
		return -EINVAL;
	}
	ps->family = f;
	return add_value(ps, flag, f->key, f->value);
}

static int apply_ports(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                       const char *arg)
{
	return add_ports(ps, flag, f->key, arg);
}

static int apply_set(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                     const char *arg)
{
	return add_set(ps, arg);
}

static int apply_config_path(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                             const char *arg)
{
	if (!*arg) {
		snprintf(ps->err, ps->errlen, "%s: empty file name", flag);
		return -EINVAL;
	}
	ps->args->config_path = arg;
	ps->args->config_path_explicit = true;
	return 0;
}

static int apply_require_brokers(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                                 const char *arg)
{
	ps->args->require_brokers = true;
	return 0;
}

/* --help wins over every other action, wherever it stands. */
static int apply_action(struct parse_state *ps, const struct cli_flag *f, const char *flag,
                        const char *arg)
{
	if (f->action == CLI_HELP || ps->args->action != CLI_HELP)
		ps->args->action = f->action;
	return 0;
}

/*
 * Every flag, in the order --help lists them: the source of the getopt
 * tables, of the dispatch and of the usage text.
 */
static const struct cli_flag flags[] = {
    {'4', "ipv4", NULL, "trace IPv4 only (filters.family=ipv4)", apply_family,
     .key = "filters.family", .value = "ipv4"},
    {'6', "ipv6", NULL, "trace IPv6 only (filters.family=ipv6)", apply_family,
     .key = "filters.family", .value = "ipv6"},
    {'L', "localport", "PORTS", "local ports to trace, e.g. 80,443,8000-8100", apply_ports,
     .key = "filters.local_ports.include"},
    {'D', "remoteport", "PORTS", "remote ports to trace", apply_ports,
     .key = "filters.remote_ports.include"},
    {'T', "timestamp", NULL, "table: print the time of day", apply_fixed, .key = "output.timestamp",
     .value = "true"},
    {'w', "wide", NULL, "table: wide columns for IPv6", apply_fixed, .key = "output.wide",
     .value = "true"},
    {0, "json", NULL, "table: one canonical JSON object per event instead", apply_fixed,
     .key = "output.json", .value = "true"},
    {'v', "verbose", NULL, "verbose diagnostics", apply_fixed, .key = "output.verbose",
     .value = "true"},
    {'c', "config", "FILE", "settings file (default " CONFIG_DEFAULT_PATH " if present)",
     apply_config_path},
    {0, "brokers", "LIST", "publish to these Kafka brokers (host:port,...)", apply_value,
     .key = "kafka.brokers"},
    {0, "topic", "NAME", "Kafka topic", apply_value, .key = "kafka.topic"},
    {0, "spool-dir", "DIR", "on-disk spool directory", apply_value, .key = "spool.dir"},
    {0, "no-spool", NULL, "keep unsent events in memory only", apply_fixed, .key = "spool.enabled",
     .value = "false"},
    {0, "metrics-port", "N", "Prometheus metrics port", apply_value, .key = "metrics.port"},
    {0, "no-metrics", NULL, "do not serve metrics", apply_fixed, .key = "metrics.enabled",
     .value = "false"},
    {0, "log-level", "LEVEL", "error, warn, info or debug", apply_value, .key = "log_level"},
    {0, "set", "KEY=VALUE", "set any setting, e.g. --set spool.max_bytes=4GiB", apply_set},
    {0, "require-brokers", NULL, "refuse settings without kafka.brokers (services)",
     apply_require_brokers},
    {0, "check-config", NULL, "check the settings and exit", apply_action,
     .action = CLI_CHECK_CONFIG},
    {0, "print-example-config", NULL, "print every setting with its default and exit", apply_action,
     .action = CLI_PRINT_CONFIG},
    {0, "version", NULL, "print the version and exit", apply_action, .action = CLI_VERSION},
    {'h', "help", NULL, "print this help and exit", apply_action, .action = CLI_HELP},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

/* What getopt_long() returns for a flag: its letter, or a number past every letter. */
static int flag_val(const struct cli_flag *f)
{
	return f->short_name ? f->short_name : 256 + (int)(f - flags);
}

static const struct cli_flag *flag_of(int val)
{
	for (size_t i = 0; i < NFLAGS; i++) {
		if (flag_val(&flags[i]) == val)
			return &flags[i];
	}
	return NULL;
}

/* How the user can have spelled the option with this getopt value. */
static void flag_name(int val, char *buf, size_t len)
{
	const struct cli_flag *f = flag_of(val);

	if (f && f->short_name)
		snprintf(buf, len, "-%c/--%s", f->short_name, f->name);
	else if (f)
		snprintf(buf, len, "--%s", f->name);
	else if (val > 0 && val < 256)
		snprintf(buf, len, "-%c", val);
	else
		snprintf(buf, len, "option");
}

/* getopt_long()'s two tables, from flags[]. */
static void build_getopt(struct option *longopts, char *shortopts)
{
	*shortopts++ = ':'; /* report a missing value as ':' */
	for (size_t i = 0; i < NFLAGS; i++) {
		const struct cli_flag *f = &flags[i];

		longopts[i] = (struct option){f->name, f->arg ? required_argument : no_argument,
		                              NULL, flag_val(f)};
		if (f->short_name) {
			*shortopts++ = f->short_name;
			if (f->arg)
				*shortopts++ = ':';
		}
	}
	longopts[NFLAGS] = (struct option){0};
	*shortopts = '\0';
}

void cli_usage(FILE *out)
{
	fputs("Usage: tcpstates-agent [OPTION]...\n"
	      "Trace TCP state changes with eBPF; print them as a table, or publish them to\n"
	      "Kafka when brokers are configured.\n"
	      "\n",
	      out);
	for (size_t i = 0; i < NFLAGS; i++) {
		const struct cli_flag *f = &flags[i];
		char lead[8] = "    ", spelled[64];

		if (f->short_name)
			snprintf(lead, sizeof(lead), "-%c, ", f->short_name);
		snprintf(spelled, sizeof(spelled), "--%s%s%s", f->name, f->arg ? " " : "",
		         f->arg ? f->arg : "");
		fprintf(out, "  %s%-22s %s\n", lead, spelled, f->help);
	}
	fputs("\n"
	      "Flags override the settings file. Exit status 2 means bad usage or settings.\n",
	      out);
}

int cli_parse_err(int argc, char **argv, struct cli_args *out, char *err, size_t errlen)
{
	struct parse_state ps = {.args = out, .err = err, .errlen = errlen};
	struct option longopts[NFLAGS + 1];
	char shortopts[2 * NFLAGS + 2], flag[48];
	const struct cli_flag *f;
	int c, ret = 0;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = '\0';
	config_init_defaults(&ps.scratch);
	build_getopt(longopts, shortopts);

	optind = 0; /* full rescan, so parsing twice in one process works */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == ':') {
			flag_name(optopt, flag, sizeof(flag));
			snprintf(err, errlen, "%s needs a value", flag);
			ret = -EINVAL;
			goto cleanup;
		}
		if (c == '?') {
			f = optopt ? flag_of(optopt) : NULL;
			if (f && !f->arg) {
				flag_name(optopt, flag, sizeof(flag));
				snprintf(err, errlen, "%s takes no value", flag);
			} else if (optopt && optopt < 256) {
				snprintf(err, errlen, "unknown option -%c", optopt);
			} else {
				snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
			}
			ret = -EINVAL;
			goto cleanup;
		}
		f = flag_of(c);
		flag_name(c, flag, sizeof(flag));
		ret = f ? f->apply(&ps, f, flag, optarg) : -EINVAL;
		if (!f)
			snprintf(err, errlen, "%s: not handled", flag);
		if (ret) {
			ret = -EINVAL;
			goto cleanup;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%s\"", argv[optind]);
		ret = -EINVAL;
		goto cleanup;
	}
	if (!out->config_path && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		out->config_path = CONFIG_DEFAULT_PATH;

cleanup:
	config_free(&ps.scratch);
	if (ret) {
		/* flags and values are echoed as typed: escape them to keep one line */
		cfg_escape_line(err, errlen);
		cli_free(out);
	}
	return ret;
}

int cli_parse(int argc, char **argv, struct cli_args *out)
{
	char err[640];
	int ret;

	ret = cli_parse_err(argc, argv, out, err, sizeof(err));
	if (ret)
		fprintf(stderr, "tcpstates-agent: %s (see --help)\n", err);
	return ret;
}

void cli_free(struct cli_args *args)
{
	if (!args)
		return;
	kv_list_free(&args->overrides);
	memset(args, 0, sizeof(*args));
}
