# Sourced first by the integration scripts and benchmarks that drive pepsal on the lab testbed:
# repository paths, the shared helpers, and the root requirement.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 1
BUILD=${BUILD:-$REPO/build}
. test/lib/check.sh
. test/lib/pep.sh
. test/lab/testbed.sh
require_root
