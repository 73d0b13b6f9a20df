// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kafka-peer: a Kafka-protocol peer for the tests, in its own process.
 *
 * It runs librdkafka's mock cluster, which speaks the Kafka protocol on
 * 127.0.0.1 ports, so the producer under test, kcat and any other client
 * reach it over real sockets from other processes. Faults are injected by
 * writing commands on stdin; each gets one answer line on stdout.
 *
 *   kafka-peer [-b BROKERS] [-t TOPIC[:PARTITIONS]]... [-p PORTFILE] [-4]
 *
 * -4 advertises the lowest versions Apache Kafka 4 accepts (KIP-896 removed
 * the older ones): Produce from 3, Fetch from 4, and the consumer group's
 * requests from theirs, each up to the newest the mock implements. Clients
 * read the versions when they connect, so this is a flag.
 *
 * The first stdout line is the bootstrap list. With -p it is also written to
 * PORTFILE, atomically, so a shell can wait for the file to appear.
 *
 * Commands (answer "ok" or "error: <why>"):
 *   down <broker|all>          close the broker's connections, refuse new ones
 *   up <broker|all>            accept connections again
 *   rtt <broker|all> <ms>      delay every response by ms
 *   topic <name> <partitions>  create a topic
 *   error <api> <err> [count]  fail the next count (default 1) requests of
 *                              api (name like Produce, or number) with err
 *                              (name like MSG_SIZE_TOO_LARGE, or number)
 *   apiversion <api> <min> <max>  advertise only versions min..max of api
 *                              (to connections made from now on)
 *   quit                       exit 0
 *
 * End of stdin does not stop it (so it can run with </dev/null); SIGTERM and
 * SIGINT stop it with status 0.
 */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define DEFAULT_TOPIC      "tcpstates.v1"
#define DEFAULT_PARTITIONS 6
#define DEFAULT_BROKERS    3
#define MAX_REPLICATION    3
#define MAX_TOPICS         16
#define LINE_MAX_BYTES     1024
/* Apache Kafka 4's lowest version of each request a producer or a consumer
 * group sends that KIP-896 raised; the highest is the mock's own (librdkafka
 * 2.14.2, src/rdkafka_mock_handlers.c). */
static const struct {
	int16_t api_key, min, max;
	const char *name;
} kafka4_versions[] = {
    {0, 3, 10, "Produce"},     {1, 4, 16, "Fetch"},      {2, 1, 7, "ListOffsets"},
    {8, 2, 9, "OffsetCommit"}, {9, 1, 6, "OffsetFetch"}, {10, 1, 3, "FindCoordinator"},
    {11, 2, 6, "JoinGroup"},
};

struct peer {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
	int broker_cnt;
};

/* Kafka protocol API keys, by the names the protocol guide uses. */
static const struct {
	const char *name;
	int16_t key;
} api_keys[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"InitProducerId", 22},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: kafka-peer [-b BROKERS] [-t TOPIC[:PARTITIONS]]... [-p PORTFILE] [-4]\n"
	        "  -b BROKERS   number of brokers (default %d)\n"
	        "  -t TOPIC[:PARTITIONS]  topic to create (default %s:%d); repeatable\n"
	        "  -p PORTFILE  also write the bootstrap list to PORTFILE\n"
	        "  -4           advertise the lowest versions Apache Kafka 4 accepts\n",
	        DEFAULT_BROKERS, DEFAULT_TOPIC, DEFAULT_PARTITIONS);
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int create_topic(struct peer *p, const char *name, int partitions, char *err, size_t errlen)
{
	int replication = p->broker_cnt < MAX_REPLICATION ? p->broker_cnt : MAX_REPLICATION;
	rd_kafka_resp_err_t rerr;

	rerr = rd_kafka_mock_topic_create(p->mcluster, name, partitions, replication);
	if (rerr) {
		snprintf(err, errlen, "creating topic %s: %s", name, rd_kafka_err2str(rerr));
		return -EINVAL;
	}
	return 0;
}

