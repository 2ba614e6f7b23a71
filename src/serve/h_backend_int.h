/*
 * h_backend_int.h - shared by the backend handler's three parts:
 * h_backend.c (forwarding, answers), h_backend_conn.c (a worker's socket
 * per backend and its send queue) and h_backend_obs.c (Observe through
 * the backend: coapd's own observation of each path).
 */
#ifndef COAPD_H_BACKEND_INT_H
#define COAPD_H_BACKEND_INT_H

#include <sys/socket.h>
#include <sys/uio.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapt/cfg.h"
#include "adapt/log.h"
#include "proto/coap_msg.h"
#include "proto/observe.h"
#include "proto/retx.h"
#include "serve/handler.h"

#define BK_TOKEN_LEN	8
#define BK_MAX_AGE_S	60	/* RFC 7252 §5.10.5: no Max-Age */
#define BK_REREG_SLACK_S 2	/* past Max-Age before registering again */
#define BK_CHECK_NS	NS_PER_SEC	/* observations without observers */
#define BK_SPARE_MAX	64	/* freed bk_pend kept for reuse */
#define BK_RECV_BATCH	16	/* datagrams per recvmmsg() */
#define BK_SEND_BATCH	16	/* datagrams per sendmmsg() */
/*
 * Observations coapd ended upstream, remembered so that the backend's
 * answer to the deregistration (or a notification already on its way)
 * is expected, not a reply to log: the last BK_ENDED_MAX, for
 * BK_ENDED_NS each.
 */
#define BK_ENDED_MAX	16
#define BK_ENDED_NS	(30 * NS_PER_SEC)

struct bk_pend;
struct bk_obs;

/*
 * The worker's socket to one backend address, connected to it: a Unix
 * datagram socket autobound to an abstract address, or a UDP socket on
 * an ephemeral port.  Connected, because only a connected Unix datagram
 * socket polls writable when the backend's receive queue has room again
 * (and send() then needs no path lookup); requests that meet a full
 * queue (EAGAIN) wait in q, in order, and go out on POLLOUT.
 */
struct bk_conn {
	struct bk_worker	*bw;
	int			 ci;		/* its index in bw->conn */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 fd;		/* -1: not connected */
	int			 win;		/* POLLIN watch, -1: none */
	int			 wout;		/* POLLOUT watch, -1: none */
	struct bk_pend		*qhead;		/* waiting for room */
	struct bk_pend		**qtail;
	unsigned		 nq;
};

/* recvmmsg()'s vectors and buffers, one set per worker. */
struct bk_rx {
	struct mmsghdr		 h[BK_RECV_BATCH];
	struct iovec		 iov[BK_RECV_BATCH];
	uint8_t			 buf[BK_RECV_BATCH][COAP_MAX_MSG + 256];
};

struct bk_worker {
	const struct h_svc	*svc;
	struct dispatch		*d;		/* the worker's engine */
	struct bk_obs		*obs;		/* observations upstream */
	uint64_t		 next_check_ns;
	struct coap_resp	 nresp;		/* a notification relayed */
	uint8_t			 npayload[COAP_PAYLOAD_MAX];
	struct bk_conn		**conn;		/* by index, never moved */
	unsigned		 nconn;
	struct bk_pend		*pend;		/* sent or queued */
	unsigned		 npend;
	struct bk_pend		*spare;		/* freed, for reuse */
	unsigned		 nspare;
	struct bk_rx		*rx;
	int			 flush;		/* timer: queues sent, -1 */
	struct bk_ended {
		int		 conn;		/* index in bw->conn */
		uint8_t		 token[BK_TOKEN_LEN];
		uint64_t	 until_ns;	/* 0: unused */
	}			 ended[BK_ENDED_MAX];
	unsigned		 ended_next;	/* the slot to fill next */
	uint64_t		 next_token;
	uint16_t		 next_mid;
	uint32_t		 rnd;
	/* lines a client can provoke, per kind (log_limited()) */
	struct log_limit	 ll_drop;	/* replies we cannot use */
	struct log_limit	 ll_timeout;
	struct log_limit	 ll_unavail;
};

struct bk_pend {
	struct bk_pend		*next;		/* bw->pend */
	struct bk_pend		**prevp;
	struct bk_pend		*qnext;		/* conn->q */
	bool			 queued;
	struct bk_worker	*bw;
	struct xch		*x;
	struct cfg		*cfg;		/* a reference */
	const struct cfg_route	*route;
	int			 conn;		/* index in bw->conn */
	uint8_t			 token[BK_TOKEN_LEN];
	uint16_t		 mid;
	bool			 acked;		/* the backend sent an ACK */
	int			 timer;		/* timeout_s */
	int			 rtimer;	/* UDP retransmission */
	struct retx		 retx;
	struct bk_obs		*obs;		/* the observation it registers
						   (obs->reg == this) or joins */
	size_t			 len;
	/* kept last: a reused bk_pend is cleared up to here */
	uint8_t			 msg[COAP_MAX_MSG];
};

