/**
 * A PATCH body, read from the moment the request arrives (a bounded way ahead of its use) and
 * handed out a part at a time. Every byte handed out is hashed for Upload-Checksum and copied
 * to the segment's spool as it passes, so that when the body breaks off (the client went
 * away, or stalled) what did arrive can still be kept as a fragment. Memory holds at most
 * READ_AHEAD_BYTES of it.
 */
import { Option } from "effect"
import type { ChecksumAlgorithm } from "./Protocol"
import type { Spool } from "./Spool"

const readerOf = (body: ReadableStream<Uint8Array>) => body.getReader()

/** The body stopped arriving for too long; the cursor was cut off. */
export class Stalled extends Error {}

/**
 * How far ahead of its consumer a body is read. Bun drops what it holds of a body that nobody
 * is reading when the connection closes; read ahead, those bytes are ours to keep.
 */
const READ_AHEAD_BYTES = 1024 * 1024

export class BodyCursor {
  private readonly reader: ReturnType<typeof readerOf>
  private readonly hasher: Bun.CryptoHasher | undefined
  private readonly queue: Array<Uint8Array> = []
  private queued = 0
  /** Wakes the reader (room in the queue) or the consumer (bytes, the end, a failure). */
  private wakeReader: (() => void) | undefined = undefined
  private wakeConsumer: (() => void) | undefined = undefined
  /** Bytes handed out so far. */
  consumed = 0
  /** The body's last byte was read. */
  private bodyEnded = false
  /** Why the body could not be read on (the client went away, or it stalled). */
  failure: Option.Option<unknown> = Option.none()
  /** Since when the consumer has been waiting for bytes that have not arrived; None while it is not. */
  private waitingSince: Option.Option<number> = Option.none()
  /** Writing to a spool failed: the local disk's fault, not the client's. */
  spoolFailure: Option.Option<unknown> = Option.none()

  /** Starts reading `body` at once, at most READ_AHEAD_BYTES ahead of what is handed out. */
  constructor(body: ReadableStream<Uint8Array>, algorithm: Option.Option<ChecksumAlgorithm>, private readonly now: () => number) {
    this.reader = readerOf(body)
    this.hasher = Option.match(algorithm, { onNone: () => undefined, onSome: (name) => new Bun.CryptoHasher(name) })
    void this.readAhead()
  }

  private async readAhead() {
    while (Option.isNone(this.failure)) {
      if (this.queued >= READ_AHEAD_BYTES) {
        await new Promise<void>((resolve) => {
          this.wakeReader = resolve
        })
        continue
      }
      try {
        const read = await this.reader.read()
        if (Option.isSome(this.failure)) break
        if (read.done) {
          this.bodyEnded = true
          break
        }
        this.queue.push(read.value)
        this.queued += read.value.byteLength
        if (Option.isSome(this.waitingSince)) this.waitingSince = Option.some(this.now())
      } catch (cause) {
        this.failure = Option.orElse(this.failure, () => Option.some(cause))
      }
      this.wakeConsumer?.()
    }
    this.wakeConsumer?.()
  }

  /** The body ended and every byte of it was handed out. */
  get ended(): boolean {
    return this.bodyEnded && this.queued === 0
  }

  /** How long the consumer has been waiting for the next byte (0 while it is not waiting). */
  quietFor(now: number): number {
    return Option.match(this.waitingSince, { onNone: () => 0, onSome: (since) => now - since })
  }

  /** The next bytes, at most `max` of them; undefined once the body has ended. Throws when it cannot be read. */
  async next(max: number): Promise<Uint8Array | undefined> {
    while (this.queue.length === 0) {
      if (this.bodyEnded) return undefined
      this.throwIfBroken()
      this.waitingSince = Option.some(this.now())
      await new Promise<void>((resolve) => {
        this.wakeConsumer = resolve
      })
      this.waitingSince = Option.none()
    }
    let chunk = this.queue.shift() ?? new Uint8Array()
    if (chunk.byteLength > max) {
      this.queue.unshift(chunk.subarray(max))
      chunk = chunk.subarray(0, max)
    }
    this.queued -= chunk.byteLength
    this.wakeReader?.()
    this.hasher?.update(chunk)
    this.consumed += chunk.byteLength
    return chunk
  }

  private throwIfBroken() {
    const failure = this.failure
    if (Option.isSome(failure)) throw failure.value
  }

  /** Copies `chunk` to `spool`, remembering a failure as the disk's. */
  private keep(spool: Spool, chunk: Uint8Array) {
    try {
      spool.append(chunk)
    } catch (cause) {
      this.spoolFailure = Option.some(cause)
      throw cause
    }
  }

  /** The next `length` bytes (fewer when the body ends first) as a stream, each also kept in `spool`. */
  segment(length: number, spool: Spool): ReadableStream<Uint8Array> {
    let left = length
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = left === 0 ? undefined : await this.next(left)
          if (chunk === undefined) return controller.close()
          this.keep(spool, chunk)
          left -= chunk.byteLength
          controller.enqueue(chunk)
        } catch (cause) {
          controller.error(cause)
        }
      }
    }, { highWaterMark: 0 })
  }

  /** Reads up to `length` bytes into `spool`; answers how many arrived before the body ended or broke off. */
  async fill(length: number, spool: Spool): Promise<number> {
    let filled = 0
    try {
      while (filled < length) {
        const chunk = await this.next(length - filled)
        if (chunk === undefined) break
        this.keep(spool, chunk)
        filled += chunk.byteLength
      }
    } catch (cause) {
      if (Option.isSome(this.spoolFailure)) throw cause
    }
    return filled
  }

  /** Whether any byte follows: reads one at most, and counts it. */
  async hasMore(): Promise<boolean> {
    return (await this.next(1).catch(() => undefined)) !== undefined
  }

  /** Cuts the body off: a read waiting for bytes ends with Stalled. */
  stall() {
    this.stop(new Stalled("no byte of the body arrived for too long"))
  }

  /** Reads no more of a body that has not ended: the rest is left unread (and what is queued, dropped). */
  cutOff() {
    if (this.ended || Option.isSome(this.failure)) return
    this.queue.length = 0
    this.queued = 0
    this.stop(new Error("the rest of the body was left unread"))
  }

  private stop(failure: unknown) {
    this.failure = Option.orElse(this.failure, () => Option.some(failure))
    void this.reader.cancel().catch(() => undefined)
    this.wakeReader?.()
    this.wakeConsumer?.()
  }

  get stalled(): boolean {
    return Option.exists(this.failure, (failure) => failure instanceof Stalled)
  }

  /** Whether the body broke off (rather than ended, or is still being read). */
  get broken(): boolean {
    return Option.isSome(this.failure)
  }

  digest(): Uint8Array {
    return this.hasher?.digest() ?? new Uint8Array()
  }
}
