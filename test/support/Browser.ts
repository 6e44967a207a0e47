/**
 * Debian's chromium (test/browser/install-chromium.sh installs it), driven by playwright-core,
 * which brings no browser of its own. Every launch gets a fresh temporary profile from
 * playwright, and the browser talks to nothing but 127.0.0.1: its background services are off
 * and any other host name fails to resolve.
 */
import { join } from "node:path"
import { type Browser, chromium } from "playwright-core"

export const CHROMIUM_PATH = "/usr/bin/chromium"

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
]

/** Installs chromium from Debian's packages when it is missing (as .ci/run does first). */
const ensureChromium = async () => {
  if (await Bun.file(CHROMIUM_PATH).exists()) return
  const install = Bun.spawn(["bash", join(import.meta.dir, "..", "browser", "install-chromium.sh")], { stdout: "inherit", stderr: "inherit" })
  if ((await install.exited) !== 0) {
    throw new Error(`${CHROMIUM_PATH} is missing and test/browser/install-chromium.sh could not install it (it needs root)`)
  }
}

export const launchChromium = async (): Promise<Browser> => {
  await ensureChromium()
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
}
