/*
 * observe.h - a worker's registry of observers (RFC 7641), pure: who
 * observes what, sequence numbers, when a notification must be
 * confirmable, and the retransmission of confirmable notifications
 * (RFC 7252 §4.2).  The engine (notify.c) builds and sends the messages.
 *
 * An observer is keyed by the client's endpoint (net_addr_same():
 * address, port and IPv6 scope id) and the Token of its registration
 * (RFC 7641 §4.1).  It names the file it watches by a hash of the file's
 * path (observe_path_hash()); the main thread's watcher reports changes
 * with the same hash.  A collision only costs a needless check:
 * the engine sends nothing when the representation did not change.
 *
 * Not thread-safe: one registry per worker.
 */
#ifndef COAPD_OBSERVE_H
#define COAPD_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/retx.h"

#define OBSERVE_SEQ_MASK	0xffffffu	/* RFC 7641 §3.4: 24 bits */
#define OBSERVE_PATH_MAX	256
#define OBSERVE_ETAG_MAX	8
#define OBSERVE_MSG_MAX		1280	/* COAP_MAX_MSG */
#define OBSERVE_PSK_ID_MAX	128	/* PSK_IDENTITY_MAX */
/* RFC 7641 §4.5: a CON at least every 24 hours. */
#define OBSERVE_CON_INTERVAL_NS	(24ULL * 3600 * 1000 * 1000 * 1000)

/* What the retransmission timer says about an observer (observe_due()). */
enum observe_due {
	OBSERVE_IDLE = 0,	/* nothing to do */
	OBSERVE_RESEND,		/* send con_buf again */
	OBSERVE_GIVE_UP,	/* MAX_RETRANSMIT reached: remove it */
};

struct observer {
	unsigned		 idx;		/* position in the registry */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	unsigned		 sock;		/* worker socket index */
	uint8_t			 token[8];
	uint8_t			 tkl;
	bool			 has_psk_id;	/* registered over DTLS */
	char			 psk_id[OBSERVE_PSK_ID_MAX + 1];
	char			 path[OBSERVE_PATH_MAX]; /* request path */
	size_t			 path_len;
	uint64_t		 fshash;	/* observe_path_hash() of the
						   file */
	bool			 has_block;	/* registered with Block2 */
	uint8_t			 szx;		/* its size exponent */
	uint32_t		 seq;		/* last Observe value sent */

	/* What the client was last told, to skip unchanged states. */
	uint8_t			 code;
	uint8_t			 etag[OBSERVE_ETAG_MAX];
	uint8_t			 etaglen;

	uint64_t		 next_run_ns;	/* hook routes with interval_s:
						   the next run; 0 none */
	unsigned		 since_con;	/* NONs since the last CON */
	uint64_t		 last_con_ns;
	uint16_t		 last_mid;	/* of the last notification */
	bool			 ending;	/* final (error) notification
						   sent: remove at its ACK */

	/* The confirmable notification in flight, if any. */
	bool			 con_pending;
	uint16_t		 con_mid;
	struct retx		 retx;		/* its timer (retx.h) */
	uint8_t			*con_buf;	/* allocated at the first CON */
	size_t			 con_len;
};

struct observe_reg {
	struct observer	**v;
	unsigned	  n;
	unsigned	  cap;		/* slots allocated in v */
	unsigned	  limit;	/* most observers held */
	unsigned	  per_host;	/* most of one host (any port) */
};

/* An empty registry holding at most limit observers. */
void		 observe_reg_init(struct observe_reg *r, unsigned limit);
/* Free every observer. */
void		 observe_reg_fini(struct observe_reg *r);
/* Change the bound; observers past it stay until they end. */
void		 observe_set_limit(struct observe_reg *r, unsigned limit);
/*
 * Most observers of one host: its IP address, any port (IPv4-mapped
 * IPv6 as IPv4), so that one address cannot take every place.  No bound
 * after observe_reg_init().
 */
void		 observe_set_per_host(struct observe_reg *r,
		    unsigned per_host);
/* Observers of peer's host. */
unsigned	 observe_count_host(const struct observe_reg *r,
		    const struct sockaddr *peer, socklen_t peerlen);

/*
 * FNV-1a of the path made of parts[0..n) joined by '/', with runs of '/'
 * and trailing '/' dropped, so "/srv/www/" + "a.txt" and "/srv/www" +
 * "a.txt" hash alike.
 */
uint64_t	 observe_path_hash(const char *const *parts, size_t n);

/*
 * The observer (socket, peer, token), or NULL.  The socket keeps plain
 * CoAP and DTLS apart: a forged plain datagram cannot touch an
 * observation made over DTLS.
 */
struct observer	*observe_find(struct observe_reg *r, unsigned sock,
		    const struct sockaddr *peer, socklen_t peerlen,
		    const uint8_t *token, uint8_t tkl);

/*
 * Register (peer, token) for path with file hash fshash, or refresh an
 * existing registration (RFC 7641 §4.1: same endpoint and token).  A new
 * observer starts with sequence number seq0.  Returns the observer, or
 * NULL when the registry is at its limit or at the host's, the path is
 * too long, or memory runs out: the caller then answers without Observe
 * (RFC 7641 §4.1).
 */
struct observer	*observe_add(struct observe_reg *r,
		    const struct sockaddr *peer, socklen_t peerlen,
		    unsigned sock, const uint8_t *token, uint8_t tkl,
		    const char *path, size_t path_len, uint64_t fshash,
		    uint32_t seq0);

/* Remove and free o (any pointer to it is invalid afterwards). */
void		 observe_remove(struct observe_reg *r, struct observer *o);

/*
 * The observer whose last notification or confirmable notification in
 * flight had Message ID mid and went to peer, or NULL (ACK and RST
 * matching, RFC 7252 §4.2, §4.3).
 */
struct observer	*observe_by_mid(struct observe_reg *r, unsigned sock,
		    const struct sockaddr *peer, socklen_t peerlen,
		    uint16_t mid);

/* The sequence number for o's next notification (advances o->seq). */
uint32_t	 observe_next_seq(struct observer *o);

/*
 * Must o's next notification be confirmable?  Yes after con_every - 1
 * NONs, 24 hours after the last CON, or when a CON is still in flight
 * (RFC 7641 §4.5.2: the new state replaces it, reliably).
 */
bool		 observe_want_con(const struct observer *o, uint64_t now_ns,
		    unsigned con_every);

/*
 * Record a notification sent at now_ns with Message ID mid.  For a CON,
 * buf[0..len) is kept for retransmission (-ENOMEM when it cannot be,
 * -EMSGSIZE above OBSERVE_MSG_MAX) and the timer starts with retx_start()
 * with rnd and the transmission parameters tp; a CON replacing one in flight keeps its retransmission counter
 * and back-off and counts as a retransmission (retx_restart(), RFC 7641
 * §4.5.2): check observe_exhausted() first.  Returns 0.
 */
int		 observe_sent(struct observer *o, uint16_t mid, bool con,
		    const uint8_t *buf, size_t len, uint64_t now_ns,
		    uint32_t rnd, const struct retx_params *tp);

/*
 * Whether o's CON in flight was sent MAX_RETRANSMIT times already, so
 * that no new notification may replace it: wait for its ACK, or for
 * observe_due() to give up.
 */
bool		 observe_exhausted(const struct observer *o);

/* The client acknowledged o's CON: stop retransmitting. */
void		 observe_acked(struct observer *o);

/* Advance o's retransmission timer at now_ns; see enum observe_due. */
enum observe_due observe_due(struct observer *o, uint64_t now_ns);

#endif /* COAPD_OBSERVE_H */
