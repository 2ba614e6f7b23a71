/*
 * fcache.h - a worker's cache of small files, so a hot GET costs no system
 * call.  Pure: it stores what the file handler read and says whether an
 * entry may be served without looking at the disk; the handler does the
 * I/O.  Direct-mapped, fixed size, allocated once; not thread-safe.
 *
 * An entry is fresh while the watcher generation it was filled under is
 * still current and it was checked less than FCACHE_RECHECK_NS ago.  The
 * generation is bumped by the main thread's inotify watcher on any change
 * under a served tree, so changes are seen as soon as that thread has read
 * the event (microseconds, unless the CPUs are busy); the age bound covers
 * what inotify cannot see (network file systems, trees not watched).
 */
#ifndef COAPD_FCACHE_H
#define COAPD_FCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define FCACHE_MAX_DATA		1024	/* files up to one block */
#define FCACHE_RECHECK_NS	(1000ULL * 1000 * 1000)
#define FCACHE_KEY_MAX		128

struct fcache_entry {
	bool		 used;
	uint16_t	 keylen;
	char		 key[FCACHE_KEY_MAX];	/* request path */
	uint64_t	 gen;		/* watcher generation when checked */
	uint64_t	 checked_ns;
	/* identity of the file the data came from */
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtime;
	uint8_t		 etag[8];
	uint16_t	 ct;
	uint16_t	 len;
	uint8_t		 data[FCACHE_MAX_DATA];
};

struct fcache;

/* A cache of nslots entries (rounded up to a power of two), or NULL. */
struct fcache	*fcache_new(unsigned nslots);
void		 fcache_free(struct fcache *c);
/* Forget everything (configuration reload). */
void		 fcache_clear(struct fcache *c);

/*
 * The entry for key, or NULL.  *fresh tells whether it may be served as
 * is at now_ns under watcher generation gen; a stale entry is returned so
 * the caller can compare it with fstat() and call fcache_touch().
 */
struct fcache_entry *fcache_get(struct fcache *c, const char *key,
		    size_t keylen, uint64_t gen, uint64_t now_ns, bool *fresh);

/* Mark e checked at now_ns under gen. */
void		 fcache_touch(struct fcache_entry *e, uint64_t gen,
		    uint64_t now_ns);

/* True when st describes the same file version e was filled from. */
bool		 fcache_same_file(const struct fcache_entry *e,
		    const struct stat *st);

/*
 * The slot for key, emptied and keyed, for the caller to fill (data, len,
 * etag, ct, and the identity via fcache_set_stat()); NULL when the key is
 * too long to cache.
 */
struct fcache_entry *fcache_slot(struct fcache *c, const char *key,
		    size_t keylen);

/* Record st's identity in e and mark it checked. */
void		 fcache_set_stat(struct fcache_entry *e, const struct stat *st,
		    uint64_t gen, uint64_t now_ns);

/* Drop e (the file vanished or changed). */
void		 fcache_drop(struct fcache_entry *e);

#endif /* COAPD_FCACHE_H */
