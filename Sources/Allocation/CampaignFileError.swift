// The error for an invalid campaign or portfolio file: which file, which field, the value, the fix.
// It only describes a problem; CampaignFile decides what is invalid.

/// An error in a campaign or portfolio file, naming the file, the field, the bad value and the fix.
public struct CampaignFileError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The file as the caller named it, such as `campaigns/synthetic/spring-sale.json`.
  public var file: String
  /// The JSON key at fault (a dotted path such as `day_parting.mon`), or nil for the whole file.
  public var field: String?
  /// The offending value as it appeared in the file, or nil when the value is missing.
  public var value: String?
  /// A short lowercase statement of what is wrong, such as "must be >= 0".
  public var message: String
  /// The change that makes the file valid.
  public var fix: String

  /// Creates an error; `message` and `fix` are short lowercase phrases.
  public init(file: String, field: String?, value: String?, message: String, fix: String) {
    self.file = file
    self.field = field
    self.value = value
    self.message = message
    self.fix = fix
  }

  /// The error as one line: `file: field 'x' must be >= 0, got -5; set a non-negative budget`.
  public var description: String {
    var text = "\(file): "
    if let field {
      text += "field '\(field)' "
    }
    text += message
    if let value {
      text += ", got \(value)"
    }
    return text + "; " + fix
  }

  /// The maximum length, in Unicode scalars, of a string that `quoted` writes in full.
  public static let maxQuotedLength = 40

  /// Quotes a string value for `value` as JSON writes it, so that control characters show as
  /// escapes. A string longer than `maxQuotedLength` is cut to its first 32 scalars and followed
  /// by its length, such as `"aaaa..." (9000 characters)`.
  public static func quoted(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard scalars.count > maxQuotedLength else {
      return JSONValue.string(text).serialized()
    }
    let start = String(String.UnicodeScalarView(scalars.prefix(32)))
    let escaped = JSONValue.string(start).serialized().dropLast()
    return "\(escaped)...\" (\(scalars.count) characters)"
  }
}
