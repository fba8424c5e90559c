/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD wire format (NetworkBlockDevice/nbd doc/proto.md) for the one
 * export a view is served as: fixed newstyle handshake, option haggling,
 * simple replies. Pure functions on private copies of what the peer sent: no
 * I/O, no allocation. The server (backend/nbd.c) calls, per connection:
 *
 *   nbd_write_greeting()       send NBD_GREETING_BYTES
 *   nbd_decode_client_flags()  the NBD_CLIENT_FLAGS_BYTES the client answers
 *   per option:
 *     nbd_decode_opt()         an NBD_OPT_HDR_BYTES option header; then read
 *                              opt.payload_bytes into a private buffer
 *     nbd_opt_answer()         what to send back, and what comes next
 *   per request:
 *     nbd_decode_request()     an NBD_REQUEST_BYTES header, validated; then
 *                              read req.payload_bytes (WRITE)
 *     ... the I/O, unless req.error ...
 *     nbd_write_reply()        the NBD_REPLY_BYTES simple reply
 *
 * Everything on the wire is big-endian.
 */
#ifndef XE_BACKEND_NBD_PROTO_H
#define XE_BACKEND_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- magics ---- */

#define NBD_MAGIC 0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

/* ---- handshake ---- */

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_ROTATIONAL (1u << 4)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)
#define NBD_FLAG_SEND_CACHE (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO (1u << 11)

/* Options. */
#define NBD_OPT_EXPORT_NAME 1u
#define NBD_OPT_ABORT 2u
#define NBD_OPT_LIST 3u
#define NBD_OPT_STARTTLS 5u
#define NBD_OPT_INFO 6u
#define NBD_OPT_GO 7u
#define NBD_OPT_STRUCTURED_REPLY 8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT 10u
#define NBD_OPT_EXTENDED_HEADERS 11u

/* Option reply types; errors have bit 31 set. */
#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_FLAG_ERROR (1u << 31)
#define NBD_REP_ERR_UNSUP (NBD_REP_FLAG_ERROR | 1u)
#define NBD_REP_ERR_POLICY (NBD_REP_FLAG_ERROR | 2u)
#define NBD_REP_ERR_INVALID (NBD_REP_FLAG_ERROR | 3u)
#define NBD_REP_ERR_UNKNOWN (NBD_REP_FLAG_ERROR | 6u)
#define NBD_REP_ERR_SHUTDOWN (NBD_REP_FLAG_ERROR | 7u)
#define NBD_REP_ERR_TOO_BIG (NBD_REP_FLAG_ERROR | 9u)

/* NBD_REP_INFO types. */
#define NBD_INFO_EXPORT 0u
#define NBD_INFO_NAME 1u
#define NBD_INFO_DESCRIPTION 2u
#define NBD_INFO_BLOCK_SIZE 3u

/* ---- transmission ---- */

#define NBD_CMD_READ 0u
#define NBD_CMD_WRITE 1u
#define NBD_CMD_DISC 2u
#define NBD_CMD_FLUSH 3u
#define NBD_CMD_TRIM 4u
#define NBD_CMD_CACHE 5u
#define NBD_CMD_WRITE_ZEROES 6u
#define NBD_CMD_BLOCK_STATUS 7u

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* Error values of a reply (the spec's list, not the host's errno). */
#define NBD_EPERM 1u
#define NBD_EIO 5u
#define NBD_ENOMEM 12u
#define NBD_EINVAL 22u
#define NBD_ENOSPC 28u
#define NBD_EOVERFLOW 75u
#define NBD_ENOTSUP 95u
#define NBD_ESHUTDOWN 108u

/* ---- sizes ---- */

#define NBD_GREETING_BYTES 18u /* magic, IHAVEOPT, handshake flags */
#define NBD_CLIENT_FLAGS_BYTES 4u
#define NBD_OPT_HDR_BYTES 16u /* IHAVEOPT, option, length */
#define NBD_REP_HDR_BYTES 20u /* magic, option, type, length */
#define NBD_REQUEST_BYTES 28u /* magic, flags, type, cookie, offset, len */
#define NBD_REPLY_BYTES 16u /* magic, error, cookie */
#define NBD_EXPORT_NAME_ZEROES 124u

/* The most option data we read; a client claiming more is refused. */
#define NBD_OPT_MAX_BYTES 4096u

/*
 * The size constraints advertised in NBD_INFO_BLOCK_SIZE (and enforced for
 * every client, also those that did not ask): the view's sector, the
 * overlay's block, and QEMU's NBD_MAX_BUFFER_SIZE.
 */
