/**
 * Debian's chromium (test/browser/install-chromium.sh installs it), driven by playwright-core,
 * which brings no browser of its own. Every launch gets a fresh temporary profile from
 * playwright, and the browser talks to nothing but 127.0.0.1: its background services are off
 * and any other host name fails to resolve.
 */
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

export const launchChromium = async (): Promise<Browser> => {
  if (!(await Bun.file(CHROMIUM_PATH).exists())) {
    throw new Error(`${CHROMIUM_PATH} is missing: run test/browser/install-chromium.sh (as root)`)
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
}
