// Entry point of the synthetic ad-log generator: a known hidden click model over users with
// behaviour histories, ads in campaigns and hourly traffic. Streams day by day. The database
// writer is in SyntheticGenerator+Database.swift.

import CTR
import Foundation

/// A generator of the `synthetic` data set: users, behaviour events, ads, impressions with their
/// true click probability, and ad requests for the day after the log.
public struct SyntheticGenerator: Sendable {
  /// Name of the data set the generator writes.
  public static let dataset = SyntheticSchema.dataset
  /// Ids of the generated campaigns, `syn-01` ... `syn-12`.
  public static var campaignIds: [String] { SyntheticCampaigns.ids }

  /// The configuration this generator was created with.
  public let config: SyntheticConfig

  /// Creates a generator after checking the configuration.
  public init(_ config: SyntheticConfig = SyntheticConfig()) throws(SyntheticConfigError) {
    _ = try config.validated()
    self.config = config
  }

  /// The feature spec of the data set: 8 user, 5 ad and 3 context categorical fields and a
  /// behaviour sequence of (category, brand) items that share the ad fields' embeddings.
  public var featureSpec: FeatureSpec {
    SyntheticSchema.featureSpec(ads: config.ads, maxSequenceLength: config.maxSequenceLength)
  }

  /// Generates the impressions day by day, without a database, and hands each day's records
  /// (in time order) with its "YYYY-MM-DD" date to `body`. Only one day is in memory at a time.
  public func forEachDay(_ body: (String, [ImpressionRecord]) throws -> Void) throws {
    try stream(
      population: { _ in }, history: { _ in }, day: { try body($0.date, $0.impressions) },
      requests: { _ in })
  }

  /// Generates the whole log in order, handing each part to a callback as soon as it is ready:
  /// the users and ads, the history before the first day, then each day, then the next day's ad
  /// requests. Only one day's rows are in memory at a time.
  func stream(
    population: (SyntheticWorld) throws -> Void,
    history: ([SyntheticEvent]) throws -> Void,
    day: (SyntheticDay) throws -> Void,
    requests: ([SyntheticAdRequest]) throws -> Void
  ) throws {
    var log = try SyntheticLog(config: config)
    try population(log.world)
    try history(log.generateInitialHistory())
    for index in 0..<config.days {
      try day(log.generateDay(index))
    }
    try requests(log.generateAdRequests())
  }
}
