// Replays the logged days of a data set one by one under a budget. Each day is forecast from the
// days before, planned at its start and bought through the hourly plan with hourly re-planning,
// then compared with the hindsight optimum and simple baselines. Plans are stored as 'backtest'
// runs.

import Allocation
import Foundation
import Postgres

/// Settings of a backtest.
public struct BacktestOptions: Sendable {
  public var dataset: String
  /// Each day's budget as fractions of that day's logged cost over all campaigns.
  public var fractions: [Double] = [1.0 / 2, 1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32]
  /// The number of days replayed, from the first day after the `warmUpDays`; every such day
  /// when nil.
  public var days: Int?
  /// Logged days before the first replayed day, used as history only.
  public var warmUpDays = 1
  /// Days of history before a replayed day used for its forecast, or as many as there are.
  public var historyDays = 7
  /// The cap on an hour's spend, as a multiple of the hour's planned spend. Nil leaves hours
  /// uncapped, so the hourly threshold and re-plan alone pace the day.
  public var hourSlack: Double?
  /// The share of each day's budget held back for impressions worth `reserveFactor` times their
  /// hour's threshold. Without it, one such impression late in the day can find the budget gone.
  public var reserveFraction = 0.01
  /// The multiple of its hour's threshold that an impression's value per cost must reach to
  /// spend the reserve.
  public var reserveFactor = 5.0

  public init(dataset: String) {
    self.dataset = dataset
  }
}

/// The totals of one policy over the replayed days of one budget fraction.
public struct PolicyFigures: Sendable {
  public var valueMicros = 0.0
  public var clicks = 0
  public var spendMicros: Int64 = 0
  /// Spend above each day's budget, summed over days, in micros.
  public var overDeliveryMicros: Int64 = 0
  /// Value bought over the hindsight optimum's value, one entry per day.
  public var ratios: [Double] = []
  /// Hourly pacing error per day; empty for policies without an hourly plan.
  public var pacingErrors: [Double] = []

  public var meanRatio: Double { ratios.isEmpty ? 0 : ratios.reduce(0, +) / Double(ratios.count) }
  public var minRatio: Double { ratios.min() ?? 0 }
  public var maxRatio: Double { ratios.max() ?? 0 }
  public var meanPacingError: Double? {
    pacingErrors.isEmpty ? nil : pacingErrors.reduce(0, +) / Double(pacingErrors.count)
  }

  mutating func add(_ purchase: DayPurchase, budgetMicros: Int64, optimumMicros: Double) {
    valueMicros += purchase.valueMicros
    clicks += purchase.clicks
    spendMicros += purchase.spendMicros
    overDeliveryMicros += max(0, purchase.spendMicros - budgetMicros)
    ratios.append(optimumMicros > 0 ? purchase.valueMicros / optimumMicros : 1)
  }
}

/// The results of one budget fraction.
public struct FractionReport: Sendable {
  public var fraction: Double
  public var budgetMicros: Int64 = 0
  public var optimumValueMicros = 0.0
  /// Figures by policy, in `Backtest.policies` order.
  public var policies: [String: PolicyFigures] = [:]
}

/// The results of a backtest.
public struct BacktestReport: Sendable {
  public var dataset: String
  public var dates: [String]
  public var fractions: [FractionReport]
  /// Replayed impressions without a logged pCTR, left out of every policy.
  public var skippedRows: Int
}

/// A backtest of the planning pipeline on a data set's logged days.
public struct Backtest {
  /// The policies in report order: AdPilot's paced plan, then the baselines.
  public static let policies = ["adpilot", "even_split", "split_by_bid", "prev_day_threshold"]

  let connection: Connection
  let logger: Logger

  public init(connection: Connection, logger: Logger) {
    self.connection = connection
    self.logger = logger
  }

