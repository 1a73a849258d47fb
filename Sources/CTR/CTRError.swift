// The one error type of the CTR module: invalid specs and configs, non-finite training state,
// unreadable model files. Messages follow "what failed, the value, the fix".

/// An error raised by the CTR module, with a kind to match on and a message for people.
public struct CTRError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The class of failure.
  public enum Kind: String, Sendable {
    case invalidSpec, invalidConfig, batchMismatch, nonFinite, invalidModelFile
  }

  public var kind: Kind
  /// A lowercase primary message naming the value and the fix.
  public var message: String

  /// Creates an error of a kind with a message.
  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  public var description: String { message }
}
