/**
 * The upload page at GET / in a real browser (Debian's chromium through playwright-core)
 * against the real server: files chosen on the page go up in parallel parts through the
 * public API, show the SHA-256 the server stored, resume after a reload with only the
 * missing parts, pause, cancel and download.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "bun:test"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Browser, BrowserContext, Page, Request, Route } from "playwright-core"
import { launchChromium } from "./support/Browser"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

const CHUNK = 256 * 1024
const PARTS_URL = "**/uploads/sessions/*/parts/*"

let app: TestApp
let browser: Browser
let context: BrowserContext | undefined
let token: string
let workDir: string
/** Requests the browser made anywhere but the app (there must be none). */
let elsewhere: Array<string> = []
/** Uncaught exceptions and console errors of the page. */
let pageErrors: Array<string> = []

beforeAll(async () => {
  app = await startTestApp({ env: { UPLOAD_CHUNK_SIZE_DEFAULT: String(CHUNK) } })
  browser = await launchChromium()
  token = (await app.createUser()).token
  workDir = await mkdtemp(join(tmpdir(), "portal-page-"))
})
afterAll(async () => {
  await browser?.close()
  await app?.close()
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
})
afterEach(async () => {
  await context?.close()
  context = undefined
  expect(elsewhere).toEqual([])
})

/** A fresh browser profile state (no localStorage) with the page loaded and the token entered. */
const openPage = async (options: { readonly expectErrors?: boolean } = {}): Promise<Page> => {
  const fresh = await browser.newContext({ acceptDownloads: true })
  context = fresh
  elsewhere = []
  pageErrors = []
  fresh.on("request", (request) => {
    if (!request.url().startsWith(`${app.baseUrl}/`)) elsewhere.push(request.url())
  })
  const page = await fresh.newPage()
  page.on("pageerror", (error) => pageErrors.push(error.message))
  if (options.expectErrors !== true) {
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text())
    })
  }
  await page.goto(app.baseUrl)
  await page.fill("input[name=token]", token)
  return page
}

const writeFile = async (name: string, size: number, seed: number) => {
  const content = bytes(size, seed)
  const path = join(workDir, name)
  await Bun.write(path, content)
  return { name, path, content, sha256: sha256Hex(content) }
}

const entry = (page: Page, filename: string) => page.locator(`li[data-filename="${filename}"]`)

const waitForState = (page: Page, filename: string, state: string, timeout = 30_000) =>
  page.waitForSelector(`li[data-filename="${filename}"][data-state="${state}"]`, { timeout })

/** Waits for a condition on what the test observes of the browser (requests, routes). */
const until = async (condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(5)
  }
}

const partNumberOf = (request: Request): number => Number(new URL(request.url()).pathname.split("/").at(-1))
const sessionIdOf = (request: Request): string => new URL(request.url()).pathname.split("/")[3] ?? ""

/** Part PUTs of the page, in the order the page sent them. */
const recordPartRequests = (page: Page): Array<Request> => {
  const requests: Array<Request> = []
  page.on("request", (request) => {
    if (request.method() === "PUT" && request.url().includes("/parts/")) requests.push(request)
  })
  return requests
}

/** Holds part PUTs (all but the first `letThrough`) before they leave the browser: the server never sees them. */
const holdParts = async (page: Page, letThrough = 0) => {
  const held: Array<Route> = []
  let passed = 0
  await page.route(PARTS_URL, async (route) => {
    if (passed < letThrough) {
      passed++
      await route.continue()
    } else {
      held.push(route)
    }
  })
  return {
    held,
    /** Lets the parts go from now on; the held ones were aborted by the page already. */
    release: async () => {
      await page.unrouteAll({ behavior: "ignoreErrors" })
      await Promise.all(held.map((route) => route.abort().catch(() => undefined)))
    }
  }
}

const sessionOf = async (sessionId: string) => (await app.getSession(token, sessionId)).body

