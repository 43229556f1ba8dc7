// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: a process's ring peers wake its NIC thread once per sleep, not once per connection. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "svt.h"

#define NQP 16
#define MSG 64

static uint8_t pattern(int qp, int i)
{
	return (uint8_t)(qp * 31 + i * 7 + 1);
}

/* NQP sides with a page of memory each; @qpn gets their QP numbers. */
static void open_all(struct svt_side *s, uint32_t *qpn)
{
	struct svt_opts o;

	svt_opts_init(&o);
	o.buflen = 4096;
	for (int i = 0; i < NQP; i++) {
		svt_open(&s[i], &o);
		qpn[i] = s[i].qp->qp_num;
	}
}

/*
 * The receiving process: NQP QPs with two receives each. It takes the
 * first message of every QP (its NIC thread now keeps them on its hot
 * list), says so, and then reports how many second messages arrived
 * intact.
 */
static void receiver(int in, int out)
{
	static struct svt_side r[NQP];
	uint32_t mine[NQP], theirs[NQP];
	struct ibv_wc wc;
	int i, good = 0;
	char b = 0;

	open_all(r, mine);
	svt_write_all(out, mine, sizeof(mine));
	svt_read_all(in, theirs, sizeof(theirs));
	for (i = 0; i < NQP; i++) {
		svt_connect(&r[i], theirs[i], 7);
		if (svt_post_recv(&r[i], 0, MSG, 1) ||
		    svt_post_recv(&r[i], MSG, MSG, 2))
			_exit(2);
	}
	svt_write_all(out, &b, 1); /* receives posted */
	for (i = 0; i < NQP; i++)
		if (svt_poll(r[i].rcq, &wc, 1, 10000) != 1 || wc.status)
			_exit(3);
	svt_write_all(out, &b, 1); /* first messages in */
	for (i = 0; i < NQP; i++) {
		int k;

		if (svt_poll(r[i].rcq, &wc, 1, 10000) != 1 || wc.status ||
		    wc.wr_id != 2 || wc.byte_len != MSG)
			continue;
		for (k = 0; k < MSG && r[i].buf[MSG + k] == pattern(i, k); k++)
			;
		good += k == MSG;
	}
	svt_write_all(out, &good, sizeof(good));
	svt_read_all(in, &b, 1);
	for (i = 0; i < NQP; i++)
		svt_close(&r[i]);
	_exit(0);
}

/* The state letter of process @pid (/proc/PID/stat), or 0. */
static char proc_state(int pid)
{
	char path[64], comm[64], st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%*d (%63[^)]) %c", comm, &st) != 2)
		st = 0;
	fclose(f);
	return st;
}

/*
 * The receiver's NIC thread cannot run (the process is stopped) while this
 * process sends one message on each of NQP connections to it, connections
 * that carried a message before. With a doorbell per connection that is NQP
 * eventfd writes by the posting thread, all for one wakeup; through the
 * receiver's awake word it is at most one (none when the receiver stopped
 * before its NIC thread went to sleep). All messages arrive once it runs.
 */
Test(sv_wake, one_doorbell_wakes_a_sleeping_peer_for_all_its_hot_rings,
     .timeout = 60)
{
	static struct svt_side s[NQP];
	uint32_t mine[NQP], theirs[NQP];
	const char *t = getenv("SOFTVERBS_TRANSPORT");
	int to, from, pid, i, good;
	uint64_t deadline;
	struct ibv_wc wc;
	long writes;
	char b = 0;

	pid = svt_fork_peer(receiver, &to, &from);
	open_all(s, mine);
	svt_read_all(from, theirs, sizeof(theirs));
	svt_write_all(to, mine, sizeof(mine));
	for (i = 0; i < NQP; i++)
		svt_connect(&s[i], theirs[i], 7);
	svt_read_all(from, &b, 1);
	for (i = 0; i < NQP; i++) {
		memset(s[i].buf, 0, MSG);
		for (int k = 0; k < MSG; k++)
			s[i].buf[MSG + k] = pattern(i, k);
		cr_assert_eq(svt_post(&s[i], IBV_WR_SEND, 0, MSG, 0, 0, 0,
				      IBV_SEND_SIGNALED, 1), 0);
	}
	for (i = 0; i < NQP; i++) {
		cr_assert_eq(svt_poll(s[i].scq, &wc, 1, 10000), 1);
		cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	}
	svt_read_all(from, &b, 1);
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	deadline = ts_now_ns() + 10000000000ull;
	while (proc_state(pid) != 'T')
		cr_assert_lt(ts_now_ns(), deadline, "receiver did not stop");
	writes = svt_proc_field("/proc/thread-self/io", "syscw");
	for (i = 0; i < NQP; i++)
		cr_assert_eq(svt_post(&s[i], IBV_WR_SEND, MSG, MSG, 0, 0, 0,
				      IBV_SEND_SIGNALED, 2), 0);
	writes = svt_proc_field("/proc/thread-self/io", "syscw") - writes;
	cr_assert_eq(kill(pid, SIGCONT), 0);
	svt_read_all(from, &good, sizeof(good));
	cr_assert_eq(good, NQP, "%d of %d second messages arrived intact",
		     good, NQP);
	for (i = 0; i < NQP; i++) {
		cr_assert_eq(svt_poll(s[i].scq, &wc, 1, 10000), 1);
		cr_assert_eq(wc.status, IBV_WC_SUCCESS);
		cr_assert_eq(wc.wr_id, 2);
	}
	svt_write_all(to, &b, 1);
	cr_assert_eq(svt_wait_child(pid), 0);
	/* one doorbell, and a kick of our own NIC thread should a post
	 * find sv.lock busy: far fewer than one per connection (the socket
	 * transport has no doorbells, only the delivery is checked there) */
	if (!t || strcmp(t, "socket"))
		cr_assert_leq(writes, NQP / 4, "%ld write calls to post %d "
			      "messages to a sleeping peer's hot rings",
			      writes, NQP);
	for (i = 0; i < NQP; i++)
		svt_close(&s[i]);
	close(to);
	close(from);
}
