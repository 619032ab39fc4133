//! XCDR1 encoding of ROS 2 messages and schema-driven CDR ⇄ JSON conversion.
