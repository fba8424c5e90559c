/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A blocking NBD client for tests, written byte by byte from the NBD
 * protocol (proto.md): fixed newstyle handshake, options, simple replies.
 * Every call CHECKs what the protocol promises and fails the test on a
 * broken promise; the calls that return a status return the reply's NBD
 * error (0 on success) so that a test can expect an error.
 */
#ifndef XE_TESTS_NBD_CLIENT_H
#define XE_TESTS_NBD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* proto.md's numbers, written out */
#define OPT_EXPORT_NAME 1u
#define OPT_ABORT 2u
#define OPT_LIST 3u
#define OPT_STARTTLS 5u
#define OPT_INFO 6u
#define OPT_GO 7u
#define OPT_STRUCTURED_REPLY 8u
#define OPT_LIST_META_CONTEXT 9u
#define OPT_SET_META_CONTEXT 10u
#define OPT_EXTENDED_HEADERS 11u
#define REP_ACK 1u
#define REP_SERVER 2u
#define REP_INFO 3u
#define REP_ERR_UNSUP 0x80000001u
#define REP_ERR_UNKNOWN 0x80000006u
#define REP_ERR_TOO_BIG 0x80000009u
#define CMD_READ 0u
#define CMD_WRITE 1u
#define CMD_DISC 2u
#define CMD_FLUSH 3u
#define CMD_TRIM 4u
#define CMD_CACHE 5u
#define CMD_WRITE_ZEROES 6u
#define CMD_BLOCK_STATUS 7u
#define F_FUA 1u
#define F_NO_HOLE 2u
#define F_DF 4u
#define EPERM_ 1u
#define EIO_ 5u
#define EINVAL_ 22u
#define ENOSPC_ 28u
#define FLAGS_RW 0x006du /* HAS_FLAGS FLUSH FUA TRIM WRITE_ZEROES */
#define FLAGS_RO 0x0007u /* HAS_FLAGS READ_ONLY FLUSH */

/* Receive len bytes: 0, or -1 at EOF or on an error (or the 10 s timeout). */
int nbdc_recv(int fd, void *buf, size_t len);
void nbdc_send(int fd, const void *buf, size_t len);
/* Connect to the Unix socket at path (10 s send and receive timeouts). */
int nbdc_connect(const char *path);
/* The server hangs up: EOF (or a reset) before any byte. */
bool nbdc_closed(int fd);
void nbdc_greeting(int fd);
void nbdc_flags(int fd, uint32_t flags);
/* Connect, read the greeting, send client flags. */
int nbdc_hello(const char *path, uint32_t flags);
void nbdc_opt(int fd, uint32_t opt, const void *data, uint32_t len);

struct nbdc_rep {
	uint32_t opt, type, len;
	uint8_t data[1024];
};
void nbdc_rep(int fd, struct nbdc_rep *r);
/* GO or INFO data: the name, then one NBD_INFO_BLOCK_SIZE request. */
uint32_t nbdc_go_data(uint8_t *d, const char *name);
/* GO/INFO for the default export: INFO(EXPORT), INFO(BLOCK_SIZE), ACK,
 * checking the size and the transmission flags. */
void nbdc_go(int fd, uint32_t opt, uint64_t size, uint16_t flags);
/* A client in transmission, the way QEMU gets there. */
int nbdc_open(const char *path, uint64_t size, uint16_t flags);
void nbdc_req(int fd, uint16_t flags, uint16_t type, uint64_t cookie,
	      uint64_t off, uint32_t len);
/* The simple reply to cookie; its data (len bytes) if it succeeded. */
uint32_t nbdc_reply(int fd, uint64_t cookie, void *data, uint32_t len);
uint32_t nbdc_read(int fd, uint64_t off, uint32_t len, void *buf);
uint32_t nbdc_write(int fd, uint16_t flags, uint64_t off, uint32_t len,
		    const void *buf);
uint32_t nbdc_cmd(int fd, uint16_t flags, uint16_t type, uint64_t off,
		  uint32_t len);
/* NBD_CMD_DISC, then the server must hang up; fd is closed. */
void nbdc_disc(int fd);

#endif
