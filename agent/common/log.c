// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include "log.h"

const char *const log_level_names[LOG_LVL_DEBUG + 2] = {"error", "warn", "info", "debug", NULL};

/* sd-daemon(3)'s SD_ERR .. SD_DEBUG, which are syslog's numbers. */
static const int level_priorities[LOG_LVL_DEBUG + 1] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static _Atomic int current_level = LOG_LVL_INFO;

enum stderr_kind { STDERR_UNKNOWN = 0, STDERR_PLAIN, STDERR_JOURNAL };
static _Atomic int stderr_kind = STDERR_UNKNOWN;

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, level);
}

enum log_level log_get_level(void)
{
	return atomic_load(&current_level);
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level <= LOG_LVL_DEBUG ? log_level_names[level] : "unknown";
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (int i = 0; log_level_names[i]; i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* "DEVICE:INODE" in decimal, as systemd.exec(5) sets it. */
static bool parse_journal_stream(const char *text, uint64_t *dev, uint64_t *ino)
{
	char *end;

	if (!text || *text < '0' || *text > '9')
		return false;
	errno = 0;
	*dev = strtoull(text, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return false;
	*ino = strtoull(end + 1, &end, 10);
	return !errno && *end == '\0';
}

/*
 * systemd sets JOURNAL_STREAM when it connects stderr to the journal; the
 * variable is inherited, so it counts only while stderr is still that very
 * stream (a child whose stderr was redirected to a file must write plain
 * lines). Decided once: the agent does not redirect stderr while running.
 * Two threads racing here reach the same answer.
 */
static bool stderr_is_journal(void)
{
	int kind = atomic_load(&stderr_kind);
	uint64_t dev, ino;
	struct stat st;

	if (kind == STDERR_UNKNOWN) {
		kind = STDERR_PLAIN;
		if (parse_journal_stream(getenv("JOURNAL_STREAM"), &dev, &ino) &&
		    fstat(STDERR_FILENO, &st) == 0 && (uint64_t)st.st_dev == dev &&
		    (uint64_t)st.st_ino == ino)
			kind = STDERR_JOURNAL;
		atomic_store(&stderr_kind, kind);
	}
	return kind == STDERR_JOURNAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n = 0;

	if ((int)level > atomic_load(&current_level))
		return;
	if ((unsigned)level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	if (stderr_is_journal())
		n = snprintf(line, sizeof(line), "<%d>", level_priorities[level]);
	/* One write per line, so lines from different threads never interleave. */
	n += snprintf(line + n, sizeof(line) - n, "tcpstates-agent: %s: ", log_level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	if (len && line[len - 1] != '\n' && len < sizeof(line) - 1) {
		line[len++] = '\n';
		line[len] = '\0';
	}
	fputs(line, stderr);
}
