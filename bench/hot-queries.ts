#!/usr/bin/env bun
/**
 * Hot-query benchmark: fills a PostgreSQL database with a large, skewed data set (set-based
 * SQL, one transaction, every CHECK and trigger of the migrations in force), then times the
 * queries the service runs on every request, through the real repository functions.
 *
 *   bun bench/hot-queries.ts [--url postgres://postgres@127.0.0.1:5432/portal_hot]
 *                            [--sessions 1000000] [--reuse] [--runs 20] [--warmup 3] [--plans]
 *
 * --url       the bench database; created (with `pg`) when missing, migrated with the project's `migrate`
 * --sessions  upload sessions to create (each with its file); parts, events and users follow from it
 * --reuse     keep the rows of an earlier fill of the same --sessions (otherwise the bench rows are
 *             replaced; a database with users not named hot-* is refused)
 * --runs      timed runs per query, after --warmup untimed ones
 * --plans     also print every EXPLAIN (ANALYZE, BUFFERS) plan in full
 *
 * The data (for --sessions 1000000): 2,000 users, 4 of them with ~120k sessions each and the
 * others on a long tail (~12k down to ~50 sessions, median ~190); sessions come in runs of 10 of
 * one user, every other run a batch. 89% COMPLETE (file STORED, quota counted in stored_bytes),
 * 5% abandoned open sessions past their expiry (~50k, the sweeper's backlog), 3% FAILED,
 * 2% ABORTED, the newest 1% open and unexpired; ~2M RECEIVED parts (a geometric number per
 * session, 0.1% with hundreds, and one IN_PROGRESS session with 10,000 received parts in 6
 * ranges); ~1M outbox events, of which ~500k PENDING and due (a receiver down for weeks), ~20k
 * FAILED, 3 SENDING with a lapsed lease; 10,000 API tokens.
 *
 * Every query runs at the fill's clock (the `now` it passes is the time of the fill), so a
 * --reuse run days later measures the same thing. The claim of the relay and the sweeper's lock
 * run in a transaction that is rolled back each time, so the events stay due and the sessions
 * expired. Times are of the repository call (statement, decoding of the rows), without
 * BEGIN/ROLLBACK; "server ms" is PostgreSQL's own execution time (median of 3 EXPLAIN ANALYZE).
 * Progress goes to stderr; stdout gets one JSON line per query, then a markdown table.
 */
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { SqlClient, SqlSchema, Statement } from "@effect/sql"
import { Console, Data, DateTime, Duration, Effect, Layer, Option, Redacted, Ref, Schema } from "effect"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import pg from "pg"
import { UsersRepo } from "../src/Auth/UsersRepo"
import { Timestamp } from "../src/Domain/Common"
import { SessionId, UserId } from "../src/Domain/Ids"
import { OPEN_STATUSES } from "../src/Domain/Session"
import { OutboxRepo } from "../src/Outbox/OutboxRepo"
import { PartsRepo } from "../src/Parts/PartsRepo"
import { QuotaRepo } from "../src/Quota/QuotaRepo"
import { SessionsRepo } from "../src/Sessions/SessionsRepo"
import { migrate, postgresLayer } from "../src/Sql"

