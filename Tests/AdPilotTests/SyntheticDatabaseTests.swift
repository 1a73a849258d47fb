// Round trip of the synthetic generator through a real PostgreSQL: row counts per table, stored
// values, history times, and a rerun that replaces the data set instead of adding to it.
// Each test uses its own database, so the tests do not see each other's rows.

import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized) struct SyntheticDatabaseTests {
  static let config = SyntheticConfig(
    users: 300, ads: 36, days: 2, impressionsPerDay: 1_000, maxSequenceLength: 8, requests: 40,
    candidatesPerRequest: 6)

  /// Returns the number of `synthetic` rows in an adpilot table.
  private func count(_ table: String, _ connection: Connection) throws -> Int64 {
    let rows = try connection.query(
      "SELECT count(*) FROM adpilot.\(table) WHERE dataset = $1", [.text("synthetic")])
    return try rows[0].int64(0)
  }

  @Test func generateWritesEveryTable() throws {
    let connection = try TestDatabase.connect(suite: "synthetic_generate")
    defer { connection.close() }
    let log = try CollectedLog(Self.config)
    let expectedEvents = log.history.count + log.days.reduce(0) { $0 + $1.events.count }

    let report = try SyntheticGenerator(Self.config).generate(into: connection)

    #expect(report.users == 300)
    #expect(report.ads == 36)
    #expect(report.impressions == log.impressions.count)
    #expect(report.userEvents == expectedEvents)
    #expect(report.adRequests == 240)
    #expect(try count("users", connection) == 300)
    #expect(try count("ads", connection) == 36)
    #expect(try count("user_events", connection) == Int64(expectedEvents))
    #expect(try count("impressions", connection) == Int64(log.impressions.count))
    #expect(try count("ad_requests", connection) == 240)
    let clicks = try connection.query(
      "SELECT sum(click) FROM adpilot.impressions WHERE dataset = 'synthetic'")
    #expect(try clicks[0].int64(0) == Int64(report.clicks))
  }

  @Test func rerunReplacesDataset() throws {
    let connection = try TestDatabase.connect(suite: "synthetic_rerun")
    defer { connection.close() }
    var other = Self.config
    other.seed += 7
    other.impressionsPerDay = 600
    try SyntheticGenerator(other).generate(into: connection)

    let report = try SyntheticGenerator(Self.config).generate(into: connection)
    let again = try SyntheticGenerator(Self.config).generate(into: connection)

    #expect(again == SyntheticReport(copying: report, seconds: again.seconds))
    #expect(try count("users", connection) == 300)
    #expect(try count("ads", connection) == 36)
    #expect(try count("user_events", connection) == Int64(report.userEvents))
    #expect(try count("impressions", connection) == Int64(report.impressions))
    #expect(try count("ad_requests", connection) == 240)
    let duplicates = try connection.query(
      """
      SELECT count(*) FROM (
        SELECT request_id FROM adpilot.impressions WHERE dataset = 'synthetic'
        GROUP BY request_id HAVING count(*) > 1) AS repeated
      """)
    #expect(try duplicates[0].int64(0) == 0)
  }

  @Test func storedRowsMatchGeneratedRows() throws {
    let connection = try TestDatabase.connect(suite: "synthetic_rows")
    defer { connection.close() }
    let generator = try SyntheticGenerator(Self.config)
    try generator.generate(into: connection)
    let first = try #require(try CollectedLog(Self.config).impressions.first)

    let rows = try connection.query(
      """
      SELECT time = $2::timestamptz, user_id, ad_id, campaign_id, split, cat_values::text,
             seq_values::text, click, cost_micros, true_pctr
      FROM adpilot.impressions
      WHERE dataset = 'synthetic' AND request_id = $1
      """, [.text(first.requestId), .timestamptz(first.time)])
    let row = try #require(rows.first)
    #expect(try row.bool(0))
    #expect(try row.string(1) == first.userId)
    #expect(try row.string(2) == first.adId)
    #expect(try row.string(3) == first.campaignId)
    #expect(try row.string(4) == first.split)
    #expect(try row.string(5) == "{" + first.cat.map { $0 ?? "NULL" }.joined(separator: ",") + "}")
    #expect(try row.string(6) == "{" + first.seq.map { $0 ?? "NULL" }.joined(separator: ",") + "}")
    #expect(try row.int64(7) == Int64(first.click))
    #expect(try row.int64(8) == first.costMicros)
    #expect(try row.double(9) == first.truePCTR)

    let spec = try connection.query(
      "SELECT feature_spec::text, validation FROM adpilot.datasets WHERE name = 'synthetic'")
    let stored = try JSONDecoder().decode(FeatureSpec.self, from: Data(try spec[0].string(0).utf8))
    #expect(stored == generator.featureSpec)
    #expect(try spec[0].string(1) == "time")
  }

  @Test func historyTimesPrecedeImpressions() throws {
    let connection = try TestDatabase.connect(suite: "synthetic_history")
    defer { connection.close() }
    try SyntheticGenerator(Self.config).generate(into: connection)

    // For every impression, the number of the user's events strictly before it (capped at the
    // sequence length) equals the number of logged items.
    let mismatches = try connection.query(
      """
      SELECT count(*)
      FROM adpilot.impressions i
      WHERE i.dataset = 'synthetic'
        AND cardinality(i.seq_values) / 2 <> LEAST(8, (
          SELECT count(*) FROM adpilot.user_events e
          WHERE e.dataset = 'synthetic' AND e.user_id = i.user_id AND e.time < i.time))
      """)
    #expect(try mismatches[0].int64(0) == 0)
  }
}

extension SyntheticReport {
  /// Returns `report` with its timing replaced, so that two runs compare by their counts.
  fileprivate init(copying report: SyntheticReport, seconds: Double) {
    self = report
    self.seconds = seconds
  }
}
