/**
 * The Ceph RGW of test/s3 for the benches: started (or reused) with test/s3/start-rgw.sh, its
 * daemons' CPU read from /proc by the PIDs in its pid files, and a minimal S3 client (aws4fetch,
 * path-style URLs) for the raw multipart "ceiling" upload and for deleting what a run left
 * under its prefix.
 */
import { AwsClient } from "aws4fetch"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { cpuSecondsOrNaN, fail, onCleanup, progress, REQUEST_TIMEOUT_MS, ROOT, type Source, withTimeout } from "./harness"

export const RGW_DIR = (process.env["RGW_DIR"] || "/tmp/portal-rgw").replace(/\/+$/, "")

export interface RgwSettings {
  readonly endpoint: string
  readonly region: string
  readonly bucket: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly minPartSize: string
}

/** The S3_* variables the portal reads, with S3_PREFIX. */
export const s3Env = (rgw: RgwSettings, prefix: string): Record<string, string> => ({
  STORAGE_BACKEND: "s3",
  S3_ENDPOINT: rgw.endpoint,
  S3_REGION: rgw.region,
  S3_BUCKET: rgw.bucket,
  S3_ACCESS_KEY_ID: rgw.accessKeyId,
  S3_SECRET_ACCESS_KEY: rgw.secretAccessKey,
  S3_MIN_PART_SIZE: rgw.minPartSize,
  S3_PREFIX: prefix
})

/**
 * Runs start-rgw.sh (which reuses a healthy instance) and parses its `export S3_…=…` lines.
 * When it had to start the daemons, stop-rgw.sh (SIGTERM by their pid files) runs at exit,
 * unless `keep`.
 */
export async function startRgw(keep: boolean): Promise<RgwSettings> {
  const proc = Bun.spawn(["bash", join(ROOT, "test/s3/start-rgw.sh")], {
    cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 600_000
  })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) fail(`test/s3/start-rgw.sh exited ${code}:\n${err.slice(-2000)}`)
  const reused = err.includes("reusing the RGW already running")
  progress(reused ? `reusing the RGW running in ${RGW_DIR}` : `started RGW in ${RGW_DIR}`)
  if (!reused && !keep) {
    onCleanup("stop RGW", async () => {
      progress("stopping the RGW this run started (test/s3/stop-rgw.sh)")
      const stop = Bun.spawn(["bash", join(ROOT, "test/s3/stop-rgw.sh")], { cwd: ROOT, stdin: "ignore", stdout: "inherit", stderr: "inherit", timeout: 120_000 })
      await stop.exited
    })
  }
  const vars = new Map<string, string>()
  for (const line of out.split("\n")) {
    const m = /^export (S3_[A-Z_]+)=(.*)$/.exec(line.trim())
    if (m?.[1] && m[2] !== undefined) vars.set(m[1], m[2])
  }
  const need = (name: string) => vars.get(name) ?? fail(`start-rgw.sh printed no ${name}`)
  return {
    endpoint: need("S3_ENDPOINT").replace(/\/+$/, ""),
    region: need("S3_REGION"),
    bucket: need("S3_BUCKET"),
    accessKeyId: need("S3_ACCESS_KEY_ID"),
    secretAccessKey: need("S3_SECRET_ACCESS_KEY"),
    minPartSize: vars.get("S3_MIN_PART_SIZE") ?? "5242880"
  }
}

// ---------------------------------------------------------------- CPU of the daemons
export interface RgwPids {
  readonly radosgw: ReadonlyArray<number>
  readonly osd: ReadonlyArray<number>
  readonly mon: ReadonlyArray<number>
}

const cmdline = (pid: number): Array<string> => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
  } catch {
    return []
  }
}

/**
 * The daemons of RGW_DIR: from its pid files (client.rgw.*, osd.*, mon.*), kept only when the
 * process still runs with RGW_DIR's ceph.conf; `pgrep -f` on that conf when there are none.
 */
