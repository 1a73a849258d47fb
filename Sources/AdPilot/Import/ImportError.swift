// Errors that stop an import or a write: a file that cannot be read, a missing column, a record
// the writer cannot store. Rows that are merely unusable are rejected, not thrown.

/// An error naming the file (and line, where there is one), what failed and what to do.
public struct ImportError: Error, Sendable, Equatable, CustomStringConvertible {
  public var file: String
  public var line: Int?
  public var message: String
  public var fix: String

  public init(file: String, line: Int? = nil, message: String, fix: String) {
    self.file = file
    self.line = line
    self.message = message
    self.fix = fix
  }

  public var description: String {
    let place = line.map { "\(file):\($0)" } ?? file
    return "\(place): \(message); \(fix)"
  }
}
