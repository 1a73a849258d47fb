// Tests of re-planning from actual spend on the planning fixture: a campaign that over-spent gets
// no more, no campaign's spend so far plus its re-planned hours passes its cap, and a second
// replan supersedes the first.

import Allocation
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct ReplanTests {
  static let suite = "replan"

  func plannedPipeline(_ connection: Connection) throws -> AllocationPipeline {
    try PlanningFixture.load(connection)
    let pipeline = AllocationPipeline(connection: connection, logger: Logger(minimumLevel: .error))
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    _ = try pipeline.run(options)
    return pipeline
  }

  func replan(_ pipeline: AllocationPipeline, at time: String) throws -> ReplanOutcome {
    var options = ReplanOptions(
      dataset: PlanningFixture.dataset, date: PlanningFixture.planDate, now: try parseInstant(time))
    options.historyDays = 3
    return try pipeline.replan(options)
  }

  @Test func replanDateNeedsOneLocalDate() throws {
    func campaign(_ id: String, _ zone: String) throws -> Campaign {
      Campaign(
        id: id, name: id, dataset: "d", valuePerClickMicros: 1, dailyBudgetMicros: 1,
        timeZone: try #require(TimeZone(identifier: zone)))
    }
    let newYork = try campaign("ny", "America/New_York")
    let london = try campaign("ldn", "Europe/London")
    let sydney = try campaign("syd", "Australia/Sydney")
    // 14:00 UTC on 2 November is 09:00 in New York and 14:00 in London.
    #expect(
      try replanDate([newYork, london], at: try parseInstant("2026-11-02T14:00:00Z"))
        == "2026-11-02")
    // 02:00 UTC is still 1 November in New York but 2 November in London and Sydney.
    let split = #expect(throws: PipelineError.self) {
      try replanDate([london, newYork, sydney], at: try parseInstant("2026-11-02T02:00:00Z"))
    }
    #expect(
      split?.message
        == "at 2026-11-02T02:00:00.000Z the campaigns are on different local dates, 2026-11-01 "
        + "for ny (America/New_York) and 2026-11-02 for ldn (Europe/London); pass --date with "
        + "the plan day to re-plan, once per day")
  }

  @Test func replanAfterOverspendPlansNothing() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    // By noon fixture-b has bought 120 impressions at 0.10 to 0.40, far past its 5.00 cap.
    let outcome = try replan(pipeline, at: "2026-01-13T12:00:00Z")
    let capped = try #require(outcome.campaigns.first { $0.campaignId == "fixture-b" })
    #expect(capped.spentMicros > capped.capMicros)
    #expect(capped.plannedMicros == 0)
    #expect(capped.rows.allSatisfy { $0.spendMicros == 0 })
    #expect(capped.rows.count == 12)
  }

  @Test func replanNamesCampaignAddedAfterPlan() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    // fixture-d, a copy of fixture-c, arrives after the day was planned.
    _ = try connection.execute(
      """
      INSERT INTO adpilot.campaigns
      SELECT (jsonb_populate_record(NULL::adpilot.campaigns, to_jsonb(c) || jsonb_build_object(
          'id', 'fixture-d', 'definition', c.definition || '{"id": "fixture-d"}'::jsonb))).*
      FROM adpilot.campaigns AS c
      WHERE c.id = 'fixture-c'
      """)
    let outcome = try replan(pipeline, at: "2026-01-13T06:00:00Z")
    #expect(outcome.notPlanned == ["fixture-d"])
    #expect(
      outcome.campaigns.map(\.campaignId).sorted() == ["fixture-a", "fixture-b", "fixture-c"])
  }

  @Test func replanNamesCampaignRemovedAfterPlan() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    // fixture-b's file is removed and synced after the day was planned.
    _ = try connection.execute("DELETE FROM adpilot.campaigns WHERE id = 'fixture-b'")
    let outcome = try replan(pipeline, at: "2026-01-13T06:00:00Z")
    #expect(outcome.removedSincePlan == ["fixture-b"])
    #expect(outcome.notPlanned.isEmpty)
    #expect(outcome.campaigns.map(\.campaignId).sorted() == ["fixture-a", "fixture-c"])
  }

  @Test func replanNeverPassesCap() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    for time in ["2026-01-13T00:30:00Z", "2026-01-13T06:00:00Z", "2026-01-13T23:59:00Z"] {
      let outcome = try replan(pipeline, at: time)
      #expect(outcome.campaigns.count == 3)
      #expect(outcome.notPlanned.isEmpty)
      for campaign in outcome.campaigns {
        let planned = min(campaign.amountMicros, campaign.capMicros)
        #expect(campaign.plannedMicros == max(0, planned - campaign.spentMicros), "\(time)")
        if campaign.spentMicros <= campaign.capMicros {
          #expect(campaign.spentMicros + campaign.plannedMicros <= campaign.capMicros, "\(time)")
        }
      }
    }
  }

  @Test func replanFollowsMidDayBudgetChange() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    let before = try replan(pipeline, at: "2026-01-13T06:00:00Z")
    let a = try #require(before.campaigns.first { $0.campaignId == "fixture-a" })
    #expect(a.plannedMicros > 1_000_000)
    // At 06:00 the manager cuts fixture-a's daily budget to its spend so far plus 1.00.
    _ = try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET definition = definition || jsonb_build_object('daily_budget_micros', $1::bigint)
      WHERE id = 'fixture-a'
      """, [.int64(a.spentMicros + 1_000_000)])
    let after = try replan(pipeline, at: "2026-01-13T06:00:00Z")
    let cut = try #require(after.campaigns.first { $0.campaignId == "fixture-a" })
    #expect(cut.capMicros == a.spentMicros + 1_000_000)
    #expect(cut.plannedMicros == 1_000_000)
    #expect(cut.rows.reduce(Int64(0)) { $0 + $1.spendMicros } == 1_000_000)
    // A budget raised above the plan leaves the morning's allocation as the limit.
    _ = try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET definition = definition || jsonb_build_object('daily_budget_micros', 900000000::bigint)
      WHERE id = 'fixture-a'
      """)
    let raised = try replan(pipeline, at: "2026-01-13T06:00:00Z")
    let up = try #require(raised.campaigns.first { $0.campaignId == "fixture-a" })
    #expect(up.plannedMicros == a.plannedMicros)
  }

  @Test func replanGivesPausedCampaignNothing() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    _ = try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET definition = definition || jsonb_build_object('status', 'paused')
      WHERE id = 'fixture-a'
      """)
    let outcome = try replan(pipeline, at: "2026-01-13T06:00:00Z")
    let paused = try #require(outcome.campaigns.first { $0.campaignId == "fixture-a" })
    let planAmount = try connection.query(
      "SELECT amount_micros FROM adpilot.allocations WHERE run_id = $1::uuid "
        + "AND campaign_id = 'fixture-a'", [.uuid(outcome.planRunId)])[0].int64(0)
    #expect(planAmount > 0)
    #expect(paused.amountMicros == planAmount)
    #expect(paused.plannedMicros == 0)
    #expect(paused.rows.allSatisfy { $0.spendMicros == 0 })
    let stored = try connection.query(
      "SELECT amount_micros, binding FROM adpilot.allocations "
        + "WHERE run_id = $1::uuid AND campaign_id = 'fixture-a'", [.uuid(outcome.runId)])
    #expect(try stored.first?.int64(0) == 0)
    #expect(try stored.first?.string(1) == "inactive")
  }

  @Test func replanRejectsTimeOutsidePlanDay() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    let error = try #require(throws: PipelineError.self) {
      try replan(pipeline, at: "2026-01-14T00:00:00Z")
    }
    #expect(error.description.contains("outside the plan day 2026-01-13"))
    #expect(throws: PipelineError.self) { try replan(pipeline, at: "2026-01-12T23:59:59Z") }
  }

  @Test func replanSpendMatchesImpressions() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    let outcome = try replan(pipeline, at: "2026-01-13T00:30:00Z")
    // Five impressions per campaign start before 00:30: n % 7 = 0...4 for n = 720...724.
    let expected: Int64 = (0..<5).reduce(0) { $0 + 100_000 + Int64((720 + $1) % 7) * 50_000 }
    for campaign in outcome.campaigns {
      #expect(campaign.spentMicros == expected, "\(campaign.campaignId)")
    }
  }

  @Test func replanSpendStopsAtLocalDayEnd() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    // In Tokyo, 13 January runs from 15:00 UTC on the 12th to 15:00 UTC on the 13th. At 20:00
    // UTC the UTC campaigns' day still has hours left, and fixture-b's day is over.
    try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET time_zone = 'Asia/Tokyo', definition = definition || '{"time_zone": "Asia/Tokyo"}'
      WHERE id = 'fixture-b'
      """)
    let outcome = try replan(pipeline, at: "2026-01-13T20:00:00Z")
    let tokyo = try #require(outcome.campaigns.first { $0.campaignId == "fixture-b" })
    let dayCost = try connection.query(
      """
      SELECT sum(cost_micros)::bigint
      FROM adpilot.impressions
      WHERE dataset = $1 AND campaign_id = 'fixture-b'
        AND time >= '2026-01-12 15:00+00' AND time < '2026-01-13 15:00+00'
      """, [.text(PlanningFixture.dataset)])[0].int64(0)
    #expect(tokyo.spentMicros == dayCost)
    #expect(tokyo.rows.isEmpty)
    let utc = try #require(outcome.campaigns.first { $0.campaignId == "fixture-a" })
    #expect(utc.rows.count == 4)
  }

  @Test func secondReplanSupersedesFirst() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    let first = try replan(pipeline, at: "2026-01-13T03:00:00Z")
    let second = try replan(pipeline, at: "2026-01-13T04:00:00Z")
    #expect(second.superseded == 1)
    let current = try connection.query(
      """
      SELECT id::text
      FROM adpilot.plan_runs
      WHERE dataset = $1 AND plan_date = $2::date AND kind = 'replan' AND status = 'current'
      """, [.text(PlanningFixture.dataset), .date(PlanningFixture.planDate)]
    ).map { try $0.string(0) }
    #expect(current == [second.runId])
    #expect(first.runId != second.runId)

    let stored = try connection.query(
      """
      SELECT coalesce(sum(spend_micros), 0)::bigint, min(hour_start) >= $2::timestamptz
      FROM adpilot.pacing_plans
      WHERE run_id = $1::uuid
      """, [.uuid(second.runId), .text("2026-01-13T04:00:00Z")])
    #expect(try stored[0].int64(0) == second.campaigns.reduce(0) { $0 + $1.plannedMicros })
    #expect(try stored[0].bool(1))
    let plans = try connection.query(
      """
      SELECT count(*)
      FROM adpilot.plan_runs
      WHERE dataset = $1 AND plan_date = $2::date AND kind = 'plan' AND status = 'current'
      """, [.text(PlanningFixture.dataset), .date(PlanningFixture.planDate)])
    #expect(try plans[0].int64(0) == 1)
  }

  @Test func replanOfSupersededPlanFails() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    let replanned = try replan(pipeline, at: "2026-01-13T03:00:00Z")
    let based = try connection.query(
      "SELECT based_on::text FROM adpilot.plan_runs WHERE id = $1::uuid", [.uuid(replanned.runId)])
    #expect(try based[0].string(0) == replanned.planRunId)

    // A plan commits between a replan's read of the day's plan and its write.
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    _ = try pipeline.run(options)
    let empty = AllocationResult(
      allocations: [], totalBudgetMicros: 0, allocatedMicros: 0, sumOfCapsMicros: 0,
      absorbableMicros: 0)
    let error = #expect(throws: PipelineError.self) {
      try pipeline.write(
        kind: "replan", dataset: PlanningFixture.dataset, date: PlanningFixture.planDate,
        budget: 0, result: empty, plans: [:], modelId: nil, basedOn: replanned.planRunId)
    }
    #expect(
      error?.message == "the plan of \(PlanningFixture.planDate) changed while re-planning it: "
        + "run \(replanned.planRunId) is no longer current; run the re-plan again")
    let currentReplans = try connection.query(
      """
      SELECT count(*) FROM adpilot.plan_runs
      WHERE dataset = $1 AND plan_date = $2::date AND kind = 'replan' AND status = 'current'
      """, [.text(PlanningFixture.dataset), .date(PlanningFixture.planDate)])
    #expect(try currentReplans[0].int64(0) == 0)
  }

  @Test func planReadsCampaignsAndBudgetInOneSnapshot() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try PlanningFixture.load(connection)
    // A campaign sync commits between the plan's read of the campaigns and of the budget.
    let other = try TestDatabase.connect(suite: Self.suite)
    defer { other.close() }
    var pipeline = AllocationPipeline(connection: connection, logger: Logger(minimumLevel: .error))
    pipeline.afterCampaignsRead = {
      try other.execute(
        "UPDATE adpilot.portfolios SET daily_budget_micros = 1000000 WHERE dataset = $1",
        [.text(PlanningFixture.dataset)])
    }
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    let outcome = try pipeline.run(options)
    #expect(outcome.result.totalBudgetMicros == PlanningFixture.budgetMicros)
    let stored = try connection.query(
      "SELECT daily_budget_micros FROM adpilot.portfolios WHERE dataset = $1",
      [.text(PlanningFixture.dataset)])
    #expect(try stored[0].int64(0) == 1_000_000)
  }

  @Test func summaryNamesEachRunKind() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    _ = try replan(pipeline, at: "2026-01-13T12:00:00Z")
    try connection.execute(
      """
      INSERT INTO adpilot.plan_runs
          (dataset, plan_date, kind, total_budget_micros, allocated_micros)
      VALUES ($1, '2026-01-11', 'backtest', 7, 5), ($1, '2026-01-12', 'backtest', 11, 9)
      """, [.text(PlanningFixture.dataset)])
    defer {
      _ = try? connection.execute("DELETE FROM adpilot.plan_runs WHERE kind = 'backtest'")
    }
    let lines = try summaryLines(connection, dataset: PlanningFixture.dataset)
    #expect(lines.filter { $0.hasPrefix("plan 2026-01-13: ") }.count == 1)
    // The plan line counts the campaigns that get money among those planned.
    let counts = try connection.query(
      """
      SELECT count(*) FILTER (WHERE a.amount_micros > 0), count(*)
      FROM adpilot.allocations a JOIN adpilot.plan_runs r ON r.id = a.run_id
      WHERE r.dataset = $1 AND r.kind = 'plan' AND r.status = 'current'
      """, [.text(PlanningFixture.dataset)])
    let funded = try counts[0].int64(0)
    let planned = try counts[0].int64(1)
    #expect(
      lines.contains {
        $0.hasPrefix("plan 2026-01-13: ")
          && $0.contains(" to \(funded) of \(planned) campaigns in ")
      })
    #expect(lines.filter { $0.hasPrefix("replan 2026-01-13: ") }.count == 1)
    #expect(
      lines.filter { $0.hasPrefix("backtest") } == [
        "backtest: 2 replayed days from 2026-01-11 to 2026-01-12, budget 18 micros, allocated "
          + "14 micros; pacing sums differing from allocations: 0; allocations above cap: 0"
      ])
  }

  @Test func allocateChecksItsBudgetAndDataSet() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.budgetMicros = CampaignFile.maxMicros + 1
    do {
      _ = try pipeline.run(options)
      Issue.record("a budget above the money range was accepted")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "--budget must be 0 to 1000000000000000 micros, the range of campaign files' money "
          + "fields, got 1000000000000001")
    }
    do {
      _ = try pipeline.nextDay(after: "no_such_dataset")
      Issue.record("the next day of an unknown data set was found")
    } catch let error as PipelineError {
      #expect(error.message.hasPrefix("data set 'no_such_dataset' not found"))
    }
  }

  @Test func newPlanSupersedesTheDaysReplan() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let pipeline = try plannedPipeline(connection)
    _ = try replan(pipeline, at: "2026-01-13T12:00:00Z")
    var options = AllocateOptions(dataset: PlanningFixture.dataset, date: PlanningFixture.planDate)
    options.historyDays = 3
    let plan = try pipeline.run(options)
    // The earlier plan and the replan built on it.
    #expect(plan.superseded == 2)
    let current = try connection.query(
      """
      SELECT kind FROM adpilot.plan_runs
      WHERE dataset = $1 AND plan_date = $2::date AND status = 'current'
      """, [.text(PlanningFixture.dataset), .date(PlanningFixture.planDate)]
    ).map { try $0.string(0) }
    #expect(current == ["plan"])
  }
}

@Test func planDatesBefore1970AreRejected() throws {
  for text in ["1500-03-01", "1582-10-14", "1969-12-31"] {
    do {
      _ = try parsePlanDate(text)
      Issue.record("plan date \(text) was accepted")
    } catch let error as PipelineError {
      #expect(error.message == "invalid plan date '\(text)': use a day from 1970-01-01 on")
    }
  }
  #expect(formatPlanDate(try parsePlanDate("1970-01-01")) == "1970-01-01")
}

@Test func planDatesWithSignsAreRejected() throws {
  for text in ["2013-+6-17", "2013-06-+7", "2013-06--7"] {
    do {
      _ = try parsePlanDate(text)
      Issue.record("plan date \(text) was accepted")
    } catch let error as PipelineError {
      #expect(error.message == "invalid plan date '\(text)'; use YYYY-MM-DD, e.g. 2026-01-13")
    }
  }
  #expect(formatPlanDate(try parsePlanDate("2013-06-07")) == "2013-06-07")
}