export function rgwPids(): RgwPids {
  const conf = join(RGW_DIR, "ceph.conf")
  const ours = (pid: number) => Number.isInteger(pid) && pid > 0 && cmdline(pid).includes(conf)
  const run = join(RGW_DIR, "run")
  const byName: Array<{ readonly name: string; readonly pid: number }> = existsSync(run)
    ? readdirSync(run).filter((name) => name.endsWith(".pid")).map((name) => ({
      name,
      pid: Number(readFileSync(join(run, name), "utf8").trim())
    }))
    : []
  let found = byName.filter(({ pid }) => ours(pid))
  if (found.length === 0) {
    const pgrep = Bun.spawnSync(["pgrep", "-f", "--", conf], { timeout: 5000 })
    found = pgrep.stdout.toString().split("\n").map(Number).filter(ours).map((pid) => ({
      pid,
      name: cmdline(pid)[0]?.includes("radosgw") ? "client.rgw" : cmdline(pid)[0]?.includes("osd") ? "osd" : "mon"
    }))
  }
  const pick = (test: (name: string) => boolean) => found.filter(({ name }) => test(name)).map(({ pid }) => pid)
  return {
    radosgw: pick((name) => name.startsWith("client.rgw")),
    osd: pick((name) => name.startsWith("osd")),
    mon: pick((name) => name.startsWith("mon"))
  }
}

export interface RgwCpu {
  readonly radosgw: number
  readonly osd: number
  readonly mon: number
}
const sumCpu = (pids: ReadonlyArray<number>) => pids.reduce((sum, pid) => sum + cpuSecondsOrNaN(pid), 0)
/** utime+stime of every radosgw, of the OSD and of the monitor (seconds; NaN if one is gone). */
export const rgwCpu = (pids: RgwPids): RgwCpu => ({ radosgw: sumCpu(pids.radosgw), osd: sumCpu(pids.osd), mon: sumCpu(pids.mon) })
export const rgwCpuSince = (pids: RgwPids, start: RgwCpu): RgwCpu => {
  const now = rgwCpu(pids)
  return { radosgw: now.radosgw - start.radosgw, osd: now.osd - start.osd, mon: now.mon - start.mon }
}

// ---------------------------------------------------------------- S3 calls
const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1]
const blocks = (xml: string, name: string): Array<string> =>
  [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g"))].map((match) => match[1] ?? "")
const unescapeXml = (text: string) =>
  text.replaceAll("&quot;", "\"").replaceAll("&apos;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&")
const escapeXml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll("\"", "&quot;")
const encodeKey = (key: string) => key.split("/").map((segment) => encodeURIComponent(segment)).join("/")

export interface S3 {
  readonly objectUrl: (key: string) => string
  /** One signed request; answers the response, throws on a status that is not 2xx (nor in `accept`). */
  readonly send: (
    method: string, url: string, signal: AbortSignal, headers?: Record<string, string>, body?: string | Blob, accept?: ReadonlyArray<number>
  ) => Promise<Response>
}

export function s3Client(rgw: RgwSettings): S3 {
  const aws = new AwsClient({ accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, region: rgw.region, service: "s3", retries: 0 })
  const bucketUrl = `${rgw.endpoint}/${encodeURIComponent(rgw.bucket)}`
  return {
    objectUrl: (key) => `${bucketUrl}/${encodeKey(key)}`,
    send: async (method, url, signal, headers = {}, body, accept = []) => {
      // signed without the body (UNSIGNED-PAYLOAD), which then goes to fetch as it is: a
      // Bun.file() slice is sent from the file
      const signed = await aws.sign(url, { method, headers })
      const res = await fetch(signed.url, {
        method, headers: signed.headers, ...(body === undefined ? {} : { body }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)])
      })
      if (!res.ok && !accept.includes(res.status)) {
        const text = await res.text().catch(() => "")
        fail(`S3 ${method} ${url} -> ${res.status} ${tag(text, "Code") ?? ""} ${tag(text, "Message") ?? ""}`.trim())
      }
      return res
    }
  }
}

