#!/usr/bin/env bash
# Instructions per private index request, counted by callgrind (repeatable whatever else the
# machine is doing, unlike wrk's throughput on a shared 2-core machine).
#
#   cargo xtask bench --quick --keep --skip-lockfile --skip-delayed-lockfile --skip-search \
#       --skip-publish --skip-graphql            # prints "bench: kept /tmp/raktar-bench-XXXX"
#   backend/xtask/scripts/callgrind-index.sh target/release/raktar /tmp/raktar-bench-XXXX [N]
#
# Runs the binary under callgrind twice on a copy of the kept data directory: once answering only
# the readiness probe, once answering N (default 2000) authenticated index requests on one
# keep-alive connection (the paths and token of the kept wrk script), and prints
# (total(N) - total(0)) / N. Compare two binaries by running it with each.
set -euo pipefail
bin=$1 kept=$2 n=${3:-2000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
token=$(grep -o 'Authorization"\] = "[^"]*"' "$kept/raktar.lua" | head -1 | sed 's/.*= "//;s/"$//')
mapfile -t paths < <(grep -o '"/index/[^"]*"' "$kept/raktar.lua" | tr -d '"')
[ ${#paths[@]} -gt 0 ] || { echo "no index paths in $kept/raktar.lua" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # run COUNT -> prints the instruction total
    local count=$1 dir=$work/run-$1
    mkdir -p "$dir" && cp -r "$kept/data" "$dir/data"
    local port=$((20000 + RANDOM % 20000))
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" serve --listen "127.0.0.1:$port" \
        --data-dir "$dir/data" --public-url "http://127.0.0.1:$port" >"$dir/log" 2>&1 &
    local pid=$!
    for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.2; done
    if [ "$count" -gt 0 ]; then
        local urls=()
        for i in $(seq "$count"); do urls+=("http://127.0.0.1:$port${paths[$((i % ${#paths[@]}))]}"); done
        curl -s -w '%{stderr}%{http_code}\n' -H "Authorization: $token" "${urls[@]}" 2>"$dir/codes" >/dev/null
        local ok; ok=$(grep -c '^200$' "$dir/codes" || true)
        [ "$ok" -eq "$count" ] || { echo "only $ok of $count requests answered 200" >&2; exit 1; }
    fi
    kill -TERM "$pid"; wait "$pid" || true
    grep '^summary:' "$dir/cg.out" | awk '{print $2}'
}
base=$(run 0)
total=$(run "$n")
echo "$bin: $(( (total - base) / n )) instructions per index request ($n requests; idle run $base, loaded run $total)"
