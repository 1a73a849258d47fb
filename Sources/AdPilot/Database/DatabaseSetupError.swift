// The error of the embedded database, project path lookup and migrations: what failed, the
// value or command involved, and what to do. Command output is included; passwords never are.

/// A failure to find the project, run the embedded PostgreSQL server or apply migrations.
public struct DatabaseSetupError: Error, CustomStringConvertible, Sendable {
  /// The short lowercase primary message, naming the path, command or file involved.
  public var message: String
  /// Output of the failed command or other supporting detail, if any.
  public var detail: String?
  /// The action that fixes the problem.
  public var fix: String?

  /// Creates an error from its parts.
  public init(_ message: String, detail: String? = nil, fix: String? = nil) {
    self.message = message
    self.detail = detail
    self.fix = fix
  }

  public var description: String {
    var text = message
    if let detail, !detail.isEmpty { text += "\n" + detail }
    if let fix { text += "\nfix: " + fix }
    return text
  }
}
