// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The producer against a Kafka-protocol peer in another process (kafka-peer,
 * librdkafka's mock cluster), with what it wrote read back by kcat, a third
 * process. Faults are injected through the peer's command stdin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "event_peek.h"
#include "producer.h"
#include "shipper.h"
#include "spool.h"

#define MAX_TOKENS       8000
#define DELIVERY_WAIT_MS 60000

struct peer {
	pid_t pid;
	FILE *in;  /* our commands */
	FILE *out; /* its answers */
	char bootstrap[512];
};

/* One count per token and outcome, so "exactly once" can be checked. */
struct reports {
	unsigned int count[MAX_TOKENS][3];
	unsigned int total[3];
	unsigned int out_of_range;
	char last_reason[256];
	atomic_uint reports_waiting; /* from a librdkafka thread */
};

static void on_reports_waiting(void *ctx)
{
	struct reports *r = ctx;

	atomic_fetch_add(&r->reports_waiting, 1);
}

static void on_report(void *ctx, uint64_t token, enum producer_outcome outcome, const char *reason,
                      const void *value, size_t value_len)
{
	struct reports *r = ctx;

	if (token >= MAX_TOKENS || outcome > PRODUCER_PURGED) {
		r->out_of_range++;
		return;
	}
	r->count[token][outcome]++;
	r->total[outcome]++;
	if (reason)
		snprintf(r->last_reason, sizeof(r->last_reason), "%s", reason);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *peer_path(char *buf, size_t len)
{
	const char *env = getenv("KAFKA_PEER");
	const char *bindir = getenv("TEST_BINDIR");

	if (env && *env)
		return env;
	snprintf(buf, len, "%s/tests/kafka-peer", bindir && *bindir ? bindir : ".");
	return buf;
}

static int peer_start(struct peer *p)
{
	int to_child[2], from_child[2];
	char path[4096];
	const char *bin = peer_path(path, sizeof(path));

	if (pipe(to_child) || pipe(from_child))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		dup2(to_child[0], STDIN_FILENO);
		dup2(from_child[1], STDOUT_FILENO);
		close(to_child[0]);
		close(to_child[1]);
		close(from_child[0]);
		close(from_child[1]);
		execl(bin, bin, "-b", "3", "-t", "tcpstates.v1:6", (char *)NULL);
		fprintf(stderr, "cannot run %s: %s (set KAFKA_PEER)\n", bin, strerror(errno));
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	p->in = fdopen(to_child[1], "w");
	p->out = fdopen(from_child[0], "r");
	if (!p->in || !p->out)
		return -ENOMEM;
	if (!fgets(p->bootstrap, sizeof(p->bootstrap), p->out))
		return -EIO;
	p->bootstrap[strcspn(p->bootstrap, "\n")] = '\0';
	return strchr(p->bootstrap, ':') ? 0 : -EPROTO;
}

/* Sends one command; 0 if the peer answered "ok". */
static int peer_cmd(struct peer *p, const char *cmd)
{
	char answer[512];

	if (fprintf(p->in, "%s\n", cmd) < 0 || fflush(p->in))
		return -EIO;
	if (!fgets(answer, sizeof(answer), p->out))
		return -EIO;
	if (strncmp(answer, "ok", 2) != 0) {
		fprintf(stderr, "peer: %s -> %s", cmd, answer);
		return -EINVAL;
	}
	return 0;
}

static int peer_stop(struct peer *p)
{
	int status = 0;

	if (p->pid <= 0)
		return -ESRCH;
	kill(p->pid, SIGTERM);
	if (waitpid(p->pid, &status, 0) < 0)
		return -errno;
	if (p->in)
		fclose(p->in);
	if (p->out)
		fclose(p->out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static struct kv_list no_overrides;

static int open_producer(struct producer **out, struct peer *peer, const char *topic,
                         const struct kv_list *overrides, struct reports *r)
{
	struct producer_options opts = {
	    .brokers = peer->bootstrap,
	    .topic = topic,
	    .compression = "zstd",
	    .rdkafka = overrides ? overrides : &no_overrides,
	    .client_id = "test-producer",
	    .reports_waiting = on_reports_waiting,
	    .reports_waiting_ctx = r,
	};
	char err[512] = "";
	int rc = producer_open(out, &opts, on_report, r, err, sizeof(err));

	if (rc)
		fprintf(stderr, "producer_open: %s\n", err);
	return rc;
}

static int send_range(struct producer *p, uint64_t first, uint64_t count)
{
	char key[32], value[64];

	for (uint64_t t = first; t < first + count; t++) {
		int kl = snprintf(key, sizeof(key), "key-%llu", (unsigned long long)t);
		int vl = snprintf(value, sizeof(value), "value-%llu", (unsigned long long)t);
		int rc = producer_send(p, key, kl, value, vl, t);

		if (rc)
			return rc;
	}
	return 0;
}

/* Polls until no message is unreported or the wait runs out. */
static void poll_until_reported(struct producer *p, int wait_ms)
{
	uint64_t end = now_ms() + wait_ms;

	while (producer_inflight(p) > 0 && now_ms() < end)
		producer_poll(p, 100);
}

static void poll_for(struct producer *p, int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		producer_poll(p, 50);
}

/* Each token in [first, first+count) reported exactly once, with outcome. */
static unsigned int exactly_once(const struct reports *r, uint64_t first, uint64_t count,
                                 enum producer_outcome outcome)
{
	unsigned int good = 0;

	for (uint64_t t = first; t < first + count; t++) {
		const unsigned int *c = r->count[t];

		if (c[outcome] == 1 && c[0] + c[1] + c[2] == 1)
			good++;
	}
	return good;
}

/*
 * Reads the whole topic with kcat; counts records, records carrying any
 * header (the contract says none), and distinct keys key-0..key-(want-1).
 */
static int kcat_read(const struct peer *peer, const char *topic, unsigned int want,
                     unsigned int *records, unsigned int *with_headers, unsigned int *distinct)
{
	char cmd[1024], line[1024];
	unsigned char *seen = calloc(want ? want : 1, 1);
	FILE *f;

	*records = *with_headers = *distinct = 0;
	if (!seen)
		return -ENOMEM;
	snprintf(cmd, sizeof(cmd), "kcat -C -b '%s' -t '%s' -e -q -f '%%k\\t%%h\\n'",
	         peer->bootstrap, topic);
	f = popen(cmd, "r");
	if (!f) {
		free(seen);
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t');
		unsigned long long k;

		(*records)++;
		if (!tab)
			continue;
		*tab = '\0';
		tab[1 + strcspn(tab + 1, "\n")] = '\0';
		if (tab[1] != '\0')
			(*with_headers)++;
		if (sscanf(line, "key-%llu", &k) == 1 && k < want && !seen[k]) {
			seen[k] = 1;
			(*distinct)++;
		}
	}
	free(seen);
	return pclose(f) == 0 ? 0 : -EIO;
}

static void test_delivery(struct peer *peer)
{
	struct reports *r = calloc(1, sizeof(*r));
	struct producer *p = NULL;
	unsigned int records, with_headers, distinct;
	const unsigned int n = 1000;

	CHECK(peer_cmd(peer, "topic delivery 6") == 0);
	CHECK(open_producer(&p, peer, "delivery", NULL, r) == 0);
	if (!p)
		goto out;
	CHECK(send_range(p, 0, n) == 0);
	CHECK_EQ_U64(producer_inflight(p), n);
	/* Nothing polled yet: the reports are waiting, and the producer said so. */
	for (uint64_t end = now_ms() + DELIVERY_WAIT_MS;
	     !atomic_load(&r->reports_waiting) && now_ms() < end;)
		usleep(1000);
	CHECK(atomic_load(&r->reports_waiting) > 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 0, n, PRODUCER_DELIVERED), n);
	CHECK_EQ_U64(r->total[PRODUCER_FAILED], 0);
	CHECK_EQ_U64(r->out_of_range, 0);
	CHECK_EQ_U64(producer_inflight(p), 0);
	CHECK_EQ_U64(producer_delivery_errors(p), 0);
	CHECK(producer_broker_up(p));
	CHECK_EQ_U64(producer_broker_down_since_ns(p), 0);
	CHECK(!producer_fatal(p));
	CHECK_EQ_U64(producer_drain(p, 1000), 0);
	producer_close(p);

	CHECK(kcat_read(peer, "delivery", n, &records, &with_headers, &distinct) == 0);
	CHECK_EQ_U64(records, n);
	CHECK_EQ_U64(with_headers, 0);
	CHECK_EQ_U64(distinct, n);
out:
	free(r);
}

static struct kv quick_reconnect_items[] = {
    /* Reconnect within a second of the peer coming back, to keep the test short. */
    {"reconnect.backoff.max.ms", "500"},
};
static struct kv_list quick_reconnect = {quick_reconnect_items, 1};

static void test_outage(struct peer *peer)
{
	struct reports *r = calloc(1, sizeof(*r));
	struct producer *p = NULL;
	unsigned int records, with_headers, distinct;
	const unsigned int n = 5000;

	CHECK(peer_cmd(peer, "topic outage 6") == 0);
	CHECK(open_producer(&p, peer, "outage", &quick_reconnect, r) == 0);
	if (!p)
		goto out;
	/* One delivery first, so the outage hits a producer with live connections. */
	CHECK(send_range(p, 0, 1) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(r->total[PRODUCER_DELIVERED], 1);
	CHECK(producer_broker_up(p));

	CHECK(peer_cmd(peer, "down all") == 0);
	CHECK(send_range(p, 1, n) == 0);
	poll_for(p, 3000);
	CHECK_EQ_U64(r->total[PRODUCER_DELIVERED], 1);
	CHECK_EQ_U64(r->total[PRODUCER_FAILED], 0);
	CHECK_EQ_U64(r->total[PRODUCER_PURGED], 0);
	CHECK_EQ_U64(producer_inflight(p), n);
	CHECK(!producer_broker_up(p));
	CHECK(producer_broker_down_since_ns(p) != 0);
	CHECK_EQ_U64(producer_drain(p, 200), n);

	CHECK(peer_cmd(peer, "up all") == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 0, n + 1, PRODUCER_DELIVERED), n + 1);
	CHECK_EQ_U64(producer_delivery_errors(p), 0);
	CHECK(producer_broker_up(p));
	CHECK_EQ_U64(producer_broker_down_since_ns(p), 0);
	producer_close(p);

	/* Exactly once in Kafka too: the idempotent producer wrote no duplicates. */
	CHECK(kcat_read(peer, "outage", n + 1, &records, &with_headers, &distinct) == 0);
	CHECK_EQ_U64(records, n + 1);
	CHECK_EQ_U64(distinct, n + 1);
out:
	free(r);
}

/* An idle producer notices the brokers coming back without sending anything. */
static void test_idle_recovery(struct peer *peer)
{
	struct reports *r = calloc(1, sizeof(*r));
	struct producer *p = NULL;
	uint64_t end;

	CHECK(open_producer(&p, peer, "tcpstates.v1", &quick_reconnect, r) == 0);
	if (!p)
		goto out;
	CHECK(send_range(p, 0, 100) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 0, 100, PRODUCER_DELIVERED), 100);

	CHECK(peer_cmd(peer, "down all") == 0);
	/* Traffic to every partition, so every broker is found down. */
	CHECK(send_range(p, 100, 100) == 0);
	end = now_ms() + 5000;
	while (producer_broker_up(p) && now_ms() < end)
		producer_poll(p, 50);
	CHECK(!producer_broker_up(p));
	CHECK(peer_cmd(peer, "up all") == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 0, 200, PRODUCER_DELIVERED), 200);

	/* Now idle: down again, then up, with nothing to deliver. */
	CHECK(peer_cmd(peer, "down all") == 0);
	CHECK(send_range(p, 200, 50) == 0);
	end = now_ms() + 5000;
	while (producer_broker_up(p) && now_ms() < end)
		producer_poll(p, 50);
	CHECK(!producer_broker_up(p));
	producer_close(p); /* the 50 come back PURGED; the new producer below is idle */
	CHECK_EQ_U64(exactly_once(r, 200, 50, PRODUCER_PURGED), 50);

	memset(r, 0, sizeof(*r));
	CHECK(open_producer(&p, peer, "tcpstates.v1", &quick_reconnect, r) == 0);
	if (!p)
		goto out;
	poll_for(p, 1500);
	CHECK(!producer_broker_up(p)); /* nothing reachable yet */
	CHECK(producer_broker_down_since_ns(p) != 0);
	CHECK(peer_cmd(peer, "up all") == 0);
	end = now_ms() + 10000;
	while (!producer_broker_up(p) && now_ms() < end)
		producer_poll(p, 50);
	CHECK(producer_broker_up(p));
	CHECK_EQ_U64(r->total[0] + r->total[1] + r->total[2], 0);
	producer_close(p);
out:
	free(r);
}

