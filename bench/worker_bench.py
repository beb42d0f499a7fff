#!/usr/bin/python3
"""Keyed-counter benchmark of eddy-worker against a fast C++ function server, with the raw HTTP
rate of the same server measured by wrk in the same run (bench/raw_http.sh).

Pipeline: eddy-dev-kafka (topic bench-in, 8 partitions, preloaded with N records over K keys)
-> eddy-worker (one shard) -> HTTP -> eddy-bench-function (bench/counter, state `count`).
Reports messages/s in steady state (10%..90% of N), the worker's invocation latency p50/p99
(its own histogram), worker CPU and RSS, and the ratio worker msg/s / raw HTTP requests/s.

Usage: bench/worker_bench.py [--messages N] [--keys K] [--build DIR] [--set KEY=VALUE ...]
Standard library only.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_file(path, proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return open(path).read().strip()
        if proc.poll() is not None:
            sys.exit("%s exited early" % what)
        time.sleep(0.02)
    sys.exit("%s did not start" % what)


def http_get(port, path):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.decode(errors="replace")
    except OSError:
        return ""


def metric(text, name, labels=""):
    pattern = "^" + re.escape(name + ("{" + labels + "}" if labels else "")) + r" (\S+)"
    m = re.search(pattern, text, re.M)
    return float(m.group(1)) if m else 0.0


def histogram_quantiles(text, name, labels, qs):
    buckets = []
    for m in re.finditer(re.escape(name) + r'_bucket\{' + re.escape(labels) + r',le="([^"]+)"\} (\S+)', text):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets.append((le, float(m.group(2))))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    out = []
    for q in qs:
        target = q * total
        prev_le, prev_c = 0.0, 0.0
        value = float("nan")
        for le, c in buckets:
            if c >= target:
                # linear interpolation inside the bucket, like Prometheus' histogram_quantile
                if le == float("inf"):
                    value = prev_le
                else:
                    frac = 0 if c == prev_c else (target - prev_c) / (c - prev_c)
                    value = prev_le + (le - prev_le) * frac
                break
            prev_le, prev_c = le, c
        out.append(value)
    return out


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024  # MiB
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=400000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--wrk-duration", default="10s")
    ap.add_argument("--max-buffered", type=int, default=100000)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra worker config override (repeatable), e.g. checkpointing")
    args = ap.parse_args()
    binp = os.path.join(args.build, "bin")
    work = tempfile.mkdtemp(prefix="eddy-bench-")
    procs = []

    def start(argv, log):
        p = subprocess.Popen(argv, stdout=open(os.path.join(work, log), "w"),
                             stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    try:
        # 1. Raw HTTP rate of the function server (same binary, same bodies, same run).
        raw = subprocess.run(["bash", os.path.join(HERE, "raw_http.sh")], capture_output=True,
                             text=True, env=dict(os.environ, WRK_DURATION=args.wrk_duration,
                                                 EDDY_BENCH_FUNCTION=os.path.join(binp, "eddy-bench-function")))
        m = re.search(r"requests/s: (\S+)", raw.stdout)
        if raw.returncode != 0 or not m:
            sys.exit("raw HTTP measurement failed:\n" + raw.stdout + raw.stderr)
        raw_rps = float(m.group(1))
        lat = re.search(r"50%\s+(\S+).*?99%\s+(\S+)", raw.stdout, re.S)
        print("raw HTTP (wrk, 1 invocation per request): %.0f req/s, p50 %s, p99 %s" %
              (raw_rps, lat.group(1) if lat else "?", lat.group(2) if lat else "?"))

        # 2. Broker with preloaded records.
        kafka = start([os.path.join(binp, "eddy-dev-kafka"), "--topic", "bench-in:8",
                       "--bootstrap-file", os.path.join(work, "bootstrap")], "kafka.log")
        bootstrap = wait_file(os.path.join(work, "bootstrap"), kafka, "eddy-dev-kafka")
        lines = "".join("k%d:x\n" % (i % args.keys) for i in range(args.messages))
        t0 = time.time()
        prod = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "bench-in", "-K:",
                               "-X", "queue.buffering.max.messages=1000000"],
                              input=lines.encode(), capture_output=True)
        if prod.returncode != 0:
            sys.exit("kcat produce failed: " + prod.stderr.decode())
        print("preloaded %d records over %d keys in %.1f s" % (args.messages, args.keys, time.time() - t0))
        # The broker's own consume rate bounds any ingress: measure it (kcat, whole topic).
        t0 = time.time()
        cons = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "bench-in", "-o", "beginning",
                               "-e", "-q", "-f", "x\n"], capture_output=True)
        consumed = cons.stdout.count(b"\n")
        broker_rate = consumed / (time.time() - t0)
        print("broker consume rate (kcat, %d records): %.0f msg/s" % (consumed, broker_rate))

        # 3. Function server and worker.
        fn = start([os.path.join(binp, "eddy-bench-function"), "--port", "0", "--port-file",
                    os.path.join(work, "fport")], "function.log")
        fport = wait_file(os.path.join(work, "fport"), fn, "eddy-bench-function")
        module = os.path.join(work, "module.yaml")
        with open(module, "w") as f:
            f.write("""kind: io.statefun.endpoints.v2/http
