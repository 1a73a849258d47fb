// Plans one day: forecasts each campaign's supply, splits the day's budget with the allocator,
// paces every campaign over its local hours and writes the run, its allocations and its pacing
// rows in one transaction under the plan day's advisory lock. An earlier plan is superseded.

import Allocation
import CTR
import Foundation
import Postgres

/// Settings of one planning run.
public struct AllocateOptions: Sendable {
  public var dataset: String
  /// The plan day, YYYY-MM-DD.
  public var date: String
  /// The day's total budget in micros; the data set's portfolio budget when nil.
  public var budgetMicros: Int64?
  /// Days of history before the plan day used for the forecast.
  public var historyDays = 7

  public init(dataset: String, date: String) {
    self.dataset = dataset
    self.date = date
  }
}

/// The result of a planning run: its id, allocation and hourly plans.
public struct AllocationOutcome: Sendable {
  public var runId: String
  public var planDate: String
  public var result: AllocationResult
  public var campaigns: [Campaign]
  public var plans: [String: [HourlyPlanRow]]
  /// The days of log the forecast read, in fractions where the log covers part of a day.
  public var forecastDays: Double
  /// The impressions with a campaign id in the forecast's days.
  public var forecastRows: Int
  /// Those of `forecastRows` that belong to a planned campaign and pass its targeting.
  public var forecastCampaignRows: Int
  public var pctrSource: String
  public var superseded: Int
}

/// Plans budgets and pacing for one data set and day.
public struct AllocationPipeline {
  let connection: Connection
  let logger: Logger
  /// Runs after `run` reads the campaigns and before it reads the portfolio budget (tests
  /// change the campaign tables here).
  var afterCampaignsRead: (() throws -> Void)?

  public init(connection: Connection, logger: Logger) {
    self.connection = connection
    self.logger = logger
  }

  /// Runs `body` in a read-only, repeatable-read transaction, so that all its reads use one
  /// snapshot. A `campaigns sync` that commits meanwhile then cannot give a plan the budget of
  /// one version of the campaign files and the campaigns of another.
  func readingOneSnapshot<T>(_ body: () throws -> T) throws -> T {
    try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    do {
      let value = try body()
      try connection.execute("COMMIT")
      return value
    } catch {
      _ = try? connection.execute("ROLLBACK")
      throw error
    }
  }

  /// Loads the synced campaigns of `dataset` to plan.
  ///
  /// - Throws: `PipelineError` when the data set has none, naming the files to add.
  func loadPlannedCampaigns(dataset: String) throws -> [Campaign] {
    let campaigns = try loadCampaigns(connection, dataset: dataset)
    guard !campaigns.isEmpty else {
      throw PipelineError(
        "data set '\(dataset)' has no campaigns; add campaigns/\(dataset)/*.json and run "
          + "`adpilot campaigns sync`")
    }
    return campaigns
  }

  /// Runs the planning job described by `options`.
  public func run(_ options: AllocateOptions) throws -> AllocationOutcome {
    let planDay = try parsePlanDate(options.date)
    let (dataset, campaigns, budget, modelId, forecast) = try readingOneSnapshot {
      let dataset = try loadDataset(connection, name: options.dataset)
      let loaded = try loadPlannedCampaigns(dataset: dataset.name)
      try afterCampaignsRead?()
      let campaigns = try limitByLifetime(loaded, dataset: dataset.name, date: options.date)
      let budget = try totalBudget(options, dataset: dataset.name)
      let (model, modelId) = try clickModel(dataset)
      let forecast = try forecastSupply(
        connection, dataset: dataset, campaigns: campaigns,
        planDay: try forecastEnd(campaigns, date: options.date, utcDay: planDay),
        historyDays: options.historyDays, model: model, modelId: modelId)
      return (dataset, campaigns, budget, modelId, forecast)
    }
    guard forecast.historyRows > 0 else {
      throw PipelineError(
        "data set '\(dataset.name)' has no impressions in the \(options.historyDays) days "
          + "before \(options.date); choose a plan date right after logged days")
    }
    logger.info(
      "forecast built",
      [
        "dataset": dataset.name, "history.days": "\(forecast.historyDays)",
        "history.rows": "\(forecast.historyRows)", "campaign.rows": "\(forecast.campaignRows)",
        "pctr.source": forecast.pctrSource,
      ])

    let result = try Allocator.allocate(
      campaigns: campaigns, supply: forecast.supply, totalBudgetMicros: budget,
      planDate: options.date)
    var plans: [String: [HourlyPlanRow]] = [:]
    for campaign in campaigns {
      guard let allocation = result.allocations.first(where: { $0.campaignId == campaign.id }),
        let supply = forecast.supply[campaign.id]
      else { continue }
      plans[campaign.id] = try PacingPlanner.plan(
        campaign: campaign, allocation: allocation, supply: supply, planDate: options.date)
    }

    let written = try write(
      kind: "plan", dataset: dataset.name, date: options.date, budget: budget, result: result,
      plans: plans, modelId: modelId, campaigns: campaigns)
    return AllocationOutcome(
      runId: written.runId, planDate: options.date, result: result, campaigns: campaigns,
      plans: plans, forecastDays: forecast.historyDays, forecastRows: forecast.historyRows,
      forecastCampaignRows: forecast.campaignRows,
      pctrSource: forecast.pctrSource, superseded: written.superseded)
  }

