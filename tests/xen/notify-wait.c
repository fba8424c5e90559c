/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify-wait SOCKET SECONDS: what systemd does for a Type=notify service,
 * for the lab's dom0 (which has no systemd): bind an AF_UNIX datagram
 * socket at SOCKET, print every message a process sends to it (the daemon
 * started with NOTIFY_SOCKET=SOCKET), one "notify: ..." line per field,
 * and exit 0 once one says READY=1, 1 if none did within SECONDS.
 * Messages after READY=1 (STOPPING=1) are not waited for.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec t0, now;
	char buf[4096];
	int fd, secs;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: notify-wait SOCKET SECONDS\n");
		return 2;
	}
	secs = atoi(argv[2]);
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("notify-wait: socket");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;
		char *line, *save;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = secs * 1000L - ((now.tv_sec - t0.tv_sec) * 1000L +
				       (now.tv_nsec - t0.tv_nsec) / 1000000L);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			printf("notify: no READY=1 within %d s\n", secs);
			return 1;
		}
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			continue;
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			printf("notify: %s\n", line);
			if (!strcmp(line, "READY=1")) {
				fflush(stdout);
				return 0;
			}
		}
		fflush(stdout);
	}
}
