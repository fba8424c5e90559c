/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: a whole NBD client stream through the option and request
 * decoders, the way backend/nbd.c consumes it.
 *
 * Input: a 9-byte header choosing the export and the client, then what the
 * client sends after its flags: option headers, each followed by as much
 * of its data as the decoder said to read (the data sits in a heap buffer of
 * exactly that size, so a sanitizer build catches an overread), until an
 * answer enters transmission; then request headers, each followed by the
 * WRITE payload the decoder said to read. The stream stops where the server
 * would hang up. Besides "no crash", abort() on any answer or accepted
 * request that breaks a rule nbd-proto.h promises.
 *
 * Header: [0] bit0 read-only export, bit1 NBD_FLAG_C_FIXED_NEWSTYLE, bit2
 * NBD_FLAG_C_NO_ZEROES; [1..8] export size in 512-byte sectors (LE, mod
 * 2^35: up to 16 TiB).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/nbd-proto.h"
#include "tests/testlib.h"

#define HDR_BYTES 9u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The option replies of an answer tile it, each echoing the option. */
static void check_replies(const struct nbd_answer *a, uint32_t option)
{
	size_t off = 0;
	uint32_t type = 0;
	bool info_export = false;

	while (off < a->len) {
		uint32_t len;

		if (a->len - off < NBD_REP_HDR_BYTES ||
		    be_get(a->bytes + off, 8) != NBD_REP_MAGIC ||
		    be_get(a->bytes + off + 8, 4) != option)
			abort();
		type = (uint32_t)be_get(a->bytes + off + 12, 4);
		len = (uint32_t)be_get(a->bytes + off + 16, 4);
		if (len > a->len - off - NBD_REP_HDR_BYTES)
			abort();
		if (type == NBD_REP_INFO && len == 12 &&
		    be_get(a->bytes + off + 20, 2) == NBD_INFO_EXPORT)
			info_export = true;
		off += NBD_REP_HDR_BYTES + len;
	}
	/* The last reply is final: ACK or an error. */
	if (a->len && type != NBD_REP_ACK && !(type & NBD_REP_FLAG_ERROR))
		abort();
	/* Entering transmission after GO: NBD_INFO_EXPORT came first. */
	if (a->next == NBD_NEXT_TRANSMIT && !info_export)
		abort();
}

static void check_answer(const struct nbd_answer *a, const struct nbd_opt *o,
			 uint32_t client_flags)
{
	if (a->len > NBD_ANSWER_MAX)
		abort();
	if ((a->next == NBD_NEXT_HANGUP) != (a->why != NULL))
		abort();
	if (o->too_big && a->next != NBD_NEXT_HANGUP)
		abort();
	if (o->option == NBD_OPT_EXPORT_NAME && a->next == NBD_NEXT_TRANSMIT) {
		size_t want = client_flags & NBD_FLAG_C_NO_ZEROES ? 10 : 134;

		if (o->payload_bytes != 0 || a->len != want)
			abort();
		return;
	}
	if (a->next == NBD_NEXT_TRANSMIT && o->option != NBD_OPT_GO)
		abort();
	if (a->next != NBD_NEXT_OPTION &&
	    !(client_flags & NBD_FLAG_C_FIXED_NEWSTYLE) && a->len)
		abort(); /* plain newstyle has no option replies */
	check_replies(a, o->option);
}

static void check_request(const struct nbd_request *r,
			  const struct nbd_export *exp)
{
	bool ro = exp->flags & NBD_FLAG_READ_ONLY;
	uint16_t ok_flags = NBD_CMD_FLAG_FUA;

	if (r->payload_bytes != (r->type == NBD_CMD_WRITE ? r->length : 0) ||
	    r->payload_bytes > NBD_MAX_PAYLOAD_BYTES)
		abort();
	if (r->error)
		return;
	switch (r->type) {
	case NBD_CMD_DISC:
		return;
	case NBD_CMD_FLUSH:
		if (r->offset || r->length)
			abort();
		break;
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
		if (r->length > NBD_MAX_PAYLOAD_BYTES)
			abort();
		break;
	case NBD_CMD_WRITE_ZEROES:
		ok_flags |= NBD_CMD_FLAG_NO_HOLE;
		break;
	case NBD_CMD_TRIM:
		break;
	default:
		abort(); /* an unknown command accepted */
	}
	if (ro && r->type != NBD_CMD_READ && r->type != NBD_CMD_FLUSH)
		abort();
	if (ro)
		ok_flags = 0; /* FUA is not advertised read-only */
	if (r->flags & ~ok_flags)
		abort();
	if (r->type == NBD_CMD_FLUSH)
		return;
	if (r->length == 0 || r->offset % 512 || r->length % 512 ||
	    r->offset > exp->size_bytes ||
	    r->length > exp->size_bytes - r->offset)
		abort();
}

static void check_reply(const struct nbd_request *r)
{
	uint8_t out[NBD_REPLY_BYTES];

	nbd_write_reply(out, r->error, r->cookie);
	if (be_get(out, 4) != NBD_SIMPLE_REPLY_MAGIC ||
	    be_get(out + 4, 4) != r->error || be_get(out + 8, 8) != r->cookie)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nbd_export exp;
	uint32_t client_flags = 0;
	size_t off = HDR_BYTES;
	uint64_t sectors = 0;
	unsigned int i;

	if (size < HDR_BYTES)
		return 0;
	for (i = 8; i >= 1; i--)
		sectors = sectors << 8 | data[i];
	exp.size_bytes = (sectors & ((1ull << 35) - 1)) * 512;
	exp.flags = nbd_export_flags(data[0] & 1);
	if (data[0] & 2)
		client_flags |= NBD_FLAG_C_FIXED_NEWSTYLE;
	if (data[0] & 4)
		client_flags |= NBD_FLAG_C_NO_ZEROES;

	/* Option haggling. */
	for (;;) {
		struct nbd_answer ans;
		struct nbd_opt opt;
		uint8_t *payload;

		if (size - off < NBD_OPT_HDR_BYTES)
			return 0;
		if (nbd_decode_opt(data + off, &opt))
			return 0;
		off += NBD_OPT_HDR_BYTES;
		if (opt.too_big ? opt.payload_bytes != 0 :
				  opt.payload_bytes > NBD_OPT_MAX_BYTES)
			abort();
		if (size - off < opt.payload_bytes)
			return 0; /* the server would wait for the rest */
		payload = malloc(opt.payload_bytes ? opt.payload_bytes : 1);
		if (!payload)
			abort();
		memcpy(payload, data + off, opt.payload_bytes);
		off += opt.payload_bytes;
		nbd_opt_answer(&exp, client_flags, &opt, payload, &ans);
		free(payload);
		check_answer(&ans, &opt, client_flags);
		if (ans.next == NBD_NEXT_TRANSMIT)
			break;
		if (ans.next != NBD_NEXT_OPTION)
			return 0;
	}

	/* Transmission. */
	while (size - off >= NBD_REQUEST_BYTES) {
		struct nbd_request req;

		if (nbd_decode_request(data + off, &exp, &req))
			return 0;
		off += NBD_REQUEST_BYTES;
		check_request(&req, &exp);
		check_reply(&req);
		if (req.type == NBD_CMD_DISC)
			return 0;
		if (size - off < req.payload_bytes)
			return 0;
		off += req.payload_bytes;
	}
	return 0;
}
