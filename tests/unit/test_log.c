// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The log line format: plain on a terminal or a file, and with the syslog
 * priority prefix journald reads when stderr is the stream JOURNAL_STREAM
 * names. Each case runs in a child whose stderr is a file, since the agent
 * decides the format once per process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "test_support.h"
#include "log.h"

#define PLAIN_LINES                                                                                \
	"tcpstates-agent: error: disk on fire\n"                                                   \
	"tcpstates-agent: warn: spool 91% full\n"                                                  \
	"tcpstates-agent: info: tracing\n"                                                         \
	"tcpstates-agent: debug: poll 3 events\n"
#define JOURNAL_LINES                                                                              \
	"<3>tcpstates-agent: error: disk on fire\n"                                                \
	"<4>tcpstates-agent: warn: spool 91% full\n"                                               \
	"<6>tcpstates-agent: info: tracing\n"                                                      \
	"<7>tcpstates-agent: debug: poll 3 events\n"

/* How JOURNAL_STREAM is set in a case. */
enum stream_env {
	ENV_UNSET,
	ENV_STDERR,  /* the device and inode of the child's stderr: the journal */
	ENV_OTHER,   /* of another file: stderr was redirected after systemd set it */
	ENV_LITERAL, /* a given, malformed value */
};

static void write_one_of_each(void)
{
	log_set_level(LOG_LVL_DEBUG);
	log_error("disk on fire");
	log_warn("spool %d%% full", 91);
	log_info("tracing\n"); /* a newline of its own is not doubled */
	log_debug("poll %d events", 3);
}

/* Runs one case in a child whose stderr is out_path; returns what it wrote. */
static const char *run_case(enum stream_env env, const char *literal, char *buf, size_t len)
{
	char out_path[] = "/tmp/test_log.XXXXXX", other_path[] = "/tmp/test_log.XXXXXX";
	int out_fd = mkstemp(out_path), other_fd = mkstemp(other_path), status = -1;
	char *text;
	pid_t pid;

	CHECK(out_fd >= 0 && other_fd >= 0);
	if (out_fd < 0 || other_fd < 0)
		return "(no temporary file)";
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct stat st;
		char value[64];

		if (fstat(env == ENV_OTHER ? other_fd : out_fd, &st) != 0 ||
		    dup2(out_fd, STDERR_FILENO) < 0)
			_exit(2);
		snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
		         (unsigned long long)st.st_ino);
		if (env == ENV_UNSET)
			unsetenv("JOURNAL_STREAM");
		else
			setenv("JOURNAL_STREAM", env == ENV_LITERAL ? literal : value, 1);
		write_one_of_each();
		fflush(stderr);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	text = read_all(out_path, NULL);
	snprintf(buf, len, "%s", text ? text : "(cannot read)");
	free(text);
	close(out_fd);
	close(other_fd);
	unlink(out_path);
	unlink(other_path);
	return buf;
}

static void test_line_format(void)
{
	static const char *const malformed[] = {
	    "", "garbage", "12", "12:", ":34", "12:34x", "-1:5", "12:-5", "99999999999999999999:1",
	};
	char buf[4096];

	CHECK_STR(run_case(ENV_UNSET, NULL, buf, sizeof(buf)), PLAIN_LINES);
	CHECK_STR(run_case(ENV_STDERR, NULL, buf, sizeof(buf)), JOURNAL_LINES);
	CHECK_STR(run_case(ENV_OTHER, NULL, buf, sizeof(buf)), PLAIN_LINES);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		if (strcmp(run_case(ENV_LITERAL, malformed[i], buf, sizeof(buf)), PLAIN_LINES))
			fprintf(stderr, "JOURNAL_STREAM=\"%s\" changed the format\n", malformed[i]);
		CHECK_STR(buf, PLAIN_LINES);
	}
}

static void test_levels(void)
{
	enum log_level level = LOG_LVL_ERROR;

	for (int i = LOG_LVL_ERROR; i <= LOG_LVL_DEBUG; i++) {
		CHECK(log_level_parse(log_level_names[i], &level) == 0);
		CHECK_EQ_U64(level, i);
		CHECK_STR(log_level_name(i), log_level_names[i]);
	}
	CHECK(log_level_names[LOG_LVL_DEBUG + 1] == NULL);
	CHECK_STR(log_level_name(LOG_LVL_DEBUG + 1), "unknown");
	CHECK_EQ_U64(log_level_parse("warning", &level), -EINVAL);
	CHECK_EQ_U64(log_level_parse("", &level), -EINVAL);
}

int main(void)
{
	test_line_format();
	test_levels();
	return check_report("test_log");
}
