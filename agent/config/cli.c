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
#include "filter_config.h"
#include "kv_list.h"

enum {
	OPT_BROKERS = 256,
	OPT_TOPIC,
	OPT_CHECK_CONFIG,
	OPT_VERSION,
	OPT_PRINT_EXAMPLE,
	OPT_SET,
	OPT_SPOOL_DIR,
	OPT_NO_SPOOL,
	OPT_METRICS_PORT,
	OPT_NO_METRICS,
	OPT_LOG_LEVEL,
	OPT_REQUIRE_BROKERS,
};

static const struct option long_options[] = {
    {"ipv4", no_argument, NULL, '4'},
    {"ipv6", no_argument, NULL, '6'},
    {"localport", required_argument, NULL, 'L'},
    {"remoteport", required_argument, NULL, 'D'},
    {"timestamp", no_argument, NULL, 'T'},
    {"wide", no_argument, NULL, 'w'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"config", required_argument, NULL, 'c'},
    {"brokers", required_argument, NULL, OPT_BROKERS},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
    {"version", no_argument, NULL, OPT_VERSION},
    {"print-example-config", no_argument, NULL, OPT_PRINT_EXAMPLE},
    {"set", required_argument, NULL, OPT_SET},
    {"spool-dir", required_argument, NULL, OPT_SPOOL_DIR},
    {"no-spool", no_argument, NULL, OPT_NO_SPOOL},
    {"metrics-port", required_argument, NULL, OPT_METRICS_PORT},
    {"no-metrics", no_argument, NULL, OPT_NO_METRICS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"require-brokers", no_argument, NULL, OPT_REQUIRE_BROKERS},
    {NULL, 0, NULL, 0},
};

static const char short_options[] = ":46L:D:Twvhc:";

void cli_usage(FILE *out)
{
	fputs("Usage: tcpstates-agent [OPTION]...\n"
	      "Trace TCP state changes with eBPF; print them as a table, or publish them to\n"
	      "Kafka when brokers are configured.\n"
	      "\n"
	      "  -4, --ipv4                 trace IPv4 only (filters.family=ipv4)\n"
	      "  -6, --ipv6                 trace IPv6 only (filters.family=ipv6)\n"
	      "  -L, --localport PORTS      local ports to trace, e.g. 80,443,8000-8100\n"
	      "  -D, --remoteport PORTS     remote ports to trace\n"
	      "  -T, --timestamp            table: print the time of day\n"
	      "  -w, --wide                 table: wide columns for IPv6\n"
	      "  -v, --verbose              verbose diagnostics\n"
	      "  -c, --config FILE          settings file (default " CONFIG_DEFAULT_PATH
	      " if present)\n"
	      "      --brokers LIST         publish to these Kafka brokers (host:port,...)\n"
	      "      --topic NAME           Kafka topic\n"
	      "      --spool-dir DIR        on-disk spool directory\n"
	      "      --no-spool             keep unsent events in memory only\n"
	      "      --metrics-port N       Prometheus metrics port\n"
	      "      --no-metrics           do not serve metrics\n"
	      "      --log-level LEVEL      error, warn, info or debug\n"
	      "      --set KEY=VALUE        set any setting, e.g. --set spool.max_bytes=4GiB\n"
	      "      --require-brokers      refuse settings without kafka.brokers (services)\n"
	      "      --check-config         check the settings and exit\n"
	      "      --print-example-config print every setting with its default and exit\n"
	      "      --version              print the version and exit\n"
	      "  -h, --help                 print this help and exit\n"
	      "\n"
	      "Flags override the settings file. Exit status 2 means bad usage or settings.\n",
	      out);
}

/* How the user can have spelled the option with this getopt value. */
static void flag_name(int val, char *buf, size_t len)
{
	const char *lname = NULL;

	for (const struct option *o = long_options; o->name; o++) {
		if (o->val == val) {
			lname = o->name;
			break;
		}
	}
	if (val < 256 && lname)
		snprintf(buf, len, "-%c/--%s", val, lname);
	else if (lname)
		snprintf(buf, len, "--%s", lname);
	else if (val > 0 && val < 256)
		snprintf(buf, len, "-%c", val);
	else
		snprintf(buf, len, "option");
}

