// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Secret files: path expansion, the permission rules, and reading. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "test_support.h"
#include "secret_file.h"

#define SECRET "hunter2-s3cret"

static char *dir;

/* dir/name; each call gets a buffer of its own (a table holds many). */
static const char *path_of(const char *name)
{
	return path_in(dir, name);
}

/* Writes len bytes of content to dir/name with mode; returns the path. */
static const char *make_file(const char *name, const char *content, size_t len, mode_t mode)
{
	const char *path = path_of(name);

	CHECK(write_file(path, content, len, mode) == 0);
	return path;
}

static const char *make_text(const char *name, const char *content, mode_t mode)
{
	return make_file(name, content, strlen(content), mode);
}

struct bad_case {
	const char *what;
	const char *path;
	const char *reason; /* expected in the error */
};

static void check_refused(const struct bad_case *c)
{
	char err[512] = "", *out = (char *)"untouched";
	int ret = secret_file_read(c->path, &out, err, sizeof(err));

	CHECK(ret < 0);
	CHECK(out == NULL);
	if (!strstr(err, c->reason) || !strstr(err, c->path) || strchr(err, '\n') ||
	    strstr(err, SECRET)) {
		check_failures++;
		fprintf(stderr, "%s: error \"%s\", expected the path and \"%s\"\n", c->what, err,
		        c->reason);
	}
	check_count++;
}

