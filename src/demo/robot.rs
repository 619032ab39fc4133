//! The demo robot's physics, without I/O: a differential-drive (unicycle) base in a rectangular
//! room with one pillar, and a planar laser that ray-casts against them.
//!
//! Everything here is a plain function of its inputs (`now` included), so it is unit-tested
//! without a runtime; [`super::node`] only feeds it commands and ticks.

use std::f64::consts::PI;
use std::time::Duration;

use tokio::time::Instant;

/// How long a velocity command stays in force. Like a real base controller (e.g.
/// `diff_drive_controller`'s `cmd_vel_timeout`), the robot stops when commands stop, so a
/// viewer that disconnects mid-drive does not send it into a wall forever.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Half the room's extent along x (the room is 10 m × 6 m, centred on the odom origin).
pub const ROOM_HALF_X: f64 = 5.0;
/// Half the room's extent along y.
pub const ROOM_HALF_Y: f64 = 3.0;
/// The square pillar: centre and half side, so the scan has something besides walls.
pub const PILLAR: (f64, f64, f64) = (2.5, 1.0, 0.3);
/// The robot's footprint radius: it stops this far from walls (a bumper, not a planner).
pub const ROBOT_RADIUS: f64 = 0.25;
/// The laser's mounting offset along base_link's x axis (height is in the static transform).
pub const LASER_X: f64 = 0.1;

/// Rays per scan (one per degree, a common 2D lidar resolution).
pub const SCAN_RAYS: usize = 360;
/// Nearest range the laser reports.
pub const RANGE_MIN: f32 = 0.12;
/// Farthest range the laser reports; the room's diagonal (≈ 11.7 m) is within it.
pub const RANGE_MAX: f32 = 12.0;

/// The base's state and its last command.
#[derive(Debug, Clone, PartialEq)]
pub struct Robot {
    /// Position in the odom frame, metres.
    pub x: f64,
    /// Position in the odom frame, metres.
    pub y: f64,
    /// Heading in the odom frame, radians in (-π, π].
    pub yaw: f64,
    /// Current forward velocity, m/s (0 after a command timeout).
    pub v: f64,
    /// Current yaw rate, rad/s (0 after a command timeout).
    pub w: f64,
    /// The commanded velocities and when they arrived.
    command: Option<(f64, f64, Instant)>,
}

impl Default for Robot {
    fn default() -> Self {
        Self::new()
    }
}

impl Robot {
    /// At the odom origin, facing +x, standing still.
    pub fn new() -> Self {
        Robot {
            x: 0.0,
            y: 0.0,
            yaw: 0.0,
            v: 0.0,
            w: 0.0,
            command: None,
        }
    }

    /// A `/cmd_vel` arrived: `linear.x` and `angular.z` (the only axes a diff drive has).
    /// Non-finite values are ignored rather than poisoning the state.
    pub fn command(&mut self, v: f64, w: f64, now: Instant) {
        if v.is_finite() && w.is_finite() {
            self.command = Some((v, w, now));
        }
    }

    /// Advance by `dt`. The velocities are the last command's while it is younger than
    /// [`COMMAND_TIMEOUT`], else zero. A move that would hit a wall or the pillar is not taken.
    pub fn step(&mut self, dt: f64, now: Instant) {
        (self.v, self.w) = match self.command {
            Some((v, w, at)) if now.saturating_duration_since(at) <= COMMAND_TIMEOUT => (v, w),
            _ => (0.0, 0.0),
        };
        // Exact unicycle integration over the step (an arc), so turning in place and driving
        // in circles do not drift the way Euler integration would.
        let (dx, dy) = if self.w.abs() < 1e-9 {
            (self.v * dt * self.yaw.cos(), self.v * dt * self.yaw.sin())
        } else {
            let r = self.v / self.w;
            let yaw1 = self.yaw + self.w * dt;
            (
                r * (yaw1.sin() - self.yaw.sin()),
                -r * (yaw1.cos() - self.yaw.cos()),
            )
        };
        let (nx, ny) = (self.x + dx, self.y + dy);
        if is_free(nx, ny) {
            self.x = nx;
            self.y = ny;
        }
        self.yaw = normalize_angle(self.yaw + self.w * dt);
    }

