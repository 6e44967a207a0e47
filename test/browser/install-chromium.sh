#!/usr/bin/env bash
# Installs Debian's chromium for test/UploadPage.test.ts (driven by playwright-core, which
# brings no browser of its own). Needs root; does nothing when chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install --no-install-recommends -y chromium
/usr/bin/chromium --version
