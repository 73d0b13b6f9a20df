// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Exposition text, health verdicts, and the HTTP server answering real
 * requests over a loopback TCP socket.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "metrics.h"

static struct metrics_snapshot sample_snapshot(void)
{
	struct metrics_snapshot s = {
	    .kernel_seen = 1000,
	    .received = 900,
	    .published = 850,
	    .delivery_errors = 4,
	    .spool_pending_records = 45,
	    .spool_pending_bytes = 4500,
	    .spool_disk_bytes = 8192,
	    .spool_max_bytes = 1048576,
	    .spool_written_bytes = 123456789012ULL,
	    .memory_resident_bytes = 20971520,
	    .memory_budget_bytes = 50331648,
	    .oldest_pending_age_s = 2.5,
	    .spool_degraded = true,
	    .spool_quarantined_files = 2,
	    .spool_unreadable_files = 1,
	    .broker_up = false,
	    .broker_down_s = 12.25,
	    .kafka_compression_disabled = true,
	    .schema_waiting = true,
	    .schema_id = 4100,
	    .schema_registry_failures = 6,
	    .owner_lookup_ran = true,
	    .owner_lookup_found = 100028,
	    .owner_lookup_over_limit_descriptors = 7,
	    .owner_lookup_seconds = 0.337,
	    .socket_table_sockets = 4242,
	    .socket_table_evicted = 17,
	    .socket_table_unremembered = 2,
	    .bpf_socket_state = "hash",
	    .bpf_socket_id = "random",
	    .reloads_ok = 3,
	    .reloads_failed = 1,
	    .health_broker_down_s = 60,
	    .health_spool_fraction = 0.9,
	};
	for (int r = 0; r < DROP_REASON_MAX; r++)
		s.dropped[r] = 10 + r; /* distinct per reason, so a swapped label shows */
	/* 5 at or below 1 ms, 2 in (5 ms, 10 ms], 1 above 10 s */
	s.delivery_latency.counts[0] = 5;
	s.delivery_latency.counts[3] = 2;
	s.delivery_latency.counts[LATENCY_BOUNDS] = 1;
	s.delivery_latency.sum_ns = 12500000001ULL;
	return s;
}

static const char *const expected_samples[] = {
    "tcpstates_agent_kernel_events_total 1000",
    "tcpstates_agent_events_received_total 900",
    "tcpstates_agent_events_published_total 850",
    "tcpstates_agent_events_dropped_total{reason=\"ringbuf_full\"} 10",
    "tcpstates_agent_events_dropped_total{reason=\"filtered\"} 11",
    "tcpstates_agent_events_dropped_total{reason=\"spool_full\"} 12",
    "tcpstates_agent_events_dropped_total{reason=\"encode_error\"} 13",
    "tcpstates_agent_events_dropped_total{reason=\"delivery_failed\"} 14",
    "tcpstates_agent_events_dropped_total{reason=\"spool_corrupt\"} 15",
    "tcpstates_agent_kafka_delivery_errors_total 4",
    "tcpstates_agent_spool_pending_records 45",
    "tcpstates_agent_spool_pending_bytes 4500",
    "tcpstates_agent_spool_disk_bytes 8192",
    "tcpstates_agent_spool_max_bytes 1048576",
    "tcpstates_agent_spool_written_bytes_total 123456789012",
    "tcpstates_agent_memory_resident_bytes 20971520",
    "tcpstates_agent_memory_budget_bytes 50331648",
    "tcpstates_agent_spool_degraded 1",
    "tcpstates_agent_spool_quarantined_files 2",
    "tcpstates_agent_spool_unreadable_files 1",
    "tcpstates_agent_oldest_unacked_event_age_seconds 2.500",
    "tcpstates_agent_kafka_broker_up 0",
    "tcpstates_agent_kafka_broker_down_seconds 12.250",
    "tcpstates_agent_kafka_compression_disabled 1",
    "tcpstates_agent_schema_registry_waiting 1",
    "tcpstates_agent_schema_registry_failures_total 6",
    "tcpstates_agent_schema_id 4100",
    "tcpstates_agent_bpf_socket_state{impl=\"hash\"} 1",
    "tcpstates_agent_bpf_socket_id{impl=\"random\"} 1",
    "tcpstates_agent_startup_owner_lookup_sockets{result=\"found\"} 100028",
    "tcpstates_agent_startup_owner_lookup_over_limit_descriptors 7",
    "tcpstates_agent_startup_owner_lookup_complete 0",
    "tcpstates_agent_startup_owner_lookup_seconds 0.337",
    "tcpstates_agent_socket_table_sockets 4242",
    "tcpstates_agent_socket_table_evicted_total 17",
    "tcpstates_agent_socket_table_unremembered_total 2",
    "tcpstates_agent_config_reloads_total{result=\"success\"} 3",
    "tcpstates_agent_config_reloads_total{result=\"failure\"} 1",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.001\"} 5",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.0025\"} 5",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.005\"} 5",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.01\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.025\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.05\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.1\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.25\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"0.5\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"1\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"2.5\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"5\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"10\"} 7",
    "tcpstates_agent_delivery_latency_seconds_bucket{le=\"+Inf\"} 8",
    "tcpstates_agent_delivery_latency_seconds_sum 12.500000001",
    "tcpstates_agent_delivery_latency_seconds_count 8",
};

