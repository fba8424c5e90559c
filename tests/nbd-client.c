/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A blocking NBD client for tests (tests/nbd-client.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/nbd-client.h"
#include "tests/testlib.h"

#define MiB (1024u * 1024u)

/* Receive len bytes: 0, or -1 at EOF or on an error (or the 10 s timeout). */
int nbdc_recv(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

void nbdc_send(int fd, const void *buf, size_t len)
{
	size_t sent = 0;

	while (sent < len) {
		ssize_t n = send(fd, (const uint8_t *)buf + sent, len - sent,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "send: %s", strerror(errno));
		sent += (size_t)n;
	}
}

int nbdc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0, "socket");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	      "connect %s: %s", path, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The server hangs up: EOF (or a reset) before any byte. */
bool nbdc_closed(int fd)
{
	uint8_t b;
	ssize_t n;

	do
		n = recv(fd, &b, 1, 0);
	while (n < 0 && errno == EINTR);
	return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

void nbdc_greeting(int fd)
{
	uint8_t g[18];

	CHECK(nbdc_recv(fd, g, sizeof(g)) == 0, "no greeting");
	CHECK(!memcmp(g, "NBDMAGICIHAVEOPT", 16), "greeting magic");
	CHECK(be_get(g + 16, 2) == 3, "handshake flags %#x",
	      (unsigned int)be_get(g + 16, 2));
}

void nbdc_flags(int fd, uint32_t flags)
{
	uint8_t b[4];

	be_put(b, flags, 4);
	nbdc_send(fd, b, sizeof(b));
}

/* Connect, read the greeting, send client flags. */
int nbdc_hello(const char *path, uint32_t flags)
{
	int fd = nbdc_connect(path);

	nbdc_greeting(fd);
	nbdc_flags(fd, flags);
	return fd;
}

void nbdc_opt(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];

	memcpy(h, "IHAVEOPT", 8);
	be_put(h + 8, opt, 4);
	be_put(h + 12, len, 4);
	nbdc_send(fd, h, sizeof(h));
	if (len)
		nbdc_send(fd, data, len);
}

void nbdc_rep(int fd, struct nbdc_rep *r)
{
	uint8_t h[20];

	CHECK(nbdc_recv(fd, h, sizeof(h)) == 0, "no option reply");
	CHECK(be_get(h, 8) == 0x0003e889045565a9ull, "option reply magic");
	r->opt = (uint32_t)be_get(h + 8, 4);
	r->type = (uint32_t)be_get(h + 12, 4);
	r->len = (uint32_t)be_get(h + 16, 4);
	CHECK(r->len <= sizeof(r->data), "reply of %u bytes", r->len);
	CHECK(nbdc_recv(fd, r->data, r->len) == 0, "option reply data");
}

/* GO or INFO data: the name, then one NBD_INFO_BLOCK_SIZE request. */
uint32_t nbdc_go_data(uint8_t *d, const char *name)
{
	uint32_t n = (uint32_t)strlen(name);

	be_put(d, n, 4);
	memcpy(d + 4, name, n);
	be_put(d + 4 + n, 1, 2);
	be_put(d + 6 + n, 3, 2);
	return 8 + n;
}

/* GO/INFO for the default export: INFO(EXPORT), INFO(BLOCK_SIZE), ACK. */
void nbdc_go(int fd, uint32_t opt, uint64_t size, uint16_t flags)
{
	bool export = false, bs = false;
	uint8_t d[64];
	struct nbdc_rep r;

	nbdc_opt(fd, opt, d, nbdc_go_data(d, ""));
	for (;;) {
		nbdc_rep(fd, &r);
		CHECK(r.opt == opt, "reply to %u", r.opt);
		if (r.type == REP_ACK)
			break;
		CHECK(r.type == REP_INFO, "GO reply type %#x", r.type);
		switch (be_get(r.data, 2)) {
		case 0:
			CHECK(r.len == 12, "INFO_EXPORT of %u bytes", r.len);
			CHECK(be_get(r.data + 2, 8) == size, "size %llu",
			      (unsigned long long)be_get(r.data + 2, 8));
			CHECK(be_get(r.data + 10, 2) == flags, "flags %#x",
			      (unsigned int)be_get(r.data + 10, 2));
			export = true;
			break;
		case 3:
			CHECK(r.len == 14 && be_get(r.data + 2, 4) == 512 &&
				      be_get(r.data + 6, 4) == 4096 &&
				      be_get(r.data + 10, 4) == 32 * MiB,
			      "block sizes");
			bs = true;
			break;
		}
	}
	CHECK(export && bs, "GO without INFO_EXPORT or BLOCK_SIZE");
}

/* A client in transmission, the way QEMU gets there. */
int nbdc_open(const char *path, uint64_t size, uint16_t flags)
{
	int fd = nbdc_hello(path, 3);

	nbdc_go(fd, OPT_GO, size, flags);
	return fd;
}

void nbdc_req(int fd, uint16_t flags, uint16_t type, uint64_t cookie,
		   uint64_t off, uint32_t len)
{
	uint8_t h[28];

	be_put(h, 0x25609513u, 4);
	be_put(h + 4, flags, 2);
	be_put(h + 6, type, 2);
	be_put(h + 8, cookie, 8);
	be_put(h + 16, off, 8);
	be_put(h + 24, len, 4);
	nbdc_send(fd, h, sizeof(h));
}

/* The simple reply to cookie; its data (len bytes) if it succeeded. */
uint32_t nbdc_reply(int fd, uint64_t cookie, void *data, uint32_t len)
{
	uint8_t h[16];
	uint32_t err;

	CHECK(nbdc_recv(fd, h, sizeof(h)) == 0, "no reply to cookie %llu",
	      (unsigned long long)cookie);
	CHECK(be_get(h, 4) == 0x67446698u, "reply magic %#llx",
	      (unsigned long long)be_get(h, 4));
	CHECK(be_get(h + 8, 8) == cookie, "cookie %llu for %llu",
	      (unsigned long long)be_get(h + 8, 8), (unsigned long long)cookie);
	err = (uint32_t)be_get(h + 4, 4);
	if (!err && data)
		CHECK(nbdc_recv(fd, data, len) == 0, "read data");
	return err;
}

static uint64_t cookies = 1000; /* one client program at a time */

uint32_t nbdc_read(int fd, uint64_t off, uint32_t len, void *buf)
{
	uint64_t ck = cookies++;

	nbdc_req(fd, 0, CMD_READ, ck, off, len);
	return nbdc_reply(fd, ck, buf, len);
}

uint32_t nbdc_write(int fd, uint16_t flags, uint64_t off, uint32_t len,
			 const void *buf)
{
	uint64_t ck = cookies++;

	nbdc_req(fd, flags, CMD_WRITE, ck, off, len);
	nbdc_send(fd, buf, len);
	return nbdc_reply(fd, ck, NULL, 0);
}

uint32_t nbdc_cmd(int fd, uint16_t flags, uint16_t type, uint64_t off,
		       uint32_t len)
{
	uint64_t ck = cookies++;

	nbdc_req(fd, flags, type, ck, off, len);
	return nbdc_reply(fd, ck, NULL, 0);
}

void nbdc_disc(int fd)
{
	nbdc_req(fd, 0, CMD_DISC, cookies++, 0, 0);
	CHECK(nbdc_closed(fd), "open after DISC");
	close(fd);
}
