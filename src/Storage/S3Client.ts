/**
 * The S3 calls the storage needs, signed with SigV4 by aws4fetch over Bun's fetch (Bun's own
 * S3Client has no numbered multipart parts). Each call answers its result or an S3Failure
 * with S3's error code; XML answers are small and read with a few patterns.
 */
import { AwsClient } from "aws4fetch"
import { Data, Effect, Option, Redacted } from "effect"
import type { S3Settings } from "../Config"

/** S3 said no (`code` is S3's error code, e.g. NoSuchUpload), or could not be reached (`status` 0). */
export class S3Failure extends Data.TaggedError("S3Failure")<{
  readonly operation: string
  readonly status: number
  readonly code: string
  readonly detail: string
}> {
  override get message() {
    return `S3 ${this.operation}: ${this.status === 0 ? "unreachable" : `${this.status} ${this.code}`} ${this.detail}`.trim()
  }
}

const unescape = (text: string) =>
  text.replaceAll("&quot;", "\"").replaceAll("&apos;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&")

const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll("\"", "&quot;")

/** The text of the first `<tag>` in `xml`. */
const tag = (xml: string, name: string): Option.Option<string> =>
  Option.map(Option.fromNullable(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1]), unescape)

/** Every `<tag>…</tag>` block of `xml`. */
const blocks = (xml: string, name: string): Array<string> =>
  [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g"))].map((match) => match[1] ?? "")

/** Path segments encoded as SigV4 and S3 want them; `/` stays a separator. */
const encodeKey = (key: string) => key.split("/").map((segment) => encodeURIComponent(segment)).join("/")

export interface UploadedPart {
  readonly partNumber: number
  readonly etag: string
}

export interface ListedUpload {
  readonly key: string
  readonly uploadId: string
  readonly initiated: Date
}

export interface ListedObject {
  readonly key: string
  readonly lastModified: Date
}

export const makeS3Client = (
  settings: Omit<S3Settings, "bucket" | "accessKeyId"> & { readonly bucket: string; readonly accessKeyId: string }
) => {
  const secret = Option.getOrElse(Option.map(settings.secretAccessKey, Redacted.value), () => "")
  const aws = new AwsClient({
    accessKeyId: settings.accessKeyId,
    secretAccessKey: secret,
    region: settings.region,
    service: "s3",
    // retrying is ours to decide: a part's body is a stream and cannot be sent twice
    retries: 0
  })
  const endpoint = new URL(Option.getOrElse(settings.endpoint, () => `https://s3.${settings.region}.amazonaws.com`))
  const bucketUrl = settings.virtualHostedStyle
    ? `${endpoint.protocol}//${settings.bucket}.${endpoint.host}${endpoint.pathname.replace(/\/$/, "")}`
    : `${endpoint.origin}${endpoint.pathname.replace(/\/$/, "")}/${encodeURIComponent(settings.bucket)}`
  const objectUrl = (key: string) => `${bucketUrl}/${encodeKey(key)}`

  /** Sends one signed request; a 3xx/4xx/5xx answer becomes an S3Failure with S3's error code. */
  const send = (
    operation: string,
    url: string,
    init: { readonly method: string; readonly headers?: Record<string, string>; readonly body?: RequestInit["body"] },
    accept: ReadonlyArray<number> = []
  ) =>
    Effect.tryPromise({
      try: async (signal) => {
        const request = await aws.sign(url, { ...init, signal })
        return fetch(request)
      },
      catch: (cause) => new S3Failure({ operation, status: 0, code: "Unreachable", detail: String(cause) })
    }).pipe(
      Effect.flatMap((response) =>
        response.ok || accept.includes(response.status)
          ? Effect.succeed(response)
          : Effect.flatMap(Effect.promise(() => response.text().catch(() => "")), (text) =>
            Effect.fail(
              new S3Failure({
                operation,
                status: response.status,
                code: Option.getOrElse(tag(text, "Code"), () => `HTTP${response.status}`),
                detail: Option.getOrElse(tag(text, "Message"), () => "")
              })
            ))
      )
    )

  const text = (response: Response) => Effect.promise(() => response.text())

  /**
   * Every item of a paged listing: `url` for the first page, then `url` with what `next` makes
   * of each page (its continuation markers) while the answer says it is truncated.
   */
  const listAll = <A>(
    operation: string,
    url: string,
    item: string,
    parse: (xml: string) => A,
    next: (xml: string) => Option.Option<string>
  ) =>
    Effect.gen(function*() {
      const found: Array<A> = []
      let markers = ""
      while (true) {
        const xml = yield* retrying(send(operation, `${url}${markers}`, { method: "GET" })).pipe(Effect.flatMap(text))
        for (const block of blocks(xml, item)) found.push(parse(block))
        const following = next(xml)
        if (Option.getOrNull(tag(xml, "IsTruncated")) !== "true" || Option.isNone(following)) return found
        markers = following.value
      }
    })

  /** Calls that change nothing, or are safe to repeat, get a few tries against a flaky store. */
  const retrying = <A>(effect: Effect.Effect<A, S3Failure>) =>
    Effect.retry(effect, { times: 2, while: (failure) => failure.status === 0 || failure.status >= 500 })

  return {
    bucketUrl,

    headBucket: retrying(Effect.asVoid(send("HeadBucket", `${bucketUrl}/`, { method: "HEAD" }))),

    createMultipartUpload: (key: string) =>
      retrying(send("CreateMultipartUpload", `${objectUrl(key)}?uploads=`, { method: "POST" })).pipe(
        Effect.flatMap(text),
        Effect.flatMap((xml) =>
          Option.match(tag(xml, "UploadId"), {
            onNone: () => Effect.fail(new S3Failure({ operation: "CreateMultipartUpload", status: 200, code: "NoUploadId", detail: xml.slice(0, 200) })),
            onSome: Effect.succeed
          }))
      ),

    /** Streams `body` (exactly `size` bytes, or it fails) as part `partNumber`; answers its ETag. */
    uploadPart: (key: string, uploadId: string, partNumber: number, size: number, body: ReadableStream<Uint8Array>) =>
      send(
        "UploadPart",
        `${objectUrl(key)}?partNumber=${partNumber}&uploadId=${encodeURIComponent(uploadId)}`,
        { method: "PUT", headers: { "content-length": String(size) }, body }
      ).pipe(
        Effect.flatMap((response) =>
          Effect.zipRight(
            Effect.promise(() => response.arrayBuffer()),
            Option.match(Option.fromNullable(response.headers.get("etag")), {
              onNone: () => Effect.fail(new S3Failure({ operation: "UploadPart", status: response.status, code: "NoETag", detail: "" })),
              onSome: Effect.succeed
            })
          ))
      ),

    /** Streams `body` (exactly `size` bytes, or it fails) as the object `key`. */
    putObject: (key: string, size: number, body: ReadableStream<Uint8Array>) =>
      send("PutObject", objectUrl(key), { method: "PUT", headers: { "content-length": String(size) }, body }).pipe(
        Effect.flatMap((response) => Effect.promise(() => response.arrayBuffer())),
        Effect.asVoid
      ),

    /**
     * Completes the upload with every part, in order. S3 may answer 200 with an error in the
     * body (it documents so): that is a failure too.
     */
    completeMultipartUpload: (key: string, uploadId: string, parts: ReadonlyArray<UploadedPart>) => {
      const body = `<CompleteMultipartUpload>${
        parts.map((part) => `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>${escape(part.etag)}</ETag></Part>`).join("")
      }</CompleteMultipartUpload>`
      return retrying(
        send("CompleteMultipartUpload", `${objectUrl(key)}?uploadId=${encodeURIComponent(uploadId)}`, {
          method: "POST",
          headers: { "content-type": "application/xml" },
          body
        }).pipe(
          Effect.flatMap(text),
          Effect.flatMap((xml) =>
            xml.includes("<Error>")
              ? Effect.fail(new S3Failure({
                operation: "CompleteMultipartUpload",
                status: 200,
                code: Option.getOrElse(tag(xml, "Code"), () => "Error"),
                detail: Option.getOrElse(tag(xml, "Message"), () => "")
              }))
              : Effect.void
          )
        )
      )
    },

    /** The parts S3 holds for an unfinished upload. */
    listParts: (key: string, uploadId: string) =>
      Effect.gen(function*() {
        const found: Array<UploadedPart> = []
        let marker = 0
        while (true) {
          const xml = yield* retrying(send(
            "ListParts",
            `${objectUrl(key)}?part-number-marker=${marker}&uploadId=${encodeURIComponent(uploadId)}`,
            { method: "GET" }
          )).pipe(Effect.flatMap(text))
          for (const part of blocks(xml, "Part")) {
            found.push({
              partNumber: Number(Option.getOrElse(tag(part, "PartNumber"), () => "0")),
              etag: Option.getOrElse(tag(part, "ETag"), () => "")
            })
          }
          if (Option.getOrNull(tag(xml, "IsTruncated")) !== "true") return found
          marker = Number(Option.getOrElse(tag(xml, "NextPartNumberMarker"), () => "0"))
        }
      }),

    /** Gives the upload up; one that is already gone (NoSuchUpload, or RGW's NoSuchKey) is fine. */
    abortMultipartUpload: (key: string, uploadId: string) =>
      retrying(send("AbortMultipartUpload", `${objectUrl(key)}?uploadId=${encodeURIComponent(uploadId)}`, { method: "DELETE" }, [404]))
        .pipe(Effect.asVoid),

    /** Size of an object, None if there is none. */
    headObject: (key: string) =>
      retrying(send("HeadObject", objectUrl(key), { method: "HEAD" }, [404])).pipe(
        Effect.map((response) =>
          response.status === 404 ? Option.none() : Option.some(Number(response.headers.get("content-length") ?? "0"))
        )
      ),

    /** The object's bytes, or a range of them, as a stream. */
    getObject: (key: string, range?: { readonly offset: number; readonly length: number }) =>
      retrying(send("GetObject", objectUrl(key), {
        method: "GET",
        ...(range === undefined ? {} : { headers: { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } })
      })),

    deleteObject: (key: string) =>
      retrying(send("DeleteObject", objectUrl(key), { method: "DELETE" }, [404])).pipe(Effect.asVoid),

    /** Unfinished multipart uploads under `prefix`. */
    listMultipartUploads: (prefix: string) =>
      listAll("ListMultipartUploads", `${bucketUrl}/?uploads=&prefix=${encodeURIComponent(prefix)}`, "Upload", (upload): ListedUpload => ({
        key: Option.getOrElse(tag(upload, "Key"), () => ""),
        uploadId: Option.getOrElse(tag(upload, "UploadId"), () => ""),
        initiated: new Date(Option.getOrElse(tag(upload, "Initiated"), () => ""))
      }), (xml) =>
        Option.some(
          `&key-marker=${encodeURIComponent(Option.getOrElse(tag(xml, "NextKeyMarker"), () => ""))}` +
            `&upload-id-marker=${encodeURIComponent(Option.getOrElse(tag(xml, "NextUploadIdMarker"), () => ""))}`
        )),

    /** Objects under `prefix`. */
    listObjects: (prefix: string) =>
      listAll("ListObjectsV2", `${bucketUrl}/?list-type=2&prefix=${encodeURIComponent(prefix)}`, "Contents", (object): ListedObject => ({
        key: Option.getOrElse(tag(object, "Key"), () => ""),
        lastModified: new Date(Option.getOrElse(tag(object, "LastModified"), () => ""))
      }), (xml) => Option.map(tag(xml, "NextContinuationToken"), (token) => `&continuation-token=${encodeURIComponent(token)}`))
  } as const
}

export type S3Client = ReturnType<typeof makeS3Client>
