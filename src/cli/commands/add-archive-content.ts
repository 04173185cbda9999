import { addArchiveContent, type AddRecord, type Existing } from '../../remotes/archive/add-content.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';

const EXISTING: Existing[] = ['fail', 'overwrite', 'archive-suffix'];

export const addArchiveContentCommand: Command = {
  name: 'add-archive-content',
  summary: 'register every file of an annexed archive with a dl+archive URL, as datalad add-archive-content does',
  help: `Usage: annexd add-archive-content ARCHIVE [--strip-leading-dirs] [--existing fail|overwrite|archive-suffix]
                                  [--delete] [--drop-after] [--json]

Adds every file inside ARCHIVE (an annexed tar, tar.gz, tar.bz2, tar.xz or zip)
as an annexed file beside it, each with the URL DataLad records,
dl+archive:ARCHIVEKEY#path=MEMBER&size=BYTES, claimed by the datalad-archives
special remote (created with DataLad's UUID if the repository has none; served
by annexd's git-annex-remote-datalad-archives or by DataLad's own). Then commits
those files. DataLad reads what this writes, and the other way round.

Options:
  --strip-leading-dirs  leave out the directories every file of the archive is under
  --existing MODE       when a file is already there: fail (default; nothing is added),
                        overwrite, or archive-suffix (NAME-ARCHIVE.EXT, as DataLad)
  --delete              remove the archive from the tree afterwards (git rm; its key,
                        content and URLs stay, so its files can still be retrieved)
  --drop-after          drop the added files' content afterwards (the archive serves it)
  --json                one JSON record per file, then a summary record
`,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      'strip-leading-dirs': { type: 'boolean', default: false },
      existing: { type: 'string', default: 'fail' },
      delete: { type: 'boolean', default: false },
      'drop-after': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) throw new UsageError('add-archive-content takes one ARCHIVE');
    const existing = values.existing as Existing;
    if (!EXISTING.includes(existing)) throw new UsageError(`--existing must be one of ${EXISTING.join(', ')}, not "${values.existing}"`);
    const show = (r: AddRecord): void => {
      if (values.json) out(JSON.stringify(r));
      else out(`add ${r.path} ${r.status === 'ok' ? 'ok' : `(${r.status}: ${r.message ?? ''})`}`);
    };
    const summary = await addArchiveContent({
      archive: positionals[0] as string,
      cwd: process.cwd(),
      stripLeadingDirs: values['strip-leading-dirs'],
      existing,
      delete: values.delete,
      dropAfter: values['drop-after'],
      report: show,
    });
    if (values.json) out(JSON.stringify({ action: 'add-archive-content', status: summary.failed ? 'error' : 'ok', ...summary }));
    else {
      out(
        `added ${summary.added} files from ${summary.archive}${summary.skipped ? `, skipped ${summary.skipped}` : ''}${summary.failed ? `, ${summary.failed} failed` : ''}${summary.dropped ? `, dropped ${summary.dropped}` : ''}${summary.commit ? '; committed' : ''}`,
      );
    }
    return summary.failed ? 1 : 0;
  },
};
