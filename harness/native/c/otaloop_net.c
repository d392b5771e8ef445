/* otaloop native shim layer: the board's network policy in front of the host's sockets.
 *
 * An application helper links with --wrap for connect, getaddrinfo, gethostbyname, sendto and sendmsg,
 * so every way the user's C code (or a library it calls) can reach the network comes through here first.
 * With the board's loopback-only policy (the default; `--network open` lifts it) only 127.0.0.0/8, ::1
 * and the name localhost pass. Anything else is refused before any DNS lookup or connect: a name fails
 * as a lookup with no answer (EAI_AGAIN), an address as an unreachable host (EHOSTUNREACH), and the host
 * is reported to the board (the board's blocked_hosts). No packet leaves the host.
 *
 * It is otaloop's own code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "otaloop_app.h"
#include "otaloop_host.h"

int __real_connect(int fd, const struct sockaddr *addr, socklen_t len);
int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
struct hostent *__real_gethostbyname(const char *name);
ssize_t __real_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len);
ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);

/* Set by the runner from the board's policy. */
bool otaloop_network_open;
void otaloop_report_blocked(const char *host);

static bool loopback_v4(const struct in_addr *a) { return (ntohl(a->s_addr) >> 24) == 127u; }

static bool address_allowed(const struct sockaddr *addr, socklen_t len) {
    if (otaloop_network_open || addr == NULL) return true;
    if (addr->sa_family == AF_UNIX) return true;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
        return loopback_v4(&((const struct sockaddr_in *)addr)->sin_addr);
    if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        if (IN6_IS_ADDR_V4MAPPED(a)) return a->s6_addr[12] == 127u;
        return false;
    }
    return false;
}

static void report_address(const struct sockaddr *addr) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, text, sizeof text);
    else if (addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, text, sizeof text);
    otaloop_report_blocked(text);
}

bool otaloop_host_allowed(const char *host) {
    if (otaloop_network_open || host == NULL) return true;
    if (strcmp(host, "localhost") == 0) return true;
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) == 1) return loopback_v4(&v4);
    struct in6_addr v6;
    if (inet_pton(AF_INET6, host, &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false; /* any other name would need a DNS query that may leave the host */
}

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    if (!otaloop_host_allowed(node)) {
        otaloop_report_blocked(node);
        return EAI_AGAIN; /* as a lookup whose server never answers */
    }
    return __real_getaddrinfo(node, service, hints, res);
}

struct hostent *__wrap_gethostbyname(const char *name) {
    if (!otaloop_host_allowed(name)) {
        otaloop_report_blocked(name);
        h_errno = TRY_AGAIN;
        return NULL;
    }
    return __real_gethostbyname(name);
}

int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (!address_allowed(addr, len)) {
        report_address(addr);
        errno = EHOSTUNREACH;
        return -1;
    }
    return __real_connect(fd, addr, len);
}

ssize_t __wrap_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len) {
    if (addr != NULL && !address_allowed(addr, len)) {
        report_address(addr);
        errno = EHOSTUNREACH;
        return -1;
    }
    return __real_sendto(fd, buf, n, flags, addr, len);
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags) {
    if (msg != NULL && msg->msg_name != NULL && !address_allowed(msg->msg_name, msg->msg_namelen)) {
        report_address(msg->msg_name);
        errno = EHOSTUNREACH;
        return -1;
    }
    return __real_sendmsg(fd, msg, flags);
}

/* ---------------------------------------------------------------------------------- simple TCP client */
int otaloop_tcp_connect(const char *host, uint16_t port) {
    char service[8];
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%u", (unsigned)port);
    int rc = getaddrinfo(host, service, &hints, &found); /* through the policy above */
    if (rc != 0 || found == NULL) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(found);
        return -1;
    }
    rc = connect(fd, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (rc != 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    otaloop_mark_active();
    return fd;
}

int otaloop_tcp_connected(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, 0) <= 0) {
        otaloop_wait_socket(fd, true);
        return 0;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    otaloop_mark_active();
    return err == 0 ? 1 : -1;
}

long otaloop_tcp_send(int fd, const void *data, size_t length) {
    ssize_t n = send(fd, data, length, MSG_NOSIGNAL);
    if (n > 0) otaloop_mark_active();
    return (long)n;
}

long otaloop_tcp_recv(int fd, void *buffer, size_t length) {
    ssize_t n = recv(fd, buffer, length, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        otaloop_wait_socket(fd, false);
    else
        otaloop_mark_active();
    return (long)n;
}

void otaloop_tcp_close(int fd) {
    if (fd >= 0) close(fd);
}
