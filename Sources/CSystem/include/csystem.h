// System headers Swift cannot import through Glibc: epoll, eventfd, TCP options, malloc_trim.
#ifndef CSYSTEM_H
#define CSYSTEM_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <malloc.h>

// The epoll_event union is awkward from Swift; these read and write the fd it carries.
static inline void csystem_event_set_fd(struct epoll_event *e, int fd) { e->data.fd = fd; }
static inline int csystem_event_fd(const struct epoll_event *e) { return e->data.fd; }
static inline int csystem_errno(void) { return errno; }
// Accepts a connection already non-blocking and close-on-exec (accept4, in shim.c:
// it needs _GNU_SOURCE, which must not leak into the headers Swift imports).
int csystem_accept(int fd);
#endif
