/**
 * A TCP proxy in front of a server that can break a PATCH off mid-body, as a dropped
 * connection does: once armed, the next PATCH gets `bytes` bytes of its body through (counted
 * as payload, chunked encoding or not), then the proxy either cuts both connections ("cut")
 * or forwards nothing more until the client goes away ("hold", for a client that aborts).
 * Clients must use one connection per request (no keep-alive) for the count to be per PATCH.
 */
import type { Socket } from "bun"

export type CutMode = "cut" | "hold"

interface Connection {
  upstream: Socket<undefined> | undefined
  /** Bytes from the client not sent upstream yet (before the upstream connection opened). */
  pending: Array<Uint8Array>
  head: string
  inBody: boolean
  /** This request is the PATCH being broken off. */
  target: boolean
  chunked: boolean
  /** Chunked decoding: payload bytes left in the current chunk, or -1 while reading a size line. */
  chunkLeft: number
  sizeLine: string
  /** Chunked decoding: CR LF after a chunk still to skip. */
  trailer: number
  payload: number
  done: boolean
}

export const startCuttingProxy = async (targetUrl: string) => {
  const target = new URL(targetUrl)
  let armed: { readonly bytes: number; readonly mode: CutMode; readonly resolve: () => void } | undefined

  const send = (connection: Connection, bytes: Uint8Array) => {
    if (bytes.byteLength === 0) return
    if (connection.upstream === undefined) connection.pending.push(bytes)
    else connection.upstream.write(bytes)
  }

  /** How many of `bytes` (body bytes on the wire) may pass before the payload budget is spent. */
  const allowance = (connection: Connection, bytes: Uint8Array, budget: number): number => {
    if (!connection.chunked) {
      const passing = Math.min(bytes.byteLength, budget - connection.payload)
      connection.payload += passing
      return passing
    }
    let i = 0
    while (i < bytes.byteLength && connection.payload < budget) {
      if (connection.trailer > 0) {
        connection.trailer--
        i++
      } else if (connection.chunkLeft <= 0) {
        const c = String.fromCharCode(bytes[i] ?? 0)
        i++
        if (c === "\n") {
          connection.chunkLeft = parseInt(connection.sizeLine.trim(), 16)
          connection.sizeLine = ""
        } else connection.sizeLine += c
      } else {
        const take = Math.min(connection.chunkLeft, bytes.byteLength - i, budget - connection.payload)
        i += take
        connection.chunkLeft -= take
        connection.payload += take
        if (connection.chunkLeft === 0) connection.trailer = 2
      }
    }
    return i
  }

  const server = Bun.listen<Connection>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const connection: Connection = {
          upstream: undefined,
          pending: [],
          head: "",
          inBody: false,
          target: false,
          chunked: false,
          chunkLeft: 0,
          sizeLine: "",
          trailer: 0,
          payload: 0,
          done: false
        }
        client.data = connection
        void Bun.connect({
          hostname: target.hostname,
          port: Number(target.port),
          socket: {
            open(upstream) {
              connection.upstream = upstream
              for (const bytes of connection.pending.splice(0)) upstream.write(bytes)
            },
            data(_upstream, bytes) {
              client.write(bytes)
            },
            close() {
              client.end()
            },
            error() {
              client.end()
            }
          }
        })
      },
      data(client, bytes) {
        const connection = client.data
        if (connection.done) return
        if (!connection.inBody) {
          connection.head += Buffer.from(bytes).toString("latin1")
          const end = connection.head.indexOf("\r\n\r\n")
          if (end === -1) return send(connection, bytes)
          connection.inBody = true
          const head = connection.head.slice(0, end)
          connection.target = armed !== undefined && head.startsWith("PATCH ")
          connection.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head)
          const headBytes = bytes.byteLength - (connection.head.length - end - 4)
          send(connection, bytes.subarray(0, headBytes))
          bytes = bytes.subarray(headBytes)
        }
        const cut = armed
        if (!connection.target || cut === undefined) return send(connection, bytes)
        const passing = allowance(connection, bytes, cut.bytes)
        send(connection, bytes.subarray(0, passing))
        if (connection.payload < cut.bytes) return
        connection.done = true
        armed = undefined
        cut.resolve()
        if (cut.mode === "cut") {
          client.terminate()
          connection.upstream?.terminate()
        }
      },
      close(client) {
        client.data.upstream?.terminate()
      },
      error(client) {
        client.data.upstream?.terminate()
      }
    }
  })

  return {
    url: `http://127.0.0.1:${server.port}`,
    /** Breaks the next PATCH off after `bytes` of its body; resolves once it has. */
    arm: (bytes: number, mode: CutMode) =>
      new Promise<void>((resolve) => {
        armed = { bytes, mode, resolve }
      }),
    stop: () => server.stop(true)
  }
}