static void test_queue_full(struct peer *peer)
{
	struct reports *r = calloc(1, sizeof(*r));
	struct producer *p = NULL;
	struct kv items[] = {{"queue.buffering.max.messages", "100"}};
	struct kv_list small_queue = {items, 1};
	char big[64];

	CHECK(peer_cmd(peer, "down all") == 0);
	CHECK(open_producer(&p, peer, "tcpstates.v1", &small_queue, r) == 0);
	if (!p)
		goto out;
	CHECK(send_range(p, 0, 100) == 0);
	CHECK(send_range(p, 100, 1) == -ENOBUFS);
	/* Still full, still not blocking, and the refused one is not counted. */
	memset(big, 'x', sizeof(big));
	CHECK(producer_send(p, big, sizeof(big), big, sizeof(big), 101) == -ENOBUFS);
	CHECK_EQ_U64(producer_inflight(p), 100);
	poll_for(p, 500);
	CHECK_EQ_U64(r->total[0] + r->total[1] + r->total[2], 0);

	producer_close(p);
	CHECK_EQ_U64(exactly_once(r, 0, 100, PRODUCER_PURGED), 100);
	CHECK_EQ_U64(r->count[100][0] + r->count[100][1] + r->count[100][2], 0);
	CHECK_EQ_U64(r->count[101][0] + r->count[101][1] + r->count[101][2], 0);
out:
	CHECK(peer_cmd(peer, "up all") == 0);
	free(r);
}

