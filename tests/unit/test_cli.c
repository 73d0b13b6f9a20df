// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Command-line parsing: bad command lines fail with -EINVAL and one line that
 * names the flag; good ones become the right dotted-key overrides, which then
 * land in the right fields of a real config.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "check.h"
#include "cli.h"
#include "config.h"
#include "kv_list.h"

#define MAX_ARGS 24

struct bad_line {
	const char *args[MAX_ARGS]; /* NULL-terminated, without the program name */
	const char *expect;         /* substring of the error */
};

static const struct bad_line bad_lines[] = {
    {{"-x"}, "unknown option -x"},
    {{"--bogus"}, "unknown option --bogus"},
    {{"-L", "0"}, "-L/--localport \"0\": port 0 out of range 1..65535"},
    {{"-L", "70000"}, "-L/--localport \"70000\": port 70000 out of range 1..65535"},
    {{"-L", "80-70"}, "-L/--localport \"80-70\": reversed port range 80-70"},
    {{"-L", ""}, "-L/--localport \"\": empty port list"},
    {{"-L", "80,"}, "-L/--localport \"80,\": empty item"},
    {{"--localport=22,x"}, "-L/--localport \"22,x\": bad port \"x\""},
    {{"-D", "abc"}, "-D/--remoteport \"abc\": bad port \"abc\""},
    {{"-D", "-1"}, "-D/--remoteport \"-1\": bad port"},
    {{"-L"}, "-L/--localport needs a value"},
    {{"--brokers"}, "--brokers needs a value"},
    {{"-c"}, "-c/--config needs a value"},
    {{"-c", ""}, "-c/--config: empty file name"},
    {{"-4", "-6"}, "-4 and -6 cannot be used together"},
    {{"--ipv6", "-T", "--ipv4"}, "-4 and -6 cannot be used together"},
    {{"--set", "nokey"}, "--set nokey: expected KEY=VALUE"},
    {{"--set", "=1"}, "--set =1: expected KEY=VALUE"},
    {{"--set", "unknown.key=1"}, "--set unknown.key=1: unknown.key: unknown key"},
    {{"--set", "spool=1"}, "--set spool=1: spool: is a section"},
    {{"--set", "bpf.ringbuf_bytes=3MiB"},
     "--set bpf.ringbuf_bytes=3MiB: bpf.ringbuf_bytes: 3MiB "
     "is not a power of two"},
    {{"--set", "filters.local_ports.include=0"}, "port 0 out of range"},
    {{"--metrics-port", "99999"}, "--metrics-port 99999: metrics.port: 99999 out of range"},
    {{"--metrics-port", "http"}, "--metrics-port http: metrics.port: expected a whole number"},
    {{"--log-level", "loud"}, "--log-level loud: log_level: \"loud\" is not one of"},
    {{"--topic", "bad topic"}, "--topic bad topic: kafka.topic: \"bad topic\" is not a valid"},
    {{"--spool-dir", "relative/dir"},
     "--spool-dir relative/dir: spool.dir: \"relative/dir\" is "
     "not an absolute path"},
    {{"--no-spool=yes"}, "--no-spool takes no value"},
    {{"--wide=1"}, "-w/--wide takes no value"},
    {{"-T", "extra"}, "unexpected argument \"extra\""},
    /* what the user typed is echoed escaped, so the error stays one line */
    {{"--topic", "bad\ntopic"}, "--topic bad\\x0atopic: kafka.topic: \"bad\\x0atopic\" is not"},
    {{"--set", "no\nkey"}, "--set no\\x0akey: expected KEY=VALUE"},
    {{"--set", "a\nb=1"}, "--set a\\x0ab=1: a\\x0ab: unknown key"},
    {{"-L", "8\n0"}, "-L/--localport \"8\\x0a0\": bad port \"8\\x0a0\""},
    {{"--no\nsuch"}, "unknown option --no\\x0asuch"},
    {{"two\nlines"}, "unexpected argument \"two\\x0alines\""},
};

static int argv_of(const char *const *args, char **argv)
{
	int argc = 0;

	argv[argc++] = "tcpstates-agent";
	for (; args[argc - 1] && argc < MAX_ARGS; argc++)
		argv[argc] = (char *)args[argc - 1];
	argv[argc] = NULL;
	return argc;
}

