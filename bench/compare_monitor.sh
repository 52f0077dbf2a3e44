#!/usr/bin/env bash
# perfscope monitor against perf stat -I: both count the same 10 software events on every CPU,
# read once a second, started together and run side by side for SECONDS:
#   perfscope monitor -a -e EVENTS --poll-interval 1s --flush-interval 5s --duration SECONDSs -o csv:FILE
#   perf stat -a -I 1000 --no-big-num -e EVENTS -o FILE          (ended with SIGINT after SECONDS)
# Two runs: CSV only, then CSV plus `-o prometheus:127.0.0.1:PORT` with a client fetching /metrics
# once a second over one kept-alive connection, as Prometheus does (perf stat is run beside it again).
# For each tool: its CPU time (user + sys from wait4, whole process), that as a share of one CPU over
# its lifetime, the CPU share after start-up (/proc/PID/task/*/schedstat from 2 s in to 1 s before
# the end), and its peak RSS (VmHWM, read every second); then the ratios perfscope / perf.
# Issue targets: under 0.1% of one CPU, under 15 MB of RSS, no more CPU time than perf stat.
# Usage: bench/compare_monitor.sh BUILD_DIR [SECONDS]     (default SECONDS 60; needs root).
# PERF_EXTRA="-A" adds flags to perf stat (-A: per-CPU lines, as perfscope writes).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [SECONDS]" >&2; exit 2; }
build=$1
seconds=${2:-60}
[ -x "$build/perfscope" ] || { echo "missing $build/perfscope: cmake -S . -B $build -G Ninja && cmake --build $build" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root: counting on every CPU" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is missing: scripts/install-deps.sh installs linux-perf" >&2; exit 1; }
[ "$seconds" -ge 5 ] 2>/dev/null || { echo "SECONDS must be a whole number, 5 or more" >&2; exit 2; }

out=$(mktemp -d)
driver=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true  # it stops its own children
    wait "$driver" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A copy: the build tree may be rebuilt during the run.
cp "$build/perfscope" "$out/perfscope"

events=cpu-clock,task-clock,page-faults,context-switches,cpu-migrations,minor-faults,major-faults,alignment-faults,emulation-faults,cgroup-switches
# shellcheck disable=SC2086
perf stat -a ${PERF_EXTRA:-} -e "$events" -o /dev/null -- true ||
  { echo "perf stat cannot count $events here (with PERF_EXTRA='${PERF_EXTRA:-}')" >&2; exit 1; }
echo "== $events"
echo "== every CPU ($(nproc) online), read every second for ${seconds} s; $(uname -r), perf $(perf --version | awk '{print $3}')"

# The driver runs in the background so that a signal to this script reaches the trap at once.
python3 - "$out" "$seconds" "$events" "${PERF_EXTRA:-}" <<'PY' &
import http.client, os, signal, socket, subprocess, sys, threading, time

out, seconds, events, perf_extra = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
children = []

def stop(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)  # also undoes the SIG_IGN a background job inherits

def schedstat_ns(pid):
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total

# Peak RSS of the running image. Not ru_maxrss: exec() folds the RSS of the forking parent (this
# Python process, about 20 MiB) into the child's ru_maxrss.
def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def scraper(port, until, result):
    conn, ok, failed, size = None, 0, 0, 0
    while time.monotonic() < until:
        tick = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            body = r.read()
            if r.status == 200:
                ok += 1
                size = len(body)
            else:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    if conn is not None:
        conn.close()
    result.update(ok=ok, failed=failed, bytes=size)

