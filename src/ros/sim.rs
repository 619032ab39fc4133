//! The in-process simulated ROS graph.