// ---------------------------------------------------------------- command line
const { values: opt } = parseArgs({
  options: {
    url: { type: "string", default: "postgres://postgres@127.0.0.1:5432/portal_hot" },
    sessions: { type: "string", default: "1000000" },
    reuse: { type: "boolean", default: false },
    runs: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    plans: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

/** A bad command line: say so and exit 2 (no stack trace). */
function badArgument(message: string): never {
  console.error(`error: ${message} (see --help)`)
  process.exit(2)
}
const intAtLeast = (text: string, name: string, min: number): number => {
  const n = Number(text)
  return Number.isInteger(n) && n >= min ? n : badArgument(`--${name} must be an integer >= ${min}`)
}

if (opt.help) {
  const header = readFileSync(import.meta.path, "utf8").split("*/")[0] ?? ""
  console.error(header.split("\n").slice(2).map((line) => line.replace(/^ \* ?/, "")).join("\n"))
  process.exit(0)
}
const SESSIONS = intAtLeast(opt.sessions, "sessions", 1000)
const RUNS = intAtLeast(opt.runs, "runs", 1)
const WARMUP = intAtLeast(opt.warmup, "warmup", 0)
const URL_TEXT = opt.url

// ---------------------------------------------------------------- the data set
const USERS = 2000
const HEAVY_USERS = 4
const TOKENS = 5 * USERS
/** The token looked up by the bench (not revoked: every tenth one is). */
const BENCH_TOKEN = 4242
const SPECIAL_KEY = "hot-bench-10k-parts"
const LIGHT_USER = `hot-${String(USERS).padStart(4, "0")}`
const MiB = 2 ** 20
const GiB = 2 ** 30

/** SQL for a UUIDv7 whose time is `ts` (the service's ids are UUIDv7, so id order is creation order). */
const uuid7 = (ts: string) =>
  `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing ` +
  `substring(int8send(floor(extract(epoch FROM ${ts}) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid`

/**
 * The fill, step by step. Everything is relative to now() of the one transaction it runs in
 * (the fill's clock, kept as the updated_at of the 10,000-part session). Temporary tables drop
 * at commit.
 */
const fillSteps = (n: number): ReadonlyArray<{ readonly label: string; readonly text: string }> => {
  const recent = Math.max(1, Math.floor(n / 100)) // the newest sessions: open, not expired
  const older = n - recent
  const blocks = Math.floor((n - 1) / 10)
  const deliveredUpTo = Math.floor(n * 0.42)
  const failedUpTo = Math.floor(n * 0.44)
  const dueUpTo = Math.floor(n * 0.985)
  const stage = (g: string) =>
    `CASE WHEN ${g} <= ${deliveredUpTo} THEN 'delivered' WHEN ${g} <= ${failedUpTo} THEN 'failed'
          WHEN ${g} <= ${dueUpTo} THEN 'due' ELSE 'later' END`
  const outboxColumns = `id, event_type, event_id, idempotency_key, payload, status, next_attempt_at, attempt_count,
                         last_error, lease_expires_at, leased_by, file_id, batch_id, occurred_at, created_at, delivered_at`
  /** Status, next attempt, attempts, error and delivery of an event at stage `stage`, made at `ts`, `r` random. */
  const delivery = `CASE ev.stage WHEN 'delivered' THEN 'DELIVERED' WHEN 'failed' THEN 'FAILED' ELSE 'PENDING' END,
         CASE ev.stage WHEN 'delivered' THEN ev.ts WHEN 'failed' THEN ev.ts + interval '5 hours'
                       WHEN 'due' THEN now() - interval '1 hour' * ev.r
                       ELSE now() + interval '1 minute' + interval '1 hour' * ev.r END,
         CASE ev.stage WHEN 'delivered' THEN 1 WHEN 'failed' THEN 10 ELSE 1 + floor(ev.r * 9)::int END,
         CASE WHEN ev.stage <> 'delivered' THEN 'connect ECONNREFUSED 203.0.113.7:443' END, NULL, NULL`
  return [
    {
      label: "clear the bench tables",
      text: `TRUNCATE outbox_events, upload_parts, upload_sessions, files, batches, api_tokens, users`
    },
    { label: "settings for the fill", text: `SET LOCAL work_mem = '256MB'; SET LOCAL jit = off` },
    {
      label: "plan: runs of 10 sessions, each of one user (4 heavy, a long tail)",
      text: `CREATE TEMP TABLE hot_blocks ON COMMIT DROP AS
             SELECT block, CASE WHEN r1 < 0.48 THEN 1 + floor(r2 * ${HEAVY_USERS})::int
                                ELSE ${HEAVY_USERS + 1} + floor(${USERS - HEAVY_USERS} * r2 * r2)::int END AS user_no
               FROM (SELECT block, random() AS r1, random() AS r2 FROM generate_series(0, ${blocks}) AS block) b`
    },
    {
      label: "plan: one row per session",
      text: `CREATE TEMP TABLE hot_plan ON COMMIT DROP AS
        WITH r AS (
          SELECT g, (g - 1) / 10 AS block, random() AS r_kind, random() AS r_open, random() AS r_parts,
                 random() AS r_size, random() AS r_recv, random() AS r_chunk, random() AS r_time, random() AS r_misc
            FROM generate_series(1, ${n}) AS g
        ), kinds AS (
          SELECT r.*, CASE WHEN g = ${n} THEN 1 ELSE b.user_no END AS user_no,
                 CASE WHEN g = ${n} THEN 'special' WHEN g > ${older} THEN 'recent'
                      WHEN r_kind < 0.05 THEN 'abandoned' WHEN r_kind < 0.08 THEN 'failed'
                      WHEN r_kind < 0.10 THEN 'aborted' ELSE 'complete' END AS kind,
                 (CASE WHEN g = ${n} OR r_chunk < 0.85 THEN ${8 * MiB} WHEN r_chunk < 0.95 THEN ${16 * MiB}
                       ELSE ${5 * MiB} END)::bigint AS chunk
            FROM r JOIN hot_blocks b USING (block)
        ), sized AS (
          -- parts: geometric (mean 1.8), 0.1% with hundreds (up to 5 GiB), the special one 10,500
          SELECT kinds.*,
                 CASE WHEN kind = 'special' THEN 10500
                      WHEN r_parts < 0.001 THEN 100 + floor(r_parts * 1000 * (${5 * GiB} / chunk - 100))::int
                      ELSE 1 + floor(ln(1 - r_parts) / ln(0.45))::int END AS parts
            FROM kinds
        ), counted AS (
          SELECT sized.*,
                 CASE WHEN kind = 'special' THEN parts * chunk
                      ELSE (parts - 1) * chunk + 1 + floor(r_size * (chunk - 1))::bigint END AS total_size,
                 CASE kind WHEN 'special' THEN 10000
                           WHEN 'complete' THEN parts
                           WHEN 'recent' THEN CASE WHEN r_open < 0.3 THEN 0 ELSE 1 + floor(r_recv * parts)::int END
                           WHEN 'abandoned' THEN CASE WHEN r_open < 0.4 THEN 0 ELSE 1 + floor(r_recv * parts)::int END
                           WHEN 'failed' THEN CASE WHEN r_open < 0.5 THEN parts ELSE floor(r_recv * parts)::int END
                           ELSE floor(r_recv * parts)::int END AS received,
                 CASE WHEN kind = 'special' THEN now() - interval '30 minutes'
                      WHEN kind = 'recent' THEN now() - interval '50 minutes' * ((${n} - g)::float8 / ${recent})
                      ELSE now() - interval '1 hour' - interval '90 days' * (1 - g::float8 / ${older}) END AS created_at
            FROM sized
        )
        SELECT g, block, user_no, kind, chunk, parts, total_size, received,
               least(received * chunk, total_size) AS received_bytes,
               CASE kind WHEN 'complete' THEN 'COMPLETE' WHEN 'failed' THEN 'FAILED' WHEN 'aborted' THEN 'ABORTED'
                         ELSE CASE WHEN received = 0 THEN 'INIT' ELSE 'IN_PROGRESS' END END AS status,
               CASE kind WHEN 'complete' THEN 'STORED' WHEN 'failed' THEN 'FAILED' WHEN 'aborted' THEN 'FAILED'
                         ELSE 'UPLOADING' END AS file_status,
               CASE WHEN kind = 'failed' THEN CASE WHEN r_open < 0.5 THEN 'checksum_mismatch' ELSE 'expired' END
                    WHEN kind = 'aborted' THEN 'aborted by client' END AS failure_reason,
               created_at,
               CASE WHEN kind = 'special' THEN now()
                    WHEN kind IN ('recent', 'abandoned') THEN created_at
                    ELSE created_at + interval '2 seconds' * (1 + received) END AS updated_at,
               CASE WHEN kind = 'special' THEN now() + interval '59 minutes'
                    WHEN kind = 'abandoned' THEN created_at + interval '1 hour' * r_time
                    ELSE created_at + interval '1 hour' END AS expires_at,
               r_time, r_misc,
               CASE WHEN block % 2 = 0 AND kind <> 'special' THEN block END AS batch_block,
               ${uuid7("created_at")} AS sid, ${uuid7("created_at")} AS fid
          FROM counted`
    },
    {
      label: "users (stored_bytes = their STORED files)",
      text: `CREATE TEMP TABLE hot_users ON COMMIT DROP AS
             SELECT no, ts AS created_at, ${uuid7("ts")} AS id
               FROM (SELECT no, now() - interval '120 days' + no * interval '1 minute' AS ts
                       FROM generate_series(1, ${USERS}) AS no) u;
             INSERT INTO users (id, name, is_admin, quota_bytes, created_at, stored_bytes)
             SELECT u.id, 'hot-' || lpad(u.no::text, 4, '0'), false,
                    greatest(${10 * GiB}, ceil(coalesce(s.stored + s.open, 0) * 1.25 / ${GiB}) * ${GiB})::bigint,
                    u.created_at, coalesce(s.stored, 0)
               FROM hot_users u
               LEFT JOIN (SELECT user_no, coalesce(sum(total_size) FILTER (WHERE file_status = 'STORED'), 0) AS stored,
                                 coalesce(sum(total_size) FILTER (WHERE status IN ('INIT', 'IN_PROGRESS')), 0) AS open
                            FROM hot_plan GROUP BY user_no) s ON s.user_no = u.no
              ORDER BY u.no`
    },
    {
      label: `api tokens (${TOKENS}, every tenth revoked)`,
      text: `INSERT INTO api_tokens (id, user_id, name, secret_sha256, created_at, revoked_at)
             SELECT ${uuid7("t.ts")}, t.user_id, 'token-' || t.t, sha256(convert_to('hot-token-' || t.t, 'UTF8')), t.ts,
                    CASE WHEN t.t % 10 = 0 THEN now() - interval '1 day' END
               FROM (SELECT t, u.id AS user_id, u.created_at + t * interval '1 second' AS ts
                       FROM generate_series(1, ${TOKENS}) AS t JOIN hot_users u ON u.no = (t - 1) % ${USERS} + 1) t
              ORDER BY t.t`
    },
    {
      label: "batches (every other run of 10; COMPLETED when each file has an outcome)",
      text: `CREATE TEMP TABLE hot_batches ON COMMIT DROP AS
             SELECT b.*, ${uuid7("b.created_at")} AS id
               FROM (SELECT batch_block AS block, min(user_no) AS user_no, count(*)::int AS files,
                            count(*) FILTER (WHERE file_status = 'STORED')::int AS stored,
                            count(*) FILTER (WHERE file_status = 'FAILED')::int AS failed,
                            min(created_at) - interval '1 second' AS created_at, max(updated_at) AS updated_at,
                            max(g) AS last_g, max(r_time) AS r
                       FROM hot_plan WHERE batch_block IS NOT NULL GROUP BY batch_block) b;
             INSERT INTO batches (id, status, name, metadata, total_files, file_count, stored_count, failed_count,
                                  created_by, created_at, updated_at, completed_at)
             SELECT b.id, CASE WHEN b.stored + b.failed = b.files THEN 'COMPLETED' ELSE 'OPEN' END, 'batch-' || b.block,
                    '{}', b.files, b.files, b.stored, b.failed, u.id, b.created_at, b.updated_at,
                    CASE WHEN b.stored + b.failed = b.files THEN b.updated_at END
               FROM hot_batches b JOIN hot_users u ON u.no = b.user_no
              ORDER BY b.block`
    },
    {
      label: "files (STORED with digest, size, backend, key, stored_at)",
      text: `INSERT INTO files (id, status, original_filename, content_type, size_bytes, sha256, storage_backend,
                                storage_bucket, storage_key, uploaded_by, batch_id, metadata, created_at, updated_at, stored_at)
             SELECT p.fid, p.file_status,
                    'upload-' || p.g || (ARRAY['.bin', '.jpg', '.mp4', '.zip', '.csv'])[1 + floor(p.r_misc * 5)::int],
                    (ARRAY['application/octet-stream', 'image/jpeg', 'video/mp4', 'application/zip', 'text/csv'])
                      [1 + floor(p.r_misc * 5)::int],
                    CASE WHEN p.file_status = 'STORED' THEN p.total_size END,
                    CASE WHEN p.file_status = 'STORED' THEN md5(p.fid::text) || md5(p.sid::text) END,
                    CASE WHEN p.file_status = 'STORED' THEN 'local' END, NULL,
                    CASE WHEN p.file_status = 'STORED' THEN 'files/' || right(p.fid::text, 2) || '/' || p.fid END,
                    u.id, b.id,
                    CASE WHEN p.r_misc < 0.2 THEN jsonb_build_object('project', 'p' || p.g % 97) ELSE '{}' END,
                    p.created_at, p.updated_at, CASE WHEN p.file_status = 'STORED' THEN p.updated_at END
               FROM hot_plan p JOIN hot_users u ON u.no = p.user_no LEFT JOIN hot_batches b ON b.block = p.batch_block
              ORDER BY p.g`
    },
    {
      label: "upload sessions",
      text: `INSERT INTO upload_sessions (id, file_id, status, total_size_bytes, chunk_size_bytes, total_parts,
                                          received_parts_count, received_bytes, idempotency_key, request_fingerprint,
                                          expected_sha256, failure_reason, expires_at, finalize_lease_until, created_by,
                                          created_at, updated_at, finalize_holder)
             SELECT p.sid, p.fid, p.status, p.total_size, p.chunk, p.parts, p.received, p.received_bytes,
                    CASE WHEN p.kind = 'special' THEN '${SPECIAL_KEY}' WHEN p.g % 2 = 0 THEN 'idem-' || p.g END,
                    CASE WHEN p.kind = 'special' OR p.g % 2 = 0 THEN md5('request-' || p.g) END,
                    CASE WHEN p.r_misc > 0.7 THEN md5(p.fid::text) || md5(p.sid::text) END,
                    p.failure_reason, p.expires_at, NULL, u.id, p.created_at, p.updated_at, NULL
               FROM hot_plan p JOIN hot_users u ON u.no = p.user_no
              ORDER BY p.g`
    },
    {
      label: "parts: 1..received_parts_count of every session, RECEIVED",
      text: `INSERT INTO upload_parts (id, session_id, part_number, status, temp_key, byte_offset, size_bytes, sha256,
                                       claim_token, claim_expires_at, created_at)
             SELECT ${uuid7("q.ts")}, q.sid, q.n, 'RECEIVED', 'parts/' || q.sid || '/data', (q.n - 1) * q.chunk,
                    least(q.chunk, q.total_size - (q.n - 1) * q.chunk), md5(q.sid::text || q.n) || md5(q.n || q.sid::text),
                    NULL, NULL, q.ts
               FROM (SELECT p.g, p.sid, p.chunk, p.total_size, n, p.created_at + n * interval '2 seconds' AS ts
                       FROM hot_plan p CROSS JOIN LATERAL generate_series(1, p.received) AS n
                      WHERE p.kind <> 'special') q
              ORDER BY q.g, q.n`
    },
    {
      label: "parts: the session with 10,000 received parts (6 ranges)",
      text: `INSERT INTO upload_parts (id, session_id, part_number, status, temp_key, byte_offset, size_bytes, sha256,
                                       claim_token, claim_expires_at, created_at)
             SELECT ${uuid7("q.ts")}, q.sid, q.n, 'RECEIVED', 'parts/' || q.sid || '/data', (q.n - 1) * q.chunk, q.chunk,
                    md5(q.sid::text || q.n) || md5(q.n || q.sid::text), NULL, NULL, q.ts
               FROM (SELECT p.sid, p.chunk, n, p.created_at + n * interval '150 milliseconds' AS ts
                       FROM hot_plan p CROSS JOIN generate_series(1, p.parts) AS n
                      WHERE p.kind = 'special' AND NOT (n > 2000 AND n % 2000 BETWEEN 1 AND 100)) q
              ORDER BY q.n`
    },
    {
      label: "outbox: file.stored of every STORED file",
      text: `WITH ev AS (
               SELECT p.g, p.sid, p.fid, p.updated_at + interval '100 milliseconds' AS ts, p.r_time AS r,
                      ${stage("p.g")} AS stage
                 FROM hot_plan p WHERE p.file_status = 'STORED'
             )
             INSERT INTO outbox_events (${outboxColumns})
             SELECT ${uuid7("ev.ts")}, 'file.stored', ${uuid7("ev.ts")}, f.id::text,
                    jsonb_build_object('file', to_jsonb(f), 'session_id', ev.sid), ${delivery},
                    f.id, NULL, f.stored_at, ev.ts, CASE WHEN ev.stage = 'delivered' THEN ev.ts + interval '1 second' END
               FROM ev JOIN files f ON f.id = ev.fid
              ORDER BY ev.g`
    },
    {
      label: "outbox: batch.completed of every COMPLETED batch",
      text: `WITH ev AS (
               SELECT hb.id, hb.updated_at + interval '200 milliseconds' AS ts, hb.r, ${stage("hb.last_g")} AS stage, hb.last_g
                 FROM hot_batches hb WHERE hb.stored + hb.failed = hb.files
             )
             INSERT INTO outbox_events (${outboxColumns})
             SELECT ${uuid7("ev.ts")}, 'batch.completed', ${uuid7("ev.ts")}, b.id::text,
                    jsonb_build_object('batch', to_jsonb(b)), ${delivery},
                    NULL, b.id, b.completed_at, ev.ts, CASE WHEN ev.stage = 'delivered' THEN ev.ts + interval '1 second' END
               FROM ev JOIN batches b ON b.id = ev.id
              ORDER BY ev.last_g`
    },
    {
      label: "outbox: 3 events SENDING by a relay that died (lease lapsed)",
      text: `UPDATE outbox_events SET status = 'SENDING', lease_expires_at = now() - interval '5 minutes',
                    leased_by = 'relay-that-died'
              WHERE id IN (SELECT id FROM outbox_events WHERE status = 'PENDING' AND next_attempt_at <= now()
                            ORDER BY next_attempt_at LIMIT 3)`
    }
  ]
}

// ---------------------------------------------------------------- database
/** Creates the database of `url` if it is missing (through the maintenance database, with `pg`). */
const ensureDatabase = (url: string) =>
  Effect.tryPromise(async () => {
    const name = decodeURIComponent(new URL(url).pathname.slice(1))
    const maintenance = new URL(url)
    maintenance.pathname = "/postgres"
    const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 10_000 })
    await client.connect()
    try {
      const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])
      if (found.rowCount !== 0) return false
      await client.query(`CREATE DATABASE "${name.replaceAll("\"", "\"\"")}"`)
      return true
    } finally {
      await client.end()
    }
  }).pipe(
    Effect.flatMap((created) => created ? Console.error(`created database ${new URL(url).pathname.slice(1)}`) : Effect.void),
    Effect.mapError((cause) => new Error(`cannot reach or create the database of ${url}: ${String(cause)}`))
  )

