// Temporary stand-in for the Postgres API while the real module is written on another branch.
// It only lets the importers compile; every call throws. Delete this file when the module lands.

import Foundation

public enum PostgresValue: Sendable, Equatable {
  case null, text(String), int64(Int64), int32(Int32), float8(Double), float4(Float)
  case bool(Bool), bytea([UInt8]), timestamptz(Date), date(String)
  case textArray([String?]), float8Array([Double?]), int32Array([Int32]), jsonb(String), uuid(String)
}

public struct PostgresError: Error, Sendable {
  public var message: String
}

public struct Row {
  public func string(_ i: Int) throws -> String { throw PostgresError(message: "stand-in") }
  public func int64(_ i: Int) throws -> Int64 { throw PostgresError(message: "stand-in") }
}

public struct BinaryCopyWriter {
  public mutating func beginRow(_ columnCount: Int) {}
  public mutating func writeNull() {}
  public mutating func writeText(_ value: String) {}
  public mutating func writeInt64(_ value: Int64) {}
  public mutating func writeInt16(_ value: Int16) {}
  public mutating func writeFloat8(_ value: Double) {}
  public mutating func writeTimestamptz(_ value: Date) {}
  public mutating func writeTextArray(_ value: [String?]) {}
  public mutating func writeFloat8Array(_ value: [Double?]) {}
  public mutating func writeOptionalText(_ value: String?) {}
  public mutating func writeOptionalFloat8(_ value: Double?) {}
}

public final class Connection {
  public init() {}
  public func execute(_ sql: String, _ parameters: [PostgresValue] = []) throws -> Int {
    throw PostgresError(message: "stand-in")
  }
  public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws -> [Row] {
    throw PostgresError(message: "stand-in")
  }
  public func transaction<T>(_ body: () throws -> T) throws -> T {
    throw PostgresError(message: "stand-in")
  }
  public func copyIn(_ sql: String, _ write: (inout BinaryCopyWriter) throws -> Void) throws -> Int
  {
    throw PostgresError(message: "stand-in")
  }
}
