// The error type of the pipeline: a message that names the data set, file, row or field, the
// value that failed and what to do about it.

/// A pipeline failure with a message fit to print as it is.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
  public var message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}