const seconds = (d: Duration.Duration) => (Duration.toMillis(d) / 1000).toFixed(1)
const clock = () => new Date().toISOString().slice(11, 19)

/** Whether the database already holds a fill of `n` sessions. */
const filled = (n: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ sessions: number; special_parts: number; users: number; foreign_users: number }>`
      SELECT (SELECT count(*)::int FROM upload_sessions) AS sessions,
             (SELECT count(*)::int FROM upload_parts p JOIN upload_sessions s ON s.id = p.session_id
               WHERE s.idempotency_key = ${SPECIAL_KEY}) AS special_parts,
             (SELECT count(*)::int FROM users) AS users,
             (SELECT count(*)::int FROM users WHERE name NOT LIKE 'hot-%') AS foreign_users`
    const row = rows[0]
    if (row === undefined) return yield* Effect.dieMessage("no row from a count")
    if (row.foreign_users > 0) {
      return yield* Effect.fail(
        new Error(`${URL_TEXT} has ${row.foreign_users} users not made by this bench: not touching it; use another --url`)
      )
    }
    return row.sessions === n && row.special_parts === 10_000 && row.users === USERS
  })

const fill = (n: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Console.error(`[${clock()}] filling ${n} sessions (one transaction)`)
    const [took] = yield* Effect.timed(
      sql.withTransaction(Effect.forEach(fillSteps(n), ({ label, text }) =>
        Effect.timed(sql.unsafe(text).raw).pipe(
          Effect.tap(([d]) => Console.error(`[${clock()}]   ${seconds(d).padStart(6)} s  ${label}`))
        ), { discard: true }))
    )
    yield* Console.error(`[${clock()}] committed; VACUUM (ANALYZE)`)
    const [vacuumed] = yield* Effect.timed(sql.unsafe("VACUUM (ANALYZE)").raw)
    return { fill: took, vacuum: vacuumed }
  })

