/*
 * h_file.h - the static file handler (h_file_ops in handler.h) and the
 * pieces of it other modules reuse (Observe, PUT).
 */
#ifndef COAPD_H_FILE_H
#define COAPD_H_FILE_H

#include <stdint.h>
#include <sys/stat.h>

#define H_FILE_ETAG_LEN	8

/*
 * The ETag (RFC 7252 §5.10.6) of a file's current contents, derived from
 * st_ino, st_size and st_mtim: it changes when the file is rewritten in
 * place or replaced by rename.  Pure; out receives H_FILE_ETAG_LEN bytes.
 */
void	h_file_etag(const struct stat *st, uint8_t out[H_FILE_ETAG_LEN]);

#endif /* COAPD_H_FILE_H */
