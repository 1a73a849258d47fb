// Re-plans the rest of a plan day from actual spend. It totals each campaign's impression costs
// since its local day start, spreads what is left of the current plan over the hours left and
// writes a 'replan' run that supersedes the earlier current replan of that day.

import Allocation
import Foundation
import Postgres

/// Settings of one re-planning run.
public struct ReplanOptions: Sendable {
  public var dataset: String
  /// The plan day, YYYY-MM-DD, or nil for the local day of `now`, which must be the same in
  /// every campaign's time zone.
  public var date: String?
  /// The instant up to which spend counts as actual; hours that end after it are re-planned.
  public var now: Date
  /// Days of history before the plan day used for the forecast. Give the plan run's setting.
  public var historyDays = 7

  public init(dataset: String, date: String? = nil, now: Date = Date()) {
    self.dataset = dataset
    self.date = date
    self.now = now
  }
}

/// One campaign of a replan: its plan, its spend so far and what is left for the hours left.
public struct ReplannedCampaign: Sendable {
  public var campaignId: String
  /// The amount of the day's current plan, in micros.
  public var amountMicros: Int64
  public var capMicros: Int64
  /// The cost of the campaign's impressions from its local day start up to `now` or its local
  /// day end, whichever comes first, in micros.
  public var spentMicros: Int64
  /// The sum of the re-planned hours, in micros: min(amount, cap) - spent, or 0 after over-spend.
  public var plannedMicros: Int64
  public var rows: [HourlyPlanRow]
}

/// The outcome of a re-planning run: the run written and each campaign's figures.
public struct ReplanOutcome: Sendable {
  public var runId: String
  /// The 'plan' run whose amounts were re-planned.
  public var planRunId: String
  public var planDate: String
  public var now: Date
  public var campaigns: [ReplannedCampaign]
  /// Campaigns with no allocation in the day's plan, such as campaigns added after it. The
  /// replan leaves them out; a new `adpilot allocate` run for the day plans them.
  public var notPlanned: [String]
  /// Campaigns of the day's plan that the data set no longer has, such as campaigns whose file
  /// was removed before a `campaigns sync`, sorted. The replan plans them no hours.
  public var removedSincePlan: [String]
  public var superseded: Int
}

