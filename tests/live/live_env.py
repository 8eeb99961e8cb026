"""Helpers of the live agent tests: network namespaces with veth pairs, child processes that
end with the test, and reading the agent's status and store."""

import json
import subprocess
import sys
import time


def run(*command, check=True):
    return subprocess.run(command, check=check, capture_output=True, text=True)


class Children:
    """Processes started by a test, killed when it ends."""

    def __init__(self):
        self.processes = []

    def spawn(self, command, **kwargs):
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        process = subprocess.Popen(command, **kwargs)
        self.processes.append(process)
        return process

    def kill_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def make_veth(namespace, host_if, ns_if, host_address, ns_address, create_namespace=True):
    """A veth pair from the host to `namespace`, with a /24 address on each end."""
    if create_namespace:
        run("ip", "netns", "add", namespace)
    run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
    run("ip", "link", "set", ns_if, "netns", namespace)
    run("ip", "addr", "add", f"{host_address}/24", "dev", host_if)
    run("ip", "link", "set", host_if, "up")
    inside = ["ip", "netns", "exec", namespace]
    run(*inside, "ip", "addr", "add", f"{ns_address}/24", "dev", ns_if)
    run(*inside, "ip", "link", "set", ns_if, "up")
    run(*inside, "ip", "link", "set", "lo", "up")


def remove_network(namespaces, interfaces):
    for namespace in namespaces:
        run("ip", "netns", "del", namespace, check=False)
    for interface in interfaces:
        run("ip", "link", "del", interface, check=False)


def wait_for(condition, what, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    sys.exit(f"FAIL: timed out waiting for {what}")


def port_open(namespace, address, port):
    command = ["ip", "netns", "exec", namespace] if namespace else []
    command += ["nc", "-z", "-w1", address, str(port)]
    return subprocess.run(command, capture_output=True).returncode == 0


def agent_status(binary, socket):
    done = subprocess.run([binary, "status", "--json", "--control-socket", str(socket)],
                          capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else None


def interface_state(binary, socket, name):
    """The status entry of interface `name`, or None."""
    status = agent_status(binary, socket)
    if status is None:
        return None
    for interface in status["capture"]["interfaces"]:
        if interface["name"] == name:
            return interface
    return None


def interface_open(binary, socket, name):
    state = interface_state(binary, socket, name)
    return state is not None and state["open"]


def stored_events(binary, store):
    done = run(binary, "dump", "--store", str(store), "--format", "jsonl")
    return [json.loads(line) for line in done.stdout.splitlines()]


def stored_connections(binary, store):
    """Return {connection_uid: {"connect": event, "statistics": [events], ...}}."""
    connections = {}
    kinds = {1: "connect", 2: "disconnect", 3: "statistics"}
    for event in stored_events(binary, store):
        entry = connections.setdefault(event["connection_uid"], {"statistics": []})
        if event["id"] == 3:
            entry["statistics"].append(event)
        else:
            entry[kinds[event["id"]]] = event
    return connections


class Checks:
    def __init__(self):
        self.failures = []

    def expect(self, condition, message):
        if not condition:
            self.failures.append(message)
            print(f"FAIL: {message}")
        return condition
