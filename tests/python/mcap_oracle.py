#!/usr/bin/env python3
"""An independent reader and writer of MCAP for the Rust tests (PyPI `mcap` and
`mcap-ros2-support`, what the MCAP ecosystem itself uses; installed into target/test-venv by
scripts/install-test-deps.sh).

  mcap_oracle.py read FILE [--max-messages N]
      Validate and decode FILE; print one JSON object: header profile/library, statistics,
      chunk index facts, channels, and the messages in log-time order (decoded with
      mcap-ros2-support, raw bytes in hex). Both the indexed (seeking) reader, checking chunk
      CRCs, and the linear (non-seeking) reader, checking the data section CRC, must agree.

  mcap_oracle.py count FILE
      Count the messages with the linear reader (CRCs checked), without decoding; print
      {"messages": N, "start": ..., "end": ...}. For big files.

  mcap_oracle.py write-big FILE BYTES
      Write a ROS 2 recording of about BYTES bytes of incompressible 64 KiB messages
      (std_msgs/msg/UInt8MultiArray-shaped CDR on /blob at 100 Hz, zstd chunks), for the data
      backend's memory measurement (scripts/data-backend-rss.sh).

  mcap_oracle.py write-rosbag2 FILE
      Write a recording the way rosbag2_storage_mcap (Jazzy) lays one out: profile "ros2",
      rosbag2's library string, 768 KiB zstd chunks, channel metadata offered_qos_profiles and
      topic_type_hash, a "rosbag2" metadata record. Messages are encoded by mcap-ros2-support.
      Prints the messages written (topic, log time, decoded value) as JSON.
"""

import io
import json
import sys

from mcap.reader import NonSeekingReader, SeekingReader
from mcap.writer import CompressionType, Writer
from mcap_ros2._dynamic import serialize_dynamic
from mcap_ros2.decoder import DecoderFactory


def plain(value):
    """A decoded ROS message as plain JSON values."""
    if hasattr(value, "__slots__") and hasattr(value, "_type"):
        return {k: plain(getattr(value, k)) for k in value.__slots__}
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


def read(path, max_messages):
    out = {}
    with open(path, "rb") as f:
        reader = SeekingReader(f, validate_crcs=True, decoder_factories=[DecoderFactory()])
        header = reader.get_header()
        out["profile"] = header.profile
        out["library"] = header.library
        summary = reader.get_summary()
        if summary is None:
            raise SystemExit(json.dumps({"error": "no summary section"}))
        st = summary.statistics
        out["statistics"] = {
            "message_count": st.message_count,
            "channel_count": st.channel_count,
            "schema_count": st.schema_count,
            "chunk_count": st.chunk_count,
            "message_start_time": st.message_start_time,
            "message_end_time": st.message_end_time,
        }
        out["chunk_indexes"] = [
            {
                "compression": c.compression,
                "message_start_time": c.message_start_time,
                "message_end_time": c.message_end_time,
                "message_index_channels": sorted(c.message_index_offsets.keys()),
            }
            for c in summary.chunk_indexes
        ]
        out["channels"] = []
        for cid, ch in sorted(summary.channels.items()):
            schema = summary.schemas.get(ch.schema_id)
            out["channels"].append(
                {
                    "id": cid,
                    "topic": ch.topic,
                    "message_encoding": ch.message_encoding,
                    "metadata": dict(ch.metadata),
                    "schema_name": schema.name if schema else None,
                    "schema_encoding": schema.encoding if schema else None,
                }
            )
        messages = []
        count = 0
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True):
            count += 1
            if len(messages) < max_messages:
                messages.append(
                    {
                        "topic": channel.topic,
                        "log_time": message.log_time,
                        "publish_time": message.publish_time,
                        "data_hex": message.data.hex(),
                        "msg": plain(decoded),
                    }
                )
        out["indexed_count"] = count
        out["messages"] = messages
    # The linear reader walks the data section and checks its CRC and every chunk.
    with open(path, "rb") as f:
        data = f.read()
    linear = NonSeekingReader(io.BytesIO(data), validate_crcs=True)
    out["linear_count"] = sum(1 for _ in linear.iter_messages())
    print(json.dumps(out))


