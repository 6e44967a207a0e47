/**
 * One file's upload through the public API: open its session (the one remembered for this
 * file if it is still open, else a new one), PUT the missing parts PARALLEL_PARTS at a time,
 * then complete it, which answers the stored file's SHA-256. Pause and cancel abort the
 * requests in flight; resuming asks the server again which parts are missing, exactly as
 * choosing the file again after a reload does.
 */
import { browser } from "./Dom"
import { forgetSession, recallSession, rememberSession } from "./Memory"
import { ApiError, isResumable, partNumbers, type PortalClient, type SessionView } from "./PortalClient"
import { isInterruptible, type UploadState, UploadView } from "./UploadView"

export const PARALLEL_PARTS = 4
const MAX_ATTEMPTS = 5
const FIRST_RETRY_DELAY_MS = 500

const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

const randomKey = (): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("")

/** Hex SHA-256 of a part; crypto.subtle exists only in secure contexts (https, localhost). */
const partDigest = async (bytes: Blob): Promise<string | undefined> => {
  if (!browser.isSecureContext) return undefined
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await bytes.arrayBuffer()))
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("")
}

const delay = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      reject(signal.reason)
    }, { once: true })
  })

/** Lost connections, server trouble and a part still being written by an earlier request pass. */
const isTransient = (error: unknown): boolean =>
  error instanceof ApiError ? error.status >= 500 || error.tag === "PartInProgress" : error instanceof TypeError

const withRetries = async <A>(attempt: () => Promise<A>, signal: AbortSignal): Promise<A> => {
  for (let attempts = 1;; attempts++) {
    try {
      return await attempt()
    } catch (error) {
      if (signal.aborted || attempts >= MAX_ATTEMPTS || !isTransient(error)) throw error
      await delay(FIRST_RETRY_DELAY_MS * 2 ** (attempts - 1), signal)
    }
  }
}

export class FileUpload {
  readonly view: UploadView
  private state: UploadState = "starting"
  private controller = new AbortController()
  private sessionId: string | undefined
  private storedFileId: string | undefined
  private confirmedBytes = 0
  /** Where the current run (start or resume) began, for its speed. */
  private run = { startedAt: 0, startBytes: 0 }

  constructor(readonly file: File, private readonly client: PortalClient) {
    this.view = new UploadView(file, {
      pauseOrResume: () => {
        if (this.state === "starting" || this.state === "uploading") this.pause()
        else if (this.state === "paused" || this.state === "failed") void this.start()
      },
      cancel: () => void this.cancel(),
      download: () => void this.download()
    })
  }

  /** The same file chosen again: a paused or failed upload resumes; false once it is over. */
  chooseAgain(): boolean {
    if (this.state === "stored" || this.state === "cancelled") return false
    if (this.state === "paused" || this.state === "failed") void this.start()
    return true
  }

  async start(): Promise<void> {
    const controller = new AbortController()
    this.controller = controller
    const { signal } = controller
    this.show("starting", this.sessionId === undefined ? "Starting…" : "Resuming…")
    try {
      const session = await this.openSession(signal)
      this.sessionId = session.id
      if (session.status === "COMPLETE") return this.stored(session)
      rememberSession(this.file, session.id)
      const missing = partNumbers(session.missing_parts)
      this.confirmedBytes = session.received_bytes
      this.run = { startedAt: performance.now(), startBytes: session.received_bytes }
      this.show("uploading", missing.length === 0 ? "All parts received" : `Uploading ${missing.length} parts…`)
      this.showProgress()
      await this.sendParts(session, missing, signal)
      this.show("completing", "Verifying and storing…")
      this.stored(await withRetries(() => this.client.complete(session.id, signal), signal))
    } catch (error) {
      // pause and cancel abort the requests on purpose and show their own state
      if (signal.aborted) return
      this.show("failed", `Failed: ${messageOf(error)}`)
    }
  }

  pause(): void {
    if (this.state !== "starting" && this.state !== "uploading") return
    this.controller.abort()
    this.show("paused", "Paused")
    this.view.showProgress(this.confirmedBytes, this.file.size, undefined)
  }

  async cancel(): Promise<void> {
    if (!isInterruptible(this.state)) return
    this.controller.abort()
    forgetSession(this.file)
    this.show("cancelling", "Cancelling…")
    try {
      if (this.sessionId !== undefined) await this.client.abort(this.sessionId)
      this.show("cancelled", "Cancelled")
    } catch (error) {
      this.show("failed", `Cancelling failed: ${messageOf(error)}`)
    }
  }

  private async download(): Promise<void> {
    if (this.storedFileId === undefined) return
    try {
      const url = URL.createObjectURL(await this.client.download(this.storedFileId))
      const link = browser.document.createElement("a")
      link.href = url
      link.download = this.file.name
      link.click()
      // the download has started reading the blob by then; until then the URL must stay valid
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
    } catch (error) {
      this.view.showState(this.state, `Download failed: ${messageOf(error)}`)
    }
  }

  /** The remembered session while it can still take parts (or was completed meanwhile), else a new one. */
  private async openSession(signal: AbortSignal): Promise<SessionView> {
    const known = this.sessionId ?? recallSession(this.file)
    if (known !== undefined) {
      const session = await this.client.getSession(known, signal).catch((error: unknown) => {
        // another user's token, or a session deleted meanwhile: start afresh
        if (error instanceof ApiError && (error.status === 403 || error.status === 404)) return undefined
        throw error
      })
      if (session !== undefined && (isResumable(session) || session.status === "COMPLETE")) return session
      forgetSession(this.file)
    }
    // a retry after a lost answer must not create a second session: same key, same session
    const idempotencyKey = randomKey()
    return withRetries(() => this.client.createSession(this.file, idempotencyKey, signal), signal)
  }

  private async sendParts(session: SessionView, parts: ReadonlyArray<number>, signal: AbortSignal): Promise<void> {
    const queue = [...parts]
    const worker = async () => {
      for (let part = queue.shift(); part !== undefined; part = queue.shift()) {
        try {
          await this.sendPart(session, part, signal)
        } catch (error) {
          queue.length = 0 // the other workers stop after the part they are sending
          throw error
        }
      }
    }
    await Promise.all(Array.from({ length: PARALLEL_PARTS }, worker))
  }

  private async sendPart(session: SessionView, partNumber: number, signal: AbortSignal): Promise<void> {
    const first = (partNumber - 1) * session.chunk_size_bytes
    const bytes = this.file.slice(first, Math.min(first + session.chunk_size_bytes, this.file.size))
    const sha256 = await partDigest(bytes)
    await withRetries(() => this.client.putPart(session, partNumber, bytes, sha256, signal), signal)
    // a part that arrived just as the upload was paused is in the next run's received_bytes
    if (signal.aborted) return
    this.confirmedBytes += bytes.size
    this.showProgress()
  }

  private stored(session: SessionView): void {
    forgetSession(this.file)
    this.storedFileId = session.file.id
    this.confirmedBytes = this.file.size
    this.showProgress()
    this.show("stored", "Stored")
    this.view.showStored(session.file.sha256 ?? "")
  }

  private show(state: UploadState, message: string): void {
    this.state = state
    this.view.showState(state, message)
  }

  private showProgress(): void {
    const seconds = (performance.now() - this.run.startedAt) / 1000
    const sent = this.confirmedBytes - this.run.startBytes
    this.view.showProgress(this.confirmedBytes, this.file.size, sent > 0 && seconds > 0 ? sent / seconds : undefined)
  }
}
