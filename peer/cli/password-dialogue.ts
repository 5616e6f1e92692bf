/**
 * SIGNUP's, LOGIN's and PASSWORD's passwords at a hidden prompt, as passwd(1) asks for one: a password that
 * cannot be right is asked for again at once, with the reason, a few times in all. Until
 * 2026-12-06 the command failed back to the visible command prompt, where a person typing ahead
 * for `Again:` typed the password on screen (a tester's finding). The question itself (no echo,
 * kept out of the history) is the prompt's: `ask`.
 */
import { ErrorCode, ParleyError } from '../../common/errors.ts'
import { passwordProblem } from '../account.ts'

/** Ask `label` without echo; `problem`, if given, is said first (why it is asked again). */
export type AskHidden = (label: string, problem?: string) => Promise<string>

/** A password that cannot be right is asked for at most this many times in all; then the
 * command gives up. */
const PASSWORD_TRIES = 3

/** `isNew`: SIGNUP's, typed twice and held to the length rule; else LOGIN's. `current`: the
 * password a new one replaces (PASSWORD), which it may not be. */
export async function askPassword (ask: AskHidden, isNew: boolean, label = 'Password: ', current?: string): Promise<string> {
  let problem: string | undefined
  for (let tries = 1; ; tries++) {
    const password = await ask(label, problem)
    problem = isNew ? await newPasswordProblem(ask, password, current) : emptyPasswordProblem(password)
    if (problem === undefined) return password
    if (tries === PASSWORD_TRIES) throw new ParleyError(ErrorCode.Usage, `${problem} (asked ${PASSWORD_TRIES} times; nothing was done)`)
  }
}

/** PASSWORD's: the current password, checked (`check` throws if it is wrong), then the new one,
 * typed twice, as SIGNUP's. */
export async function askPasswordChange (ask: AskHidden, check: (current: string) => Promise<void> = async () => {}): Promise<{ current: string, next: string }> {
  const current = await askPassword(ask, false, 'Current password: ')
  await check(current)
  return { current, next: await askPassword(ask, true, 'New password: ', current) }
}

/** What is wrong with a new password: the length rule, or being the current one, checked before
 * `Again:` is asked (round 48: asked twice, then refused as the current one, and not asked
 * again), or a second entry that differs. */
async function newPasswordProblem (ask: AskHidden, password: string, current: string | undefined): Promise<string | undefined> {
  const refused = passwordProblem(password)
  if (refused !== undefined) return refused.message
  if (password === current) return 'the new password is the current one: choose another'
  return await ask('Again: ') === password ? undefined : 'the two passwords differ'
}

/** An empty password signs nobody in (a new one has 8 characters at least): asked for again
 * rather than spent on a key derivation and a sign-in that fails, which the rendezvous counts
 * against the account's throttle (rendezvous/ratelimit.ts). */
function emptyPasswordProblem (password: string): string | undefined {
  return password === '' ? 'no password was typed' : undefined
}