static const struct {
	const char *family;
	const char *type;
} expected_families[] = {
    {"tcpstates_agent_kernel_events_total", "counter"},
    {"tcpstates_agent_events_received_total", "counter"},
    {"tcpstates_agent_events_published_total", "counter"},
    {"tcpstates_agent_events_dropped_total", "counter"},
    {"tcpstates_agent_kafka_delivery_errors_total", "counter"},
    {"tcpstates_agent_spool_pending_records", "gauge"},
    {"tcpstates_agent_spool_pending_bytes", "gauge"},
    {"tcpstates_agent_spool_disk_bytes", "gauge"},
    {"tcpstates_agent_spool_max_bytes", "gauge"},
    {"tcpstates_agent_spool_written_bytes_total", "counter"},
    {"tcpstates_agent_spool_degraded", "gauge"},
    {"tcpstates_agent_spool_quarantined_files", "gauge"},
    {"tcpstates_agent_spool_unreadable_files", "gauge"},
    {"tcpstates_agent_oldest_unacked_event_age_seconds", "gauge"},
    {"tcpstates_agent_kafka_broker_up", "gauge"},
    {"tcpstates_agent_kafka_broker_down_seconds", "gauge"},
    {"tcpstates_agent_kafka_compression_disabled", "gauge"},
    {"tcpstates_agent_schema_registry_waiting", "gauge"},
    {"tcpstates_agent_schema_registry_failures_total", "counter"},
    {"tcpstates_agent_schema_id", "gauge"},
    {"tcpstates_agent_startup_owner_lookup_sockets", "gauge"},
    {"tcpstates_agent_startup_owner_lookup_over_limit_descriptors", "gauge"},
    {"tcpstates_agent_startup_owner_lookup_complete", "gauge"},
    {"tcpstates_agent_startup_owner_lookup_seconds", "gauge"},
    {"tcpstates_agent_config_reloads_total", "counter"},
    {"tcpstates_agent_delivery_latency_seconds", "histogram"},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Where text holds exactly this line (not merely a prefix of a longer one), or NULL. */
static const char *find_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return p;
	}
	return NULL;
}

static bool has_line(const char *text, const char *line)
{
	return find_line(text, line) != NULL;
}

static bool is_name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	       (!first && isdigit((unsigned char)c));
}

/*
 * Checks one sample line against the text format grammar:
 * name, optional {label="value",...}, one space, a float. Copies the name out.
 */