spec:
  functions: bench/*
  urlPathTemplate: http://127.0.0.1:%s/{function.name}
---
kind: io.statefun.kafka.v1/ingress
spec:
  id: bench/in
  address: %s
  consumerGroupId: bench
  startupPosition:
    type: earliest
  topics:
    - topic: bench-in
      valueType: bench/raw
      targets:
        - bench/counter
""" % (fport, bootstrap))
        admin = free_port()
        worker = start([os.path.join(binp, "eddy-worker"), "--module", module,
                        "--set", "state_dir=" + os.path.join(work, "state"),
                        "--set", "admin_port=%d" % admin, "--set", "shards=%d" % args.shards,
                        "--set", "max_buffered_messages=%d" % args.max_buffered]
                       + [a for o in args.set for a in ("--set", o)], "worker.log")
        labels = 'namespace="bench",type="counter"'
        if os.environ.get("EDDY_BENCH_PROFILE"):
            # perf record the worker for a few seconds while it runs (diagnostics only).
            subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-p", str(worker.pid), "-o",
                              os.environ["EDDY_BENCH_PROFILE"], "--", "sleep", "3"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples = []  # (time, processed, buffered, cpu)
        deadline = time.time() + 300
        while time.time() < deadline:
            text = http_get(admin, "/metrics")
            if worker.poll() is not None:
                sys.exit("worker exited:\n" + open(os.path.join(work, "worker.log")).read())
            n_in = metric(text, "eddy_function_in_total", labels)
            buffered = metric(text, "eddy_buffered_messages")
            # processed = delivered to a mailbox and finished (reply applied)
            samples.append((time.time(), n_in - buffered, buffered, proc_cpu_seconds(worker.pid),
                            proc_cpu_seconds(fn.pid), proc_cpu_seconds(kafka.pid)))
            if n_in >= args.messages and buffered == 0:
                break
            time.sleep(0.1)
        else:
            sys.exit("timed out; last in_total=%d" % samples[-1][1])
        text = http_get(admin, "/metrics")
        rss = proc_status(worker.pid, "VmRSS")
        hwm = proc_status(worker.pid, "VmHWM")

        def at(fraction):
            for s in samples:
                if s[1] >= fraction * args.messages:
                    return s
            return samples[-1]
        first = next(s for s in samples if s[1] > 0 or s[2] > 0)
        overall = args.messages / (samples[-1][0] - first[0])
        a, b = at(0.1), at(0.9)
        rate = (b[1] - a[1]) / (b[0] - a[0])
        cpu = (b[3] - a[3]) / (b[0] - a[0]) * 100
        fn_cpu = (b[4] - a[4]) / (b[0] - a[0]) * 100
        broker_cpu = (b[5] - a[5]) / (b[0] - a[0]) * 100
        p50, p99 = histogram_quantiles(text, "eddy_function_remote_invocation_latency_ms", labels, [0.5, 0.99])
        requests = metric(text, "eddy_function_remote_invocation_latency_ms_count", labels)
        failures = metric(text, "eddy_function_remote_invocation_failures_total", labels)
        print("eddy-worker (%d shard(s)): " % args.shards + "%.0f msg/s steady state (10%%..90%% of %d), "
              "%.1f invocations per request on average" % (rate, args.messages, args.messages / max(requests, 1)))
        mid = [x[2] for x in samples if a[0] <= x[0] <= b[0]]
        print("  buffered messages in steady state: min %d, median %d, max %d (limit %d)"
              % (min(mid), sorted(mid)[len(mid) // 2], max(mid), args.max_buffered))
        print("  overall (first record to last reply, incl. ramp-up): %.0f msg/s; %.0f requests/s"
              % (overall, requests / (samples[-1][0] - first[0])))
        print("  invocation latency (worker histogram): p50 %.2f ms, p99 %.2f ms; failures %d" % (p50, p99, failures))
        print("  worker CPU %.0f%% of one core, RSS %d MiB (peak %d MiB); function server CPU %.0f%%, "
              "broker CPU %.0f%%" % (cpu, rss, hwm, fn_cpu, broker_cpu))
        print("ratio worker msg/s / raw HTTP req/s: %.2f; worker requests/s / raw HTTP req/s: %.2f; "
              "worker msg/s / broker consume rate: %.2f"
              % (rate / raw_rps, requests / (samples[-1][0] - first[0]) / raw_rps, rate / broker_rate))
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
        if code != 0:
            sys.exit("worker exited with %d after SIGTERM" % code)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
