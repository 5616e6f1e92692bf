/**
 * A libp2p ComponentLogger for when no libp2p log is asked for (DEBUG unset). libp2p makes a
 * logger for every connection, stream and protocol negotiation, and its default one (weald)
 * builds each from scratch, asking the terminal whether it takes colours every time: 2 % of a
 * loaded peer's CPU in the soak, for loggers that are all disabled. This one hands out a single
 * disabled logger. With DEBUG set, nodes keep libp2p's own (see createParleyNode).
 */
import type { ComponentLogger, Logger } from '@libp2p/interface'

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: (): Logger => silent
})

export const quietLogger: ComponentLogger = { forComponent: () => silent }

/** libp2p logs only when DEBUG names something (as the `debug` convention it follows). */
export const libp2pLogsWanted = (): boolean => (process.env.DEBUG ?? '') !== ''
