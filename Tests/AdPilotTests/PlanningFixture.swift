// A small planning data set for database tests: three UTC campaigns, a portfolio and four days of
// impressions with logged pCTR (2026-01-10 to 2026-01-13), built straight in SQL so that it loads
// in well under a second.

import AdPilot
import Foundation
import Postgres

enum PlanningFixture {
  static let dataset = "plan_fixture"
  /// The plan day: three days of history come before it, and it has impressions of its own.
  static let planDate = "2026-01-13"
  static let budgetMicros: Int64 = 40_000_000

  /// Campaign `fixture-a` is held back by the budget, `fixture-b` by its 5.00 cap and
  /// `fixture-c` (low value per click) gets only its 3.00 minimum.
  static let campaigns: [String: String] = [
    "fixture-a.json": """
    {"id": "fixture-a", "name": "A", "dataset": "plan_fixture",
     "value_per_click_micros": 1000000, "daily_budget_micros": 100000000}
    """,
    "fixture-b.json": """
    {"id": "fixture-b", "name": "B", "dataset": "plan_fixture",
     "value_per_click_micros": 1000000, "daily_budget_micros": 5000000}
    """,
    "fixture-c.json": """
    {"id": "fixture-c", "name": "C", "dataset": "plan_fixture",
     "value_per_click_micros": 100000, "daily_budget_micros": 100000000,
     "min_daily_micros": 3000000}
    """,
    "portfolio.json": #"{"dataset": "plan_fixture", "daily_budget_micros": 40000000}"#,
  ]

  /// Loads the data set, its campaigns and its impressions into the suite's database: 240
  /// impressions per campaign per day, one every six minutes, costing 0.10 to 0.40 each.
  static func load(_ connection: Connection) throws {
    _ = try connection.execute(
      "DELETE FROM adpilot.impressions WHERE dataset = $1", [.text(dataset)])
    try registerDataset(
      connection, name: dataset, spec: IPinYouStreamImporter.spec, validation: "time",
      source: "planning test fixture")
    let root = FileManager.default.temporaryDirectory
      .appendingPathComponent("adpilot-plan-fixture-\(UUID().uuidString)")
    let folder = root.appendingPathComponent(dataset)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    for (name, text) in campaigns {
      try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }
    _ = try syncCampaigns(connection, directory: root)
    _ = try connection.query(
      "SELECT adpilot.ensure_impression_partitions('2026-01-10', '2026-01-13')")
    _ = try connection.execute(
      """
      INSERT INTO adpilot.impressions
          (dataset, time, request_id, campaign_id, click, cost_micros, logged_pctr)
      SELECT $1, timestamptz '2026-01-10 00:00:00+00' + n * interval '6 minutes',
             t.campaign || '-' || n, t.campaign, 0, 100000 + (n % 7) * 50000,
             0.001 + (n % 5) * 0.002 * t.factor
      FROM unnest(ARRAY['fixture-a', 'fixture-b', 'fixture-c'], ARRAY[1, 2, 3])
               AS t(campaign, factor),
           generate_series(0, 4 * 240 - 1) AS n
      """, [.text(dataset)])
  }
}