/* "NAME" or "NAME:PARTITIONS" from the command line. */
static int create_topic_arg(struct peer *p, const char *arg, char *err, size_t errlen)
{
	char name[256];
	const char *colon = strchr(arg, ':');
	long partitions = DEFAULT_PARTITIONS;
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);

	if (len == 0 || len >= sizeof(name)) {
		snprintf(err, errlen, "bad topic name in '%s'", arg);
		return -EINVAL;
	}
	memcpy(name, arg, len);
	name[len] = '\0';
	if (colon && parse_int(colon + 1, 1, 100000, &partitions)) {
		snprintf(err, errlen, "bad partition count in '%s'", arg);
		return -EINVAL;
	}
	return create_topic(p, name, (int)partitions, err, errlen);
}

/*
 * Applies fn to one broker, or to all of them through the mock cluster's -1
 * (librdkafka 2.0.2 honours it: every listener refuses connections).
 */
static int for_brokers(struct peer *p, const char *which,
                       rd_kafka_resp_err_t (*fn)(rd_kafka_mock_cluster_t *, int32_t, int), int arg,
                       char *err, size_t errlen)
{
	long id;
	rd_kafka_resp_err_t rerr;

	if (strcmp(which, "all") == 0) {
		id = -1;
	} else if (parse_int(which, 1, p->broker_cnt, &id)) {
		snprintf(err, errlen, "broker must be 1..%d or all, not '%s'", p->broker_cnt,
		         which);
		return -EINVAL;
	}
	rerr = fn(p->mcluster, (int32_t)id, arg);
	if (rerr) {
		snprintf(err, errlen, "broker %s: %s", which, rd_kafka_err2str(rerr));
		return -EIO;
	}
	return 0;
}

static rd_kafka_resp_err_t broker_down(rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
	return rd_kafka_mock_broker_set_down(mc, id);
}

static rd_kafka_resp_err_t broker_up(rd_kafka_mock_cluster_t *mc, int32_t id, int unused)
{
	return rd_kafka_mock_broker_set_up(mc, id);
}

static rd_kafka_resp_err_t broker_rtt(rd_kafka_mock_cluster_t *mc, int32_t id, int ms)
{
	return rd_kafka_mock_broker_set_rtt(mc, id, ms);
}

static int parse_api_key(const char *s, int16_t *out)
{
	long v;

	for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
		if (strcasecmp(s, api_keys[i].name) == 0) {
			*out = api_keys[i].key;
			return 0;
		}
	}
	if (parse_int(s, 0, INT16_MAX, &v))
		return -EINVAL;
	*out = (int16_t)v;
	return 0;
}

/* An error code by number or by librdkafka's name for it (with or without RD_KAFKA_RESP_ERR_). */
static int parse_err_code(const char *s, rd_kafka_resp_err_t *out)
{
	const struct rd_kafka_err_desc *descs;
	const char *prefix = "RD_KAFKA_RESP_ERR_";
	size_t cnt;
	long v;

	if (strncasecmp(s, prefix, strlen(prefix)) == 0)
		s += strlen(prefix);
	rd_kafka_get_err_descs(&descs, &cnt);
	for (size_t i = 0; i < cnt; i++) {
		if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
			*out = descs[i].code;
			return 0;
		}
	}
	if (parse_int(s, INT_MIN, INT_MAX, &v))
		return -EINVAL;
	*out = (rd_kafka_resp_err_t)v;
	return 0;
}

/* Splits line in place on blanks; returns the number of words (at most max). */
static int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *save = NULL;

	for (char *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
		if (n == max)
			return max + 1;
		words[n++] = w;
	}
	return n;
}

static int set_apiversion(struct peer *p, const char *api_s, const char *min_s, const char *max_s,
                          char *err, size_t errlen)
{
	rd_kafka_resp_err_t rerr;
	long min, max;
	int16_t api;

	if (parse_api_key(api_s, &api)) {
		snprintf(err, errlen, "unknown api '%s'", api_s);
		return -EINVAL;
	}
	if (parse_int(min_s, -1, INT16_MAX, &min) || parse_int(max_s, -1, INT16_MAX, &max) ||
	    min > max) {
		snprintf(err, errlen, "versions must be -1..%d with min <= max, not '%s' '%s'",
		         INT16_MAX, min_s, max_s);
		return -EINVAL;
	}
	rerr = rd_kafka_mock_set_apiversion(p->mcluster, api, (int16_t)min, (int16_t)max);
	if (rerr) {
		snprintf(err, errlen, "setting the versions of %s: %s", api_s,
		         rd_kafka_err2str(rerr));
		return -EINVAL;
	}
	return 0;
}

