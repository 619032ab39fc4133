// Hand-written expectations for test_interface_files values, in the exact shape
// @foxglove/rosmsg2-serialization's MessageReader returns: numeric arrays as typed arrays, bool
// and string arrays as plain arrays, 64-bit integers as bigint. Written from
// /usr/share/test_interface_files/msg/*.msg by hand, never computed by the gateway's code.
//
// Each function returns a fresh object, so a test may modify its copy.

/** BasicTypes with every field zero. */
export function zeroBasicTypes() {
  return {
    bool_value: false,
    byte_value: 0,
    char_value: 0,
    float32_value: 0,
    float64_value: 0,
    int8_value: 0,
    uint8_value: 0,
    int16_value: 0,
    uint16_value: 0,
    int32_value: 0,
    uint32_value: 0,
    int64_value: 0n,
    uint64_value: 0n,
  };
}

/** Defaults.msg with nothing set: every field at its declared default. */
export function defaultDefaults() {
  return {
    bool_value: true,
    byte_value: 50,
    char_value: 100,
    float32_value: 1.125,
    float64_value: 1.125,
    int8_value: -50,
    uint8_value: 200,
    int16_value: -1000,
    uint16_value: 2000,
    int32_value: -30000,
    uint32_value: 60000,
    int64_value: -40000000n,
    uint64_value: 50000000n,
  };
}

/** Constants.msg has only constants: it decodes to an empty object (one placeholder byte). */
export function constants() {
  return {};
}

/** The `*_default` fields shared by Arrays, BoundedSequences and UnboundedSequences. */
function declaredDefaultArrays() {
  return {
    bool_values_default: [false, true, false],
    byte_values_default: new Uint8Array([0, 1, 255]),
    char_values_default: new Uint8Array([0, 1, 127]),
    float32_values_default: new Float32Array([1.125, 0.0, -1.125]),
    float64_values_default: new Float64Array([3.1415, 0.0, -3.1415]),
    int8_values_default: new Int8Array([0, 127, -128]),
    uint8_values_default: new Uint8Array([0, 1, 255]),
    int16_values_default: new Int16Array([0, 32767, -32768]),
    uint16_values_default: new Uint16Array([0, 1, 65535]),
    int32_values_default: new Int32Array([0, 2147483647, -2147483648]),
    uint32_values_default: new Uint32Array([0, 1, 4294967295]),
    int64_values_default: new BigInt64Array([0n, 9223372036854775807n, -9223372036854775808n]),
    uint64_values_default: new BigUint64Array([0n, 1n, 18446744073709551615n]),
    string_values_default: ["", "max value", "min value"],
  };
}

/** Arrays.msg with nothing set: fixed arrays of zeros, nested messages at their defaults. */
export function defaultArrays() {
  return {
    bool_values: [false, false, false],
    byte_values: new Uint8Array(3),
    char_values: new Uint8Array(3),
    float32_values: new Float32Array(3),
    float64_values: new Float64Array(3),
    int8_values: new Int8Array(3),
    uint8_values: new Uint8Array(3),
    int16_values: new Int16Array(3),
    uint16_values: new Uint16Array(3),
    int32_values: new Int32Array(3),
    uint32_values: new Uint32Array(3),
    int64_values: new BigInt64Array(3),
    uint64_values: new BigUint64Array(3),
    string_values: ["", "", ""],
    basic_types_values: [zeroBasicTypes(), zeroBasicTypes(), zeroBasicTypes()],
    constants_values: [constants(), constants(), constants()],
    defaults_values: [defaultDefaults(), defaultDefaults(), defaultDefaults()],
    ...declaredDefaultArrays(),
    alignment_check: 0,
  };
}

/** UnboundedSequences.msg (and BoundedSequences.msg, same fields) with nothing set. */
export function defaultSequences() {
  return {
    bool_values: [],
    byte_values: new Uint8Array(0),
    char_values: new Uint8Array(0),
    float32_values: new Float32Array(0),
    float64_values: new Float64Array(0),
    int8_values: new Int8Array(0),
    uint8_values: new Uint8Array(0),
    int16_values: new Int16Array(0),
    uint16_values: new Uint16Array(0),
    int32_values: new Int32Array(0),
    uint32_values: new Uint32Array(0),
    int64_values: new BigInt64Array(0),
    uint64_values: new BigUint64Array(0),
    string_values: [],
    basic_types_values: [],
    constants_values: [],
    defaults_values: [],
    ...declaredDefaultArrays(),
    alignment_check: 0,
  };
}

/** MultiNested.msg with nothing set. */
export function defaultMultiNested() {
  return {
    array_of_arrays: [defaultArrays(), defaultArrays(), defaultArrays()],
    array_of_bounded_sequences: [defaultSequences(), defaultSequences(), defaultSequences()],
    array_of_unbounded_sequences: [defaultSequences(), defaultSequences(), defaultSequences()],
    bounded_sequence_of_arrays: [],
    bounded_sequence_of_bounded_sequences: [],
    bounded_sequence_of_unbounded_sequences: [],
    unbounded_sequence_of_arrays: [],
    unbounded_sequence_of_bounded_sequences: [],
    unbounded_sequence_of_unbounded_sequences: [],
  };
}

/** Strings.msg defaults (quotes and escapes as rosidl reads them). */
export function stringsDefaults() {
  return {
    string_value_default1: "Hello world!",
    string_value_default2: "Hello'world!",
    string_value_default3: 'Hello"world!',
    string_value_default4: "Hello'world!",
    string_value_default5: 'Hello"world!',
    bounded_string_value_default1: "Hello world!",
    bounded_string_value_default2: "Hello'world!",
    bounded_string_value_default3: 'Hello"world!',
    bounded_string_value_default4: "Hello'world!",
    bounded_string_value_default5: 'Hello"world!',
  };
}