/* Sends 1000-byte values until the queue refuses one; returns how many went in. */
static int fill_with_kilobytes(struct producer *p)
{
	static char value[1000];
	int n = 0;

	memset(value, 'v', sizeof(value));
	while (n < 1000 && producer_send(p, NULL, 0, value, sizeof(value), (uint64_t)n) == 0)
		n++;
	return n;
}

/* The memory budget's queue bound in bytes holds with brokers down, and a
 * kafka.rdkafka setting of the same property wins over it. */
static void test_queue_bytes(struct peer *peer)
{
	struct kv items[] = {{"queue.buffering.max.kbytes", "64"}};
	struct kv_list explicit_kbytes = {items, 1};
	const struct kv_list *settings[] = {&no_overrides, &explicit_kbytes};
	const int want[] = {4, 65}; /* 4096 and 65536 bytes of 1000-byte values */

	CHECK(peer_cmd(peer, "down all") == 0);
	for (int i = 0; i < 2; i++) {
		struct reports *r = calloc(1, sizeof(*r));
		struct producer_options opts = {
		    .brokers = peer->bootstrap,
		    .topic = "tcpstates.v1",
		    .rdkafka = settings[i],
		    .queue_kbytes = 4,
		    .queue_messages = 1000,
		};
		struct producer *p = NULL;
		char err[512] = "";

		CHECK(r != NULL);
		CHECK(producer_open(&p, &opts, on_report, r, err, sizeof(err)) == 0);
		if (p) {
			CHECK_EQ_U64(fill_with_kilobytes(p), want[i]);
			producer_close(p);
		}
		free(r);
	}
	CHECK(peer_cmd(peer, "up all") == 0);
}

