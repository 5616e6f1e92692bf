/**
 * Byte sizes as a person reads them, the same in every message of both programs (issue 14).
 */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB']

/** 6 → "6 B", 1536 → "1.5 KiB", 3 × 2^30 → "3.0 GiB": bytes exactly, bigger units to one decimal. */
export function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  let value = bytes / 1024
  let unit = 0
  // Round first: 1023.96 KiB is shown as "1.0 MiB", never as "1024.0 KiB".
  while (Number(value.toFixed(1)) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${UNITS[unit] ?? ''}`
}
