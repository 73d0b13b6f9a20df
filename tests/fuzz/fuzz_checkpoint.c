// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The checkpoint reader on arbitrary file contents. It accepts exactly the
 * files the writer writes: when it returns a position, writing that
 * position again produces the same bytes; anything else is -EBADMSG.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_util.h"
#include "spool_checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int dirfd = -1;
	uint64_t segno = 0, offset = 0;
	uint8_t back[CHECKPOINT_BYTES + 1];
	int r, fd;
	ssize_t n;

	if (dirfd < 0) {
		dirfd = open(fuzz_scratch_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			fuzz_fail("cannot open the scratch directory");
	}
	if (fuzz_write_file(fuzz_scratch_dir(), CHECKPOINT_NAME, data, size, 0600))
		fuzz_fail("cannot write the checkpoint");
	r = checkpoint_read(dirfd, &segno, &offset);
	if (r == -EBADMSG)
		return 0;
	if (r)
		fuzz_fail("checkpoint_read on a readable file: %d", r);
	if (size != CHECKPOINT_BYTES)
		fuzz_fail("accepted a checkpoint of %zu bytes", size);
	r = checkpoint_write(dirfd, segno, offset);
	if (r)
		fuzz_fail("checkpoint_write failed: %d", r);
	fd = openat(dirfd, CHECKPOINT_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fuzz_fail("checkpoint gone after writing it");
	n = read(fd, back, sizeof(back));
	close(fd);
	if (n != CHECKPOINT_BYTES || memcmp(back, data, CHECKPOINT_BYTES))
		fuzz_fail("position read from a checkpoint writes back as other bytes");
	return 0;
}
