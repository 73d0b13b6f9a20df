// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpstates-consume: reads tcpstates.v1 events back from Kafka and prints
 * them as the classic table or as canonical proto3 JSON lines, while
 * checking the delivery contract: per agent instance, seq numbers must form
 * a contiguous run, so a hole is a lost event and a repeat is a redelivery.
 * See collector-schema/CONTRACT.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <librdkafka/rdkafka.h>
#include "encode.h"
#include "event_json.h"
#include "seq_tracker.h"
#include "table.h"
#include "value_frame.h"
#include "tcpstates/v1/tcpstates.pb-c.h"

#define PROG            "tcpstates-consume"
#define DEFAULT_TOPIC   "tcpstates.v1"
#define DEFAULT_GROUP   "tcpstates-consume"
#define DEFAULT_BROKERS "127.0.0.1:9092"
#define POLL_TIMEOUT_MS 200
#define EXIT_FATAL      1
#define EXIT_USAGE      2

enum start_position { START_BEGINNING, START_END, START_COMMITTED };

struct options {
	const char *brokers;
	const char *topic;
	const char *group;
	enum start_position start;
	uint64_t count; /* 0: no limit */
	bool exit_at_end;
	bool json;
	struct table_options table;
	char **props; /* -X key=value, applied last */
	int nprops;
};

struct consumer_state {
	struct options opt;
	rd_kafka_t *rk;
	struct seq_tracker *seqs;
	uint64_t consumed, undecodable;
	/* Assigned partitions of the topic and whether each has reached its end. */
	int32_t *assigned;
	bool *at_eof;
	int nassigned;
	bool fatal;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

/* ---------------------------------------------------------------- table */

/* Returns 0, or -EIO if out has an error. */
static int print_table_event(FILE *out, const struct table_options *o,
                             const Tcpstates__V1__TcpStateEvent *m)
{
	struct table_row r = {
	    .skaddr = m->socket_id, /* the cookie: the table's id column says COOKIE */
	    .pid = m->pid,
	    .family = m->family == TCPSTATES__V1__ADDRESS_FAMILY__ADDRESS_FAMILY_INET ? AF_INET
	                                                                              : AF_INET6,
	    .sport = (uint16_t)m->local_port,
	    .dport = (uint16_t)m->remote_port,
	    .oldstate = m->old_state,
	    .newstate = m->new_state,
	    .delta_ns = m->prev_state_duration_ns,
	    .wall_ns = m->timestamp_ns,
	    .bytes_acked = m->bytes_acked,
	    .bytes_received = m->bytes_received,
	    .srtt_us = m->srtt_us,
	    .total_retrans = m->total_retrans,
	    .direction = m->direction,
	    .container_id = m->container_id,
	    .cgroup_path = m->cgroup_path,
	};
	char line[2048];

	snprintf(r.comm, sizeof(r.comm), "%s", m->comm ? m->comm : "");
	memcpy(r.saddr, m->local_addr.data, m->local_addr.len);
	memcpy(r.daddr, m->remote_addr.data, m->remote_addr.len);
	if (table_format_row(o, &r, line, sizeof(line)) > 0)
		fputs(line, out);
	return ferror(out) ? -EIO : 0;
}

/* ---------------------------------------------------------------- summary */

static void print_summary(struct consumer_state *st)
{
	struct seq_instance_summary in;
	size_t n;

	seq_tracker_finish(st->seqs);
	n = seq_tracker_count(st->seqs);
	if (st->opt.json) {
		printf("{\"summary\":{\"messages\":%" PRIu64 ",\"undecodable\":%" PRIu64
		       ",\"instances\":{",
		       st->consumed, st->undecodable);
		for (size_t i = 0; i < n && !seq_tracker_summary(st->seqs, i, &in); i++) {
			if (i)
				putchar(',');
			event_json_write_cstring(stdout, in.instance_id);
			fputs(":{\"hostname\":", stdout);
			event_json_write_cstring(stdout, in.hostname);
			printf(",\"messages\":%" PRIu64 ",\"first_seq\":%" PRIu64
			       ",\"last_seq\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"missing\":%" PRIu64
			       ",\"duplicates\":%" PRIu64 ",\"late\":%" PRIu64
			       ",\"unresolved\":%" PRIu64 "}",
			       in.messages, in.first_seq, in.last_seq, in.gaps, in.missing,
			       in.duplicates, in.late, in.unresolved);
		}
		fputs("}}}\n", stdout);
		return;
	}
	fprintf(stderr, "%s: %" PRIu64 " messages, %" PRIu64 " undecodable, %zu agent instances\n",
	        PROG, st->consumed, st->undecodable, n);
	for (size_t i = 0; i < n && !seq_tracker_summary(st->seqs, i, &in); i++) {
		fprintf(stderr,
		        "%s: instance %s host %s: messages %" PRIu64 ", seq %" PRIu64 "..%" PRIu64
		        ", gaps %" PRIu64 " (missing %" PRIu64 "), duplicates %" PRIu64
		        ", late %" PRIu64 ", unresolved %" PRIu64 "\n",
		        PROG, in.instance_id, in.hostname, in.messages, in.first_seq, in.last_seq,
		        in.gaps, in.missing, in.duplicates, in.late, in.unresolved);
	}
}

/* ---------------------------------------------------------------- messages */

/* The reason a payload is not a usable event, or NULL. */
static const char *check_event(const Tcpstates__V1__TcpStateEvent *m)
{
	size_t want;

	switch (m->family) {
	case TCPSTATES__V1__ADDRESS_FAMILY__ADDRESS_FAMILY_INET:
		want = 4;
		break;
	case TCPSTATES__V1__ADDRESS_FAMILY__ADDRESS_FAMILY_INET6:
		want = 16;
		break;
	default:
		return "family is neither ADDRESS_FAMILY_INET nor ADDRESS_FAMILY_INET6";
	}
	if (m->local_addr.len != want || m->remote_addr.len != want)
		return "address length does not match the family";
	if (m->local_port > 65535 || m->remote_port > 65535)
		return "port out of range";
	if (!m->seq)
		return "seq is 0";
	if (!m->agent_instance_id || !m->agent_instance_id[0])
		return "agent_instance_id is empty";
	if (!m->host)
		return "host is missing";
	return NULL;
}

static bool schema_header_mismatch(const rd_kafka_message_t *msg, char *why, size_t len)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *val;
	size_t vlen;

