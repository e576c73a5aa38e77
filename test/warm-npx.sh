#!/usr/bin/env bash
# The examples test runs README's commands as printed: `npx chaussette ...`.
# The first npx from a checkout installs the checkout into npm's npx cache,
# and that install runs our `prepare` script, which rebuilds dist/ while other
# test files are running from it. Doing that first install here, before tap
# starts, keeps the rebuild out of the run (later ones find the cache).
set -euo pipefail
cd "$(dirname "$0")/.."
npx --yes chaussette --version > /dev/null
