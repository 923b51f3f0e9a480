"""Hosts for tests: Linux network namespaces on one bridge (needs root and iproute2).

Each :class:`Host` is a namespace with one veth link to a bridge in the root
namespace, which holds the first address of the subnet (so the test itself
can reach every host). Cutting a host's link (``ip link set DEV down`` on
the bridge side) drops its packets silently, as a pulled cable or a
partition does: no RST, the host's TCP connections hang until their
timeouts. Names carry a random suffix so concurrent test runs never clash.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field


def available() -> str | None:
    """Why namespaces cannot be built here (``None``: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    probe = f"rvprobe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def ip(*args: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True)


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    link: str
    """The bridge-side end of the host's veth pair (what a cut takes down)."""

    def command(self, *args: str) -> list[str]:
        """``args`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def cut(self) -> None:
        ip("link", "set", self.link, "down")

    def restore(self) -> None:
        ip("link", "set", self.link, "up")


@dataclass
class Network:
    """A bridge and the hosts on it; :meth:`close` removes everything it made."""

    suffix: str = field(default_factory=lambda: f"{random.randrange(16**4):04x}")
    hosts: dict[str, Host] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bridge = f"rvbr{self.suffix}"
        self.subnet = f"10.{random.randrange(200, 250)}.{random.randrange(1, 250)}"
        self.gateway = f"{self.subnet}.1"
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add(self, name: str) -> Host:
        index = len(self.hosts) + 2
        namespace = f"rv{self.suffix}{name}"
        link = f"rv{self.suffix}{name}"[:15]
        host = Host(name, namespace, f"{self.subnet}.{index}", link)
        subprocess.run(["ip", "netns", "add", namespace], check=True, capture_output=True)
        self.hosts[name] = host
        ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        ip("addr", "add", f"{host.address}/24", "dev", "eth0", namespace=namespace)
        ip("link", "set", "eth0", "up", namespace=namespace)
        ip("link", "set", "lo", "up", namespace=namespace)
        ip("link", "set", link, "master", self.bridge, "up")
        return host

    def close(self) -> None:
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "delete", host.namespace], capture_output=True)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
