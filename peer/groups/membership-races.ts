/**
 * What a group's membership changing under a message or a key hand-over makes fail, and nobody
 * need be warned of: it mends itself, or was never wrong.
 *
 * - A refusal of what a member sent to a group we have left (a text, or its key handed over):
 *   its sender is told and gives it up; our person need not hear of it (until 2026-12-06 a member
 *   who left mid-burst was warned "refused incoming data from eve (12D3…): the recipient is no
 *   longer in club", about themselves: a tester's finding, round 5).
 * - A refusal of a key for an epoch the group has moved on from (the member joined as the key of
 *   the epoch before was handed round, and left, or someone else did, which made the next one):
 *   the next epoch's key comes from its maker. Each member of a group of six warned of it, and
 *   the newcomer once per member (round 8).
 * - A delivery to a member who left before it reached them: the message is not theirs any more,
 *   as one sent after they left never was. It was reported undelivered and its message `failed`
 *   though every member got it (round 8).
 */
import { ErrorCode, ErrorMark, ParleyError } from '../../common/errors.ts'

const quietRefusals = new ErrorMark()
const recipientsLeft = new ErrorMark()

/** The refusal of something sent to `group`, which we have left. */
export function leftGroupRefusal (group: string): ParleyError {
  return quietRefusals.add(new ParleyError(ErrorCode.Forbidden, `the recipient is no longer in ${group}`))
}

/** The refusal of a key for `epoch` of `group`, which has moved on to `current`. */
export function staleKeyRefusal (group: string, epoch: number, current: number): ParleyError {
  return quietRefusals.add(new ParleyError(ErrorCode.Conflict, `key for epoch ${epoch} of ${group}, which is at ${current}`))
}

/** Is this a refusal we make that our person need not hear of (either above)? */
export function refusedQuietly (err: Error): boolean {
  return quietRefusals.has(err)
}

/** A delivery to `recipient`, who is no longer in `group`. */
export function recipientLeft (recipient: string, group: string): ParleyError {
  return recipientsLeft.add(new ParleyError(ErrorCode.Forbidden, `${recipient} is no longer in ${group}`))
}

export function isRecipientLeft (err: Error): boolean {
  return recipientsLeft.has(err)
}
