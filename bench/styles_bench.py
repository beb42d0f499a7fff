#!/usr/bin/python3
"""Deployment-style benchmark: the example keyed counter (examples/cpp, `example/keyed-counter`:
one long per id, incremented per message) run embedded and remote, each against a baseline
measured in the same run.

Scenarios (all through the eddy-worker process, release build):
  embedded-generator K   embedded library + the built-in generator ingress, K keys
                         (target: >= 1 M msg/s per worker on a 2-core machine)
  embedded-kafka         embedded + Kafka ingress from eddy-dev-kafka, vs the broker's own
                         consume rate measured with kcat on the same topic (target >= 90%)
  remote-http|grpc|unix  eddy-function-server (the same functions) over HTTP, gRPC and a unix
                         socket, generator ingress; vs the raw HTTP rate of that server (wrk)

Usage: bench/styles_bench.py [--messages N (embedded-generator: at least 50 per key)] [--keys K[,K2]] [--shards S] [--only NAME,...]
                             [--set KEY=VALUE ...]   (worker config overrides)
Standard library only; imports helpers from worker_bench.py.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from worker_bench import free_port, http_get, metric, proc_cpu_seconds, proc_status, wait_file  # noqa: E402

LABELS = 'namespace="example",type="keyed-counter"'


class Run:
    def __init__(self, build, overrides=()):
        self.overrides = list(overrides)
        self.binp = os.path.join(build, "bin")
        self.lib = os.path.join(build, "lib", "libeddy_example_functions.so")
        self.work = tempfile.mkdtemp(prefix="eddy-styles-")
        self.procs = []

    def start(self, argv, log):
        p = subprocess.Popen(argv, stdout=open(os.path.join(self.work, log), "w"),
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs = []

    def function_server(self, args):
        log = "fn-%d.log" % len(self.procs)
        fn = self.start([os.path.join(self.binp, "eddy-function-server")] + args, log)
        deadline = time.time() + 10
        while time.time() < deadline:
            text = open(os.path.join(self.work, log)).read()
            if "ready" in text:
                return fn
            if fn.poll() is not None:
                sys.exit("eddy-function-server exited: " + text)
            time.sleep(0.02)
        sys.exit("eddy-function-server did not start")

    def worker(self, name, module_text, messages, shards, extra_pids=()):
        """Runs a worker on module_text until `messages` invocations finished; returns a dict."""
        module = os.path.join(self.work, name + ".yaml")
        with open(module, "w") as f:
            f.write(module_text)
        admin = free_port()
        state = os.path.join(self.work, name + "-state")
        worker = self.start([os.path.join(self.binp, "eddy-worker"), "--module", module,
                             "--set", "state_dir=" + state, "--set", "admin_port=%d" % admin,
                             "--set", "shards=%d" % shards]
                            + [a for o in self.overrides for a in ("--set", o)], name + ".log")
        samples = []  # (time, processed, buffered, worker cpu, other cpu)
        deadline = time.time() + 600
        while time.time() < deadline:
            text = http_get(admin, "/metrics")
            if worker.poll() is not None:
                sys.exit("worker exited:\n" + open(os.path.join(self.work, name + ".log")).read())
            n_in = metric(text, "eddy_function_in_total", LABELS)
            buffered = metric(text, "eddy_buffered_messages")
            other = sum(proc_cpu_seconds(p) for p in extra_pids)
            samples.append((time.time(), n_in - buffered, buffered, proc_cpu_seconds(worker.pid), other))
            if n_in >= messages and buffered == 0:
                break
            time.sleep(0.1)
        else:
            sys.exit("%s timed out at %d processed" % (name, samples[-1][1]))
        text = http_get(admin, "/metrics")
        hwm = proc_status(worker.pid, "VmHWM")
        worker.send_signal(signal.SIGTERM)
        if worker.wait(timeout=60) != 0:
            sys.exit("%s: worker did not drain cleanly" % name)

        def at(fraction):
            for s in samples:
                if s[1] >= fraction * messages:
                    return s
            return samples[-1]
        a, b = at(0.1), at(0.9)
        span = max(b[0] - a[0], 1e-9)
        # First record seen to last one finished: comparable with kcat's whole-topic read (the
        # 10%..90% window can fall entirely inside data librdkafka prefetched during the group
        # join, which measures the worker, not the broker path).
        first = next((x for x in samples if x[1] > 0 or x[2] > 0), samples[0])
        overall = messages / max(samples[-1][0] - first[0], 1e-9)
        requests = metric(text, "eddy_function_remote_invocation_latency_ms_count", LABELS)
        return {
            "rate": (b[1] - a[1]) / span,
            "overall": overall,
            "cpu": (b[3] - a[3]) / span * 100,
            "other_cpu": (b[4] - a[4]) / span * 100,
            "per_request": messages / max(requests, 1),
            "requests_rate": (b[1] - a[1]) / span / max(messages / max(requests, 1), 1e-9),
            "hwm": hwm,
            "failures": metric(text, "eddy_function_remote_invocation_failures_total", LABELS),
            # State cache flushes while the run was measured (interval, full cache, cuts).
            "flushes": metric(text, "eddy_state_flush_ms_count"),
            "flush_ms": metric(text, "eddy_state_flush_ms_sum"),
            "flushed_values": metric(text, "eddy_state_flushed_values_total"),
        }


def generator_module(endpoint, keys, messages):
    return endpoint + """---
