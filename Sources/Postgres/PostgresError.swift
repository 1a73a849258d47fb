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
    let lost = connection.map { PQstatus($0) != CONNECTION_OK } ?? false
    return PostgresError(
      kind: kind,
      message: trimmed(message).isEmpty ? "\(kind.rawValue) failed" : trimmed(message),
      sqlState: field("C"),
      detail: field("D"),
      hint: field("H") ?? (lost ? lostConnectionHint : nil),
      target: target
    )
  }

  /// The fix for a statement that failed because the server closed the connection. libpq's own
  /// message then suggests a crash, but a stop, a restart or pg_terminate_backend reads the same.
  static let lostConnectionHint =
    "the server closed the connection, as it does when it stops or restarts or when an "
    + "administrator ends the session, and it rolls back a transaction that was still open; "
    + "check that the server runs (`adpilot db status`, `adpilot db start`), then run the "
    + "command again"

  /// Returns the fix for a failed connection attempt, chosen by the cause in libpq's message: a
  /// missing or rejected password, an unknown role or database, a pg_hba.conf rejection, else an
  /// unreachable server. `needsPassword` is `PQconnectionNeedsPassword`.
  ///
  /// NOTE: Apart from `needsPassword`, the cause is read from the server's English message texts
  /// (PostgreSQL 15), because libpq gives no SQLSTATE for a failed connection. A server whose
  /// lc_messages is another language gets the hint for an unreachable server.
  static func connectionHint(libpqMessage message: String, needsPassword: Bool) -> String {
    if needsPassword {
      return "the server requires a password: put it in DATABASE_URL "
        + "(postgresql://user:password@host/database), PGPASSWORD or ~/.pgpass"
    }
    if message.contains("password authentication failed") {
      return "the server rejected the user name or password: correct them in DATABASE_URL "
        + "(or PGUSER and PGPASSWORD)"
    }
    if message.contains("role \""), message.contains("does not exist") {
      return "the user does not exist on that server: correct the user name in DATABASE_URL "
        + "(or PGUSER), or create the role"
    }
    if message.contains("database \""), message.contains("does not exist") {
      return "the database does not exist on that server: correct its name in DATABASE_URL "
        + "(or PGDATABASE), or create it with createdb"
    }
    if message.contains("no pg_hba.conf entry") {
      return "the server's pg_hba.conf has no entry that admits this user, database and "
        + "address: add one there, or connect as another user"
    }
    return "is the server running? start it with `adpilot db start`, or set DATABASE_URL "
      + "(or PGHOST and PGDATABASE) to a running server"
  }

  /// Drops the trailing newline libpq puts on its messages.
  static func trimmed(_ message: String) -> String {
    var text = Substring(message)
    while let last = text.last, last.isWhitespace { text.removeLast() }
    return String(text)
  }
}
