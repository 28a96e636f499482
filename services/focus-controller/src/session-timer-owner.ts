// RFC 4028 deadlines are kept in the memory of the conference's owner (dialog-ending.ts), which adopts
// them again when conferences move. A participant stored by another replica (FACTORY_MODE=join: the
// factory's owner answers the join) must not leave its deadline there, where it would never fire
// (a replica acts only on conferences it owns): its timer is handed to the owner instead.
import type { Logger } from '@sip-pubsub/platform';
import type { ParticipantRecord } from '@sip-pubsub/proto';

export interface SessionTimerPlacement {
  owns: (conferenceId: string) => boolean;
  /** Arms the deadline in this replica (DialogEnding.arm). */
  armHere: (p: ParticipantRecord) => void;
  /** Asks the conference's owner to arm it (FocusController.AdoptSessionTimer); resolves with its answer. */
  handOver: (conferenceId: string, legId: string) => Promise<boolean>;
  logger: Logger;
}

/** The `arm` hook of the focus: here when this replica owns the conference, else at its owner. */
export function sessionTimerArming(opts: SessionTimerPlacement): (p: ParticipantRecord) => void {
  return (p) => {
    if (opts.owns(p.conferenceId)) {
      opts.armHere(p);
      return;
    }
    // A record without a timer needs nothing at the owner (its re-INVITE, at the owner, disarms there).
    if (!p.sessionTimer) return;
    const log = { conferenceId: p.conferenceId, legId: p.legId };
    opts
      .handOver(p.conferenceId, p.legId)
      .then((armed) => opts.logger.debug({ ...log, armed }, 'session timer handed to the conference owner'))
      .catch((err: Error) =>
        // The owner adopts every owned timer after a membership change (adoptOwned) anyway.
        opts.logger.warn({ ...log, err: err.message }, 'session timer not handed to the conference owner'),
      );
  };
}