static bool parse_sample(const char *line, char *name, size_t name_len)
{
	const char *p = line;
	size_t n = 0;
	char *end;

	if (!is_name_char(*p, true))
		return false;
	while (is_name_char(*p, n == 0)) {
		if (n + 1 >= name_len)
			return false;
		name[n++] = *p++;
	}
	name[n] = '\0';
	if (*p == '{') {
		p++;
		for (;;) {
			if (!is_name_char(*p, true))
				return false;
			while (is_name_char(*p, false))
				p++;
			if (*p++ != '=' || *p++ != '"')
				return false;
			while (*p && *p != '"' && *p != '\\' && *p != '\n')
				p++;
			if (*p++ != '"')
				return false;
			if (*p == '}') {
				p++;
				break;
			}
			if (*p++ != ',')
				return false;
		}
	}
	if (*p++ != ' ' || *p == ' ' || *p == '\0')
		return false;
	strtod(p, &end);
	return end != p && *end == '\0';
}

static void strip_histogram_suffix(char *name)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	size_t n = strlen(name);

	if (!strstr(name, "_seconds_"))
		return;
	for (size_t i = 0; i < N_ELEMS(suffixes); i++) {
		size_t k = strlen(suffixes[i]);

		if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
			name[n - k] = '\0';
			return;
		}
	}
}

static void test_drop_reason_names(void)
{
	static const char *const names[DROP_REASON_MAX] = {
	    "ringbuf_full", "filtered",        "spool_full",
	    "encode_error", "delivery_failed", "spool_corrupt",
	};

	for (int r = 0; r < DROP_REASON_MAX; r++)
		CHECK_STR(drop_reason_name(r), names[r]);
	CHECK_STR(drop_reason_name(DROP_REASON_MAX), "unknown");
	CHECK_STR(drop_reason_name((enum drop_reason) - 1), "unknown");
}

static void test_render_exact(void)
{
	struct metrics_snapshot s = sample_snapshot();
	char buf[16384], line[512], name[256];
	int n, samples = 0;

	n = metrics_render(&s, buf, sizeof(buf));
	CHECK(n > 0);
	if (n <= 0)
		return;
	CHECK_EQ_U64(strlen(buf), n);
	CHECK(buf[n - 1] == '\n');

	for (size_t i = 0; i < N_ELEMS(expected_samples); i++) {
		if (!has_line(buf, expected_samples[i])) {
			fprintf(stderr, "missing sample line: %s\n", expected_samples[i]);
			CHECK(!"sample line present");
		}
	}
	for (size_t i = 0; i < N_ELEMS(expected_families); i++) {
		char type[256];
		const char *help;

		snprintf(type, sizeof(type), "# TYPE %s %s", expected_families[i].family,
		         expected_families[i].type);
		CHECK(has_line(buf, type));
		snprintf(line, sizeof(line), "\n# HELP %s ", expected_families[i].family);
		help = strstr(buf, line);
		/* HELP must come first in the text, TYPE right after it, with some help text */
		CHECK(help != NULL || strncmp(buf, line + 1, strlen(line + 1)) == 0);
		if (help)
			CHECK(help[strlen(line)] != '\n');
	}

	/* every non-comment line parses, and belongs to a family with a TYPE line seen before */
	for (const char *p = buf; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char type_prefix[300];

		CHECK(len < sizeof(line));
		if (len >= sizeof(line))
			break;
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl ? 1 : 0);

		if (line[0] == '#') {
			CHECK(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
			continue;
		}
		samples++;
		if (!parse_sample(line, name, sizeof(name))) {
			fprintf(stderr, "unparseable sample line: '%s'\n", line);
			CHECK(!"sample line parses");
			continue;
		}
		/* a histogram's samples belong to the family without the suffix */
		strip_histogram_suffix(name);
		snprintf(type_prefix, sizeof(type_prefix), "# TYPE %s ", name);
		const char *t = strstr(buf, type_prefix);
		if (!(t != NULL && t < find_line(buf, line)))
			fprintf(stderr, "no TYPE before: %s\n", line);
		CHECK(t != NULL && t < find_line(buf, line));
	}
	CHECK_EQ_U64(samples, N_ELEMS(expected_samples));
	/* Each loss is counted once, in events_dropped_total: no unlabelled twin. */
	CHECK(strstr(buf, "tcpstates_agent_events_filtered_total") == NULL);
	CHECK(strstr(buf, "tcpstates_agent_ringbuf_drops_total") == NULL);
}