	if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	if (rd_kafka_header_get_last(hdrs, "schema", &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	if (vlen == strlen(ENCODE_SCHEMA_NAME) && memcmp(val, ENCODE_SCHEMA_NAME, vlen) == 0)
		return false;
	snprintf(why, len, "schema header is \"%.*s\", not \"%s\"", (int)(vlen > 64 ? 64 : vlen),
	         val ? (const char *)val : "", ENCODE_SCHEMA_NAME);
	return true;
}

static int handle_message(struct consumer_state *st, const rd_kafka_message_t *msg)
{
	Tcpstates__V1__TcpStateEvent *m = NULL;
	const char *reason = NULL;
	size_t frame_len = 0;
	uint32_t schema_id;
	char why[160];
	int ret = 0;

	st->consumed++;
	if (schema_header_mismatch(msg, why, sizeof(why)))
		reason = why;
	else if (!msg->payload || !msg->len)
		reason = "empty payload";
	/* Byte 0 starts a Schema Registry frame; a raw event never starts with it. */
	else if (value_frame_parse(msg->payload, msg->len, &frame_len, &schema_id, why,
	                           sizeof(why)) < 0)
		reason = why;
	else if (!(m = tcpstates__v1__tcp_state_event__unpack(
	               NULL, msg->len - frame_len, (const uint8_t *)msg->payload + frame_len)))
		reason = "not a valid tcpstates.v1.TcpStateEvent protobuf message";
	else
		reason = check_event(m);
	if (reason) {
		fprintf(stderr, "partition %" PRId32 " offset %" PRId64 ": cannot decode: %s\n",
		        msg->partition, msg->offset, reason);
		st->undecodable++;
		goto cleanup;
	}

	/* Duplicates and late seqs are printed too: the summary accounts for them. */
	ret = seq_tracker_observe(st->seqs, m->agent_instance_id, m->host->hostname, m->seq);
	if (ret < 0) {
		fprintf(stderr, "%s: out of memory tracking agent instances\n", PROG);
		goto cleanup;
	}
	if (st->opt.json)
		ret = event_json_write(stdout, m);
	else
		ret = print_table_event(stdout, &st->opt.table, m);
	/* The error flag sticks: every later line would be lost too. */
	if (ret)
		fprintf(stderr, "%s: cannot write events to standard output\n", PROG);
cleanup:
	if (m)
		tcpstates__v1__tcp_state_event__free_unpacked(m, NULL);
	return ret;
}

/* ---------------------------------------------------------------- Kafka */

static void set_eof(struct consumer_state *st, int32_t partition, bool eof)
{
	for (int i = 0; i < st->nassigned; i++) {
		if (st->assigned[i] == partition)
			st->at_eof[i] = eof;
	}
}

static bool all_at_eof(const struct consumer_state *st)
{
	if (!st->nassigned)
		return false;
	for (int i = 0; i < st->nassigned; i++) {
		if (!st->at_eof[i])
			return false;
	}
	return true;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct consumer_state *st = opaque;
	rd_kafka_resp_err_t aerr;

	free(st->assigned);
	free(st->at_eof);
	st->assigned = NULL;
	st->at_eof = NULL;
	st->nassigned = 0;

	if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		aerr = rd_kafka_assign(rk, NULL);
		if (aerr)
			fprintf(stderr, "%s: cannot revoke partitions: %s\n", PROG,
			        rd_kafka_err2str(aerr));
		return;
	}
	st->assigned = calloc(parts->cnt ? parts->cnt : 1, sizeof(*st->assigned));
	st->at_eof = calloc(parts->cnt ? parts->cnt : 1, sizeof(*st->at_eof));
	if (!st->assigned || !st->at_eof) {
		fprintf(stderr, "%s: out of memory for %d partitions\n", PROG, parts->cnt);
		st->fatal = true;
		return;
	}
	for (int i = 0; i < parts->cnt; i++) {
		if (st->opt.start == START_BEGINNING)
			parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
		else if (st->opt.start == START_END)
			parts->elems[i].offset = RD_KAFKA_OFFSET_END;
		st->assigned[i] = parts->elems[i].partition;
	}
	st->nassigned = parts->cnt;
	aerr = rd_kafka_assign(rk, parts);
	if (aerr) {
		fprintf(stderr, "%s: cannot assign partitions: %s\n", PROG, rd_kafka_err2str(aerr));
		st->fatal = true;
	}
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct consumer_state *st = opaque;
	char buf[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, buf, sizeof(buf));
		fprintf(stderr, "%s: fatal consumer error: %s\n", PROG, buf);
		st->fatal = true;
		return;
	}
	fprintf(stderr, "%s: kafka: %s: %s\n", PROG, rd_kafka_err2name(err), reason);
}