static void test_bad_lines(void)
{
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		char *argv[MAX_ARGS + 2], err[512];
		struct cli_args args;
		int argc = argv_of(bad_lines[i].args, argv), ret;

		ret = cli_parse_err(argc, argv, &args, err, sizeof(err));
		CHECK(ret == -EINVAL);
		check_count++;
		if (!strstr(err, bad_lines[i].expect)) {
			check_failures++;
			fprintf(stderr, "line %zu: error \"%s\"\n  does not contain \"%s\"\n", i,
			        err, bad_lines[i].expect);
		}
		CHECK(strchr(err, '\n') == NULL);
		/* nothing is left to free after a failure */
		CHECK(args.overrides.count == 0 && args.overrides.items == NULL);
	}
}

/* cli_parse() itself prints the one line on stderr. */
static void test_prints_error(void)
{
	char path[] = "/tmp/test_cli.XXXXXX", buf[1024] = "";
	char *argv[] = {"tcpstates-agent", "-L", "0", NULL};
	struct cli_args args;
	int fd, saved, ret;
	ssize_t n;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	ret = cli_parse(3, argv, &args);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	CHECK(ret == -EINVAL);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	CHECK(n > 0);
	if (n > 0)
		buf[n] = '\0';
	CHECK_STR(buf, "tcpstates-agent: -L/--localport \"0\": port 0 out of range 1..65535 (see "
	               "--help)\n");
	close(fd);
	unlink(path);
}

