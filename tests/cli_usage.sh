#!/usr/bin/env bash
# CLI contract: --help everywhere exits 0; unknown options, missing values and unknown
# commands exit 2 with a one-line error followed by the usage.
set -u
bin=${SERNET_BIN:?}
fail=0; pass=0
check() { # expected-status description command...
  local want=$1 what=$2; shift 2
  "$@" >/tmp/cli_out.$$ 2>/tmp/cli_err.$$; local got=$?
  if [ "$got" = "$want" ]; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL: $what: exit $got, want $want"; cat /tmp/cli_err.$$; fi
}
check 0 "top-level help" "$bin" --help
check 2 "no command" "$bin"
check 2 "unknown command" "$bin" frobnicate
check 0 "version" "$bin" --version
grep -q "^gemm:" /tmp/cli_out.$$ || { fail=$((fail+1)); echo "FAIL: --version lacks gemm line"; }
for cmd in $("$bin" --help | awk '/^commands:/{f=1;next} f && NF>1 && /^  /{print $1}'); do
  check 0 "$cmd --help" "$bin" "$cmd" --help
  check 2 "$cmd unknown option" "$bin" "$cmd" --no-such-option
  head -n1 /tmp/cli_err.$$ | grep -q "no-such-option" || { fail=$((fail+1)); echo "FAIL: $cmd: error does not name the option"; }
done
check 2 "config --set without value" "$bin" config --set
check 1 "config with unknown key" "$bin" config --set nokey=1
grep -q "nokey" /tmp/cli_err.$$ || { fail=$((fail+1)); echo "FAIL: unknown key not named"; }
check 1 "image size not divisible by 16" "$bin" config --set image_size=100
grep -q "image_size = 100" /tmp/cli_err.$$ || { fail=$((fail+1)); echo "FAIL: bad size not named"; }
rm -f /tmp/cli_out.$$ /tmp/cli_err.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