  /// Returns `campaigns` with each lifetime budget turned into a limit for the plan day, from the
  /// spend logged between the flight's start (or the first log) and the plan day's start.
  func limitByLifetime(_ campaigns: [Campaign], dataset: String, date: String) throws
    -> [Campaign]
  {
    try campaigns.map { campaign in
      guard campaign.lifetimeBudgetMicros != nil else { return campaign }
      let dayStart = try PacingPlanner.dayBounds(campaign: campaign, planDate: date).start
      let flightStart = try campaign.flightStart.map {
        try PacingPlanner.dayBounds(campaign: campaign, planDate: $0).start
      }
      let rows = try connection.query(
        """
        SELECT coalesce(sum(cost_micros), 0)::bigint
        FROM adpilot.impressions
        WHERE dataset = $1 AND campaign_id = $2 AND time < $3
          AND ($4::timestamptz IS NULL OR time >= $4::timestamptz)
        """,
        [
          .text(dataset), .text(campaign.id), .timestamptz(dayStart),
          flightStart.map(PostgresValue.timestamptz) ?? .null,
        ])
      let spent = try rows.first?.int64(0) ?? 0
      let limited = try campaign.limitedByLifetime(planDate: date, spentMicros: spent)
      logger.info(
        "lifetime budget applied",
        [
          "campaign": campaign.id, "spent": "\(spent)",
          "max_daily_micros": "\(limited.maxDailyMicros.map(String.init) ?? "none")",
        ])
      return limited
    }
  }

