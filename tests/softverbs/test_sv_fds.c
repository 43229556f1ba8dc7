// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: destroyed QPs give their sockets back at once (fd count back to its baseline). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "svt.h"

#define NQP (20 / SVT_SCALE + 2)

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static void open_small(struct svt_side *s)
{
	struct svt_opts o;

	svt_opts_init(&o);
	o.buflen = 4096;
	svt_open(s, &o);
}

/* The clients: NQP QPs that each take one message, then all go away. */
static void clients(int in, int out)
{
	static struct svt_side c[NQP];
	uint32_t mine[NQP], theirs[NQP];
	struct ibv_wc wc;
	int i;

	for (i = 0; i < NQP; i++) {
		open_small(&c[i]);
		mine[i] = c[i].qp->qp_num;
	}
	svt_write_all(out, mine, sizeof(mine));
	svt_read_all(in, theirs, sizeof(theirs));
	for (i = 0; i < NQP; i++) {
		svt_connect(&c[i], theirs[i], 7);
		if (svt_post_recv(&c[i], 0, 64, (uint64_t)i))
			_exit(2);
	}
	svt_write_all(out, mine, 1); /* receives posted */
	for (i = 0; i < NQP; i++)
		if (svt_poll(c[i].rcq, &wc, 1, 10000) != 1 || wc.status)
			_exit(3);
	for (i = 0; i < NQP; i++)
		svt_close(&c[i]);
	svt_write_all(out, mine, 1); /* all gone */
	_exit(0);
}

/*
 * A server's QPs, each connected to a QP of a client process: after the
 * clients left and the server destroyed its QPs, the server has exactly the
 * fds it had before (a server saw 38 -> 140 after 100 clients left, the
 * sockets waiting for the NIC thread's next wakeup).
 */
Test(sv_fds, destroyed_qps_close_their_sockets_at_once, .timeout = 60)
{
	static struct svt_side s[NQP];
	uint32_t mine[NQP], theirs[NQP];
	int to, from, pid, base, i;
	struct ibv_wc wc;
	char b;

	pid = svt_fork_peer(clients, &to, &from);
	/* the baseline: softverbs initialised, one QP made and gone */
	open_small(&s[0]);
	svt_close(&s[0]);
	base = count_fds();
	for (i = 0; i < NQP; i++) {
		open_small(&s[i]);
		mine[i] = s[i].qp->qp_num;
	}
	svt_read_all(from, theirs, sizeof(theirs));
	svt_write_all(to, mine, sizeof(mine));
	for (i = 0; i < NQP; i++)
		svt_connect(&s[i], theirs[i], 7);
	svt_read_all(from, &b, 1);
	for (i = 0; i < NQP; i++)
		cr_assert_eq(svt_post(&s[i], IBV_WR_SEND, 0, 64, 0, 0, 0,
				      IBV_SEND_SIGNALED, (uint64_t)i), 0);
	for (i = 0; i < NQP; i++) {
		cr_assert_eq(svt_poll(s[i].scq, &wc, 1, 10000), 1);
		cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	}
	cr_assert_gt(count_fds(), base + NQP, "each QP holds sockets");
	svt_read_all(from, &b, 1);
	cr_assert_eq(svt_wait_child(pid), 0);
	for (i = 0; i < NQP; i++)
		svt_close(&s[i]);
	cr_assert_eq(count_fds(), base, "fds left behind by destroyed QPs");
	close(to);
	close(from);
}
