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

  /// Generates the impressions without a database and hands them to `body` in time order, in
  /// chunks of at most 16,384 records that never span two days. Only one chunk of impressions
  /// is in memory at a time.
  public func generateImpressions(_ body: ([ImpressionRecord]) throws -> Void) throws {
    try stream(
      population: { _ in }, history: { _ in }, day: { _, _, _ in }, impressions: body,
      requests: { _ in })
  }

  /// Generates the whole log in order and hands each part to a callback as soon as it is ready.
  /// The order is the users and ads, then the history before the first day, then each day's
  /// number, date and behaviour events followed by its impressions in chunks. The ad requests
  /// of the next day come last.
  func stream(
    chunkSize: Int = 16_384,
    population: (SyntheticWorld) throws -> Void,
    history: ([SyntheticEvent]) throws -> Void,
    day: (_ index: Int, _ date: String, _ events: [SyntheticEvent]) throws -> Void,
    impressions: ([ImpressionRecord]) throws -> Void,
    requests: ([SyntheticAdRequest]) throws -> Void
  ) throws {
    var log = try SyntheticLog(config: config, chunkSize: chunkSize)
    try population(log.world)
    try history(log.generateInitialHistory())
    for index in 0..<config.days {
      let dayMicros = log.startMicros + Int64(index) * SyntheticLog.microsPerDay
      let date = CivilDate.text(ofEpochSeconds: dayMicros / 1_000_000)
      try log.generateDay(
        index, events: { try day(index, date, $0) }, impressions: impressions)
    }
    try requests(log.generateAdRequests())
  }
}
