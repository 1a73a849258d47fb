// Tests that the planning job turns a lifetime budget into the plan day's limit from the spend
// logged since the flight started, on the planning fixture in a real database.

import Allocation
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct LifetimePlanningTests {
  static let suite = "lifetime_planning"

  @Test func lifetimeBudgetLimitsPlanDay() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try PlanningFixture.load(connection)
    // fixture-b's spend from its flight start (11 January) to the plan day (13 January).
    let spent = try connection.query(
      """
      SELECT sum(cost_micros)::bigint FROM adpilot.impressions
      WHERE dataset = $1 AND campaign_id = 'fixture-b'
        AND time >= '2026-01-11 00:00:00+00' AND time < '2026-01-13 00:00:00+00'
      """, [.text(PlanningFixture.dataset)])
    let spentMicros = try #require(spent.first).int64(0)
    // 4,000,000 left over the 13th and 14th: 2,000,000 for the plan day, below its 5.00 cap.
    // The planning job reads campaigns from their stored definitions.
    _ = try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET definition = definition || jsonb_build_object(
          'lifetime_budget_micros', $1::bigint, 'min_daily_micros', 3000000,
          'flight_start', '2026-01-11', 'flight_end', '2026-01-14'),
          min_daily_micros = 3000000
      WHERE id = 'fixture-b'
      """, [.int64(spentMicros + 4_000_000)])

    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    let outcome = try AllocationPipeline(
      connection: connection, logger: Logger(minimumLevel: .error)
    ).run(options)
    let allocation = try #require(
      outcome.result.allocations.first { $0.campaignId == "fixture-b" })
    #expect(allocation.amountMicros == 2_000_000)
    #expect(allocation.capMicros == 2_000_000)
    let planned = try #require(outcome.plans["fixture-b"]).reduce(Int64(0)) {
      $0 + $1.spendMicros
    }
    #expect(planned == 2_000_000)
    // Its 3.00 minimum is shown lowered to the 2.00 lifetime share, as the plan used it.
    let explained = try PlanExplanation.load(
      connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate,
      campaignId: "fixture-b")
    let explainedB = try #require(explained.allocations.first)
    #expect(explainedB.minimumMicros == 2_000_000)
    // The reason names the lifetime budget, since the plan's cap is below the 5.00 daily cap.
    #expect(explainedB.dailyCapMicros == 5_000_000)
    #expect(explainedB.binding == .cap)
    #expect(explained.reason(for: explainedB).contains("part of its lifetime budget left"))
  }
}