/* Closing with requests on the wire: each message is reported PURGED once. */
static void test_close_inflight(struct peer *peer)
{
	struct reports *r = calloc(1, sizeof(*r));
	struct producer *p = NULL;
	const unsigned int n = 500;

	CHECK(open_producer(&p, peer, "tcpstates.v1", NULL, r) == 0);
	if (!p)
		goto out;
	CHECK(send_range(p, 0, 1) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(r->total[PRODUCER_DELIVERED], 1);

	/* Slow brokers: produce requests go out and stay unanswered. */
	CHECK(peer_cmd(peer, "rtt all 5000") == 0);
	CHECK(send_range(p, 1, n) == 0);
	poll_for(p, 500);
	CHECK_EQ_U64(r->total[PRODUCER_DELIVERED], 1);
	producer_close(p);
	CHECK_EQ_U64(exactly_once(r, 1, n, PRODUCER_PURGED), n);
	CHECK_EQ_U64(r->total[PRODUCER_FAILED], 0);
	/* "Local: Purged in flight" or "in queue": which one is reported last
	 * depends on how many requests the slow brokers had taken. */
	CHECK(strcasestr(r->last_reason, "purged") != NULL);
out:
	CHECK(peer_cmd(peer, "rtt all 0") == 0);
	free(r);
}

static void test_bad_settings(struct peer *peer)
{
	static const struct {
		const char *compression;
		const char *key, *value;
		const char *want; /* in the error text */
	} cases[] = {
	    {"zstd", "no.such.property", "1", "rdkafka.no.such.property: librdkafka says"},
	    {"zstd", "queue.buffering.max.messages", "-5", "rdkafka.queue.buffering.max.messages"},
	    {"zstd", "queue.buffering.max.messages", "many",
	     "rdkafka.queue.buffering.max.messages"},
	    {"zstd", "compression.codec", "lz5", "rdkafka.compression.codec"},
	    {"zstd", "enable.idempotence", "maybe", "rdkafka.enable.idempotence"},
	    {"lz5", NULL, NULL, "compression.codec: librdkafka says"},
	    /* Accepted one by one, refused together: idempotence needs acks=all. */
	    {"zstd", "acks", "1", "librdkafka refused the settings"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv item = {(char *)cases[i].key, (char *)cases[i].value};
		struct kv_list list = {&item, cases[i].key ? 1 : 0};
		struct producer_options opts = {.brokers = peer->bootstrap,
		                                .topic = "tcpstates.v1",
		                                .compression = cases[i].compression,
		                                .rdkafka = &list};
		static char sentinel;
		struct producer *p = (struct producer *)&sentinel; /* must come back NULL */

		err[0] = '\0';
		CHECK(producer_open(&p, &opts, on_report, NULL, err, sizeof(err)) == -EINVAL);
		CHECK(p == NULL);
		if (!strstr(err, cases[i].want)) {
			fprintf(stderr, "case %zu: error \"%s\" lacks \"%s\"\n", i, err,
			        cases[i].want);
			CHECK(0);
		}
	}

	/* No broker list or topic is a settings error too. */
	struct producer *p = NULL;
	struct producer_options none = {.brokers = "", .topic = "t"};
	CHECK(producer_open(&p, &none, on_report, NULL, err, sizeof(err)) == -EINVAL);
	struct producer_options no_topic = {.brokers = peer->bootstrap, .topic = NULL};
	CHECK(producer_open(&p, &no_topic, on_report, NULL, err, sizeof(err)) == -EINVAL);

	/* An unreachable broker is not: connections are made later. */
	struct reports *r = calloc(1, sizeof(*r));
	struct producer_options away = {.brokers = "127.0.0.1:1", .topic = "t", .rdkafka = NULL};
	CHECK(producer_open(&p, &away, on_report, r, err, sizeof(err)) == 0);
	if (p) {
		CHECK(producer_send(p, "k", 1, "v", 1, 7) == 0);
		poll_for(p, 300);
		CHECK(!producer_broker_up(p));
		producer_close(p);
		CHECK_EQ_U64(exactly_once(r, 7, 1, PRODUCER_PURGED), 1);
	}
	free(r);
}

/* A non-retriable broker error fails the message once; the producer carries on. */
static void test_permanent_failure(struct peer *peer)
{
	struct reports *r = calloc(1, sizeof(*r));
	struct producer *p = NULL;

	CHECK(open_producer(&p, peer, "tcpstates.v1", NULL, r) == 0);
	if (!p)
		goto out;
	CHECK(send_range(p, 0, 1) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 0, 1, PRODUCER_DELIVERED), 1);

	CHECK(peer_cmd(peer, "error Produce MSG_SIZE_TOO_LARGE 1") == 0);
	CHECK(send_range(p, 1, 1) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 1, 1, PRODUCER_FAILED), 1);
	CHECK_EQ_U64(producer_delivery_errors(p), 1);
	CHECK(strstr(r->last_reason, "too large") != NULL);
	fprintf(stderr, "permanent failure reason: \"%s\"\n", r->last_reason);
	poll_for(p, 500);
	CHECK_EQ_U64(r->count[1][PRODUCER_FAILED], 1); /* no second report */

	CHECK(send_range(p, 2, 10) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 2, 10, PRODUCER_DELIVERED), 10);
	CHECK(!producer_fatal(p));
	producer_close(p);
