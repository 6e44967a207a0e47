/**
 * What the page remembers across reloads, in localStorage: the API token, and for each
 * file still being uploaded the session it goes to, so choosing the file again resumes it.
 */
import { browser } from "./Dom"

const TOKEN_KEY = "ingest-portal.token"
const SESSION_KEY_PREFIX = "ingest-portal.session:"

/** The same file chosen again (also after a reload) has the same name, size and modification time. */
export const resumeKey = (file: File): string => `${file.name}|${file.size}|${file.lastModified}`

export const savedToken = (): string => browser.localStorage.getItem(TOKEN_KEY) ?? ""

export const saveToken = (token: string): void =>
  token === "" ? browser.localStorage.removeItem(TOKEN_KEY) : browser.localStorage.setItem(TOKEN_KEY, token)

export const recallSession = (file: File): string | undefined =>
  browser.localStorage.getItem(SESSION_KEY_PREFIX + resumeKey(file)) ?? undefined

export const rememberSession = (file: File, sessionId: string): void =>
  browser.localStorage.setItem(SESSION_KEY_PREFIX + resumeKey(file), sessionId)

export const forgetSession = (file: File): void => browser.localStorage.removeItem(SESSION_KEY_PREFIX + resumeKey(file))