static int set_prop(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char err[256];

	if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "%s: %s=%s: %s\n", PROG, key, value, err);
		return -EINVAL;
	}
	return 0;
}

static int open_consumer(struct consumer_state *st)
{
	const struct options *o = &st->opt;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *topics = NULL;
	rd_kafka_resp_err_t kerr;
	char err[512];
	int ret = -EINVAL;

	if (set_prop(conf, "bootstrap.servers", o->brokers) ||
	    set_prop(conf, "group.id", o->group) || set_prop(conf, "client.id", PROG) ||
	    set_prop(conf, "auto.offset.reset", o->start == START_END ? "latest" : "earliest") ||
	    set_prop(conf, "enable.partition.eof", o->exit_at_end ? "true" : "false") ||
	    /* Errors reach on_error once each; librdkafka's own lines would repeat
	     * them. -X log_level=7 brings them back for debugging. */
	    set_prop(conf, "log_level", "2"))
		goto cleanup;
	for (int i = 0; i < o->nprops; i++) {
		char *eq = strchr(o->props[i], '=');

		*eq = '\0';
		ret = set_prop(conf, o->props[i], eq + 1);
		*eq = '=';
		if (ret)
			goto cleanup;
	}
	ret = -EINVAL;
	rd_kafka_conf_set_opaque(conf, st);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_error_cb(conf, on_error);

	st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!st->rk) {
		fprintf(stderr, "%s: cannot create the consumer: %s\n", PROG, err);
		goto cleanup;
	}
	conf = NULL; /* owned by rk now */
	rd_kafka_poll_set_consumer(st->rk);

	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, o->topic, RD_KAFKA_PARTITION_UA);
	kerr = rd_kafka_subscribe(st->rk, topics);
	if (kerr) {
		fprintf(stderr, "%s: cannot subscribe to %s: %s\n", PROG, o->topic,
		        rd_kafka_err2str(kerr));
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (topics)
		rd_kafka_topic_partition_list_destroy(topics);
	if (conf)
		rd_kafka_conf_destroy(conf);
	return ret;
}

