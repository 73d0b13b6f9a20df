// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// Runs ClickHouse (chDB, in this process) for test_clickhouse.py.
//
// stdin: {"chdb": DIR, "session": DIR, "setup": [SQL...],
//         "wait": {"sql": SQL, "until": N, "timeout_s": S}, "queries": [SQL...]}
// The setup statements run in order; then, for a Kafka engine whose
// materialized view fills a table in the background, the wait query is
// repeated until it returns N (or the timeout passes); then each query's
// JSONEachRow output is printed, one JSON document per query:
// {"results": [[row...], ...], "waited_s": S, "last_count": N}.
"use strict";
const fs = require("fs");
const path = require("path");

const job = JSON.parse(fs.readFileSync(0, "utf8"));
const { Session } = require(path.join(job.chdb, "node_modules", "chdb"));
const session = new Session(job.session);

function rows(sql) {
	const text = session.query(sql, "JSONEachRow");
	return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function sleep(ms) {
	Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

for (const sql of job.setup || [])
	session.query(sql);
const started = Date.now();
let count = null;
if (job.wait) {
	for (;;) {
		count = Number(session.query(job.wait.sql, "CSV").trim());
		if (count >= job.wait.until || Date.now() - started > job.wait.timeout_s * 1000)
			break;
		sleep(500);
	}
}
const results = (job.queries || []).map(rows);
process.stdout.write(JSON.stringify({ results, waited_s: (Date.now() - started) / 1000,
                                      last_count: count }) + "\n");
// The Kafka engine's consumers are threads of this process: leave at once.
process.exit(0);
