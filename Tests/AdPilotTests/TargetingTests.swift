// Tests that a campaign's targeting filters decide which logged impressions its forecast counts,
// and that a filter on a field the data set does not log is rejected by name.

import Allocation
import CTR
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct TargetingTests {
  static let suite = "targeting"
  static let dataset = "targeting_fixture"

  /// Loads one day of 30 impressions for campaign `t`: 10 each in regions north, south and an
  /// unlogged (NULL) region.
  func load(_ connection: Connection) throws -> DatasetInfo {
    _ = try connection.execute(
      "DELETE FROM adpilot.impressions WHERE dataset = $1", [.text(Self.dataset)])
    let spec = FeatureSpec(
      categorical: [
        CategoricalField(name: "device", role: .context, buckets: 10),
        CategoricalField(name: "region", role: .context, buckets: 10),
      ])
    try registerDataset(
      connection, name: Self.dataset, spec: spec, validation: "time", source: "targeting test")
    _ = try connection.query(
      "SELECT adpilot.ensure_impression_partitions('2026-02-01', '2026-02-01')")
    _ = try connection.execute(
      """
      INSERT INTO adpilot.impressions
          (dataset, time, request_id, campaign_id, click, cost_micros, logged_pctr, cat_values)
      SELECT $1, timestamptz '2026-02-01 00:00:00+00' + n * interval '30 minutes', 'r' || n, 't',
             0, 1000, 0.01,
             ARRAY['phone', (ARRAY['north', 'south', NULL])[n % 3 + 1]]
      FROM generate_series(0, 29) AS n
      """, [.text(Self.dataset)])
    return try loadDataset(connection, name: Self.dataset)
  }

  func forecast(_ targeting: [String: [String]], _ connection: Connection, _ info: DatasetInfo)
    throws -> SupplyForecast
  {
    let campaign = Campaign(
      id: "t", name: "t", dataset: Self.dataset, valuePerClickMicros: 1_000_000,
      dailyBudgetMicros: 1_000_000, targeting: targeting)
    // The plan day is 2 February (UTC), so the history window contains all of 1 February.
    return try forecastSupply(
      connection, dataset: info, campaigns: [campaign],
      planDay: Date(timeIntervalSince1970: 1_769_990_400), historyDays: 7, model: nil,
      modelId: nil)
  }

  func impressions(_ targeting: [String: [String]], _ connection: Connection, _ info: DatasetInfo)
    throws -> Double
  {
    let forecast = try forecast(targeting, connection, info)
    return forecast.supply["t"]?.segments.reduce(0) { $0 + $1.impressions } ?? 0
  }

  @Test func targetingCountsOnlyAllowedValues() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let info = try load(connection)
    #expect(try impressions([:], connection, info) == 30)
    #expect(try impressions(["region": ["north"]], connection, info) == 10)
    #expect(try impressions(["region": ["north", "south"]], connection, info) == 20)
    #expect(try impressions(["region": ["north"], "device": ["tablet"]], connection, info) == 0)
    #expect(try impressions(["region": ["west"]], connection, info) == 0)
    // The rows a plan prints are those its campaigns can buy, not every row of the window.
    let north = try forecast(["region": ["north"]], connection, info)
    #expect(north.historyRows == 30)
    #expect(north.campaignRows == 10)
    #expect(try forecast(["region": ["west"]], connection, info).campaignRows == 0)
  }

  @Test func forecastCountsPartDaysInPart() throws {
    // Two UTC days of one impression an hour, 1 and 2 February, for a campaign whose day is
    // UTC+10. Its 24-hour slots start at 14:00 UTC, so the first slot with rows holds only the
    // 14 hours from midnight on 1 February: 38 impressions over 1 + 14/24 days, 24 a day.
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let dataset = "forecast_days_fixture"
    let spec = FeatureSpec(
      categorical: [CategoricalField(name: "device", role: .context, buckets: 10)])
    try registerDataset(
      connection, name: dataset, spec: spec, validation: "time", source: "forecast days test")
    _ = try connection.query(
      "SELECT adpilot.ensure_impression_partitions('2026-02-01', '2026-02-02')")
    _ = try connection.execute(
      """
      INSERT INTO adpilot.impressions
          (dataset, time, request_id, campaign_id, click, cost_micros, logged_pctr, cat_values)
      SELECT $1, timestamptz '2026-02-01 00:00:00+00' + n * interval '1 hour', 'r' || n, 'b',
             0, 1000, 0.01, ARRAY['phone']
      FROM generate_series(0, 47) AS n
      """, [.text(dataset)])
    let campaign = Campaign(
      id: "b", name: "b", dataset: dataset, valuePerClickMicros: 1_000_000,
      dailyBudgetMicros: 1_000_000)
    // 2 February 14:00 UTC, the start of 3 February at UTC+10.
    let planDay = Date(timeIntervalSince1970: 1_770_040_800)
    let forecast = try forecastSupply(
      connection, dataset: try loadDataset(connection, name: dataset), campaigns: [campaign],
      planDay: planDay, historyDays: 2, model: nil, modelId: nil)
    #expect(forecast.historyRows == 38)
    #expect(abs(forecast.historyDays - (1 + 14.0 / 24)) < 1e-12)
    let perDay = forecast.supply["b"]?.segments.reduce(0) { $0 + $1.impressions } ?? 0
    #expect(abs(perDay - 24) < 1e-9)
  }

  @Test func targetedForecastCountsDaysWithoutMatches() throws {
    // 31 January logs 30 impressions in the south only, so targeting the north matches none of
    // them. The north's 10 impressions of 1 February then spread over both logged days.
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let info = try load(connection)
    _ = try connection.query(
      "SELECT adpilot.ensure_impression_partitions('2026-01-31', '2026-01-31')")
    _ = try connection.execute(
      """
      INSERT INTO adpilot.impressions
          (dataset, time, request_id, campaign_id, click, cost_micros, logged_pctr, cat_values)
      SELECT $1, timestamptz '2026-01-31 00:00:00+00' + n * interval '30 minutes', 's' || n,
             't', 0, 1000, 0.01, ARRAY['phone', 'south']
      FROM generate_series(0, 29) AS n
      """, [.text(Self.dataset)])
    let north = try forecast(["region": ["north"]], connection, info)
    #expect(north.historyRows == 60)
    #expect(north.campaignRows == 10)
    #expect(north.historyDays == 2)
    #expect(try impressions(["region": ["north"]], connection, info) == 5)
    #expect(try impressions([:], connection, info) == 30)
  }

  @Test func targetingUnknownFieldIsRejected() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let info = try load(connection)
    let error = try #require(throws: PipelineError.self) {
      try impressions(["country": ["FR"]], connection, info)
    }
    #expect(
      error.description.contains(
        "campaign 't': targeting names field 'country', which data set 'targeting_fixture' "
          + "does not log; use one of its categorical fields (device, region)"))
  }
}
