/**
 * Reading a request body. Bytes arrive as a web ReadableStream in chunks of about 64 KiB;
 * they are consumed in one native loop (one Effect for the whole body, not one per chunk),
 * which keeps the per-byte cost near that of a bare Bun server. Interrupting the Effect
 * (the client went away, the request was cancelled) cancels the reader.
 */
import { Effect } from "effect"
import { BodyTooLarge, BodyUnreadable, StorageError } from "./Storage"

/**
 * Calls `onChunk` for every chunk of `body`, in order, awaiting it before reading on.
 * Stops reading and fails with BodyTooLarge as soon as more than `maxBytes` arrived.
 * `onChunk` should throw StorageError for its own failures; `observe` sees every chunk's size
 * as it arrives (progress, stall detection). Succeeds with the byte count.
 */
export const consumeBody = (
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  onChunk: (chunk: Uint8Array) => void | Promise<void>,
  observe?: (bytes: number) => void
): Effect.Effect<number, BodyTooLarge | BodyUnreadable | StorageError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const reader = body.getReader()
      const cancel = () => void reader.cancel().catch(() => undefined)
      signal.addEventListener("abort", cancel, { once: true })
      try {
        let size = 0
        while (true) {
          let next: Awaited<ReturnType<typeof reader.read>>
          try {
            next = await reader.read()
          } catch (cause) {
            throw new BodyUnreadable({ cause })
          }
          if (next.done || signal.aborted) return size
          size += next.value.byteLength
          observe?.(next.value.byteLength)
          if (size > maxBytes) {
            cancel()
            throw new BodyTooLarge({ limit: maxBytes })
          }
          await onChunk(next.value)
        }
      } finally {
        signal.removeEventListener("abort", cancel)
      }
    },
    catch: (error) =>
      error instanceof BodyTooLarge || error instanceof BodyUnreadable || error instanceof StorageError
        ? error
        : new StorageError({ operation: "write", key: "body", cause: error })
  })
