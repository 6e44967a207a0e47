/**
 * The few browser APIs the upload page's script uses, declared here rather than through
 * `lib: ["dom"]`: the root program is checked against Bun's globals, and lib.dom would
 * change the types of Worker, ReadableStream and fetch bodies for the server code too.
 * Types only; `upload.ts` binds them to the browser's globals with `declare const`.
 * Fetch, Blob, File, URL, crypto and AbortController come from Bun's types, which match.
 */

export interface PageEvent {
  preventDefault(): void
}

export interface DragEvent extends PageEvent {
  readonly dataTransfer: { readonly files: FileList; dropEffect: string } | null
}

export interface PageEvents {
  readonly click: PageEvent
  readonly change: PageEvent
  readonly input: PageEvent
  readonly dragenter: DragEvent
  readonly dragover: DragEvent
  readonly dragleave: DragEvent
  readonly drop: DragEvent
}

export interface FileList {
  readonly length: number
  readonly [index: number]: File
}

export interface PageElement {
  id: string
  className: string
  textContent: string | null
  hidden: boolean
  readonly dataset: Record<string, string | undefined>
  readonly classList: { toggle(token: string, force?: boolean): boolean }
  setAttribute(name: string, value: string): void
  focus(): void
  append(...children: Array<PageElement | string>): void
  addEventListener<K extends keyof PageEvents>(type: K, listener: (event: PageEvents[K]) => void): void
}

export interface InputElement extends PageElement {
  value: string
  readonly files: FileList | null
}

export interface ProgressElement extends PageElement {
  value: number
  max: number
}

export interface ButtonElement extends PageElement {
  type: string
  disabled: boolean
}

export interface AnchorElement extends PageElement {
  href: string
  download: string
  click(): void
}

/** What `document.createElement` returns for each tag the page creates. */
export interface ElementsByTag {
  readonly a: AnchorElement
  readonly button: ButtonElement
  readonly code: PageElement
  readonly div: PageElement
  readonly li: PageElement
  readonly p: PageElement
  readonly progress: ProgressElement
  readonly span: PageElement
}

export interface PageDocument {
  querySelector(selectors: string): PageElement | null
  createElement<K extends keyof ElementsByTag>(tag: K): ElementsByTag[K]
}

/** A constructor to check an element's kind at run time (`element instanceof HTMLInputElement`). */
export interface ElementClass<T extends PageElement> {
  readonly prototype: T
  new(): T
}

export interface PageStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

declare const document: PageDocument
declare const localStorage: PageStorage
declare const isSecureContext: boolean
declare const HTMLInputElement: ElementClass<InputElement>

/** The browser's globals, typed as above. */
export const browser = { document, localStorage, isSecureContext, HTMLInputElement }
