/**
 * One file's entry in the upload list: name, progress, speed and time left, the buttons,
 * and once stored its SHA-256. It only shows what FileUpload tells it.
 */
import { browser, type ButtonElement, type PageElement, type ProgressElement } from "./Dom"

export type UploadState =
  | "starting"
  | "uploading"
  | "paused"
  | "completing"
  | "stored"
  | "cancelling"
  | "cancelled"
  | "failed"

/** While a part may still go out, or after a failure, the upload can be paused, resumed or cancelled. */
export const isInterruptible = (state: UploadState): boolean =>
  state === "starting" || state === "uploading" || state === "paused" || state === "failed"

export interface UploadActions {
  readonly pauseOrResume: () => void
  readonly cancel: () => void
  readonly download: () => void
}

const UNITS = ["B", "kB", "MB", "GB", "TB"]

export const formatBytes = (bytes: number): string => {
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${UNITS[unit]}`
}

export const formatDuration = (seconds: number): string => {
  if (seconds < 1) return "less than a second"
  if (seconds < 60) return `${Math.round(seconds)} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`
}

let viewCount = 0

const create = <K extends "button" | "code" | "li" | "p" | "progress" | "span">(tag: K, className: string) => {
  const element = browser.document.createElement(tag)
  element.className = className
  return element
}

const button = (label: string, describedBy: string, onClick: () => void): ButtonElement => {
  const element = create("button", "upload-button")
  element.type = "button"
  element.textContent = label
  element.setAttribute("aria-describedby", describedBy)
  element.addEventListener("click", onClick)
  return element
}

export class UploadView {
  readonly element: PageElement = create("li", "upload")
  private readonly progress: ProgressElement = create("progress", "upload-progress")
  private readonly status: PageElement = create("p", "upload-status")
  private readonly stats: PageElement = create("p", "upload-stats")
  private readonly digest: PageElement = create("p", "upload-digest")
  private readonly sha256: PageElement = create("code", "sha256")
  private readonly pauseButton: ButtonElement
  private readonly cancelButton: ButtonElement
  private readonly downloadButton: ButtonElement

  constructor(file: File, actions: UploadActions) {
    const nameId = `upload-${++viewCount}-name`
    const name = create("span", "upload-name")
    name.id = nameId
    name.textContent = file.name
    const heading = create("p", "upload-heading")
    heading.append(name, ` (${formatBytes(file.size)})`)

    this.progress.max = file.size
    this.progress.value = 0
    this.progress.setAttribute("aria-labelledby", nameId)
    this.status.setAttribute("role", "status")
    this.pauseButton = button("Pause", nameId, actions.pauseOrResume)
    this.cancelButton = button("Cancel", nameId, actions.cancel)
    this.downloadButton = button("Download", nameId, actions.download)
    this.downloadButton.hidden = true
    this.digest.hidden = true
    this.digest.append("SHA-256 ", this.sha256)
    const buttons = create("p", "upload-actions")
    buttons.append(this.pauseButton, this.cancelButton, this.downloadButton)

    this.element.dataset["filename"] = file.name
    this.element.append(heading, this.progress, this.status, this.stats, this.digest, buttons)
  }

  showState(state: UploadState, message: string): void {
    this.element.dataset["state"] = state
    this.status.textContent = message
    this.pauseButton.textContent = state === "failed" ? "Retry" : state === "paused" ? "Resume" : "Pause"
    this.pauseButton.hidden = !isInterruptible(state)
    this.cancelButton.hidden = !isInterruptible(state)
  }

  showProgress(confirmedBytes: number, totalBytes: number, bytesPerSecond: number | undefined): void {
    this.progress.value = confirmedBytes
    const parts = [`${formatBytes(confirmedBytes)} of ${formatBytes(totalBytes)}`]
    if (bytesPerSecond !== undefined && confirmedBytes < totalBytes) {
      parts.push(`${formatBytes(bytesPerSecond)}/s`, `${formatDuration((totalBytes - confirmedBytes) / bytesPerSecond)} left`)
    }
    this.stats.textContent = parts.join(" · ")
  }

  showStored(sha256: string): void {
    this.sha256.textContent = sha256
    this.digest.hidden = false
    this.downloadButton.hidden = false
  }
}
