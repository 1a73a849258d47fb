// The portfolio of a campaign set: the total daily budget shared by the campaigns of one data set.
// Parsed from `portfolio.json` by CampaignFile.parsePortfolio; no I/O here.

/// A portfolio: the data set of a campaign set and the daily budget shared by its campaigns.
public struct Portfolio: Sendable, Equatable {
  /// The data set whose campaigns share the budget.
  public var dataset: String
  /// The total daily budget in micros, never negative after validation.
  public var dailyBudgetMicros: Int64

  /// Creates a portfolio.
  public init(dataset: String, dailyBudgetMicros: Int64) {
    self.dataset = dataset
    self.dailyBudgetMicros = dailyBudgetMicros
  }
}