/** What the data set turned out to be, in one line. */
const describeData = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<Record<string, number>>`
    SELECT (SELECT count(*)::int FROM users) AS users,
           (SELECT count(*)::int FROM api_tokens) AS tokens,
           (SELECT count(*)::int FROM upload_sessions) AS sessions,
           (SELECT count(*)::int FROM upload_sessions WHERE status IN ('INIT', 'IN_PROGRESS')
               AND expires_at <= (SELECT updated_at FROM upload_sessions WHERE idempotency_key = ${SPECIAL_KEY})) AS expired_open,
           (SELECT count(*)::int FROM upload_sessions WHERE status IN ('INIT', 'IN_PROGRESS')) AS open,
           (SELECT count(*)::int FROM files WHERE status = 'STORED') AS stored_files,
           (SELECT count(*)::int FROM upload_parts) AS parts,
           (SELECT count(*)::int FROM batches) AS batches,
           (SELECT count(*)::int FROM outbox_events) AS events,
           (SELECT count(*)::int FROM outbox_events WHERE status = 'PENDING'
               AND next_attempt_at <= (SELECT updated_at FROM upload_sessions WHERE idempotency_key = ${SPECIAL_KEY})) AS due,
           (SELECT count(*)::int FROM outbox_events WHERE status = 'FAILED') AS failed_events,
           (SELECT count(*)::int FROM upload_sessions s JOIN users u ON u.id = s.created_by WHERE u.name = 'hot-0001') AS heavy_sessions,
           (SELECT count(*)::int FROM upload_sessions s JOIN users u ON u.id = s.created_by
             WHERE u.name = 'hot-0001' AND s.status IN ('INIT', 'IN_PROGRESS')) AS heavy_open,
           (SELECT count(*)::int FROM upload_sessions s JOIN users u ON u.id = s.created_by WHERE u.name = ${LIGHT_USER}) AS light_sessions,
           (SELECT max(n)::int FROM (SELECT count(*) AS n FROM upload_sessions GROUP BY created_by) c) AS max_user_sessions`
  return Object.entries(rows[0] ?? {}).map(([key, value]) => `${key} ${value}`).join(", ")
})

