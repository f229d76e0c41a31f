#define _GNU_SOURCE
#include <sys/socket.h>
#include "csystem.h"

int csystem_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }
