// The real-ROS benchmark's publisher (scripts/bench-ros.sh): a plain rcl node publishing
// sensor_msgs/msg/CompressedImage at a fixed rate, as serialized CDR built once (the same layout
// as benches/compare/src/payload.rs: sequence number and send time in the first 16 data bytes).
// C against rcl so the publisher takes as little CPU from the gateway as possible (about half of
// what rclpy needs at 20 kHz); it measures and reports the rate it achieved, so a slow publisher
// is visible in the results, never mistaken for loss.
//
//   rcl_pub --size BYTES --rate HZ --duration-ms MS [--depth N] [--topic T] [--best-effort]
//
// Protocol on stdio (driven by `gateway-bench ros`): prints `READY` once the publisher exists,
// waits for `GO` on stdin, waits (≤ 10 s) until a subscription has matched, publishes on an
// absolute schedule (a late wake-up is caught up, not skipped), then prints
// `DONE <sent> <cpu ns> <elapsed ns> <matched subscriptions>` and exits.

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rcl/rcl.h>
#include <rmw/rmw.h>
#include <rosidl_runtime_c/message_type_support_struct.h>
#include <sensor_msgs/msg/compressed_image.h>

// 4 (encapsulation) + 8 (stamp) + 8 (empty frame_id, padded) + 8 (empty format) + 4 (data length)
#define DATA_OFFSET 32
#define MIN_SIZE (DATA_OFFSET + 16)

static uint64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }  // little-endian hosts only
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static int die(const char *what, rcl_ret_t rc) {
  fprintf(stderr, "rcl_pub: %s failed (%d): %s\n", what, (int)rc, rcutils_get_error_string().str);
  return 1;
}