/* coapd's observation of one path of a backend (on this worker). */
struct bk_obs {
	struct bk_obs		*next;
	struct bk_worker	*bw;
	struct cfg		*cfg;		/* a reference */
	const struct cfg_route	*route;
	int			 conn;		/* index in bw->conn */
	uint8_t			 token[BK_TOKEN_LEN];
	char			 path[OBSERVE_PATH_MAX]; /* the clients' */
	size_t			 path_len;
	bool			 active;	/* the backend accepted it */
	struct bk_pend		*reg;		/* (re-)registration in flight */
	int			 timer;		/* Max-Age: register again */
	bool			 has_seq;	/* the backend's last Observe */
	uint32_t		 seq;
	uint64_t		 seq_ns;
	size_t			 len;		/* the registration forwarded */
	uint8_t			 msg[COAP_MAX_MSG];
};

/* h_backend.c */
/*
 * A pending request to rt on connection ci, holding one of rt's
 * max_pending slots; NULL when none is free (or out of memory).
 */
struct bk_pend	*bk_pend_new(struct bk_worker *bw, const struct cfg_route *rt,
		    struct cfg *cfg, int ci);
/* p's timeout_s timer.  Returns 0, or -ENOSPC (no timer free). */
int		 bk_pend_arm(struct bk_pend *p, uint64_t now_ns);
/* p went out: over UDP, retransmitted until ACKed. */
void		 bk_pend_sent(struct bk_pend *p, uint64_t now_ns);
void		 bk_pend_free(struct bk_pend *p);
/* Answer p's client (if any) with code and why; p is freed. */
void		 bk_fail(struct bk_pend *p, uint8_t code, const char *why,
		    uint64_t now_ns);
/* An empty ACK or RST for the backend's CON mid on connection ci. */
void		 bk_reply_empty(struct bk_worker *bw, int ci, uint8_t type,
		    uint16_t mid);
/* One datagram buf[0..len) from the backend of connection ci. */
void		 bk_reply(struct bk_worker *bw, int ci, const uint8_t *buf,
		    size_t len);
/* req for the backend into p, Observe observe (-1: none; fwd.h). */
int		 bk_encode(struct bk_pend *p, const struct h_req *req,
		    int observe);

/* h_backend_obs.c */
/* Encode req into p, joining or starting its path's observation. */
int		 bk_observe_join(struct bk_pend *p, const struct h_req *req);
struct bk_obs	*bk_obs_by_token(struct bk_worker *bw, int ci,
		    const struct coap_msg *m);
/* A notification m of o, from the backend of connection ci. */
void		 bk_obs_notified(struct bk_worker *bw, struct bk_obs *o, int ci,
		    const struct coap_msg *m);
/* The answer m to p, which (re-)registers p->obs; p is freed. */
void		 bk_obs_answer(struct bk_pend *p, const struct coap_msg *m,
		    uint64_t now_ns);
void		 bk_obs_free(struct bk_worker *bw, struct bk_obs *o);
/*
 * Close the connections to backends no route of c forwards to any more
 * (a reload removed or changed them) once nothing of theirs is in flight;
 * the slot stays, reopened if a later configuration names it again.
 */
void		 bk_conns_prune(struct bk_worker *bw, const struct cfg *c);
/* Is m's token that of an observation on ci coapd ended lately? */
bool		 bk_obs_ended(const struct bk_worker *bw, int ci,
		    const struct coap_msg *m, uint64_t now_ns);
/* End o, telling its observers code/why (code 0: deregister upstream). */
void		 bk_obs_end(struct bk_worker *bw, struct bk_obs *o,
		    uint8_t code, const char *why, uint64_t now_ns);
/* handler_ops.sweep: observations nobody observes are deregistered. */
void		 bk_obs_sweep(void *hstate, uint64_t now_ns);

/* h_backend_conn.c */
/*
 * The connection to addr (made on first use, connected again when it
 * was not): its index, or -errno when the backend is not there
 * (-ENOENT, -ECONNREFUSED: answer 5.02).
 */
int		 bk_conn_get(struct bk_worker *bw, const struct sockaddr *addr,
		    socklen_t addrlen);
/*
 * Send msg[0..len) on connection ci now, connecting again once when
 * the Unix backend was restarted.  Returns 0 or -errno (-EAGAIN: its
 * queue is full).  For what may be lost (ACKs, deregistrations).
 */
int		 bk_conn_send(struct bk_worker *bw, int ci, const uint8_t *msg,
		    size_t len);
/*
 * Queue p on its connection: sent (with the others queued) once the
 * events at hand are handled, or when the backend's full queue has room
 * (POLLOUT), in order; one that cannot be sent is answered 5.02 then.
 * Returns 0, or -ENOTCONN when the connection is closed (answer 5.02).
 */
int		 bk_submit(struct bk_pend *p, uint64_t now_ns);
/* p leaves its connection's queue (if it waits there). */
void		 bk_unqueue(struct bk_pend *p);
/* The worker's receive vectors (worker_init); NULL: out of memory. */
struct bk_rx	*bk_rx_new(void);
/* Close every connection (worker_fini). */
void		 bk_conns_free(struct bk_worker *bw);

#endif /* COAPD_H_BACKEND_INT_H */