const Fixtures = Schema.Struct({ special: SessionId, heavy: UserId, light: UserId, t0: Timestamp })

const fixtures = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const find = SqlSchema.findOne({
    Request: Schema.Void,
    Result: Fixtures,
    execute: () =>
      sql`SELECT s.id AS special, s.created_by AS heavy, s.updated_at AS t0,
                 (SELECT id FROM users WHERE name = ${LIGHT_USER}) AS light
            FROM upload_sessions s WHERE s.idempotency_key = ${SPECIAL_KEY}`
  })
  return yield* find(undefined).pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("the 10,000-part session is missing"), onSome: Effect.succeed }))
  )
})

// ---------------------------------------------------------------- measuring
/** A statement as a repository sent it. */
type Compiled = readonly [text: string, params: ReadonlyArray<unknown>]

/** Runs `effect` and records the statements it executes (compiled, with their parameters). */
const recording = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<ReadonlyArray<Compiled>>([])
    const value = yield* Statement.withTransformer(
      effect,
      (statement) => Effect.as(Ref.update(seen, (all) => [...all, statement.compile()]), statement)
    )
    return { value, statements: yield* Ref.get(seen) }
  })

class Rollback extends Data.TaggedError("Rollback") {}

/** Runs `effect` in a transaction that is rolled back, and answers what it answered. */
const rolledBack = <A, R>(effect: Effect.Effect<A, never, R>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const result = yield* Ref.make(Option.none<A>())
    yield* sql.withTransaction(
      Effect.flatMap(effect, (value) => Effect.zipRight(Ref.set(result, Option.some(value)), Effect.fail(new Rollback())))
    ).pipe(Effect.catchTag("Rollback", () => Effect.void), Effect.orDie)
    return yield* Effect.flatMap(
      Ref.get(result),
      Option.match({ onNone: () => Effect.dieMessage("rolled back without a result"), onSome: Effect.succeed })
    )
  })

