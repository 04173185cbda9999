import { resolve } from 'node:path';
import { createSshSibling, EXISTING, type CreateSiblingRecord, type Existing } from '../../orchestration/ssh/create-sibling.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';
import { renderResult } from '../render/results.js';

const HELP = `Usage: annexd create-sibling [user@]host:path [-s NAME] [--existing skip|error|reconfigure]
                             [-i KEYFILE]... [--description TEXT]
                             [--publish-depends NAME]... [--annex-wanted EXPR]
                             [-d DATASET] [--json]
       annexd create-sibling ssh://[user@]host[:port]/path ...

Creates a bare git repository on an SSH host, runs "git annex init" there so
it can hold annexed content, and adds it to the dataset as the git sibling
NAME (remote.NAME.url, .fetch, .annex-uuid; with --publish-depends, the
remote.NAME.datalad-publish-depends values DataLad writes). Then
"annexd push --to NAME" or "datalad push --to NAME" publishes to it, or
"git push NAME" and "git annex copy --to NAME".

The path is where the repository goes on the host: absolute, ~/…, or relative
to the login directory (host:path). A port goes in the URL form only
(ssh://host:2222/srv/ds.git) or in ~/.ssh/config, which is read for HostName,
User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile, HostKeyAlias and
ConnectTimeout, as git's own ssh reads it.

The host key must already be in ~/.ssh/known_hosts (or /etc/ssh/ssh_known_hosts):
an unknown host is refused with its fingerprint and the command that adds it,
a changed or revoked key is refused, and nothing is created. Login is by
ssh-agent (SSH_AUTH_SOCK) or key files (~/.ssh/id_ed25519, id_ecdsa, id_rsa,
or -i); passwords are never asked for or accepted. A key with a passphrase is
used through ssh-agent (ssh-add KEYFILE).

Options:
  -s, --name NAME          sibling name (default: the host name, as DataLad)
  --existing MODE          when the sibling NAME or the path on the host exists:
                           error (default): refuse; skip: leave everything as it
                           is; reconfigure: use the existing git repository there
                           (git-annex is initialised in it if it is not) and
                           (re)write the sibling. A path that is not a git
                           repository is never touched.
  -i, --identity KEYFILE   private key to log in with (repeatable; instead of
                           the default ones, and tried before ssh-agent's keys)
  --description TEXT       git-annex description of the new repository
  --publish-depends NAME   sibling to publish to before this one (repeatable)
  --annex-wanted EXPR      preferred content of the sibling (git annex wanted)
  -d, --dataset DATASET    the dataset (default: the current directory)
  --json                   print the result record as one JSON object

Result: one line "create-sibling(STATUS): DATASET (dataset) [MESSAGE]", or with
--json the record {action: "create-sibling", status, path, refds, type, sibling_name,
url, operation, host, target_path, annex_uuid, git_reachable, message}.
git and git-annex reach the sibling with your own ssh afterwards: one
"git ls-remote" checks that they can (git_reachable), and the message says
what to fix when not. A key given with -i is this command's only.
Exit codes: 0 ok or notneeded (skipped), 1 failed or refused, 2 usage error.
`;

export const createSiblingCommand: Command = {
  name: 'create-sibling',
  summary: 'create a bare git-annex repository on an SSH host and add it as a sibling',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      name: { type: 'string', short: 's' },
      existing: { type: 'string', default: 'error' },
      identity: { type: 'string', short: 'i', multiple: true },
      description: { type: 'string' },
      'publish-depends': { type: 'string', multiple: true },
      'annex-wanted': { type: 'string' },
      dataset: { type: 'string', short: 'd' },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) throw new UsageError('create-sibling takes one SSH target: [user@]host:path or ssh://[user@]host[:port]/path');
    const existing = values.existing as Existing;
    if (!EXISTING.includes(existing)) throw new UsageError(`--existing must be one of ${EXISTING.join(', ')}, not "${values.existing}"`);
    const dataset = resolve(values.dataset ?? process.cwd());
    // A status line on a terminal only: scripts and --json get the result alone.
    const live = process.stderr.isTTY && !values.json;
    const status = (text: string): void => void (live && process.stderr.write(`\r\x1b[K${text}`));
    const result: CreateSiblingRecord = await createSshSibling({
      dataset,
      onStep: (step) => status(`create-sibling: ${step} …`),
      target: positionals[0] as string,
      ...(values.name !== undefined ? { name: values.name } : {}),
      existing,
      ...(values.identity ? { identityFiles: values.identity.map((f) => resolve(f)) } : {}),
      ...(values.description !== undefined ? { description: values.description } : {}),
      ...(values['publish-depends'] ? { publishDepends: values['publish-depends'] } : {}),
      ...(values['annex-wanted'] !== undefined ? { annexWanted: values['annex-wanted'] } : {}),
    }).finally(() => status(''));
    if (values.json) out(JSON.stringify(result));
    // DataLad's rendering; it hides notneeded results, but a skip asked for is worth its line.
    else out(renderResult(result) ?? `create-sibling(notneeded): . (dataset) [${result.message}]`);
    return result.status === 'ok' || result.status === 'notneeded' ? 0 : 1;
  },
};