    /// Where the laser sits in the odom frame.
    pub fn laser_pose(&self) -> (f64, f64, f64) {
        (
            self.x + LASER_X * self.yaw.cos(),
            self.y + LASER_X * self.yaw.sin(),
            self.yaw,
        )
    }

    /// One scan: [`SCAN_RAYS`] ranges from angle -π (behind) counter-clockwise, in the laser
    /// frame, each clamped to [[`RANGE_MIN`], [`RANGE_MAX`]]; and per ray an intensity (100 for
    /// walls, 200 for the pillar) so the viewer can colour them apart.
    pub fn scan(&self) -> (Vec<f32>, Vec<f32>) {
        let (lx, ly, lyaw) = self.laser_pose();
        let mut ranges = Vec::with_capacity(SCAN_RAYS);
        let mut intensities = Vec::with_capacity(SCAN_RAYS);
        for i in 0..SCAN_RAYS {
            let a = lyaw + scan_angle(i);
            let (d, pillar) = cast_ray(lx, ly, a.cos(), a.sin());
            ranges.push((d as f32).clamp(RANGE_MIN, RANGE_MAX));
            intensities.push(if pillar { 200.0 } else { 100.0 });
        }
        (ranges, intensities)
    }
}

/// The first ray's angle in the laser frame.
pub const ANGLE_MIN: f64 = -PI;

/// Angle between rays.
pub fn angle_increment() -> f64 {
    2.0 * PI / SCAN_RAYS as f64
}

/// Angle of ray `i` in the laser frame.
pub fn scan_angle(i: usize) -> f64 {
    ANGLE_MIN + i as f64 * angle_increment()
}

/// Whether the robot's footprint centred at (x, y) fits: inside the room, clear of the pillar.
pub fn is_free(x: f64, y: f64) -> bool {
    let inside = x.abs() <= ROOM_HALF_X - ROBOT_RADIUS && y.abs() <= ROOM_HALF_Y - ROBOT_RADIUS;
    let (px, py, ph) = PILLAR;
    let in_pillar = (x - px).abs() < ph + ROBOT_RADIUS && (y - py).abs() < ph + ROBOT_RADIUS;
    inside && !in_pillar
}

/// Distance from (ox, oy) along the unit direction (dx, dy) to the first wall or pillar face,
/// and whether that was the pillar. From inside the room a wall is always hit.
pub fn cast_ray(ox: f64, oy: f64, dx: f64, dy: f64) -> (f64, bool) {
    // The room, seen from inside: the exit distance along each axis.
    let exit = |o: f64, d: f64, half: f64| {
        if d > 1e-12 {
            (half - o) / d
        } else if d < -1e-12 {
            (-half - o) / d
        } else {
            f64::INFINITY
        }
    };
    let wall = exit(ox, dx, ROOM_HALF_X)
        .min(exit(oy, dy, ROOM_HALF_Y))
        .max(0.0);
    // The pillar, seen from outside: the slab method for a ray against an axis-aligned box.
    let (px, py, ph) = PILLAR;
    let slab = |o: f64, d: f64, lo: f64, hi: f64| -> (f64, f64) {
        if d.abs() < 1e-12 {
            if o >= lo && o <= hi {
                (f64::NEG_INFINITY, f64::INFINITY)
            } else {
                (f64::INFINITY, f64::NEG_INFINITY)
            }
        } else {
            let (a, b) = ((lo - o) / d, (hi - o) / d);
            (a.min(b), a.max(b))
        }
    };
    let (tx0, tx1) = slab(ox, dx, px - ph, px + ph);
    let (ty0, ty1) = slab(oy, dy, py - ph, py + ph);
    let (t0, t1) = (tx0.max(ty0), tx1.min(ty1));
    if t0 <= t1 && t0 >= 0.0 && t0 < wall {
        (t0, true)
    } else {
        (wall, false)
    }
}

