/**
 * Refusals of what a member sent to a group we have left (a text, or its key handed over): its
 * sender is told and gives it up; our person need not hear of it (until 2026-12-06 a member who
 * left mid-burst was warned "refused incoming data from eve (12D3…): the recipient is no longer
 * in club", about themselves, and one who left right after joining was warned of the key the
 * last member handed over meanwhile: testers' findings, rounds 5 and 7).
 */
import { ErrorCode, ParleyError } from '../../common/errors.ts'

const refusalsAboutUs = new WeakSet<Error>()

/** The refusal of something sent to `group`, which we have left. */
export function leftGroupRefusal (group: string): ParleyError {
  const left = new ParleyError(ErrorCode.Forbidden, `the recipient is no longer in ${group}`)
  refusalsAboutUs.add(left)
  return left
}

/** Is this refusal ours for having left the group? */
export function refusedForLeaving (err: Error): boolean {
  return refusalsAboutUs.has(err)
}