/* Runs one command. Returns 1 to quit, 0 when done, negative with err on failure. */
static int run_command(struct peer *p, char *line, char *err, size_t errlen)
{
	char *w[5];
	int n = split_words(line, w, 4);
	long v, count = 1;

	if (n == 0) {
		snprintf(err, errlen, "empty command");
		return -EINVAL;
	}
	if (n > 4) {
		snprintf(err, errlen, "too many words");
		return -EINVAL;
	}
	if (strcmp(w[0], "quit") == 0 && n == 1)
		return 1;
	if (strcmp(w[0], "down") == 0 && n == 2)
		return for_brokers(p, w[1], broker_down, 0, err, errlen);
	if (strcmp(w[0], "up") == 0 && n == 2)
		return for_brokers(p, w[1], broker_up, 0, err, errlen);
	if (strcmp(w[0], "rtt") == 0 && n == 3) {
		if (parse_int(w[2], 0, INT_MAX, &v)) {
			snprintf(err, errlen, "rtt must be milliseconds >= 0, not '%s'", w[2]);
			return -EINVAL;
		}
		return for_brokers(p, w[1], broker_rtt, (int)v, err, errlen);
	}
	if (strcmp(w[0], "topic") == 0 && n == 3) {
		if (parse_int(w[2], 1, 100000, &v)) {
			snprintf(err, errlen, "partitions must be 1..100000, not '%s'", w[2]);
			return -EINVAL;
		}
		return create_topic(p, w[1], (int)v, err, errlen);
	}
	if (strcmp(w[0], "error") == 0 && (n == 3 || n == 4)) {
		int16_t api;
		rd_kafka_resp_err_t code;
		rd_kafka_resp_err_t *codes;

		if (parse_api_key(w[1], &api)) {
			snprintf(err, errlen, "unknown api '%s'", w[1]);
			return -EINVAL;
		}
		if (parse_err_code(w[2], &code)) {
			snprintf(err, errlen, "unknown error code '%s'", w[2]);
			return -EINVAL;
		}
		if (n == 4 && parse_int(w[3], 1, 1000000, &count)) {
			snprintf(err, errlen, "count must be 1..1000000, not '%s'", w[3]);
			return -EINVAL;
		}
		codes = calloc(count, sizeof(*codes));
		if (!codes) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		for (long i = 0; i < count; i++)
			codes[i] = code;
		rd_kafka_mock_push_request_errors_array(p->mcluster, api, count, codes);
		free(codes);
		return 0;
	}
	if (strcmp(w[0], "apiversion") == 0 && n == 4)
		return set_apiversion(p, w[1], w[2], w[3], err, errlen);
	snprintf(err, errlen, "unknown command or wrong arguments: '%s' (%d words)", w[0], n);
	return -EINVAL;
}

/* Writes the bootstrap list to path through a temporary file and rename. */
static int write_portfile(const char *path, const char *bootstraps)
{
	char tmp[PATH_MAX];
	FILE *f;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%s\n", bootstraps) < 0 || fflush(f) || fsync(fileno(f))) {
		int e = -errno;
		fclose(f);
		unlink(tmp);
		return e ? e : -EIO;
	}
	if (fclose(f) || rename(tmp, path)) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	return 0;
}

static void answer(int rc, const char *err)
{
	if (rc < 0)
		printf("error: %s\n", err);
	else
		printf("ok\n");
	fflush(stdout);
}

/*
 * Reads command lines from stdin and signals from sfd until a signal or
 * "quit". Partial lines wait in buf; a line longer than the buffer is
 * answered with an error and skipped.
 */
static int serve(struct peer *p, int sfd)
{
	char buf[LINE_MAX_BYTES], err[512];
	size_t used = 0;
	bool stdin_open = true, skipping = false;

	for (;;) {
		struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN},
		                        {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN}};

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kafka-peer: poll: %s\n", strerror(errno));
			return 1;
		}
		if (fds[0].revents)
			return 0; /* SIGTERM or SIGINT */
		if (!fds[1].revents)
			continue;

		ssize_t got = read(STDIN_FILENO, buf + used, sizeof(buf) - used);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "kafka-peer: reading commands: %s\n", strerror(errno));
			stdin_open = false;
			continue;
		}
		if (got == 0) {
			/* Keep serving the cluster: the tests drive it with signals now. */
			stdin_open = false;
			continue;
		}
		used += got;

		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', used - (start - buf)))) {
			*nl = '\0';
			if (skipping) {
				skipping = false;
			} else {
				int rc = run_command(p, start, err, sizeof(err));
				answer(rc, err);
				if (rc == 1)
					return 0;
			}
			start = nl + 1;
		}
		used -= start - buf;
		memmove(buf, start, used);
		if (used == sizeof(buf)) {
			if (!skipping)
				answer(-EINVAL, "line too long");
			skipping = true;
			used = 0;
		}
	}
}

