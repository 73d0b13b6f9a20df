// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "host_info.h"
#include "kv_list.h"
#include "log.h"

#ifndef TCPSTATES_VERSION
#error "TCPSTATES_VERSION must be defined by the build"
#endif

#define MACHINE_ID_PATH "/etc/machine-id"
#define BOOT_ID_PATH    "/proc/sys/kernel/random/boot_id"

/* Both files hold one 32- or 36-character id; anything longer is not an id. */
#define ID_FILE_MAX 128

/*
 * Reads the first line of a small id file, whitespace trimmed. A missing or
 * unreadable file yields "" with a warning: events are still worth sending
 * without it (containers often lack /etc/machine-id).
 */
static int read_id_file(const char *path, char **out)
{
	char buf[ID_FILE_MAX];
	size_t n, start = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		log_warn("host info: cannot open %s: %s; leaving it empty", path, strerror(errno));
		buf[0] = '\0';
		goto done;
	}
	if (!fgets(buf, sizeof(buf), f)) {
		log_warn("host info: %s is empty or unreadable; leaving it empty", path);
		buf[0] = '\0';
	}
	fclose(f);

	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
	                 buf[n - 1] == '\t'))
		buf[--n] = '\0';
	while (buf[start] == ' ' || buf[start] == '\t')
		start++;
done:
	*out = strdup(buf + start);
	return *out ? 0 : -ENOMEM;
}

static int read_hostname(char **out)
{
	char buf[HOST_NAME_MAX + 1];

	if (gethostname(buf, sizeof(buf)) != 0) {
		int err = errno;

		log_warn("host info: gethostname failed: %s; leaving it empty", strerror(err));
		buf[0] = '\0';
	}
	/* POSIX leaves truncation unterminated */
	buf[sizeof(buf) - 1] = '\0';
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

static int read_kernel_release(char **out)
{
	struct utsname u;

	if (uname(&u) != 0) {
		log_warn("host info: uname failed: %s; leaving kernel release empty",
		         strerror(errno));
		u.release[0] = '\0';
	}
	*out = strdup(u.release);
	return *out ? 0 : -ENOMEM;
}

int host_info_load(struct host_info *h, const struct kv_list *labels)
{
	int err;

	memset(h, 0, sizeof(*h));

	err = read_hostname(&h->hostname);
	if (err)
		goto cleanup;
	err = read_id_file(MACHINE_ID_PATH, &h->machine_id);
	if (err)
		goto cleanup;
	err = read_id_file(BOOT_ID_PATH, &h->boot_id);
	if (err)
		goto cleanup;
	err = read_kernel_release(&h->kernel_release);
	if (err)
		goto cleanup;
	h->agent_version = strdup(TCPSTATES_VERSION);
	if (!h->agent_version) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = kv_list_copy(&h->labels, labels);
	if (err)
		goto cleanup;
	return 0;

cleanup:
	log_error("host info: cannot load host metadata: %s", strerror(-err));
	host_info_free(h);
	return err;
}

int host_info_set_labels(struct host_info *h, const struct kv_list *labels)
{
	struct kv_list fresh;
	int err;

	/* copy first so a failed reload keeps the labels already in use */
	err = kv_list_copy(&fresh, labels);
	if (err) {
		log_error("host info: cannot copy %zu labels: %s", labels ? labels->count : 0,
		          strerror(-err));
		return err;
	}
	kv_list_free(&h->labels);
	h->labels = fresh;
	return 0;
}

void host_info_free(struct host_info *h)
{
	if (!h)
		return;
	kv_list_free(&h->labels);
	free(h->agent_version);
	free(h->kernel_release);
	free(h->boot_id);
	free(h->machine_id);
	free(h->hostname);
	memset(h, 0, sizeof(*h));
}

int instance_id_generate(char out[37])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			log_error("instance id: getrandom failed: %s", strerror(err));
			return -err;
		}
		got += (size_t)n;
	}

	/* RFC 4122 section 4.4: version 4 in the high nibble of byte 6, variant 10xx in byte 8 */
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;

	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
	return 0;
}
