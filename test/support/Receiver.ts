/**
 * A webhook receiver for tests: a real HTTP server on a loopback port that records what it
 * gets, answers as the test says, and notices an event arriving while the same event is
 * still being received (which the relay must never do).
 */
export interface Delivery {
  readonly eventId: string
  readonly eventType: string
  readonly timestamp: string
  readonly signature: string | null
  readonly body: string
}

export interface ReceiverOptions {
  /** The status to answer for the n-th request (1-based); 200 by default. */
  readonly status?: (n: number, delivery: Delivery) => number | Promise<number>
  readonly port?: number
}

export const startReceiver = (options: ReceiverOptions = {}) => {
  const deliveries: Array<Delivery> = []
  const inFlight = new Set<string>()
  const overlaps: Array<string> = []
  let requests = 0
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    fetch: async (request) => {
      const delivery: Delivery = {
        eventId: request.headers.get("x-portal-event-id") ?? "",
        eventType: request.headers.get("x-portal-event-type") ?? "",
        timestamp: request.headers.get("x-portal-timestamp") ?? "",
        signature: request.headers.get("x-portal-signature"),
        body: await request.text()
      }
      if (inFlight.has(delivery.eventId)) overlaps.push(delivery.eventId)
      inFlight.add(delivery.eventId)
      try {
        deliveries.push(delivery)
        const status = await (options.status ?? (() => 200))(++requests, delivery)
        return new Response(status === 200 ? "ok" : "no", { status })
      } finally {
        inFlight.delete(delivery.eventId)
      }
    }
  })
  const port = server.port ?? 0
  return {
    url: `http://127.0.0.1:${port}/hooks/portal`,
    port,
    deliveries,
    overlaps,
    stop: () => server.stop(true)
  }
}

export type Receiver = ReturnType<typeof startReceiver>
