// Writes a generated synthetic log into PostgreSQL: the dataset row, users, ads, behaviour
// events, impressions and ad requests. One transaction per run, so a rerun replaces the data set
// and a failed run leaves the previous one in place.

import CTR
import Foundation
import Postgres

/// Row counts and timing of one generator run.
public struct SyntheticReport: Sendable, Equatable, CustomStringConvertible {
  /// Rows written to adpilot.users.
  public var users = 0
  /// Rows written to adpilot.ads.
  public var ads = 0
  /// Rows written to adpilot.user_events (history before the log and events during it).
  public var userEvents = 0
  /// Rows written to adpilot.impressions.
  public var impressions = 0
  /// Impressions with click = 1.
  public var clicks = 0
  /// Rows (request, candidate ad) written to adpilot.ad_requests.
  public var adRequests = 0
  /// Wall-clock seconds of the run so far.
  public var seconds = 0.0

  /// Creates an empty report.
  public init() {}

  /// The one-line summary: counts, click rate and impressions per second.
  public var description: String {
    let rate = impressions > 0 ? Double(clicks) / Double(impressions) : 0
    let perSecond = seconds > 0 ? Double(impressions) / seconds : 0
    return "synthetic: users=\(users) ads=\(ads) user_events=\(userEvents) "
      + "impressions=\(impressions) click_rate=\(String(format: "%.4f", rate)) "
      + "ad_requests=\(adRequests) seconds=\(String(format: "%.1f", seconds)) "
      + "impressions_per_s=\(Int(perSecond))"
  }
}

extension SyntheticGenerator {
  /// Generates the log into the database: replaces every `synthetic` row in adpilot.users,
  /// user_events, ads, impressions and ad_requests (and the scores of the old requests), and
  /// registers the feature spec, all in one transaction. `progress` gets the running counts
  /// after each chunk of impressions. After the commit it runs ANALYZE on ad_scores and
  /// ad_requests when the rows the run changed reach the bounds of
  /// ``analyzeAfterBulkWrite(_:table:changedRows:logger:)``.
  @discardableResult
  public func generate(
    into connection: Connection, progress: (SyntheticReport) -> Void = { _ in }
  ) throws -> SyntheticReport {
    let started = Date()
    var report = SyntheticReport()
    var deleted = DeletedRows()
    try connection.transaction {
      // Serializes concurrent runs, and imports into the same data set. The lock ends with the
      // transaction.
      try lockDataset(connection, name: Self.dataset)
      deleted = try deleteDataset(connection)
      try registerDataset(
        connection, name: Self.dataset, spec: featureSpec, validation: "time",
        source: "AdPilot synthetic generator: seed \(config.seed), \(config.users) users, "
          + "\(config.ads) ads, \(config.days) days from \(config.startDate)")

      let writer = ImpressionWriter(connection: connection, dataset: Self.dataset)
      var userIds = [String]()
      try stream(
        population: { world in
          userIds = world.userIds
          report.users = try copyUsers(world, connection)
          report.ads = try copyAds(world, connection)
        },
        history: { events in
          report.userEvents += try copyEvents(events, userIds: userIds, connection)
        },
        day: { _, _, events in
          report.userEvents += try copyEvents(events, userIds: userIds, connection)
        },
        impressions: { records in
          try writer.write(records)
          report.impressions += records.count
          report.clicks += records.reduce(0) { $0 + Int($1.click) }
          report.seconds = Date().timeIntervalSince(started)
          progress(report)
        },
        requests: { rows in
          report.adRequests = try copyAdRequests(rows, connection)
        })
    }
    // The impression partitions are left to autovacuum, because ANALYZE of them takes about
    // half as long as writing them (ImpressionWriter gives the measurement).
    let logger = Logger(minimumLevel: .warning)
    analyzeAfterBulkWrite(
      connection, table: .adScores, changedRows: deleted.scores, logger: logger)
    analyzeAfterBulkWrite(
      connection, table: .adRequests, changedRows: deleted.requests + report.adRequests,
      logger: logger)
    report.seconds = Date().timeIntervalSince(started)
    return report
  }