extension AllocationPipeline {
  /// Re-plans the hours left of a plan day from the actual spend so far.
  ///
  /// - Throws: `PipelineError` when the day has no current plan, and `AllocationError` for
  ///   invalid campaigns or supply.
  public func replan(_ options: ReplanOptions) throws -> ReplanOutcome {
    // One snapshot for every read, as in `run`.
    let (dataset, date, campaigns, plan, modelId, forecast, spent) = try readingOneSnapshot {
      let dataset = try loadDataset(connection, name: options.dataset)
      let loaded = try loadPlannedCampaigns(dataset: dataset.name)
      let date = try options.date ?? replanDate(loaded, at: options.now)
      let planDay = try parsePlanDate(date)
      // Campaigns are read as they are now, so a budget changed since the plan applies at once.
      let campaigns = try limitByLifetime(loaded, dataset: dataset.name, date: date)
      let plan = try loadCurrentPlan(dataset: dataset.name, date: date)

      let (model, modelId) = try clickModel(dataset)
      let forecast = try forecastSupply(
        connection, dataset: dataset, campaigns: campaigns,
        planDay: try forecastEnd(campaigns, date: date, utcDay: planDay),
        historyDays: options.historyDays, model: model, modelId: modelId)
      let bounds = try campaigns.map { try PacingPlanner.dayBounds(campaign: $0, planDate: date) }
      if let start = bounds.map(\.start).min(), let end = bounds.map(\.end).max(),
        options.now < start || options.now >= end
      {
        throw PipelineError(
          "re-plan time \(isoInstant(options.now)) is outside the plan day \(date) "
            + "(\(isoInstant(start)) to \(isoInstant(end))); pass a --now within that day")
      }
      let spent = try spendSoFar(campaigns, date: date, now: options.now, dataset: dataset.name)
      return (dataset, date, campaigns, plan, modelId, forecast, spent)
    }

    var replanned: [ReplannedCampaign] = []
    var allocations: [CampaignAllocation] = []
    var plans: [String: [HourlyPlanRow]] = [:]
    var notPlanned: [String] = []
    for campaign in campaigns {
      guard var allocation = plan.allocations[campaign.id] else {
        notPlanned.append(campaign.id)
        continue
      }
      guard let supply = forecast.supply[campaign.id] else { continue }
      let planAmount = allocation.amountMicros
      // A campaign paused or out of its flight since the plan was made gets nothing more.
      let active = campaign.isActive(on: date)
      if !active {
        allocation.amountMicros = 0
      }
      let spentMicros = spent[campaign.id] ?? 0
      let rows = try PacingPlanner.replan(
        campaign: campaign, allocation: allocation, supply: supply, planDate: date,
        spentMicros: spentMicros, now: options.now)
      let planned = rows.reduce(Int64(0)) { $0 + $1.spendMicros }
      replanned.append(
        ReplannedCampaign(
          campaignId: campaign.id, amountMicros: planAmount, capMicros: campaign.capMicros,
          spentMicros: spentMicros, plannedMicros: planned,
          rows: rows))
      allocations.append(
        rest(
          of: allocation, rows: rows, campaign: campaign, spentMicros: spentMicros, active: active))
      plans[campaign.id] = rows
    }
    let current = Set(campaigns.map(\.id))
    let removed = plan.allocations.keys.filter { !current.contains($0) }.sorted()

    let result = AllocationResult(
      allocations: allocations, totalBudgetMicros: plan.totalBudgetMicros,
      allocatedMicros: allocations.reduce(0) { $0 + $1.amountMicros },
      sumOfCapsMicros: 0, absorbableMicros: 0)
    let written = try write(
      kind: "replan", dataset: dataset.name, date: date, budget: plan.totalBudgetMicros,
      result: result, plans: plans, modelId: modelId, basedOn: plan.runId,
      campaigns: campaigns)
    if !notPlanned.isEmpty {
      logger.warning(
        "campaigns not in the day's plan were left out; run `adpilot allocate` for the day to "
          + "plan them",
        ["dataset": dataset.name, "date": date, "campaigns": notPlanned.joined(separator: ",")])
    }
    if !removed.isEmpty {
      logger.warning(
        "campaigns of the day's plan that are no longer synced were left out",
        ["dataset": dataset.name, "date": date, "campaigns": removed.joined(separator: ",")])
    }
    logger.info(
      "replan written",
      [
        "dataset": dataset.name, "date": date, "run": written.runId,
        "spent_micros": "\(spent.values.reduce(0, +))",
        "planned_micros": "\(result.allocatedMicros)",
      ])
    return ReplanOutcome(
      runId: written.runId, planRunId: plan.runId, planDate: date, now: options.now,
      campaigns: replanned, notPlanned: notPlanned, removedSincePlan: removed,
      superseded: written.superseded)
  }

  /// Reads the current 'plan' run of a day and its allocations by campaign id.
  func loadCurrentPlan(dataset: String, date: String) throws -> (
    runId: String, totalBudgetMicros: Int64, allocations: [String: CampaignAllocation]
  ) {
    guard
      let run = try connection.query(
        """
        SELECT id::text, total_budget_micros
        FROM adpilot.plan_runs
        WHERE dataset = $1 AND plan_date = $2::date AND kind = 'plan' AND status = 'current'
        """, [.text(dataset), .date(date)]
      ).first
    else {
      throw PipelineError(
        "data set '\(dataset)' has no current plan for \(date) to re-plan; run `adpilot "
          + "allocate --dataset \(dataset) --date \(date)` first")
    }
    let runId = try run.string(0)
    var allocations: [String: CampaignAllocation] = [:]
    for row in try connection.query(
      """
      SELECT campaign_id, amount_micros, cap_micros, expected_value_micros, expected_clicks,
             expected_impressions, rank, marginal_value, binding
      FROM adpilot.allocations
      WHERE run_id = $1::uuid
      """, [.uuid(runId)])
    {
      let id = try row.string(0)
      allocations[id] = CampaignAllocation(
        campaignId: id, amountMicros: try row.int64(1), capMicros: try row.int64(2),
        expectedValueMicros: try row.double(3), expectedClicks: try row.double(4),
        expectedImpressions: try row.double(5), rank: Int(try row.int64(6)),
        marginalValue: try row.double(7), binding: Binding(rawValue: try row.string(8)) ?? .budget)
    }
    return (runId, try run.int64(1), allocations)
  }

