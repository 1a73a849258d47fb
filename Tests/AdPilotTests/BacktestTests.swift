// Tests of the backtest on the planning fixture (two replayed days after two days of history):
// no policy spends past a day's budget, none beats the hindsight optimum, and the start-of-day
// plans are stored as 'backtest' runs. The hindsight optimum is also checked by hand.

import Foundation
import Postgres
import TestSupport
import Testing

@testable import AdPilot

@Suite(.serialized)
struct BacktestTests {
  static let suite = "backtest"

  func report(_ connection: Connection, hourSlack: Double? = nil) throws -> BacktestReport {
    try PlanningFixture.load(connection)
    var options = BacktestOptions(dataset: PlanningFixture.dataset)
    options.warmUpDays = 2
    options.historyDays = 2
    options.hourSlack = hourSlack
    options.fractions = [1.0 / 2, 1.0 / 8]
    return try Backtest(connection: connection, logger: Logger(minimumLevel: .error)).run(options)
  }

  @Test(arguments: [nil, 1.0, 2.0])
  func backtestStaysWithinBudgetAndOptimum(hourSlack: Double?) throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let report = try report(connection, hourSlack: hourSlack)
    #expect(report.dates == ["2026-01-12", "2026-01-13"])
    #expect(report.fractions.count == 2)
    for fraction in report.fractions {
      #expect(fraction.budgetMicros > 0)
      for name in Backtest.policies {
        let figures = try #require(fraction.policies[name], "\(name)")
        #expect(figures.ratios.count == 2, "\(name)")
        #expect(figures.overDeliveryMicros == 0, "\(name)")
        #expect(figures.spendMicros <= fraction.budgetMicros, "\(name)")
        #expect(figures.maxRatio <= 1 + 1e-9, "\(name)")
        #expect(figures.minRatio > 0, "\(name)")
      }
      for name in Backtest.policies {
        #expect(fraction.policies[name]?.pacingErrors.count == 2, "\(name)")
      }
      let paced = try #require(fraction.policies["adpilot"])
      #expect(paced.meanRatio > 0.5)
    }
  }

  @Test func backtestStoresDayPlans() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    _ = try report(connection)
    let runs = try connection.query(
      """
      SELECT plan_date::text, count(*)
      FROM adpilot.plan_runs
      WHERE dataset = $1 AND kind = 'backtest' AND status = 'current'
      GROUP BY plan_date
      ORDER BY plan_date
      """, [.text(PlanningFixture.dataset)])
    #expect(try runs.map { try $0.string(0) } == ["2026-01-12", "2026-01-13"])
    #expect(try runs.map { try $0.int64(1) } == [1, 1])
  }

  /// Returns the current 'backtest' run of each day of the fixture, by plan date.
  func currentBacktestRuns(_ connection: Connection) throws -> [String: String] {
    let rows = try connection.query(
      """
      SELECT plan_date::text, id::text
      FROM adpilot.plan_runs
      WHERE dataset = $1 AND kind = 'backtest' AND status = 'current'
      """, [.text(PlanningFixture.dataset)])
    var runs: [String: String] = [:]
    for row in rows {
      runs[try row.string(0)] = try row.string(1)
    }
    return runs
  }

  /// Loads the fixture and lowers the logged cost of its last day, 2026-01-13, to a quarter, so
  /// that a 40.00 minimum of fixture-c fits half of the first replayed day's cost but not half
  /// of the second's.
  func loadFixtureWithShortLastDay(_ connection: Connection) throws {
    try PlanningFixture.load(connection)
    try connection.execute(
      "DELETE FROM adpilot.impressions WHERE dataset = $1 AND time >= '2026-01-13 06:00+00'",
      [.text(PlanningFixture.dataset)])
    try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET definition = definition || '{"min_daily_micros": 40000000}'::jsonb
      WHERE id = 'fixture-c'
      """)
  }

  func halfBudgetOptions() -> BacktestOptions {
    var options = BacktestOptions(dataset: PlanningFixture.dataset)
    options.warmUpDays = 2
    options.historyDays = 2
    options.fractions = [1.0 / 2]
    return options
  }

  @Test func failedBacktestKeepsStoredRuns() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let backtest = Backtest(connection: connection, logger: Logger(minimumLevel: .error))
    try PlanningFixture.load(connection)
    _ = try backtest.run(halfBudgetOptions())
    let before = try currentBacktestRuns(connection)
    #expect(before.keys.sorted() == ["2026-01-12", "2026-01-13"])

    // The first day replays; the second fails on the minimum.
    try loadFixtureWithShortLastDay(connection)
    #expect(throws: (any Error).self) {
      try backtest.run(halfBudgetOptions())
    }
    #expect(try currentBacktestRuns(connection) == before)
  }

  @Test func shorterBacktestSupersedesEveryEarlierDay() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    let backtest = Backtest(connection: connection, logger: Logger(minimumLevel: .error))
    try PlanningFixture.load(connection)
    _ = try backtest.run(halfBudgetOptions())
    let twoDays = try currentBacktestRuns(connection)
    #expect(twoDays.keys.sorted() == ["2026-01-12", "2026-01-13"])

    var lastDay = halfBudgetOptions()
    lastDay.days = 1
    _ = try backtest.run(lastDay)
    let oneDay = try currentBacktestRuns(connection)
    #expect(oneDay.keys.sorted() == ["2026-01-12"])
    #expect(oneDay["2026-01-12"] != twoDays["2026-01-12"])
    let lines = try summaryLines(connection, dataset: PlanningFixture.dataset)
    #expect(
      lines.contains { $0.hasPrefix("backtest: 1 replayed day from 2026-01-12 to 2026-01-12,") })
  }

  @Test func backtestNamesDayOfShortMinimum() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try loadFixtureWithShortLastDay(connection)
    do {
      _ = try Backtest(connection: connection, logger: Logger(minimumLevel: .error)).run(
        halfBudgetOptions())
      Issue.record("minimums above the second day's budget were replayed")
    } catch let error as PipelineError {
      #expect(error.message.hasPrefix("backtest of 2026-01-13 with a budget of "))
      #expect(error.message.contains("0.5 of the day's logged cost, less a reserve of 0.01"))
      #expect(error.message.contains("minimums exceed the budget by "))
      #expect(error.message.contains("'fixture-c' short "))
      #expect(
        error.message.hasSuffix(
          "; raise --budget-fraction, or lower min_daily_micros of these campaigns"))
    }
  }

  @Test func backtestNamesTheTimeZonesItCannotMix() throws {
    let connection = try TestDatabase.connect(suite: Self.suite)
    defer { connection.close() }
    try PlanningFixture.load(connection)
    try connection.execute(
      """
      UPDATE adpilot.campaigns
      SET definition = definition || '{"time_zone": "Asia/Tokyo"}'::jsonb
      WHERE id = 'fixture-b'
      """)
    do {
      _ = try Backtest(connection: connection, logger: Logger(minimumLevel: .error)).run(
        BacktestOptions(dataset: PlanningFixture.dataset))
      Issue.record("campaigns in two time zones were replayed")
    } catch let error as PipelineError {
      #expect(
        error.message
          == "campaigns of 'plan_fixture' are in several time zones: Asia/Tokyo (fixture-b); "
          + "GMT (fixture-a, fixture-c); the backtest replays one local day for all of them, "
          + "so give them one time_zone")
    }
  }

  @Test func hindsightOptimumTakesBestFirst() {
    let start = Date(timeIntervalSince1970: 0)
    let impressions = [
      ReplayImpression(
        campaign: 0, time: start, costMicros: 100, pctr: 0.1, click: false, valueMicros: 100),
      ReplayImpression(
        campaign: 1, time: start, costMicros: 100, pctr: 0.1, click: true, valueMicros: 300),
      ReplayImpression(
        campaign: 0, time: start, costMicros: 200, pctr: 0.1, click: false, valueMicros: 400),
    ]
    // Best-first: 3 per micro (100), then 2 per micro (200), then 1 per micro (100).
    let half = BacktestPolicies.hindsightOptimum(impressions, budgetMicros: 200)
    #expect(half.valueMicros == 300 + 200)
    #expect(half.cutValuePerCost == 2)
    let all = BacktestPolicies.hindsightOptimum(impressions, budgetMicros: 1000)
    #expect(all.valueMicros == 800)
    #expect(all.cutValuePerCost == 0)
    let split = BacktestPolicies.split(10, weights: [1, 2])
    #expect(split == [4, 6])
  }
}
