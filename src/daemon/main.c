/*
 * main.c - command line.  Everything else lives in libcoapd.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon/daemon.h"

#ifndef COAPD_SYSCONFDIR
#define COAPD_SYSCONFDIR "/etc"
#endif

static void
usage(FILE *f)
{
	fprintf(f, "usage: coapd [-c FILE] [-t] [-V] [-h]\n"
	    "  -c FILE  configuration file (default %s/coapd.conf)\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print version and compiled-in features\n"
	    "  -h       this help\n", COAPD_SYSCONFDIR);
}

int
main(int argc, char *argv[])
{
	const char	*conf = COAPD_SYSCONFDIR "/coapd.conf";
	int		 ch, check = 0;

	while ((ch = getopt(argc, argv, "c:tVh")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			coapd_version();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return coapd_check(conf);
	return coapd_run(conf);
}