kind: io.eddy.generator.v1/ingress
spec:
  id: example/gen
  targets: [example/keyed-counter]
  keys: %d
  count: %d
""" % (keys, messages)


def embedded_endpoint(lib):
    return "kind: io.eddy.embedded.v1/module\nspec:\n  library: %s\n  functions: [example/*]\n" % lib


def report(name, r, baseline=None, baseline_name=""):
    line = ("%-26s %10.0f msg/s  worker CPU %3.0f%%  others CPU %3.0f%%  %.1f msg/request  "
            "peak RSS %d MiB" % (name, r["rate"], r["cpu"], r["other_cpu"], r["per_request"], r["hwm"]))
    if baseline:
        line += "  ratio vs %s %.2f" % (baseline_name, r["rate"] / baseline)
    if r.get("flushes"):
        line += "  state flushes %d (%.0f ms, %.0f values each)" % (
            r["flushes"], r["flush_ms"] / r["flushes"], r["flushed_values"] / r["flushes"])
    if r["failures"]:
        line += "  FAILURES %d" % r["failures"]
    print(line, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=3000000)
    ap.add_argument("--remote-messages", type=int, default=300000)
    ap.add_argument("--kafka-messages", type=int, default=400000)
    ap.add_argument("--keys", default="1000,1000000")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--wrk-duration", default="10s")
    ap.add_argument("--only", default="")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="worker config override for every worker run (repeatable)")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = lambda n: not only or n in only  # noqa: E731
    run = Run(args.build, args.set)
    try:
        if want("embedded-generator"):
            for keys in [int(k) for k in args.keys.split(",")]:
                # At least 50 messages per key: a shorter run at 1,000,000 keys measures mostly
                # first touches and ends before the state cache's first flush (steady state
                # includes flushes of every key; see docs/benchmarks.md).
                n = max(args.messages, 50 * keys)
                r = run.worker("embedded-gen-%d" % keys,
                               generator_module(embedded_endpoint(run.lib), keys, n),
                               n, args.shards)
                report("embedded+generator %dk keys" % (keys // 1000), r)
            run.stop_all()

        if want("embedded-kafka"):
            kafka = run.start([os.path.join(run.binp, "eddy-dev-kafka"), "--topic", "bench-in:8",
                               "--bootstrap-file", os.path.join(run.work, "bootstrap")], "kafka.log")
            bootstrap = wait_file(os.path.join(run.work, "bootstrap"), kafka, "eddy-dev-kafka")
            lines = "".join("%d:x\n" % (i % 1000) for i in range(args.kafka_messages))
            prod = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "bench-in", "-K:",
                                   "-X", "queue.buffering.max.messages=1000000"],
                                  input=lines.encode(), capture_output=True)
            if prod.returncode != 0:
                sys.exit("kcat produce failed: " + prod.stderr.decode())
            t0 = time.time()
            cons = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "bench-in", "-o", "beginning",
                                   "-e", "-q", "-f", "x\n"], capture_output=True)
            consumed = cons.stdout.count(b"\n")
            broker_rate = consumed / (time.time() - t0)
            print("%-26s %10.0f msg/s  (kcat, %d records, 1000 keys)" % ("broker consume rate", broker_rate, consumed))
            module = embedded_endpoint(run.lib) + """---
