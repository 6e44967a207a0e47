/**
 * Takes docs/upload-page.png: the upload page with two stored files and one paused upload,
 * against a throwaway test app (needs PostgreSQL, as the tests do) and Debian's chromium.
 *
 *   node_modules/.bin/bun test/support/screenshot.ts
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Route } from "playwright-core"
import { launchChromium } from "./Browser"
import { bytes, startTestApp } from "./TestApp"

const CHUNK = 256 * 1024
const output = new URL("../../docs/upload-page.png", import.meta.url).pathname

const app = await startTestApp({ env: { UPLOAD_CHUNK_SIZE_DEFAULT: String(CHUNK) } })
const browser = await launchChromium()
const workDir = await mkdtemp(join(tmpdir(), "portal-screenshot-"))
try {
  const { token } = await app.createUser({ name: "screenshot" })
  const files = [
    { name: "quarterly-report.pdf", size: 3 * CHUNK + 1234 },
    { name: "site-photos.zip", size: 6 * CHUNK + 99 },
    { name: "sensor-readings.csv", size: 16 * CHUNK }
  ]
  for (const [index, file] of files.entries()) await Bun.write(join(workDir, file.name), bytes(file.size, index + 1))
  const [stored1, stored2, paused] = files.map((file) => join(workDir, file.name))
  if (stored1 === undefined || stored2 === undefined || paused === undefined) throw new Error("three files expected")

  const context = await browser.newContext({ viewport: { width: 900, height: 820 } })
  const page = await context.newPage()
  await page.goto(app.baseUrl)
  await page.fill("input[name=token]", token)
  await page.setInputFiles("input[type=file]", [stored1, stored2])
  for (const file of files.slice(0, 2)) {
    await page.waitForSelector(`li[data-filename="${file.name}"][data-state="stored"]`)
  }

  // the third one stops after six parts: four more are held until it is paused
  const held: Array<Route> = []
  let passed = 0
  await page.route("**/uploads/sessions/*/parts/*", async (route) => {
    if (passed < 6) {
      passed++
      await route.continue()
    } else {
      held.push(route)
    }
  })
  await page.setInputFiles("input[type=file]", paused)
  for (let i = 0; i < 2000 && held.length < 4; i++) await Bun.sleep(5)
  await page.locator(`li[data-filename="sensor-readings.csv"]`).getByRole("button", { name: "Pause" }).click()
  await page.waitForSelector(`li[data-filename="sensor-readings.csv"][data-state="paused"]`)
  await page.unrouteAll({ behavior: "ignoreErrors" })
  await Promise.all(held.map((route) => route.abort().catch(() => undefined)))

  await mkdir(new URL("../../docs/", import.meta.url).pathname, { recursive: true })
  await page.screenshot({ path: output, fullPage: true })
  console.log(`wrote ${output}`)
} finally {
  await browser.close()
  await app.close()
  await rm(workDir, { recursive: true, force: true })
}
