/**
 * Words for the remote login shell (POSIX sh, which sshd runs the command
 * with): every value goes in single quotes, so spaces, `$`, `;` and quotes in
 * a path stay part of the path.
 */

export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * A path on the host as a shell word: `~/x` and `~user/x` keep the tilde
 * outside the quotes (the shell expands it, as git does for such paths);
 * the rest is quoted.
 */
export function shPath(path: string): string {
  const m = /^(~[a-z_][a-z0-9_.-]*|~)(\/.*)?$/i.exec(path);
  if (!m) return shQuote(path);
  const rest = (m[2] ?? '/').slice(1);
  return `${m[1]}/${rest ? shQuote(rest) : ''}`;
}
