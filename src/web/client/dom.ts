/// <reference lib="dom" />
/** Small DOM helpers: elements are built with properties and text nodes only, never from HTML strings. */

type Child = Node | string | null | undefined | false

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, props: Partial<Record<string, string | boolean>> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue
    if (name === 'class') el.className = String(value)
    else if (value === true) el.setAttribute(name, '')
    else el.setAttribute(name, value)
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    el.append(typeof child === 'string' ? document.createTextNode(child) : child)
  }
  return el
}

/** The element with this id, which the page must have. */
export function byId<T extends HTMLElement> (id: string): T {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing from the page`)
  return el as T
}

export function formatDate (iso: string): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

/** Disables the form's controls while `work` runs, so a double click sends one request. */
export async function busy<T> (form: HTMLFormElement | HTMLButtonElement, work: () => Promise<T>): Promise<T> {
  const controls = form instanceof HTMLFormElement ? Array.from(form.elements) as Array<HTMLButtonElement | HTMLInputElement> : [form]
  for (const c of controls) c.disabled = true
  try {
    return await work()
  } finally {
    for (const c of controls) c.disabled = false
  }
}