  /// Rows of the earlier run that a run deleted from the scoring tables.
  private struct DeletedRows {
    var scores = 0
    var requests = 0
  }

  private func deleteDataset(_ connection: Connection) throws -> DeletedRows {
    let dataset: [PostgresValue] = [.text(Self.dataset)]
    var deleted = DeletedRows()
    for table in ["ad_scores", "ad_requests", "impressions", "user_events", "users", "ads"] {
      let count = try connection.execute(
        "DELETE FROM adpilot.\(table) WHERE dataset = $1", dataset)
      if table == "ad_scores" { deleted.scores = count }
      if table == "ad_requests" { deleted.requests = count }
    }
    return deleted
  }

  private func copyUsers(_ world: SyntheticWorld, _ connection: Connection) throws -> Int {
    try connection.copyIn(
      "COPY adpilot.users (dataset, user_id, profile) FROM STDIN (FORMAT binary)"
    ) { copy in
      for user in 0..<world.userCount {
        let profile: [String?] = SyntheticSchema.userFields.enumerated().map { field, definition in
          definition.values[world.profileValue(user: user, field: field)]
        }
        copy.beginRow(3)
        copy.writeText(Self.dataset)
        copy.writeText(world.userIds[user])
        copy.writeTextArray(profile)
      }
    }
  }

  /// Copies ads with attributes in the order of the spec's ad fields.
  private func copyAds(_ world: SyntheticWorld, _ connection: Connection) throws -> Int {
    try connection.copyIn(
      "COPY adpilot.ads (dataset, ad_id, campaign_id, attributes) FROM STDIN (FORMAT binary)"
    ) { copy in
      for ad in world.ads {
        let campaign = SyntheticCampaigns.all[ad.campaign]
        copy.beginRow(4)
        copy.writeText(Self.dataset)
        copy.writeText(ad.id)
        copy.writeText(campaign.id)
        copy.writeTextArray([
          ad.id, SyntheticSchema.categories[ad.category], SyntheticSchema.brands[ad.brand],
          campaign.advertiser, SyntheticSchema.priceBands[ad.priceBand],
        ])
      }
    }
  }

  /// Copies behaviour events with item_values in the order of the spec's sequence fields.
  private func copyEvents(
    _ events: [SyntheticEvent], userIds: [String], _ connection: Connection
  ) throws -> Int {
    guard !events.isEmpty else { return 0 }
    return try connection.copyIn(
      "COPY adpilot.user_events (dataset, user_id, time, item_values) FROM STDIN (FORMAT binary)"
    ) { copy in
      for event in events {
        copy.beginRow(4)
        copy.writeText(Self.dataset)
        copy.writeText(userIds[Int(event.user)])
        copy.writeTimestamptz(SyntheticLog.date(micros: event.timeMicros))
        copy.writeTextArray([
          SyntheticSchema.categories[Int(event.category)],
          SyntheticSchema.brands[Int(event.brand)],
        ])
      }
    }
  }

  private func copyAdRequests(
    _ rows: [SyntheticAdRequest], _ connection: Connection
  ) throws -> Int {
    guard !rows.isEmpty else { return 0 }
    return try connection.copyIn(
      """
      COPY adpilot.ad_requests (request_id, ad_id, dataset, time, user_id, campaign_id,
        cat_values, num_values, seq_values)
      FROM STDIN (FORMAT binary)
      """
    ) { copy in
      for row in rows {
        copy.beginRow(9)
        copy.writeText(row.requestId)
        copy.writeText(row.adId)
        copy.writeText(Self.dataset)
        copy.writeTimestamptz(row.time)
        copy.writeText(row.userId)
        copy.writeText(row.campaignId)
        copy.writeTextArray(row.cat)
        copy.writeFloat8Array([])
        copy.writeTextArray(row.seq)
      }
    }
  }
}