static void test_render_zero_and_max(void)
{
	struct metrics_snapshot s = {0};
	char buf[16384];

	s.dropped[DROP_SPOOL_CORRUPT] = UINT64_MAX;
	s.broker_up = true;
	CHECK(metrics_render(&s, buf, sizeof(buf)) > 0);
	CHECK(has_line(buf, "tcpstates_agent_events_dropped_total{reason=\"spool_corrupt\"} "
	                    "18446744073709551615"));
	CHECK(has_line(buf, "tcpstates_agent_kafka_broker_up 1"));
	CHECK(has_line(buf, "tcpstates_agent_spool_degraded 0"));
	CHECK(has_line(buf, "tcpstates_agent_kafka_broker_down_seconds 0.000"));
	CHECK(has_line(buf, "tcpstates_agent_kafka_compression_disabled 0"));
	CHECK(has_line(buf, "tcpstates_agent_events_dropped_total{reason=\"ringbuf_full\"} 0"));
}

static void test_render_enospc(void)
{
	struct metrics_snapshot s = sample_snapshot();
	char full[16384], *small;
	int n = metrics_render(&s, full, sizeof(full));

	CHECK(n > 0);
	if (n <= 0)
		return;
	small = malloc((size_t)n + 1);
	if (!small)
		return;
	/* the text plus its NUL needs n + 1 bytes: any less is -ENOSPC, never a truncation */
	for (size_t len = 1; len <= (size_t)n; len += (len < 64 || len > (size_t)n - 64) ? 1 : 97)
		CHECK_EQ_U64(metrics_render(&s, small, len), (uint64_t)(int64_t)-ENOSPC);
	CHECK_EQ_U64(metrics_render(&s, small, (size_t)n + 1), n);
	CHECK(memcmp(small, full, (size_t)n + 1) == 0);
	CHECK_EQ_U64(metrics_render(&s, small, 0), (uint64_t)(int64_t)-EINVAL);
	free(small);
}