#define NBD_MIN_BLOCK_BYTES 512u
#define NBD_PREF_BLOCK_BYTES 4096u
#define NBD_MAX_PAYLOAD_BYTES (32u << 20)

/* ---- the export ---- */

/* What a client is told about the export, and held to. */
struct nbd_export {
	uint64_t size_bytes; /* a multiple of NBD_MIN_BLOCK_BYTES */
	uint16_t flags; /* transmission flags, from nbd_export_flags() */
};

/*
 * The transmission flags of a view's export: HAS_FLAGS, SEND_FLUSH, and
 * either READ_ONLY or SEND_FUA, SEND_TRIM, SEND_WRITE_ZEROES.
 */
uint16_t nbd_export_flags(bool read_only);

/* ---- handshake ---- */

/* The server's first words: NBDMAGIC, IHAVEOPT, FIXED_NEWSTYLE|NO_ZEROES. */
void nbd_write_greeting(uint8_t *out);

/*
 * Decode the client's flags (NBD_CLIENT_FLAGS_BYTES). Returns 0 and sets
 * *flags_r, or -EPROTO for a flag we do not know (the spec: drop the client).
 */
int nbd_decode_client_flags(const uint8_t *in, uint32_t *flags_r);

/* One option header, decoded. */
struct nbd_opt {
	uint32_t option; /* NBD_OPT_*, or anything */
	/* The data to read after the header: at most NBD_OPT_MAX_BYTES. */
	uint32_t payload_bytes;
	/* It claimed more: nothing is read, the option is refused. */
	bool too_big;
};

/*
 * Decode an NBD_OPT_HDR_BYTES option header. Returns 0 and sets *opt_r, or
 * -EPROTO if it does not start with IHAVEOPT (framing is lost: hang up).
 */
int nbd_decode_opt(const uint8_t *hdr, struct nbd_opt *opt_r);

/* Where the haggling goes after an option. */
enum nbd_next {
	NBD_NEXT_OPTION, /* send the answer, read the next option */
	NBD_NEXT_TRANSMIT, /* send the answer, enter transmission */
	NBD_NEXT_ABORT, /* send the answer, close: the client asked to */
	NBD_NEXT_HANGUP, /* send the answer (maybe empty), close: why says */
};

/* Longest answer to one option: an error reply with its message. */
#define NBD_ANSWER_MAX 256u

struct nbd_answer {
	enum nbd_next next;
	const char *why; /* NBD_NEXT_HANGUP: a static sentence for the log */
	size_t len;
	uint8_t bytes[NBD_ANSWER_MAX];
};

/*
 * The answer to one option, from a private copy of its opt->payload_bytes of
 * data (unread if too_big). Unknown options: NBD_REP_ERR_UNSUP, go on.
 */
void nbd_opt_answer(const struct nbd_export *exp, uint32_t client_flags,
		    const struct nbd_opt *opt, const uint8_t *payload,
		    struct nbd_answer *ans_r);

/* ---- transmission ---- */

/*
 * A request header, decoded and validated against the export. The fields
 * are the client's; offset and length are inside the export, aligned and
 * bounded only when error is 0.
 */
struct nbd_request {
	uint16_t flags; /* NBD_CMD_FLAG_* */
	uint16_t type; /* NBD_CMD_*, or anything */
	uint64_t cookie; /* echoed, never interpreted */
	uint64_t offset; /* bytes */
	uint32_t length; /* bytes */
	uint32_t payload_bytes; /* WRITE: follows; read (or drain) it */
	uint32_t error; /* NBD_E* the reply carries; 0: serve it */
};

/*
 * Decode and validate an NBD_REQUEST_BYTES header: 0 and *req_r (its error
 * says whether to serve it), or -EPROTO (bad magic) or -EMSGSIZE (a WRITE
 * payload over NBD_MAX_PAYLOAD_BYTES, which we will not read): hang up.
 */
int nbd_decode_request(const uint8_t *hdr, const struct nbd_export *exp,
		       struct nbd_request *req_r);

/* Write the NBD_REPLY_BYTES simple reply to a request. */
void nbd_write_reply(uint8_t *out, uint32_t error, uint64_t cookie);

/*
 * The NBD error for a view's -errno (cow/cow.h): -ENOSPC (the overlay is
 * full) is NBD_ENOSPC only if enospc_is_enospc, else NBD_EIO, as blkif
 * answers; -EROFS is NBD_EPERM; anything else NBD_EIO.
 */
uint32_t nbd_error_of(int rc, bool enospc_is_enospc);

#endif
