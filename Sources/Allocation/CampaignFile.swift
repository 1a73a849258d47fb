// Strict parsing and validation of campaign and portfolio JSON files.
// The caller reads the bytes; this file never opens files and accepts no unknown keys.

import Foundation

/// A parser and validator of campaign files and portfolio files.
public enum CampaignFile {
  /// Parses and validates one campaign file.
  public static func parse(_ data: Data, file: String) throws(CampaignFileError) -> Campaign {
    throw CampaignFileError(file: file, field: nil, value: nil, message: "todo", fix: "todo")
  }

  /// Parses and validates a portfolio file.
  public static func parsePortfolio(_ data: Data, file: String) throws(CampaignFileError)
    -> Portfolio
  {
    throw CampaignFileError(file: file, field: nil, value: nil, message: "todo", fix: "todo")
  }

  /// Validates a set of parsed campaigns: ids unique across files, data sets matching the
  /// portfolio when one is given.
  public static func validateSet(
    _ entries: [(file: String, campaign: Campaign)],
    portfolio: (file: String, portfolio: Portfolio)? = nil
  ) throws(CampaignFileError) {
  }
}
