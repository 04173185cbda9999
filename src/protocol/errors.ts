/**
 * Errors that cross the protocol boundary. A backend throws RemoteError (or any
 * Error) and the session turns it into the matching -FAILURE / -UNKNOWN reply;
 * it never takes the process down.
 */

/** A failure with a message meant for the user, e.g. "bucket x does not exist". */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Thrown by a backend for an optional request it does not implement. */
export class UnsupportedRequestError extends Error {
  override readonly name = 'UnsupportedRequestError';
  constructor(what: string) {
    super(`${what} is not supported`);
  }
}

/** git-annex answered a query with ERROR (e.g. "cannot send GETUUID here"). */
export class AnnexQueryError extends Error {
  override readonly name = 'AnnexQueryError';
  constructor(
    readonly query: string,
    readonly annexMessage: string,
  ) {
    super(`git-annex refused ${query}: ${annexMessage}`);
  }
}

/** The conversation ended (stdin closed) while a query waited for its answer. */
export class SessionClosedError extends Error {
  override readonly name = 'SessionClosedError';
  constructor() {
    super('git-annex closed the connection');
  }
}

/** Best available one-line description of anything thrown. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  return String(err);
}
