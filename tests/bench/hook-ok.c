/*
 * hook-ok - the smallest hook, for `make bench` (tests/bench/routes.sh):
 * prints "ok" and exits 0.
 */
#include <unistd.h>

int
main(void)
{
	return write(STDOUT_FILENO, "ok\n", 3) == 3 ? 0 : 1;
}
