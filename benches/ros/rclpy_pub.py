#!/usr/bin/python3
"""The real-ROS benchmark's rclpy publisher: same arguments and stdio protocol as rcl_pub.c
(READY, GO, DONE <sent> <cpu ns> <elapsed ns> <matched>), same payload layout. Shows what an
rclpy node can publish; the default publisher is rcl_pub (C), which needs about half the CPU."""
import argparse
import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage

DATA_OFFSET = 32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--duration-ms", type=int, default=3000)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--topic", default="/bench")
    ap.add_argument("--best-effort", action="store_true")
    a = ap.parse_args()
    rclpy.init()
    node = rclpy.create_node("rostier_bench_pub")
    qos = QoSProfile(depth=a.depth)
    qos.reliability = ReliabilityPolicy.BEST_EFFORT if a.best_effort else ReliabilityPolicy.RELIABLE
    qos.durability = DurabilityPolicy.VOLATILE
    pub = node.create_publisher(CompressedImage, a.topic, qos)
    n = max(a.size, DATA_OFFSET + 16) - DATA_OFFSET
    fill = bytearray(i % 251 for i in range(n))
    msg = CompressedImage()
    print("READY", flush=True)
    if not sys.stdin.readline().startswith("GO"):
        sys.exit("rclpy_pub: expected GO")
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    matched = pub.get_subscription_count()
    total = int(a.duration_ms * a.rate / 1000)
    period = 1.0 / a.rate
    cpu0 = time.process_time_ns()
    start = time.monotonic()
    for seq in range(total):
        due = start + seq * period
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        wall = time.time_ns()
        fill[0:8] = seq.to_bytes(8, "little")
        fill[8:16] = wall.to_bytes(8, "little")
        msg.header.stamp.sec = wall // 1_000_000_000
        msg.header.stamp.nanosec = wall % 1_000_000_000
        msg.data = bytes(fill)
        pub.publish(msg)
    elapsed = int((time.monotonic() - start) * 1e9)
    cpu = time.process_time_ns() - cpu0
    time.sleep(0.5)
    print(f"DONE {total} {cpu} {elapsed} {matched}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