  /// Returns each campaign's impression cost from its local day start up to `now`, or up to its
  /// local day end when that comes first, in micros.
  func spendSoFar(_ campaigns: [Campaign], date: String, now: Date, dataset: String) throws
    -> [String: Int64]
  {
    var starts: [String?] = []
    var ends: [String?] = []
    for campaign in campaigns {
      let bounds = try PacingPlanner.dayBounds(campaign: campaign, planDate: date)
      starts.append(isoInstant(bounds.start))
      // A campaign in a zone ahead of the others can have finished its plan day at `now`.
      ends.append(isoInstant(min(bounds.end, now)))
    }
    var spent: [String: Int64] = [:]
    for row in try connection.query(
      """
      SELECT t.campaign_id, coalesce(sum(i.cost_micros), 0)::bigint
      FROM unnest($2::text[], $3::text[], $4::text[]) AS t(campaign_id, day_start, until)
          LEFT JOIN adpilot.impressions AS i
              ON i.dataset = $1
             AND i.campaign_id = t.campaign_id
             AND i.time >= t.day_start::timestamptz
             AND i.time < t.until::timestamptz
      GROUP BY t.campaign_id
      """,
      [
        .text(dataset), .textArray(campaigns.map { $0.id }), .textArray(starts),
        .textArray(ends),
      ])
    {
      spent[try row.string(0)] = try row.int64(1)
    }
    return spent
  }

  /// Returns the allocation row of a re-plan: the amount planned for the hours left and what it
  /// buys, the campaign's cap as it is now, the plan's rank, and the limit that now binds.
  private func rest(
    of allocation: CampaignAllocation, rows: [HourlyPlanRow], campaign: Campaign,
    spentMicros: Int64, active: Bool
  ) -> CampaignAllocation {
    var rest = allocation
    rest.amountMicros = rows.reduce(0) { $0 + $1.spendMicros }
    rest.expectedClicks = rows.reduce(0) { $0 + $1.expectedClicks }
    rest.expectedImpressions = rows.reduce(0) { $0 + $1.impressions }
    rest.expectedValueMicros = rest.expectedClicks * Double(campaign.valuePerClickMicros)
    rest.capMicros = campaign.capMicros
    if !active {
      rest.binding = .inactive
    } else if spentMicros + rest.amountMicros >= campaign.capMicros {
      rest.binding = .cap
    }
    return rest
  }
}

/// Returns the plan day that a replan without a date means: the local date of `instant`, when
/// every campaign's time zone gives the same one.
///
/// - Throws: `PipelineError` naming two campaigns whose dates differ, since the days of both
///   have hours left and a replan covers one plan day.
func replanDate(_ campaigns: [Campaign], at instant: Date) throws -> String {
  let dates = campaigns.map { (campaign: $0, date: localDate(of: instant, in: $0.timeZone)) }
  guard let earliest = dates.min(by: { $0.date < $1.date }),
    let latest = dates.max(by: { $0.date < $1.date })
  else {
    throw PipelineError("no campaigns to re-plan")
  }
  guard earliest.date == latest.date else {
    func describe(_ entry: (campaign: Campaign, date: String)) -> String {
      "\(entry.date) for \(entry.campaign.id) (\(entry.campaign.timeZone.identifier))"
    }
    throw PipelineError(
      "at \(isoInstant(instant)) the campaigns are on different local dates, \(describe(earliest)) "
        + "and \(describe(latest)); pass --date with the plan day to re-plan, once per day")
  }
  return earliest.date
}

/// Formats the local calendar day of `instant` in `timeZone` as YYYY-MM-DD.
func localDate(of instant: Date, in timeZone: TimeZone) -> String {
  var calendar = Calendar(identifier: .gregorian)
  calendar.timeZone = timeZone
  let parts = calendar.dateComponents([.year, .month, .day], from: instant)
  return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
}

/// Parses an ISO 8601 instant with or without fractional seconds, e.g. 2013-06-14T12:00:00+08:00.
public func parseInstant(_ text: String) throws -> Date {
  let formatter = ISO8601DateFormatter()
  formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
  if let date = formatter.date(from: text) { return date }
  formatter.formatOptions = [.withInternetDateTime]
  if let date = formatter.date(from: text) { return date }
  throw PipelineError(
    "invalid time '\(text)'; use an ISO 8601 instant such as 2013-06-14T12:00:00+08:00")
}
