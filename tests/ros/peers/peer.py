#!/usr/bin/python3
"""rclpy peers for the real-ROS tier (tests/ros/tier.mjs): the robot the gateway is tested against.

    peer.py robot SPEC.json   nodes, publishers, services, listeners, parameters as SPEC says
    peer.py flaky TOPIC TEXT  one publisher of std_msgs/String TEXT at 10 Hz on TOPIC (comes and goes)

Everything the orchestrator needs to see is one JSON object per line on stdout, with "ev" naming
the event and "t" the wall-clock time in ms:
    {"ev": "ready"}                                    setup done, publishers created
    {"ev": "msg", "topic": T, "value": {...}}          a listener received a message
    {"ev": "param_set", "node": N, "params": {...}}    a parameter of ours was set (from any side)
    {"ev": "rosout", "name": N, "level": L, "msg": M}  a /rosout line from a node not ours
    {"ev": "nodes", "nodes": [...]}                    the graph's node list (hidden ones too) changed
    {"ev": "call", "service": S, "request": {...}}      a service of ours was called

Published values come from SPEC, set with rosidl_runtime_py.set_message_fields, so the
orchestrator compares what the viewer decodes with exactly what was given to rclpy. A value
{"$pattern": [n, mul, add]} stands for n bytes (i * mul + add) & 0xff (large byte arrays).
"""

import json
import signal
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosidl_runtime_py.convert import message_to_ordereddict
from rosidl_runtime_py.set_message import set_message_fields
from rosidl_runtime_py.utilities import get_message, get_service


def emit(ev, **fields):
    fields = {"ev": ev, "t": time.time() * 1000.0, **fields}
    sys.stdout.write(json.dumps(fields, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return list(v)
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def qos_of(spec):
    spec = spec or {}
    q = QoSProfile(depth=int(spec.get("depth", 10)))
    q.reliability = (
        ReliabilityPolicy.BEST_EFFORT if spec.get("reliability") == "best_effort" else ReliabilityPolicy.RELIABLE
    )
    q.durability = (
        DurabilityPolicy.TRANSIENT_LOCAL if spec.get("durability") == "transient_local" else DurabilityPolicy.VOLATILE
    )
    return q


def expand(value):
    """Replace {"$pattern": [n, mul, add]} by the bytes it stands for."""
    if isinstance(value, dict):
        if set(value) == {"$pattern"}:
            n, mul, add = value["$pattern"]
            return bytes((i * mul + add) & 0xFF for i in range(n))
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def build(type_name, value):
    msg = get_message(type_name)()
    set_message_fields(msg, expand(value))
    return msg


# Service behaviours the orchestrator knows the answers of.
def _set_bool(req, resp):
    resp.success = req.data
    resp.message = "set_bool got " + ("true" if req.data else "false")
    return resp


def _add_two_ints(req, resp):
    resp.sum = req.a + req.b
    return resp


def _scale(req, resp):
    resp.scaled = [int(round(v * req.factor)) for v in req.values]
    resp.note = "scaled %d values by %g" % (len(req.values), req.factor)
    return resp


BEHAVIOURS = {"set_bool": _set_bool, "add_two_ints": _add_two_ints, "scale": _scale}


def robot(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    rclpy.init()
    executor = SingleThreadedExecutor()
    keep = []

    main = rclpy.create_node(spec["node"])
    executor.add_node(main)
    for p in spec.get("publishers", []):
        pub = main.create_publisher(get_message(p["type"]), p["topic"], qos_of(p.get("qos")))
        msg = build(p["type"], p["value"])
        period = p.get("period")
        if period:
            keep.append(main.create_timer(float(period), lambda pub=pub, msg=msg: pub.publish(msg)))
        else:
            pub.publish(msg)  # once (transient-local: late joiners get it from the writer's history)
        keep.append(pub)

    for s in spec.get("services", []):
        behaviour = BEHAVIOURS[s["behaviour"]]

        def handler(req, resp, name=s["name"], behaviour=behaviour):
            emit("call", service=name, request=message_to_ordereddict(req))
            return behaviour(req, resp)

        keep.append(main.create_service(get_service(s["type"]), s["name"], handler))

    if spec.get("listen"):
        listener = rclpy.create_node(spec.get("listener_node", spec["node"] + "_listener"))
        executor.add_node(listener)
        for l in spec["listen"]:
            keep.append(
                listener.create_subscription(
                    get_message(l["type"]),
                    l["topic"],
                    lambda m, topic=l["topic"]: emit("msg", topic=topic, value=message_to_ordereddict(m)),
                    qos_of(l.get("qos")),
                )
            )

    if spec.get("params"):
        pnode = rclpy.create_node(spec["params"]["node"])
        executor.add_node(pnode)
        for name, value in spec["params"]["values"].items():
            # JSON has one number type: a list with any float is a double array (2.0 arrives as 2).
            if isinstance(value, list) and any(isinstance(v, float) for v in value):
                value = [float(v) for v in value]
            pnode.declare_parameter(name, value)

        def on_set(params, node=pnode):
            emit(
                "param_set",
                node=node.get_fully_qualified_name(),
                params={p.name: {"value": p.value, "type": p.type_.name} for p in params},
            )

        pnode.add_post_set_parameters_callback(on_set)

    if spec.get("silent_service"):
        # A node that is never spun: its service exists in the graph, requests are never taken,
        # so nobody ever answers (no parameter services either, so nothing else waits on it).
        silent = rclpy.create_node(
            spec["silent_service"]["node"], start_parameter_services=False, enable_rosout=False
        )
        keep.append(silent.create_service(get_service(spec["silent_service"]["type"]), spec["silent_service"]["name"], _set_bool))
        keep.append(silent)

    if spec.get("observer"):
        obs = rclpy.create_node(spec["observer"])
        executor.add_node(obs)
        own = spec.get("own_prefix", "rostier")
        # /rosout with rcl's own QoS (reliable, transient local, keep last 1000), as the Log panel's
        # bridge subscription and rqt_console get it.
        rosout_qos = QoSProfile(depth=1000)
        rosout_qos.reliability = ReliabilityPolicy.RELIABLE
        rosout_qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
        Log = get_message("rcl_interfaces/msg/Log")

        def on_log(m):
            if not m.name.startswith(own):
                emit("rosout", name=m.name, level=m.level, msg=m.msg, stamp=m.stamp.sec + m.stamp.nanosec * 1e-9)

        keep.append(obs.create_subscription(Log, "/rosout", on_log, rosout_qos))
        last = [None]

        def poll_graph():
            nodes = sorted(
                (ns.rstrip("/") + "/" + n) for n, ns in obs.get_node_names_and_namespaces()
            )
            if nodes != last[0]:
                last[0] = nodes
                emit("nodes", nodes=nodes)

        keep.append(obs.create_timer(0.05, poll_graph))

    emit("ready", node=main.get_fully_qualified_name())
    spin(executor)


def flaky(topic, text):
    rclpy.init()
    node = rclpy.create_node("rostier_flaky")
    String = get_message("std_msgs/msg/String")
    pub = node.create_publisher(String, topic, 10)
    msg = String(data=text)
    timer = node.create_timer(0.1, lambda: pub.publish(msg))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    emit("ready", node=node.get_fully_qualified_name())
    spin(executor)
    del timer


def spin(executor):
    # SIGINT/SIGTERM: leave the graph cleanly (destroy nodes, shut the context down), as a
    # well-behaved robot process does.
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for n in executor.get_nodes():
            n.destroy_node()
        rclpy.try_shutdown()
        emit("exit")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "robot":
        robot(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "flaky":
        flaky(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