/** Every object under `prefix`, every page of ListObjectsV2. */
async function listKeys(s3: S3, rgw: RgwSettings, prefix: string, signal: AbortSignal): Promise<Array<string>> {
  const keys: Array<string> = []
  let continuation = ""
  for (let page = 0; page < 10_000; page++) {
    const url = `${rgw.endpoint}/${encodeURIComponent(rgw.bucket)}?list-type=2&prefix=${encodeURIComponent(prefix)}${continuation}`
    const xml = await (await s3.send("GET", url, signal)).text()
    for (const object of blocks(xml, "Contents")) {
      const key = tag(object, "Key")
      if (key !== undefined) keys.push(unescapeXml(key))
    }
    const next = tag(xml, "NextContinuationToken")
    if (tag(xml, "IsTruncated") !== "true" || next === undefined) return keys
    continuation = `&continuation-token=${encodeURIComponent(unescapeXml(next))}`
  }
  return keys
}

/** Every unfinished multipart upload under `prefix`. */
async function listUploads(s3: S3, rgw: RgwSettings, prefix: string, signal: AbortSignal): Promise<Array<{ key: string; uploadId: string }>> {
  const uploads: Array<{ key: string; uploadId: string }> = []
  let markers = ""
  for (let page = 0; page < 10_000; page++) {
    const url = `${rgw.endpoint}/${encodeURIComponent(rgw.bucket)}?uploads=&prefix=${encodeURIComponent(prefix)}${markers}`
    const xml = await (await s3.send("GET", url, signal)).text()
    for (const upload of blocks(xml, "Upload")) {
      const key = tag(upload, "Key")
      const uploadId = tag(upload, "UploadId")
      if (key !== undefined && uploadId !== undefined) uploads.push({ key: unescapeXml(key), uploadId: unescapeXml(uploadId) })
    }
    if (tag(xml, "IsTruncated") !== "true") return uploads
    markers = `&key-marker=${encodeURIComponent(unescapeXml(tag(xml, "NextKeyMarker") ?? ""))}` +
      `&upload-id-marker=${encodeURIComponent(unescapeXml(tag(xml, "NextUploadIdMarker") ?? ""))}`
  }
  return uploads
}

/** Deletes every object and aborts every multipart upload under `prefix` (which must not be empty). */
export async function cleanPrefix(s3: S3, rgw: RgwSettings, prefix: string): Promise<{ objects: number; uploads: number }> {
  if (prefix === "" || prefix === "/") fail("refusing to clean an empty S3 prefix")
  const signal = AbortSignal.timeout(120_000)
  const uploads = await listUploads(s3, rgw, prefix, signal)
  for (const upload of uploads) {
    await s3.send("DELETE", `${s3.objectUrl(upload.key)}?uploadId=${encodeURIComponent(upload.uploadId)}`, signal, {}, undefined, [404])
  }
  const keys = await listKeys(s3, rgw, prefix, signal)
  for (const key of keys) await s3.send("DELETE", s3.objectUrl(key), signal, {}, undefined, [404])
  return { objects: keys.length, uploads: uploads.length }
}

/** cleanPrefix now, and registered to run at exit too should this run be stopped before it gets there. */
export function cleanPrefixLater(s3: S3, rgw: RgwSettings, prefix: string): () => Promise<void> {
  let done = false
  const run = async () => {
    if (done) return
    done = true
    unregister()
    const cleaned = await cleanPrefix(s3, rgw, prefix)
    progress(`S3 ${prefix}: deleted ${cleaned.objects} object(s), aborted ${cleaned.uploads} upload(s)`)
  }
  const unregister = onCleanup(`S3 prefix ${prefix}`, run)
  return run
}