interface PlanNode {
  readonly "Node Type": string
  readonly "Relation Name"?: string
  readonly "Index Name"?: string
  readonly "Rows Removed by Filter"?: number
  readonly "Heap Fetches"?: number
  readonly "Shared Hit Blocks": number
  readonly "Shared Read Blocks": number
  readonly Plans?: ReadonlyArray<PlanNode>
}
const PlanNode: Schema.Schema<PlanNode> = Schema.Struct({
  "Node Type": Schema.String,
  "Relation Name": Schema.optionalWith(Schema.String, { exact: true }),
  "Index Name": Schema.optionalWith(Schema.String, { exact: true }),
  "Rows Removed by Filter": Schema.optionalWith(Schema.Number, { exact: true }),
  "Heap Fetches": Schema.optionalWith(Schema.Number, { exact: true }),
  "Shared Hit Blocks": Schema.Number,
  "Shared Read Blocks": Schema.Number,
  Plans: Schema.optionalWith(Schema.Array(Schema.suspend((): Schema.Schema<PlanNode> => PlanNode)), { exact: true })
})
const Explained = Schema.Tuple(Schema.Struct({ Plan: PlanNode, "Execution Time": Schema.Number }))
/** The row of EXPLAIN (FORMAT JSON): json, which node-postgres parses (or text, should it not). */
const ExplainRow = Schema.Struct({ "QUERY PLAN": Schema.Union(Explained, Schema.parseJson(Explained)) })

