/**
 * The real S3 server of the tests: Ceph RGW, started (and installed when missing) by
 * test/s3/start-rgw.sh, which reuses an instance that is already up. Each test app gets a key
 * prefix of its own in the shared bucket, so tests never see each other's objects.
 */
import { join } from "node:path"

export interface RgwEnv {
  /** The gateway that takes parts of any size (RGW_MIN_PART_SIZE=1), for quick tests. */
  readonly endpoint: string
  /** A gateway on the same data keeping S3's real 5 MiB minimum part size. */
  readonly strictEndpoint: string
  readonly region: string
  readonly bucket: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

const root = join(import.meta.dir, "..", "..")
let started: Promise<RgwEnv> | undefined

const start = async (): Promise<RgwEnv> => {
  const child = Bun.spawn(["bash", join(root, "test", "s3", "start-rgw.sh")], { stdout: "pipe", stderr: "inherit" })
  const exports = await new Response(child.stdout).text()
  if ((await child.exited) !== 0) throw new Error("test/s3/start-rgw.sh could not start RGW (see its output above)")
  const values = new Map(
    exports.split("\n").flatMap((line) => {
      const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim())
      return match?.[1] === undefined || match[2] === undefined ? [] : [[match[1], match[2]] as const]
    })
  )
  const value = (name: string) => {
    const found = values.get(name)
    if (found === undefined) throw new Error(`start-rgw.sh printed no ${name}`)
    return found
  }
  return {
    endpoint: value("S3_ENDPOINT"),
    strictEndpoint: value("S3_STRICT_ENDPOINT"),
    region: value("S3_REGION"),
    bucket: value("S3_BUCKET"),
    accessKeyId: value("S3_ACCESS_KEY_ID"),
    secretAccessKey: value("S3_SECRET_ACCESS_KEY")
  }
}

export const rgw = (): Promise<RgwEnv> => (started ??= start())

/** The service's settings for the S3 backend on RGW, under a fresh prefix. */
export const s3Settings = async (options: { readonly strict?: boolean; readonly prefix?: string } = {}) => {
  const env = await rgw()
  return {
    STORAGE_BACKEND: "s3",
    S3_ENDPOINT: options.strict === true ? env.strictEndpoint : env.endpoint,
    S3_REGION: env.region,
    S3_BUCKET: env.bucket,
    S3_ACCESS_KEY_ID: env.accessKeyId,
    S3_SECRET_ACCESS_KEY: env.secretAccessKey,
    S3_PREFIX: options.prefix ?? `test-${Bun.randomUUIDv7()}/`,
    S3_MIN_PART_SIZE: options.strict === true ? String(5 * 1024 * 1024) : "1"
  }
}
