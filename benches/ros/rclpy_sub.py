#!/usr/bin/python3
"""The real-ROS benchmark's reference: a plain rclpy subscriber (deserialising, one
SingleThreadedExecutor) with the QoS the gateway picks for the benchmark publisher (reliable,
volatile, keep last DEPTH). Which rates does a plain ROS 2 node keep up with on this machine?

Protocol (driven by `gateway-bench ros`): prints READY once subscribed; counts every message;
after `EXPECT <n>` on stdin, stops when n have arrived or nothing arrived for 500 ms, and prints
`RECEIVED <messages> <gaps> <max seq or -1> <cpu ns>`."""
import argparse
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--topic", default="/bench")
    ap.add_argument("--best-effort", action="store_true")
    a = ap.parse_args()
    rclpy.init()
    node = rclpy.create_node("rostier_bench_sub")
    qos = QoSProfile(depth=a.depth)
    qos.reliability = ReliabilityPolicy.BEST_EFFORT if a.best_effort else ReliabilityPolicy.RELIABLE
    qos.durability = DurabilityPolicy.VOLATILE
    st = {"n": 0, "gaps": 0, "last": None, "max": -1, "at": time.monotonic()}

    def on_msg(m):
        seq = int.from_bytes(bytes(m.data[0:8]), "little")
        st["n"] += 1
        st["at"] = time.monotonic()
        if st["last"] is None:
            st["gaps"] += seq
        elif seq > st["last"]:
            st["gaps"] += seq - st["last"] - 1
        st["last"] = seq
        st["max"] = max(st["max"], seq)

    node.create_subscription(CompressedImage, a.topic, on_msg, qos)
    expect = {}

    def read_stdin():
        for line in sys.stdin:
            if line.startswith("EXPECT "):
                expect["n"] = int(line.split()[1])
                expect["since"] = time.monotonic()
                return
        expect["n"] = 0
        expect["since"] = time.monotonic()

    threading.Thread(target=read_stdin, daemon=True).start()
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    print("READY", flush=True)
    cpu0 = time.process_time_ns()
    while True:
        ex.spin_once(timeout_sec=0.05)
        if "n" in expect:
            quiet = time.monotonic() - max(st["at"], expect["since"])
            if st["n"] >= expect["n"] or quiet > 0.5:
                break
    print(f"RECEIVED {st['n']} {st['gaps']} {st['max']} {time.process_time_ns() - cpu0}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