const nodesOf = (node: PlanNode): ReadonlyArray<PlanNode> => [node, ...(node.Plans ?? []).flatMap(nodesOf)]

/** "top node; index: …; seq: …; removed by filter, heap fetches; buffers". */
const summarize = (plan: PlanNode): string => {
  const nodes = nodesOf(plan)
  const top = `${plan["Node Type"]}${plan["Relation Name"] === undefined ? "" : ` on ${plan["Relation Name"]}`}`
  const indexes = [...new Set(nodes.flatMap((n) => n["Index Name"] === undefined ? [] : [`${n["Node Type"]} ${n["Index Name"]}`]))]
  const seqs = [...new Set(nodes.flatMap((n) => n["Node Type"] === "Seq Scan" ? [`Seq Scan ${n["Relation Name"] ?? "?"}`] : []))]
  const removed = nodes.reduce((sum, n) => sum + (n["Rows Removed by Filter"] ?? 0), 0)
  const fetches = nodes.reduce((sum, n) => sum + (n["Heap Fetches"] ?? 0), 0)
  return [
    top,
    indexes.length > 0 ? `index: ${indexes.join(", ")}` : "NO INDEX",
    ...(seqs.length > 0 ? [seqs.join(", ")] : []),
    ...(removed > 0 ? [`${removed} rows removed by filter`] : []),
    ...(fetches > 0 ? [`${fetches} heap fetches`] : []),
    `buffers ${plan["Shared Hit Blocks"]} hit / ${plan["Shared Read Blocks"]} read`
  ].join("; ")
}

/** Times EXPLAIN ANALYZE runs a statement, to take the median execution time from (one run is noisy). */
const EXPLAIN_RUNS = 3

/**
 * EXPLAIN (ANALYZE, BUFFERS) of a recorded statement, each in a rolled-back transaction: the
 * summary of the run with the median execution time, that time, and (with --plans) the text.
 */
const explain = ([text, params]: Compiled) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const once = rolledBack(Effect.orDie(sql.unsafe(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, params))).pipe(
      Effect.flatMap((rows) => Effect.orDie(Schema.decodeUnknown(ExplainRow)(rows[0]))),
      Effect.map((row) => row["QUERY PLAN"][0])
    )
    const runs = (yield* Effect.replicateEffect(once, EXPLAIN_RUNS))
      .sort((a, b) => a["Execution Time"] - b["Execution Time"])
    const middle = runs[Math.floor(runs.length / 2)]
    if (middle === undefined) return yield* Effect.dieMessage("no EXPLAIN run")
    const lines = opt.plans
      ? yield* rolledBack(Effect.orDie(sql.unsafe<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, params)))
      : []
    return {
      summary: summarize(middle.Plan),
      serverMs: middle["Execution Time"],
      text: lines.map((row) => row["QUERY PLAN"]).join("\n")
    }
  })