static void test_health_table(void)
{
	static const struct {
		const char *what;
		double broker_down_s;
		uint32_t limit_s;
		uint64_t disk, max;
		double fraction;
		bool healthy;
		const char *reason_has[2];
	} cases[] = {
	    {"all fine", 0, 60, 0, 1000, 0.9, true, {NULL, NULL}},
	    {"down below limit", 59.9, 60, 0, 1000, 0.9, true, {NULL, NULL}},
	    {"down exactly at limit", 60, 60, 0, 1000, 0.9, true, {NULL, NULL}},
	    {"down past limit", 60.5, 60, 0, 1000, 0.9, false, {"60.5", "limit 60 s"}},
	    {"spool at fraction", 0, 60, 900, 1000, 0.9, true, {NULL, NULL}},
	    {"spool past fraction", 0, 60, 901, 1000, 0.9, false, {"901 of 1000", "0.90"}},
	    {"spool off (max 0)", 0, 60, 5000, 0, 0.9, true, {NULL, NULL}},
	    {"both", 120, 30, 1000, 1000, 0.5, false, {"120.0 s (limit 30 s)", "1000 of 1000"}},
	    {"zero limit, broker up", 0, 0, 0, 1000, 0.9, true, {NULL, NULL}},
	    {"zero limit, broker down", 0.001, 0, 0, 1000, 0.9, false, {"limit 0 s", NULL}},
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct metrics_snapshot s = {0};
		char reason[256] = "stale";
		bool ok;

		s.broker_down_s = cases[i].broker_down_s;
		s.broker_up = cases[i].broker_down_s == 0;
		s.health_broker_down_s = cases[i].limit_s;
		s.spool_disk_bytes = cases[i].disk;
		s.spool_max_bytes = cases[i].max;
		s.health_spool_fraction = cases[i].fraction;

		ok = metrics_healthy(&s, reason, sizeof(reason));
		if (ok != cases[i].healthy)
			fprintf(stderr, "health case '%s': got %d, reason '%s'\n", cases[i].what,
			        ok, reason);
		CHECK(ok == cases[i].healthy);
		if (ok)
			CHECK_STR(reason, "");
		else
			CHECK(reason[0] != '\0');
		for (int k = 0; k < 2; k++) {
			if (cases[i].reason_has[k] && !strstr(reason, cases[i].reason_has[k])) {
				fprintf(stderr, "health case '%s': reason '%s' lacks '%s'\n",
				        cases[i].what, reason, cases[i].reason_has[k]);
				CHECK(!"reason text");
			}
		}
	}

	/* Framed values waiting for a schema id: unhealthy once the registry failed,
	 * with its answer; not during the first registration. */
	struct metrics_snapshot w = {.schema_waiting = true, .health_spool_fraction = 0.9};
	char why[512];
	CHECK(metrics_healthy(&w, why, sizeof(why)));
	snprintf(w.schema_registry_error, sizeof(w.schema_registry_error),
	         "registry http://r:8081 answered HTTP 500, error_code 50001: store down");
	CHECK(!metrics_healthy(&w, why, sizeof(why)));
	CHECK(strstr(why, "no schema id") && strstr(why, "HTTP 500, error_code 50001"));
	w.broker_down_s = 100;
	w.health_broker_down_s = 1;
	CHECK(!metrics_healthy(&w, why, sizeof(why)));
	CHECK(strstr(why, "unreachable") && strstr(why, "; no schema id"));

	/* a tiny reason buffer truncates the text but not the verdict */
	struct metrics_snapshot s = {.broker_down_s = 100, .health_broker_down_s = 1};
	char tiny[8];
	CHECK(!metrics_healthy(&s, tiny, sizeof(tiny)));
	CHECK_EQ_U64(strlen(tiny), sizeof(tiny) - 1);
	CHECK(!metrics_healthy(&s, NULL, 0));
}

/* ---- HTTP server ---- */

struct collect_state {
	atomic_int calls;
	atomic_bool unhealthy;
};

static void collect(void *ctx, struct metrics_snapshot *snap)
{
	struct collect_state *st = ctx;

	atomic_fetch_add(&st->calls, 1);
	*snap = sample_snapshot();
	if (atomic_load(&st->unhealthy))
		snap->broker_down_s = 3600;
}

/* An unused loopback port: bind to 0, read it back, release it. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

struct http_reply {
	int status;
	char content_type[128];
	char body[16384];
};

/* Sends one HTTP/1.0 request and reads until the server closes. Returns 0 or -errno. */
static int http_request(int family, uint16_t port, const char *method, const char *path,
                        struct http_reply *r)
{
	struct sockaddr_storage ss = {0};
	struct timeval tv = {.tv_sec = 5};
	char req[256], resp[32768];
	size_t got = 0;
	socklen_t alen;
	char *hdr_end, *ct;
	int fd, n;

	memset(r, 0, sizeof(*r));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		alen = sizeof(*a);
	}
	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&ss, alen) != 0) {
		n = -errno;
		close(fd);
		return n;
	}
	n = snprintf(req, sizeof(req),
	             "%s %s HTTP/1.0\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s", method, path,
	             strcmp(method, "POST") == 0 ? 3 : 0, strcmp(method, "POST") == 0 ? "x=1" : "");
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	while (got < sizeof(resp) - 1) {
		ssize_t k = read(fd, resp + got, sizeof(resp) - 1 - got);

		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	resp[got] = '\0';

	if (sscanf(resp, "HTTP/1.%*d %d", &r->status) != 1)
		return -EPROTO;
	hdr_end = strstr(resp, "\r\n\r\n");
	if (!hdr_end)
		return -EPROTO;
	*hdr_end = '\0';
	snprintf(r->body, sizeof(r->body), "%s", hdr_end + 4);
	for (ct = resp; (ct = strstr(ct, "\r\n")); ct += 2) {
		if (strncasecmp(ct + 2, "Content-Type:", 13) == 0) {
			char *v = ct + 2 + 13;
			size_t len;

			while (*v == ' ')
				v++;
			len = strcspn(v, "\r\n");
			snprintf(r->content_type, sizeof(r->content_type), "%.*s", (int)len, v);
			break;
		}
	}
	return 0;
}

