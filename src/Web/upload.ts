/**
 * The upload page's script, served as /assets/upload.js: the token field, the file picker
 * and the drop zone. Every chosen file starts a FileUpload at once; choosing a file again
 * resumes its upload (a paused one here, or after a reload the session remembered for it).
 */
import { browser, type FileList, type InputElement, type PageElement } from "./Dom"
import { FileUpload } from "./FileUpload"
import { resumeKey, savedToken, saveToken } from "./Memory"
import { makeClient } from "./PortalClient"

const find = (selector: string): PageElement => {
  const element = browser.document.querySelector(selector)
  if (element === null) throw new Error(`the page has no ${selector}`)
  return element
}

const findInput = (selector: string): InputElement => {
  const element = find(selector)
  if (!(element instanceof browser.HTMLInputElement)) throw new Error(`${selector} is not an input`)
  return element
}

const tokenInput = findInput("input[name=token]")
const fileInput = findInput("input[type=file]")
const dropZone = find("#drop-zone")
const uploadList = find("#uploads")
const notice = find("#notice")

/** The uploads of this page by file: the same file chosen twice is one upload, not two. */
const uploads = new Map<string, FileUpload>()

const choose = (files: FileList): void => {
  const token = tokenInput.value.trim()
  if (token === "") {
    notice.textContent = "Enter your API token first, then choose the files again."
    tokenInput.focus()
    return
  }
  notice.textContent = ""
  const client = makeClient(token)
  for (const file of Array.from(files)) {
    if (file.size === 0) {
      notice.textContent = `${file.name} is empty; the API stores files of at least one byte.`
      continue
    }
    if (uploads.get(resumeKey(file))?.chooseAgain() === true) continue
    const upload = new FileUpload(file, client)
    uploads.set(resumeKey(file), upload)
    uploadList.append(upload.view.element)
    void upload.start()
  }
}

tokenInput.value = savedToken()
tokenInput.addEventListener("input", () => saveToken(tokenInput.value.trim()))

fileInput.addEventListener("change", () => {
  if (fileInput.files !== null) choose(fileInput.files)
  // so that choosing the same file again fires another change
  fileInput.value = ""
})

const highlight = (on: boolean) => dropZone.classList.toggle("dragging", on)
dropZone.addEventListener("dragenter", (event) => {
  event.preventDefault()
  highlight(true)
})
dropZone.addEventListener("dragover", (event) => {
  // without preventDefault the browser would open the dropped file instead
  event.preventDefault()
  if (event.dataTransfer !== null) event.dataTransfer.dropEffect = "copy"
})
dropZone.addEventListener("dragleave", () => highlight(false))
dropZone.addEventListener("drop", (event) => {
  event.preventDefault()
  highlight(false)
  if (event.dataTransfer !== null) choose(event.dataTransfer.files)
})
