// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpstates-agent: traces every TCP state change with eBPF and publishes it
 * to Kafka as protobuf, through a durable spool. Without a broker it prints
 * the classic tcpstates table instead.
 *
 * The entry point only: arguments, signals and exit codes. The agent's
 * lifecycle is in agent.c. Exit codes: 0 on a clean stop (and for --help,
 * --version, --print-example-config, and a valid --check-config), 1 if the
 * agent failed (or --check-config found the settings invalid), 2 for a bad
 * command line or, when starting, bad settings.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "agent.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "memory_release.h"
#include "settings.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop_signal(int sig)
{
	stop_requested = sig;
}

static void on_reload_signal(int sig)
{
	reload_requested = 1;
}

/* No SA_RESTART: a signal must cut the ring-buffer wait short. */
static int install_signal_handlers(void)
{
	struct sigaction stop = {.sa_handler = on_stop_signal};
	struct sigaction hup = {.sa_handler = on_reload_signal};
	struct sigaction ign = {.sa_handler = SIG_IGN};

	sigemptyset(&stop.sa_mask);
	sigemptyset(&hup.sa_mask);
	if (sigaction(SIGINT, &stop, NULL) || sigaction(SIGTERM, &stop, NULL) ||
	    sigaction(SIGHUP, &hup, NULL) || sigaction(SIGPIPE, &ign, NULL))
		return -errno;
	return 0;
}

/* The actions that print something and exit; -1 for CLI_RUN and CLI_CHECK_CONFIG. */
static int run_print_action(const struct cli_args *cli)
{
	switch (cli->action) {
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("tcpstates-agent %s\n", TCPSTATES_VERSION);
		return 0;
	case CLI_PRINT_CONFIG:
		config_write_example(stdout);
		return 0;
	default:
		return -1;
	}
}

int main(int argc, char **argv)
{
	struct agent_config cfg;
	struct cli_args cli;
	struct agent a;
	char err[512];
	int ret, status;

	/* First: a SIGHUP from a reload racing the start must not kill us. */
	ret = install_signal_handlers();
	if (ret) {
		log_error("cannot install signal handlers: %s", strerror(-ret));
		return 1;
	}
	/* Before librdkafka or any other thread exists; a failure costs memory only. */
	memory_release_setup();
	ret = cli_parse(argc, argv, &cli);
	if (ret)
		return 2;
	status = run_print_action(&cli);
	if (status >= 0)
		goto out;

	ret = settings_build(&cli, &cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "tcpstates-agent: %s\n", err);
		status = cli.action == CLI_CHECK_CONFIG ? 1 : 2;
		goto out;
	}
	if (cli.action == CLI_CHECK_CONFIG) {
		printf("tcpstates-agent: configuration %s is valid\n",
		       cli.config_path ? cli.config_path : "(defaults and flags)");
		config_free(&cfg);
		status = 0;
		goto out;
	}

	status = 1;
	if (agent_start(&a, &cli, &cfg) == 0) {
		status = agent_run(&a, &stop_requested, &reload_requested) ? 1 : 0;
		agent_stop(&a);
	}
out:
	cli_free(&cli);
	return status;
}
