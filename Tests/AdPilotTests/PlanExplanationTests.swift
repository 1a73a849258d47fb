// Tests of `adpilot explain` on a stored plan: each campaign's binding limit, the words that
// explain it and the ranks, read back from the database.

import Allocation
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot
@testable import adpilot

@Suite(.serialized)
struct PlanExplanationTests {
  static let suite = "plan_explanation"

  func plannedConnection() throws -> Connection {
    let connection = try TestDatabase.connect(suite: Self.suite)
    try PlanningFixture.load(connection)
    let pipeline = AllocationPipeline(connection: connection, logger: Logger(minimumLevel: .error))
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    _ = try pipeline.run(options)
    return connection
  }

  @Test func explainNamesEachBindingLimit() throws {
    let connection = try plannedConnection()
    defer { connection.close() }
    let plan = try PlanExplanation.load(
      connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    let bindings = Dictionary(
      uniqueKeysWithValues: plan.allocations.map { ($0.campaignId, $0.binding) })
    #expect(bindings["fixture-a"] == .budget)
    #expect(bindings["fixture-b"] == .cap)
    #expect(bindings["fixture-c"] == .minimum)
    #expect(plan.allocatedMicros == PlanningFixture.budgetMicros)
    #expect(plan.allocations.map(\.rank) == [1, 2, 3])
    #expect(plan.cutValue != nil)

    let lines = explanationLines(plan)
    let text = lines.joined(separator: "\n")
    #expect(text.contains("fixture-b: 5.00 (cap 5.00)"))
    #expect(text.contains("capped: it reached its daily cap"))
    #expect(!text.contains("lifetime budget"))
    #expect(text.contains("minimum 3.00"))
    #expect(text.contains("budget: the total budget ran out first"))
    #expect(lines.count == 2 + 2 * 3)
    // A next unit is quoted where one could be bought: not for the capped campaign.
    let header = { (id: String) in lines.first { $0.contains(" \(id): ") } ?? "" }
    #expect(header("fixture-a").contains(", next unit returns "))
    #expect(header("fixture-c").contains(", next unit returns "))
    #expect(!header("fixture-b").contains("next unit"))
  }

  @Test func explainFiltersOneCampaign() throws {
    let connection = try plannedConnection()
    defer { connection.close() }
    let plan = try PlanExplanation.load(
      connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate,
      campaignId: "fixture-c")
    let whole = try PlanExplanation.load(
      connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    #expect(plan.allocations.map(\.campaignId) == ["fixture-c"])
    #expect(plan.cutValue == whole.cutValue)
    #expect(plan.allocations.first?.minimumMicros == 3_000_000)
    #expect(plan.allocations.first?.amountMicros == 3_000_000)
  }

  @Test func explainNamesHigherPriorityTier() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try PlanningFixture.load(connection)
    // fixture-c, worth a tenth of the others per click, is moved to a higher tier and takes the
    // whole 40.00 budget, so fixture-a and fixture-b get nothing though their impressions
    // return more.
    try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET priority = 1, min_daily_micros = 0,
          definition = definition || '{"priority": 1, "min_daily_micros": 0}'::jsonb
      WHERE id = 'fixture-c'
      """)
    let pipeline = AllocationPipeline(connection: connection, logger: Logger(minimumLevel: .error))
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    _ = try pipeline.run(options)

    let plan = try PlanExplanation.load(
      connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    let byId = Dictionary(uniqueKeysWithValues: plan.allocations.map { ($0.campaignId, $0) })
    let high = try #require(byId["fixture-c"])
    let low = try #require(byId["fixture-a"])
    #expect(high.binding == .budget)
    #expect(high.amountMicros == PlanningFixture.budgetMicros)
    #expect(low.binding == .budget)
    #expect(low.amountMicros == 0)
    #expect(low.marginalValue > high.marginalValue)
    #expect(plan.cutPriority == 1)
    #expect(plan.cutValue == high.marginalValue)
    #expect(plan.reason(for: high).hasPrefix("budget: the total budget ran out first"))
    #expect(
      plan.reason(for: low).hasPrefix(
        "priority: campaigns with a higher priority used the budget first"))
  }

  @Test func explainKeepsPlannedTerms() throws {
    let connection = try plannedConnection()
    defer { connection.close() }
    // A later sync changes the campaign's minimum and tier, but the stored plan keeps its own.
    _ = try connection.execute(
      "UPDATE adpilot.campaigns SET min_daily_micros = 0, priority = 7 WHERE id = 'fixture-c'")
    let plan = try PlanExplanation.load(
      connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate,
      campaignId: "fixture-c")
    let allocation = try #require(plan.allocations.first)
    #expect(allocation.minimumMicros == 3_000_000)
    #expect(allocation.priority == 0)
    #expect(allocation.binding == .minimum)
    let text = explanationLines(plan).joined(separator: "\n")
    #expect(text.contains("minimum 3.00"))
    #expect(text.contains("because its next impressions return"))
  }

  @Test func explainRejectsDayWithoutPlan() throws {
    let connection = try plannedConnection()
    defer { connection.close() }
    #expect(throws: PipelineError.self) {
      try PlanExplanation.load(connection, dataset: PlanningFixture.dataset, date: "2026-02-01")
    }
  }

  @Test func minimumAboveTrafficIsNoted() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try PlanningFixture.load(connection)
    // About 60.00 of traffic a day cannot absorb a 90.00 minimum.
    try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET min_daily_micros = 90000000,
          definition = definition || '{"min_daily_micros": 90000000}'::jsonb
      WHERE id = 'fixture-c'
      """)
    let pipeline = AllocationPipeline(connection: connection, logger: Logger(minimumLevel: .error))
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    options.budgetMicros = 200_000_000
    let outcome = try pipeline.run(options)
    let short = try #require(outcome.result.allocations.first { $0.campaignId == "fixture-c" })
    #expect(short.binding == .traffic)
    #expect(short.amountMicros > 0)
    #expect(short.amountMicros < 90_000_000)
    #expect(
      minimumShortfalls(outcome) == [
        "note: fixture-c gets 59.95, below its minimum of 90.00: its "
          + "forecast traffic cannot absorb more. Lower min_daily_micros, or widen its targeting or "
          + "day-parting"
      ])

    let plan = try PlanExplanation.load(
      connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate,
      campaignId: "fixture-c")
    let stored = try #require(plan.allocations.first)
    #expect(
      plan.reason(for: stored).hasSuffix(
        "below its minimum, which the forecast traffic "
          + "cannot absorb"))
    let full = try #require(
      try PlanExplanation.load(
        connection, dataset: PlanningFixture.dataset, date: PlanningFixture.planDate
      ).allocations.first { $0.campaignId == "fixture-a" })
    #expect(!plan.reason(for: full).contains("minimum"))
  }
}
