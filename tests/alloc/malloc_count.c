/*
 * malloc_count.so - LD_PRELOAD shim counting heap calls, to show that
 * coapd's request path allocates nothing.  At exit the totals are written
 * to the file named by MALLOC_COUNT_FILE as "malloc N free N".
 * Built and used by tests/integ/75-no-malloc.sh.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_ulong	 n_alloc, n_free;

/* glibc's own entry points: no dlsym, which itself may call calloc. */
extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);
extern void	 __libc_free(void *);

void *
malloc(size_t n)
{
	atomic_fetch_add_explicit(&n_alloc, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
	atomic_fetch_add_explicit(&n_alloc, 1, memory_order_relaxed);
	return __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&n_alloc, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	if (p != NULL)
		atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
	__libc_free(p);
}

__attribute__((destructor)) static void
report(void)
{
	const char	*path = getenv("MALLOC_COUNT_FILE");
	FILE		*f;

	if (path == NULL || (f = fopen(path, "w")) == NULL)
		return;
	fprintf(f, "malloc %lu free %lu\n", atomic_load(&n_alloc),
	    atomic_load(&n_free));
	fclose(f);
}
