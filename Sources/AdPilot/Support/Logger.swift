// A small leveled logger with key=value metadata, written to standard error. The library logs at
// debug; the command-line tool logs at info. Messages never carry passwords or other secrets.

import Foundation

/// A logger that writes `level message key=value ...` lines to standard error.
public struct Logger: Sendable {
  /// The severity of a log line, lowest first.
  public enum Level: Int, Comparable, Sendable, CaseIterable {
    case debug, info, warning, error

    public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

    var label: String {
      switch self {
      case .debug: "debug"
      case .info: "info"
      case .warning: "warning"
      case .error: "error"
      }
    }
  }

  /// The lowest level written; lines below it are dropped.
  public var minimumLevel: Level

  public init(minimumLevel: Level = .info) {
    self.minimumLevel = minimumLevel
  }

  /// Formats one log line; metadata keys are sorted so lines are stable.
  public static func format(_ level: Level, _ message: String, _ metadata: [String: String])
    -> String
  {
    var line = "\(level.label) \(message)"
    for key in metadata.keys.sorted() {
      let value = metadata[key] ?? ""
      let needsQuotes = value.isEmpty || value.contains(" ") || value.contains("\"")
      let formattedValue =
        needsQuotes ? "\"\(value.replacingOccurrences(of: "\"", with: "\\\""))\"" : value
      line += " \(key)=\(formattedValue)"
    }
    return line
  }

  /// Writes `message` with `metadata` when `level` is at or above the minimum.
  public func log(_ level: Level, _ message: String, _ metadata: [String: String] = [:]) {
    guard level >= minimumLevel else { return }
    let line = Logger.format(level, message, metadata) + "\n"
    FileHandle.standardError.write(Data(line.utf8))
  }

  public func debug(_ message: String, _ metadata: [String: String] = [:]) {
    log(.debug, message, metadata)
  }

  public func info(_ message: String, _ metadata: [String: String] = [:]) {
    log(.info, message, metadata)
  }

  public func warning(_ message: String, _ metadata: [String: String] = [:]) {
    log(.warning, message, metadata)
  }

  public func error(_ message: String, _ metadata: [String: String] = [:]) {
    log(.error, message, metadata)
  }
}
