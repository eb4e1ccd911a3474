#!/usr/bin/env bash
# CLI contract: --help everywhere exits 0; unknown options, missing values and unknown
# commands exit 2 with a one-line error followed by the usage. The same for the developer
# tools' program sernet-bench, and the user's sernet no longer has its commands.
set -u
bin=${SERNET_BIN:?}
bench=${SERNET_BENCH_BIN:?}
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
check 0 "sernet-bench help" "$bench" --help
check 2 "sernet-bench: no command" "$bench"
check 2 "sernet-bench: unknown command" "$bench" frobnicate
head -n1 /tmp/cli_err.$$ | grep -q "^sernet-bench: unknown command 'frobnicate'" || { fail=$((fail+1)); echo "FAIL: sernet-bench error does not name itself"; }
bench_cmds=$("$bench" --help | awk '/^commands:/{f=1;next} f && NF>1 && /^  /{print $1}')
[ "$(echo $bench_cmds)" = "bench bench-phash bench-pseudo bench-conv bench-eval loadbench toytrain dump-engine results-diff" ] \
  || { fail=$((fail+1)); echo "FAIL: sernet-bench commands: $(echo $bench_cmds)"; }
for cmd in $bench_cmds; do
  check 0 "sernet-bench $cmd --help" "$bench" "$cmd" --help
  head -n1 /tmp/cli_out.$$ | grep -q "^usage: sernet-bench $cmd" || { fail=$((fail+1)); echo "FAIL: sernet-bench $cmd usage line"; }
  check 2 "sernet-bench $cmd unknown option" "$bench" "$cmd" --no-such-option
  head -n1 /tmp/cli_err.$$ | grep -q "^sernet-bench $cmd: .*no-such-option" || { fail=$((fail+1)); echo "FAIL: sernet-bench $cmd: error does not name the program and option"; }
  check 2 "sernet has no $cmd" "$bin" "$cmd" --help
done
# bench-conv runs on a tiny net: a row per layer shape (seg: 3 per level but the last, which has 2, and the output)
check 0 "bench-conv tiny" "$bench" bench-conv --net seg --width 4 --size 32 --batch 1 --reps 1
[ "$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9]+ \|' /tmp/cli_out.$$)" = 9 ] || { fail=$((fail+1)); echo "FAIL: bench-conv rows"; cat /tmp/cli_out.$$; }
check 2 "bench-conv bad net" "$bench" bench-conv --net foo
check 2 "config --set without value" "$bin" config --set
check 1 "config with unknown key" "$bin" config --set nokey=1
grep -q "nokey" /tmp/cli_err.$$ || { fail=$((fail+1)); echo "FAIL: unknown key not named"; }
check 1 "image size not divisible by 16" "$bin" config --set image_size=100
grep -q "image_size = 100" /tmp/cli_err.$$ || { fail=$((fail+1)); echo "FAIL: bad size not named"; }
rm -f /tmp/cli_out.$$ /tmp/cli_err.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
