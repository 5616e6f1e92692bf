/**
 * A listen address that cannot be had, said in a person's words. libp2p reports it as one
 * UnsupportedListenAddressesError whose message is a paragraph of its own configuration advice
 * ("set transportManager.faultTolerance to NO_FATAL") with each address's error, stack included,
 * pasted in; it keeps no `cause` or `errors`, so the socket's code (EADDRINUSE, …) is only in that
 * text, one line per address: `  /ip4/127.0.0.1/tcp/5403: Error: listen EADDRINUSE: …`. Node
 * writes a socket error's message as `listen <CODE>: …`, so the code is read from there.
 */
import { ErrorCode, ParleyError } from './errors.ts'

/** What a person can do about each socket error; anything else stays unexpected. */
const REASONS: Record<string, (host: string, port: string) => string> = {
  EADDRINUSE: (_host, port) => `port ${port} is already in use (another peer or program listens there): choose another port`,
  EADDRNOTAVAIL: host => `${host} is not an address of this machine: choose another --host (0.0.0.0 listens on all of them)`,
  EACCES: (_host, port) => `port ${port} needs administrator rights here (ports below 1024 do): choose another port`
}

/** One line of libp2p's message: the multiaddr, then the socket's own error. */
const ADDRESS_LINE = /^\s*\/ip[46]\/([^/]+)\/tcp\/([0-9]+): .*?\blisten (E[A-Z]+)\b/m

/**
 * `err` as a ParleyError (ERR_USAGE: the command line asked for it) when it is libp2p's failure
 * to listen on an address for a reason a person can mend; undefined for anything else.
 */
export function listenError (err: unknown): ParleyError | undefined {
  if (!(err instanceof Error) || err.name !== 'UnsupportedListenAddressesError') return undefined
  const [, host = '', port = '', code = ''] = ADDRESS_LINE.exec(err.message) ?? []
  const reason = REASONS[code]
  return reason === undefined ? undefined : new ParleyError(ErrorCode.Usage, reason(host, port), { cause: err })
}