  /// Returns the UTC day after the data set's last impression, as YYYY-MM-DD.
  public func nextDay(after dataset: String) throws -> String {
    _ = try loadDataset(connection, name: dataset)
    guard let range = try impressionTimeRange(connection, dataset: dataset) else {
      throw PipelineError("data set '\(dataset)' has no impressions to plan from")
    }
    let day = Date(
      timeIntervalSince1970: (range.last.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
        + 86_400)
    return formatPlanDate(day)
  }

  // MARK: - Steps

  /// Returns the champion model of a data set with features, or nil for one with logged pCTR.
  func clickModel(_ dataset: DatasetInfo) throws -> (model: (any ClickModel)?, id: String?) {
    guard dataset.hasFeatures else { return (nil, nil) }
    guard let champion = try ModelRegistry(connection: connection).champion(of: dataset.name)
    else {
      throw PipelineError(
        "model name '\(dataset.name)' has no champion; train one with "
          + "`adpilot train --dataset \(dataset.name)`")
    }
    return (champion.model, champion.record.id)
  }

  private func totalBudget(_ options: AllocateOptions, dataset: String) throws -> Int64 {
    if let budget = options.budgetMicros {
      guard (0...CampaignFile.maxMicros).contains(budget) else {
        throw PipelineError(
          "--budget must be 0 to \(CampaignFile.maxMicros) micros, the range of campaign "
            + "files' money fields, got \(budget)")
      }
      return budget
    }
    guard
      let row = try connection.query(
        "SELECT daily_budget_micros FROM adpilot.portfolios WHERE dataset = $1", [.text(dataset)]
      ).first
    else {
      throw PipelineError(
        "data set '\(dataset)' has no portfolio budget; add portfolio.json to its campaigns "
          + "folder (campaigns/\(dataset)/, or DIR/\(dataset)/ when you sync with --dir DIR) "
          + "and run `adpilot campaigns sync`, or pass --budget MICROS")
    }
    return try row.int64(0)
  }

  /// Writes a run of `kind` ('plan', 'replan' or 'backtest') with its allocations and pacing
  /// rows, superseding the current run of the same kind, day and data set. A new 'plan' also
  /// supersedes the day's current 'replan', which re-planned the plan it replaces.
  ///
  /// A replan passes the plan run it re-planned as `basedOn`. The write fails, leaving the day as
  /// it was, when another run has superseded that plan since it was read. Each allocation stores
  /// the minimum (at most its cap) and priority of its campaign in `campaigns`, or NULL when
  /// `campaigns` lacks it.
  func write(
    kind: String, dataset: String, date: String, budget: Int64, result: AllocationResult,
    plans: [String: [HourlyPlanRow]], modelId: String?, basedOn: String? = nil,
    campaigns: [Campaign] = []
  ) throws -> (runId: String, superseded: Int) {
    let terms = Dictionary(campaigns.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    return try connection.transaction {
      try connection.advisoryXactLock(Connection.advisoryKey("adpilot.plan:\(dataset):\(date)"))
      if let basedOn {
        let status = try connection.query(
          "SELECT status FROM adpilot.plan_runs WHERE id = $1::uuid", [.uuid(basedOn)]
        ).first?.string(0)
        guard status == "current" else {
          throw PipelineError(
            "the plan of \(date) changed while re-planning it: run \(basedOn) is no longer "
              + "current; run the re-plan again")
        }
      }
      let superseded = try connection.execute(
        """
        UPDATE adpilot.plan_runs
        SET status = 'superseded', superseded_at = now()
        WHERE dataset = $1 AND plan_date = $2::date AND status = 'current'
          AND (kind = $3 OR ($3 = 'plan' AND kind = 'replan'))
        """, [.text(dataset), .date(date), .text(kind)])
      guard
        let runId = try connection.query(
          """
          INSERT INTO adpilot.plan_runs
              (dataset, plan_date, kind, total_budget_micros, allocated_micros, model_id,
               based_on)
          VALUES ($1, $2::date, $6, $3, $4, $5, $7::uuid)
          RETURNING id::text
          """,
          [
            .text(dataset), .date(date), .int64(budget), .int64(result.allocatedMicros),
            modelId.map(PostgresValue.text) ?? .null, .text(kind),
            basedOn.map(PostgresValue.uuid) ?? .null,
          ]
        ).first?.string(0)
      else { throw PipelineError("inserting the plan run returned no id") }

      let allocations = result.allocations
      _ = try connection.execute(
        """
        INSERT INTO adpilot.allocations
            (run_id, campaign_id, plan_date, amount_micros, cap_micros, expected_value_micros,
             expected_clicks, expected_impressions, rank, marginal_value, binding,
             minimum_micros, priority)
        SELECT $1::uuid, campaign_id, $2::date, amount::bigint, cap::bigint, value, clicks,
               impressions, rank::integer, marginal, binding, minimum::bigint, priority::integer
        FROM unnest($3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[],
                    $8::float8[], $9::text[], $10::float8[], $11::text[], $12::text[],
                    $13::text[])
             AS t(campaign_id, amount, cap, value, clicks, impressions, rank, marginal, binding,
                  minimum, priority)
        """,
        [
          .uuid(runId), .date(date), .textArray(allocations.map { $0.campaignId }),
          .textArray(allocations.map { String($0.amountMicros) }),
          .textArray(allocations.map { String($0.capMicros) }),
          .float8Array(allocations.map { $0.expectedValueMicros }),
          .float8Array(allocations.map { $0.expectedClicks }),
          .float8Array(allocations.map { $0.expectedImpressions }),
          .textArray(allocations.map { String($0.rank) }),
          .float8Array(allocations.map { $0.marginalValue }),
          .textArray(allocations.map { $0.binding.rawValue }),
          .textArray(
            allocations.map { allocation in
              terms[allocation.campaignId].map { String(min($0.minDailyMicros, $0.capMicros)) }
            }),
          .textArray(allocations.map { terms[$0.campaignId].map { String($0.priority) } }),
        ])

      var campaignIds: [String?] = []
      var hourStarts: [String?] = []
      var localHours: [String?] = []
      var spends: [String?] = []
      var impressions: [Double?] = []
      var clicks: [Double?] = []
      var thresholds: [Double?] = []
      var throttles: [Double?] = []
      for campaignId in plans.keys.sorted() {
        for row in plans[campaignId] ?? [] {
          campaignIds.append(campaignId)
          hourStarts.append(isoInstant(row.hourStart))
          localHours.append(String(row.localHour))
          spends.append(String(row.spendMicros))
          impressions.append(row.impressions)
          clicks.append(row.expectedClicks)
          thresholds.append(row.pctrThreshold)
          throttles.append(row.throttleRate)
        }
      }
      _ = try connection.execute(
        """
        INSERT INTO adpilot.pacing_plans
            (run_id, campaign_id, hour_start, local_hour, spend_micros, impressions,
             expected_clicks, pctr_threshold, throttle_rate)
        SELECT $1::uuid, campaign_id, hour_start::timestamptz, local_hour::integer,
               spend::bigint, impressions, clicks, threshold, throttle
        FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[],
                    $7::float8[], $8::float8[], $9::float8[])
             AS t(campaign_id, hour_start, local_hour, spend, impressions, clicks, threshold,
                  throttle)
        """,
        [
          .uuid(runId), .textArray(campaignIds), .textArray(hourStarts), .textArray(localHours),
          .textArray(spends), .float8Array(impressions), .float8Array(clicks),
          .float8Array(thresholds), .float8Array(throttles),
        ])
      return (runId, superseded)
    }
  }
}

/// Returns the end of the forecast window: the earliest local start of the plan day among the
/// campaigns, so that no hour of the plan day itself reaches the forecast.
func forecastEnd(_ campaigns: [Campaign], date: String, utcDay: Date) throws -> Date {
  var end = utcDay
  for campaign in campaigns {
    end = min(end, try PacingPlanner.dayBounds(campaign: campaign, planDate: date).start)
  }
  return end
}

/// Parses a YYYY-MM-DD plan date from 1970-01-01 on into the start of that UTC day.
///
/// Earlier days are rejected: Foundation's Gregorian calendar switches to the Julian one before
/// October 1582 while PostgreSQL's dates stay Gregorian, and no ad log predates 1970.
public func parsePlanDate(_ text: String) throws -> Date {
  let parts = text.split(separator: "-", omittingEmptySubsequences: false)
  // Int("+6") is 6, so each part must be ASCII digits, because PostgreSQL rejects "2013-+6-17".
  let allDigits = parts.allSatisfy { $0.unicodeScalars.allSatisfy { ("0"..."9").contains($0) } }
  guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
    allDigits, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
  else {
    throw PipelineError("invalid plan date '\(text)'; use YYYY-MM-DD, e.g. 2026-01-13")
  }
  guard year >= 1970 else {
    throw PipelineError("invalid plan date '\(text)': use a day from 1970-01-01 on")
  }
  var calendar = Calendar(identifier: .gregorian)
  calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
  let components = DateComponents(year: year, month: month, day: day)
  guard components.isValidDate(in: calendar), let date = calendar.date(from: components) else {
    throw PipelineError("invalid plan date '\(text)': no such day; use YYYY-MM-DD")
  }
  return date
}

/// Formats the UTC day of `date` as YYYY-MM-DD.
func formatPlanDate(_ date: Date) -> String {
  var calendar = Calendar(identifier: .gregorian)
  calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
  let parts = calendar.dateComponents([.year, .month, .day], from: date)
  return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
}
