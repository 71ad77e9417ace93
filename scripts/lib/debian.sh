#!/usr/bin/env bash
# Shared by the scripts that debootstrap a Debian root filesystem (hijack tests, images, e2e).
# Sourced, not run.

# apt_mirror: the apt mirror configured on this machine (deb822 or one-line format), Debian's
# default otherwise.
apt_mirror() {
  local uri=""
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
  if [[ -z "$uri" ]]; then
    uri="$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$2 ~ /debian\/?$/ {print $2}' | head -n1 || true)"
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}