static void test_server(void)
{
	struct collect_state st = {0};
	struct metrics_server *m = NULL, *m2 = NULL;
	struct http_reply *r = malloc(sizeof(*r));
	uint16_t port = free_port();
	int err;

	CHECK(r != NULL && port != 0);
	if (!r || !port) {
		free(r);
		return;
	}

	err = metrics_server_start(&m, "127.0.0.1", port, collect, &st);
	CHECK_EQ_U64(err, 0);
	if (err) {
		free(r);
		return;
	}

	CHECK_EQ_U64(http_request(AF_INET, port, "GET", "/metrics", r), 0);
	CHECK_EQ_U64(r->status, 200);
	CHECK_STR(r->content_type, "text/plain; version=0.0.4; charset=utf-8");
	CHECK(has_line(r->body, "tcpstates_agent_kernel_events_total 1000"));
	CHECK(has_line(r->body, "tcpstates_agent_events_dropped_total{reason=\"spool_full\"} 12"));
	CHECK(atomic_load(&st.calls) == 1);

	CHECK_EQ_U64(http_request(AF_INET, port, "GET", "/healthz", r), 0);
	CHECK_EQ_U64(r->status, 200);
	CHECK_STR(r->body, "ok\n");
	CHECK(atomic_load(&st.calls) == 2);

	atomic_store(&st.unhealthy, true);
	CHECK_EQ_U64(http_request(AF_INET, port, "GET", "/healthz", r), 0);
	CHECK_EQ_U64(r->status, 503);
	CHECK(strstr(r->body, "3600.0 s") != NULL);
	CHECK(strstr(r->body, "limit 60 s") != NULL);
	atomic_store(&st.unhealthy, false);

	CHECK_EQ_U64(http_request(AF_INET, port, "GET", "/nope", r), 0);
	CHECK_EQ_U64(r->status, 404);
	CHECK_EQ_U64(http_request(AF_INET, port, "GET", "/metrics/extra", r), 0);
	CHECK_EQ_U64(r->status, 404);

	CHECK_EQ_U64(http_request(AF_INET, port, "POST", "/metrics", r), 0);
	CHECK_EQ_U64(r->status, 405);
	CHECK_EQ_U64(http_request(AF_INET, port, "DELETE", "/healthz", r), 0);
	CHECK_EQ_U64(r->status, 405);

	/* HEAD gets the headers without running into a body */
	CHECK_EQ_U64(http_request(AF_INET, port, "HEAD", "/metrics", r), 0);
	CHECK_EQ_U64(r->status, 200);
	CHECK_STR(r->body, "");

	/* only the successful GETs/HEADs on real routes collected */
	CHECK(atomic_load(&st.calls) == 4);

	/* the port is taken now */
	err = metrics_server_start(&m2, "127.0.0.1", port, collect, &st);
	CHECK_EQ_U64(err, (uint64_t)(int64_t)-EADDRINUSE);
	CHECK(m2 == NULL);

	metrics_server_stop(m);
	/* stopped means closed: the port is free to take again right away */
	CHECK_EQ_U64(http_request(AF_INET, port, "GET", "/metrics", r),
	             (uint64_t)(int64_t)-ECONNREFUSED);
	err = metrics_server_start(&m2, "127.0.0.1", port, collect, &st);
	CHECK_EQ_U64(err, 0);
	metrics_server_stop(m2);
	free(r);
}

