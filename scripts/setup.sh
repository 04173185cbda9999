#!/usr/bin/env bash
# Everything a fresh Debian/Ubuntu machine with Node.js >= 20 needs, idempotent and quick when done:
# system packages (as root, or via sudo), npm dependencies from package-lock.json, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package
declare -A PACKAGES=(
  [git]=git
  [git-annex]=git-annex
  [gpg]=gnupg          # git-annex's encryption=shared needs it
  [curl]=curl          # benchmarks compare against a raw upload
  [gnome-keyring-daemon]=gnome-keyring   # a real Secret Service for the keyring tests
  [dbus-run-session]=dbus                # a private D-Bus session for them
  [secret-tool]=libsecret-tools          # how python-keyring (DataLad) stores secrets, for interop tests
  [lighttpd]=lighttpd                    # WebDAV test server (with lighttpd-mod-webdav below)
  [apache2]=apache2                      # WebDAV test server (mod_dav_fs)
  [htpasswd]=apache2-utils               # the apache test server's password file
  [openssl]=openssl                      # certificates for the TLS error tests
  [datalad]=datalad                      # DataLad compatibility tests (clone, get, add-archive-content)
  [rclone]=rclone                        # WebDAV test server (rclone serve webdav)
  [bzip2]=bzip2                          # the archive remote reads tar.bz2 through it
  [xz]=xz-utils                          # archive tests: tar.xz archives
  [zip]=zip                              # archive tests: zip archives
  [7z]=p7zip-full                        # archive tests: DataLad extracts with it; a 7z archive is refused
  [python3]=python3                      # archive tests: archives no archiver makes on purpose
  [ssh-keygen]=openssh-client            # SSH tests: keys, known_hosts, git's own ssh
  [chromium]=chromium                    # the daemon's status page is tested in headless Chromium (playwright-core drives it)
)
missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
# lighttpd's WebDAV module has no command to look for.
[ -f /usr/lib/lighttpd/mod_webdav.so ] || missing+=(lighttpd-mod-webdav)
# sshd is in /usr/sbin, often not on a user's PATH: the SSH tests start it from there.
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if ((${#missing[@]})); then
  echo "annexd setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=(); elif command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "annexd setup: please install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm dependencies: reinstalled exactly from the lock file whenever it changes.
stamp=node_modules/.annexd-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

npm run --silent build