  /// Runs the backtest described by `options`.
  public func run(_ options: BacktestOptions) throws -> BacktestReport {
    let dataset = try loadDataset(connection, name: options.dataset)
    guard !dataset.hasFeatures else {
      // NOTE: replaying a data set with features would need the champion's pCTR per impression.
      throw PipelineError(
        "data set '\(dataset.name)' has features; the backtest replays logged pCTR only, "
          + "so choose a data set without features such as ipinyou_rlb")
    }
    let campaigns = try loadCampaigns(connection, dataset: dataset.name)
    guard let zone = campaigns.first?.timeZone else {
      throw PipelineError(
        "data set '\(dataset.name)' has no campaigns; run `adpilot campaigns sync`")
    }
    guard campaigns.allSatisfy({ $0.timeZone == zone }) else {
      let zones = Dictionary(grouping: campaigns, by: \.timeZone.identifier)
        .sorted { $0.key < $1.key }
        .map { "\($0.key) (\($0.value.map(\.id).sorted().joined(separator: ", ")))" }
      throw PipelineError(
        "campaigns of '\(dataset.name)' are in several time zones: "
          + zones.joined(separator: "; ") + "; the backtest replays one local day for all of "
          + "them, so give them one time_zone")
    }
    let dates = try replayDates(dataset: dataset.name, zone: zone, options: options)
    let index = Dictionary(uniqueKeysWithValues: campaigns.enumerated().map { ($1.id, $0) })
    let pipeline = AllocationPipeline(connection: connection, logger: logger)

    if let slack = options.hourSlack, !(slack >= 1) {
      throw PipelineError("hour slack must be at least 1, got \(slack)")
    }
    guard options.reserveFraction >= 0 && options.reserveFraction < 1 else {
      throw PipelineError(
        "reserve fraction must be in [0, 1), got \(options.reserveFraction); try 0.01")
    }
    let rules = BiddingRules(
      hourSlack: options.hourSlack, reserveFraction: options.reserveFraction,
      reserveFactor: options.reserveFactor)
    var reports = options.fractions.map { FractionReport(fraction: $0) }
    var skipped = 0
    var previous: [ReplayImpression]?
    // The start-of-day plan of each replayed day at the last budget fraction, written together
    // once every day has been replayed.
    var dayPlans: [DayPlan] = []
    for (position, date) in dates.enumerated() {
      let start = try PacingPlanner.dayBounds(campaign: campaigns[0], planDate: date).start
      if previous == nil {
        previous = try readDay(
          dataset: dataset.name, date: shifted(date, by: -1), campaigns: campaigns,
          index: index, skipped: &skipped)
      }
      let day = try readDay(
        dataset: dataset.name, date: date, campaigns: campaigns, index: index,
        skipped: &skipped)
      let forecast = try forecastSupply(
        connection, dataset: dataset, campaigns: campaigns, planDay: start,
        historyDays: options.historyDays, model: nil, modelId: nil)
      var lastPlan: DayPlan?
      for slot in reports.indices {
        lastPlan = try replay(
          day: day, previousDay: previous ?? [], date: date, campaigns: campaigns,
          supply: forecast.supply, rules: rules, report: &reports[slot])
      }
      if let lastPlan {
        dayPlans.append(lastPlan)
      }
      previous = day
      logger.debug("backtest day", ["date": date, "day": "\(position + 1)/\(dates.count)"])
    }
    // One transaction, so that a backtest that fails or is stopped on a later day leaves the
    // stored runs as they were, with no day replaced. It supersedes the earlier backtest's days
    // too, also those it does not replay, so that the current 'backtest' runs are one backtest's
    // days and `summary` never adds up days of different runs. The data set's backtest lock
    // makes a concurrent backtest wait and then supersede this one's days in turn.
    try connection.transaction {
      try connection.advisoryXactLock(Connection.advisoryKey("adpilot.backtest:\(dataset.name)"))
      try connection.execute(
        """
        UPDATE adpilot.plan_runs
        SET status = 'superseded', superseded_at = now()
        WHERE dataset = $1 AND kind = 'backtest' AND status = 'current'
        """, [.text(dataset.name)])
      for plan in dayPlans {
        _ = try pipeline.write(
          kind: "backtest", dataset: dataset.name, date: plan.date, budget: plan.budgetMicros,
          result: plan.allocation, plans: plan.hourly, modelId: nil)
      }
    }
    return BacktestReport(
      dataset: dataset.name, dates: dates, fractions: reports, skippedRows: skipped)
  }

  /// A replayed day's start-of-day plan, as a 'backtest' run stores it.
  struct DayPlan {
    var date: String
    var budgetMicros: Int64
    var allocation: AllocationResult
    var hourly: [String: [HourlyPlanRow]]
  }