kind: io.statefun.kafka.v1/ingress
spec:
  id: example/in
  address: %s
  consumerGroupId: styles-bench
  startupPosition:
    type: earliest
  topics:
    - topic: bench-in
      valueType: example/raw
      targets:
        - example/keyed-counter
""" % bootstrap
            r = run.worker("embedded-kafka", module, args.kafka_messages, args.shards, [kafka.pid])
            report("embedded+kafka", r)
            print("%-26s %10.0f msg/s  first record to last, ratio vs broker %.2f"
                  % ("embedded+kafka overall", r["overall"], r["overall"] / broker_rate), flush=True)
            run.stop_all()

        remote = [s for s in ("remote-http", "remote-grpc", "remote-unix") if want(s)]
        if remote:
            # Baseline: wrk against the same server's HTTP listener, one invocation per request.
            port = free_port()
            fn = run.function_server(["--http", str(port), "--threads", "1"])
            body = os.path.join(run.work, "body.bin")
            subprocess.run([os.path.join(run.binp, "eddy-function-server"), "--dump-request", body], check=True)
            wrk = subprocess.run(["wrk", "-t1", "-c64", "-d" + args.wrk_duration, "-s",
                                  os.path.join(HERE, "wrk", "counter.lua"),
                                  "http://127.0.0.1:%d/keyed-counter" % port],
                                 capture_output=True, text=True, env=dict(os.environ, EDDY_WRK_BODY=body))
            m = re.search(r"Requests/sec:\s+(\S+)", wrk.stdout)
            if wrk.returncode != 0 or not m or "Non-2xx" in wrk.stdout:
                sys.exit("wrk baseline failed:\n" + wrk.stdout + wrk.stderr)
            raw = float(m.group(1))
            print("%-26s %10.0f req/s  (wrk -t1 -c64, 1 invocation per request)" % ("raw HTTP baseline", raw))
            run.stop_all()
            sock = os.path.join(run.work, "fn.sock")
            for name in remote:
                port = free_port()
                if name == "remote-http":
                    fn = run.function_server(["--http", str(port), "--threads", "1"])
                    endpoint = ("kind: io.statefun.endpoints.v2/http\nspec:\n  functions: example/*\n"
                                "  urlPathTemplate: http://127.0.0.1:%d/{function.name}\n" % port)
                elif name == "remote-grpc":
                    fn = run.function_server(["--grpc", str(port), "--threads", "1"])
                    endpoint = ("kind: io.eddy.endpoints.v1/grpc\nspec:\n  functions: example/*\n"
                                "  target: 127.0.0.1:%d\n" % port)
                else:
                    fn = run.function_server(["--unix", sock, "--threads", "1"])
                    endpoint = ("kind: io.statefun.endpoints.v2/http\nspec:\n  functions: example/*\n"
                                "  urlPathTemplate: http+unix://%s/{function.name}\n" % sock)
                r = run.worker(name, generator_module(endpoint, 1000, args.remote_messages),
                               args.remote_messages, 1, [fn.pid])
                report(name, r, raw, "raw HTTP")
                print("%-26s %10.0f requests/s, ratio vs raw HTTP %.2f" % ("", r["requests_rate"], r["requests_rate"] / raw))
                run.stop_all()
    finally:
        run.stop_all()
        subprocess.run(["rm", "-rf", run.work])


if __name__ == "__main__":
    main()