STRING = "string data"
QOS = (
    "- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2\n  deadline:\n    sec: 9223372036\n"
    "    nsec: 854775807\n  lifespan:\n    sec: 9223372036\n    nsec: 854775807\n  liveliness: 1\n"
    "  liveliness_lease_duration:\n    sec: 9223372036\n    nsec: 854775807\n"
    "  avoid_ros_namespace_conventions: false"
)
POINT = "float64 x\nfloat64 y\nfloat64 z"


def write_rosbag2(path):
    t0 = 1_700_000_000_000_000_000
    written = []
    with open(path, "wb") as f:
        w = Writer(f, chunk_size=768 * 1024, compression=CompressionType.ZSTD)
        w.start(profile="ros2", library="rosbag2.storage_mcap.v0.26.7, mcap v1.1.0")
        s_str = w.register_schema("std_msgs/msg/String", "ros2msg", STRING.encode())
        s_pt = w.register_schema("geometry_msgs/msg/Point", "ros2msg", POINT.encode())
        meta = {"offered_qos_profiles": QOS, "topic_type_hash": "RIHS01_" + "0" * 64}
        c_str = w.register_channel("/chatter", "cdr", s_str, meta)
        c_pt = w.register_channel("/point", "cdr", s_pt, meta)
        enc_str = serialize_dynamic("std_msgs/msg/String", STRING)["std_msgs/msg/String"]
        enc_pt = serialize_dynamic("geometry_msgs/msg/Point", POINT)["geometry_msgs/msg/Point"]
        for i in range(50):
            t = t0 + i * 20_000_000
            if i % 5 == 0:
                msg = {"data": f"bag message {i}"}
                w.add_message(c_str, t, enc_str(msg), t - 1000, sequence=i)
                written.append({"topic": "/chatter", "log_time": t, "msg": msg})
            msg = {"x": float(i), "y": -float(i), "z": 0.5}
            w.add_message(c_pt, t, enc_pt(msg), t - 1000, sequence=i)
            written.append({"topic": "/point", "log_time": t, "msg": msg})
        w.add_metadata(
            "rosbag2",
            {"serialized_metadata": "rosbag2_bagfile_information:\n  version: 9\n  storage_identifier: mcap\n"},
        )
        w.finish()
    print(json.dumps(written))


def count(path):
    n = 0
    start = end = None
    with open(path, "rb") as f:
        for _schema, _channel, message in NonSeekingReader(f, validate_crcs=True).iter_messages():
            n += 1
            start = message.log_time if start is None else min(start, message.log_time)
            end = message.log_time if end is None else max(end, message.log_time)
    print(json.dumps({"messages": n, "start": start, "end": end}))


BLOB = "uint8[] data"


def write_big(path, total):
    import os

    t0 = 1_700_000_000_000_000_000
    size = 64 * 1024
    n = max(1, total // size)
    with open(path, "wb") as f:
        w = Writer(f, chunk_size=1024 * 1024, compression=CompressionType.ZSTD)
        w.start(profile="ros2", library="mcap_oracle write-big")
        sid = w.register_schema("test_msgs/msg/Blob", "ros2msg", BLOB.encode())
        cid = w.register_channel("/blob", "cdr", sid, {})
        header = bytes([0, 1, 0, 0]) + (size - 8).to_bytes(4, "little")
        for i in range(n):
            t = t0 + i * 10_000_000
            w.add_message(cid, t, header + os.urandom(size - 8), t, sequence=i)
        w.finish()
    print(json.dumps({"messages": n, "start": t0, "end": t0 + (n - 1) * 10_000_000}))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "read":
        max_messages = 1_000_000
        if "--max-messages" in sys.argv:
            max_messages = int(sys.argv[sys.argv.index("--max-messages") + 1])
        read(sys.argv[2], max_messages)
    elif len(sys.argv) == 3 and sys.argv[1] == "count":
        count(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "write-big":
        write_big(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "write-rosbag2":
        write_rosbag2(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
