/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: where a moved client's server connection goes
 * (module/target_pick.c). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "target.h"

static void expect(const char *unixsocket, long long port, const char *bind,
		   const char *desc)
{
	struct rdm_target t;

	rdm_target_pick(unixsocket, port, bind, &t);
	if (!desc) {
		cr_assert_eq(t.len, 0, "%s", t.desc);
		return;
	}
	cr_assert_gt(t.len, 0, "want %s", desc);
	cr_assert_str_eq(t.desc, desc);
}

Test(target, unixsocket_first)
{
	struct rdm_target t;

	expect("/tmp/r.sock", 6379, "*", "unix:/tmp/r.sock");
	rdm_target_pick("/tmp/r.sock", 0, "", &t);
	cr_assert_eq(t.addr.ss_family, AF_UNIX);
	cr_assert_str_eq(((struct sockaddr_un *)&t.addr)->sun_path,
			 "/tmp/r.sock");
}

Test(target, loopback_when_bound)
{
	struct rdm_target t;

	expect("", 6379, "* -::*", "127.0.0.1:6379");
	expect("", 6379, "", "127.0.0.1:6379");
	expect("", 6380, "10.0.0.1 -127.0.0.1", "127.0.0.1:6380");
	expect("", 6380, "0.0.0.0", "127.0.0.1:6380");
	rdm_target_pick("", 6379, "127.0.0.1", &t);
	cr_assert_eq(t.addr.ss_family, AF_INET);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&t.addr)->sin_port), 6379);
	cr_assert_eq(ntohl(((struct sockaddr_in *)&t.addr)->sin_addr.s_addr),
		     INADDR_LOOPBACK);
}

Test(target, ipv6_loopback_then_first_address)
{
	expect("", 7000, "::1", "[::1]:7000");
	expect("", 7000, "-::*", "[::1]:7000");
	expect("", 7000, "10.1.2.3 10.1.2.4", "10.1.2.3:7000");
	expect("", 7000, "-fe80::1", "[fe80::1]:7000");
}

Test(target, none_without_port_or_socket)
{
	expect("", 0, "*", NULL);
	expect(NULL, 0, "127.0.0.1", NULL);
	expect("", 70000, "*", NULL);
}

Test(target, a_name_in_bind_tries_loopback)
{
	expect("", 6379, "localhost", "127.0.0.1:6379");
}