// ---------------------------------------------------------------- the raw multipart upload
/** MD5 (hex) of every part of `src` in parts of `chunk`: what S3 answers as the part's ETag. */
export async function partMd5s(src: Source, chunk: number): Promise<Array<string>> {
  const parts = Math.ceil(src.size / chunk)
  const md5s: Array<string> = []
  for (let k = 0; k < parts; k++) {
    const hasher = new Bun.CryptoHasher("md5")
    hasher.update(await Bun.file(src.path).slice(k * chunk, Math.min(src.size, (k + 1) * chunk)).arrayBuffer())
    md5s.push(hasher.digest("hex"))
  }
  return md5s
}

export interface RawTiming {
  readonly seconds: number
  readonly createSeconds: number
  readonly partsSeconds: number
  readonly completeSeconds: number
  readonly parts: number
  /** Each UploadPart's round trip. */
  readonly putMs: ReadonlyArray<number>
}

/**
 * CreateMultipartUpload, UploadPart of every chunk (Bun.file().slice() bodies with an explicit
 * content-length, `parallel` in flight), CompleteMultipartUpload with the ordered ETags. Each
 * part's ETag must be the MD5 of its bytes (`md5s`). On a failure the upload is aborted.
 */
export async function rawMultipartUpload(
  s3: S3, key: string, src: Source, chunk: number, parallel: number, md5s: ReadonlyArray<string>, timeoutMs: number
): Promise<RawTiming> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const url = s3.objectUrl(key)
  const t0 = performance.now()
  const created = await (await s3.send("POST", `${url}?uploads=`, deadline)).text()
  const uploadId = unescapeXml(tag(created, "UploadId") ?? fail(`no UploadId in ${created.slice(0, 300)}`))
  const parts = Math.ceil(src.size / chunk)
  const etags: Array<string> = new Array<string>(parts).fill("")
  const putMs: Array<number> = []
  const tp = performance.now()
  try {
    let next = 0 // `parallel` workers take the next part until none is left
    const worker = async () => {
      for (let k = next++; k < parts; k = next++) {
        const body = Bun.file(src.path).slice(k * chunk, Math.min(src.size, (k + 1) * chunk))
        const t = performance.now()
        const res = await s3.send("PUT", `${url}?partNumber=${k + 1}&uploadId=${encodeURIComponent(uploadId)}`, deadline, {
          "content-length": String(body.size)
        }, body)
        await res.arrayBuffer()
        putMs.push(performance.now() - t)
        const etag = res.headers.get("etag") ?? fail(`UploadPart ${k + 1}: no ETag`)
        if (etag.replaceAll("\"", "") !== md5s[k]) fail(`UploadPart ${k + 1}: ETag ${etag}, the part's MD5 is ${md5s[k]}`)
        etags[k] = etag
      }
    }
    await Promise.all(Array.from({ length: Math.min(parallel, parts) }, worker))
    const tc = performance.now()
    const xml = `<CompleteMultipartUpload>${
      etags.map((etag, k) => `<Part><PartNumber>${k + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`).join("")
    }</CompleteMultipartUpload>`
    const done = await (await s3.send("POST", `${url}?uploadId=${encodeURIComponent(uploadId)}`, deadline, {
      "content-type": "application/xml"
    }, xml)).text()
    const t1 = performance.now()
    if (done.includes("<Error>")) fail(`CompleteMultipartUpload: ${done.slice(0, 300)}`)
    return { seconds: (t1 - t0) / 1000, createSeconds: (tp - t0) / 1000, partsSeconds: (tc - tp) / 1000, completeSeconds: (t1 - tc) / 1000, parts, putMs }
  } catch (error) {
    await withTimeout(
      s3.send("DELETE", `${url}?uploadId=${encodeURIComponent(uploadId)}`, AbortSignal.timeout(30_000), {}, undefined, [404]),
      35_000, "abort"
    ).catch(() => undefined)
    throw error
  }
}

/** Size of the object under `key` (HEAD), to check the raw upload outside timing. */
export async function objectSize(s3: S3, key: string): Promise<number> {
  const res = await s3.send("HEAD", s3.objectUrl(key), AbortSignal.timeout(30_000))
  return Number(res.headers.get("content-length") ?? "NaN")
}
