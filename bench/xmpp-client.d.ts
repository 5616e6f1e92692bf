/**
 * The part of @xmpp/client (0.14, plain JavaScript without type declarations) that the Prosody
 * baseline uses: connect, send stanzas, receive them as events, disconnect.
 */
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events'

  /** A parsed or built stanza (ltx element). */
  export interface Element {
    name: string
    attrs: Record<string, string | undefined>
    is: (name: string, xmlns?: string) => boolean
    getChild: (name: string, xmlns?: string) => Element | undefined
  }

  export interface Client extends EventEmitter {
    /** Connects, authenticates and binds a resource; resolves with the bound JID. */
    start: () => Promise<{ toString: () => string }>
    stop: () => Promise<void>
    send: (...stanzas: Element[]) => Promise<void>
    /** The transport's socket (a net.Socket for xmpp://) while connected. */
    socket: { setNoDelay?: (noDelay?: boolean) => unknown } | null
  }

  export function client (options: { service: string, domain: string, username: string, password: string, resource?: string }): Client
  export function xml (name: string, attrs?: Record<string, string>, ...children: Array<Element | string>): Element
}
