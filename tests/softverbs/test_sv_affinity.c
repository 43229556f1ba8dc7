// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: its NIC and CM threads run on the process's CPUs, not on the CPU of the thread that started them. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_* */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdbool.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "svt.h"

/* The CPUs of this process's thread called name; false if there is none. */
static bool thread_cpus(const char *name, cpu_set_t *cpus)
{
	int tid = svt_thread_tid(name);

	return tid >= 0 && !sched_getaffinity(tid, sizeof(*cpus), cpus);
}

Test(sv_affinity, helper_threads_keep_the_process_cpus, .timeout = 60)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct rdma_event_channel *ch;
	struct ibv_device **devs;
	struct rdma_cm_id *id;
	cpu_set_t all, one, got;
	int cpu, n;

	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	if (CPU_COUNT(&all) < 2) {
		cr_log_warn("one CPU: nothing to tell apart");
		return;
	}
	/* the starting thread pinned to one CPU, as an engine's poller is */
	for (cpu = 0; !CPU_ISSET(cpu, &all); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);

	devs = ibv_get_device_list(&n); /* starts the NIC thread */
	cr_assert(devs && n >= 1);
	ch = rdma_create_event_channel();
	cr_assert(ch);
	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(rdma_bind_addr(id, (struct sockaddr *)&sin), 0);
	cr_assert_eq(rdma_listen(id, 1), 0); /* starts the CM thread */

	cr_assert(thread_cpus("sv-nic", &got), "no sv-nic thread");
	cr_assert(CPU_EQUAL(&got, &all), "sv-nic: %d CPUs, want %d",
		  CPU_COUNT(&got), CPU_COUNT(&all));
	cr_assert(thread_cpus("softverbs-cm", &got), "no softverbs-cm thread");
	cr_assert(CPU_EQUAL(&got, &all), "softverbs-cm: %d CPUs, want %d",
		  CPU_COUNT(&got), CPU_COUNT(&all));

	rdma_destroy_id(id);
	rdma_destroy_event_channel(ch);
	ibv_free_device_list(devs);
}