/* A consumer-level error from poll: true if it ends the run. */
static bool consumer_error_is_fatal(struct consumer_state *st, const rd_kafka_message_t *msg)
{
	switch (msg->err) {
	case RD_KAFKA_RESP_ERR__PARTITION_EOF:
		set_eof(st, msg->partition, true);
		return false;
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__FATAL:
		fprintf(stderr, "%s: topic %s: %s\n", PROG, st->opt.topic,
		        rd_kafka_message_errstr(msg));
		return true;
	default:
		fprintf(stderr, "%s: consumer: %s\n", PROG, rd_kafka_message_errstr(msg));
		return false;
	}
}

static int run(struct consumer_state *st)
{
	while (!stop_requested && !st->fatal) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(st->rk, POLL_TIMEOUT_MS);

		if (!msg) {
			fflush(stdout);
			continue;
		}
		if (msg->err) {
			if (consumer_error_is_fatal(st, msg))
				st->fatal = true;
		} else {
			set_eof(st, msg->partition, false);
			if (handle_message(st, msg))
				st->fatal = true;
		}
		rd_kafka_message_destroy(msg);
		if (st->opt.count && st->consumed >= st->opt.count)
			break;
		if (st->opt.exit_at_end && all_at_eof(st))
			break;
	}
	return st->fatal ? -EIO : 0;
}

