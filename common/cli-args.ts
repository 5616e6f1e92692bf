/**
 * Command-line options of both programs, read with node:util's parseArgs and refused in our own
 * words: parseArgs' own ("Unknown option '-1'. To specify a positional argument starting with a
 * '-', place it at the end of the command after '--' …") speak to a programmer, not to a person
 * starting a peer (a tester's finding).
 */
import { parseArgs } from 'node:util'
import type { ParseArgsOptionsConfig } from 'node:util'
import { ErrorCode, ParleyError } from './errors.ts'

export function readArguments<T extends ParseArgsOptionsConfig> (args: string[], options: T): ReturnType<typeof parseArgs<{ args: string[], options: T, allowPositionals: true, strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new ParleyError(ErrorCode.Usage, explain(err, options, args))
  }
}

function explain (err: unknown, options: ParseArgsOptionsConfig, args: string[]): string {
  const code = (err as { code?: unknown }).code
  const message = err instanceof Error ? err.message : String(err)
  // parseArgs names the word in quotes at the start of its message: "Unknown option '--bogus'".
  const word = (/'([^']*)'/.exec(message)?.[1] ?? '').slice(0, 40)
  const name = word.replace(/^--?/, '').replace(/ <value>$/, '')
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      // Quoted as JSON: a control character typed in the word is shown, not acted on.
      return `${JSON.stringify(word)} is not an option; the options are ${Object.keys(options).map(option => `--${option}`).join(', ')}`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      if (options[name]?.type !== 'string') return `--${name} takes no value`
      // A value that starts with a dash is read as an option: `--port -1` said only "needs a
      // value after it", though one was there (round 20).
      const at = args.indexOf(`--${name}`)
      const given = at === -1 ? undefined : args[at + 1]
      return given?.startsWith('-') === true
        ? `--${name} needs a value after it, and ${JSON.stringify(given.slice(0, 40))} is not one`
        : `--${name} needs a value after it`
    }
    default:
      return message
  }
}