def run(name, prometheus):
    ps_cmd = [f"{out}/perfscope", "monitor", "-a", "-e", events, "--poll-interval", "1s",
              "--flush-interval", "5s", "--duration", f"{seconds}s", "-o", f"csv:{out}/ps.csv"]
    port = None
    if prometheus:
        port = free_port()
        ps_cmd += ["-o", f"prometheus:127.0.0.1:{port}"]
    perf_cmd = ["perf", "stat", "-a", "-I", "1000", "--no-big-num", *perf_extra, "-e", events,
                "-o", f"{out}/perf.txt"]
    ps_err = open(f"{out}/ps.err", "w")
    started = time.monotonic()
    ps = subprocess.Popen(ps_cmd, stdout=subprocess.DEVNULL, stderr=ps_err)
    perf = subprocess.Popen(perf_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children[:] = [ps, perf]
    scrape = {}
    scraper_thread = None
    if prometheus:
        time.sleep(0.5)  # the endpoint is up once the counters are open
        scraper_thread = threading.Thread(target=scraper, args=(port, started + seconds - 0.5, scrape),
                                          daemon=True)
        scraper_thread.start()
    # CPU after start-up: from 2 s in to 1 s before the end, both still running.
    time.sleep(max(0.0, started + 2 - time.monotonic()))
    early = {p.pid: schedstat_ns(p.pid) for p in children}
    t_early = time.monotonic()
    hwm = {p.pid: 0 for p in children}
    while time.monotonic() < started + seconds - 1:
        for p in children:
            hwm[p.pid] = max(hwm[p.pid], vm_hwm_kib(p.pid))
        time.sleep(min(1.0, max(0.0, started + seconds - 1 - time.monotonic())))
    late = {p.pid: schedstat_ns(p.pid) for p in children}
    t_late = time.monotonic()
    time.sleep(max(0.0, started + seconds - 0.05 - time.monotonic()))
    for p in children:
        hwm[p.pid] = max(hwm[p.pid], vm_hwm_kib(p.pid))
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    perf.send_signal(signal.SIGINT)  # perf stat prints its last interval and exits
    res = {}
    for label, p in (("perfscope monitor", ps), ("perf stat -I 1000", perf)):
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except ChildProcessError:
            continue
        p.returncode = 0
        res[label] = dict(
            cpu_ms=(ru.ru_utime + ru.ru_stime) * 1e3, wall_s=time.monotonic() - started,
            rss_mib=hwm[p.pid] / 1024,
            steady=(late[p.pid] - early[p.pid]) / 1e9 / (t_late - t_early) * 100, status=status)
    children.clear()
    ps_err.close()
    if scraper_thread:
        scraper_thread.join()
    # Sanity: what each wrote.
    with open(f"{out}/ps.csv") as f:
        rows = sum(1 for _ in f) - 1
    with open(f"{out}/perf.txt") as f:
        perf_lines = sum(1 for line in f if line.strip() and not line.startswith("#"))
    summary = open(f"{out}/ps.err").read().strip().splitlines()
    print(f"\n== {name}")
    print("   perfscope: " + (summary[-1] if summary else "(no output)").replace("perfscope monitor: ", ""))
    ps_status = res.get("perfscope monitor", {}).get("status", -1)
    print(f"   perfscope CSV rows: {rows}; perf stat lines: {perf_lines}"
          + ("" if ps_status == 0 else f"; perfscope exit status {ps_status} (wait4)"))
    if prometheus:
        print(f"   /metrics fetched {scrape.get('ok', 0)} times ({scrape.get('failed', 0)} failed), "
              f"{scrape.get('bytes', 0)} bytes each")
    print(f"   {'tool':<18} {'CPU ms':>8} {'% 1 CPU':>8} {'% after start':>13} {'peak RSS MiB':>12}")
    for label, r in res.items():
        print(f"   {label:<18} {r['cpu_ms']:8.1f} {r['cpu_ms'] / 10 / r['wall_s']:7.3f}% "
              f"{r['steady']:12.3f}% {r['rss_mib']:12.1f}")
    a, b = res.get("perfscope monitor"), res.get("perf stat -I 1000")
    if a and b:
        ratio = lambda x, y: f"{x / y:.2f}" if y else "inf"
        print(f"   ratio perfscope/perf: CPU {ratio(a['cpu_ms'], b['cpu_ms'])}, "
              f"after start-up {ratio(a['steady'], b['steady'])}, peak RSS {ratio(a['rss_mib'], b['rss_mib'])}")
        cpu_pct = a["cpu_ms"] / 10 / a["wall_s"]
        print(f"   targets: <0.1% of one CPU {'met' if cpu_pct < 0.1 else 'NOT met'} ({cpu_pct:.3f}%), "
              f"<15 MB RSS {'met' if a['rss_mib'] * 1.048576 < 15 else 'NOT met'} ({a['rss_mib'] * 1.048576:.1f} MB), "
              f"CPU <= perf stat {'met' if a['cpu_ms'] <= b['cpu_ms'] else 'NOT met'}")
    for f in ("ps.csv", "perf.txt", "ps.err"):
        os.remove(f"{out}/{f}")

try:
    run("CSV output", prometheus=False)
    run("CSV + Prometheus endpoint, /metrics fetched once a second", prometheus=True)
except KeyboardInterrupt:
    for p in children:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 5
    for p in children:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    sys.exit(130)
PY
driver=$!
status=0
wait "$driver" || status=$?
driver=""
echo "(CPU ms = user + sys of the whole process from wait4, start-up and exit included; % 1 CPU = that"
echo " over the process's lifetime; % after start = time on a CPU from 2 s in to 1 s before the end,"
echo " from /proc/PID/task/*/schedstat; peak RSS = VmHWM. Command: bench/compare_monitor.sh $build $seconds)"
exit "$status"
