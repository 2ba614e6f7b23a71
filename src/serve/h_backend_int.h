/*
 * h_backend_int.h - shared by the backend handler's two halves:
 * h_backend.c (forwarding, the sockets, answers) and h_backend_obs.c
 * (Observe through the backend: coapd's own observation of each path).
 */
#ifndef COAPD_H_BACKEND_INT_H
#define COAPD_H_BACKEND_INT_H

#include <sys/socket.h>

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

enum { S_UNIX, S_UDP4, S_UDP6, S_N };

struct bk_pend;
struct bk_obs;

struct bk_worker {
	const struct h_svc	*svc;
	struct dispatch		*d;		/* the worker's engine */
	struct bk_obs		*obs;		/* observations upstream */
	uint64_t		 next_check_ns;
	struct coap_resp	 nresp;		/* a notification relayed */
	uint8_t			 npayload[COAP_PAYLOAD_MAX];
	int			 fd[S_N];	/* -1 until first used */
	int			 watch[S_N];
	struct bk_pend		*pend;
	unsigned		 npend;
	uint64_t		 next_token;
	uint16_t		 next_mid;
	uint32_t		 rnd;
	/* lines a client can provoke, per kind (log_limited()) */
	struct log_limit	 ll_drop;	/* replies we cannot use */
	struct log_limit	 ll_timeout;
	struct log_limit	 ll_unavail;
};

struct bk_pend {
	struct bk_pend		*next;
	struct bk_worker	*bw;
	struct xch		*x;
	struct cfg		*cfg;		/* a reference */
	const struct cfg_route	*route;
	int			 sock;		/* S_* */
	uint8_t			 token[BK_TOKEN_LEN];
	uint16_t		 mid;
	bool			 acked;		/* the backend sent an ACK */
	int			 timer;		/* timeout_s */
	int			 rtimer;	/* UDP retransmission */
	struct retx		 retx;
	struct bk_obs		*obs;		/* the observation it registers
						   (obs->reg == this) or joins */
	size_t			 len;
	uint8_t			 msg[COAP_MAX_MSG];
};

/* coapd's observation of one path of a backend (on this worker). */
struct bk_obs {
	struct bk_obs		*next;
	struct bk_worker	*bw;
	struct cfg		*cfg;		/* a reference */
	const struct cfg_route	*route;
	int			 sock;		/* S_* */
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
struct bk_pend	*bk_pend_new(struct bk_worker *bw, const struct cfg_route *rt,
		    struct cfg *cfg, int s);
/* p was sent: its timeout, and over UDP its retransmission. */
void		 bk_pend_arm(struct bk_pend *p, uint64_t now_ns);
void		 bk_pend_free(struct bk_pend *p);
/* Answer p's client (if any) with code and why; p is freed. */
void		 bk_fail(struct bk_pend *p, uint8_t code, const char *why,
		    uint64_t now_ns);
int		 bk_send_to(struct bk_pend *p);
void		 bk_reply_empty(struct bk_worker *bw, int s, uint8_t type,
		    uint16_t mid, const struct sockaddr *to, socklen_t tolen);
/* req for the backend into p, Observe observe (-1: none; fwd.h). */
int		 bk_encode(struct bk_pend *p, const struct h_req *req,
		    int observe);

/* h_backend_obs.c */
/* Encode req into p, joining or starting its path's observation. */
int		 bk_observe_join(struct bk_pend *p, const struct h_req *req);
struct bk_obs	*bk_obs_by_token(struct bk_worker *bw, int s,
		    const struct coap_msg *m);
/* A notification m of o, from the backend at from. */
void		 bk_obs_notified(struct bk_worker *bw, struct bk_obs *o, int s,
		    const struct coap_msg *m, const struct sockaddr *from,
		    socklen_t fromlen);
/* The answer m to p, which (re-)registers p->obs; p is freed. */
void		 bk_obs_answer(struct bk_pend *p, const struct coap_msg *m,
		    uint64_t now_ns);
void		 bk_obs_free(struct bk_worker *bw, struct bk_obs *o);
/* End o, telling its observers code/why (code 0: deregister upstream). */
void		 bk_obs_end(struct bk_worker *bw, struct bk_obs *o,
		    uint8_t code, const char *why, uint64_t now_ns);
/* handler_ops.sweep: observations nobody observes are deregistered. */
void		 bk_obs_sweep(void *hstate, uint64_t now_ns);

#endif /* COAPD_H_BACKEND_INT_H */
