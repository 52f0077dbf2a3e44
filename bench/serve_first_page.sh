#!/bin/bash
# How fast `perfscope serve` shows its first page on a 1,000,000-sample profile (issue 23): the
# page (HTML, script, stylesheet) and the API calls it makes to draw its first view (meta,
# timeline, top), fetched by curl one after another over loopback once serve has printed its URL.
# Then the other views' first calls (flame, callers, source, a filtered top) and the same first
# page again (answered from serve's cache). Loading the profile is timed apart: it happens before
# the URL is printed.
#
#   bench/serve_first_page.sh [BUILD_DIR] [SAMPLES]
#
# The profile is made by bench/make_serve_profile.py (seeded: the same file every run) in
# $TMPDIR/perfscope-serve-bench/ and kept there for the next run.
set -euo pipefail
build=${1:-build}
samples=${2:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
perfscope=$(cd "$build" && pwd)/perfscope
work=${TMPDIR:-/tmp}/perfscope-serve-bench
mkdir -p "$work"
profile=$work/profile-$samples.pb.gz
if [[ ! -s $profile ]]; then
  echo "writing a $samples-sample profile to $profile ..." >&2
  python3 "$here/make_serve_profile.py" "$profile.tmp" "$samples"
  mv "$profile.tmp" "$profile"
fi

fifo=$work/url.fifo
rm -f "$fifo" && mkfifo "$fifo"
start=$(date +%s.%N)
"$perfscope" serve -i "$profile" --port 0 >"$fifo" 2>"$work/serve.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r url <"$fifo"
ready=$(date +%s.%N)

# GETs one URL; prints its seconds (curl's time_total) and adds them to $sum.
sum=0
get() {
  local t
  t=$(curl -sS -o /dev/null -w '%{time_total}' "$url$1")
  printf '  %-44s %6.3f s\n' "$1" "$t"
  sum=$(echo "$sum + $t" | bc -l)
}
first_page() {
  sum=0
  get ""
  get "app.js"
  get "app.css"
  get "api/meta"
  get "api/timeline"
  get "api/top?n=2000"
}

echo "perfscope serve on $samples samples ($(du -h "$profile" | cut -f1) gzipped pprof)"
printf 'load and listen (before the URL):              %6.3f s\n' "$(echo "$ready - $start" | bc -l)"
echo "first page:"
first_page
printf 'first page in all:                             %6.3f s\n' "$sum"
echo "other views, first time:"
sum=0
get "api/flame"
fn=$(curl -sS "${url}api/top?n=1" | python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.load(sys.stdin)["rows"][0][0]))')
get "api/callers?fn=$fn"
get "api/source?fn=$fn"
get "api/top?n=2000&pid=100"
get "api/flame?time=10-20"
echo "first page again (cached answers):"
first_page
printf 'first page again in all:                       %6.3f s\n' "$sum"
