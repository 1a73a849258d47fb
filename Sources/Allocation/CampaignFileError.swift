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
}
