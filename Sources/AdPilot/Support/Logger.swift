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
      line += " \(key)=\(quoted(metadata[key] ?? ""))"
    }
    return line
  }

  /// Returns a metadata value as it is, or in double quotes when it is empty or contains a space,
  /// a quote, a backslash or a control character. Inside quotes, a quote or backslash gets a
  /// backslash, and control characters are written as escapes, so that a value taken from data
  /// (an id with a newline, say) stays on its line and cannot pass for another key.
  static func quoted(_ value: String) -> String {
    let plain = value.unicodeScalars.allSatisfy {
      $0 != " " && $0 != "\"" && $0 != "\\" && !isControl($0)
    }
    guard value.isEmpty || !plain else { return value }
    var text = "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": text += "\\\""
      case "\\": text += "\\\\"
      case "\n": text += "\\n"
      case "\r": text += "\\r"
      case "\t": text += "\\t"
      case _ where isControl(scalar):
        text += "\\u{\(String(scalar.value, radix: 16))}"
      default: text.unicodeScalars.append(scalar)
      }
    }
    return text + "\""
  }

  /// Returns whether `scalar` is a control character (C0, DEL or C1) or a line or paragraph
  /// separator, any of which could end or disguise a log line.
  static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .lineSeparator, .paragraphSeparator: true
    default: false
    }
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
