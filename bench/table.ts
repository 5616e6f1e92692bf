/**
 * The plain-text table `npm run bench` prints: one line per figure, Parley beside its baseline.
 */
import type { ResultRow } from './report.ts'
import type { Summary } from './stats.ts'

function num (value: number): string {
  const abs = Math.abs(value)
  if (abs >= 1000) return value.toFixed(0)
  if (abs >= 100) return value.toFixed(1)
  if (abs >= 10) return value.toFixed(2)
  return value.toFixed(3)
}

/** "median [min–max]" */
function formatSummary (summary: Summary): string {
  return `${num(summary.median)} [${num(summary.min)}–${num(summary.max)}]`
}

export function formatTable (rows: ResultRow[]): string {
  const header = ['suite', 'metric', 'unit', 'Parley median [min–max]', 'baseline', 'baseline median [min–max]', 'ratio', 'goal', 'met']
  const lines = rows.map(r => [
    r.suite,
    r.metric,
    r.unit,
    formatSummary(r.parley),
    r.baseline?.label ?? (r.error !== undefined ? 'NOT MEASURED (see notes)' : ''),
    r.baseline !== undefined ? formatSummary(r.baseline.summary) : '',
    r.ratio !== undefined ? r.ratio.toFixed(2) : '',
    r.goal?.text ?? '',
    r.goal === undefined ? '' : (r.goal.met ? 'yes' : 'NO')
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => (l[i] ?? '').length)))
  const format = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ').trimEnd()
  const notes = rows.flatMap(r => [
    ...(r.note !== undefined ? [`  ${r.suite} / ${r.metric}: ${r.note}`] : []),
    ...(r.error !== undefined ? [`  ${r.suite} / ${r.metric}: baseline NOT MEASURED: ${r.error}`] : [])
  ])
  return [format(header), widths.map(w => '-'.repeat(w)).join('-|-'), ...lines.map(format), ...(notes.length > 0 ? ['', 'notes:', ...notes] : [])].join('\n')
}