static void test_refused(void)
{
	char big[SECRET_FILE_MAX + 2];
	bool root = geteuid() == 0;

	memset(big, 'x', sizeof(big));
	mkdir(path_of("a-directory"), 0700);
	mkfifo(path_of("a-fifo"), 0600);
	make_text("world-readable", SECRET "\n", 0644);
	make_text("world-writable", SECRET, 0602);
	make_text("world-exec", SECRET, 0601);
	make_text("group-writable", SECRET, 0620);
	CHECK(symlink(path_of("world-readable"), path_of("link-to-world-readable")) == 0);
	CHECK(symlink(path_of("missing"), path_of("dangling-link")) == 0);

	const struct bad_case cases[] = {
	    {"missing", path_of("missing"), "cannot open: No such file or directory"},
	    {"directory", path_of("a-directory"), "not a regular file"},
	    {"fifo (must not block)", path_of("a-fifo"), "not a regular file"},
	    {"mode 0644", path_of("world-readable"), "other users can access it (mode 0644)"},
	    {"mode 0602", path_of("world-writable"), "other users can access it (mode 0602)"},
	    {"mode 0601", path_of("world-exec"), "other users can access it (mode 0601)"},
	    {"mode 0620", path_of("group-writable"), "its group can write it (mode 0620)"},
	    {"symlink to mode 0644", path_of("link-to-world-readable"), "mode 0644"},
	    {"dangling symlink", path_of("dangling-link"), "No such file or directory"},
	    {"empty", make_text("empty", "", 0600), "is empty"},
	    {"a newline only", make_text("newline", "\n", 0600), "is empty"},
	    {"CR LF only", make_text("crlf", "\r\n", 0600), "is empty"},
	    {"NUL inside", make_file("nul", SECRET "\0x", sizeof(SECRET) + 1, 0600),
	     "contains a NUL byte"},
	    {"too large", make_file("too-large", big, SECRET_FILE_MAX + 1, 0600), "larger than"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_refused(&cases[i]);

	/* Group-readable is for root-owned files only. */
	make_text("group-readable", SECRET, 0640);
	if (root) {
		CHECK(chown(path_of("group-readable"), 65534, 65534) == 0);
		struct bad_case c = {"0640 not root's", path_of("group-readable"),
		                     "its group can read it (mode 0640) and root does not own it"};
		check_refused(&c);
	} else {
		struct bad_case c = {"0640 of a user", path_of("group-readable"),
		                     "root does not own it"};
		check_refused(&c);
	}
}

static void check_read(const char *what, const char *path, const char *want)
{
	char err[512] = "", *out = NULL;
	int ret = secret_file_read(path, &out, err, sizeof(err));

	if (ret || !out || strcmp(out, want) != 0) {
		check_failures++;
		fprintf(stderr, "%s: ret %d err \"%s\" read \"%s\", expected \"%s\"\n", what, ret,
		        err, out ? out : "(null)", want);
	}
	check_count++;
	secret_free(out);
}

static void test_accepted(void)
{
	static char exact[SECRET_FILE_MAX + 1];
	struct stat st;
	char err[512];

	check_read("0600", make_text("ok-0600", SECRET "\n", 0600), SECRET);
	check_read("0400", make_text("ok-0400", SECRET, 0400), SECRET);
	check_read("CR LF", make_text("ok-crlf", SECRET "\r\n", 0600), SECRET);
	check_read("one newline only", make_text("ok-2nl", SECRET "\n\n", 0600), SECRET "\n");
	check_read("inner blanks kept", make_text("ok-blank", " a b \n", 0600), " a b ");
	CHECK(symlink(path_of("ok-0600"), path_of("link-to-ok")) == 0);
	check_read("symlink to 0600", path_of("link-to-ok"), SECRET);
	memset(exact, 'y', SECRET_FILE_MAX);
	check_read("exactly the bound", make_file("ok-max", exact, SECRET_FILE_MAX, 0600), exact);

	/* systemd's credentials: 0400 root plus an ACL, which stat shows as 0440. */
	make_text("credential", SECRET, 0440);
	if (geteuid() == 0) {
		CHECK(chown(path_of("credential"), 0, 0) == 0);
		check_read("0440 root-owned", path_of("credential"), SECRET);
	}

	CHECK(secret_file_check(path_of("ok-0600"), &st, err, sizeof(err)) == 0);
	CHECK(S_ISREG(st.st_mode) && st.st_size == (off_t)sizeof(SECRET));
	CHECK(secret_file_check(path_of("world-readable"), NULL, err, sizeof(err)) == -EPERM);
}

static void check_expand(const char *value, const char *want, const char *want_err)
{
	char err[512] = "", *out = NULL;
	int ret = secret_path_expand(value, &out, err, sizeof(err));

	if (want) {
		if (ret || !out || strcmp(out, want) != 0) {
			check_failures++;
			fprintf(stderr, "expand \"%s\": ret %d \"%s\" (%s), expected \"%s\"\n",
			        value, ret, out ? out : "(null)", err, want);
		}
	} else if (ret != -EINVAL || out || !strstr(err, want_err) || !strstr(err, value)) {
		check_failures++;
		fprintf(stderr, "expand \"%s\": ret %d err \"%s\", expected \"%s\"\n", value, ret,
		        err, want_err);
	}
	check_count++;
	free(out);
}

static void test_expand(void)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	check_expand("/etc/kafka/pw", "/etc/kafka/pw", NULL);
	check_expand("${CREDENTIALS_DIRECTORY}/pw", NULL, "${CREDENTIALS_DIRECTORY} is not set");
	check_expand("relative/pw", NULL, "not an absolute path");
	check_expand("${HOME}/pw", NULL, "only a leading ${CREDENTIALS_DIRECTORY} is expanded");
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/tcpstates-agent.service", 1);
	check_expand("${CREDENTIALS_DIRECTORY}/kafka-password",
	             "/run/credentials/tcpstates-agent.service/kafka-password", NULL);
	check_expand("/x/${CREDENTIALS_DIRECTORY}/pw", NULL, "only a leading");
	check_expand("${CREDENTIALS_DIRECTORY}/${CREDENTIALS_DIRECTORY}", NULL, "only a leading");
	check_expand("$CREDENTIALS_DIRECTORY/pw", NULL, "not an absolute path");
	setenv("CREDENTIALS_DIRECTORY", "relative", 1);
	check_expand("${CREDENTIALS_DIRECTORY}/pw", NULL, "is not set");
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void test_sensitive_keys(void)
{
	const struct {
		const char *key;
		bool sensitive;
	} cases[] = {
	    {"sasl.password", true},
	    {"ssl.key.password", true},
	    {"ssl.keystore.password", true},
	    {"ssl.key.pem", true},
	    {"sasl.oauthbearer.config", true},
	    {"sasl.oauthbearer.client.secret", true},
	    {"sasl.oauthbearer.extensions", true},
	    {"SASL.PASSWORD", true},
	    {"sasl.password_file", false},
	    {"ssl.key.location", false},
	    {"sasl.username", false},
	    {"security.protocol", false},
	    {"linger.ms", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (secret_key_is_sensitive(cases[i].key) != cases[i].sensitive) {
			check_failures++;
			fprintf(stderr, "%s: sensitive should be %d\n", cases[i].key,
			        cases[i].sensitive);
		}
		check_count++;
	}
}

int main(void)
{
	dir = tmpdir_create("tcpstates-secret");
	if (!dir)
		return 1;
	test_refused();
	test_accepted();
	test_expand();
	test_sensitive_keys();
	tmpdir_remove(dir);
	return check_report("test_secret_file");
}
