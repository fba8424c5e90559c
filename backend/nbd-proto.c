/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Encoding and decoding of NBD messages, and the rules a client is held to.
 *
 * What it owns: the bytes of every message of the fixed newstyle handshake
 * and of the transmission phase with simple replies, for one export, the
 * default one (the empty name: libxl's nbd+unix:///?socket=... has no path).
 *
 * Invariants: every input is a private copy that the peer can no longer
 * change; each byte is read once, and every length is checked against a
 * bound before it is used (option data against NBD_OPT_MAX_BYTES, a name
 * against the option's data, a request against the export in u64 without
 * overflow). A request that decodes carries either error 0, and then it is
 * inside the export, 512-aligned, non-empty, of a command the export
 * advertised with only the flags that command takes; or the NBD error its
 * reply must carry (the spec's "SHOULD" values: EINVAL for unknown commands,
 * flags, misalignment, reads and trims past the end; ENOSPC for writes past
 * the end; EPERM for writes to a read-only export).
 *
 * Limits: READ and WRITE carry at most NBD_MAX_PAYLOAD_BYTES. TRIM and
 * WRITE_ZEROES carry no payload and may cover up to 4 GiB - 512 (QEMU sends
 * discards of up to 2 GiB; the spec says a server SHOULD NOT refuse them).
 *
 * What it deliberately does not do: TLS, structured replies, extended
 * headers, metadata contexts (all answered NBD_REP_ERR_UNSUP, so clients
 * fall back), oldstyle negotiation, more than one export.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "backend/nbd-proto.h"

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned int)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static uint8_t *put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
	return p + 4;
}

static uint8_t *put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
	return p + 8;
}

uint16_t nbd_export_flags(bool read_only)
{
	uint16_t flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH;

	if (read_only)
		return flags | NBD_FLAG_READ_ONLY;
	return flags | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
	       NBD_FLAG_SEND_WRITE_ZEROES;
}

/* ---- handshake ---- */

