"""Tests of the greeter demo functions over real HTTP with real ToFunction bytes.

Run from this folder: /usr/bin/python3 -m unittest -v
Protobuf classes are generated into a temporary directory with gen_protos.sh.
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import greeter  # noqa: E402


def setUpModule():
    global GENERATED
    if shutil.which("protoc") is None:
        raise RuntimeError("protoc is not installed (apt-get install -y protobuf-compiler)")
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        raise RuntimeError("python3-protobuf missing: run with /usr/bin/python3")
    GENERATED = tempfile.mkdtemp(prefix="greeter-protos-")
    subprocess.run([os.path.join(HERE, "gen_protos.sh"), GENERATED], check=True,
                   stdout=subprocess.DEVNULL)
    greeter.import_protos(GENERATED)


def tearDownModule():
    shutil.rmtree(GENERATED, ignore_errors=True)


def to_function(type_, id_, arguments, state=None):
    """state: None = state not sent; {"visits": None} = sent without value; {"visits": n}."""
    rr, types_pb = greeter.rr, greeter.types_pb
    request = rr.ToFunction()
    batch = request.invocation
    batch.target.namespace = "example"
    batch.target.type = type_
    batch.target.id = id_
    for name, value in (state or {}).items():
        pv = batch.state.add()
        pv.state_name = name
        if value is not None:
            pv.state_value.typename = greeter.INT_TYPE
            pv.state_value.has_value = True
            pv.state_value.value = types_pb.IntWrapper(value=value).SerializeToString()
    for argument in arguments:
        batch.invocations.add().argument.CopyFrom(argument)
    return request.SerializeToString()


def string_value(text):
    return greeter.rr.TypedValue(
        typename=greeter.STRING_TYPE, has_value=True,
        value=greeter.types_pb.StringWrapper(value=text).SerializeToString())


class GreeterHttpTest(unittest.TestCase):
    def setUp(self):
        self.server = greeter.make_server("127.0.0.1", 0)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        port = self.server.server_address[1]
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def tearDown(self):
        self.conn.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def post(self, path, body, content_type="application/octet-stream"):
        self.conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = self.conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()

    def from_function(self, path, body):
        status, content_type, payload = self.post(path, body)
        self.assertEqual(status, 200, payload)
        self.assertEqual(content_type, "application/octet-stream")
        reply = greeter.rr.FromFunction()
        reply.ParseFromString(payload)
        return reply, payload

    def test_person_asks_for_state_then_counts_and_messages_greeter(self):
        reply, payload = self.from_function(
            "/person", to_function("person", "alice", [string_value("alice")]))
        # Byte for byte what the Python SDK answers for ValueSpec(name="visits", type=IntType).
        self.assertEqual(payload.hex(), "aa0623" "0a21" "0a06" + b"visits".hex() + "1200" "1a15"
                         + b"io.statefun.types/int".hex())
        spec = reply.incomplete_invocation_context.missing_values[0]
        self.assertTrue(spec.HasField("expiration_spec"))

        reply, payload = self.from_function(
            "/person", to_function("person", "alice", [string_value("alice")], {"visits": None}))
        result = reply.invocation_result
        self.assertEqual(len(result.state_mutations), 1)
        mutation = result.state_mutations[0]
        self.assertEqual(mutation.mutation_type,
                         greeter.rr.FromFunction.PersistedValueMutation.MODIFY)
        self.assertEqual(mutation.state_value.typename, "io.statefun.types/int")
        self.assertEqual(mutation.state_value.value.hex(), "0d01000000")
        self.assertEqual(len(result.outgoing_messages), 1)
        message = result.outgoing_messages[0]
        self.assertEqual((message.target.namespace, message.target.type, message.target.id),
                         ("example", "greeter", "alice"))
        self.assertEqual(message.argument.typename, greeter.GREET_REQUEST_TYPE)
        self.assertEqual(json.loads(message.argument.value), {"name": "alice", "visits": 1})

        # The greeter turns the message into a Kafka egress record.
        reply, _ = self.from_function(
            "/greeter", to_function("greeter", "alice", [message.argument]))
        egresses = reply.invocation_result.outgoing_egresses
        self.assertEqual(len(egresses), 1)
        self.assertEqual((egresses[0].egress_namespace, egresses[0].egress_type),
                         ("example", "greets"))
        self.assertEqual(egresses[0].argument.typename,
                         "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord")
        record = greeter.egress_pb.KafkaProducerRecord()
        record.ParseFromString(egresses[0].argument.value)
        self.assertEqual(record.topic, "greetings")
        self.assertEqual(record.key, "alice")
        self.assertEqual(record.value_bytes.decode(), "Hello alice! Nice to meet you.")
        self.assertEqual(len(reply.invocation_result.state_mutations), 0)

    def test_batch_counts_in_order_with_one_mutation(self):
        reply, _ = self.from_function(
            "/person", to_function("person", "bob", [string_value("bob")] * 2, {"visits": 1}))
        result = reply.invocation_result
        self.assertEqual(len(result.state_mutations), 1)
        visits = greeter.types_pb.IntWrapper()
        visits.ParseFromString(result.state_mutations[0].state_value.value)
        self.assertEqual(visits.value, 3)
        visits_sent = [json.loads(m.argument.value)["visits"] for m in result.outgoing_messages]
        self.assertEqual(visits_sent, [2, 3])

    def test_greeting_text_varies_with_count(self):
        self.assertEqual(greeter.greeting("eve", 2), "Hello eve! Good to see you again.")
        self.assertEqual(greeter.greeting("eve", 3), "Hello eve! I have been seen 3 times.")
        self.assertEqual(greeter.greeting("eve", 10), "Hello eve! I have been seen 10 times.")

    def test_errors_are_500_text_and_connection_survives(self):
        cases = [
            to_function("nobody", "x", [string_value("x")]),           # unknown function
            b"\xff\xff\xff\xff\x0f",                                    # not a ToFunction
            b"",                                                        # empty body
            to_function("greeter", "x", [string_value("not json")]),   # wrong argument type
            to_function("greeter", "x", [greeter.rr.TypedValue(
                typename=greeter.GREET_REQUEST_TYPE, has_value=True, value=b"{bad json")]),
        ]
        for body in cases:
            status, content_type, text = self.post("/x", body)
            self.assertEqual(status, 500, body)
            self.assertEqual(content_type, "text/plain")
            self.assertTrue(text)
        status, _, text = self.post("/x", to_function("nobody", "x", []))
        self.assertIn(b"example/nobody", text)
        # Still usable after the errors (keep-alive, no crash).
        reply, _ = self.from_function("/person", to_function("person", "z", [], {"visits": None}))
        self.assertEqual(len(reply.invocation_result.state_mutations), 0)

    def test_state_of_wrong_type_is_an_error(self):
        body = greeter.rr.ToFunction()
        body.ParseFromString(to_function("person", "a", [string_value("a")], {"visits": 1}))
        body.invocation.state[0].state_value.typename = "io.statefun.types/long"
        status, _, text = self.post("/person", body.SerializeToString())
        self.assertEqual(status, 500)
        self.assertIn(b"io.statefun.types/long", text)

    def test_get_is_405(self):
        self.conn.request("GET", "/person")
        response = self.conn.getresponse()
        response.read()
        self.assertEqual(response.status, 405)


class GreeterCommandLineTest(unittest.TestCase):
    def test_serves_on_port_from_port_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            port_file = os.path.join(tmp, "port")
            proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "greeter.py"), "--port", "0",
                 "--generated", GENERATED, "--port-file", port_file],
                stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 10
                while not os.path.exists(port_file) and time.monotonic() < deadline:
                    self.assertIsNone(proc.poll(), "greeter exited early")
                    time.sleep(0.02)
                with open(port_file) as f:
                    port = int(f.read())
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/person", body=to_function("person", "cli", []),
                             headers={"Content-Type": "application/octet-stream"})
                response = conn.getresponse()
                self.assertEqual(response.status, 200)
                conn.close()
            finally:
                proc.terminate()
                proc.wait(5)
                proc.stderr.close()

    def test_missing_generated_classes_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(
                [sys.executable, os.path.join(HERE, "greeter.py"), "--port", "0",
                 "--generated", tmp],
                capture_output=True, timeout=10)
            self.assertEqual(result.returncode, 1)
            self.assertIn(b"gen_protos.sh", result.stderr)


if __name__ == "__main__":
    unittest.main()
