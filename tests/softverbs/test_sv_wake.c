// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: a process's ring peers wake its NIC thread once per sleep, not once per connection. */
#include <criterion/criterion.h>
#include <dirent.h>
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

/* The state letter of process or thread @pid (/proc/PID/stat), or 0. */
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
 * The doorbells rung for process @pid so far: the sum of the counters of
 * the eventfds it holds (a ring adds one, and softverbs never reads its
 * doorbells). While @pid is stopped only a peer changes them, whichever of
 * the peer's threads rings.
 */
static long doorbells_of(int pid)
{
	char dir[64], path[320], link[64];
	struct dirent *e;
	long sum = 0;
	ssize_t n;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	cr_assert(d, "cannot open %s", dir);
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (strcmp(link, "anon_inode:[eventfd]"))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid,
			 e->d_name);
		sum += svt_proc_field(path, "eventfd-count", 16);
	}
	closedir(d);
	return sum;
}

/*
 * The receiver's NIC thread cannot run (the process is stopped) while this
 * process sends one message on each of NQP connections to it, connections
 * that carried a message before. With a doorbell per connection that is NQP
 * doorbells, all for one wakeup; through the receiver's awake word it is at
 * most one (none when the receiver stopped before its NIC thread went to
 * sleep). They are counted at the receiver, so that it does not matter
 * which of our threads moved a message (a post that finds sv.lock busy
 * leaves it to our NIC thread). All messages arrive once it runs.
 */
Test(sv_wake, one_doorbell_wakes_a_sleeping_peer_for_all_its_hot_rings,
     .timeout = 60)
{
	static struct svt_side s[NQP];
	uint32_t mine[NQP], theirs[NQP];
	const char *t = getenv("SOFTVERBS_TRANSPORT");
	int to, from, pid, nic, i, good;
	uint64_t deadline;
	struct ibv_wc wc;
	long bells;
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
	/* and our NIC thread asleep (nothing wakes it while the receiver is
	 * stopped), so that each post finds sv.lock free and puts its
	 * message into the ring itself before it returns */
	nic = svt_thread_tid("sv-nic");
	cr_assert_geq(nic, 0, "no sv-nic thread");
	while (proc_state(nic) != 'S')
		cr_assert_lt(ts_now_ns(), deadline, "NIC thread did not sleep");
	bells = doorbells_of(pid);
	for (i = 0; i < NQP; i++)
		cr_assert_eq(svt_post(&s[i], IBV_WR_SEND, MSG, MSG, 0, 0, 0,
				      IBV_SEND_SIGNALED, 2), 0);
	bells = doorbells_of(pid) - bells;
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
	/* one doorbell, not one per connection (the socket transport has no
	 * doorbells, only the delivery is checked there) */
	if (!t || strcmp(t, "socket"))
		cr_assert_leq(bells, 1, "%ld doorbells for %d messages to a "
			      "sleeping peer's hot rings", bells, NQP);
	for (i = 0; i < NQP; i++)
		svt_close(&s[i]);
	close(to);
	close(from);
}