out:
	free(r);
}

/* A fatal idempotence error: reported once per message, then the producer refuses more. */
static void test_fatal(struct peer *peer)
{
	struct reports *r = calloc(1, sizeof(*r));
	struct producer *p = NULL;

	/* One partition, so the failing batch holds all the messages sent after the error. */
	CHECK(peer_cmd(peer, "topic fatal 1") == 0);
	CHECK(open_producer(&p, peer, "fatal", NULL, r) == 0);
	if (!p)
		goto out;
	CHECK(send_range(p, 0, 1) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK_EQ_U64(exactly_once(r, 0, 1, PRODUCER_DELIVERED), 1);
	CHECK(!producer_fatal(p));

	/* The broker claims a sequence gap, which idempotence cannot repair. */
	CHECK(peer_cmd(peer, "error Produce OUT_OF_ORDER_SEQUENCE_NUMBER 1") == 0);
	CHECK(send_range(p, 1, 4) == 0);
	poll_until_reported(p, DELIVERY_WAIT_MS);
	CHECK(producer_fatal(p));
	CHECK_EQ_U64(exactly_once(r, 1, 4, PRODUCER_FAILED), 4);
	CHECK_EQ_U64(producer_delivery_errors(p), 4);
	CHECK(send_range(p, 5, 1) == -ECANCELED);
	producer_close(p);
	CHECK_EQ_U64(r->count[5][0] + r->count[5][1] + r->count[5][2], 0);
out:
	free(r);
}

/* A TcpStateEvent with a few fields around timestamp_ns (field 11), as the
 * wire format has them: varints, byte strings, then the timestamp. */
static size_t event_value(uint8_t *buf, uint64_t ts_ns, uint64_t seq)
{
	uint8_t *p = buf;
	uint64_t fields[][2] = {{11, ts_ns}, {13, seq}};

	*p++ = 1 << 3; /* old_state = 1 */
	*p++ = 1;
	*p++ = 4 << 3 | 2; /* local_addr, 4 bytes */
	*p++ = 4;
	memcpy(p, "\x7f\0\0\x01", 4);
	p += 4;
	*p++ = 9 << 3 | 2; /* comm */
	*p++ = 5;
	memcpy(p, "curl\0", 5);
	p += 5;
	for (size_t i = 0; i < 2; i++) {
		uint64_t v = fields[i][1];

		*p++ = (uint8_t)(fields[i][0] << 3);
		do {
			*p++ = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v);
	}
	return (size_t)(p - buf);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The shipper's delivery latency: each delivered record whose value carries
 * a timestamp lands in the histogram with at least its age at append time;
 * records whose value is not a TcpStateEvent are delivered but not measured.
 */
static void test_shipper_latency(struct peer *peer)
{
	const unsigned int good = 200, bad = 50;
	const uint64_t age_ns = 30000000; /* 30 ms: above the first five bounds */
	struct spool_options so = {.memory_max_bytes = 1 << 20,
	                           .segment_bytes = 1 << 20,
	                           .record_time_ns = event_peek_time_ns};
	struct shipper_kafka kafka = {.brokers = peer->bootstrap, .topic = "latency"};
	struct shipper_counters c = {0};
	struct spool *sp = NULL;
	struct shipper *s = NULL;
	uint64_t end, total = 0, fast = 0;
	uint8_t value[64];
	char err[256] = "";

	CHECK(peer_cmd(peer, "topic latency 3") == 0);
	CHECK(spool_open(&sp, &so) == 0);
	if (!sp)
		return;
	for (unsigned int i = 0; i < good + bad; i++) {
		size_t len = i < good
		                 ? event_value(value, realtime_ns() - age_ns, i)
		                 : (size_t)snprintf((char *)value, sizeof(value), "value-%u", i);

		CHECK(spool_append(sp, i, "k", 1, value, (uint32_t)len) == 0);
	}
	CHECK(spool_commit(sp) == 0);
	CHECK(shipper_start(&s, sp, &kafka, 5000, err, sizeof(err)) == 0);
	if (!s) {
		fprintf(stderr, "shipper_start: %s\n", err);
		goto out;
	}
	for (end = now_ms() + DELIVERY_WAIT_MS; now_ms() < end; usleep(20000)) {
		shipper_get_counters(s, &c);
		if (c.published == good + bad)
			break;
	}
	CHECK_EQ_U64(c.published, good + bad);
	for (int i = 0; i <= LATENCY_BOUNDS; i++) {
		total += c.delivery_latency.counts[i];
		if (i < LATENCY_BOUNDS && latency_bounds_s[i] < 0.030)
			fast += c.delivery_latency.counts[i];
	}
	CHECK_EQ_U64(total, good);
	CHECK_EQ_U64(fast, 0);
	CHECK(c.delivery_latency.sum_ns >= good * age_ns);
	shipper_stop(s);
out:
	spool_close(sp);
}

int main(void)
{
	struct peer peer = {0};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	rc = peer_start(&peer);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "kafka-peer did not start: %s\n", strerror(-rc));
		if (peer.pid > 0)
			peer_stop(&peer);
		return check_report("test_producer");
	}

	test_bad_settings(&peer);
	test_delivery(&peer);
	test_permanent_failure(&peer);
	test_queue_full(&peer);
	test_queue_bytes(&peer);
	test_close_inflight(&peer);
	test_outage(&peer);
	test_idle_recovery(&peer);
	test_fatal(&peer);
	test_shipper_latency(&peer);

	CHECK_EQ_U64(peer_stop(&peer), 0);
	return check_report("test_producer");
}
