/*
 * fuzz_cfg.c - libFuzzer target for the configuration parser
 * (src/adapt/cfg_load.c over libconfig, cfg_schema.c, cfg_files.c): the
 * input is written as a config file and loaded.  A refusal must report
 * at least one "FILE:LINE: message" line; a loaded config is released.
 * Leaks and memory errors are ASan's to find.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "adapt/log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char	 path[64];
static unsigned	 reported;

static void
on_err(void *arg, const char *line)
{
	(void)arg;
	if (line == NULL || line[0] == '\0')
		abort();
	reported++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg	*c = NULL;
	int		 fd, rc;

	if (path[0] == '\0') {
		log_init(LOG_LVL_ERR, "fuzz_cfg");
		snprintf(path, sizeof(path), "/tmp/fuzz_cfg.%d.conf",
		    (int)getpid());
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	reported = 0;
	rc = cfg_load(path, &c, on_err, NULL);
	unlink(path);
	if (rc == -ENOMEM)
		return 0;
	if (rc != 0) {
		if (reported == 0 || c != NULL)
			abort();
		return 0;
	}
	if (c == NULL)
		abort();
	cfg_unref(c);
	return 0;
}