/// An angle in (-π, π].
pub fn normalize_angle(a: f64) -> f64 {
    let mut a = a % (2.0 * PI);
    if a > PI {
        a -= 2.0 * PI;
    } else if a <= -PI {
        a += 2.0 * PI;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        // A fixed base so the tests do not depend on the clock.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn drives_straight_and_stops_after_the_timeout() {
        let mut r = Robot::new();
        r.command(1.0, 0.0, at(0));
        for i in 1..=100 {
            r.step(0.02, at(i * 20));
        }
        // Moving for 0.5 s at 1 m/s, then stopped.
        assert!((r.x - 0.5).abs() < 1e-9, "x = {}", r.x);
        assert_eq!((r.y, r.yaw, r.v, r.w), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn turns_in_place_and_drives_an_arc() {
        let mut r = Robot::new();
        for i in 0..50 {
            r.command(0.0, 1.0, at(i * 20));
            r.step(0.02, at(i * 20));
        }
        assert!((r.yaw - 1.0).abs() < 1e-9);
        assert_eq!((r.x, r.y), (0.0, 0.0));

        // A quarter circle of radius 1 from the origin facing +x ends at (1, 1) facing +y.
        let mut r = Robot::new();
        let steps = 100;
        let dt = (PI / 2.0) / steps as f64;
        for i in 0..steps {
            r.command(1.0, 1.0, at(i));
            r.step(dt, at(i));
        }
        assert!(
            (r.x - 1.0).abs() < 1e-9 && (r.y - 1.0).abs() < 1e-9,
            "{r:?}"
        );
        assert!((r.yaw - PI / 2.0).abs() < 1e-9);
    }

    #[test]
    fn ignores_non_finite_commands_and_stops_at_walls() {
        let mut r = Robot::new();
        r.command(f64::NAN, 0.0, at(0));
        r.step(0.02, at(0));
        assert_eq!(r.v, 0.0);
        r.yaw = PI;
        for i in 0..2000 {
            r.command(2.0, 0.0, at(i * 20));
            r.step(0.02, at(i * 20));
        }
        assert!(r.x >= -ROOM_HALF_X + ROBOT_RADIUS - 1e-9);
        assert!(r.x < -ROOM_HALF_X + ROBOT_RADIUS + 0.05, "x = {}", r.x);
    }

    #[test]
    fn rays_hit_walls_and_the_pillar() {
        let (d, p) = cast_ray(0.0, 0.0, 1.0, 0.0);
        assert!((d - 5.0).abs() < 1e-9 && !p);
        let (d, p) = cast_ray(0.0, 0.0, 0.0, -1.0);
        assert!((d - 3.0).abs() < 1e-9 && !p);
        // Towards the pillar's centre from the origin: it is 0.3 m in front of the face.
        let (px, py, ph) = PILLAR;
        let n = (px * px + py * py).sqrt();
        let (d, p) = cast_ray(0.0, 0.0, px / n, py / n);
        assert!(p && d < n && d > n - ph * 2.0_f64.sqrt(), "d = {d}");
        // Straight along y at the pillar's x: hits its lower face at y = 0.7.
        let (d, p) = cast_ray(px, -2.0, 0.0, 1.0);
        assert!(p && (d - (py - ph + 2.0)).abs() < 1e-9);
    }

    #[test]
    fn scan_is_in_range_and_oriented() {
        let r = Robot::new();
        let (ranges, intens) = r.scan();
        assert_eq!((ranges.len(), intens.len()), (SCAN_RAYS, SCAN_RAYS));
        assert!(ranges.iter().all(|d| (RANGE_MIN..=RANGE_MAX).contains(d)));
        // Ray SCAN_RAYS/2 looks straight ahead (+x): the wall is 5 m from base_link.
        assert!((ranges[SCAN_RAYS / 2] - (5.0 - LASER_X) as f32).abs() < 1e-4);
        // Ray 0 looks behind (-x).
        assert!((ranges[0] - (5.0 + LASER_X) as f32).abs() < 1e-4);
        // Three quarters round (+90°) looks along +y.
        assert!((ranges[SCAN_RAYS * 3 / 4] - 3.0).abs() < 1e-4);
    }

    #[test]
    fn angles_normalise() {
        assert!((normalize_angle(3.0 * PI) - PI).abs() < 1e-12);
        assert!((normalize_angle(-PI) - PI).abs() < 1e-12);
        assert!((normalize_angle(0.5) - 0.5).abs() < 1e-12);
        assert!((normalize_angle(-7.0) - (-7.0 + 2.0 * PI)).abs() < 1e-12);
    }
}