/* ---------------------------------------------------------------- CLI */

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: " PROG " [OPTIONS]\n"
	        "Reads tcpstates.v1 events from Kafka and prints them; checks seq continuity\n"
	        "per agent instance and prints a summary at exit.\n\n"
	        "  -b, --brokers LIST     bootstrap brokers (default " DEFAULT_BROKERS ")\n"
	        "  -t, --topic NAME       topic (default " DEFAULT_TOPIC ")\n"
	        "  -g, --group ID         consumer group (default " DEFAULT_GROUP ")\n"
	        "      --from-beginning   read every partition from its start (default)\n"
	        "      --from-end         read only events that arrive from now on\n"
	        "      --from-committed   resume at the group's committed offsets\n"
	        "  -n, --count N          stop after N messages\n"
	        "  -e, --exit-at-end      stop once every assigned partition is read to its end\n"
	        "      --json             one canonical proto3 JSON object per line, then\n"
	        "                         {\"summary\": ...}\n"
	        "  -T, --timestamp        table: HH:MM:SS of each event first\n"
	        "  -w, --wide             table: IP version column, 39-character addresses\n"
	        "  -x, --extended         table: bytes sent (acknowledged) and received, RTT,\n"
	        "                         retransmits, direction, container and cgroup\n"
	        "  -X KEY=VALUE           librdkafka consumer property (repeatable)\n"
	        "  -h, --help             this help\n\n"
	        "Exit status: 0 done, 1 Kafka error, 2 bad command line.\n");
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end || !*out)
		return -EINVAL;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_FROM_BEGINNING = 256, OPT_FROM_END, OPT_FROM_COMMITTED, OPT_JSON };
	static const struct option longopts[] = {
	    {"brokers", required_argument, NULL, 'b'},
	    {"topic", required_argument, NULL, 't'},
	    {"group", required_argument, NULL, 'g'},
	    {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
	    {"from-end", no_argument, NULL, OPT_FROM_END},
	    {"from-committed", no_argument, NULL, OPT_FROM_COMMITTED},
	    {"count", required_argument, NULL, 'n'},
	    {"exit-at-end", no_argument, NULL, 'e'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"timestamp", no_argument, NULL, 'T'},
	    {"wide", no_argument, NULL, 'w'},
	    {"extended", no_argument, NULL, 'x'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "b:t:g:n:eTwxX:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			o->brokers = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case OPT_FROM_BEGINNING:
			o->start = START_BEGINNING;
			break;
		case OPT_FROM_END:
			o->start = START_END;
			break;
		case OPT_FROM_COMMITTED:
			o->start = START_COMMITTED;
			break;
		case 'n':
			if (parse_count(optarg, &o->count)) {
				fprintf(stderr, "%s: -n: '%s' is not a positive count\n", PROG,
				        optarg);
				return -EINVAL;
			}
			break;
		case 'e':
			o->exit_at_end = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'T':
			o->table.timestamp = true;
			break;
		case 'w':
			o->table.wide = true;
			break;
		case 'x':
			o->table.extended = true;
			break;
		case 'X':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, "%s: -X: '%s' is not KEY=VALUE\n", PROG, optarg);
				return -EINVAL;
			}
			o->props[o->nprops++] = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", PROG, argv[optind]);
		return -EINVAL;
	}
	if (!*o->brokers || !*o->topic || !*o->group) {
		fprintf(stderr, "%s: brokers, topic and group must not be empty\n", PROG);
		return -EINVAL;
	}
	if (o->json && (o->table.timestamp || o->table.wide || o->table.extended)) {
		fprintf(stderr, "%s: -T, -w and -x apply to the table, not to --json\n", PROG);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct consumer_state st = {
	    .opt =
	        {
	            .brokers = DEFAULT_BROKERS,
	            .topic = DEFAULT_TOPIC,
	            .group = DEFAULT_GROUP,
	            .start = START_BEGINNING,
	            .table = {.cookie = true},
	        },
	};
	struct sigaction sa = {.sa_handler = on_signal};
	int ret = 0;

	/* -X can appear at most argc times. */
	st.opt.props = calloc(argc, sizeof(*st.opt.props));
	if (!st.opt.props) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return EXIT_FATAL;
	}
	if (parse_args(argc, argv, &st.opt)) {
		free(st.opt.props);
		return EXIT_USAGE;
	}
	ret = seq_tracker_new(&st.seqs, SEQ_TRACKER_DEFAULT_WINDOW);
	if (ret) {
		fprintf(stderr, "%s: cannot set up seq tracking: %s\n", PROG, strerror(-ret));
		ret = EXIT_FATAL;
		goto cleanup;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
		fprintf(stderr, "%s: cannot install signal handlers: %s\n", PROG, strerror(errno));
		ret = EXIT_FATAL;
		goto cleanup;
	}
	if (open_consumer(&st)) {
		ret = EXIT_FATAL;
		goto cleanup;
	}
	if (!st.opt.json)
		table_print_header(stdout, &st.opt.table);
	if (run(&st))
		ret = EXIT_FATAL;
	print_summary(&st);
	fflush(stdout);
cleanup:
	if (st.rk) {
		rd_kafka_consumer_close(st.rk);
		rd_kafka_destroy(st.rk);
	}
	seq_tracker_free(st.seqs);
	free(st.assigned);
	free(st.at_eof);
	free(st.opt.props);
	return ret;
}
