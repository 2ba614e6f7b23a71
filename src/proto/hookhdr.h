/*
 * hookhdr.h - the header block a hook may print before its payload, in
 * the manner of CGI (RFC 3875 §6.3), pure:
 *
 *	Status: 4.04
 *	Content-Format: 50
 *
 *	{"payload": "follows"}
 *
 * One "Name: value" per line (LF or CRLF), names in any case, ended by an
 * empty line.  Known names: Status (c.dd or cdd, a response code, with
 * optional text after it), Content-Format (0..65535), Max-Age
 * (0..4294967295), ETag (1..8 bytes, used as given), Location-Path (a
 * path; its segments become Location-Path options).  Anything else, a
 * repeated name or a block longer than HOOKHDR_MAX is malformed.
 */
#ifndef COAPD_HOOKHDR_H
#define COAPD_HOOKHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOOKHDR_MAX		4096	/* bytes of header block, at most */
#define HOOKHDR_ETAG_MAX	8	/* RFC 7252 §5.10.6 */
#define HOOKHDR_LOC_MAX		255

struct hook_hdr {
	int		 status;	/* response code, -1 when unset */
	int		 ct;		/* Content-Format, -1 when unset */
	int64_t		 max_age;	/* seconds, -1 when unset */
	uint8_t		 etag[HOOKHDR_ETAG_MAX];
	size_t		 etag_len;	/* 0 when unset */
	char		 location[HOOKHDR_LOC_MAX + 1]; /* "" when unset */
	size_t		 body_off;	/* payload starts here */
};

/*
 * Parse the header block at the start of buf[0..len), which holds all of
 * the hook's output.  Returns 0 with h filled, or -EINVAL with a one-line
 * reason in err (the line number and what is wrong).
 */
int	hookhdr_parse(const char *buf, size_t len, struct hook_hdr *h,
	    char *err, size_t errlen);

#endif /* COAPD_HOOKHDR_H */
