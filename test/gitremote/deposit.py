#!/usr/bin/python3
"""An independent implementation of datalad-next's repository deposit, for tests.

Follows the format as datalad-next writes and reads it (gitremotes/datalad_annex.py):
XDLRA--refs is "<sha> <ref>" lines plus "@<HEAD target> HEAD"; XDLRA--repo-export
is shutil.make_archive's ZIP of the bare repository, LZMA-compressed; keys sit
at hashdirmixed paths 3f7/4a3 and eb3/ca0 of a directory special remote.

  deposit.py write BAREREPO STOREDIR [export] deposit BAREREPO as datalad-next does (export:
                                              the exporttree=yes layout .datalad/dotgit/refs, repo.zip)
  deposit.py read STOREDIR DEST               extract as datalad-next does; print JSON
  deposit.py hostile STOREDIR KIND            replace the archive by a hostile one
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile

KEYS = {'refs': ('3f7/4a3', 'XDLRA--refs'), 'repo': ('eb3/ca0', 'XDLRA--repo-export')}
SAFE = ['branches', 'hooks', 'info', 'objects', 'refs', 'config', 'packed-refs', 'description', 'HEAD']


EXPORT = {'refs': '.datalad/dotgit/refs', 'repo': '.datalad/dotgit/repo.zip'}
LAYOUT = {'export': False}


def keypath(store, which):
    if LAYOUT['export']:
        return os.path.join(store, EXPORT[which])
    prefix, key = KEYS[which]
    return os.path.join(store, prefix, key, key)


def git(repo, *args):
    return subprocess.run(['git', '--git-dir', repo, *args], check=True, capture_output=True, text=True).stdout


def format_refs(repo):
    refs = git(repo, 'for-each-ref', '--format=%(objectname) %(refname)').strip()
    head = git(repo, 'symbolic-ref', 'HEAD').strip()
    return (refs + '\n' if refs else '') + '@' + head + ' HEAD\n'


class LZMAZipFile(zipfile.ZipFile):
    def __init__(self, *args, **kwargs):
        kwargs.pop('compression', None)
        super().__init__(*args, compression=zipfile.ZIP_LZMA, **kwargs)


def write(repo, store):
    git(repo, 'gc', '--quiet')
    for which in KEYS:
        os.makedirs(os.path.dirname(keypath(store, which)), exist_ok=True)
    orig = zipfile.ZipFile
    zipfile.ZipFile = LZMAZipFile  # as datalad-next patches it for make_archive
    try:
        archive = shutil.make_archive(os.path.join(store, 'repoarchive'), 'zip', root_dir=repo, base_dir=os.curdir)
    finally:
        zipfile.ZipFile = orig
    os.replace(archive, keypath(store, 'repo'))
    with open(keypath(store, 'refs'), 'w') as f:
        f.write(format_refs(repo))


def read(store, dest):
    with open(keypath(store, 'refs')) as f:
        refs = f.read()
    with zipfile.ZipFile(keypath(store, 'repo')) as z:
        methods = sorted({i.compress_type for i in z.infolist()})
        names = z.namelist()
        z.extractall(dest, members=[m for m in names if any(m.startswith(p) for p in SAFE)])
    print(json.dumps({'refs': refs, 'mirror_refs': format_refs(dest), 'methods': methods, 'names': names,
                      'fsck': subprocess.run(['git', '--git-dir', dest, 'fsck', '--no-dangling'], capture_output=True).returncode}))


def hostile(store, kind):
    path = keypath(store, 'repo')
    with zipfile.ZipFile(path, 'a') as z:
        if kind == 'dotdot':
            z.writestr('objects/../../escaped', 'x')
        elif kind == 'absolute':
            info = zipfile.ZipInfo('objects/x')
            info.filename = '/tmp/annexd-escaped'
            z.writestr(info, 'x')
        elif kind == 'symlink':
            info = zipfile.ZipInfo('refs/heads/link')
            info.external_attr = (0o120777 << 16)
            info.create_system = 3
            z.writestr(info, '/etc/passwd')
        elif kind == 'hook':
            info = zipfile.ZipInfo('hooks/pre-receive')
            info.external_attr = (0o100755 << 16)
            info.create_system = 3
            z.writestr(info, '#!/bin/sh\ntouch "$HOME/hook-ran"\n')


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'write':
        LAYOUT['export'] = sys.argv[4:] == ['export']
        write(sys.argv[2], sys.argv[3])
    elif cmd == 'read':
        read(sys.argv[2], sys.argv[3])
    elif cmd == 'hostile':
        hostile(sys.argv[2], sys.argv[3])
    else:
        sys.exit('unknown command ' + cmd)
