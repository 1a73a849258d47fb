// The one error type of the Postgres module: what failed, the server's SQLSTATE and diagnostics,
// and the connection target. It must never carry a password.

import CLibPQ

/// An error from libpq or the server, with the server's diagnostic fields when there are any.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
  /// The stage that failed.
  public enum Kind: String, Sendable {
    case connection, query, copy, decode, lock
  }

  public var kind: Kind
  /// The five-character SQLSTATE code, such as `23505` for a unique violation.
  public var sqlState: String?
  /// The primary message, lowercase, without a trailing newline.
  public var message: String
  public var detail: String?
  /// The suggested fix, from the server or from this module.
  public var hint: String?
  /// The server the connection was for, such as `socket /tmp/x:5432 database adpilot`.
  public var target: String?

  /// Creates an error from its parts.
  public init(
    kind: Kind, message: String, sqlState: String? = nil, detail: String? = nil,
    hint: String? = nil, target: String? = nil
  ) {
    self.kind = kind
    self.sqlState = sqlState
    self.message = message
    self.detail = detail
    self.hint = hint
    self.target = target
  }

  public var description: String {
    var text = message
    if let sqlState { text += " (SQLSTATE \(sqlState))" }
    if let target { text += "\ntarget: \(target)" }
    if let detail { text += "\ndetail: \(detail)" }
    if let hint { text += "\nhint: \(hint)" }
    return text
  }
}

extension PostgresError {
  /// Builds an error from a failed result's diagnostic fields, or from the connection's last
  /// message when libpq returned no result at all.
  static func fromResult(
    _ result: OpaquePointer?, connection: OpaquePointer?, kind: Kind, target: String?
  ) -> PostgresError {
    func field(_ code: Character) -> String? {
      guard let result, let ascii = code.asciiValue,
        let value = PQresultErrorField(result, Int32(ascii))
      else { return nil }
      return String(cString: value)
    }
    let message =
      field("M") ?? result.flatMap { PQresultErrorMessage($0) }.map { String(cString: $0) }
      ?? connection.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? ""
    return PostgresError(
      kind: kind,
      message: trimmed(message).isEmpty ? "\(kind.rawValue) failed" : trimmed(message),
      sqlState: field("C"),
      detail: field("D"),
      hint: field("H"),
      target: target
    )
  }

  /// Drops the trailing newline libpq puts on its messages.
  static func trimmed(_ message: String) -> String {
    var text = Substring(message)
    while let last = text.last, last.isWhitespace { text.removeLast() }
    return String(text)
  }
}