describe("GET /", () => {
  it("serves the page without a token, with a strict Content-Security-Policy", async () => {
    const page = await fetch(`${app.baseUrl}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'")
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'")
    const html = await page.text()
    expect(html).toContain(`<input id="token" name="token"`)
    expect(html).toContain(`<script type="module" src="/assets/upload.js"></script>`)

    const script = await fetch(`${app.baseUrl}/assets/upload.js`)
    expect(script.status).toBe(200)
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
    expect(await script.text()).toContain("/uploads/sessions")
    const etag = script.headers.get("etag") ?? ""
    const again = await fetch(`${app.baseUrl}/assets/upload.js`, { headers: { "if-none-match": etag } })
    expect(again.status).toBe(304)
  })
})

describe("upload page", () => {
  it("uploads chosen and dropped files in parts and shows the SHA-256 the server stored", async () => {
    const files = [
      await writeFile("alpha.bin", 5 * CHUNK + 3, 11),
      await writeFile("bravo.txt", 1000, 12),
      await writeFile("charlie.bin", 3 * CHUNK, 13)
    ]
    const dropped = { name: "dropped.bin", content: bytes(CHUNK + 17, 14) }
    const page = await openPage()
    const puts = recordPartRequests(page)

    await page.setInputFiles("input[type=file]", files.map((file) => file.path))
    const transfer = await page.evaluateHandle(`(() => {
      const transfer = new DataTransfer()
      transfer.items.add(new File([new Uint8Array(${JSON.stringify(Array.from(dropped.content))})], "${dropped.name}"))
      return transfer
    })()`)
    await page.dispatchEvent("#drop-zone", "drop", { dataTransfer: transfer })

    const expected = [...files, { ...dropped, sha256: sha256Hex(dropped.content) }]
    for (const file of expected) {
      await waitForState(page, file.name, "stored")
      expect(await entry(page, file.name).locator("code.sha256").textContent()).toBe(file.sha256)
      const progress = entry(page, file.name).getByRole("progressbar", { name: file.name })
      expect(await progress.getAttribute("value")).toBe(String(file.content.length))
      expect(await progress.getAttribute("max")).toBe(String(file.content.length))
    }
    // 6 + 1 + 3 + 2 parts, each sent once
    expect(puts.length).toBe(12)

    const complete = await app.request("GET", "/uploads/sessions?status=COMPLETE", { token })
    const sessions: Array<{ filename: string; file_id: string }> = complete.body.items
    expect(sessions.map((session) => session.filename).sort()).toEqual(expected.map((file) => file.name).sort())
    for (const session of sessions) {
      const stored = await app.request("GET", `/files/${session.file_id}`, { token })
      expect(stored.body.status).toBe("STORED")
      expect(stored.body.sha256).toBe(expected.find((file) => file.name === session.filename)?.sha256)
    }
    expect(pageErrors).toEqual([])
  })

  it("resumes the same session after a reload, sending only the parts the server is missing", async () => {
    const file = await writeFile("resume.bin", 16 * CHUNK - 5, 21)
    const page = await openPage()
    const puts = recordPartRequests(page)
    const received: Array<number> = []
    page.on("requestfinished", (request) => {
      if (request.method() === "PUT" && request.url().includes("/parts/")) received.push(partNumberOf(request))
    })
    const gate = await holdParts(page, 3)

    await page.setInputFiles("input[type=file]", file.path)
    // three parts arrive, then four are in flight (held) at once
    await until(() => received.length === 3 && gate.held.length === 4, "3 parts received and 4 in flight")
    const [first] = puts
    if (first === undefined) throw new Error("no part was sent")
    const sessionId = sessionIdOf(first)
    expect(await entry(page, file.name).locator(".upload-stats").textContent()).toMatch(/^786\.4 kB of 4\.2 MB · .+\/s · .+ left$/)
    const before = await sessionOf(sessionId)
    expect(before.received_parts_count).toBe(3)
    expect(before.status).toBe("IN_PROGRESS")
    const receivedBefore = new Set(received)

    await page.reload()
    await gate.release()
    const sentBefore = puts.length
    const creations: Array<string> = []
    page.on("request", (request) => {
      if (request.method() === "POST" && new URL(request.url()).pathname === "/uploads/sessions") {
        creations.push(request.url())
      }
    })
    expect(await page.inputValue("input[name=token]")).toBe(token)
    await page.setInputFiles("input[type=file]", file.path)
    await waitForState(page, file.name, "stored")

    const after = puts.slice(sentBefore)
    expect(creations).toEqual([])
    expect(after.map(sessionIdOf).every((id) => id === sessionId)).toBe(true)
    const partsAfter = after.map(partNumberOf)
    expect(partsAfter.filter((part) => receivedBefore.has(part))).toEqual([])
    expect(new Set(partsAfter).size).toBe(partsAfter.length)
    expect([...receivedBefore, ...partsAfter].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 16 }, (_, index) => index + 1)
    )
    expect(await entry(page, file.name).locator("code.sha256").textContent()).toBe(file.sha256)
    const session = await sessionOf(sessionId)
    expect(session.status).toBe("COMPLETE")
    expect(session.file.status).toBe("STORED")
    expect(session.file.sha256).toBe(file.sha256)
    expect(pageErrors).toEqual([])
  })

  it("pauses an upload (no parts go out) and resumes it where it stopped", async () => {
    const file = await writeFile("pause.bin", 8 * CHUNK, 31)
    const page = await openPage()
    const puts = recordPartRequests(page)
    const failed: Array<Request> = []
    page.on("requestfailed", (request) => {
      if (request.method() === "PUT") failed.push(request)
    })
    const gate = await holdParts(page)

    await page.setInputFiles("input[type=file]", file.path)
    await until(() => gate.held.length === 4, "4 parts in flight")
    await entry(page, file.name).getByRole("button", { name: "Pause" }).click()
    await waitForState(page, file.name, "paused")
    // pausing aborts the parts in flight
    await until(() => failed.length === 4, "the 4 parts in flight to be aborted")
    await gate.release()
    expect(puts.length).toBe(4)
    const [first] = puts
    if (first === undefined) throw new Error("no part was sent")
    const paused = await sessionOf(sessionIdOf(first))
    expect(paused.received_parts_count).toBe(0)
    expect(paused.status).toBe("INIT")

    await entry(page, file.name).getByRole("button", { name: "Resume" }).click()
    await waitForState(page, file.name, "stored")
    expect(puts.slice(4).map(partNumberOf).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(await entry(page, file.name).locator("code.sha256").textContent()).toBe(file.sha256)
    expect((await sessionOf(sessionIdOf(first))).status).toBe("COMPLETE")
    expect(pageErrors).toEqual([])
  })

  it("cancels an upload: the session is ABORTED and choosing the file again starts a new one", async () => {
    const file = await writeFile("cancel.bin", 8 * CHUNK, 41)
    const page = await openPage()
    const puts = recordPartRequests(page)
    const gate = await holdParts(page)

    await page.setInputFiles("input[type=file]", file.path)
    await until(() => gate.held.length === 4, "4 parts in flight")
    const [first] = puts
    if (first === undefined) throw new Error("no part was sent")
    const sessionId = sessionIdOf(first)
    await entry(page, file.name).getByRole("button", { name: "Cancel" }).click()
    await waitForState(page, file.name, "cancelled")
    await gate.release()

    const cancelled = await sessionOf(sessionId)
    expect(cancelled.status).toBe("ABORTED")
    expect(cancelled.file.status).toBe("FAILED")

    await page.setInputFiles("input[type=file]", file.path)
    await page.waitForSelector(`li[data-filename="${file.name}"][data-state="stored"]`)
    const again = puts.slice(4).map(sessionIdOf)
    expect(again.length).toBe(8)
    expect(again.every((id) => id !== sessionId)).toBe(true)
    expect(pageErrors).toEqual([])
  })

  it("downloads the stored file with the bytes that were uploaded", async () => {
    const file = await writeFile("download.bin", 2 * CHUNK + 7, 51)
    const page = await openPage()
    await page.setInputFiles("input[type=file]", file.path)
    await waitForState(page, file.name, "stored")

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      entry(page, file.name).getByRole("button", { name: "Download" }).click()
    ])
    expect(download.suggestedFilename()).toBe(file.name)
    const saved = await download.path()
    expect(Buffer.from(await Bun.file(saved).bytes()).equals(Buffer.from(file.content))).toBe(true)
    expect(pageErrors).toEqual([])
  })

  it("shows the API's error message when a request is refused", async () => {
    const file = await writeFile("refused.bin", 1000, 61)
    const page = await openPage({ expectErrors: true })
    await page.fill("input[name=token]", "ipt_not-a-token")
    await page.setInputFiles("input[type=file]", file.path)
    await waitForState(page, file.name, "failed")
    const refused = await app.request("POST", "/uploads/sessions", {
      token: "ipt_not-a-token",
      json: { filename: file.name, content_type: "application/octet-stream", total_size_bytes: 1000 }
    })
    expect(refused.status).toBe(401)
    expect(await entry(page, file.name).locator("[role=status]").textContent()).toBe(`Failed: ${refused.body.message}`)
    expect(pageErrors).toEqual([])
  })
})
