// Drives cpumon's whole workflow through a client made by openapi-typescript + openapi-fetch from the
// document the server serves (generated/cpumon.d.ts). tsc checks this file against the generated types,
// so a request or answer that drifts from the document fails to compile. Run by tests/openapi:
//   node build/workflow.js BASE_URL USERNAME PASSWORD  -> prints a JSON summary, exits non-zero on failure.
import assert from "node:assert/strict";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/cpumon.js";

type ErrorBody = components["schemas"]["Error"];
type SampleIn = components["schemas"]["SampleIn"];

const BATCH = 1000;
const PAGE = 300;
const BASE_TIME = Date.parse("2026-03-02T14:00:00Z");

const [baseUrl, username, password] = process.argv.slice(2);
assert.ok(baseUrl && username && password, "usage: workflow.js BASE_URL USERNAME PASSWORD");

// Node's fetch keeps no cookies: keep the session cookie the server sets, as a browser would.
let cookie = "";
const keepSessionCookie: Middleware = {
  onRequest({ request }) {
    if (cookie) request.headers.set("cookie", cookie);
    return request;
  },
  onResponse({ response }) {
    for (const line of response.headers.getSetCookie()) {
      const expired = /max-age=0(;|$)/i.test(line) || /expires=thu, 01 jan 1970/i.test(line);
      cookie = expired ? "" : (line.split(";")[0] ?? "");
    }
    return response;
  },
};

const client = createClient<paths>({ baseUrl });
client.use(keepSessionCookie);

function sample(seq: number): SampleIn {
  const recorded_at = new Date(BASE_TIME + seq * 1000).toISOString();
  return { seq, recorded_at, cpu_percent: seq % 100 };
}

function assertError(error: ErrorBody | undefined, status: number): ErrorBody {
  assert.ok(error, `expected an Error body with status ${status}`);
  assert.equal(error.status_code, status);
  assert.equal(typeof error.detail, "string");
  return error;
}

async function main(): Promise<void> {
  const login = await client.POST("/api/auth/login", { body: { username: username!, password: password! } });
  assert.equal(login.response.status, 200);
  assert.ok(cookie.startsWith("cpumon_session="), `login set no session cookie: ${cookie}`);
  const me = await client.GET("/api/auth/me");
  assert.equal(me.data?.username, username);

  const started = await client.POST("/api/test-runs", { body: { name: "typescript client", threshold_percent: 50 } });
  assert.equal(started.response.status, 201);
  const run_id = started.data!.id;
  const path = { path: { run_id } };
  const ingest = (body: SampleIn | SampleIn[]) =>
    client.POST("/api/test-runs/{run_id}/cpu-usage", { params: path, body });

  assert.equal((await ingest(sample(0))).data?.inserted, 1);
  const batch = Array.from({ length: BATCH }, (_, i) => sample(i + 1));
  assert.equal((await ingest(batch)).data?.inserted, BATCH);
  const again = await ingest(batch);
  assert.deepEqual([again.data?.inserted, again.data?.duplicates], [0, BATCH]);

  const seqs: (number | null)[] = [];
  let cursor: string | null | undefined;
  let pages = 0;
  do {
    const page = await client.GET("/api/test-runs/{run_id}/cpu-usage", {
      params: { path: { run_id }, query: { limit: PAGE, ...(cursor ? { cursor } : {}) } },
    });
    assert.ok(page.data, `page ${pages}: ${page.response.status}`);
    seqs.push(...page.data.items.map((item) => item.seq));
    cursor = page.data.next_cursor;
    pages += 1;
  } while (cursor);
  assert.deepEqual(seqs, Array.from({ length: BATCH + 1 }, (_, i) => i));

  const detail = await client.GET("/api/test-runs/{run_id}", { params: path });
  const summary = detail.data!.summary;
  assert.deepEqual([summary.sample_count, summary.min_percent, summary.max_percent], [BATCH + 1, 0, 99]);
  const series = await client.GET("/api/test-runs/{run_id}/cpu-usage/series", {
    params: { path: { run_id }, query: { points: 10 } },
  });
  const buckets = series.data!.items;
  assert.equal(buckets.reduce((total, point) => total + point.count, 0), BATCH + 1);
  const csv = await client.GET("/api/test-runs/{run_id}/cpu-usage.csv", { params: path, parseAs: "text" });
  const lines = (csv.data ?? "").trimEnd().split("\n");
  assert.ok(lines[0]?.startsWith("id,seq,recorded_at,cpu_percent"), lines[0]);
  assert.equal(lines.length, BATCH + 2);

  const finished = await client.POST("/api/test-runs/{run_id}/finish", { params: path, body: {} });
  assert.ok(finished.data?.ended_at);
  const late = await ingest(sample(5000));
  assertError(late.error, 409);
  // A finished run takes events; they come back in time order whatever order they were sent in.
  for (const [text, seconds] of [["test stop", 60], ["test start", 0], ["users 10 -> 50", 30]] as const) {
    const at = new Date(BASE_TIME + seconds * 1000).toISOString();
    const added = await client.POST("/api/test-runs/{run_id}/events", { params: path, body: { text, at, kind: "load" } });
    assert.equal(added.response.status, 201);
    assert.equal(added.data?.text, text);
  }
  const listed = await client.GET("/api/test-runs/{run_id}/events", { params: path });
  const events = listed.data!.items.map((event) => event.text);
  assert.deepEqual(events, ["test start", "users 10 -> 50", "test stop"]);
  assertError((await client.POST("/api/test-runs/{run_id}/events", { params: path, body: { text: " " } })).error, 400);
  const deleted = await client.DELETE("/api/test-runs/{run_id}", { params: path });
  assert.equal(deleted.response.status, 204);
  assertError((await client.GET("/api/test-runs/{run_id}", { params: path })).error, 404);

  const logout = await client.POST("/api/auth/logout");
  assert.equal(logout.response.status, 204);
  const after = await client.GET("/api/auth/me");
  const refused = assertError(after.error, 401);
  console.log(
    JSON.stringify({ pages, samples: seqs.length, buckets: buckets.length, events, after_logout: refused.detail }),
  );
}

await main();
