/** An error the user can act on: printed as one line, the helper exits non-zero. */
export class GitRemoteError extends Error {
  override readonly name = 'GitRemoteError';
}