void nbd_write_greeting(uint8_t *out)
{
	out = put_be64(out, NBD_MAGIC);
	out = put_be64(out, NBD_IHAVEOPT);
	put_be16(out, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

int nbd_decode_client_flags(const uint8_t *in, uint32_t *flags_r)
{
	uint32_t untrusted_flags = get_be32(in);

	if (untrusted_flags &
	    ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return -EPROTO;
	*flags_r = untrusted_flags;
	return 0;
}

int nbd_decode_opt(const uint8_t *hdr, struct nbd_opt *opt_r)
{
	uint32_t untrusted_len;
	struct nbd_opt opt;

	if (get_be64(hdr) != NBD_IHAVEOPT)
		return -EPROTO;
	opt.option = get_be32(hdr + 8);
	untrusted_len = get_be32(hdr + 12);
	opt.too_big = untrusted_len > NBD_OPT_MAX_BYTES;
	opt.payload_bytes = opt.too_big ? 0 : untrusted_len;
	*opt_r = opt;
	return 0;
}

/* Append one option reply (header and data) to the answer. */
static void add_rep(struct nbd_answer *ans, uint32_t option, uint32_t type,
		    const void *data, uint32_t len)
{
	uint8_t *p = ans->bytes + ans->len;

	/* Our own replies, never the peer's bytes: they always fit. */
	assert(ans->len + NBD_REP_HDR_BYTES + len <= sizeof(ans->bytes));
	p = put_be64(p, NBD_REP_MAGIC);
	p = put_be32(p, option);
	p = put_be32(p, type);
	p = put_be32(p, len);
	if (len)
		memcpy(p, data, len);
	ans->len += NBD_REP_HDR_BYTES + len;
}

/* An error reply with a message for a human (the spec allows one). */
static void add_err(struct nbd_answer *ans, uint32_t option, uint32_t type,
		    const char *msg)
{
	add_rep(ans, option, type, msg, (uint32_t)strlen(msg));
}

static void add_info_export(struct nbd_answer *ans, uint32_t option,
			    const struct nbd_export *exp)
{
	uint8_t d[12], *p = d;

	p = put_be16(p, NBD_INFO_EXPORT);
	p = put_be64(p, exp->size_bytes);
	put_be16(p, exp->flags);
	add_rep(ans, option, NBD_REP_INFO, d, sizeof(d));
}

static void add_info_block_size(struct nbd_answer *ans, uint32_t option)
{
	uint8_t d[14], *p = d;

	p = put_be16(p, NBD_INFO_BLOCK_SIZE);
	p = put_be32(p, NBD_MIN_BLOCK_BYTES);
	p = put_be32(p, NBD_PREF_BLOCK_BYTES);
	put_be32(p, NBD_MAX_PAYLOAD_BYTES);
	add_rep(ans, option, NBD_REP_INFO, d, sizeof(d));
}

/*
 * NBD_OPT_INFO and NBD_OPT_GO: u32 name length, the name, u16 number of
 * information requests, that many u16s, and nothing else. We send
 * NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE whatever was asked (the spec lets
 * a server send unrequested information, and QEMU checks both).
 */
static void opt_info(const struct nbd_export *exp, const struct nbd_opt *opt,
		     const uint8_t *payload, struct nbd_answer *ans)
{
	uint32_t len = opt->payload_bytes, untrusted_name_len, untrusted_nr;

	if (len < 6)
		goto invalid;
	untrusted_name_len = get_be32(payload);
	if (untrusted_name_len > len - 6)
		goto invalid;
	/* name_len <= 4090 now: no overflow below */
	untrusted_nr = get_be16(payload + 4 + untrusted_name_len);
	if (len != 4 + untrusted_name_len + 2 + 2 * untrusted_nr)
		goto invalid;
	if (untrusted_name_len != 0) {
		add_err(ans, opt->option, NBD_REP_ERR_UNKNOWN,
			"no such export: only the default one (empty name)");
		return;
	}
	add_info_export(ans, opt->option, exp);
	add_info_block_size(ans, opt->option);
	add_rep(ans, opt->option, NBD_REP_ACK, NULL, 0);
	if (opt->option == NBD_OPT_GO)
		ans->next = NBD_NEXT_TRANSMIT;
	return;
invalid:
	add_err(ans, opt->option, NBD_REP_ERR_INVALID, "malformed option data");
}

/* NBD_OPT_EXPORT_NAME: the name is the whole data; no error reply exists. */
static void opt_export_name(const struct nbd_export *exp, uint32_t client_flags,
			    const struct nbd_opt *opt, struct nbd_answer *ans)
{
	uint8_t *p = ans->bytes;

	if (opt->payload_bytes != 0) {
		ans->next = NBD_NEXT_HANGUP;
		ans->why = "NBD_OPT_EXPORT_NAME for an unknown export";
		return;
	}
	p = put_be64(p, exp->size_bytes);
	p = put_be16(p, exp->flags);
	ans->len = 10;
	if (!(client_flags & NBD_FLAG_C_NO_ZEROES)) {
		memset(p, 0, NBD_EXPORT_NAME_ZEROES);
		ans->len += NBD_EXPORT_NAME_ZEROES;
	}
	ans->next = NBD_NEXT_TRANSMIT;
}

void nbd_opt_answer(const struct nbd_export *exp, uint32_t client_flags,
		    const struct nbd_opt *opt, const uint8_t *payload,
		    struct nbd_answer *ans_r)
{
	struct nbd_answer *ans = ans_r;
	uint32_t server = 0; /* NBD_REP_SERVER data: an empty name */

	ans->next = NBD_NEXT_OPTION;
	ans->why = NULL;
	ans->len = 0;

	if (opt->too_big) {
		/* Refuse without reading it, then close: the data is still
		 * on its way and we will not skip megabytes of it. Plain
		 * newstyle has no replies to refuse with. */
		if (client_flags & NBD_FLAG_C_FIXED_NEWSTYLE)
			add_err(ans, opt->option, NBD_REP_ERR_TOO_BIG,
				"option data over 4096 bytes");
		ans->next = NBD_NEXT_HANGUP;
		ans->why = "option data over 4096 bytes";
		return;
	}
	if (opt->option == NBD_OPT_EXPORT_NAME) {
		opt_export_name(exp, client_flags, opt, ans);
		return;
	}
	if (!(client_flags & NBD_FLAG_C_FIXED_NEWSTYLE)) {
		/* Plain newstyle has no option replies: nothing to say. */
		ans->next = NBD_NEXT_HANGUP;
		ans->why = "an option other than NBD_OPT_EXPORT_NAME from a "
			   "client without fixed newstyle";
		return;
	}
	switch (opt->option) {
	case NBD_OPT_ABORT:
		/* Any data is ignored, as the spec asks. */
		add_rep(ans, opt->option, NBD_REP_ACK, NULL, 0);
		ans->next = NBD_NEXT_ABORT;
		return;
	case NBD_OPT_LIST:
		if (opt->payload_bytes != 0) {
			add_err(ans, opt->option, NBD_REP_ERR_INVALID,
				"NBD_OPT_LIST takes no data");
			return;
		}
		add_rep(ans, opt->option, NBD_REP_SERVER, &server,
			sizeof(server));
		add_rep(ans, opt->option, NBD_REP_ACK, NULL, 0);
		return;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info(exp, opt, payload, ans);
		return;
	case NBD_OPT_STARTTLS:
	case NBD_OPT_STRUCTURED_REPLY:
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
	case NBD_OPT_EXTENDED_HEADERS:
	default:
		add_err(ans, opt->option, NBD_REP_ERR_UNSUP,
			"option not supported");
		return;
	}
}

/* ---- transmission ---- */

/* The flags each command may carry, given the export's flags. */
static uint16_t flags_allowed(uint16_t type, uint16_t exp_flags)
{
	uint16_t fua = exp_flags & NBD_FLAG_SEND_FUA ? NBD_CMD_FLAG_FUA : 0;

	/* The spec: with SEND_FUA, FUA is valid on every command. */
	if (type == NBD_CMD_WRITE_ZEROES)
		return fua | NBD_CMD_FLAG_NO_HOLE;
	return fua;
}

/* Whether the export advertised the command. */
static bool advertised(uint16_t type, uint16_t exp_flags)
{
	switch (type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_DISC:
		return true;
	case NBD_CMD_FLUSH:
		return exp_flags & NBD_FLAG_SEND_FLUSH;
	case NBD_CMD_TRIM:
		return exp_flags & NBD_FLAG_SEND_TRIM;
	case NBD_CMD_WRITE_ZEROES:
		return exp_flags & NBD_FLAG_SEND_WRITE_ZEROES;
	default:
		return false;
	}
}

static bool writes(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
	       type == NBD_CMD_WRITE_ZEROES;
}

/* The reply's error for a request (payload bounded already), or 0. */
static uint32_t validate(const struct nbd_request *req,
			 const struct nbd_export *exp)
{
	uint64_t size = exp->size_bytes;
	bool ro = exp->flags & NBD_FLAG_READ_ONLY;

	if (req->type == NBD_CMD_DISC)
		return 0; /* no reply; the connection closes anyway */
	/*
	 * Read-only first, as for blkif: a write to a read-only export is
	 * refused as such even when the export does not advertise TRIM or
	 * WRITE_ZEROES (the spec's EPERM).
	 */
	if (ro && writes(req->type))
		return NBD_EPERM;
	if (!advertised(req->type, exp->flags))
		return NBD_EINVAL;
	if (req->flags & ~flags_allowed(req->type, exp->flags))
		return NBD_EINVAL;
	if (req->type == NBD_CMD_FLUSH)
		return req->offset || req->length ? NBD_EINVAL : 0;
	/* Zero-length requests are unspecified: refuse them, strictly. */
	if (req->length == 0)
		return NBD_EINVAL;
	if (req->type == NBD_CMD_READ && req->length > NBD_MAX_PAYLOAD_BYTES)
		return NBD_EINVAL;
	if (req->offset % NBD_MIN_BLOCK_BYTES ||
	    req->length % NBD_MIN_BLOCK_BYTES)
		return NBD_EINVAL;
	/* offset + length <= size, without overflow */
	if (req->offset > size || req->length > size - req->offset)
		return req->type == NBD_CMD_WRITE ||
				       req->type == NBD_CMD_WRITE_ZEROES ?
			       NBD_ENOSPC :
			       NBD_EINVAL;
	return 0;
}

int nbd_decode_request(const uint8_t *hdr, const struct nbd_export *exp,
		       struct nbd_request *req_r)
{
	struct nbd_request req;

	if (get_be32(hdr) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	req.flags = get_be16(hdr + 4);
	req.type = get_be16(hdr + 6);
	req.cookie = get_be64(hdr + 8);
	req.offset = get_be64(hdr + 16);
	req.length = get_be32(hdr + 24);
	req.payload_bytes = 0;
	if (req.type == NBD_CMD_WRITE) {
		/* The payload follows whatever we think of the request:
		 * drain it to stay in step, unless it is too big to. */
		if (req.length > NBD_MAX_PAYLOAD_BYTES)
			return -EMSGSIZE;
		req.payload_bytes = req.length;
	}
	req.error = validate(&req, exp);
	*req_r = req;
	return 0;
}

void nbd_write_reply(uint8_t *out, uint32_t error, uint64_t cookie)
{
	out = put_be32(out, NBD_SIMPLE_REPLY_MAGIC);
	out = put_be32(out, error);
	put_be64(out, cookie);
}

uint32_t nbd_error_of(int rc, bool enospc_is_enospc)
{
	switch (rc) {
	case 0:
		return 0;
	case -ENOSPC:
	case -EDQUOT:
	case -EFBIG:
		/* The overlay (or its scratch) is full. NBD_ENOSPC makes QEMU
		 * pause the guest (werror=enospc); NBD_EIO is what blkif
		 * guests get. */
		return enospc_is_enospc ? NBD_ENOSPC : NBD_EIO;
	case -EROFS:
		return NBD_EPERM;
	default:
		return NBD_EIO;
	}
}