/*
 * A client that connects and never sends a request neither blocks other
 * scrapes nor holds its slot past the connection timeout.
 */
static void test_server_idle_client(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 15};
	struct collect_state st = {0};
	struct metrics_server *m = NULL;
	struct http_reply *r = malloc(sizeof(*r));
	uint16_t port = free_port();
	struct timespec t0, t1;
	int fd = -1;
	char c;

	if (!r || !port || metrics_server_start(&m, "127.0.0.1", port, collect, &st) != 0) {
		CHECK(!"setup");
		free(r);
		return;
	}
	a.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	CHECK_EQ_U64(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	CHECK_EQ_U64(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	CHECK_EQ_U64(http_request(AF_INET, port, "GET", "/metrics", r), 0);
	CHECK_EQ_U64(r->status, 200);

	/* the server hangs up on the silent client: EOF, not our 15 s receive timeout */
	CHECK_EQ_U64(read(fd, &c, 1), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double waited = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (waited < 4.0 || waited > 8.0)
		fprintf(stderr, "idle client closed after %.2f s\n", waited);
	CHECK(waited >= 4.0 && waited <= 8.0);
out:
	if (fd >= 0)
		close(fd);
	metrics_server_stop(m);
	free(r);
}

static void test_server_ipv6(void)
{
	struct collect_state st = {0};
	struct metrics_server *m = NULL;
	struct http_reply *r = malloc(sizeof(*r));
	uint16_t port = free_port();
	int err;

	if (!r || !port) {
		CHECK(!"setup");
		free(r);
		return;
	}
	err = metrics_server_start(&m, "[::1]", port, collect, &st);
	if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT) {
		printf("test_metrics: no IPv6 loopback here, skipping the IPv6 server case\n");
		free(r);
		return;
	}
	CHECK_EQ_U64(err, 0);
	if (!err) {
		CHECK_EQ_U64(http_request(AF_INET6, port, "GET", "/healthz", r), 0);
		CHECK_EQ_U64(r->status, 200);
		metrics_server_stop(m);
	}
	free(r);
}

static void test_server_bad_addresses(void)
{
	static const char *const bad[] = {
	    "",           "localhost",  "example.com", "127.0.0",   "256.0.0.1",   "127.0.0.1:9100",
	    "::g",        "[::1",       "::1]",        "[]",        "[127.0.0.1]", " 127.0.0.1",
	    "127.0.0.1 ", "fe80::1%lo", "0x7f.0.0.1",  "1.2.3.4.5",
	};
	struct collect_state st = {0};
	struct metrics_server *m = (struct metrics_server *)&st; /* must be reset to NULL */

	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		int err = metrics_server_start(&m, bad[i], 0, collect, &st);

		if (err != -EINVAL)
			fprintf(stderr, "address '%s' gave %d\n", bad[i], err);
		CHECK_EQ_U64(err, (uint64_t)(int64_t)-EINVAL);
		CHECK(m == NULL);
		if (!err)
			metrics_server_stop(m);
	}
	CHECK_EQ_U64(metrics_server_start(&m, NULL, 0, collect, &st), (uint64_t)(int64_t)-EINVAL);
	CHECK_EQ_U64(metrics_server_start(&m, "127.0.0.1", 0, NULL, &st),
	             (uint64_t)(int64_t)-EINVAL);
	/* a literal that parses but is not on this host */
	CHECK_EQ_U64(metrics_server_start(&m, "192.0.2.1", free_port(), collect, &st),
	             (uint64_t)(int64_t)-EADDRNOTAVAIL);
}

int main(void)
{
	test_drop_reason_names();
	test_render_exact();
	test_render_zero_and_max();
	test_render_enospc();
	test_health_table();
	test_server();
	test_server_idle_client();
	test_server_ipv6();
	test_server_bad_addresses();
	return check_report("test_metrics");
}
