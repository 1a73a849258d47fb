// Query parameter values and their wire encoding for PQexecParams.
// Scalars travel as text, except bytea, floats and timestamps, which travel in binary so that they
// round-trip exactly. This file must not build SQL text from values: values are always parameters.

import Foundation

/// A value bound to a `$n` placeholder of a parameterized statement.
public enum PostgresValue: Sendable, Equatable {
  case null
  case text(String)
  case int64(Int64)
  case int32(Int32)
  case float8(Double)
  case float4(Float)
  case bool(Bool)
  case bytea([UInt8])
  case timestamptz(Date)
  /// A calendar date as `YYYY-MM-DD`.
  case date(String)
  case textArray([String?])
  case float8Array([Double?])
  case int32Array([Int32])
  /// A JSON document as text; the server validates it.
  case jsonb(String)
  /// A UUID in its canonical text form.
  case uuid(String)
}

/// PostgreSQL type OIDs from `pg_type.dat` (stable across server versions).
enum TypeOID {
  static let unspecified: UInt32 = 0
  static let bool: UInt32 = 16
  static let bytea: UInt32 = 17
  static let int8: UInt32 = 20
  static let int2: UInt32 = 21
  static let int4: UInt32 = 23
  static let text: UInt32 = 25
  static let float4: UInt32 = 700
  static let float8: UInt32 = 701
  static let int4Array: UInt32 = 1007
  static let textArray: UInt32 = 1009
  static let float8Array: UInt32 = 1022
  static let bpchar: UInt32 = 1042
  static let varchar: UInt32 = 1043
  static let date: UInt32 = 1082
  static let timestamptz: UInt32 = 1184
  static let uuid: UInt32 = 2950
  static let jsonb: UInt32 = 3802
}

/// One parameter as PQexecParams takes it: type OID, bytes (nil for SQL NULL) and format code.
struct EncodedParameter {
  var type: UInt32
  var bytes: [UInt8]?
  /// 0 = text, 1 = binary.
  var format: Int32
}

extension PostgresValue {
  /// Encodes the value for PQexecParams. Text values are left untyped (OID 0) so that the server
  /// infers the type from context, as it does for a quoted literal.
  func encoded() -> EncodedParameter {
    switch self {
    case .null:
      return EncodedParameter(type: TypeOID.unspecified, bytes: nil, format: 0)
    case .text(let value):
      return .text(TypeOID.unspecified, value)
    case .int64(let value):
      return .text(TypeOID.int8, String(value))
    case .int32(let value):
      return .text(TypeOID.int4, String(value))
    case .float8(let value):
      return .binary(TypeOID.float8, bigEndianBytes(value.bitPattern))
    case .float4(let value):
      return .binary(TypeOID.float4, bigEndianBytes(value.bitPattern))
    case .bool(let value):
      return .text(TypeOID.bool, value ? "t" : "f")
    case .bytea(let value):
      return .binary(TypeOID.bytea, value)
    case .timestamptz(let value):
      return .binary(TypeOID.timestamptz, bigEndianBytes(PostgresTime.micros(from: value)))
    case .date(let value):
      return .text(TypeOID.date, value)
    case .textArray(let values):
      return .text(TypeOID.textArray, ArrayLiteral.text(values))
    case .float8Array(let values):
      return .text(TypeOID.float8Array, ArrayLiteral.float8(values))
    case .int32Array(let values):
      return .text(TypeOID.int4Array, ArrayLiteral.int32(values))
    case .jsonb(let value):
      return .text(TypeOID.jsonb, value)
    case .uuid(let value):
      return .text(TypeOID.uuid, value)
    }
  }
}

extension EncodedParameter {
  static func text(_ type: UInt32, _ value: String) -> EncodedParameter {
    EncodedParameter(type: type, bytes: Array(value.utf8), format: 0)
  }

  static func binary(_ type: UInt32, _ bytes: [UInt8]) -> EncodedParameter {
    EncodedParameter(type: type, bytes: bytes, format: 1)
  }
}

func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
  withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// Array literals in PostgreSQL's text input syntax (`{"a","b",NULL}`).
enum ArrayLiteral {
  /// Quotes every element, so that strings such as `NULL`, `""`, `{`, `,` or leading spaces stay
  /// strings. Inside double quotes only `"` and `\` need a backslash.
  static func text(_ values: [String?]) -> String {
    var literal = "{"
    for (index, value) in values.enumerated() {
      if index > 0 { literal += "," }
      guard let value else {
        literal += "NULL"
        continue
      }
      literal += "\""
      for character in value.unicodeScalars {
        if character == "\"" || character == "\\" { literal += "\\" }
        literal.unicodeScalars.append(character)
      }
      literal += "\""
    }
    return literal + "}"
  }

  /// Writes each double in Swift's shortest round-trip form, which `float8in` parses back to the
  /// same bits, and NaN and the infinities in the spellings PostgreSQL accepts.
  static func float8(_ values: [Double?]) -> String {
    let elements = values.map { value -> String in
      guard let value else { return "NULL" }
      if value.isNaN { return "NaN" }
      if value == .infinity { return "Infinity" }
      if value == -.infinity { return "-Infinity" }
      return "\(value)"
    }
    return "{" + elements.joined(separator: ",") + "}"
  }

  static func int32(_ values: [Int32]) -> String {
    "{" + values.map { String($0) }.joined(separator: ",") + "}"
  }
}