interface Case<R> {
  readonly name: string
  /** The repository calls; answers the number of rows they gave. */
  readonly op: Effect.Effect<number, never, R>
  /** Runs in a transaction that is rolled back (it locks or changes rows). */
  readonly rollback: boolean
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN

const measure = <R>(c: Case<R>) =>
  Effect.gen(function*() {
    const once = c.rollback ? rolledBack(Effect.timed(c.op)) : Effect.timed(c.op)
    if (WARMUP > 0) yield* Effect.replicateEffect(once, WARMUP, { discard: true })
    const samples = yield* Effect.replicateEffect(once, RUNS)
    const ms = samples.map(([d]) => Duration.toMillis(d)).sort((a, b) => a - b)
    const rows = samples[samples.length - 1]?.[1] ?? 0
    const recorded = c.rollback ? yield* rolledBack(recording(c.op)) : yield* recording(c.op)
    const plans = yield* Effect.forEach(recorded.statements, explain)
    const result = {
      name: c.name,
      rows,
      min: ms[0] ?? NaN,
      median: percentile(ms, 0.5),
      p95: percentile(ms, 0.95),
      max: ms[ms.length - 1] ?? NaN,
      server: plans.reduce((sum, p) => sum + p.serverMs, 0),
      plan: plans.map((p) => p.summary).join(" ‖ "),
      plans: plans.map((p) => p.text)
    }
    yield* Console.error(
      `[${clock()}] ${c.name}: median ${result.median.toFixed(2)} ms, p95 ${result.p95.toFixed(2)} ms (${rows} rows)`
    )
    return result
  })

// ---------------------------------------------------------------- main
const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const applied = yield* migrate
  if (applied.length > 0) yield* Console.error(`applied migrations: ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)

  const present = yield* filled(SESSIONS)
  let fillLine = "reused an earlier fill"
  if (opt.reuse && present) {
    yield* Console.error(`[${clock()}] --reuse: the database already has the ${SESSIONS} sessions; no fill`)
  } else {
    if (opt.reuse) yield* Console.error(`[${clock()}] --reuse: no fill of ${SESSIONS} sessions there yet`)
    const took = yield* fill(SESSIONS)
    fillLine = `fill ${seconds(took.fill)} s + VACUUM (ANALYZE) ${seconds(took.vacuum)} s`
    yield* Console.error(`[${clock()}] ${fillLine}`)
  }
  const data = yield* describeData
  yield* Console.error(`data: ${data}`)

  const { heavy, light, special, t0: now } = yield* fixtures
  const quota = yield* QuotaRepo
  const sessions = yield* SessionsRepo
  const parts = yield* PartsRepo
  const outbox = yield* OutboxRepo
  const users = yield* UsersRepo
  const tokenDigest = createHash("sha256").update(`hot-token-${BENCH_TOKEN}`).digest()
  const found = (option: Option.Option<unknown>) => (Option.isSome(option) ? 1 : 0)
  const active = { ownerId: heavy, statuses: OPEN_STATUSES, unexpiredAt: now, beforeId: null, limit: 51 }

  const cases = [
    { name: "quota usage, heavy user", rollback: false, op: Effect.map(quota.usage({ userId: heavy, now }), found) },
    { name: "quota usage, light user", rollback: false, op: Effect.map(quota.usage({ userId: light, now }), found) },
    {
      name: "quota lock + usage (one tx), heavy user",
      rollback: true,
      op: Effect.map(Effect.zipRight(quota.lock(heavy), quota.usage({ userId: heavy, now })), found)
    },
    { name: "sessions ?status=active, heavy user", rollback: false, op: Effect.map(sessions.list(active), (r) => r.length) },
    {
      name: "sessions newest first, heavy user",
      rollback: false,
      op: Effect.map(sessions.list({ ...active, statuses: null, unexpiredAt: null }), (r) => r.length)
    },
    {
      name: "relay claimDue limit 10 (rolled back)",
      rollback: true,
      op: Effect.map(
        outbox.claimDue({ relay: "hot-bench", now, limit: 10, lease: Duration.seconds(60) }),
        (r) => r.length
      )
    },
    {
      name: "sweeper lockExpired limit 100 (rolled back)",
      rollback: true,
      op: Effect.map(sessions.lockExpired({ now, limit: 100 }), (r) => r.length)
    },
    { name: "receivedRanges, 10,000 parts", rollback: false, op: Effect.map(sessions.receivedRanges(special), (r) => r.length) },
    { name: "receivedInOrder, 10,000 parts", rollback: false, op: Effect.map(parts.receivedInOrder(special), (r) => r.length) },
    { name: "token lookup (findTokenOwner)", rollback: false, op: Effect.map(users.findTokenOwner(tokenDigest), found) },
    {
      name: "outbox list FAILED limit 51",
      rollback: false,
      op: Effect.map(outbox.list({ status: "FAILED", beforeId: null, limit: 51 }), (r) => r.length)
    }
  ] satisfies ReadonlyArray<Case<unknown>>

  yield* Console.error(`[${clock()}] ${RUNS} runs after ${WARMUP} warm-up(s), at the fill's clock ${DateTime.formatIso(now)}`)
  const results = yield* Effect.forEach(cases, measure)

  const serverVersion = yield* sql<{ server_version: string }>`SHOW server_version`
  for (const r of results) {
    const { plans: _plans, ...line } = r
    yield* Console.log(JSON.stringify({ tool: "portal-hot-queries", ...line, sessions: SESSIONS, runs: RUNS }))
  }
  if (opt.plans) {
    for (const r of results) {
      yield* Console.log(`\n### ${r.name}\n\n${r.plans.map((text) => "```\n" + text + "\n```").join("\n")}`)
    }
  }
  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–")
  const over = results.filter((r) => r.median >= 10 || r.p95 >= 10)
  yield* Console.log(
    `\nportal hot queries: ${SESSIONS} sessions, ${RUNS} runs after ${WARMUP} warm-up(s), ${fillLine}, ` +
      `PostgreSQL ${serverVersion[0]?.server_version ?? "?"}, bun ${Bun.version}, ${new Date().toISOString()}\n` +
      `data: ${data}\n`
  )
  yield* Console.log("| query | rows | min ms | median ms | p95 ms | max ms | server ms | plan |")
  yield* Console.log("|---|---|---|---|---|---|---|---|")
  for (const r of results) {
    yield* Console.log(
      `| ${r.name} | ${r.rows} | ${ms(r.min)} | **${ms(r.median)}** | ${ms(r.p95)} | ${ms(r.max)} | ${ms(r.server)} | ${r.plan} |`
    )
  }
  yield* Console.log(
    over.length === 0
      ? "\nevery hot query is in single-digit milliseconds (median and p95)"
      : `\nNOT in single-digit milliseconds: ${over.map((r) => r.name).join("; ")}`
  )
})

const Repos = Layer.mergeAll(
  QuotaRepo.Default,
  SessionsRepo.Default,
  PartsRepo.Default,
  OutboxRepo.Default,
  UsersRepo.Default
)

const main = Effect.zipRight(
  ensureDatabase(URL_TEXT),
  program.pipe(
    Effect.provide(Repos.pipe(
      Layer.provideMerge(postgresLayer(Redacted.make(URL_TEXT), 4)),
      Layer.provideMerge(BunContext.layer)
    ))
  )
)

BunRuntime.runMain(main, { disablePrettyLogger: true })