  /// Replays one day at one budget fraction, adds its figures to `report` and returns the plan
  /// made at the day's start.
  func replay(
    day: [ReplayImpression], previousDay: [ReplayImpression], date: String,
    campaigns: [Campaign], supply: [String: CampaignSupply], rules: BiddingRules,
    report: inout FractionReport
  ) throws -> DayPlan {
    let budget = Int64(report.fraction * Double(day.reduce(0) { $0 + $1.costMicros }))
    let optimum = BacktestPolicies.hindsightOptimum(day, budgetMicros: budget)
    report.budgetMicros += budget
    report.optimumValueMicros += optimum.valueMicros

    // The hindsight optimum is bounded by the total budget alone, so each campaign's cap is
    // lifted to that budget.
    let lifted = campaigns.map { campaign -> Campaign in
      var copy = campaign
      copy.dailyBudgetMicros = budget
      copy.maxDailyMicros = nil
      copy.minDailyMicros = min(campaign.minDailyMicros, budget)
      return copy
    }
    let paced: PacedDay
    do {
      paced = try PacedReplay.run(
        campaigns: lifted, supply: supply, budgetMicros: budget, planDate: date,
        impressions: day, rules: rules)
    } catch let error as AllocationError {
      // The allocator's fix for minimums names the total budget, which a backtest derives from
      // the budget fraction.
      let fix =
        error.shortfallMicros == nil
        ? error.fix : "raise --budget-fraction, or lower min_daily_micros of these campaigns"
      throw PipelineError(
        "backtest of \(date) with a budget of \(budget) micros ("
          + String(format: "%.4g", report.fraction) + " of the day's logged cost, less a "
          + "reserve of " + String(format: "%.4g", rules.reserveFraction)
          + "): \(error.message); \(fix)")
    }
    report.policies["adpilot", default: PolicyFigures()].add(
      paced.purchase, budgetMicros: budget, optimumMicros: optimum.valueMicros)
    report.policies["adpilot", default: PolicyFigures()].pacingErrors.append(paced.pacingError)

    // Policies without hourly plans are held to an even-by-traffic plan of their own spend.
    let hourStarts = paced.startPlans[campaigns[0].id]?.map(\.hourStart) ?? []
    let traffic = campaigns.map { supply[$0.id]?.hourlyTraffic ?? [] }
    func add(_ name: String, _ purchase: DayPurchase) {
      report.policies[name, default: PolicyFigures()].add(
        purchase, budgetMicros: budget, optimumMicros: optimum.valueMicros)
      report.policies[name, default: PolicyFigures()].pacingErrors.append(
        PacedReplay.evenPlanPacingError(
          bought: purchase.bought, campaignCount: campaigns.count, hourStarts: hourStarts,
          traffic: traffic))
    }

    let even = BacktestPolicies.split(budget, weights: campaigns.map { _ in 1 })
    add("even_split", BacktestPolicies.fixedSplit(day, budgets: even))

    // A campaign's bid is the expected value of its average forecast impression.
    let bids = campaigns.map { campaign -> Double in
      let segments = supply[campaign.id]?.segments ?? []
      let impressions = segments.reduce(0) { $0 + $1.impressions }
      let clicks = segments.reduce(0) { $0 + $1.clicks }
      return impressions > 0 ? clicks / impressions * Double(campaign.valuePerClickMicros) : 0
    }
    add(
      "split_by_bid",
      BacktestPolicies.fixedSplit(day, budgets: BacktestPolicies.split(budget, weights: bids)))

    let previousBudget = Int64(
      report.fraction * Double(previousDay.reduce(0) { $0 + $1.costMicros }))
    let threshold = BacktestPolicies.hindsightOptimum(
      previousDay, budgetMicros: previousBudget
    ).cutValuePerCost
    add(
      "prev_day_threshold",
      BacktestPolicies.fixedThreshold(day, threshold: threshold, budgetMicros: budget))
    return DayPlan(
      date: date, budgetMicros: budget, allocation: paced.allocation, hourly: paced.startPlans)
  }

  /// Returns the local dates to replay: each day after the first `warmUpDays` logged days.
  func replayDates(dataset: String, zone: TimeZone, options: BacktestOptions) throws -> [String] {
    guard let range = try impressionTimeRange(connection, dataset: dataset) else {
      throw PipelineError("data set '\(dataset)' has no impressions to replay")
    }
    let first = localDate(of: range.first, in: zone)
    let last = localDate(of: range.last, in: zone)
    var dates: [String] = []
    var date = try shifted(first, by: options.warmUpDays)
    while date <= last {
      dates.append(date)
      date = try shifted(date, by: 1)
    }
    if let days = options.days {
      dates = Array(dates.prefix(days))
    }
    guard !dates.isEmpty else {
      throw PipelineError(
        "data set '\(dataset)' logs \(first) to \(last), too few days to replay after "
          + "\(options.warmUpDays) warm-up days; lower --warm-up-days")
    }
    return dates
  }

  /// Reads the impressions of one local day in time order.
  func readDay(
    dataset: String, date: String, campaigns: [Campaign], index: [String: Int],
    skipped: inout Int
  ) throws -> [ReplayImpression] {
    let bounds = try PacingPlanner.dayBounds(campaign: campaigns[0], planDate: date)
    try setCopyParameters(
      connection,
      ["dataset": dataset, "from": isoInstant(bounds.start), "to": isoInstant(bounds.end)])
    let sql = """
      COPY (
          SELECT campaign_id, extract(epoch FROM time)::float8, cost_micros, logged_pctr, click
          FROM adpilot.impressions
          WHERE dataset = current_setting('adpilot.copy_dataset')
            AND time >= current_setting('adpilot.copy_from')::timestamptz
            AND time < current_setting('adpilot.copy_to')::timestamptz
            AND campaign_id IS NOT NULL
          ORDER BY time, request_id
      ) TO STDOUT (FORMAT binary)
      """
    var impressions: [ReplayImpression] = []
    var missing = 0
    _ = try connection.copyOut(sql) { row in
      guard let campaign = index[try row.text(0)] else { return }
      guard let pctr = try row.optionalFloat8(3) else {
        missing += 1
        return
      }
      impressions.append(
        ReplayImpression(
          campaign: campaign, time: Date(timeIntervalSince1970: try row.float8(1)),
          costMicros: try row.int64(2), pctr: pctr, click: try row.int16(4) == 1,
          valueMicros: pctr * Double(campaigns[campaign].valuePerClickMicros)))
    }
    skipped += missing
    return impressions
  }
}

/// Returns the date `days` days after the YYYY-MM-DD `date` (before it when negative).
func shifted(_ date: String, by days: Int) throws -> String {
  formatPlanDate(try parsePlanDate(date).addingTimeInterval(Double(days) * 86_400))
}
