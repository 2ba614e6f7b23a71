/*
 * upload.h - bookkeeping of Block1 uploads (RFC 7959 §2.5) for one worker,
 * pure: it keys, bounds and checks transfers; the file handler does the
 * I/O and keeps its descriptors in the slots.
 *
 * A transfer is identified by the transport, the client's endpoint
 * (net_addr_same(): address, port and IPv6 scope id), the request path and
 * the Request-Tag (RFC 9175 §3.2): a client may run two uploads
 * to one path at once by tagging them differently, and an untagged upload
 * is distinct from every tagged one.  The Token is not part of the key: a
 * client may change it between blocks (RFC 7959 §2.3).
 *
 * Memory is allocated once (upload_table_init); not thread-safe.
 */
#ifndef COAPD_UPLOAD_H
#define COAPD_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UPLOAD_TAG_MAX		8	/* RFC 9175 §3.1: 0..8 bytes */
#define UPLOAD_PATH_MAX		256	/* request paths, as dispatch's */
#define UPLOAD_TMPNAME_MAX	32

/* What the next block of a transfer may be (upload_check()). */
enum upload_verdict {
	UPLOAD_OK = 0,
	UPLOAD_INCOMPLETE,	/* not the block expected: 4.08 */
	UPLOAD_TOO_LARGE,	/* past the body limit: 4.13 with Size1 */
	UPLOAD_BAD_SIZE,	/* M set but payload not one block: 4.00 */
	UPLOAD_REPEAT,		/* the last block again: a retry after a
				   lost 2.31, acknowledged again */
};

/* The identity of a transfer. */
struct upload_key {
	uint64_t		 scope;		/* dispatch_peer.scope: plain
						   CoAP or a DTLS session */
	const struct sockaddr	*peer;
	socklen_t		 peerlen;
	const char		*path;
	size_t			 path_len;
	const uint8_t		*tag;		/* Request-Tag value */
	uint8_t			 taglen;
	bool			 has_tag;	/* present, maybe empty */
};

/* One transfer in progress. */
struct upload {
	bool			 used;
	uint64_t		 scope;		/* transport of the uploader */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	uint8_t			 tag[UPLOAD_TAG_MAX];
	uint8_t			 taglen;
	bool			 has_tag;
	char			 path[UPLOAD_PATH_MAX];
	size_t			 path_len;
	uint64_t		 received;	/* bytes so far = offset of the
						   next block */
	uint64_t		 limit;		/* body limit in bytes */
	uint64_t		 last_ns;	/* last block received */
	uint64_t		 last_off;	/* offset and length of the */
	size_t			 last_len;	/* last block accepted */

	/* The handler's, opaque here: released by it, never by upload.c. */
	int			 fd;		/* temporary file */
	int			 dirfd;		/* the target's directory */
	bool			 existed;	/* target existed at start */
	bool			 create_only;	/* If-None-Match: no replace */
	char			 tmpname[UPLOAD_TMPNAME_MAX]; /* "" for an
						   unnamed (O_TMPFILE) file */
	/*
	 * Stored: the code answered to the last block (0 while in
	 * progress) and its ETag, kept briefly so that the last block sent
	 * again (its answer lost) gets the same answer.
	 */
	uint8_t			 done_code;
	uint8_t			 done_etag[8];
	uint8_t			 done_etag_len;
	/*
	 * The last block is being committed through the worker's ring
	 * (h_file_async.c): ring operations use the descriptors, so the
	 * slot is never reaped nor evicted meanwhile.
	 */
	bool			 committing;
};

struct upload_table {
	struct upload	*u;
	unsigned	 cap;
	unsigned	 n;		/* slots in use */
};

/* Room for cap transfers.  Returns 0 or -ENOMEM (cap 0 is fine). */
int		 upload_table_init(struct upload_table *t, unsigned cap);
/* Free the table; the caller has released every slot's descriptors. */
void		 upload_table_fini(struct upload_table *t);

/* The transfer for k, or NULL. */
struct upload	*upload_find(struct upload_table *t,
		    const struct upload_key *k);

/*
 * A free slot keyed by k, with received 0, limit, last_ns = now_ns and
 * fd = dirfd = -1; NULL when all cap slots are in use (the caller answers
 * 5.03) or k's path or tag is too long.
 */
struct upload	*upload_alloc(struct upload_table *t,
		    const struct upload_key *k, uint64_t limit,
		    uint64_t now_ns);

/* Return u's slot to the table. */
void		 upload_release(struct upload_table *t, struct upload *u);

/*
 * May a block at byte offset off with len payload bytes, of size blksz and
 * with the M bit more, follow what u has received?  u NULL means no
 * transfer is known: only a first block (off 0) may start one; limit
 * applies then too.  The block accepted last, sent again (same offset
 * and length, M set: a client that lost the 2.31 retries with a new
 * message ID, which deduplication does not catch), is UPLOAD_REPEAT.
 * Pure.
 */
enum upload_verdict upload_check(const struct upload *u, uint64_t limit,
		    uint64_t off, size_t len, bool more, size_t blksz);

/* Account len more bytes received at now_ns. */
void		 upload_advance(struct upload *u, size_t len, uint64_t now_ns);

/*
 * The transfer idle longest at now_ns, if idle for at least min_idle_ns;
 * NULL when there is none such.  Under pressure (table full) its slot
 * goes to a new transfer.
 */
struct upload	*upload_oldest_idle(struct upload_table *t, uint64_t now_ns,
		    uint64_t min_idle_ns);

/*
 * How long a transfer may stay idle: idle_ns, or busy_idle_ns once three
 * quarters of the slots are in use, so that abandoned transfers do not
 * keep honest ones out.
 */
uint64_t	 upload_idle_limit(const struct upload_table *t,
		    uint64_t idle_ns, uint64_t busy_idle_ns);

/*
 * The next transfer idle for at least timeout_ns at now_ns, starting the
 * scan at *cursor (0 for the first call; updated); NULL when none is left.
 * The caller releases its descriptors and calls upload_release().
 */
struct upload	*upload_next_expired(struct upload_table *t, uint64_t now_ns,
		    uint64_t timeout_ns, unsigned *cursor);

#endif /* COAPD_UPLOAD_H */
