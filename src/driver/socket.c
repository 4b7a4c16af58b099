/*
 * socket.c — what a server connection's socket says without a round trip.
 *
 * A server that restarted, or that ended the connection, has closed its
 * end: the client sees end-of-file waiting on the socket before it sends
 * anything. Looking (a peek that does not wait and reads nothing) tells a
 * connection lost before a statement is sent (nothing of it ran) from one
 * lost while the statement ran (COMMIT: perhaps applied).
 */
#include "driver/driver.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

int drv_socket_peek(int fd)
{
    if (fd < 0)
        return -1;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return 1;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
}