static bool is_known(int val)
{
	for (const struct option *o = long_options; o->name; o++) {
		if (o->val == val)
			return true;
	}
	return false;
}

static bool takes_argument(int val)
{
	for (const struct option *o = long_options; o->name; o++) {
		if (o->val == val)
			return o->has_arg != no_argument;
	}
	return false;
}

struct parse_state {
	struct cli_args *args;
	struct agent_config scratch; /* every override is tried here first */
	char *err;
	size_t errlen;
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

static int handle_option(struct parse_state *ps, int c, const char *arg, bool *seen4, bool *seen6)
{
	struct cli_args *a = ps->args;
	char flag[48];

	flag_name(c, flag, sizeof(flag));
	switch (c) {
	case '4':
	case '6':
		*(c == '4' ? seen4 : seen6) = true;
		if (*seen4 && *seen6) {
			snprintf(ps->err, ps->errlen, "-4 and -6 cannot be used together");
			return -EINVAL;
		}
		return add_value(ps, flag, "filters.family", c == '4' ? "ipv4" : "ipv6");
	case 'L':
		return add_ports(ps, flag, "filters.local_ports.include", arg);
	case 'D':
		return add_ports(ps, flag, "filters.remote_ports.include", arg);
	case 'T':
		return add_value(ps, flag, "output.timestamp", "true");
	case 'w':
		return add_value(ps, flag, "output.wide", "true");
	case 'v':
		return add_value(ps, flag, "output.verbose", "true");
	case 'h':
		a->action = CLI_HELP;
		return 0;
	case 'c':
		if (!*arg) {
			snprintf(ps->err, ps->errlen, "%s: empty file name", flag);
			return -EINVAL;
		}
		a->config_path = arg;
		a->config_path_explicit = true;
		return 0;
	case OPT_BROKERS:
		return add_value(ps, flag, "kafka.brokers", arg);
	case OPT_TOPIC:
		return add_value(ps, flag, "kafka.topic", arg);
	case OPT_SPOOL_DIR:
		return add_value(ps, flag, "spool.dir", arg);
	case OPT_NO_SPOOL:
		return add_value(ps, flag, "spool.enabled", "false");
	case OPT_METRICS_PORT:
		return add_value(ps, flag, "metrics.port", arg);
	case OPT_NO_METRICS:
		return add_value(ps, flag, "metrics.enabled", "false");
	case OPT_LOG_LEVEL:
		return add_value(ps, flag, "log_level", arg);
	case OPT_SET:
		return add_set(ps, arg);
	case OPT_REQUIRE_BROKERS:
		a->require_brokers = true;
		return 0;
	case OPT_CHECK_CONFIG:
		if (a->action != CLI_HELP)
			a->action = CLI_CHECK_CONFIG;
		return 0;
	case OPT_VERSION:
		if (a->action != CLI_HELP)
			a->action = CLI_VERSION;
		return 0;
	case OPT_PRINT_EXAMPLE:
		if (a->action != CLI_HELP)
			a->action = CLI_PRINT_CONFIG;
		return 0;
	default:
		snprintf(ps->err, ps->errlen, "%s: not handled", flag);
		return -EINVAL;
	}
}

int cli_parse_err(int argc, char **argv, struct cli_args *out, char *err, size_t errlen)
{
	struct parse_state ps = {.args = out, .err = err, .errlen = errlen};
	bool seen4 = false, seen6 = false;
	char flag[48];
	int c, ret = 0;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = '\0';
	config_init_defaults(&ps.scratch);

	optind = 0; /* full rescan, so parsing twice in one process works */
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		if (c == ':') {
			flag_name(optopt, flag, sizeof(flag));
			snprintf(err, errlen, "%s needs a value", flag);
			ret = -EINVAL;
			goto cleanup;
		}
		if (c == '?') {
			if (optopt && is_known(optopt) && !takes_argument(optopt)) {
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
		ret = handle_option(&ps, c, optarg, &seen4, &seen6);
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