int main(int argc, char **argv) {
  size_t size = 100;
  double rate = 1000;
  long duration_ms = 3000;
  size_t depth = 10;
  const char *topic = "/bench";
  int best_effort = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--size") && v) size = strtoul(v, NULL, 10), i++;
    else if (!strcmp(a, "--rate") && v) rate = strtod(v, NULL), i++;
    else if (!strcmp(a, "--duration-ms") && v) duration_ms = strtol(v, NULL, 10), i++;
    else if (!strcmp(a, "--depth") && v) depth = strtoul(v, NULL, 10), i++;
    else if (!strcmp(a, "--topic") && v) topic = v, i++;
    else if (!strcmp(a, "--best-effort")) best_effort = 1;
    else {
      fprintf(stderr, "rcl_pub: unknown argument %s\n", a);
      return 2;
    }
  }
  if (size < MIN_SIZE) size = MIN_SIZE;
  if (rate <= 0) {
    fprintf(stderr, "rcl_pub: --rate must be > 0\n");
    return 2;
  }

  rcl_allocator_t alloc = rcl_get_default_allocator();
  rcl_init_options_t init_options = rcl_get_zero_initialized_init_options();
  rcl_ret_t rc = rcl_init_options_init(&init_options, alloc);
  if (rc != RCL_RET_OK) return die("rcl_init_options_init", rc);
  rcl_context_t context = rcl_get_zero_initialized_context();
  rc = rcl_init(0, NULL, &init_options, &context);
  if (rc != RCL_RET_OK) return die("rcl_init", rc);
  rcl_node_t node = rcl_get_zero_initialized_node();
  rcl_node_options_t node_options = rcl_node_get_default_options();
  rc = rcl_node_init(&node, "rostier_bench_pub", "", &context, &node_options);
  if (rc != RCL_RET_OK) return die("rcl_node_init", rc);

  const rosidl_message_type_support_t *ts = ROSIDL_GET_MSG_TYPE_SUPPORT(sensor_msgs, msg, CompressedImage);
  rcl_publisher_t pub = rcl_get_zero_initialized_publisher();
  rcl_publisher_options_t pub_options = rcl_publisher_get_default_options();
  pub_options.qos.history = RMW_QOS_POLICY_HISTORY_KEEP_LAST;
  pub_options.qos.depth = depth;
  pub_options.qos.reliability = best_effort ? RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT : RMW_QOS_POLICY_RELIABILITY_RELIABLE;
  pub_options.qos.durability = RMW_QOS_POLICY_DURABILITY_VOLATILE;
  rc = rcl_publisher_init(&pub, &node, ts, topic, &pub_options);
  if (rc != RCL_RET_OK) return die("rcl_publisher_init", rc);

  // The message, serialized once: CDR little-endian, zero stamp, empty frame_id and format,
  // `size - DATA_OFFSET` data bytes of a non-zero fill.
  rcl_serialized_message_t msg = rmw_get_zero_initialized_serialized_message();
  rc = rmw_serialized_message_init(&msg, size, &alloc);
  if (rc != RMW_RET_OK) return die("rmw_serialized_message_init", rc);
  uint8_t *b = msg.buffer;
  memset(b, 0, DATA_OFFSET);
  b[1] = 0x01;            // CDR_LE
  put_u32(b + 12, 1);     // frame_id: "" + NUL
  put_u32(b + 20, 1);     // format: "" + NUL
  put_u32(b + 28, (uint32_t)(size - DATA_OFFSET));
  for (size_t i = DATA_OFFSET; i < size; i++) b[i] = (uint8_t)((i - DATA_OFFSET) % 251);
  msg.buffer_length = size;

  printf("READY\n");
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin) || strncmp(line, "GO", 2) != 0) {
    fprintf(stderr, "rcl_pub: expected GO on stdin\n");
    return 1;
  }
  size_t matched = 0;
  uint64_t wait_until = now_ns(CLOCK_MONOTONIC) + 10000000000ull;
  while (rcl_publisher_get_subscription_count(&pub, &matched) == RCL_RET_OK && matched == 0 &&
         now_ns(CLOCK_MONOTONIC) < wait_until) {
    struct timespec d = {0, 10000000};
    nanosleep(&d, NULL);
  }
  // Both ends of a reliable match should know each other before the first sample.
  struct timespec settle = {0, 300000000};
  nanosleep(&settle, NULL);

  const uint64_t period_ns = (uint64_t)(1e9 / rate);
  const uint64_t total = (uint64_t)((double)duration_ms * rate / 1000.0);
  uint64_t cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  uint64_t start = now_ns(CLOCK_MONOTONIC);
  uint64_t sent = 0;
  for (uint64_t seq = 0; seq < total; seq++) {
    uint64_t due = start + seq * period_ns;
    if (now_ns(CLOCK_MONOTONIC) < due) {
      struct timespec t = {(time_t)(due / 1000000000ull), (long)(due % 1000000000ull)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
      }
    }
    uint64_t wall = now_ns(CLOCK_REALTIME);
    put_u32(b + 4, (uint32_t)(wall / 1000000000ull));
    put_u32(b + 8, (uint32_t)(wall % 1000000000ull));
    put_u64(b + DATA_OFFSET, seq);
    put_u64(b + DATA_OFFSET + 8, wall);
    rc = rcl_publish_serialized_message(&pub, &msg, NULL);
    if (rc != RCL_RET_OK) return die("rcl_publish_serialized_message", rc);
    sent++;
  }
  uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - start;
  uint64_t cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
  // Give the reliable writer a moment to (re)send the tail before the participant goes away.
  struct timespec linger = {0, 500000000};
  nanosleep(&linger, NULL);
  printf("DONE %llu %llu %llu %zu\n", (unsigned long long)sent, (unsigned long long)cpu,
         (unsigned long long)elapsed, matched);
  fflush(stdout);

  rmw_serialized_message_fini(&msg);
  rcl_publisher_fini(&pub, &node);
  rcl_node_fini(&node);
  rcl_shutdown(&context);
  rcl_context_fini(&context);
  rcl_init_options_fini(&init_options);
  return 0;
}
