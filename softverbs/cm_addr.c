// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: addresses, the abstract-socket port space and port allocation. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_internal.h"

socklen_t cm_addr_len(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

uint16_t cm_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void cm_addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

/* IPv4 address of @sa (also IPv4-mapped IPv6), network order; false if none. */
static bool addr_v4(const struct sockaddr *sa, uint32_t *v4)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		*v4 = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
		return true;
	}
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(v4, &s6->sin6_addr.s6_addr[12], 4);
		return true;
	}
	return false;
}

bool cm_addr_is_any(const struct sockaddr *sa)
{
	uint32_t v4;

	if (addr_v4(sa, &v4))
		return v4 == htonl(INADDR_ANY);
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(
		       &((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static bool is_interface_addr(const struct sockaddr *sa)
{
	struct ifaddrs *ifa, *i;
	bool found = false;
	uint32_t a, b;

	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (addr_v4(sa, &a) && addr_v4(i->ifa_addr, &b))
			found = a == b;
		else if (sa->sa_family == AF_INET6 &&
			 i->ifa_addr->sa_family == AF_INET6)
			found = !memcmp(
			    &((const struct sockaddr_in6 *)sa)->sin6_addr,
			    &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
			    sizeof(struct in6_addr));
	}
	freeifaddrs(ifa);
	return found;
}

/* This host: 0.0.0.0, 127/8, ::, ::1, SOFTVERBS_IPV4, interface addresses. */
bool cm_addr_is_local(const struct sockaddr *sa)
{
	uint32_t v4;

	if (!cm_addr_len(sa))
		return false;
	if (cm_addr_is_any(sa))
		return true;
	if (addr_v4(sa, &v4)) {
		if ((ntohl(v4) >> 24) == 127)
			return true;
		if (v4 == sv_config()->ipv4.s_addr)
			return true;
	} else if (IN6_IS_ADDR_LOOPBACK(
			   &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		return true;
	}
	return is_interface_addr(sa);
}

/* "softverbs/cm/<ip>:<port>", IPv6 as "[ip]:port", IPv4-mapped as IPv4. */
static void addr_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	struct in_addr in;
	uint32_t v4;

	if (addr_v4(sa, &v4)) {
		in.s_addr = v4;
		inet_ntop(AF_INET, &in, ip, sizeof(ip));
		snprintf(buf, len, CM_SOCK_PREFIX "%s:%u", ip,
			 cm_addr_port(sa));
		return;
	}
	inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
		  sizeof(ip));
	snprintf(buf, len, CM_SOCK_PREFIX "[%s]:%u", ip, cm_addr_port(sa));
}

socklen_t cm_addr_sun(const struct sockaddr *sa, struct sockaddr_un *sun)
{
	char name[sizeof(sun->sun_path) - 1];

	addr_name(sa, name, sizeof(name));
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path + 1, name, strlen(name));
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   strlen(name));
}

void cm_addr_source_for(const struct sockaddr *dst,
			struct sockaddr_storage *src)
{
	memset(src, 0, sizeof(*src));
	memcpy(src, dst, cm_addr_len(dst));
	if (cm_addr_is_any(dst)) {
		if (dst->sa_family == AF_INET)
			((struct sockaddr_in *)src)->sin_addr.s_addr =
				htonl(INADDR_LOOPBACK);
		else
			((struct sockaddr_in6 *)src)->sin6_addr =
				in6addr_loopback;
	}
	cm_addr_set_port((struct sockaddr *)src, 0);
}

void cm_local_gid(union ibv_gid *gid)
{
	sv_gid_from_ipv4(sv_config()->ipv4.s_addr, gid);
}

static int bind_name(int fd, const struct sockaddr *sa)
{
	struct sockaddr_un sun;
	socklen_t len = cm_addr_sun(sa, &sun);

	return bind(fd, (struct sockaddr *)&sun, len) ? -errno : 0;
}

/* Bind @fd to a free port from the kernel's ephemeral range. */
static int bind_ephemeral(int fd, struct sockaddr_storage *sa)
{
	unsigned int span = CM_PORT_MAX - CM_PORT_MIN + 1, i, start;
	uint16_t port;
	int ret = -EADDRINUSE;

	start = (unsigned int)random() ^ (unsigned int)getpid();
	for (i = 0; i < span; i++) {
		port = (uint16_t)(CM_PORT_MIN + (start + i) % span);
		cm_addr_set_port((struct sockaddr *)sa, port);
		ret = bind_name(fd, (struct sockaddr *)sa);
		if (ret != -EADDRINUSE)
			break;
	}
	if (ret)
		cm_addr_set_port((struct sockaddr *)sa, 0);
	return ret;
}

int cm_bind_socket(struct sockaddr_storage *sa)
{
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (cm_addr_port((struct sockaddr *)sa))
		ret = bind_name(fd, (struct sockaddr *)sa);
	else
		ret = bind_ephemeral(fd, sa);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}