int main(int argc, char **argv)
{
	const char *topics[MAX_TOPICS];
	const char *portfile = NULL;
	int ntopics = 0, opt, sfd = -1, ret = 1;
	long brokers = DEFAULT_BROKERS;
	bool kafka4 = false;
	struct peer p = {0};
	rd_kafka_conf_t *conf;
	char err[512];
	sigset_t mask;

	while ((opt = getopt(argc, argv, "b:t:p:h4")) != -1) {
		switch (opt) {
		case 'b':
			if (parse_int(optarg, 1, 100, &brokers)) {
				fprintf(stderr, "kafka-peer: -b wants 1..100 brokers, not '%s'\n",
				        optarg);
				return 2;
			}
			break;
		case 't':
			if (ntopics == MAX_TOPICS) {
				fprintf(stderr, "kafka-peer: at most %d topics\n", MAX_TOPICS);
				return 2;
			}
			topics[ntopics++] = optarg;
			break;
		case 'p':
			portfile = optarg;
			break;
		case '4':
			kafka4 = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	p.broker_cnt = (int)brokers;

	/*
	 * Block the stop signals before librdkafka starts its threads, so they
	 * inherit the mask and the signals only ever arrive through signalfd.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL)) {
		fprintf(stderr, "kafka-peer: blocking signals: %s\n", strerror(errno));
		return 1;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "kafka-peer: signalfd: %s\n", strerror(errno));
		return 1;
	}
	/* A closed reader of our answers must not kill us mid-test. */
	signal(SIGPIPE, SIG_IGN);

	/* The mock cluster needs a client handle to live in; it never connects anywhere. */
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka-peer: log_level: %s\n", err);
		rd_kafka_conf_destroy(conf);
		goto cleanup;
	}
	p.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!p.rk) {
		fprintf(stderr, "kafka-peer: creating the client handle: %s\n", err);
		rd_kafka_conf_destroy(conf);
		goto cleanup;
	}
	p.mcluster = rd_kafka_mock_cluster_new(p.rk, p.broker_cnt);
	if (!p.mcluster) {
		fprintf(stderr, "kafka-peer: creating a mock cluster of %d brokers failed\n",
		        p.broker_cnt);
		goto cleanup;
	}

	for (size_t i = 0; kafka4 && i < sizeof(kafka4_versions) / sizeof(kafka4_versions[0]);
	     i++) {
		rd_kafka_resp_err_t rerr =
		    rd_kafka_mock_set_apiversion(p.mcluster, kafka4_versions[i].api_key,
		                                 kafka4_versions[i].min, kafka4_versions[i].max);
		if (rerr) {
			fprintf(stderr, "kafka-peer: -4: %s versions %d..%d: %s\n",
			        kafka4_versions[i].name, kafka4_versions[i].min,
			        kafka4_versions[i].max, rd_kafka_err2str(rerr));
			goto cleanup;
		}
	}
	if (ntopics == 0)
		topics[ntopics++] = DEFAULT_TOPIC ":6";
	for (int i = 0; i < ntopics; i++) {
		if (create_topic_arg(&p, topics[i], err, sizeof(err))) {
			fprintf(stderr, "kafka-peer: %s\n", err);
			goto cleanup;
		}
	}

	const char *bootstraps = rd_kafka_mock_cluster_bootstraps(p.mcluster);
	if (portfile) {
		int rc = write_portfile(portfile, bootstraps);
		if (rc) {
			fprintf(stderr, "kafka-peer: writing %s: %s\n", portfile, strerror(-rc));
			goto cleanup;
		}
	}
	printf("%s\n", bootstraps);
	fflush(stdout);

	ret = serve(&p, sfd);

cleanup:
	if (p.mcluster)
		rd_kafka_mock_cluster_destroy(p.mcluster);
	if (p.rk)
		rd_kafka_destroy(p.rk);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