static void test_good_lines(void)
{
	char *argv[MAX_ARGS + 2], err[512];
	struct agent_config cfg;
	struct cli_args args;
	int argc;

	/* the classic tool's flags */
	static const char *const classic[MAX_ARGS] = {"-4", "-L", "80,443", "-L", "8000-8100",
	                                              "-D", "53", "-T",     "-w", "-v"};
	argc = argv_of(classic, argv);
	CHECK(cli_parse_err(argc, argv, &args, err, sizeof(err)) == 0);
	CHECK_EQ_U64(args.action, CLI_RUN);
	CHECK_STR(kv_list_find(&args.overrides, "filters.family"), "ipv4");
	CHECK_STR(kv_list_find(&args.overrides, "filters.local_ports.include"), "80,443,8000-8100");
	CHECK_STR(kv_list_find(&args.overrides, "filters.remote_ports.include"), "53");
	CHECK_STR(kv_list_find(&args.overrides, "output.timestamp"), "true");
	CHECK_STR(kv_list_find(&args.overrides, "output.wide"), "true");
	CHECK_STR(kv_list_find(&args.overrides, "output.verbose"), "true");
	CHECK_EQ_U64(args.overrides.count, 6);

	/* applied the way start-up does, they land in the fields */
	config_init_defaults(&cfg);
	for (size_t i = 0; i < args.overrides.count; i++)
		CHECK(config_set(&cfg, args.overrides.items[i].key, args.overrides.items[i].value,
		                 err, sizeof(err)) == 0);
	CHECK(config_validate(&cfg, err, sizeof(err)) == 0);
	CHECK_EQ_U64(cfg.filters.family, AF_INET);
	CHECK_EQ_U64(cfg.filters.local_ports_include.count, 3);
	if (cfg.filters.local_ports_include.count == 3) {
		CHECK_EQ_U64(cfg.filters.local_ports_include.items[2].first, 8000);
		CHECK_EQ_U64(cfg.filters.local_ports_include.items[2].last, 8100);
	}
	CHECK_EQ_U64(cfg.filters.remote_ports_include.count, 1);
	CHECK(cfg.table_timestamp && cfg.table_wide && cfg.table_verbose);
	config_free(&cfg);
	cli_free(&args);

	/* the agent's own flags */
	static const char *const own[MAX_ARGS] = {
	    "-c",          "/etc/other.yaml", "--brokers",   "k1:9092,k2:9092",
	    "--topic",     "net.tcp",         "--spool-dir", "/srv/spool",
	    "--no-spool",  "--metrics-port",  "9100",        "--no-metrics",
	    "--log-level", "debug",           "--set",       "kafka.rdkafka.linger.ms=5",
	    "--set",       "labels.note=a=b", "--ipv6",      "--remoteport=443"};
	argc = argv_of(own, argv);
	CHECK(cli_parse_err(argc, argv, &args, err, sizeof(err)) == 0);
	CHECK_STR(args.config_path, "/etc/other.yaml");
	CHECK(args.config_path_explicit);
	config_init_defaults(&cfg);
	for (size_t i = 0; i < args.overrides.count; i++)
		CHECK(config_set(&cfg, args.overrides.items[i].key, args.overrides.items[i].value,
		                 err, sizeof(err)) == 0);
	CHECK_STR(cfg.brokers, "k1:9092,k2:9092");
	CHECK_STR(cfg.topic, "net.tcp");
	CHECK_STR(cfg.spool_dir, "/srv/spool");
	CHECK(!cfg.spool_enabled);
	CHECK_EQ_U64(cfg.metrics_port, 9100);
	CHECK(!cfg.metrics_enabled);
	CHECK_STR(cfg.log_level, "debug");
	CHECK_STR(kv_list_find(&cfg.rdkafka, "linger.ms"), "5");
	CHECK_STR(kv_list_find(&cfg.labels, "note"), "a=b");
	CHECK_EQ_U64(cfg.filters.family, AF_INET6);
	CHECK_EQ_U64(cfg.filters.remote_ports_include.count, 1);
	config_free(&cfg);
	cli_free(&args);

	/* overrides apply in the order given, a repeated key included */
	static const char *const repeated[MAX_ARGS] = {
	    "--set", "labels.a=b", "--set", "labels=", "--set", "labels.c=d",
	    "--set", "labels=",    "-L",    "80",      "--set", "filters.local_ports.include=",
	    "-L",    "443"};
	argc = argv_of(repeated, argv);
	CHECK(cli_parse_err(argc, argv, &args, err, sizeof(err)) == 0);
	config_init_defaults(&cfg);
	CHECK(config_set(&cfg, "labels.z", "from the file", err, sizeof(err)) == 0);
	for (size_t i = 0; i < args.overrides.count; i++)
		CHECK(config_set(&cfg, args.overrides.items[i].key, args.overrides.items[i].value,
		                 err, sizeof(err)) == 0);
	CHECK_EQ_U64(cfg.labels.count, 0);
	CHECK_EQ_U64(cfg.filters.local_ports_include.count, 1);
	if (cfg.filters.local_ports_include.count == 1)
		CHECK_EQ_U64(cfg.filters.local_ports_include.items[0].first, 443);
	config_free(&cfg);
	cli_free(&args);

	/* actions */
	static const struct {
		const char *flag;
		enum cli_action action;
	} actions[] = {
	    {"--check-config", CLI_CHECK_CONFIG},
	    {"--version", CLI_VERSION},
	    {"--print-example-config", CLI_PRINT_CONFIG},
	    {"-h", CLI_HELP},
	    {"--help", CLI_HELP},
	};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		const char *one[MAX_ARGS] = {actions[i].flag};

		argc = argv_of(one, argv);
		CHECK(cli_parse_err(argc, argv, &args, err, sizeof(err)) == 0);
		CHECK_EQ_U64(args.action, actions[i].action);
		cli_free(&args);
	}

	/* no flags at all */
	argc = argv_of((const char *const[MAX_ARGS]){NULL}, argv);
	CHECK(cli_parse_err(argc, argv, &args, err, sizeof(err)) == 0);
	CHECK_EQ_U64(args.overrides.count, 0);
	CHECK(!args.config_path_explicit);
	cli_free(&args);
}

static void test_usage(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f != NULL);
	if (!f)
		return;
	cli_usage(f);
	fclose(f);
	/* every flag is documented */
	static const char *const flags[] = {"-4,",
	                                    "-6,",
	                                    "-L,",
	                                    "-D,",
	                                    "-T,",
	                                    "-w,",
	                                    "-v,",
	                                    "-c,",
	                                    "--brokers",
	                                    "--topic",
	                                    "--spool-dir",
	                                    "--no-spool",
	                                    "--metrics-port",
	                                    "--no-metrics",
	                                    "--log-level",
	                                    "--set",
	                                    "--check-config",
	                                    "--print-example-config",
	                                    "--version",
	                                    "--help"};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		CHECK(strstr(text, flags[i]) != NULL);
	free(text);
}

int main(void)
{
	test_bad_lines();
	test_prints_error();
	test_good_lines();
	test_usage();
	return check_report("test_cli");
}
