//! Tells the ROS backend which rcl it is built against (feature `ros2` only).
//!
//! `rcl_rosout_in_node_init`: before Jazzy (foxy … iron) `rcl_node_init` creates the node's
//! `/rosout` publisher itself; from Jazzy on the client library must call
//! `rcl_logging_rosout_init_publisher_for_node`. `ROS_DISTRO` names the distro (sourced ROS, or
//! `scripts/check-ros2.sh`, which type-checks with r2r_rcl's Humble-era `doc-only` bindings).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(rcl_rosout_in_node_init)");
    println!("cargo:rerun-if-env-changed=ROS_DISTRO");
    if std::env::var_os("CARGO_FEATURE_ROS2").is_none() {
        return;
    }
    let distro = std::env::var("ROS_DISTRO").unwrap_or_default();
    if matches!(
        distro.as_str(),
        "foxy" | "galactic" | "humble" | "iron" | ""
    ) {
        println!("cargo:rustc-cfg=rcl_rosout_in_node_init");
    }
}
