/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Leveled logging to stderr. Under systemd, when stderr is the journal
 * (JOURNAL_STREAM names stderr's device and inode), every line starts with
 * its syslog priority, "<3>" to "<7>", which journald strips and stores, so
 * `journalctl -p warning` selects by level. Anywhere else lines are plain.
 */
#ifndef TCPSTATES_LOG_H
#define TCPSTATES_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* "error", "warn", "info", "debug", indexed by level, then NULL: the one
 * spelling of the level names, also the values the log_level setting accepts. */
extern const char *const log_level_names[LOG_LVL_DEBUG + 2];

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses one of log_level_names. Returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Any thread. One write per line, so lines of different threads never mix. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
